//! Schemathesis (property-based testing from the OpenAPI document, issue 8 item 7) against a
//! running ferrid: every operation of `/openapi.json` is called with generated valid and invalid
//! input, authenticated as an administrator (`AdminBearer`) and as a user (`AccountBearer`, the
//! refresh cookie), and every response must be a non-5xx (DESIGN §7 invariant 4: "a 5xx is a
//! bug") whose status code, content type and body the document declares.
//!
//! Needs the `schemathesis` CLI (`pip install schemathesis`; `.ci/run` installs the pinned
//! version). Without it the test is skipped with a message, except under CI (`CI` set), where
//! it fails.

use std::{path::Path, process::Command};

use ferrid::accounts::Email;

use crate::{
    accounts::api_login,
    admin_sessions::service_token,
    helpers::{Backend, TestApp, spawn_app},
    oidc::{PASSWORD, create_user},
};

on_every_backend!(schemathesis_finds_no_server_error_and_no_schema_violation);

const CLI: &str = "schemathesis";
/// The checks issue 8 asks for: no 5xx, and status code, content type and body as documented.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance";
/// Generated cases per operation and phase: with ~80 operations this keeps a run around two
/// minutes on a busy 2-core machine.
const MAX_EXAMPLES: &str = "20";
/// A fixed seed: CI runs are reproducible, and a failure can be replayed locally.
const SEED: &str = "8";

fn installed() -> bool {
    Command::new(CLI).arg("--version").output().is_ok_and(|output| output.status.success())
}

/// Operations that can end the credentials the run authenticates with: a client's deletion or
/// new secret, a key's revocation, a user's disabling, deletion or sign-out everywhere, and the
/// refresh cookie's rotation (reusing a rotated cookie revokes its family, RFC 9700 §4.14.2).
/// They run in a second pass, with fresh credentials, after everything else.
const ENDING_CREDENTIALS: &str =
    r"^/api/admin/clients/\{client_id\}|^/api/admin/keys/\{kid\}|^/api/admin/users/\{user_id\}|^/api/auth/";

/// Python 3.11.7 (this machine's) can raise `SystemError: AST constructor recursion depth
/// mismatch` inside Hypothesis while it describes the strategy for this operation's documented
/// example body — a CPython bug, not a finding. The operation is still covered by the coverage,
/// fuzzing and stateful phases.
const WORKAROUNDS: &str = "[[operations]]\ninclude-path = \"/api/users/me/email\"\ninclude-method = \"POST\"\n\
                           phases.examples.enabled = false\n";

/// Fresh administrator and user credentials, per security scheme of the document.
async fn credentials(app: &TestApp, email: &str) -> String {
    let admin = service_token(app).await;
    let (body, refresh) = api_login(app, email, PASSWORD).await;
    let user = body["access_token"].as_str().unwrap();
    format!(
        "[auth.openapi.AdminBearer]\nbearer = \"{admin}\"\n\n\
         [auth.openapi.AccountBearer]\nbearer = \"{user}\"\n\n\
         [auth.openapi.FerridRefreshCookie]\napi_key = \"{refresh}\"\n\n{WORKAROUNDS}"
    )
}

async fn schemathesis_finds_no_server_error_and_no_schema_violation(backend: Backend) {
    if !installed() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but the `{CLI}` CLI is missing (pip install schemathesis)"
        );
        eprintln!("skipped: the `{CLI}` CLI is not installed (pip install schemathesis)");
        return;
    }
    let app = spawn_app(backend).await;
    let email = "schemathesis@example.com";
    create_user(&app, email).await;
    // An administrator too, so admin operations on users have a real subject to find.
    let id = app.state.accounts.find_by_email(&Email::parse(email).unwrap()).await.unwrap().id;
    ferrid::oauth::admin::make_administrator(&app.state.access_control, id).await.unwrap();

    for (pass, filter) in [("first", "--exclude-path-regex"), ("second", "--include-path-regex")] {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("schemathesis.toml");
        std::fs::write(&config, credentials(&app, email).await).unwrap();
        let mut args = run_args(&app, &config, dir.path());
        args.extend([filter.to_owned(), ENDING_CREDENTIALS.to_owned()]);
        // The server runs on this test's runtime: wait for the CLI off it. It runs in the
        // temporary folder, where it keeps its cache (`.schemathesis/`).
        let cwd = dir.path().to_path_buf();
        let output = tokio::task::spawn_blocking(move || Command::new(CLI).args(&args).current_dir(cwd).output())
            .await
            .unwrap()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        println!("{stdout}");
        eprintln!("{stderr}");
        assert!(
            output.status.success() || only_interpreter_errors(&stdout),
            "schemathesis ({pass} pass) found failures ({}):\n{stdout}\n{stderr}",
            output.status
        );
        println!("schemathesis summary ({backend:?}, {pass} pass): {}", summary(&stdout));
    }
}

/// The CPython 3.11.7 bug of [`WORKAROUNDS`] strikes wherever Hypothesis first describes one of
/// schemathesis's own filter lambdas, which depends on the call-stack depth there, so it moves
/// between operations from run to run. Such a run is accepted only when it has no failure (no
/// check refused a response) and every error it lists is that interpreter error.
fn only_interpreter_errors(stdout: &str) -> bool {
    const BUG: &str = "AST constructor recursion depth mismatch";
    let closing = stdout.lines().rev().find(|l| l.starts_with("==")).unwrap_or("");
    if stdout.contains("= FAILURES =") || closing.contains("fail") {
        return false;
    }
    let Some(errors) = stdout.split("= ERRORS =").nth(1) else { return false };
    let errors = errors.split("\n==").next().unwrap_or("");
    let entries: Vec<&str> = errors.split("\n____").skip(1).collect();
    let tolerated = !entries.is_empty() && entries.iter().all(|entry| entry.contains(BUG));
    if tolerated {
        println!("schemathesis: {} error(s) from the CPython 3.11.7 AST bug ignored; no failures", entries.len());
    }
    tolerated
}

/// "N generated, N passed, … | … in Ts": the test-case count and the closing line.
fn summary(stdout: &str) -> String {
    let lines: Vec<&str> = stdout.lines().map(str::trim).collect();
    let cases = lines.iter().position(|l| *l == "Test cases:").and_then(|i| lines.get(i + 1)).copied().unwrap_or("");
    let last = lines.iter().rev().find(|l| l.starts_with("==")).copied().unwrap_or("");
    format!("{cases} | {}", last.trim_matches(|c: char| c == '=' || c.is_whitespace()))
}

fn run_args(app: &TestApp, config: &Path, reports: &Path) -> Vec<String> {
    [
        "--config-file",
        &config.display().to_string(),
        "run",
        &app.url("/openapi.json"),
        "--url",
        &app.address,
        "--checks",
        CHECKS,
        "--max-examples",
        MAX_EXAMPLES,
        "--seed",
        SEED,
        "--workers",
        "2",
        // The cookie-authenticated first-party routes also demand a CSRF marker header.
        "--header",
        "X-Requested-With: schemathesis",
        "--report-dir",
        &reports.display().to_string(),
        "--no-color",
        // Reproducible: no examples carried over from earlier runs.
        "--generation-database",
        "none",
    ]
    .map(str::to_owned)
    .to_vec()
}
