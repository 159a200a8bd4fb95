use clap::Subcommand;

use crate::{config::Config, store::Database};

#[derive(Debug, Subcommand)]
pub enum MigrateCommand {
    /// Apply pending migrations (all, or the next N).
    Up {
        #[arg(long)]
        steps: Option<u32>,
    },
    /// Revert applied migrations, newest first (one by default).
    Down {
        #[arg(long, default_value_t = 1)]
        steps: u32,
    },
    /// List migrations and whether each is applied.
    Status,
}

pub async fn run(command: MigrateCommand, config: Config) -> anyhow::Result<()> {
    let database = Database::connect(&config.database_url, 1).await?;
    match command {
        MigrateCommand::Up { steps } => database.migrate_up(steps).await?,
        MigrateCommand::Down { steps } => database.migrate_down(Some(steps)).await?,
        MigrateCommand::Status => {}
    }
    for migration in database.migration_status().await? {
        let state = if migration.applied { "applied" } else { "pending" };
        println!("{state:8} {}", migration.name);
    }
    database.close().await;
    Ok(())
}
