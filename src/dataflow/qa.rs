//! Transcript QA: the `[[qa]]` sheets folded over a conversation's turns as they come (part of
//! its state, so late turns refold it like the rest), and the verdict when it closes: a score,
//! its violations, whether it is sampled for review, and what it adds to the KPI windows of
//! its agent, team, business and overall.

use crate::config::{Check, Dimension, QaSheet};
use crate::event::Role;
use crate::records::conversation::{ConversationState, QaTally, QaVerdict, QaViolation, Turn};
use crate::records::ticket::{Part, TicketAgg};
use crate::records::window::{Series, WindowKey};
use crate::util::calendar::Calendar;

/// The sheets, with their phrases lowercased and regexes compiled.
#[derive(Debug, Default)]
pub struct QaRules {
    sheets: Vec<Compiled>,
}

#[derive(Debug)]
struct Compiled {
    sheet: QaSheet,
    greeting: Vec<String>,
    closing: Vec<String>,
    empathy: Vec<String>,
    /// Per forbidden rule: its phrases, regexes and exceptions.
    forbidden: Vec<(Vec<String>, Vec<regex::Regex>, Vec<String>)>,
}

fn lower(phrases: &[String]) -> Vec<String> {
    phrases.iter().map(|p| p.trim().to_lowercase()).filter(|p| !p.is_empty()).collect()
}

fn says(text: &str, phrases: &[String]) -> bool {
    phrases.iter().any(|p| text.contains(p.as_str()))
}

/// Occurrences of `phrase` in `text` not inside one of `except`.
fn hits(text: &str, phrase: &str, except: &[String]) -> bool {
    text.match_indices(phrase).any(|(at, _)| {
        let end = at + phrase.len();
        !except.iter().any(|e| text.match_indices(e.as_str()).any(|(q, m)| q <= at && end <= q + m.len()))
    })
}

impl QaRules {
    /// `sheets` were validated (their regexes compile).
    pub fn new(sheets: &[QaSheet]) -> Self {
        let phrases = |c: &Option<Check>| c.as_ref().map(|c| lower(&c.phrases)).unwrap_or_default();
        let sheets = sheets
            .iter()
            .map(|s| Compiled {
                greeting: phrases(&s.greeting),
                closing: phrases(&s.closing),
                empathy: phrases(&s.empathy),
                forbidden: s
                    .forbidden
                    .iter()
                    .map(|f| {
                        let regex = f.regex.iter().filter_map(|r| regex::Regex::new(r).ok()).collect();
                        (lower(&f.phrases), regex, lower(&f.except))
                    })
                    .collect(),
                sheet: s.clone(),
            })
            .collect();
        QaRules { sheets }
    }

    pub fn is_empty(&self) -> bool {
        self.sheets.is_empty()
    }

    /// Folds one turn into every sheet's tally (`tallies` grows to one per sheet).
    pub fn step(&self, tallies: &mut Vec<QaTally>, turn: &Turn) {
        tallies.resize_with(self.sheets.len(), QaTally::default);
        let text = turn.text.to_lowercase();
        for (c, tally) in self.sheets.iter().zip(tallies.iter_mut()) {
            match turn.role {
                Role::Customer => {
                    tally.empathy_due =
                        c.sheet.empathy.as_ref().is_some_and(|e| (turn.sentiment_milli as f64) < e.below * 1000.0);
                }
                Role::Agent => {
                    tally.agent_turns += 1;
                    let within = c.sheet.greeting.as_ref().map_or(0, |g| g.within);
                    if tally.agent_turns <= within && says(&text, &c.greeting) {
                        tally.greeted = true;
                    }
                    tally.closed_politely = says(&text, &c.closing);
                    if std::mem::take(&mut tally.empathy_due) && !says(&text, &c.empathy) {
                        tally.empathy_missed += 1;
                    }
                    for (rule, (phrases, regex, except)) in c.sheet.forbidden.iter().zip(&c.forbidden) {
                        let said = phrases.iter().find(|p| hits(&text, p, except)).cloned();
                        let matched = || regex.iter().find_map(|r| r.find(&turn.text).map(|m| m.as_str().to_owned()));
                        if let Some(what) = said.or_else(matched) {
                            tally.forbidden.push((rule.name.clone(), what));
                        }
                    }
                }
                Role::Bot => {}
            }
        }
    }

