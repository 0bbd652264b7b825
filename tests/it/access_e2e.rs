//! Access control against the real binary (issue 32): with a tokens file every endpoint but
//! the health checks and the dashboard's static files needs a token with its scope (401
//! without one, 403 with the wrong one, with reasons); without tokens a non-loopback address
//! is refused unless `--insecure` is given.

use crate::support;
use reqwest::blocking::Client;
use reqwest::StatusCode;

fn token_line(name: &str, scopes: &str) -> (String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_feedpulse"))
        .args(["token", "--name", name, "--scopes", scopes])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let field = |prefix: &str| text.lines().find_map(|l| l.strip_prefix(prefix)).unwrap().trim().to_owned();
    (field("token (give to the client, shown once): "), field("line for the tokens file: "))
}

#[test]
fn tokens_open_only_their_scopes() {
    let (ingest, ingest_line) = token_line("producer", "ingest");
    let (reader, reader_line) = token_line("grafana", "read");
    let (admin, admin_line) = token_line("ops", "admin,read");
    let dir = std::env::temp_dir().join(format!("feedpulse-access-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("tokens");
    std::fs::write(&file, format!("{ingest_line}\n{reader_line}\n{admin_line}\n")).unwrap();
    assert!(!std::fs::read_to_string(&file).unwrap().contains(&ingest), "the file holds digests only");
    let fp = support::Feedpulse::start(&["run", "--listen", "127.0.0.1:0", "--tokens", file.to_str().unwrap()]);
    let client = Client::new();
    let event = r#"{"id":"a1","text":"付款失败"}"#;
    let post = |token: Option<&str>| {
        let mut request = client.post(fp.url("/v1/events")).body(event);
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        request.send().unwrap()
    };
    let refused = post(None);
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(refused.headers()["www-authenticate"], "Bearer");
    assert!(refused.text().unwrap().contains("Authorization: Bearer"));
    assert_eq!(post(Some("not-a-token")).status(), StatusCode::UNAUTHORIZED);
    let wrong = post(Some(&reader));
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    assert!(wrong.text().unwrap().contains("`grafana` lacks the `ingest` scope"));
    assert_eq!(post(Some(&ingest)).status(), StatusCode::ACCEPTED);

    let get = |path: &str, token: Option<&str>| {
        let mut request = client.get(fp.url(path));
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        request.send().unwrap().status()
    };
    assert_eq!(get("/v1/alerts", None), StatusCode::UNAUTHORIZED);
    assert_eq!(get("/v1/alerts", Some(&ingest)), StatusCode::FORBIDDEN);
    assert_eq!(get("/v1/alerts", Some(&reader)), StatusCode::OK);
    assert_eq!(get("/metrics", Some(&reader)), StatusCode::OK);
    assert_eq!(get(&format!("/v1/clusters?access_token={reader}"), None), StatusCode::OK, "query token for GET");
    for open in ["/healthz", "/", "/dashboard.js"] {
        assert_eq!(get(open, None), StatusCode::OK, "{open}");
    }
    let reload = |token: &str| client.post(fp.url("/v1/reload")).bearer_auth(token).send().unwrap().status();
    assert_eq!(reload(&reader), StatusCode::FORBIDDEN);
    assert_eq!(reload(&admin), StatusCode::OK);
    fp.stop();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_non_loopback_address_without_tokens_needs_insecure() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_feedpulse"))
        .args(["run", "--listen", "0.0.0.0:0"])
        .env_remove("FEEDPULSE_TOKENS")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("without access tokens") && stderr.contains("--insecure"), "{stderr}");
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_feedpulse"))
        .args(["run", "--listen", "127.0.0.1:0"])
        .env("FEEDPULSE_TOKENS", "ci read plain-token")
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("FEEDPULSE_TOKENS:1"), "the bad line is named");
}
