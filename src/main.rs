use std::process::ExitCode;

use clap::Parser;
use ferrid::{
    cli::{Cli, Command},
    config::Config,
    telemetry,
};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve);
    let config = if command.needs_config() {
        match Config::load() {
            Ok(config) => Some(config),
            Err(error) => {
                eprintln!("ferrid: {error}");
                return ExitCode::from(2);
            }
        }
    } else {
        None
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("ferrid: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match config {
            Some(config) => {
                telemetry::init(config.log_format, &config.log_filter);
                ferrid::cli::run(command, config).await
            }
            None => ferrid::cli::run(command, ferrid::config::RawConfig::default().validate()?).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("ferrid: {error:#}");
            ExitCode::FAILURE
        }
    }
}
