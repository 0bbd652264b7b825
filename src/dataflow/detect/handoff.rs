//! Hand-offs: the `[[escalation]]` tables judged on each conversation's state. The most urgent
//! escalation that matches while no agent has joined raises the conversation's one `handoff`
//! alert; an agent's turn, or the conversation's expiry, resolves it.

use crate::alerts::engine::{AlertEngine, Evaluation};
use crate::alerts::{fingerprint, Alert, Baseline, Explanation};
use crate::config::{Escalation, RiskMatch, RuleConfig};
use crate::records::conversation::{ConversationChange, ConversationState};
use std::collections::BTreeMap;

/// The reasons `e` holds for `s`, one per condition; `None` when a condition fails (or an
/// agent has joined: a person has the conversation already).
pub fn reasons(e: &Escalation, s: &ConversationState) -> Option<Vec<String>> {
    if s.agent.is_some() || s.customer_turns == 0 {
        return None;
    }
    let mut why = Vec::new();
    if let Some(n) = e.negative_streak {
        (s.negative_streak >= n).then_some(())?;
        why.push(format!("{} negative customer turns in a row", s.negative_streak));
    }
    if let Some(below) = e.sentiment_below {
        let last = s.last_sentiment_milli? as f64 / 1000.0;
        (last < below).then_some(())?;
        why.push(format!("last customer turn's sentiment {last:.2} (below {below})"));
    }
    if let Some(n) = e.repeats {
        (s.repeats >= n).then_some(())?;
        why.push(format!("the customer repeated a question {} times", s.repeats));
    }
    match &e.risk {
        None => {}
        Some(RiskMatch::Any(_)) => {
            (!s.risks.is_empty()).then_some(())?;
            why.push(format!("risk: {}", s.risks.join(", ")));
        }
        Some(RiskMatch::Named(names)) => {
            let hit: Vec<&str> = s.risks.iter().filter(|r| names.contains(r)).map(String::as_str).collect();
            (!hit.is_empty()).then_some(())?;
            why.push(format!("risk: {}", hit.join(", ")));
        }
    }
    for (what, wanted, value) in [("tier", &e.tier, &s.tier), ("business", &e.business, &s.business)] {
        if let Some(wanted) = wanted {
            let value = value.as_deref().filter(|v| wanted.iter().any(|w| w == v))?;
            why.push(format!("{what} {value}"));
        }
    }
    Some(why)
}

/// The most urgent escalation that matches (the first written among equals), with its reasons.
pub fn escalation<'a>(escalations: &'a [Escalation], s: &ConversationState) -> Option<(&'a Escalation, Vec<String>)> {
    escalations.iter().filter_map(|e| Some((e, reasons(e, s)?))).min_by_key(|(e, _)| e.rank())
}

/// A conversation's hand-off fingerprint: the conversation alone, so its priority may differ
/// from run to run without two alerts.
pub fn handoff_fingerprint(rule: &RuleConfig, conversation: &str) -> String {
    fingerprint(&rule.name, &BTreeMap::from([("conversation".to_owned(), conversation.to_owned())]))
}

/// Applies a tick's conversation changes (in order of time, then conversation) to the
/// hand-off alerts of `rule`.
pub fn judge(
    engine: &mut AlertEngine,
    rule: &RuleConfig,
    escalations: &[Escalation],
    changes: &[ConversationChange],
) -> Vec<Alert> {
    let idle_ms = rule.window.as_ms();
    let mut out = Vec::new();
    for change in changes {
        let fp = handoff_fingerprint(rule, change.conversation());
        match change {
            ConversationChange::Expired { last_ms, .. } => out.extend(engine.settle(&fp, rule, last_ms + idle_ms)),
            ConversationChange::Scored(_) => {}
            ConversationChange::Updated(s) if s.agent.is_some() => out.extend(engine.settle(&fp, rule, s.last_ms)),
            ConversationChange::Updated(s) => {
                let Some((e, why)) = escalation(escalations, s) else { continue };
                out.extend(engine.hold(rule, fp, e.severity(), s.last_ms, || handoff_alert(rule, e, &why, s)));
            }
        }
    }
    out
}

