//! Headless Chromium (Debian's `chromium`, installed by `scripts/test.sh`) driven over the Chrome
//! DevTools Protocol on `--remote-debugging-pipe`: commands go in on the browser's fd 3 and replies
//! come out of its fd 4, NUL-terminated JSON. No WebSocket, no driver binary, no extra crate.

use serde_json::{json, Value};
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Chromium {
    child: Child,
    commands: File,
    replies: BufReader<File>,
    next_id: u64,
    session: String,
    profile: PathBuf,
}

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid two-element array; the new descriptors are owned below.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(rc, 0, "pipe2: {}", std::io::Error::last_os_error());
    // SAFETY: pipe2 succeeded, so both descriptors are open and ours alone.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

impl Chromium {
    /// Starts a headless browser with a fresh profile, opens `url` and attaches to its page.
    pub fn open(url: &str, width: u32, height: u32) -> Chromium {
        let (browser_reads, we_write) = pipe();
        let (we_read, browser_writes) = pipe();
        let profile =
            std::env::temp_dir().join(format!("fp-chromium-{}-{}", std::process::id(), crate::support::now_ms()));
        let (r, w) = (browser_reads.as_raw_fd(), browser_writes.as_raw_fd());
        let mut command = Command::new("chromium");
        command
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe", "--no-first-run"])
            .args(["--no-default-browser-check", "--disable-extensions", "--hide-scrollbars", "--mute-audio"])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(format!("--window-size={width},{height}"))
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: only async-signal-safe calls (fcntl, dup2) between fork and exec. The pipe ends
        // are first moved above fd 10 so that placing one on 3 cannot overwrite the other.
        unsafe {
            command.pre_exec(move || {
                let r_high = libc::fcntl(r, libc::F_DUPFD, 10);
                let w_high = libc::fcntl(w, libc::F_DUPFD, 10);
                if r_high < 0 || w_high < 0 || libc::dup2(r_high, 3) < 0 || libc::dup2(w_high, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().expect("chromium runs (scripts/test.sh installs Debian's chromium)");
        drop((browser_reads, browser_writes));
        let mut browser = Chromium {
            child,
            commands: File::from(we_write),
            replies: BufReader::new(File::from(we_read)),
            next_id: 0,
            session: String::new(),
            profile,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        let target = loop {
            let targets = browser.call("Target.getTargets", json!({}));
            let page = targets["targetInfos"].as_array().and_then(|t| t.iter().find(|t| t["type"] == "page").cloned());
            if let Some(page) = page {
                break page["targetId"].as_str().unwrap().to_string();
            }
            assert!(Instant::now() < deadline, "chromium opened no page");
            std::thread::sleep(Duration::from_millis(100));
        };
        let attached = browser.call("Target.attachToTarget", json!({ "targetId": target, "flatten": true }));
        browser.session = attached["sessionId"].as_str().expect("a session id").to_string();
        browser
    }

    /// Sends one command (to the page once attached) and returns its result; events in between
    /// are skipped.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.try_call(method, params).unwrap_or_else(|e| panic!("{method} failed: {e}"))
    }

    fn try_call(&mut self, method: &str, params: Value) -> Result<Value, Value> {
        self.next_id += 1;
        let mut message = json!({ "id": self.next_id, "method": method, "params": params });
        if !self.session.is_empty() {
            message["sessionId"] = json!(self.session);
        }
        let mut bytes = serde_json::to_vec(&message).unwrap();
        bytes.push(0);
        self.commands.write_all(&bytes).expect("write to chromium");
        loop {
            let mut reply = Vec::new();
            let n = self.replies.read_until(0, &mut reply).expect("read from chromium");
            assert!(n > 0, "chromium closed the pipe");
            reply.pop();
            let reply: Value = serde_json::from_slice(&reply).expect("CDP messages are JSON");
            if reply["id"] == json!(self.next_id) {
                return match reply.get("error") {
                    Some(error) => Err(error.clone()),
                    None => Ok(reply["result"].clone()),
                };
            }
        }
    }

    /// Evaluates a JavaScript expression in the page; its value as JSON.
    pub fn eval(&mut self, expression: &str) -> Value {
        let r = self.call("Runtime.evaluate", json!({ "expression": expression, "returnByValue": true }));
        if let Some(e) = r.get("exceptionDetails") {
            panic!("`{expression}` threw: {e}");
        }
        r["result"]["value"].clone()
    }

    /// Polls `expression` until it is truthy; returns its value. While the page is loading the
    /// expression may have no context to run in: that counts as not yet.
    pub fn wait_for(&mut self, expression: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let params = json!({ "expression": expression, "returnByValue": true });
            let reply = self.try_call("Runtime.evaluate", params).unwrap_or(Value::Null);
            let v =
                if reply.get("exceptionDetails").is_some() { Value::Null } else { reply["result"]["value"].clone() };
            if !(v.is_null() || v == json!(false) || v == json!(0) || v == json!("")) {
                return v;
            }
            assert!(Instant::now() < deadline, "timed out waiting for `{expression}`");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A PNG of the viewport.
    pub fn screenshot(&mut self) -> Vec<u8> {
        let shot = self.call("Page.captureScreenshot", json!({ "format": "png" }));
        base64_decode(shot["data"].as_str().expect("base64 image data"))
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let digits: Vec<u8> = text.bytes().filter(|c| *c != b'=' && !c.is_ascii_whitespace()).map(value).collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, d)| n | (*d as u32) << (18 - 6 * i));
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}

#[test]
fn base64_round_trip() {
    assert_eq!(base64_decode("aGVsbG8="), b"hello");
    assert_eq!(base64_decode("aGk="), b"hi");
    assert_eq!(base64_decode("YWJj"), b"abc");
}
