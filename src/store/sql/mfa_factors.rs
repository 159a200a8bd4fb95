//! Users' second factors: one TOTP secret (sealed) and up to ten recovery codes (digests).
//! Single use is enforced here with conditional writes, so two concurrent requests presenting
//! the same code cannot both win (DESIGN §7.1): a TOTP step is accepted only if it is later than
//! the last one accepted, a recovery code only by the request whose delete removed its row.

use chrono::{DateTime, Utc};
use entity::mfa_factors;
use sea_orm::{
    ActiveValue::Set, Condition, DatabaseConnection, PaginatorTrait, TransactionTrait, entity::prelude::*,
    sea_query::Expr,
};

use crate::{accounts::UserId, store::StoreError};

pub const KIND_TOTP: &str = "totp";
pub const KIND_RECOVERY_CODE: &str = "recovery_code";

/// A user's TOTP factor as stored.
#[derive(Clone, Debug)]
pub struct StoredTotp {
    pub id: Uuid,
    pub sealed_secret: Vec<u8>,
    pub confirmed: bool,
}

#[derive(Clone, Debug)]
pub struct MfaFactorRepository {
    db: DatabaseConnection,
}

impl MfaFactorRepository {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    pub async fn count_for_user(&self, user: UserId) -> Result<u64, StoreError> {
        Ok(mfa_factors::Entity::find().filter(mfa_factors::Column::UserId.eq(user.0)).count(&self.db).await?)
    }

    /// Returns how many factors were removed.
    pub async fn delete_for_user(&self, user: UserId) -> Result<u64, StoreError> {
        let result =
            mfa_factors::Entity::delete_many().filter(mfa_factors::Column::UserId.eq(user.0)).exec(&self.db).await?;
        Ok(result.rows_affected)
    }

    /// The user's TOTP factor, confirmed or not (a confirmed one wins if both exist).
    pub async fn find_totp(&self, user: UserId) -> Result<Option<StoredTotp>, StoreError> {
        let rows = mfa_factors::Entity::find()
            .filter(mfa_factors::Column::UserId.eq(user.0))
            .filter(mfa_factors::Column::Kind.eq(KIND_TOTP))
            .all(&self.db)
            .await?;
        let row = rows.iter().find(|row| row.confirmed_at.is_some()).or_else(|| rows.first());
        row.map(|row| {
            Ok(StoredTotp {
                id: row.id,
                sealed_secret: row.sealed_secret.clone().ok_or(StoreError::Malformed("totp secret"))?,
                confirmed: row.confirmed_at.is_some(),
            })
        })
        .transpose()
    }

    /// Stores a new unconfirmed TOTP factor in place of any unconfirmed one. Fails with a
    /// conflict when a confirmed factor exists (disable it first).
    pub async fn replace_unconfirmed_totp(
        &self,
        user: UserId,
        id: Uuid,
        sealed_secret: Vec<u8>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let transaction = self.db.begin().await?;
        // Write first: on SQLite a transaction that reads and then writes cannot wait for a
        // concurrent writer (SQLITE_BUSY at once), one that starts with a write waits for it.
        mfa_factors::Entity::delete_many()
            .filter(totp_of(user))
            .filter(mfa_factors::Column::ConfirmedAt.is_null())
            .exec(&transaction)
            .await?;
        let confirmed = mfa_factors::Entity::find()
            .filter(totp_of(user))
            .filter(mfa_factors::Column::ConfirmedAt.is_not_null())
            .count(&transaction)
            .await?;
        if confirmed > 0 {
            return Err(StoreError::Conflict("confirmed totp factor"));
        }
        mfa_factors::ActiveModel {
            id: Set(id),
            user_id: Set(user.0),
            kind: Set(KIND_TOTP.to_owned()),
            sealed_secret: Set(Some(sealed_secret)),
            digest: Set(None),
            created_at: Set(now),
            confirmed_at: Set(None),
            last_used_at: Set(None),
        }
        .insert(&transaction)
        .await?;
        transaction.commit().await?;
        Ok(())
    }

