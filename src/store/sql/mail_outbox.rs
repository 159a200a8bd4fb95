//! The mail outbox table. Every state change after the claim is conditional on the row still
//! being `sending` with the claim's attempt number, so only the claim's owner records its outcome.

use chrono::{DateTime, Utc};
use entity::mail_outbox;
use lettre::message::Mailbox;
use sea_orm::{
    ActiveValue::Set, Condition, DatabaseConnection, QueryOrder, QuerySelect, entity::prelude::*, sea_query::ExprTrait,
};

use crate::{
    mail::{ClaimedMail, Mail, MailKind, MailStatus, OutboxEntry},
    store::StoreError,
};

/// Longest `last_error` kept: enough for an SMTP reply line.
const MAX_ERROR_CHARS: usize = 300;

#[derive(Clone, Debug)]
pub struct MailOutboxRepository {
    db: DatabaseConnection,
}

impl MailOutboxRepository {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    pub async fn insert(&self, id: Uuid, mail: &Mail, now: DateTime<Utc>) -> Result<(), StoreError> {
        mail_outbox::ActiveModel {
            id: Set(id),
            kind: Set(mail.kind.as_str().to_owned()),
            recipient: Set(mail.to.to_string()),
            subject: Set(mail.subject.clone()),
            text_body: Set(mail.text_body.clone()),
            html_body: Set(mail.html_body.clone()),
            status: Set(MailStatus::Queued.as_str().to_owned()),
            attempts: Set(0),
            next_attempt_at: Set(now),
            locked_until: Set(None),
            last_error: Set(None),
            created_at: Set(now),
            sent_at: Set(None),
        }
        .insert(&self.db)
        .await?;
        Ok(())
    }

    /// Up to `limit` mails that may be claimed at `now`, oldest due first.
    pub async fn due(&self, now: DateTime<Utc>, limit: u64) -> Result<Vec<Uuid>, StoreError> {
        Ok(mail_outbox::Entity::find()
            .select_only()
            .column(mail_outbox::Column::Id)
            .filter(claimable(now))
            .order_by_asc(mail_outbox::Column::NextAttemptAt)
            .limit(limit)
            .into_tuple()
            .all(&self.db)
            .await?)
    }

    /// Claims `id` until `locked_until` if it is still claimable; `None` when another sender
    /// got it first.
    pub async fn claim(
        &self,
        id: Uuid,
        now: DateTime<Utc>,
        locked_until: DateTime<Utc>,
    ) -> Result<Option<ClaimedMail>, StoreError> {
        let claimed = mail_outbox::Entity::update_many()
            .col_expr(mail_outbox::Column::Status, Expr::value(MailStatus::Sending.as_str()))
            .col_expr(mail_outbox::Column::LockedUntil, Expr::value(locked_until))
            .col_expr(mail_outbox::Column::Attempts, Expr::col(mail_outbox::Column::Attempts).add(1))
            .filter(mail_outbox::Column::Id.eq(id))
            .filter(claimable(now))
            .exec(&self.db)
            .await?
            .rows_affected
            == 1;
        if !claimed {
            return Ok(None);
        }
        let Some(row) = mail_outbox::Entity::find_by_id(id).one(&self.db).await? else {
            return Ok(None);
        };
        let mail = Mail {
            kind: MailKind::parse(&row.kind).ok_or(StoreError::Malformed("mail kind"))?,
            to: row.recipient.parse::<Mailbox>().map_err(|_| StoreError::Malformed("mail recipient"))?,
            subject: row.subject,
            text_body: row.text_body,
            html_body: row.html_body,
        };
        let attempt = u32::try_from(row.attempts).map_err(|_| StoreError::Malformed("mail attempts"))?;
        Ok(Some(ClaimedMail { id, attempt, mail }))
    }

