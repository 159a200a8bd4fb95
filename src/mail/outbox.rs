//! The durable outbox. A request enqueues a rendered mail (one insert) and returns; the sender
//! claims due rows with a conditional update, so however many nodes run, each claim succeeds
//! on one of them only, and a claim left by a crashed node lapses at `locked_until`.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use uuid::Uuid;

use super::{Mail, MailError, MailKind};
use crate::{
    clock::Clock,
    store::{StoreError, sql::MailOutboxRepository},
};

/// Where a mail is in its delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MailStatus {
    /// Waiting for its first or next attempt (`next_attempt_at`).
    Queued,
    /// Claimed by a sender until `locked_until`.
    Sending,
    Sent,
    /// Given up on after the configured number of attempts.
    Dead,
}

impl MailStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Dead => "dead",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Queued, Self::Sending, Self::Sent, Self::Dead].into_iter().find(|s| s.as_str() == value)
    }
}

/// An outbox row without its bodies, for operators and tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxEntry {
    pub id: Uuid,
    pub kind: MailKind,
    pub status: MailStatus,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
}

/// A mail this node has claimed: `attempt` counts this one and identifies the claim, so a
/// sender whose claim lapsed cannot overwrite the outcome of the node that took over.
#[derive(Clone, Debug)]
pub struct ClaimedMail {
    pub id: Uuid,
    pub attempt: u32,
    pub mail: Mail,
}

/// The handle requests enqueue through; cheap to clone.
#[derive(Clone)]
pub struct Outbox {
    store: MailOutboxRepository,
    clock: Arc<dyn Clock>,
    /// Wakes this node's sender right after an enqueue instead of at its next poll.
    wake: Arc<Notify>,
}

impl Outbox {
    pub fn new(store: MailOutboxRepository, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock, wake: Arc::new(Notify::new()) }
    }

    /// Writes `mail` to the outbox for immediate delivery and returns its id; never waits for
    /// SMTP.
    #[tracing::instrument(skip_all, fields(kind = mail.kind.as_str()))]
    pub async fn enqueue(&self, mail: Mail) -> Result<Uuid, MailError> {
        let id = Uuid::now_v7();
        self.store.insert(id, &mail, self.clock.now()).await?;
        self.wake.notify_one();
        Ok(id)
    }

    pub async fn find(&self, id: Uuid) -> Result<Option<OutboxEntry>, MailError> {
        Ok(self.store.find(id).await?)
    }

    /// Removes sent and dead mails created before `before` (the maintenance sweep).
    pub async fn delete_finished(&self, before: DateTime<Utc>, limit: u64) -> Result<u64, StoreError> {
        self.store.delete_finished(before, limit).await
    }

    pub(super) fn store(&self) -> &MailOutboxRepository {
        &self.store
    }

    pub(super) fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    pub(super) fn wake(&self) -> &Notify {
        &self.wake
    }
}