fn handoff_alert(
    rule: &RuleConfig,
    e: &Escalation,
    why: &[String],
    s: &ConversationState,
) -> (BTreeMap<String, String>, Evaluation, String) {
    let mut subject = vec![
        ("conversation", s.conversation.as_str()),
        ("priority", e.priority.as_str()),
        ("escalation", e.name.as_str()),
    ];
    if let Some(b) = &s.business {
        subject.push(("business", b.as_str()));
    }
    if let Some(t) = &s.tier {
        subject.push(("tier", t.as_str()));
    }
    let mut labels = AlertEngine::labels(rule, subject);
    labels.insert("severity".into(), e.severity().as_str().into());
    labels.extend(e.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
    let customer: Vec<&str> = s
        .last_turns
        .iter()
        .filter(|(role, _)| *role == crate::event::Role::Customer)
        .map(|(_, text)| text.as_str())
        .collect();
    let mut keywords: Vec<String> = Vec::new();
    for term in customer.iter().flat_map(|t| crate::enrich::terms::terms(t)) {
        if keywords.len() < 5 && !keywords.contains(&term) {
            keywords.push(term);
        }
    }
    let last = s.last_sentiment_milli.unwrap_or(0) as f64 / 1000.0;
    let eval = Evaluation {
        window_start_ms: s.first_ms,
        // A restored hand-off whose conversation is not heard of again ends after `idle`.
        window_end_ms: s.last_ms + rule.window.as_ms(),
        anomalous: true,
        value: last,
        baseline: Baseline::default(),
        explanation: Explanation {
            keywords,
            samples: s.last_turns.iter().map(|(role, text)| format!("{}: {text}", role.as_str())).collect(),
            sample_ids: Vec::new(),
            cluster_id: None,
            count: s.customer_turns as i64,
            sentiment_mean: last,
            negative_share: 0.0,
            drivers: Vec::new(),
        },
    };
    let summary = format!(
        "Hand-off {} ({}): conversation {} — {}; no agent yet",
        e.priority,
        e.name,
        s.conversation,
        why.join("; ")
    );
    (labels, eval, summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::AlertStatus;
    use crate::config::{HumanDuration, Severity};

    fn table(name: &str, priority: &str, edit: impl FnOnce(&mut Escalation)) -> Escalation {
        let mut e = Escalation {
            name: name.into(),
            priority: priority.into(),
            severity: None,
            negative_streak: None,
            sentiment_below: None,
            repeats: None,
            risk: None,
            tier: None,
            business: None,
            labels: BTreeMap::new(),
        };
        edit(&mut e);
        e
    }

    fn state(streak: u32, last: i32, tier: Option<&str>) -> ConversationState {
        ConversationState {
            conversation: "cv-1".into(),
            customer_turns: 3,
            negative_streak: streak,
            last_sentiment_milli: Some(last),
            tier: tier.map(Into::into),
            last_ms: 1_000,
            ..Default::default()
        }
    }

    #[test]
    fn every_condition_must_hold_and_the_most_urgent_match_wins() {
        let rules = [
            table("upset", "P2", |e| e.negative_streak = Some(2)),
            table("vip", "P1", |e| {
                e.tier = Some(vec!["vip".into()]);
                e.sentiment_below = Some(-0.3);
            }),
        ];
        assert!(escalation(&rules, &state(1, -400, None)).is_none());
        let (e, why) = escalation(&rules, &state(2, -400, None)).unwrap();
        assert_eq!((e.name.as_str(), why.len()), ("upset", 1));
        assert_eq!(escalation(&rules, &state(2, -400, Some("vip"))).unwrap().0.name, "vip");
        assert_eq!(
            escalation(&rules, &state(0, -200, Some("vip"))).map(|(e, _)| &e.name),
            None,
            "-0.2 is not below -0.3"
        );
        let joined = ConversationState { agent: Some("a-1".into()), ..state(5, -900, Some("vip")) };
        assert!(escalation(&rules, &joined).is_none(), "a person has it already");
    }

    #[test]
    fn one_alert_per_conversation_resolved_by_an_agent_or_expiry() {
        let escalations = vec![table("upset", "P2", |e| e.negative_streak = Some(2))];
        let rule = crate::config::handoff_rule(escalations.clone(), HumanDuration(std::time::Duration::from_secs(600)));
        let mut engine = AlertEngine::new("http://x");
        let up = |s| ConversationChange::Updated(Box::new(s));
        let fired = judge(&mut engine, &rule, &escalations, &[up(state(2, -900, None))]);
        assert_eq!(fired.len(), 1);
        let alert = &fired[0];
        assert_eq!((alert.status, alert.severity), (AlertStatus::Firing, Severity::Warning));
        assert_eq!((alert.labels["priority"].as_str(), alert.labels["conversation"].as_str()), ("P2", "cv-1"));
        assert!(judge(&mut engine, &rule, &escalations, &[up(state(3, -900, None))]).is_empty(), "once");
        assert!(engine.advance_clock(i64::MAX / 8, 0, std::slice::from_ref(&rule)).is_empty(), "held");
        let agent = ConversationState { agent: Some(String::new().into()), last_ms: 5_000, ..state(0, -900, None) };
        let resolved = judge(&mut engine, &rule, &escalations, &[up(agent)]);
        assert_eq!(resolved.len(), 1);
        assert_eq!((resolved[0].status, resolved[0].ends_at.map(|t| t.ms())), (AlertStatus::Resolved, Some(5_000)));
        assert_eq!(resolved[0].fingerprint, alert.fingerprint);

        let mut engine = AlertEngine::new("http://x");
        judge(&mut engine, &rule, &escalations, &[up(state(2, -900, None))]);
        let expired = ConversationChange::Expired { conversation: "cv-1".into(), last_ms: 1_000 };
        let resolved = judge(&mut engine, &rule, &escalations, &[expired]);
        assert_eq!(resolved[0].ends_at.map(|t| t.ms()), Some(601_000));
    }
}
