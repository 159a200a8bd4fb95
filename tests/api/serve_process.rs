//! One `ferrid serve` process on a test's resources (a [`Node`] of its own), for what only the
//! real binary shows: signal handling, the exit status and the log lines; and the CLI beside it.

use std::process::Command;

use crate::{cluster::Node, helpers::TestResources};

/// Runs a `ferrid` command (not `serve`) on `resources` and returns its stdout.
pub fn run_command(resources: &TestResources, args: &[&str]) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ferrid"));
    command.args(args).current_dir(&resources.data_dir);
    for (key, value) in resources.env() {
        command.env(key, value);
    }
    let output = command.output().unwrap();
    assert!(output.status.success(), "ferrid {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// A confidential `client_credentials` client made with the CLI: its id and secret.
pub fn create_service_client(resources: &TestResources) -> (String, String) {
    let created = run_command(
        resources,
        &["client", "create", "--name", "Service", "--grant-type", "client_credentials", "--scope", "profile"],
    );
    let field = |name: &str| {
        created
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{name}:")))
            .map(|value| value.trim().to_owned())
            .unwrap_or_else(|| panic!("no {name} in {created}"))
    };
    (field("client_id"), field("client_secret"))
}

/// `ferrid serve` on `resources` with `extra` settings (later settings win), its own address as
/// issuer, once /ready answers 200.
pub async fn serve(resources: &TestResources, extra: &[(&str, &str)]) -> Node {
    let env: Vec<(String, String)> = resources
        .env()
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value))
        .chain(extra.iter().map(|(key, value)| ((*key).to_owned(), (*value).to_owned())))
        .collect();
    Node::start("serve", &env, &resources.data_dir).await
}
