use clap::Subcommand;
use keys::KeyAlg;

use crate::{
    app::AppState,
    audit::{Actor, AuditEvent, kinds},
};

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
                let event = AuditEvent::new(kinds::ADMIN_KEY_ROTATE, &Actor::system());
                super::audit(&state, event.details(serde_json::json!({ "alg": alg.as_str() }))).await;
            }
        }
        KeysCommand::Revoke { kid } => {
            state.keys.revoke(&kid).await?;
            let event = AuditEvent::new(kinds::ADMIN_KEY_REVOKE, &Actor::system()).target(format!("key:{kid}"));
            super::audit(&state, event).await;
        }
    }
    let date = |at: Option<chrono::DateTime<chrono::Utc>>| at.map_or_else(|| "-".to_owned(), |at| at.to_rfc3339());
    println!(
        "{:<43}  {:<14}  {:<3}  {:<7}  {:<25}  {:<25}  {:<25}  expires",
        "kid", "alg", "use", "state", "created", "activated", "retired"
    );
    for key in state.keys.summaries() {
        println!(
            "{:<43}  {:<14}  {:<3}  {:<7}  {:<25}  {:<25}  {:<25}  {}",
            key.kid,
            key.alg.as_str(),
            key.key_use.as_str(),
            key.state.as_str(),
            key.created_at.to_rfc3339(),
            date(key.activated_at),
            date(key.retired_at),
            date(key.expires_at),
        );
    }
    Ok(())
}
