use chrono::{DateTime, Utc};
use entity::audit_events;
use sea_orm::{ActiveValue::Set, DatabaseConnection, QueryOrder, QuerySelect, entity::prelude::*};

use super::writer::Writer;
use crate::{
    accounts::UserId,
    audit::{Actor, AuditEvent, AuditQuery, AuditRecord, AuditRow, Outcome, StoredEvent},
    oauth::session::RequestOrigin,
    store::StoreError,
};

/// Column widths (see the migration): free text is cut to fit rather than refused, so a long
/// user agent never costs an audit record.
const USER_AGENT_LEN: usize = 512;
const TARGET_LEN: usize = 200;
const SHORT_LEN: usize = 64;

#[derive(Clone)]
pub struct AuditRepository {
    db: DatabaseConnection,
    /// Every write goes through the database's writer; appends are group-committed there.
    writer: Writer,
}

impl AuditRepository {
    pub fn new(db: DatabaseConnection, writer: Writer) -> Self {
        Self { db, writer }
    }

    /// Appends `record` and returns once it is committed, or reported as lost.
    pub async fn append(&self, record: AuditRow) {
        self.writer.append(record).await;
    }

    pub async fn query(&self, query: &AuditQuery, limit: u64) -> Result<Vec<AuditRecord>, StoreError> {
        let mut select = audit_events::Entity::find();
        if let Some(user) = query.user {
            select = select.filter(audit_events::Column::SubjectUserId.eq(user.0));
        }
        if let Some(client_id) = &query.client_id {
            select = select.filter(audit_events::Column::ClientId.eq(client_id.as_str()));
        }
        if let Some(kind) = &query.kind {
            select = select.filter(audit_events::Column::Kind.eq(kind.as_str()));
        }
        if let Some(since) = query.since {
            select = select.filter(audit_events::Column::OccurredAt.gte(since));
        }
        if let Some(until) = query.until {
            select = select.filter(audit_events::Column::OccurredAt.lt(until));
        }
        if let Some(before) = query.before {
            select = select.filter(audit_events::Column::Id.lt(before));
        }
        let models = select.order_by_desc(audit_events::Column::Id).limit(limit).all(&self.db).await?;
        models.into_iter().map(to_domain).collect()
    }

    pub async fn delete_older_than(&self, cutoff: DateTime<Utc>, limit: u64) -> Result<u64, StoreError> {
        let ids: Vec<Uuid> = audit_events::Entity::find()
            .select_only()
            .column(audit_events::Column::Id)
            .filter(audit_events::Column::OccurredAt.lt(cutoff))
            .limit(limit)
            .into_tuple()
            .all(&self.db)
            .await?;
        if ids.is_empty() {
            return Ok(0);
        }
        let result = audit_events::Entity::delete_many()
            .filter(audit_events::Column::Id.is_in(ids))
            .exec(self.writer.connection())
            .await?;
        Ok(result.rows_affected)
    }
}

/// Appends `records` in one statement, so one commit (one fsync) makes all of them durable.
pub(super) async fn insert_many(db: &impl ConnectionTrait, records: &[AuditRow]) -> Result<(), StoreError> {
    if records.is_empty() {
        return Ok(());
    }
    audit_events::Entity::insert_many(records.iter().map(|(id, at, event)| row(*id, *at, event)))
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// The row for one event, its free text cut to the column widths.
fn row(id: Uuid, at: DateTime<Utc>, event: &AuditEvent) -> audit_events::ActiveModel {
    let actor = &event.actor;
    audit_events::ActiveModel {
        id: Set(id),
        occurred_at: Set(at),
        kind: Set(event.kind.to_owned()),
        outcome: Set(event.outcome.as_str().to_owned()),
        actor_user_id: Set(actor.user.as_deref().map(|v| truncate(v, SHORT_LEN))),
        actor_client_id: Set(actor.client_id.as_deref().map(|v| truncate(v, SHORT_LEN))),
        subject_user_id: Set(event.subject_user.map(|user| user.0)),
        client_id: Set(event.client_id.as_deref().map(|v| truncate(v, SHORT_LEN))),
        target: Set(event.target.as_deref().map(|v| truncate(v, TARGET_LEN))),
        ip: Set(actor.origin.ip.as_deref().map(|v| truncate(v, SHORT_LEN))),
        user_agent: Set(actor.origin.user_agent.as_deref().map(|v| truncate(v, USER_AGENT_LEN))),
        details: Set(event.details.clone()),
    }
}

fn truncate(value: &str, max: usize) -> String {
    let mut end = value.len().min(max);
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    value[..end].to_owned()
}

fn to_domain(model: audit_events::Model) -> Result<AuditRecord, StoreError> {
    Ok(AuditRecord {
        id: model.id,
        occurred_at: model.occurred_at,
        event: StoredEvent {
            kind: model.kind,
            outcome: Outcome::parse(&model.outcome).ok_or(StoreError::Malformed("audit outcome"))?,
            actor: Actor {
                user: model.actor_user_id,
                client_id: model.actor_client_id,
                origin: RequestOrigin { ip: model.ip, user_agent: model.user_agent },
            },
            subject_user: model.subject_user_id.map(UserId),
            client_id: model.client_id,
            target: model.target,
            details: model.details,
        },
    })
}
