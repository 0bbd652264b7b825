//! The demo, end to end, at its default speed (a day in a minute; at higher speeds one 5 ms tick
//! spans so much event time that a loaded machine can close a window within one tick): the
//! bundled day must raise the payment spike and the double11 sentiment dip while their windows
//! are still open, a new-cluster alert for the emerging complaint while it is still small, an
//! alert for each high-risk message, hand off three chats, report the service desk's SLA
//! breaches and slow afternoon, dead-letter its three bad records, and print a closing summary.

use crate::support::Feedpulse;

#[test]
fn demo_fires_spike_dip_new_cluster_and_high_risk_alerts() {
    let _slot = crate::support::real_time_slot();
    let fp = Feedpulse::start(&["demo", "--speed", "1440", "--listen", "127.0.0.1:0", "--exit-when-done"]);
    let lines: Vec<String> = fp.stdout_lines.iter().collect(); // until the demo exits by itself
    let status = { fp }.child.wait().unwrap();
    assert!(status.success());
    let text = lines.join("\n");
    let firing = |key: &str| lines.iter().find(|l| l.contains("FIRING") && l.contains(key)).cloned();
    let spike = firing("spike         category=payment").unwrap_or_else(|| panic!("no payment spike in\n{text}"));
    assert!(spike.contains("spike") && spike.contains("window still open"), "{spike}");
    assert!(spike.contains("window 14:0"), "the injected spike starts at 14:00: {spike}");
    let dip = firing("campaign=double11").unwrap_or_else(|| panic!("no double11 dip in\n{text}"));
    assert!(dip.contains("sentiment_dip") && dip.contains("window still open"), "{dip}");
    assert!(dip.contains("window 20:"), "the injected dip starts at 20:00: {dip}");
    // The dip adds six pricing complaints a minute to the double11 campaign from 20:00: the
    // pricing category rises with it, which its 15-minute window (pricing is a quiet category)
    // shows. Any other category spike is false.
    let expected =
        |l: &str| l.contains("category=payment ") || (l.contains("category=pricing ") && l.starts_with("[20:"));
    assert!(
        !lines.iter().any(|l| l.contains("FIRING   spike         category=") && !expected(l)),
        "no false category spikes:\n{text}"
    );
    // The gift complaint trickles in from 10:00 at one message every two minutes: a new cluster
    // once it has 8 messages, its keywords say what it is about.
    let at = lines.iter().position(|l| l.contains("FIRING   new_cluster") && l.contains("window 10:"));
    let at = at.unwrap_or_else(|| panic!("no new cluster for the emerging complaint in\n{text}"));
    assert!(lines[at + 1].contains("reached 8 messages"), "{}", lines[at + 1]);
    assert!(lines[at + 2].contains("礼物"), "keywords: {}", lines[at + 2]);
    let before_ten = lines.iter().filter(|l| l.contains("FIRING   new_cluster") && l.as_str() < "[10:00").count();
    assert_eq!(before_ten, 0, "the day's ordinary complaints are known after the warm-up:\n{text}");
    let risky: Vec<&String> = lines.iter().filter(|l| l.contains("FIRING   high_risk")).collect();
    assert_eq!(risky.len(), 4, "three single messages and a threat in a chat: {risky:?}");
    assert!(risky[0].contains("channel=chat") && risky[0].starts_with("[15:05"), "{}", risky[0]);
    assert!(risky[1].contains("risk=legal_threat") && risky[1].starts_with("[15:30"), "{}", risky[1]);
    // The chats: the upset customer, the VIP and the threat are handed off; the calm one is not.
    let handoffs: Vec<&String> = lines.iter().filter(|l| l.contains("FIRING   handoff")).collect();
    assert_eq!(handoffs.len(), 3, "{handoffs:?}");
    for (at, conversation, priority) in
        [("[09:1", "chat-0", "P2"), ("[11:4", "chat-1", "P1"), ("[15:0", "chat-2", "P1")]
    {
        assert!(
            handoffs.iter().any(|l| l.starts_with(at)
                && l.contains(&format!("conversation={conversation}"))
                && l.contains(&format!("priority={priority}"))),
            "{conversation}: {handoffs:?}"
        );
    }
    assert!(text.contains("handoff: 3 fired, 3 resolved"), "{text}");
    // The service desk: three SLA breaches (a late first response, a slow and a missing
    // takeover), the shop's slow afternoon, and the agent of the late first response.
    let breaches: Vec<&String> = lines.iter().filter(|l| l.contains("FIRING   sla_breach")).collect();
    assert_eq!(breaches.len(), 3, "{breaches:?}");
    for (at, sla) in [("[10:31", "sla=first_response"), ("[13:10", "sla=takeover"), ("[17:20", "sla=takeover")] {
        assert!(breaches.iter().any(|l| l.starts_with(at) && l.contains(sla)), "{at} {sla}: {breaches:?}");
    }
    let slow = firing("threshold     business=shop").unwrap_or_else(|| panic!("no slow desk in\n{text}"));
    assert!(slow.starts_with("[16:1"), "the shop's desk slows from 16:00 (two 5m windows): {slow}");
    assert!(text.contains("sla_breach: 3 fired, 3 resolved"), "{text}");
    // Transcript QA: no empathy for the legal threat (chat-2), and the rude agent of chat-3
    // (rude, and no empathy either), scored when each conversation closed.
    let qa: Vec<&String> = lines.iter().filter(|l| l.contains("FIRING   qa_violation")).collect();
    assert_eq!(qa.len(), 3, "{qa:?}");
    assert!(qa.iter().any(|l| l.contains("conversation=chat-3,check=rude")), "{qa:?}");
    assert!(qa.iter().any(|l| l.contains("conversation=chat-2,check=empathy")), "{qa:?}");
    assert!(text.contains("slow_handling: 1 fired, 1 resolved"), "{text}");
    assert!(text.contains("slow_first_response: 1 fired, 1 resolved"), "agent-023 at 10:30: {text}");
    assert!(text.contains("3 dead letters (malformed_json 1, missing_text 1, ts_in_future 1)"), "{text}");
    assert!(text.contains("category_spike: 2 fired, 2 resolved"), "payment, and pricing in the dip: {text}");
    assert!(!text.contains("13812345678"), "PII never reaches the output");
}
