//! Starts real `ravis serve` processes on loopback for end-to-end tests.

pub mod http;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A running `ravis serve`.
pub struct Server {
    /// `127.0.0.1:<port>`.
    pub addr: String,
    /// The dev token it printed.
    pub token: String,
    /// The inbox path it printed.
    pub inbox: String,
    child: Child,
}

impl Server {
    /// Starts `ravis --data-dir DIR serve --port 0` (with or without queue consumers) and
    /// waits until it prints its URL and token.
    pub fn start(data_dir: &Path, workers: bool) -> Server {
        Self::start_with(data_dir, workers, &[], &[])
    }

    /// [`Server::start`] with more arguments of `serve` and more environment variables.
    pub fn start_with(
        data_dir: &Path,
        workers: bool,
        args: &[&str],
        envs: &[(&str, &str)],
    ) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ravis"));
        cmd.arg("--data-dir")
            .arg(data_dir)
            .args(["serve", "--port", "0"])
            .args(args)
            .envs(envs.iter().copied());
        if !workers {
            cmd.arg("--no-workers");
        }
        let mut child = cmd
            .env("RAVIS_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("ravis binary starts");
        let stdout = child.stdout.take().expect("stdout piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let (mut addr, mut token, mut inbox) = (None, None, None);
        let mut expect_token = false;
        while addr.is_none() || token.is_none() || inbox.is_none() {
            let line = rx
                .recv_timeout(Duration::from_secs(60))
                .expect("ravis serve prints its URL, inbox and token");
            if let Some(url) = line.strip_prefix("RAVIS is running at http://") {
                addr = Some(url.trim().to_owned());
            } else if let Some(rest) = line.strip_prefix("Partner inbox: ") {
                inbox = Some(rest.split("/<kind>/").next().unwrap_or("").to_owned());
            } else if line.starts_with("Dev token") {
                expect_token = true;
            } else if expect_token {
                token = Some(line.trim().to_owned());
                expect_token = false;
            }
        }
        Server {
            addr: addr.unwrap_or_default(),
            token: token.unwrap_or_default(),
            inbox: inbox.unwrap_or_default(),
            child,
        }
    }

    /// Sends a request with the dev token.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        extra: &[(&str, &str)],
    ) -> http::Response {
        let auth = format!("Bearer {}", self.token);
        let mut headers = vec![
            ("Authorization", auth.as_str()),
            ("Content-Type", "application/json"),
        ];
        headers.extend_from_slice(extra);
        http::request(&self.addr, method, path, &headers, body)
            .expect("request succeeds at the TCP level")
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill_9(mut self) {
        self.child.kill().expect("kill -9");
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
