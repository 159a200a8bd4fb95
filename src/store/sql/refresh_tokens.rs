//! Refresh tokens at rest: one row per token, keyed by the token's digest, grouped by family
//! (RFC 9700 §4.14.2). Consuming a token is a single conditional UPDATE … RETURNING, so that of
//! concurrent requests exactly one wins on SQLite and PostgreSQL alike (DESIGN §7.1).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::refresh_tokens;
use keys::SecretDigest;
use sea_orm::{
    ActiveValue::Set, Condition, DatabaseConnection, DatabaseTransaction, TransactionTrait, entity::prelude::*,
};

use super::{on_unique_violation, writer::Writer};
use crate::{
    accounts::UserId,
    oauth::{
        ClientId, FamilyId, NewRefreshToken, RefreshGrant, RefreshTokenRecord, RotateOutcome, RotationTerms, Scope,
        session::RequestOrigin,
    },
    store::StoreError,
};

#[derive(Clone)]
pub struct RefreshTokenRepository {
    db: DatabaseConnection,
    /// Every write goes through the database's writer; rotations are group-committed there.
    writer: Writer,
}

/// One rotation: the presented token's digest and what consuming it takes.
pub(super) type Rotation = (SecretDigest, RotationTerms);

impl RefreshTokenRepository {
    pub fn new(db: DatabaseConnection, writer: Writer) -> Self {
        Self { db, writer }
    }

    pub async fn insert(&self, new: &NewRefreshToken) -> Result<(), StoreError> {
        refresh_tokens::Entity::insert(active_model(new)?)
            .exec_without_returning(self.writer.connection())
            .await
            .map_err(on_unique_violation("refresh token"))?;
        Ok(())
    }

    pub async fn find(&self, digest: &SecretDigest) -> Result<Option<RefreshTokenRecord>, StoreError> {
        refresh_tokens::Entity::find_by_id(digest.as_str()).one(&self.db).await?.map(to_domain).transpose()
    }

    /// Consumes the token with `digest` if it meets `terms` and stores its successor, in one
    /// transaction: either both happen or neither, so a crash cannot leave a family without its
    /// live token.
    ///
    /// The consume step is one conditional UPDATE for this rotation and those committed with it
    /// (see [`consume_all`]); the database serialises concurrent updates of the row, so exactly
    /// one caller sees a row affected. The others learn from the row why it was not theirs.
    pub async fn rotate(&self, digest: &SecretDigest, terms: &RotationTerms) -> Result<RotateOutcome, StoreError> {
        self.writer.rotate((digest.clone(), terms.clone())).await
    }

    /// Revokes every token of a family that is not revoked yet; returns how many were.
    pub async fn revoke_family(&self, family_id: &FamilyId, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let result = refresh_tokens::Entity::update_many()
            .col_expr(refresh_tokens::Column::RevokedAt, Expr::value(now))
            .filter(refresh_tokens::Column::FamilyId.eq(family_id.as_str()))
            .filter(refresh_tokens::Column::RevokedAt.is_null())
            .exec(self.writer.connection())
            .await?;
        Ok(result.rows_affected)
    }
}

/// One rotation in a transaction of its own.
pub(super) async fn rotate_alone(db: &DatabaseConnection, rotation: &Rotation) -> Result<RotateOutcome, StoreError> {
    let transaction = db.begin().await?;
    let mut outcomes = rotate_in(&transaction, std::slice::from_ref(rotation)).await?;
    transaction.commit().await?;
    outcomes.pop().ok_or(StoreError::Malformed("rotation outcome"))
}