    /// Confirms the unconfirmed factor `id`, records `step_start` as its last accepted step and
    /// stores the recovery codes' digests, all or nothing. `false` when it was not unconfirmed
    /// (another request confirmed it first, or it was replaced).
    pub async fn confirm_totp(
        &self,
        user: UserId,
        id: Uuid,
        step_start: DateTime<Utc>,
        recovery_digests: &[String],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let transaction = self.db.begin().await?;
        let confirmed = mfa_factors::Entity::update_many()
            .col_expr(mfa_factors::Column::ConfirmedAt, Expr::value(now))
            .col_expr(mfa_factors::Column::LastUsedAt, Expr::value(step_start))
            .filter(mfa_factors::Column::Id.eq(id))
            .filter(mfa_factors::Column::UserId.eq(user.0))
            .filter(mfa_factors::Column::ConfirmedAt.is_null())
            .exec(&transaction)
            .await?
            .rows_affected
            == 1;
        if !confirmed {
            return Ok(false);
        }
        replace_recovery_codes(&transaction, user, recovery_digests, now).await?;
        transaction.commit().await?;
        Ok(true)
    }

    /// Records `step_start` as the last accepted step of factor `id` if it is later than the one
    /// recorded: `true` for exactly one of several concurrent requests with the same step, and
    /// never for a step at or before one already accepted (RFC 6238 §5.2).
    pub async fn accept_totp_step(&self, id: Uuid, step_start: DateTime<Utc>) -> Result<bool, StoreError> {
        let accepted = mfa_factors::Entity::update_many()
            .col_expr(mfa_factors::Column::LastUsedAt, Expr::value(step_start))
            .filter(mfa_factors::Column::Id.eq(id))
            .filter(mfa_factors::Column::ConfirmedAt.is_not_null())
            .filter(
                Condition::any()
                    .add(mfa_factors::Column::LastUsedAt.is_null())
                    .add(mfa_factors::Column::LastUsedAt.lt(step_start)),
            )
            .exec(&self.db)
            .await?
            .rows_affected
            == 1;
        Ok(accepted)
    }

    pub async fn count_recovery_codes(&self, user: UserId) -> Result<u64, StoreError> {
        Ok(mfa_factors::Entity::find()
            .filter(mfa_factors::Column::UserId.eq(user.0))
            .filter(mfa_factors::Column::Kind.eq(KIND_RECOVERY_CODE))
            .count(&self.db)
            .await?)
    }

    /// Spends the recovery code with `digest`: `true` only for the request whose delete removed it.
    pub async fn spend_recovery_code(&self, user: UserId, digest: &str) -> Result<bool, StoreError> {
        let result = mfa_factors::Entity::delete_many()
            .filter(mfa_factors::Column::UserId.eq(user.0))
            .filter(mfa_factors::Column::Kind.eq(KIND_RECOVERY_CODE))
            .filter(mfa_factors::Column::Digest.eq(digest))
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// Replaces the user's recovery codes with these digests.
    pub async fn replace_recovery_codes(
        &self,
        user: UserId,
        digests: &[String],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let transaction = self.db.begin().await?;
        replace_recovery_codes(&transaction, user, digests, now).await?;
        transaction.commit().await?;
        Ok(())
    }
}

fn totp_of(user: UserId) -> Condition {
    Condition::all().add(mfa_factors::Column::UserId.eq(user.0)).add(mfa_factors::Column::Kind.eq(KIND_TOTP))
}

async fn replace_recovery_codes(
    connection: &impl ConnectionTrait,
    user: UserId,
    digests: &[String],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    mfa_factors::Entity::delete_many()
        .filter(mfa_factors::Column::UserId.eq(user.0))
        .filter(mfa_factors::Column::Kind.eq(KIND_RECOVERY_CODE))
        .exec(connection)
        .await?;
    let rows = digests.iter().map(|digest| mfa_factors::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user.0),
        kind: Set(KIND_RECOVERY_CODE.to_owned()),
        sealed_secret: Set(None),
        digest: Set(Some(digest.clone())),
        created_at: Set(now),
        confirmed_at: Set(Some(now)),
        last_used_at: Set(None),
    });
    if !digests.is_empty() {
        mfa_factors::Entity::insert_many(rows).exec(connection).await?;
    }
    Ok(())
}
