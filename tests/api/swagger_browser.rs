//! Swagger's Authorize button in a real browser (DESIGN §8): headless Chromium, driven by
//! tests/browser/swagger_authorize.mjs, signs an administrator in through ferrid's own
//! authorization code flow with PKCE, then runs "Try it out" on the account and admin APIs.
//! Needs Debian's chromium and node; the script's npm packages are installed on first use.

use std::{path::Path, process::Command};

use crate::{
    helpers::{Backend, spawn_app},
    oidc::{PASSWORD, create_user},
};

const CHROMIUM: &str = "/usr/bin/chromium";

fn run(command: &mut Command) -> std::process::Output {
    command.output().unwrap_or_else(|error| panic!("cannot run {command:?}: {error} (is node installed?)"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swagger_authorize_signs_in_and_tries_the_account_and_admin_apis() {
    assert!(Path::new(CHROMIUM).exists(), "{CHROMIUM} is missing: install it with `apt-get install chromium`");
    let scripts = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser");
    if !Path::new(scripts).join("node_modules/playwright-core").exists() {
        let output = run(Command::new("npm").args(["ci", "--no-audit", "--no-fund", "--prefix", scripts]));
        assert!(output.status.success(), "npm ci failed:\n{}", String::from_utf8_lossy(&output.stderr));
    }

    let app = spawn_app(Backend::Embedded).await;
    let email = "admin@example.com";
    create_user(&app, email).await;
    let user = app.state.accounts.find_by_email(&ferrid::accounts::Email::parse(email).unwrap()).await.unwrap();
    ferrid::oauth::admin::make_administrator(&app.state.access_control, user.id).await.unwrap();

    let screenshots = concat!(env!("CARGO_MANIFEST_DIR"), "/target/browser-screenshots");
    let script = format!("{scripts}/swagger_authorize.mjs");
    let address = app.address.clone();
    let user_id = user.id.to_string();
    // The server runs on this test's runtime: wait for the browser off it.
    let output = tokio::task::spawn_blocking(move || {
        run(Command::new("node").args([&script, &address, email, PASSWORD, screenshots, &user_id]))
    })
    .await
    .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        output.status.success(),
        "the Swagger Authorize round trip failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
}
