//! The dashboard's service-desk panel: the latest KPI window of every ticket series (overall,
//! each business, each agent) at one window size, as rows of figures a person reads. Open
//! hand-offs and SLA breaches come with the alerts the page already has.

use crate::config::{Config, RuleKind};
use crate::records::ticket::{KpiFigures, TicketAgg};
use crate::records::window::WindowKey;
use serde::Serialize;
use std::collections::BTreeMap;

/// Rows kept; the agents with the oldest windows go first.
const MAX_ROWS: usize = 64;

/// One series' latest KPI window, in seconds and counts.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KpiRow {
    pub key: String,
    pub value: String,
    pub window_start: i64,
    #[serde(flatten)]
    pub figures: KpiFigures,
}

impl KpiRow {
    fn of(key: &WindowKey, k: &TicketAgg) -> KpiRow {
        KpiRow {
            key: key.series.key.name(),
            value: key.series.value.to_string(),
            window_start: key.start_s,
            figures: KpiFigures::from(k),
        }
    }
}

/// What the page shows of ticket KPIs.
#[derive(Clone, Debug, Serialize)]
pub struct DeskView<'a> {
    pub window_s: u32,
    pub rows: Vec<&'a KpiRow>,
}

pub struct Desk {
    size_s: u32,
    rows: BTreeMap<(String, String), KpiRow>,
    pub(super) changed: bool,
}

impl Desk {
    /// Follows the window of the first threshold rule, else the first KPI window of 5 minutes
    /// or more (a minute of tickets is mostly empty), else the longest.
    pub fn new(config: &Config) -> Desk {
        let sizes = crate::dataflow::tickets::kpi_sizes(&config.tickets, &config.windows);
        let ruled = config.rules.iter().find(|r| matches!(r.kind, RuleKind::Threshold(_))).map(|r| r.window.as_secs());
        let size_s = ruled
            .filter(|s| sizes.contains(s))
            .or_else(|| sizes.iter().copied().filter(|s| *s >= 300).min())
            .or_else(|| sizes.iter().copied().max())
            .unwrap_or(300);
        Desk { size_s, rows: BTreeMap::new(), changed: false }
    }

    /// A KPI window's new totals: shown when it is its series' latest at the panel's size.
    pub fn record(&mut self, key: &WindowKey, kpis: &TicketAgg) {
        if key.size_s != self.size_s {
            return;
        }
        let id = (key.series.key.name(), key.series.value.to_string());
        if self.rows.get(&id).is_some_and(|r| r.window_start > key.start_s) {
            return;
        }
        self.rows.insert(id, KpiRow::of(key, kpis));
        self.changed = true;
        if self.rows.len() > MAX_ROWS {
            let oldest = self.rows.iter().filter(|((k, _), _)| k == "agent").min_by_key(|(_, r)| r.window_start);
            if let Some(id) = oldest.map(|(id, _)| id.clone()) {
                self.rows.remove(&id);
            }
        }
    }

    /// Overall first, then businesses, then agents, each by name.
    pub fn view(&self) -> DeskView<'_> {
        let rank = |k: &str| match k {
            "overall" => 0,
            "business" => 1,
            _ => 2,
        };
        let mut rows: Vec<&KpiRow> = self.rows.values().collect();
        rows.sort_by(|a, b| (rank(&a.key), &a.value).cmp(&(rank(&b.key), &b.value)));
        DeskView { window_s: self.size_s, rows }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Dimension, Span, TicketStatus};
    use crate::records::window::Series;
    use differential_dataflow::difference::Semigroup;

    #[test]
    fn the_panel_keeps_each_series_latest_window_at_its_size() {
        let mut desk = Desk::new(&Config::embedded());
        assert_eq!(desk.size_s, 300, "the first shipped threshold rule's window");
        let key = |dim: Dimension, value: &str, size_s: u32, start_s: i64| WindowKey {
            series: Series::new(dim, value),
            size_s,
            start_s,
        };
        let mut k = TicketAgg::of_transition(TicketStatus::Opened);
        k.plus_equals(&TicketAgg::of_span(Span::Handling, 150_000));
        k.add_part(crate::records::ticket::Part::Qa(70, 1), 1);
        desk.record(&key(Dimension::Agent, "a-1", 300, 600), &k);
        desk.record(&key(Dimension::Agent, "a-1", 300, 300), &TicketAgg::default());
        desk.record(&key(Dimension::Agent, "a-1", 60, 900), &TicketAgg::default());
        desk.record(&key(Dimension::Overall, "all", 300, 600), &k);
        let view = desk.view();
        let shown: Vec<(&str, i64, i64, Option<f64>)> = view
            .rows
            .iter()
            .map(|r| (r.value.as_str(), r.window_start, r.figures.opened, r.figures.handling_mean_s))
            .collect();
        assert_eq!(shown, [("all", 600, 1, Some(150.0)), ("a-1", 600, 1, Some(150.0))]);
        assert_eq!((view.rows[1].figures.qa_mean, view.rows[1].figures.qa_violations), (Some(70.0), 1));
    }
}
