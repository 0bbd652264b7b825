//! `feedpulse run` pushes alerts to a real Prometheus Alertmanager on a private loopback port;
//! the test reads them back through Alertmanager's own API: the spike arrives firing with
//! feedpulse's labels and annotations, and disappears from the active alerts once feedpulse
//! resolves it.

use crate::support;

use std::time::{Duration, Instant};

/// The golden stream's lines before 00:31:10 (the payment spike fires at 00:30) and after.
fn golden_halves() -> (Vec<String>, Vec<String>) {
    let golden = std::fs::read_to_string("tests/golden/spike_dip.ndjson").unwrap();
    let ts = |line: &str| serde_json::from_str::<serde_json::Value>(line).ok().and_then(|v| v["ts"].as_i64());
    golden.lines().map(String::from).partition(|l| ts(l).unwrap_or(0) < 1_767_227_470_000)
}

fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn alertmanager_receives_then_resolves_the_spike() {
    let am = support::Alertmanager::start();
    let fp = support::Feedpulse::start(&["run", "--listen", "127.0.0.1:0", "--alertmanager", &am.url]);
    // The golden stream up to 00:31:10 (the payment spike fires at 00:30), then the rest.
    let (before, after) = golden_halves();
    let client = reqwest::blocking::Client::new();
    let post = |lines: &[String]| client.post(fp.url("/v1/events")).body(lines.join("\n")).send().unwrap();
    post(&before);

    let spike = wait_for("the spike in Alertmanager", || {
        am.alerts().into_iter().find(|a| a["labels"]["rule"] == "category_spike")
    });
    assert_eq!(spike["labels"]["alertname"], "FeedbackSpike");
    assert_eq!(spike["labels"]["category"], "payment");
    assert_eq!(spike["labels"]["severity"], "critical");
    assert_eq!(spike["status"]["state"], "active");
    assert!(spike["annotations"]["summary"].as_str().unwrap().contains("category payment"), "{spike}");
    assert!(spike["annotations"]["description"].as_str().unwrap().contains("baseline"), "{spike}");
    assert!(spike["generatorURL"].as_str().unwrap().contains("#alert="), "{spike}");
    assert!(spike["startsAt"].as_str().unwrap().starts_with("2026-01-01T00:3"), "event time: {spike}");

    post(&after);
    wait_for("the spike resolved and the dip firing", || {
        let alerts = am.alerts();
        let spike_gone = !alerts.iter().any(|a| a["labels"]["rule"] == "category_spike");
        let dip = alerts.iter().any(|a| a["labels"]["rule"] == "campaign_sentiment_dip");
        (spike_gone && dip).then_some(())
    });
    let metrics = client.get(fp.url("/metrics")).send().unwrap().text().unwrap();
    assert!(!metrics.contains("feedpulse_sink_errors_total{sink=\"alertmanager\""), "{metrics}");
    fp.stop();
}

#[test]
fn alerts_wait_for_an_alertmanager_that_is_down_and_arrive_when_it_is_up() {
    let am_port = support::free_port();
    let url = format!("http://127.0.0.1:{am_port}");
    let fp = support::Feedpulse::start(&["run", "--listen", "127.0.0.1:0", "--alertmanager", &url]);
    let (before, _) = golden_halves();
    let client = reqwest::blocking::Client::new();
    client.post(fp.url("/v1/events")).body(before.join("\n")).send().unwrap();
    // The post fails and is counted; the dataflow carries on.
    wait_for("a counted alertmanager failure", || {
        let metrics = client.get(fp.url("/metrics")).send().unwrap().text().unwrap();
        metrics.contains("feedpulse_sink_errors_total{sink=\"alertmanager\",kind=\"post\"}").then_some(())
    });
    let am = support::Alertmanager::start_on(am_port);
    wait_for("the spike delivered by a retry", || {
        am.alerts().into_iter().find(|a| a["labels"]["rule"] == "category_spike")
    });
    fp.stop();
}

