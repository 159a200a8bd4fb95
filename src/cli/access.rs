//! `ferrid role|group|permission …`: the roles, groups and permissions released by the `roles`
//! scope. Users are named by email, everything else by its unique name.

use anyhow::Context;
use clap::Subcommand;

use crate::{
    accounts::{Email, GroupName, PermissionName, RoleName, User},
    app::AppState,
};

/// Flattened into the top-level command, so these read `ferrid role create …`.
#[derive(Debug, Subcommand)]
pub enum AccessCommand {
    /// Manage roles, which users hold directly.
    #[command(subcommand)]
    Role(RoleCommand),
    /// Manage groups of users; permissions are granted to groups.
    #[command(subcommand)]
    Group(GroupCommand),
    /// Manage permissions and grant them to groups.
    #[command(subcommand)]
    Permission(PermissionCommand),
}

#[derive(Debug, Subcommand)]
pub enum RoleCommand {
    /// Create a role.
    Create {
        #[arg(value_parser = RoleName::parse)]
        name: RoleName,
        #[arg(long)]
        description: Option<String>,
    },
    /// Give a user a role (giving it twice is not an error).
    Assign {
        #[arg(long)]
        email: String,
        #[arg(long, value_parser = RoleName::parse)]
        role: RoleName,
    },
    /// Take a role away from a user.
    Remove {
        #[arg(long)]
        email: String,
        #[arg(long, value_parser = RoleName::parse)]
        role: RoleName,
    },
}

#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// Create a group.
    Create {
        #[arg(value_parser = GroupName::parse)]
        name: GroupName,
        #[arg(long)]
        description: Option<String>,
    },
    /// Add a user to a group (adding them twice is not an error).
    Add {
        #[arg(long)]
        email: String,
        #[arg(long, value_parser = GroupName::parse)]
        group: GroupName,
    },
    /// Remove a user from a group.
    Remove {
        #[arg(long)]
        email: String,
        #[arg(long, value_parser = GroupName::parse)]
        group: GroupName,
    },
}

#[derive(Debug, Subcommand)]
pub enum PermissionCommand {
    /// Create a permission.
    Create {
        #[arg(value_parser = PermissionName::parse)]
        name: PermissionName,
        #[arg(long)]
        description: Option<String>,
    },
    /// Grant a permission to every member of a group (granting it twice is not an error).
    Grant {
        #[arg(long, value_parser = GroupName::parse)]
        group: GroupName,
        #[arg(long, value_parser = PermissionName::parse)]
        permission: PermissionName,
    },
    /// Revoke a permission from a group.
    Revoke {
        #[arg(long, value_parser = GroupName::parse)]
        group: GroupName,
        #[arg(long, value_parser = PermissionName::parse)]
        permission: PermissionName,
    },
}

pub async fn run(command: AccessCommand, state: AppState) -> anyhow::Result<()> {
    match command {
        AccessCommand::Role(command) => role(command, &state).await,
        AccessCommand::Group(command) => group(command, &state).await,
        AccessCommand::Permission(command) => permission(command, &state).await,
    }
}

async fn role(command: RoleCommand, state: &AppState) -> anyhow::Result<()> {
    let access = &state.access_control;
    match command {
        RoleCommand::Create { name, description } => {
            let id = access.create_role(&name, description.as_deref()).await?;
            println!("role_id: {id}");
            println!("name:    {name}");
        }
        RoleCommand::Assign { email, role } => {
            let user = user(state, &email).await?;
            access.assign_role(user.id, &role).await?;
            println!("assigned role {role} to {}", user.email);
        }
        RoleCommand::Remove { email, role } => {
            let user = user(state, &email).await?;
            if access.remove_role(user.id, &role).await? {
                println!("removed role {role} from {}", user.email);
            } else {
                println!("{} did not have role {role}", user.email);
            }
        }
    }
    Ok(())
}

async fn group(command: GroupCommand, state: &AppState) -> anyhow::Result<()> {
    let access = &state.access_control;
    match command {
        GroupCommand::Create { name, description } => {
            let id = access.create_group(&name, description.as_deref()).await?;
            println!("group_id: {id}");
            println!("name:     {name}");
        }
        GroupCommand::Add { email, group } => {
            let user = user(state, &email).await?;
            access.add_to_group(user.id, &group).await?;
            println!("added {} to group {group}", user.email);
        }
        GroupCommand::Remove { email, group } => {
            let user = user(state, &email).await?;
            if access.remove_from_group(user.id, &group).await? {
                println!("removed {} from group {group}", user.email);
            } else {
                println!("{} was not in group {group}", user.email);
            }
        }
    }
    Ok(())
}

async fn permission(command: PermissionCommand, state: &AppState) -> anyhow::Result<()> {
    let access = &state.access_control;
    match command {
        PermissionCommand::Create { name, description } => {
            let id = access.create_permission(&name, description.as_deref()).await?;
            println!("permission_id: {id}");
            println!("name:          {name}");
        }
        PermissionCommand::Grant { group, permission } => {
            access.grant_permission(&group, &permission).await?;
            println!("granted permission {permission} to group {group}");
        }
        PermissionCommand::Revoke { group, permission } => {
            if access.revoke_permission(&group, &permission).await? {
                println!("revoked permission {permission} from group {group}");
            } else {
                println!("group {group} did not have permission {permission}");
            }
        }
    }
    Ok(())
}

async fn user(state: &AppState, address: &str) -> anyhow::Result<User> {
    let email = Email::parse(address).with_context(|| format!("--email {address:?}"))?;
    Ok(state.accounts.find_by_email(&email).await?)
}