/// The statements of `batch` inside the caller's transaction: one UPDATE consumes every token
/// that meets its rotation's terms (see [`consume_all`]), then the successors of those consumed
/// are stored in one INSERT (none of them can be presented before the commit, so none is needed
/// earlier). A rotation whose token was not consumed reads the row to tell why.
pub(super) async fn rotate_in(
    transaction: &DatabaseTransaction,
    batch: &[Rotation],
) -> Result<Vec<RotateOutcome>, StoreError> {
    let mut outcomes = Vec::with_capacity(batch.len());
    let mut successors = Vec::new();
    for ((digest, terms), consumed) in batch.iter().zip(consume_all(transaction, batch).await?) {
        let outcome = match consumed {
            Some(consumed) => {
                let successor = terms.successor_of(&consumed);
                successors.push(active_model(&successor)?);
                RotateOutcome::Rotated { consumed: Box::new(consumed), successor: Box::new(successor) }
            }
            None => {
                let row = refresh_tokens::Entity::find_by_id(digest.as_str()).one(transaction).await?;
                RotateOutcome::Refused(row.map(to_domain).transpose()?.map(Box::new))
            }
        };
        outcomes.push(outcome);
    }
    if !successors.is_empty() {
        refresh_tokens::Entity::insert_many(successors)
            .exec_without_returning(transaction)
            .await
            .map_err(on_unique_violation("refresh token"))?;
    }
    Ok(outcomes)
}

/// Consumes, in one conditional UPDATE … RETURNING, every token of `batch` that meets its
/// rotation's terms: not rotated, not revoked, and for one of the rotations presenting it, that
/// client's, not expired at its `now`, and bound to no DPoP key or to its proof's. The database
/// serialises concurrent updates of a row, so exactly one statement gets it back; within the
/// batch, a token presented twice goes to the first rotation (in arrival order) it admits, and
/// the other finds it rotated, as if it had come after. Answers, per rotation in order, the token
/// it consumed. `rotated_at` is the batch's latest `now`, the closest to when the statement runs.
async fn consume_all(
    transaction: &DatabaseTransaction,
    batch: &[Rotation],
) -> Result<Vec<Option<RefreshTokenRecord>>, StoreError> {
    use refresh_tokens::Column;
    let Some(latest) = batch.iter().map(|(_, terms)| terms.now).max() else { return Ok(Vec::new()) };
    let any_of_them = batch.iter().fold(Condition::any(), |any, (digest, terms)| {
        let key = match &terms.proof_jkt {
            Some(jkt) => Condition::any().add(Column::DpopJkt.is_null()).add(Column::DpopJkt.eq(jkt.as_str())),
            None => Condition::all().add(Column::DpopJkt.is_null()),
        };
        any.add(
            Condition::all()
                .add(Column::Id.eq(digest.as_str()))
                .add(Column::ClientId.eq(terms.client_id.as_str()))
                .add(Column::ExpiresAt.gt(terms.now))
                .add(Column::FamilyExpiresAt.gt(terms.now))
                .add(key),
        )
    });
    let rows = refresh_tokens::Entity::update_many()
        .col_expr(Column::RotatedAt, Expr::value(latest))
        .filter(Column::RotatedAt.is_null())
        .filter(Column::RevokedAt.is_null())
        .filter(any_of_them)
        .exec_with_returning(transaction)
        .await?;
    let mut consumed: HashMap<String, RefreshTokenRecord> =
        rows.into_iter().map(|row| Ok((row.id.clone(), to_domain(row)?))).collect::<Result<_, StoreError>>()?;
    Ok(batch
        .iter()
        .map(|(digest, terms)| match consumed.get(digest.as_str()) {
            Some(record) if terms.admits(record) => consumed.remove(digest.as_str()),
            _ => None,
        })
        .collect())
}