#[test]
fn firing_alerts_are_re_sent_with_a_moving_lease() {
    let am = support::Alertmanager::start();
    let dir = support::config_dir("am-resend", |flow| {
        flow + &format!("\n[alertmanager]\nurl = \"{}\"\nresend = \"1s\"\n", am.url)
    });
    let fp = support::Feedpulse::start(&["run", "--listen", "127.0.0.1:0", "--config", dir.to_str().unwrap()]);
    let (before, _) = golden_halves();
    reqwest::blocking::Client::new().post(fp.url("/v1/events")).body(before.join("\n")).send().unwrap();
    let ends_at = || {
        am.alerts()
            .into_iter()
            .find(|a| a["labels"]["rule"] == "category_spike")
            .and_then(|a| a["endsAt"].as_str().map(String::from))
    };
    let first = wait_for("the spike", ends_at);
    // No new state change: only the periodic re-send can move the lease (4 × 1 s ahead).
    let later = wait_for("a re-sent spike", || ends_at().filter(|e| *e > first));
    assert!(later > first);
    fp.stop();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Issue 32: an Alertmanager behind TLS whose certificate a company CA signed, and which
/// requires a client certificate: alerts arrive with `ca_file`, `client_cert` and `client_key`.
#[test]
fn alerts_reach_an_alertmanager_behind_a_company_ca_with_mutual_tls() {
    let dir = std::env::temp_dir().join(format!("fp-am-tls-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("data")).unwrap();
    support::make_certificates(&dir);
    let path = |name: &str| dir.join(name).display().to_string();
    std::fs::write(dir.join("alertmanager.yml"), "route:\n  receiver: \"null\"\nreceivers:\n  - name: \"null\"\n")
        .unwrap();
    std::fs::write(
        dir.join("web.yml"),
        format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {}\n",
            path("server.pem"),
            path("server.key"),
            path("ca.pem")
        ),
    )
    .unwrap();
    let port = support::free_port();
    let mut am = std::process::Command::new("prometheus-alertmanager")
        .arg(format!("--config.file={}", path("alertmanager.yml")))
        .arg(format!("--storage.path={}", path("data")))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg(format!("--web.config.file={}", path("web.yml")))
        .arg("--cluster.listen-address=")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("https://127.0.0.1:{port}");
    let ca = reqwest::Certificate::from_pem(&std::fs::read(dir.join("ca.pem")).unwrap()).unwrap();
    let mut identity_pem = std::fs::read(dir.join("client.pem")).unwrap();
    identity_pem.extend(std::fs::read(dir.join("client.key")).unwrap());
    let trusted = reqwest::blocking::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(ca.clone())
        .identity(reqwest::Identity::from_pem(&identity_pem).unwrap())
        .build()
        .unwrap();
    wait_for("alertmanager up over TLS", || {
        trusted.get(format!("{url}/-/ready")).send().ok().filter(|r| r.status().is_success())
    });
    let anonymous = reqwest::blocking::Client::builder().use_rustls_tls().add_root_certificate(ca).build().unwrap();
    assert!(anonymous.get(format!("{url}/-/ready")).send().is_err(), "no client certificate, no answer");

    let config = support::config_dir("am-tls", |flow| {
        flow + &format!(
            "\n[alertmanager]\nurl = \"{url}\"\n[alertmanager.client]\nca_file = \"{}\"\nclient_cert = \"{}\"\nclient_key = \"{}\"\n",
            path("ca.pem"),
            path("client.pem"),
            path("client.key")
        )
    });
    let fp = support::Feedpulse::start(&["run", "--listen", "127.0.0.1:0", "--config", config.to_str().unwrap()]);
    let (before, _) = golden_halves();
    reqwest::blocking::Client::new().post(fp.url("/v1/events")).body(before.join("\n")).send().unwrap();
    let alerts =
        || -> Option<Vec<serde_json::Value>> { trusted.get(format!("{url}/api/v2/alerts")).send().ok()?.json().ok() };
    wait_for("the spike in the TLS Alertmanager", || {
        alerts().and_then(|all| all.into_iter().find(|a| a["labels"]["rule"] == "category_spike"))
    });
    let metrics = reqwest::blocking::get(fp.url("/metrics")).unwrap().text().unwrap();
    assert!(!metrics.contains("feedpulse_sink_errors_total{sink=\"alertmanager\""), "{metrics}");
    fp.stop();
    let _ = am.kill();
    let _ = am.wait();
    std::fs::remove_dir_all(&config).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
