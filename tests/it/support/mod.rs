//! Helpers for end-to-end tests: start the real binary, find its address, stop it by PID.

#![allow(dead_code)]

pub mod chromium;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Held by the tests that play the demo in real time (a day in a minute): two of them at once
/// on a two-core machine lag behind the clock and judge windows after they close, which the
/// tests assert does not happen at normal load. They take turns; everything else runs beside.
pub fn real_time_slot() -> std::sync::MutexGuard<'static, ()> {
    static SLOT: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SLOT.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A running `feedpulse` process, killed when dropped.
pub struct Feedpulse {
    pub child: Child,
    pub base: String,
    /// What it printed before its listening line.
    pub banner: Vec<String>,
    pub stdout_lines: std::sync::mpsc::Receiver<String>,
}

impl Feedpulse {
    /// Starts `feedpulse <args>` (which must serve HTTP) and waits for its listening line.
    pub fn start(args: &[&str]) -> Feedpulse {
        let mut child = Command::new(env!("CARGO_BIN_EXE_feedpulse"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start feedpulse");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Owned by the guard from here on, so a failed start still kills and reaps the process.
        let mut fp = Feedpulse { child, base: String::new(), banner: Vec::new(), stdout_lines: rx };
        let deadline = Instant::now() + Duration::from_secs(30);
        while fp.base.is_empty() {
            let line = fp
                .stdout_lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .expect("feedpulse printed its address");
            match line.strip_prefix("feedpulse listening on ") {
                Some(rest) => fp.base = rest.split_whitespace().next().unwrap().to_string(),
                None => fp.banner.push(line),
            }
        }
        fp
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// POSTs `records` as NDJSON to `/v1/events`.
    pub fn post_events(&self, records: &[serde_json::Value]) -> reqwest::blocking::Response {
        let body: String = records.iter().map(|r| r.to_string() + "\n").collect();
        reqwest::blocking::Client::new().post(self.url("/v1/events")).body(body).send().unwrap()
    }

    /// Sends SIGTERM and waits for a clean exit; returns the remaining stdout.
    pub fn stop(mut self) -> Vec<String> {
        unsafe_kill(self.child.id(), 15);
        let status = self.child.wait().unwrap();
        assert!(status.success(), "feedpulse exited with {status}");
        // The reader thread ends at end of file, which closes the channel.
        self.stdout_lines.iter().collect()
    }
}

impl Drop for Feedpulse {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn unsafe_kill(pid: u32, signal: i32) {
    let _ = Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()).status();
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

/// A private `redis-server` on a free loopback port, stopped (by PID) when dropped. Installed by
/// `scripts/test.sh` when missing; its absence is a failure, not a skip.
pub struct RedisServer {
    child: Child,
    pub port: u16,
    /// How the test itself connects (a password, TLS).
    pub config: feedpulse::config::RedisConfig,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        let port = free_port();
        Self::start_with(
            port,
            &["--port", &port.to_string()],
            feedpulse::config::RedisConfig::at(&format!("127.0.0.1:{port}")),
        )
    }

    /// `redis-server` with `args` (which name the port), reached as `config` says.
    pub fn start_with(port: u16, args: &[&str], config: feedpulse::config::RedisConfig) -> RedisServer {
        let child = Command::new("redis-server")
            .args(args)
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server runs (scripts/test.sh installs Debian's redis-server)");
        let server = RedisServer { child, port, config };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(mut c) = server.connect() {
                if c.call(feedpulse::redis::resp::cmd(["PING"])).is_ok() {
                    return server;
                }
            }
            assert!(Instant::now() < deadline, "redis-server did not answer on port {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn connect(&self) -> std::io::Result<feedpulse::redis::resp::Connection> {
        feedpulse::redis::connect(&self.config, Duration::from_secs(5))
    }
}

/// The field/value pairs of a RESP array (a hash, a stream entry), as text.
pub fn pairs(reply: &feedpulse::redis::resp::Reply) -> std::collections::BTreeMap<String, String> {
    let text = |r: &feedpulse::redis::resp::Reply| {
        r.as_str().map(String::from).or_else(|| r.as_int().map(|i| i.to_string())).unwrap_or_default()
    };
    reply.as_array().unwrap_or_default().chunks(2).map(|p| (text(&p[0]), text(&p[1]))).collect()
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A private Prometheus Alertmanager (Debian's `prometheus-alertmanager`, installed by
/// `scripts/test.sh`) on a free loopback port, clustering off, stopped by PID when dropped.
pub struct Alertmanager {
    child: Child,
    dir: std::path::PathBuf,
    pub url: String,
}

impl Alertmanager {
    pub fn start() -> Alertmanager {
        Self::start_on(free_port())
    }

    pub fn start_on(port: u16) -> Alertmanager {
        let dir = std::env::temp_dir().join(format!("fp-alertmanager-{}-{port}", std::process::id()));
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let config = "route:\n  receiver: \"null\"\n  group_wait: 1s\nreceivers:\n  - name: \"null\"\n";
        std::fs::write(dir.join("alertmanager.yml"), config).unwrap();
        let child = Command::new("prometheus-alertmanager")
            .arg(format!("--config.file={}", dir.join("alertmanager.yml").display()))
            .arg(format!("--storage.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus-alertmanager runs (scripts/test.sh installs it)");
        let am = Alertmanager { child, dir, url: format!("http://127.0.0.1:{port}") };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !reqwest::blocking::get(format!("{}/-/ready", am.url)).is_ok_and(|r| r.status().is_success()) {
            assert!(Instant::now() < deadline, "alertmanager did not become ready on port {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        am
    }

    /// The alerts Alertmanager's own API lists (active ones; resolved alerts are not listed).
    pub fn alerts(&self) -> Vec<serde_json::Value> {
        reqwest::blocking::get(format!("{}/api/v2/alerts", self.url)).unwrap().json().unwrap()
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A configuration directory holding the repository's default `dataflows/` and `alerts/`, with
/// `edit` applied to the dataflow file. Removed by the caller.
pub fn config_dir(tag: &str, edit: impl FnOnce(String) -> String) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("fp-config-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("dataflows")).unwrap();
    std::fs::create_dir_all(dir.join("alerts")).unwrap();
    let flow = edit(std::fs::read_to_string("dataflows/default.toml").unwrap());
    std::fs::write(dir.join("dataflows/default.toml"), flow).unwrap();
    std::fs::copy("alerts/default.toml", dir.join("alerts/default.toml")).unwrap();
    dir
}

/// The JSON report of `feedpulse backtest --no-enrich --json ARGS` (which must succeed).
pub fn backtest_report<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> serde_json::Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_feedpulse"))
        .args(["backtest", "--no-enrich", "--json"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The alert state changes of `feedpulse replay - --batch 1 --no-enrich` on `input` (which
/// must succeed): one record per tick, so alerts fire on the record that crossed, as live.
pub fn replay_alerts(input: &str) -> Vec<serde_json::Value> {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_feedpulse"))
        .args(["replay", "-", "--batch", "1", "--no-enrich"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// When an alert state change happened (epoch ms): a firing alert's start, a resolved one's end.
pub fn changed_at(alert: &serde_json::Value) -> i64 {
    let at = if alert["status"] == "firing" { &alert["starts_at"] } else { &alert["ends_at"] };
    feedpulse::alerts::Timestamp::parse(at.as_str().unwrap()).unwrap().ms()
}

/// Polls `done` every 50 ms until it holds; fails the test after `timeout`.
pub fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, made by `openssl` in `dir`.
pub fn make_certificates(dir: &std::path::Path) {
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl").args(args).current_dir(dir).output().unwrap();
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let subject = |cn: &str| format!("/CN={cn}");
    openssl(
        &["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2"]
            .into_iter()
            .chain(["-subj", &subject("feedpulse test CA")])
            .collect::<Vec<_>>(),
    );
    std::fs::write(dir.join("server.ext"), "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n").unwrap();
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    for name in ["server", "client"] {
        let (key, csr, pem, ext) =
            (format!("{name}.key"), format!("{name}.csr"), format!("{name}.pem"), format!("{name}.ext"));
        openssl(&["req", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &csr, "-subj", &subject(name)]);
        openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &pem,
            "-days",
            "2",
            "-extfile",
            &ext,
        ]);
    }
}