fn active_model(new: &NewRefreshToken) -> Result<refresh_tokens::ActiveModel, StoreError> {
    let grant = &new.grant;
    Ok(refresh_tokens::ActiveModel {
        id: Set(new.digest.as_str().to_owned()),
        family_id: Set(new.family_id.as_str().to_owned()),
        client_id: Set(grant.client_id.as_str().to_owned()),
        user_id: Set(grant.user_id.0),
        scope: Set(grant.scope.to_string()),
        sid: Set(grant.sid.clone()),
        auth_time: Set(grant.auth_time),
        amr: Set(serde_json::to_value(&grant.amr).map_err(|_| StoreError::Malformed("refresh token amr"))?),
        issued_at: Set(new.issued_at),
        expires_at: Set(new.expires_at),
        family_expires_at: Set(new.family_expires_at),
        rotated_at: Set(None),
        revoked_at: Set(None),
        ip: Set(new.origin.ip.clone()),
        user_agent: Set(new.origin.user_agent.clone()),
        dpop_jkt: Set(grant.dpop_jkt.clone()),
    })
}

fn to_domain(model: refresh_tokens::Model) -> Result<RefreshTokenRecord, StoreError> {
    // A grant may have been narrowed to no scope at all, stored as the empty string.
    let scope = if model.scope.is_empty() {
        Scope::default()
    } else {
        Scope::parse(&model.scope).map_err(|_| StoreError::Malformed("refresh token scope"))?
    };
    Ok(RefreshTokenRecord {
        digest: SecretDigest::from_stored(model.id),
        family_id: FamilyId::from_stored(model.family_id),
        grant: RefreshGrant {
            client_id: ClientId::parse(&model.client_id).ok_or(StoreError::Malformed("refresh token client_id"))?,
            user_id: UserId(model.user_id),
            scope,
            sid: model.sid,
            auth_time: model.auth_time,
            amr: serde_json::from_value(model.amr).map_err(|_| StoreError::Malformed("refresh token amr"))?,
            dpop_jkt: model.dpop_jkt,
        },
        issued_at: model.issued_at,
        expires_at: model.expires_at,
        family_expires_at: model.family_expires_at,
        rotated_at: model.rotated_at,
        revoked_at: model.revoked_at,
        origin: RequestOrigin { ip: model.ip, user_agent: model.user_agent },
    })
}

impl RefreshTokenRepository {
    /// Deletes up to `limit` tokens that can no longer matter: their family's absolute lifetime
    /// is over, or they were revoked and have expired. Rotated tokens of a live family stay, so
    /// their reuse is still recognised (RFC 9700 §4.14.2). Returns how many were deleted.
    pub async fn delete_expired(&self, now: DateTime<Utc>, limit: u64) -> Result<u64, StoreError> {
        use sea_orm::QuerySelect;
        let ids: Vec<String> = refresh_tokens::Entity::find()
            .select_only()
            .column(refresh_tokens::Column::Id)
            .filter(
                Condition::any().add(refresh_tokens::Column::FamilyExpiresAt.lt(now)).add(
                    Condition::all()
                        .add(refresh_tokens::Column::RevokedAt.is_not_null())
                        .add(refresh_tokens::Column::ExpiresAt.lt(now)),
                ),
            )
            .limit(limit)
            .into_tuple()
            .all(&self.db)
            .await?;
        if ids.is_empty() {
            return Ok(0);
        }
        let result = refresh_tokens::Entity::delete_many()
            .filter(refresh_tokens::Column::Id.is_in(ids))
            .exec(self.writer.connection())
            .await?;
        Ok(result.rows_affected)
    }
}

