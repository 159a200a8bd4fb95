//! `ferrid serve` as a child process, for what only the real binary shows: signal handling,
//! the exit status, and the log lines on stderr (collected line by line as they come).

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use crate::helpers::TestResources;

pub struct ServeProcess {
    child: Child,
    pub port: u16,
    lines: Arc<Mutex<Vec<String>>>,
}

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

impl ServeProcess {
    /// Starts `ferrid serve` on a free port with `resources` and `extra` settings, and waits until
    /// /ready answers 200.
    pub async fn start(resources: &TestResources, extra: &[(&str, &str)]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_ferrid"));
        for (key, value) in resources.env() {
            command.env(key, value);
        }
        // Later settings win: `extra` may override the resources' defaults.
        for (key, value) in extra {
            command.env(key, value);
        }
        let mut child = command
            .arg("serve")
            .env("FERRID_BIND", format!("127.0.0.1:{port}"))
            .env("FERRID_ISSUER", format!("http://127.0.0.1:{port}"))
            .current_dir(&resources.data_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let collected = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                collected.lock().unwrap().push(line);
            }
        });
        let process = Self { child, port, lines };
        process.wait_ready().await;
        process
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    async fn wait_ready(&self) {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = http.get(self.url("/ready")).send().await;
            if ready.is_ok_and(|r| r.status() == 200) {
                return;
            }
            assert!(Instant::now() < deadline, "ferrid did not become ready:\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends SIGTERM, as an orchestrator stopping the container does.
    pub fn terminate(&self) {
        let sent = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(sent.success());
    }

    /// Everything logged so far.
    pub fn log(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// Waits for a log line containing `needle`.
    pub async fn wait_for_log(&self, needle: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            if let Some(line) = self.lines.lock().unwrap().iter().find(|line| line.contains(needle)) {
                return line.clone();
            }
            assert!(Instant::now() < deadline, "no log line with {needle:?} in:\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits for the process to exit; fails the test after `within`.
    pub async fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "ferrid still running after {within:?}:\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Terminates the process and returns everything it logged, once stderr is closed.
    pub async fn stop(mut self) -> String {
        self.terminate();
        assert!(self.wait_exit(Duration::from_secs(15)).await.success(), "{}", self.log());
        // The reader thread drains what is left of the closed pipe.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.log().contains("ferrid stopped") && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.log()
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        // A failed test must not leave the server running: kill this child (by its own handle).
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
