//! Group commit: writes submitted at the same time are handed to one task that makes them
//! durable together (one transaction, one fsync) and then answers each submitter. A busy
//! endpoint pays one commit per batch instead of one per request, and no caller hears back
//! before its own write is committed (DESIGN §7.5).

use std::future::Future;

use tokio::sync::{mpsc, oneshot};

/// A job on its way to the writer, and where its submitter waits for the outcome.
struct Submitted<J, R> {
    job: J,
    outcome: oneshot::Sender<R>,
}

pub struct GroupCommit<J, R> {
    queue: mpsc::Sender<Submitted<J, R>>,
}

impl<J, R> Clone for GroupCommit<J, R> {
    fn clone(&self) -> Self {
        Self { queue: self.queue.clone() }
    }
}

impl<J: Send + 'static, R: Send + 'static> GroupCommit<J, R> {
    /// Starts the writer on the current tokio runtime (none outside one: callers then write
    /// directly). `commit` gets every job waiting, with `gather` also those the tasks already
    /// running are about to submit ([`gather_the_rest`]), at most `most`, and returns one outcome
    /// per job, in order.
    pub fn spawn<C, F>(most: usize, gather: bool, commit: C) -> Option<Self>
    where
        C: Fn(Vec<J>) -> F + Send + 'static,
        F: Future<Output = Vec<R>> + Send,
    {
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let (queue, mut waiting) = mpsc::channel::<Submitted<J, R>>(4 * most);
        runtime.spawn(async move {
            let mut batch = Vec::with_capacity(most);
            while waiting.recv_many(&mut batch, most).await > 0 {
                if gather {
                    gather_the_rest(&mut waiting, &mut batch, most).await;
                }
                let (jobs, submitters): (Vec<J>, Vec<_>) = batch.drain(..).map(|s| (s.job, s.outcome)).unzip();
                for (outcome, submitter) in commit(jobs).await.into_iter().zip(submitters) {
                    // A submitter that went away (its request was cancelled) needs no answer.
                    let _ = submitter.send(outcome);
                }
            }
        });
        Some(Self { queue })
    }

    /// Submits `job` and waits until its batch is committed. `Err(Some(job))` gives the job back
    /// when the writer has stopped (the runtime is shutting down), so the caller can write it
    /// alone; `Err(None)` means the writer stopped while committing it: the outcome is unknown.
    pub async fn submit(&self, job: J) -> Result<R, Option<J>> {
        let (outcome, answer) = oneshot::channel();
        if let Err(mpsc::error::SendError(rejected)) = self.queue.send(Submitted { job, outcome }).await {
            return Err(Some(rejected.job));
        }
        answer.await.map_err(|_| None)
    }
}

/// Adds to `batch` what the tasks already running are about to submit: yields to them, takes
/// what arrived, and yields again while each turn brings more and the batch has room. Under load
/// those writes join this commit instead of each paying a commit (an fsync) of its own; when no
/// other task is ready, the yield returns at once and nothing waits.
async fn gather_the_rest<T>(waiting: &mut mpsc::Receiver<T>, batch: &mut Vec<T>, most: usize) {
    while batch.len() < most {
        tokio::task::yield_now().await;
        let before = batch.len();
        while batch.len() < most {
            match waiting.try_recv() {
                Ok(submitted) => batch.push(submitted),
                Err(_) => break,
            }
        }
        if batch.len() == before {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    use super::*;

    #[tokio::test]
    async fn concurrent_jobs_share_batches_and_each_gets_its_own_outcome() {
        let batches = Arc::new(AtomicUsize::new(0));
        let counted = batches.clone();
        let writer = GroupCommit::spawn(8, true, move |jobs: Vec<u32>| {
            let counted = counted.clone();
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
                jobs.into_iter().map(|job| job * 2).collect::<Vec<_>>()
            }
        })
        .unwrap();
        let submitters: Vec<_> = (0..64u32)
            .map(|n| {
                let writer = writer.clone();
                tokio::spawn(async move { (n, writer.submit(n).await) })
            })
            .collect();
        for submitter in submitters {
            let (n, outcome) = submitter.await.unwrap();
            assert_eq!(outcome.ok(), Some(n * 2));
        }
        assert!(batches.load(Ordering::SeqCst) < 64, "every job was committed alone");
    }

    #[tokio::test]
    async fn jobs_from_tasks_still_running_join_the_batch_of_the_first() {
        let sizes = Arc::new(std::sync::Mutex::new(Vec::new()));
        let recorded = sizes.clone();
        let writer = GroupCommit::spawn(64, true, move |jobs: Vec<u32>| {
            recorded.lock().unwrap().push(jobs.len());
            async move { jobs }
        })
        .unwrap();
        // Like requests whose input arrived together: each submitter makes the next runnable
        // and then submits, so the first job reaches the writer while the others are runnable
        // but have not submitted yet.
        let (first, mut turn) = oneshot::channel::<()>();
        let mut submitters = Vec::new();
        for n in 0..16u32 {
            let (next, next_turn) = oneshot::channel::<()>();
            let (writer, my_turn) = (writer.clone(), std::mem::replace(&mut turn, next_turn));
            submitters.push(tokio::spawn(async move {
                my_turn.await.unwrap();
                let _ = next.send(());
                writer.submit(n).await
            }));
        }
        // Every submitter waits for its turn before the first gets it.
        tokio::task::yield_now().await;
        first.send(()).unwrap();
        for (n, submitter) in (0..).zip(submitters) {
            assert_eq!(submitter.await.unwrap().ok(), Some(n));
        }
        let sizes = sizes.lock().unwrap().clone();
        assert_eq!(sizes, [16], "the writer committed before the others submitted");
    }

    #[test]
    fn outside_a_runtime_there_is_no_writer() {
        assert!(GroupCommit::<u32, u32>::spawn(8, true, |jobs: Vec<u32>| async move { jobs }).is_none());
    }
}
