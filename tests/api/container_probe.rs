//! `ferrid probe`: the container health check (Dockerfile, compose.yaml, Kubernetes manifest)
//! asks the local server for /ready or /health and exits 0 only on a 200.

use std::process::{Command, Output};

use crate::{
    helpers::{Backend, TestResources},
    serve_process::serve,
};

fn probe(resources: &TestResources, port: u16, target: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ferrid"));
    for (key, value) in resources.env() {
        command.env(key, value);
    }
    // Bound to every interface, as in a container: the probe asks loopback.
    command.arg("probe").args(target).env("FERRID_BIND", format!("0.0.0.0:{port}"));
    command.current_dir(&resources.data_dir).output().unwrap()
}

#[tokio::test]
async fn probe_succeeds_while_the_server_is_ready_and_fails_once_it_stopped() {
    let resources = TestResources::create(Backend::Embedded).await;
    let server = serve(&resources, &[]).await;
    let port = server.port();

    let ready = probe(&resources, port, &[]);
    assert!(ready.status.success(), "{}", String::from_utf8_lossy(&ready.stderr));
    assert_eq!(String::from_utf8_lossy(&ready.stdout).trim(), "/ready ok");
    let health = probe(&resources, port, &["health"]);
    assert!(health.status.success(), "{}", String::from_utf8_lossy(&health.stderr));

    server.stop_gracefully().await;
    let down = probe(&resources, port, &[]);
    assert_eq!(down.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&down.stderr).contains("cannot connect"), "{down:?}");
}
