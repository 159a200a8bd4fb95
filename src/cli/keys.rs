use clap::Subcommand;
use keys::KeyAlg;

use crate::app::AppState;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List keys: kid, algorithm, use, state and dates (never private parts).
    List,
    /// Rotate now: the next key (created if needed) becomes active and the active one retires.
    Rotate {
        /// Only this algorithm (e.g. RS256); default every configured algorithm.
        #[arg(long)]
        alg: Option<String>,
    },
    /// Revoke a key at once: it leaves the JWKS and signs nothing more.
    Revoke {
        /// Kids are base64url and may start with `-`.
        #[arg(allow_hyphen_values = true)]
        kid: String,
    },
}

pub async fn run(command: KeysCommand, state: AppState) -> anyhow::Result<()> {
    match command {
        KeysCommand::List => {}
        KeysCommand::Rotate { alg } => {
            let algs = match alg {
                Some(alg) => vec![alg.parse::<KeyAlg>().map_err(|e| anyhow::anyhow!("--alg {alg:?}: {e}"))?],
                None => state.config.key_ring.algs.clone(),
            };
            for alg in algs {
                state.keys.rotate(alg).await?;
            }
        }
        KeysCommand::Revoke { kid } => state.keys.revoke(&kid).await?,
    }
    let date = |at: Option<chrono::DateTime<chrono::Utc>>| at.map_or_else(|| "-".to_owned(), |at| at.to_rfc3339());
    println!(
        "{:<43}  {:<14}  {:<3}  {:<7}  {:<25}  {:<25}  {:<25}  expires",
        "kid", "alg", "use", "state", "created", "activated", "retired"
    );
    let current = state.keys.current();
    let mut records = current.ring.records().to_vec();
    records.sort_by(|a, b| (a.alg.as_str(), a.created_at).cmp(&(b.alg.as_str(), b.created_at)));
    for record in records {
        println!(
            "{:<43}  {:<14}  {:<3}  {:<7}  {:<25}  {:<25}  {:<25}  {}",
            record.kid,
            record.alg.as_str(),
            record.key_use.as_str(),
            record.state.as_str(),
            record.created_at.to_rfc3339(),
            date(record.activated_at),
            date(record.retired_at),
            date(record.expires_at),
        );
    }
    Ok(())
}
