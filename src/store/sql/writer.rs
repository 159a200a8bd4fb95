//! The group commit of the writes a busy endpoint makes at the same time: refresh-token
//! rotations and audit records. Those waiting together share one transaction and one commit
//! (one fsync), and no caller hears back before its own write is committed (DESIGN §7.5). A
//! refresh makes one of each, so rotations and the audit records of earlier requests share a
//! commit instead of taking turns with commits of their own.

use sea_orm::{DatabaseConnection, DbBackend, TransactionTrait};

use super::{audit, refresh_tokens};
use crate::{
    audit::{AuditEvent, AuditRow},
    oauth::RotateOutcome,
    store::{StoreError, group_commit::GroupCommit},
};

/// One write, as submitted.
enum Write {
    Rotation(refresh_tokens::Rotation),
    Audit(AuditRow),
}

/// What became of one [`Write`].
enum Written {
    Rotation(Result<RotateOutcome, StoreError>),
    /// Failures are reported where they happen.
    Audit,
}

/// The most writes one transaction carries.
const BATCH: usize = 256;

/// The group-committing writer over the database's writer connection (`Database::writer`).
#[derive(Clone)]
pub struct Writer {
    db: DatabaseConnection,
    /// Absent outside a tokio runtime: each write then commits alone.
    batches: Option<GroupCommit<Write, Written>>,
}

impl Writer {
    pub fn new(db: DatabaseConnection) -> Self {
        let batch_db = db.clone();
        // On SQLite a commit (an fsync, and hops to the connection's thread) costs far more than
        // its rows, so the writer gathers what running requests are about to submit. On
        // PostgreSQL that lined requests up behind each other's commits (client_credentials at
        // 128 connections: 2,118 per second gathering, 4,985 not), so it commits what is waiting.
        let gather = db.get_database_backend() == DbBackend::Sqlite;
        let batches = GroupCommit::spawn(BATCH, gather, move |batch: Vec<Write>| {
            let db = batch_db.clone();
            async move { commit(&db, batch).await }
        });
        Self { db, batches }
    }

    /// The connection, for the writes that are not group-committed.
    pub(super) fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Consumes a refresh token and stores its successor (see `RefreshTokenRepository::rotate`).
    pub(super) async fn rotate(&self, rotation: refresh_tokens::Rotation) -> Result<RotateOutcome, StoreError> {
        match self.submit(Write::Rotation(rotation)).await {
            Written::Rotation(outcome) => outcome,
            Written::Audit => Err(StoreError::Malformed("the writer's answer to a rotation")),
        }
    }

    /// Appends one audit record. A record that cannot be written is reported here, loudly (with
    /// the event, which holds no secrets): the change it records happened and is not undone.
    pub(super) async fn append(&self, record: AuditRow) {
        self.submit(Write::Audit(record)).await;
    }

    /// Submits `write` and waits until it is committed (or has failed).
    async fn submit(&self, write: Write) -> Written {
        let Some(batches) = &self.batches else { return commit_alone(&self.db, write).await };
        let is_rotation = matches!(write, Write::Rotation(_));
        match batches.submit(write).await {
            Ok(written) => written,
            Err(Some(write)) => commit_alone(&self.db, write).await,
            Err(None) => {
                let stopped = StoreError::Unavailable { backend: "database", detail: "the writer stopped".into() };
                if is_rotation {
                    return Written::Rotation(Err(stopped));
                }
                tracing::error!(error = %stopped, "an audit record's write has an unknown outcome");
                Written::Audit
            }
        }
    }
}

/// Commits `batch` in one transaction and answers in its order. If that fails, each write of a
/// batch of several is tried again on its own, so one failure costs only itself — unless the
/// database is unreachable, which each retry would only wait out again.
async fn commit(db: &DatabaseConnection, batch: Vec<Write>) -> Vec<Written> {
    let order: Vec<bool> = batch.iter().map(|write| matches!(write, Write::Rotation(_))).collect();
    let (mut rotations, mut records) = (Vec::new(), Vec::new());
    for write in batch {
        match write {
            Write::Rotation(rotation) => rotations.push(rotation),
            Write::Audit(record) => records.push(record),
        }
    }
    let together = async {
        if rotations.is_empty() {
            // One statement commits on its own: no transaction to open and close around it.
            audit::insert_many(db, &records).await?;
            return Ok(Vec::new());
        }
        let transaction = db.begin().await?;
        let outcomes = refresh_tokens::rotate_in(&transaction, &rotations).await?;
        audit::insert_many(&transaction, &records).await?;
        transaction.commit().await?;
        Ok::<_, StoreError>(outcomes)
    };
    let rotated: Vec<_> = match together.await {
        Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
        Err(StoreError::Unavailable { backend, detail }) => {
            let unavailable = || StoreError::Unavailable { backend, detail: detail.clone() };
            records.iter().for_each(|record| report_unwritten(&unavailable(), &record.2));
            rotations.iter().map(|_| Err(unavailable())).collect()
        }
        // A write alone already: trying it again would fail the same way.
        Err(error) if order.len() == 1 => match records.first() {
            Some(record) => {
                report_unwritten(&error, &record.2);
                Vec::new()
            }
            None => vec![Err(error)],
        },
        Err(_) => {
            let mut rotated = Vec::with_capacity(rotations.len());
            for rotation in &rotations {
                rotated.push(refresh_tokens::rotate_alone(db, rotation).await);
            }
            for record in &records {
                append_alone(db, record).await;
            }
            rotated
        }
    };
    // `rotate_in` answers every rotation, so the answers run out only for a broken invariant.
    let mut rotated = rotated.into_iter();
    let answer = |is_rotation: bool| {
        if is_rotation {
            Written::Rotation(rotated.next().unwrap_or(Err(StoreError::Malformed("rotation outcome"))))
        } else {
            Written::Audit
        }
    };
    order.into_iter().map(answer).collect()
}

async fn append_alone(db: &DatabaseConnection, record: &AuditRow) {
    if let Err(error) = audit::insert_many(db, std::slice::from_ref(record)).await {
        report_unwritten(&error, &record.2);
    }
}

fn report_unwritten(error: &StoreError, event: &AuditEvent) {
    tracing::error!(%error, kind = event.kind, outcome = event.outcome.as_str(), ?event.subject_user,
        client_id = ?event.client_id, target = ?event.target, "could not write the audit record");
}

async fn commit_alone(db: &DatabaseConnection, write: Write) -> Written {
    match write {
        Write::Rotation(rotation) => Written::Rotation(refresh_tokens::rotate_alone(db, &rotation).await),
        Write::Audit(record) => {
            append_alone(db, &record).await;
            Written::Audit
        }
    }
}
