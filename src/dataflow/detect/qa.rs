//! `qa_violation` alerts: one per severe violation of a `[[qa]]` sheet in a closed
//! conversation, fired when the conversation closes and resolved after the rule's window.

use crate::alerts::engine::{AlertEngine, Evaluation};
use crate::alerts::{Alert, Baseline, Explanation};
use crate::config::RuleConfig;
use crate::records::conversation::QaVerdict;

pub fn qa_alerts(engine: &mut AlertEngine, rule: &RuleConfig, verdicts: &[&QaVerdict]) -> Vec<Alert> {
    let mut out = Vec::new();
    for v in verdicts {
        for violation in v.violations.iter().filter(|x| x.severe) {
            let mut subject = vec![("conversation", v.conversation.as_str()), ("check", violation.check.as_str())];
            subject.push(("sheet", v.sheet.as_str()));
            for (k, value) in [("agent", &v.agent), ("team", &v.team), ("business", &v.business)] {
                if let Some(value) = value {
                    subject.push((k, value.as_str()));
                }
            }
            let labels = AlertEngine::labels(rule, subject);
            let eval = Evaluation {
                window_start_ms: v.closed_ms,
                window_end_ms: v.closed_ms + rule.window.as_ms(),
                anomalous: true,
                value: v.score as f64,
                baseline: Baseline { threshold: 100.0, ..Default::default() },
                explanation: Explanation {
                    samples: v.last_turns.iter().map(|(role, text)| format!("{}: {text}", role.as_str())).collect(),
                    ..Default::default()
                },
            };
            let who = v.agent.as_deref().map(|a| format!(" (agent {a})")).unwrap_or_default();
            let summary = format!(
                "conversation {}{who}: {} — {}; QA score {} by sheet {}",
                v.conversation, violation.check, violation.detail, v.score, v.sheet
            );
            out.extend(engine.notify(rule, labels, eval, v.closed_ms, summary));
        }
    }
    out
}
