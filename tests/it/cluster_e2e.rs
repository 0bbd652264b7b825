//! Scale-out: two feedpulse processes form one timely cluster on loopback. Both replay the same
//! file; messages are exchanged by id (so the second copy of each is a duplicate) and windows by
//! series, and the union of their alerts must equal the single-process golden alerts.

use std::process::{Command, Stdio};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn two_processes_give_the_same_alerts_as_one() {
    let dir = std::env::temp_dir().join(format!("fp-cluster-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let hosts = dir.join("hosts.txt");
    std::fs::write(&hosts, format!("127.0.0.1:{}\n127.0.0.1:{}\n", free_port(), free_port())).unwrap();
    let spawn = |p: usize| {
        Command::new(env!("CARGO_BIN_EXE_feedpulse"))
            .args(["replay", "tests/golden/spike_dip.ndjson", "--batch", "1", "--alerts-out"])
            .arg(dir.join(format!("alerts{p}.ndjson")))
            .args(["--", "-n", "2", "-p", &p.to_string(), "-h"])
            .arg(&hosts)
            .stdout(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut children = [spawn(0), spawn(1)];
    for c in &mut children {
        assert!(c.wait().unwrap().success());
    }
    let mut union: Vec<String> = (0..2)
        .flat_map(|p| {
            std::fs::read_to_string(dir.join(format!("alerts{p}.ndjson")))
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    union.sort();
    let mut golden: Vec<String> =
        std::fs::read_to_string("tests/golden/spike_dip.alerts.ndjson").unwrap().lines().map(str::to_owned).collect();
    golden.sort();
    assert_eq!(union.len(), 4);
    assert_eq!(union, golden);
    std::fs::remove_dir_all(&dir).unwrap();
}