    /// The verdict on a closing conversation: by the first sheet covering its business, if an
    /// agent took part (a conversation only a bot answered has nobody to score).
    pub fn verdict(&self, state: &ConversationState, closed_ms: i64, review: &mut ReviewSampler) -> Option<QaVerdict> {
        let (i, c) = self.sheets.iter().enumerate().find(|(_, c)| c.sheet.covers(state.business.as_deref()))?;
        let tally = state.qa.get(i).filter(|t| t.agent_turns > 0)?;
        let s = &c.sheet;
        let mut violations = Vec::new();
        let mut miss = |check: &str, detail: String, c: &Check, times: u32| {
            let (weight, severe) = (c.weight * times, c.severe);
            violations.push(QaViolation { check: check.into(), detail, weight, severe });
        };
        if let Some(g) = s.greeting.as_ref().filter(|_| !tally.greeted) {
            miss("greeting", format!("no greeting in the first {} agent turns", g.within), g, 1);
        }
        if let Some(cl) = s.closing.as_ref().filter(|_| !tally.closed_politely) {
            miss("closing", "the last agent turn has no closing".into(), cl, 1);
        }
        if let Some(e) = s.empathy.as_ref().filter(|_| tally.empathy_missed > 0) {
            let detail = format!("{} answers to an upset customer without empathy", tally.empathy_missed);
            miss("empathy", detail, e, tally.empathy_missed);
        }
        for (rule, what) in &tally.forbidden {
            let f = s.forbidden.iter().find(|f| &f.name == rule).expect("a tally names its sheet's rules");
            let detail = format!("said “{what}”");
            violations.push(QaViolation { check: rule.clone(), detail, weight: f.weight, severe: f.severe });
        }
        let lost: u32 = violations.iter().map(|v| v.weight).sum();
        let low = state.min_sentiment_milli.is_some_and(|m| (m as f64) < s.sample_below * 1000.0);
        let sampled = review.take(i, s.sample, low);
        Some(QaVerdict {
            conversation: state.conversation.clone(),
            sheet: s.name.clone(),
            agent: state.last_agent.clone(),
            team: state.team.clone(),
            business: state.business.clone(),
            closed_ms,
            score: 100u32.saturating_sub(lost),
            violations,
            min_sentiment_milli: state.min_sentiment_milli,
            sampled,
            last_turns: state.last_turns.clone(),
        })
    }
}

/// Which scored conversations go to review: a share `sample` of each sheet's, low-emotion
/// conversations first. Every scored conversation earns `sample` of a review slot. A
/// low-emotion one takes a slot while the sheet is less than one slot in debt; any other only
/// when a slot beyond one kept in reserve for the next low-emotion conversation is saved. So the
/// share holds (within two conversations) whatever the mix, every low-emotion conversation is
/// reviewed while they are rarer than the share, and only they are when they are not. The
/// choice depends only on the order conversations close in, which a replay repeats.
#[derive(Clone, Debug, Default)]
pub struct ReviewSampler {
    /// Slots saved (negative: borrowed), per sheet.
    credit: Vec<f64>,
}

impl ReviewSampler {
    /// Whether a conversation scored by sheet `sheet` (its share `share`) is reviewed.
    pub fn take(&mut self, sheet: usize, share: f64, low_emotion: bool) -> bool {
        if share <= 0.0 {
            return false;
        }
        if self.credit.len() <= sheet {
            self.credit.resize(sheet + 1, 0.0);
        }
        let credit = &mut self.credit[sheet];
        *credit += share;
        let take = if low_emotion { *credit > -1.0 + share } else { *credit >= 2.0 };
        if take {
            *credit -= 1.0;
        }
        take
    }
}

/// A verdict's additions to the KPI windows: one scored conversation, its score and its
/// violations, for overall, its business, agent and team, at every KPI window size.
pub fn kpi_additions(v: &QaVerdict, sizes: &[u32], calendar: &Calendar) -> Vec<(WindowKey, TicketAgg)> {
    let part = Part::Qa(v.score as i64, v.violations.len() as i64);
    let series = [
        Some(Series::new(Dimension::Overall, "all")),
        v.business.as_ref().map(|b| Series::new(Dimension::Business, b.clone())),
        v.agent.as_ref().map(|a| Series::new(Dimension::Agent, a.clone())),
        v.team.as_ref().map(|t| Series::new(Dimension::Team, t.clone())),
    ];
    let mut out = Vec::new();
    for series in series.into_iter().flatten() {
        for &size_s in sizes {
            let mut agg = TicketAgg::default();
            agg.add_part(part, 1);
            let start_s = calendar.window_start(v.closed_ms, size_s);
            out.push((WindowKey { series: series.clone(), size_s, start_s }, agg));
        }
    }
    out
}

#[cfg(test)]
mod tests;