    /// Marks the claim sent and blanks the bodies: the codes and links in them are not kept.
    pub async fn mark_sent(&self, claim: &ClaimedMail, now: DateTime<Utc>) -> Result<(), StoreError> {
        finish(claim)
            .col_expr(mail_outbox::Column::Status, Expr::value(MailStatus::Sent.as_str()))
            .col_expr(mail_outbox::Column::SentAt, Expr::value(now))
            .col_expr(mail_outbox::Column::LastError, Expr::value(Option::<String>::None))
            .col_expr(mail_outbox::Column::TextBody, Expr::value(""))
            .col_expr(mail_outbox::Column::HtmlBody, Expr::value(""))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Puts the claim back in the queue for another attempt at `next_attempt_at`.
    pub async fn reschedule(
        &self,
        claim: &ClaimedMail,
        next_attempt_at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        finish(claim)
            .col_expr(mail_outbox::Column::Status, Expr::value(MailStatus::Queued.as_str()))
            .col_expr(mail_outbox::Column::NextAttemptAt, Expr::value(next_attempt_at))
            .col_expr(mail_outbox::Column::LastError, Expr::value(truncate(error)))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Gives up on the claim; the bodies are blanked as for a sent mail.
    pub async fn mark_dead(&self, claim: &ClaimedMail, error: &str) -> Result<(), StoreError> {
        finish(claim)
            .col_expr(mail_outbox::Column::Status, Expr::value(MailStatus::Dead.as_str()))
            .col_expr(mail_outbox::Column::LastError, Expr::value(truncate(error)))
            .col_expr(mail_outbox::Column::TextBody, Expr::value(""))
            .col_expr(mail_outbox::Column::HtmlBody, Expr::value(""))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    pub async fn find(&self, id: Uuid) -> Result<Option<OutboxEntry>, StoreError> {
        let Some(row) = mail_outbox::Entity::find_by_id(id).one(&self.db).await? else {
            return Ok(None);
        };
        Ok(Some(OutboxEntry {
            id: row.id,
            kind: MailKind::parse(&row.kind).ok_or(StoreError::Malformed("mail kind"))?,
            status: MailStatus::parse(&row.status).ok_or(StoreError::Malformed("mail status"))?,
            attempts: u32::try_from(row.attempts).map_err(|_| StoreError::Malformed("mail attempts"))?,
            last_error: row.last_error,
            sent_at: row.sent_at,
        }))
    }

    /// Deletes up to `limit` sent or dead mails created before `before`; returns how many.
    pub async fn delete_finished(&self, before: DateTime<Utc>, limit: u64) -> Result<u64, StoreError> {
        let ids: Vec<Uuid> = mail_outbox::Entity::find()
            .select_only()
            .column(mail_outbox::Column::Id)
            .filter(mail_outbox::Column::Status.is_in([MailStatus::Sent.as_str(), MailStatus::Dead.as_str()]))
            .filter(mail_outbox::Column::CreatedAt.lt(before))
            .limit(limit)
            .into_tuple()
            .all(&self.db)
            .await?;
        if ids.is_empty() {
            return Ok(0);
        }
        let result =
            mail_outbox::Entity::delete_many().filter(mail_outbox::Column::Id.is_in(ids)).exec(&self.db).await?;
        Ok(result.rows_affected)
    }
}

/// Queued and due, or claimed by a sender whose claim has lapsed (it crashed or hung).
fn claimable(now: DateTime<Utc>) -> Condition {
    Condition::any()
        .add(
            Condition::all()
                .add(mail_outbox::Column::Status.eq(MailStatus::Queued.as_str()))
                .add(mail_outbox::Column::NextAttemptAt.lte(now)),
        )
        .add(
            Condition::all()
                .add(mail_outbox::Column::Status.eq(MailStatus::Sending.as_str()))
                .add(mail_outbox::Column::LockedUntil.lt(now)),
        )
}

/// An update of the claimed row that releases the claim; matches nothing once the claim was
/// taken over.
fn finish(claim: &ClaimedMail) -> sea_orm::UpdateMany<mail_outbox::Entity> {
    mail_outbox::Entity::update_many()
        .col_expr(mail_outbox::Column::LockedUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .filter(mail_outbox::Column::Id.eq(claim.id))
        .filter(mail_outbox::Column::Status.eq(MailStatus::Sending.as_str()))
        .filter(mail_outbox::Column::Attempts.eq(i32::try_from(claim.attempt).unwrap_or(i32::MAX)))
}

fn truncate(error: &str) -> String {
    error.chars().take(MAX_ERROR_CHARS).collect()
}
