//! The background sender: claims due outbox rows, sends them, and records the outcome, with
//! exponential backoff between attempts and a dead letter after the last one.

use std::{sync::Arc, time::Duration};

use super::{ClaimedMail, MailError, Outbox, Transport};
use crate::metrics::Metrics;

/// When and how often to try.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SendPolicy {
    /// Attempts before a mail is dead (`FERRID_MAIL_MAX_ATTEMPTS`).
    pub max_attempts: u32,
    /// The wait after the first failure; it doubles after each further one.
    pub retry_after: Duration,
    pub max_retry_after: Duration,
    /// How often the outbox is polled for retries and other nodes' mails.
    pub poll_every: Duration,
    /// How long a claim holds; longer than an SMTP exchange may take.
    pub claim_for: Duration,
    /// Mails claimed per pass.
    pub batch: u64,
}

impl SendPolicy {
    pub fn new(max_attempts: u32) -> Self {
        Self {
            max_attempts,
            retry_after: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(3_600),
            poll_every: Duration::from_secs(5),
            claim_for: super::transport::SEND_TIMEOUT * 4,
            batch: 50,
        }
    }

    /// The wait after the `attempt`-th failed attempt (1-based): 30 s, 60 s, 120 s, … capped.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(20);
        self.retry_after.saturating_mul(1 << doublings).min(self.max_retry_after)
    }
}

/// Everything the sender task needs; tests shorten its `policy`.
#[derive(Clone)]
pub struct MailSender {
    pub outbox: Outbox,
    pub transport: Transport,
    pub policy: SendPolicy,
    pub metrics: Arc<Metrics>,
}

impl MailSender {
    /// Sends every mail due now (up to a batch); returns how many this node claimed.
    pub async fn deliver_due(&self) -> Result<usize, MailError> {
        let store = self.outbox.store();
        let clock = self.outbox.clock();
        let due = store.due(clock.now(), self.policy.batch).await?;
        let mut claimed = 0;
        for id in due {
            let now = clock.now();
            let lock = chrono::Duration::from_std(self.policy.claim_for).unwrap_or(chrono::Duration::MAX);
            if let Some(claim) = store.claim(id, now, now + lock).await? {
                claimed += 1;
                self.deliver(claim).await?;
            }
        }
        Ok(claimed)
    }

    #[tracing::instrument(skip_all, fields(mail_id = %claim.id, kind = claim.mail.kind.as_str(), attempt = claim.attempt))]
    async fn deliver(&self, claim: ClaimedMail) -> Result<(), MailError> {
        let store = self.outbox.store();
        let clock = self.outbox.clock();
        let to = claim.mail.masked_recipient();
        match self.transport.send(claim.id, &claim.mail).await {
            Ok(()) => {
                // Counted before the row is marked, so whoever sees the row sent sees the count.
                self.metrics.mail_sent();
                store.mark_sent(&claim, clock.now()).await?;
                tracing::debug!(%to, "mail sent");
            }
            Err(error) if claim.attempt >= self.policy.max_attempts => {
                let error = error.to_string();
                self.metrics.mail_failed(true);
                store.mark_dead(&claim, &error).await?;
                tracing::error!(%to, %error, "mail not delivered after the last attempt; giving up");
            }
            Err(error) => {
                let error = error.to_string();
                let wait = self.policy.backoff(claim.attempt);
                let next = clock.now() + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX);
                store.reschedule(&claim, next, &error).await?;
                self.metrics.mail_failed(false);
                tracing::warn!(%to, %error, retry_in_secs = wait.as_secs_f64(), "mail not delivered; will retry");
            }
        }
        Ok(())
    }
}

/// Delivers until the returned task is aborted: right after each enqueue on this node, and at
/// least every `poll_every` (retries, other nodes' mails, claims left by crashed nodes).
pub fn spawn_sender(sender: MailSender) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let full_batch = match sender.deliver_due().await {
                Ok(claimed) => claimed as u64 >= sender.policy.batch,
                Err(error) => {
                    tracing::warn!(%error, "mail delivery pass failed; will retry");
                    false
                }
            };
            if full_batch {
                continue;
            }
            tokio::select! {
                () = sender.outbox.wake().notified() => {}
                () = tokio::time::sleep(sender.policy.poll_every) => {}
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_thirty_seconds_up_to_an_hour() {
        let policy = SendPolicy::new(8);
        let waits: Vec<u64> = (1..=9).map(|attempt| policy.backoff(attempt).as_secs()).collect();
        assert_eq!(waits, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(policy.backoff(u32::MAX), Duration::from_secs(3600));
    }
}
