//! The command line: `ferrid [serve]`, `migrate`, `user`, `role`, `group`, `permission`, `client`,
//! `keys`, `openapi`, `probe`.
//! Secrets are read from a prompt or stdin, never from argv (argv is visible to every user of
//! the machine through `ps`).

mod access;
mod client;
mod client_tokens;
mod keys;
mod migrate;
mod probe;
mod user;

use std::io::{BufRead, IsTerminal};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

use crate::{accounts::Password, app::AppState, config::Config};

#[derive(Debug, Parser)]
#[command(name = "ferrid", version, about = "An OAuth 2.0 / OpenID Connect provider")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Migrate the database and serve HTTP (the default).
    Serve,
    /// Apply, revert or list database migrations.
    #[command(subcommand)]
    Migrate(migrate::MigrateCommand),
    /// Manage end users.
    #[command(subcommand)]
    User(user::UserCommand),
    /// Roles, groups and permissions: `ferrid role|group|permission …`.
    #[command(flatten)]
    Access(access::AccessCommand),
    /// Manage OAuth clients.
    #[command(subcommand)]
    Client(client::ClientCommand),
    /// Inspect, rotate and revoke signing and encryption keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Print the OpenAPI document.
    Openapi,
    /// Ask the local server's /ready (or /health) and exit 0 on 200: a container health check.
    Probe {
        #[arg(value_enum, default_value = "ready")]
        target: probe::ProbeTarget,
    },
}

impl Command {
    /// Whether the command needs the configuration (and so the environment) at all.
    pub fn needs_config(&self) -> bool {
        !matches!(self, Command::Openapi)
    }
}

/// Runs a command. Administrative commands start the same state as `serve` (migrating the schema
/// and loading the key ring), so they work on a fresh embedded database.
pub async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve => crate::app::serve(config).await,
        Command::Migrate(command) => migrate::run(command, config).await,
        Command::User(command) => user::run(command, AppState::start(config).await?).await,
        Command::Access(command) => access::run(command, AppState::start(config).await?).await,
        Command::Client(command) => client::run(command, AppState::start(config).await?).await,
        Command::Keys(command) => keys::run(command, AppState::start(config).await?).await,
        Command::Openapi => {
            println!("{}", crate::http::openapi_document());
            Ok(())
        }
        Command::Probe { target } => probe::run(target, &config).await,
    }
}

/// Reads a new password: twice from the terminal, or one line from piped stdin.
fn read_new_password() -> anyhow::Result<Password> {
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")?;
        let second = rpassword::prompt_password("Repeat password: ")?;
        if first != second {
            bail!("the passwords do not match");
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).context("cannot read the password from stdin")?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    if password.is_empty() {
        bail!("the password must not be empty");
    }
    Ok(Password::new(password))
}

/// Records a change made from the command line: ferrid itself is the actor (whoever ran the
/// command has shell access, not an account), `details.via = "cli"`.
async fn audit(state: &AppState, event: crate::audit::AuditEvent) {
    let details = match event.details.clone() {
        Some(serde_json::Value::Object(mut fields)) => {
            fields.insert("via".to_owned(), "cli".into());
            serde_json::Value::Object(fields)
        }
        _ => serde_json::json!({ "via": "cli" }),
    };
    state.audit.record(event.details(details)).await;
}