/// An application's live refresh-token family, as its user sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrantSummary {
    pub family_id: FamilyId,
    pub client_id: String,
    pub scope: String,
    /// When the family's first token was issued (as far as its history is kept).
    pub created_at: DateTime<Utc>,
    /// When the current token of the family was issued: the application's last refresh.
    pub last_used_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// How the user signed in for this grant (RFC 8176).
    pub amr: Vec<String>,
    /// Where the last refresh came from.
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl RefreshTokenRepository {
    /// The user's families that still have a live token (one row each: the current token).
    pub async fn live_for_user(&self, user: UserId, now: DateTime<Utc>) -> Result<Vec<GrantSummary>, StoreError> {
        use sea_orm::{QueryOrder, QuerySelect};
        let current = refresh_tokens::Entity::find()
            .filter(refresh_tokens::Column::UserId.eq(user.0))
            .filter(refresh_tokens::Column::RotatedAt.is_null())
            .filter(refresh_tokens::Column::RevokedAt.is_null())
            .filter(refresh_tokens::Column::ExpiresAt.gt(now))
            .order_by_desc(refresh_tokens::Column::IssuedAt)
            .all(&self.db)
            .await?;
        // A family has one current token — or several, briefly, under a reuse grace window:
        // the newest stands for it.
        let mut seen = std::collections::HashSet::new();
        let current: Vec<_> = current.into_iter().filter(|model| seen.insert(model.family_id.clone())).collect();
        let families: Vec<String> = current.iter().map(|model| model.family_id.clone()).collect();
        let started: std::collections::HashMap<String, DateTime<Utc>> = refresh_tokens::Entity::find()
            .select_only()
            .column(refresh_tokens::Column::FamilyId)
            .column_as(refresh_tokens::Column::IssuedAt.min(), "started")
            .filter(refresh_tokens::Column::FamilyId.is_in(families))
            .group_by(refresh_tokens::Column::FamilyId)
            .into_tuple()
            .all(&self.db)
            .await?
            .into_iter()
            .collect();
        current
            .into_iter()
            .map(|model| {
                Ok(GrantSummary {
                    created_at: started.get(&model.family_id).copied().unwrap_or(model.issued_at),
                    family_id: FamilyId::from_stored(model.family_id),
                    client_id: model.client_id,
                    scope: model.scope,
                    last_used_at: model.issued_at,
                    expires_at: model.expires_at,
                    amr: serde_json::from_value(model.amr).map_err(|_| StoreError::Malformed("refresh token amr"))?,
                    ip: model.ip,
                    user_agent: model.user_agent,
                })
            })
            .collect()
    }

    /// Every family of the user not yet revoked, with its client and session (for "log out
    /// everywhere", which revokes them and tells their clients).
    pub async fn unrevoked_families_of(&self, user: UserId) -> Result<Vec<FamilySignIn>, StoreError> {
        use sea_orm::QuerySelect;
        let families: Vec<(String, String, Option<String>)> = refresh_tokens::Entity::find()
            .select_only()
            .column(refresh_tokens::Column::FamilyId)
            .column(refresh_tokens::Column::ClientId)
            .column(refresh_tokens::Column::Sid)
            .distinct()
            .filter(refresh_tokens::Column::UserId.eq(user.0))
            .filter(refresh_tokens::Column::RevokedAt.is_null())
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(families
            .into_iter()
            .map(|(family_id, client_id, sid)| FamilySignIn {
                family_id: FamilyId::from_stored(family_id),
                client_id,
                sid,
            })
            .collect())
    }

    /// The clients that hold (or held) a refresh family of the user born in one of `sids`: they
    /// signed in during those sessions. Filtered by user first, which is indexed.
    pub async fn clients_in_sessions(
        &self,
        user: UserId,
        sids: &[String],
    ) -> Result<Vec<(String, String)>, StoreError> {
        use sea_orm::QuerySelect;
        if sids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(refresh_tokens::Entity::find()
            .select_only()
            .column(refresh_tokens::Column::ClientId)
            .column(refresh_tokens::Column::Sid)
            .distinct()
            .filter(refresh_tokens::Column::UserId.eq(user.0))
            .filter(refresh_tokens::Column::Sid.is_in(sids.iter().cloned()))
            .into_tuple::<(String, Option<String>)>()
            .all(&self.db)
            .await?
            .into_iter()
            .filter_map(|(client_id, sid)| Some((client_id, sid?)))
            .collect())
    }
}

/// A refresh family as back-channel logout needs it: whose it is and which session it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FamilySignIn {
    pub family_id: FamilyId,
    pub client_id: String,
    pub sid: Option<String>,
}
