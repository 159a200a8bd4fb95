//! Housekeeping: removes expired refresh tokens, looked-up access tokens, sessions, audit
//! records past their retention and finished outbox mails in bounded batches, so no single statement holds locks long
//! enough to stall requests. Codes, OTPs and
//! deny-list entries need no sweep — the short-lived store expires them itself.

use std::time::{Duration, Instant};

use chrono::Duration as Age;

use crate::{app::AppState, metrics::SweptTable, store::StoreError};

/// Rows deleted per statement.
const BATCH: u64 = 500;
/// Statements per table per sweep, so a large backlog is worked off over several sweeps.
const MAX_BATCHES: u32 = 20;
/// Ended sessions stay this long as sign-in history.
const KEEP_ENDED_SESSIONS: Age = Age::days(30);
/// Sent and dead mails (their bodies already blanked) stay this long for troubleshooting.
const KEEP_FINISHED_MAILS: Age = Age::days(7);

#[derive(Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub refresh_tokens: u64,
    pub access_tokens: u64,
    pub sessions: u64,
    pub audit_events: u64,
    pub mail_outbox: u64,
}

/// One pass over every table, recorded in the metrics whatever its outcome: rows deleted before
/// a failure are counted too, as they are gone.
pub async fn sweep(state: &AppState) -> Result<SweepReport, StoreError> {
    let started = Instant::now();
    let mut report = SweepReport::default();
    let outcome = sweep_into(state, &mut report).await;
    let metrics = &state.metrics;
    metrics.maintenance_swept(SweptTable::RefreshTokens, report.refresh_tokens);
    metrics.maintenance_swept(SweptTable::AccessTokens, report.access_tokens);
    metrics.maintenance_swept(SweptTable::Sessions, report.sessions);
    metrics.maintenance_swept(SweptTable::AuditEvents, report.audit_events);
    metrics.maintenance_swept(SweptTable::MailOutbox, report.mail_outbox);
    match outcome {
        Ok(()) => {
            metrics.maintenance_sweep_succeeded(started.elapsed(), state.clock.now());
            Ok(report)
        }
        Err(error) => {
            metrics.maintenance_sweep_failed(started.elapsed());
            Err(error)
        }
    }
}

async fn sweep_into(state: &AppState, report: &mut SweepReport) -> Result<(), StoreError> {
    let now = state.clock.now();
    for _ in 0..MAX_BATCHES {
        let deleted = state.refresh_tokens.delete_expired(now, BATCH).await?;
        report.refresh_tokens += deleted;
        if deleted < BATCH {
            break;
        }
    }
    for _ in 0..MAX_BATCHES {
        let deleted = state.access_tokens.delete_expired(now, BATCH).await?;
        report.access_tokens += deleted;
        if deleted < BATCH {
            break;
        }
    }
    for _ in 0..MAX_BATCHES {
        let deleted = state.sessions.delete_expired(now, now - KEEP_ENDED_SESSIONS, BATCH).await?;
        report.sessions += deleted;
        if deleted < BATCH {
            break;
        }
    }
    for _ in 0..MAX_BATCHES {
        let deleted = state.audit.delete_older_than(now - state.config.audit_retention, BATCH).await?;
        report.audit_events += deleted;
        if deleted < BATCH {
            break;
        }
    }
    for _ in 0..MAX_BATCHES {
        let deleted = state.outbox.delete_finished(now - KEEP_FINISHED_MAILS, BATCH).await?;
        report.mail_outbox += deleted;
        if deleted < BATCH {
            break;
        }
    }
    Ok(())
}

/// Sweeps every `every` until the returned task is aborted.
pub fn spawn_sweeper(state: AppState, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        // The first sweep waits a full period: start-up stays quick, and a node restarted in a
        // loop does not sweep in a loop.
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match sweep(&state).await {
                Ok(report) if report != SweepReport::default() => {
                    tracing::info!(
                        refresh_tokens = report.refresh_tokens,
                        access_tokens = report.access_tokens,
                        sessions = report.sessions,
                        mail_outbox = report.mail_outbox,
                        "expired rows removed"
                    );
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "maintenance sweep failed; will retry"),
            }
        }
    })
}
