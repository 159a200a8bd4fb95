use anyhow::Context;
use clap::Subcommand;

use super::read_new_password;
use crate::{
    accounts::{Email, NewUser},
    app::AppState,
    audit::{Actor, AuditEvent, kinds},
};

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is prompted for (or read from stdin).
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: Option<String>,
        /// Create the account without a password (e.g. for federated sign-in only).
        #[arg(long)]
        no_password: bool,
        /// Give the user the `admin` role: their tokens may carry `ferrid:admin`.
        #[arg(long)]
        admin: bool,
    },
    /// List users.
    List {
        #[arg(long, default_value_t = 100)]
        limit: u64,
        #[arg(long, default_value_t = 0)]
        offset: u64,
    },
    /// Disable a user: they can no longer sign in.
    Disable {
        #[arg(long)]
        email: String,
    },
    /// Re-enable a disabled user.
    Enable {
        #[arg(long)]
        email: String,
    },
    /// Set a user's password; it is prompted for (or read from stdin).
    SetPassword {
        #[arg(long)]
        email: String,
    },
}

fn email(value: &str) -> anyhow::Result<Email> {
    Email::parse(value).with_context(|| format!("--email {value:?}"))
}

pub async fn run(command: UserCommand, state: AppState) -> anyhow::Result<()> {
    let accounts = &state.accounts;
    match command {
        UserCommand::Create { email: address, name, no_password, admin } => {
            let new = NewUser { email: email(&address)?, name };
            let password = if no_password { None } else { Some(read_new_password()?) };
            let user = accounts.create_user(new, password).await?;
            if admin {
                crate::oauth::admin::make_administrator(&state.access_control, user.id).await?;
            }
            let event = AuditEvent::new(kinds::ADMIN_USER_CREATE, &Actor::system()).user(user.id);
            super::audit(&state, event.details(serde_json::json!({ "admin": admin }))).await;
            println!("user_id: {}", user.id);
            println!("email:   {}", user.email);
            if admin {
                println!("role:    admin");
            }
        }
        UserCommand::List { limit, offset } => {
            for user in accounts.list_users(offset, limit).await? {
                let status = if user.disabled { "disabled" } else { "active" };
                println!("{}  {:8}  {}  {}", user.id, status, user.email, user.name.as_deref().unwrap_or(""));
            }
        }
        UserCommand::Disable { email: address } => set_disabled(&state, &address, true).await?,
        UserCommand::Enable { email: address } => set_disabled(&state, &address, false).await?,
        UserCommand::SetPassword { email: address } => {
            let user = accounts.find_by_email(&email(&address)?).await?;
            accounts.set_password(user.id, read_new_password()?).await?;
            super::audit(&state, AuditEvent::new(kinds::ADMIN_USER_PASSWORD_RESET, &Actor::system()).user(user.id))
                .await;
            println!("password set for {}", user.email);
        }
    }
    Ok(())
}

async fn set_disabled(state: &AppState, address: &str, disabled: bool) -> anyhow::Result<()> {
    let accounts = &state.accounts;
    let user = accounts.find_by_email(&email(address)?).await?;
    accounts.set_disabled(user.id, disabled).await?;
    let kind = if disabled { kinds::ADMIN_USER_DISABLE } else { kinds::ADMIN_USER_ENABLE };
    super::audit(state, AuditEvent::new(kind, &Actor::system()).user(user.id)).await;
    println!("{} {}", if disabled { "disabled" } else { "enabled" }, user.email);
    Ok(())
}
