use chrono::{DateTime, Utc};
use entity::sessions;
use keys::SecretDigest;
use sea_orm::{ActiveValue::Set, DatabaseConnection, entity::prelude::*};

use crate::{
    accounts::UserId,
    oauth::session::{OpSession, RequestOrigin},
    store::StoreError,
};

#[derive(Clone, Debug)]
pub struct SessionRepository {
    db: DatabaseConnection,
}

impl SessionRepository {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    pub async fn insert(&self, session: &OpSession, origin: &RequestOrigin) -> Result<(), StoreError> {
        sessions::ActiveModel {
            id: Set(session.id.as_str().to_owned()),
            sid: Set(session.sid.clone()),
            user_id: Set(session.user_id.0),
            auth_time: Set(session.auth_time),
            amr: Set(serde_json::json!(session.amr)),
            created_at: Set(session.created_at),
            last_seen_at: Set(session.last_seen_at),
            expires_at: Set(session.expires_at),
            ip: Set(origin.ip.clone()),
            user_agent: Set(origin.user_agent.clone()),
            ended_at: Set(None),
        }
        .insert(&self.db)
        .await?;
        Ok(())
    }

    /// The live (not ended) session with this cookie digest.
    pub async fn find(&self, id: &SecretDigest) -> Result<Option<OpSession>, StoreError> {
        sessions::Entity::find_by_id(id.as_str())
            .filter(sessions::Column::EndedAt.is_null())
            .one(&self.db)
            .await?
            .map(to_domain)
            .transpose()
    }

    /// Records that the session was used at `now`.
    pub async fn touch(&self, id: &SecretDigest, now: DateTime<Utc>) -> Result<(), StoreError> {
        sessions::Entity::update_many()
            .col_expr(sessions::Column::LastSeenAt, Expr::value(now))
            .filter(sessions::Column::Id.eq(id.as_str()))
            .filter(sessions::Column::LastSeenAt.lt(now))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    pub async fn end(&self, id: &SecretDigest, now: DateTime<Utc>) -> Result<(), StoreError> {
        sessions::Entity::update_many()
            .col_expr(sessions::Column::EndedAt, Expr::value(now))
            .filter(sessions::Column::Id.eq(id.as_str()))
            .exec(&self.db)
            .await?;
        Ok(())
    }
}

fn to_domain(model: sessions::Model) -> Result<OpSession, StoreError> {
    Ok(OpSession {
        id: SecretDigest::from_stored(model.id),
        sid: model.sid,
        user_id: UserId(model.user_id),
        auth_time: model.auth_time,
        amr: serde_json::from_value(model.amr).map_err(|_| StoreError::Malformed("session amr"))?,
        created_at: model.created_at,
        last_seen_at: model.last_seen_at,
        expires_at: model.expires_at,
    })
}

impl SessionRepository {
    /// Deletes up to `limit` sessions that expired, or ended before `ended_before` (ended sessions
    /// are kept a while as sign-in history). Returns how many were deleted.
    pub async fn delete_expired(
        &self,
        now: DateTime<Utc>,
        ended_before: DateTime<Utc>,
        limit: u64,
    ) -> Result<u64, StoreError> {
        use sea_orm::{Condition, QuerySelect};
        let ids: Vec<String> = sessions::Entity::find()
            .select_only()
            .column(sessions::Column::Id)
            .filter(
                Condition::any()
                    .add(sessions::Column::ExpiresAt.lt(now))
                    .add(sessions::Column::EndedAt.lt(ended_before)),
            )
            .limit(limit)
            .into_tuple()
            .all(&self.db)
            .await?;
        if ids.is_empty() {
            return Ok(0);
        }
        let result = sessions::Entity::delete_many().filter(sessions::Column::Id.is_in(ids)).exec(&self.db).await?;
        Ok(result.rows_affected)
    }
}

/// A live browser session as its owner sees it in their session list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionSummary {
    pub sid: String,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub auth_time: DateTime<Utc>,
    pub amr: Vec<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// One sign-in in a user's history: a session in any state, kept 30 days after it ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignInRecord {
    pub signed_in_at: DateTime<Utc>,
    pub amr: Vec<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub ended_at: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
}

impl SessionRepository {
    /// The user's `limit` most recent sign-ins, newest first, whether live, ended or expired.
    pub async fn recent_for_user(&self, user: UserId, limit: u64) -> Result<Vec<SignInRecord>, StoreError> {
        use sea_orm::{QueryOrder, QuerySelect};
        sessions::Entity::find()
            .filter(sessions::Column::UserId.eq(user.0))
            .order_by_desc(sessions::Column::CreatedAt)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|model| {
                Ok(SignInRecord {
                    signed_in_at: model.created_at,
                    amr: serde_json::from_value(model.amr).map_err(|_| StoreError::Malformed("session amr"))?,
                    ip: model.ip,
                    user_agent: model.user_agent,
                    ended_at: model.ended_at,
                    expires_at: model.expires_at,
                })
            })
            .collect()
    }

    /// The user's sessions that have neither ended nor expired, newest first.
    pub async fn live_for_user(&self, user: UserId, now: DateTime<Utc>) -> Result<Vec<SessionSummary>, StoreError> {
        use sea_orm::QueryOrder;
        sessions::Entity::find()
            .filter(sessions::Column::UserId.eq(user.0))
            .filter(sessions::Column::EndedAt.is_null())
            .filter(sessions::Column::ExpiresAt.gt(now))
            .order_by_desc(sessions::Column::CreatedAt)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|model| {
                Ok(SessionSummary {
                    amr: serde_json::from_value(model.amr).map_err(|_| StoreError::Malformed("session amr"))?,
                    sid: model.sid,
                    created_at: model.created_at,
                    last_seen_at: model.last_seen_at,
                    auth_time: model.auth_time,
                    ip: model.ip,
                    user_agent: model.user_agent,
                })
            })
            .collect()
    }

    /// Ends the user's session `sid`; `false` if the user has no such live session.
    pub async fn end_by_sid(&self, user: UserId, sid: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let result = sessions::Entity::update_many()
            .col_expr(sessions::Column::EndedAt, Expr::value(now))
            .filter(sessions::Column::UserId.eq(user.0))
            .filter(sessions::Column::Sid.eq(sid))
            .filter(sessions::Column::EndedAt.is_null())
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// Ends every live session of the user but `keep_sid`; returns the `sid`s it ended, whose
    /// clients are then told (Back-Channel Logout §2.5). A session started meanwhile stays live
    /// and unreported.
    pub async fn end_all_for_user(
        &self,
        user: UserId,
        keep_sid: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, StoreError> {
        use sea_orm::QuerySelect;
        let mut live = sessions::Entity::find()
            .select_only()
            .column(sessions::Column::Id)
            .column(sessions::Column::Sid)
            .filter(sessions::Column::UserId.eq(user.0))
            .filter(sessions::Column::EndedAt.is_null());
        if let Some(keep) = keep_sid {
            live = live.filter(sessions::Column::Sid.ne(keep));
        }
        let live: Vec<(String, String)> = live.into_tuple().all(&self.db).await?;
        if live.is_empty() {
            return Ok(Vec::new());
        }
        let (ids, sids): (Vec<String>, Vec<String>) = live.into_iter().unzip();
        sessions::Entity::update_many()
            .col_expr(sessions::Column::EndedAt, Expr::value(now))
            .filter(sessions::Column::Id.is_in(ids))
            .filter(sessions::Column::EndedAt.is_null())
            .exec(&self.db)
            .await?;
        Ok(sids)
    }
}
