//! Scheduled digests (`[[report]]`): the same roll-ups and digest as `feedpulse report`, kept
//! live for as long as the longest report compares, and each period's digest released once the
//! event clock passes the report's release time — so a replay of history releases the same
//! digests, byte for byte, as the live run did.
//!
//! The clock is the latest window start the dataflow has emitted. A release waits for the next
//! checkpoint after the clock passed it (every window of the ticks completed by then has been
//! seen): the window that moved the clock may share its tick with the last updates of the
//! period's final hour, which arrive in any order.

use super::{digest, publish, Rollups};
use crate::alerts::{Alert, AlertStatus};
use crate::config::ReportSchedule;
use crate::records::ticket::TicketAgg;
use crate::records::window::{Agg, WindowKey};
use crate::sinks::{AlertSink, DigestSink, KpiSink, PublishedDigest, WindowSink};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// One report's schedule, its receivers and the next period it owes.
struct Due {
    schedule: ReportSchedule,
    outputs: Vec<Arc<dyn DigestSink>>,
    /// `(start, end, previous start)` of the next period to release; `None` before any event.
    next: Option<(i64, i64, i64)>,
    /// Periods ending at or before this were released by a previous run.
    released_through: i64,
}

/// Holds the roll-ups and alerts the reports need and releases their digests in event time.
pub struct Reporter {
    rollups: Rollups,
    alerts: Mutex<Vec<Alert>>,
    due: Mutex<Vec<Due>>,
    clock: Mutex<Clock>,
    /// The latest digests released, newest last (what the dashboard shows).
    recent: Mutex<VecDeque<PublishedDigest>>,
    /// Where each release is remembered across restarts (Redis, or the write-ahead log's
    /// directory); set before the first release.
    log: Mutex<Option<Arc<dyn ReleaseLog>>>,
}

/// Remembers, across restarts, the end of the last period each report released.
pub trait ReleaseLog: Send + Sync {
    fn released(&self, report: &str, end_s: i64);
}

impl ReleaseLog for crate::redis::sink::RedisSink {
    fn released(&self, report: &str, end_s: i64) {
        self.report_released(report, end_s);
    }
}

/// Releases remembered in a file (`released.json` beside the write-ahead log, for durable
/// ingest without Redis): a restart replays the log, and must not release those periods again —
/// nor an earlier one the log no longer covers in full.
pub struct ReleaseFile {
    path: PathBuf,
    ends: Mutex<std::collections::BTreeMap<String, i64>>,
}

impl ReleaseFile {
    /// The file in `dir`, and what it remembers (nothing when it is missing or unreadable).
    pub fn open(dir: &std::path::Path) -> ReleaseFile {
        let path = dir.join("released.json");
        let ends = std::fs::read_to_string(&path).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default();
        ReleaseFile { path, ends: Mutex::new(ends) }
    }

    pub fn remembered(&self) -> Vec<(String, i64)> {
        self.ends.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|(r, e)| (r.clone(), *e)).collect()
    }
}

impl ReleaseLog for ReleaseFile {
    fn released(&self, report: &str, end_s: i64) {
        let mut ends = self.ends.lock().unwrap_or_else(|e| e.into_inner());
        ends.insert(report.to_owned(), end_s);
        // Written whole and renamed into place, so a crash leaves the old file or the new one.
        let temporary = self.path.with_extension("json.tmp");
        let written = std::fs::write(&temporary, serde_json::to_vec(&*ends).expect("a map of numbers"))
            .and_then(|_| std::fs::rename(&temporary, &self.path));
        if let Err(e) = written {
            tracing::warn!(path = %self.path.display(), "cannot remember a released digest: {e}");
        }
    }
}

/// The event clock: window starts seen.
#[derive(Clone, Copy)]
struct Clock {
    /// The earliest: the first period of every report is the one it falls in.
    first: i64,
    latest: i64,
    /// `latest` as of the last checkpoint.
    settled: i64,
}

/// How many released digests the dashboard keeps.
const RECENT: usize = 20;

impl Reporter {
    /// `reports`: each schedule with the receivers it names; `log`: where releases are
    /// remembered for the next run.
    pub fn new(
        reports: Vec<(ReportSchedule, Vec<Arc<dyn DigestSink>>)>,
        log: Option<Arc<dyn ReleaseLog>>,
    ) -> Arc<Reporter> {
        let due = reports
            .into_iter()
            .map(|(schedule, outputs)| Due { schedule, outputs, next: None, released_through: i64::MIN })
            .collect();
        Arc::new(Reporter {
            rollups: Rollups::default(),
            alerts: Mutex::new(Vec::new()),
            due: Mutex::new(due),
            clock: Mutex::new(Clock { first: i64::MAX, latest: i64::MIN, settled: i64::MIN }),
            recent: Mutex::new(VecDeque::new()),
            log: Mutex::new(log),
        })
    }

    /// Remembers releases in `log` from now on, continuing after what it remembers.
    pub fn remember_in(&self, log: Arc<ReleaseFile>) {
        self.continue_after(&log.remembered());
        *self.log.lock().expect("release log") = Some(log);
    }

    /// Continues after what a previous run released (`(report, end of its last period)`): a
    /// restart that restores the windows does not release those periods again.
    pub fn continue_after(&self, released: &[(String, i64)]) {
        for d in self.due.lock().expect("report schedule").iter_mut() {
            if let Some((_, end)) = released.iter().find(|(name, _)| *name == d.schedule.config.name) {
                d.released_through = *end;
            }
        }
    }

    /// The names of the reports, in order.
    pub fn names(&self) -> Vec<String> {
        self.due.lock().expect("report schedule").iter().map(|d| d.schedule.config.name.clone()).collect()
    }

    /// The digests released so far (at most the last 20), oldest first.
    pub fn recent(&self) -> Vec<PublishedDigest> {
        self.recent.lock().expect("recent digests").iter().cloned().collect()
    }

    /// Releases every digest whose release time the event clock `now_s` has reached; the
    /// first period of each report is the one holding `first_s`.
    fn advance(&self, first_s: i64, now_s: i64) {
        let mut due = self.due.lock().expect("report schedule");
        let mut released = Vec::new();
        for d in due.iter_mut() {
            loop {
                let (start, end, previous) = *d.next.get_or_insert_with(|| d.schedule.period_of(first_s));
                if end <= d.released_through {
                    d.next = Some(d.schedule.period_from(end));
                    continue;
                }
                if now_s < d.schedule.release(end) {
                    break;
                }
                let digest = self.build(&d.schedule, start, end, previous);
                for output in &d.outputs {
                    output.digest(&digest);
                }
                released.push(digest);
                if let Some(log) = &*self.log.lock().expect("release log") {
                    log.released(&d.schedule.config.name, end);
                }
                d.next = Some(d.schedule.period_from(end));
            }
        }
        if released.is_empty() {
            return;
        }
        // What no report will read again: hours before every report's next comparison period,
        // alerts that started before it.
        let keep_from = due.iter().filter_map(|d| d.next.map(|n| n.2)).min().unwrap_or(i64::MIN);
        drop(due);
        self.rollups.forget_before(keep_from);
        // A digest reads the firings that start in its period and their resolutions, which
        // carry the same start: both go once their start is behind every next period.
        self.alerts.lock().expect("report alerts").retain(|a| a.starts_at.ms() >= keep_from * 1000);
        let mut recent = self.recent.lock().expect("recent digests");
        recent.extend(released);
        while recent.len() > RECENT {
            recent.pop_front();
        }
    }

    fn build(&self, schedule: &ReportSchedule, start: i64, end: i64, previous: i64) -> PublishedDigest {
        let alerts = self.alerts.lock().expect("report alerts");
        let matching: Vec<Alert> = alerts
            .iter()
            .filter(|a| schedule.config.match_eq.iter().all(|(k, v)| a.labels.get(k) == Some(v)))
            .cloned()
            .collect();
        drop(alerts);
        let d = digest(&self.rollups, &matching, start, end, previous, &schedule.calendar);
        publish(&schedule.config.name, &d, start, &schedule.calendar)
    }
}

impl WindowSink for Reporter {
    fn window(&self, key: &WindowKey, agg: &Agg) {
        self.rollups.window(key, agg);
        // A window's start is an event time the stream has reached.
        let mut clock = self.clock.lock().expect("report clock");
        clock.latest = clock.latest.max(key.start_s);
        clock.first = clock.first.min(key.start_s);
    }

    /// Releases what the clock as of the previous checkpoint allows: the ticks that moved it
    /// there have completed since.
    fn checkpoint(&self, _absorbed_through: u64) {
        let (first, settled) = {
            let mut clock = self.clock.lock().expect("report clock");
            let latest = clock.latest;
            (clock.first, std::mem::replace(&mut clock.settled, latest))
        };
        if settled > i64::MIN {
            self.advance(first, settled);
        }
    }
}

impl KpiSink for Reporter {
    fn kpi(&self, key: &WindowKey, kpis: &TicketAgg) {
        self.rollups.kpi(key, kpis);
    }
}

impl AlertSink for Reporter {
    /// Keeps the alert; a later state of the same firing (its LLM summary) replaces the earlier.
    fn deliver(&self, alert: &Alert) {
        let mut alerts = self.alerts.lock().expect("report alerts");
        let same = |a: &Alert| {
            a.fingerprint == alert.fingerprint && a.starts_at == alert.starts_at && a.status == alert.status
        };
        match alerts.iter_mut().rev().find(|a| same(a)) {
            Some(earlier) if alert.status == AlertStatus::Firing => *earlier = alert.clone(),
            _ => alerts.push(alert.clone()),
        }
    }

    /// At the end of a run every tick has completed: the clock as it stands is settled.
    fn flush(&self) {
        let clock = *self.clock.lock().expect("report clock");
        if clock.latest > i64::MIN {
            self.advance(clock.first, clock.latest);
        }
    }
}

/// Writes each digest as `{dir}/{date}.md` and `{dir}/{date}.json` — the files
/// `feedpulse report --out-dir` writes for the same period.
pub struct DigestFiles {
    dir: PathBuf,
}

impl DigestFiles {
    /// Creates `dir` if needed.
    pub fn new(dir: PathBuf) -> std::io::Result<Arc<DigestFiles>> {
        std::fs::create_dir_all(&dir)?;
        Ok(Arc::new(DigestFiles { dir }))
    }

    /// Writes `d` as `{date}.md` and `{date}.json`.
    pub fn write(&self, d: &PublishedDigest) -> std::io::Result<()> {
        for (ext, text) in [("md", &d.markdown), ("json", &d.json)] {
            let path = self.dir.join(format!("{}.{ext}", d.date));
            std::fs::write(&path, text)
                .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        }
        Ok(())
    }
}

impl DigestSink for DigestFiles {
    fn digest(&self, d: &PublishedDigest) {
        if let Err(e) = self.write(d) {
            eprintln!("report `{}`: cannot write {e}", d.report);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Dimension, ReportConfig};
    use crate::records::window::Series;
    use crate::util::calendar::Calendar;

    /// Remembers what it receives.
    #[derive(Default)]
    struct Received(Mutex<Vec<PublishedDigest>>);
    impl DigestSink for Received {
        fn digest(&self, d: &PublishedDigest) {
            self.0.lock().unwrap().push(d.clone());
        }
    }

    fn schedule(text: &str) -> ReportSchedule {
        toml::from_str::<ReportConfig>(text).unwrap().schedule(&Calendar::utc()).unwrap()
    }

    fn hour(reporter: &Reporter, start_s: i64, count: i64) {
        let mut agg = Agg::default();
        for _ in 0..count {
            differential_dataflow::difference::Semigroup::plus_equals(&mut agg, &Agg::of_message(0, false));
        }
        reporter
            .window(&WindowKey { series: Series::new(Dimension::Category, "payment"), size_s: 3600, start_s }, &agg);
    }

    /// 2026-03-02 00:00 UTC, a Monday.
    const MONDAY: i64 = 1_772_409_600;

    #[test]
    fn a_release_file_keeps_a_restart_that_replays_its_log_from_releasing_again() {
        let dir = std::env::temp_dir().join(format!("fp-released-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let run = || {
            let received = Arc::new(Received::default());
            let daily = schedule("name = \"daily\"\nevery = \"1d\"\ndir = \"unused\"");
            let reporter = Reporter::new(vec![(daily, vec![received.clone()])], None);
            reporter.remember_in(Arc::new(ReleaseFile::open(&dir)));
            // Two days of hours and the next day's first two, as a replay of the same log gives
            // them each time.
            for h in 0..50 {
                hour(&reporter, MONDAY + h * 3600, 1);
                reporter.checkpoint(0);
            }
            let dates: Vec<String> = received.0.lock().unwrap().iter().map(|d| d.date.clone()).collect();
            dates
        };
        assert_eq!(run(), ["2026-03-02", "2026-03-03"]);
        assert!(run().is_empty(), "the restart replays the same days and releases none again");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_day_is_released_at_its_time_once_a_checkpoint_has_settled_the_clock() {
        let received = Arc::new(Received::default());
        let daily = schedule("name = \"daily\"\nevery = \"1d\"\nat = \"09:00\"\ndir = \"unused\"");
        let reporter = Reporter::new(vec![(daily, vec![received.clone()])], None);
        for h in 0..24 {
            hour(&reporter, MONDAY + h * 3600, 10);
        }
        // The next day up to 09:00: the clock reaches the release time only with the 09:00 hour.
        for h in 24..33 {
            hour(&reporter, MONDAY + h * 3600, 1);
            reporter.checkpoint(0);
        }
        assert!(received.0.lock().unwrap().is_empty(), "nothing before 09:00 the next day");
        hour(&reporter, MONDAY + 33 * 3600, 1);
        reporter.checkpoint(0);
        assert!(received.0.lock().unwrap().is_empty(), "the clock that reached 09:00 is not settled yet");
        // A late update of the day's last hour in the same tick still counts.
        hour(&reporter, MONDAY + 23 * 3600, 11);
        reporter.checkpoint(0);
        let got = received.0.lock().unwrap().clone();
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].report.as_str(), got[0].date.as_str()), ("daily", "2026-03-02"));
        let digest: serde_json::Value = serde_json::from_str(&got[0].json).unwrap();
        assert_eq!(digest["messages"], 241, "23 hours of 10 and the last hour's later 11");
        assert!(got[0].markdown.contains("| payment | 241 | 0 | +241 |"), "{}", got[0].markdown);
        assert_eq!(reporter.recent().len(), 1);
        // Released once: later checkpoints do not repeat it.
        reporter.checkpoint(0);
        assert_eq!(received.0.lock().unwrap().len(), 1);
    }

    #[test]
    fn alerts_are_forgotten_once_no_report_can_read_them() {
        let daily = schedule("name = \"daily\"\nevery = \"1d\"\ndir = \"unused\"");
        let reporter = Reporter::new(vec![(daily, vec![])], None);
        for day in 0..10 {
            let mut alert = Alert::example();
            alert.fingerprint = format!("f{day}");
            alert.starts_at = crate::alerts::Timestamp((MONDAY + day * 86_400 + 600) * 1000);
            reporter.deliver(&alert);
            hour(&reporter, MONDAY + day * 86_400, 1);
            reporter.checkpoint(0);
        }
        reporter.flush();
        // Released through day 8; day 9 is next, compared with day 8: days 8 and 9 are kept.
        let kept: Vec<String> = reporter.alerts.lock().unwrap().iter().map(|a| a.fingerprint.clone()).collect();
        assert_eq!(kept, ["f8", "f9"]);
    }

    #[test]
    fn a_restart_continues_after_the_periods_a_previous_run_released() {
        let received = Arc::new(Received::default());
        let daily = schedule("name = \"daily\"\nevery = \"1d\"\ndir = \"unused\"");
        let reporter = Reporter::new(vec![(daily, vec![received.clone()])], None);
        // The previous run released Monday and Tuesday; the restored windows reach back to Monday.
        reporter.continue_after(&[("daily".into(), MONDAY + 2 * 86_400), ("other".into(), MONDAY + 9 * 86_400)]);
        for h in 0..(3 * 24 + 2) {
            hour(&reporter, MONDAY + h * 3600, 1);
        }
        reporter.flush();
        let dates: Vec<String> = received.0.lock().unwrap().iter().map(|d| d.date.clone()).collect();
        assert_eq!(dates, ["2026-03-04"], "only Wednesday is new");
    }

    #[test]
    fn a_report_keeps_only_matching_alerts_and_an_alerts_summary_replaces_it() {
        let received = Arc::new(Received::default());
        let shop = schedule("name = \"shop\"\nevery = \"1d\"\nmatch = { business = \"shop\" }\nredis = true");
        let reporter = Reporter::new(vec![(shop, vec![received.clone()])], None);
        hour(&reporter, MONDAY, 5);
        let mut alert = Alert::example();
        alert.rule = "spike".into();
        alert.starts_at = crate::alerts::Timestamp((MONDAY + 600) * 1000);
        alert.labels.insert("business".into(), "shop".into());
        let mut other = alert.clone();
        other.fingerprint = "other".into();
        other.labels.insert("business".into(), "hotel".into());
        reporter.deliver(&alert);
        reporter.deliver(&other);
        let mut summarised = alert.clone();
        summarised.llm_summary = Some("customers charged twice".into());
        reporter.deliver(&summarised);
        hour(&reporter, MONDAY + 86_400, 1);
        reporter.flush();
        let got = received.0.lock().unwrap().clone();
        assert_eq!(got.len(), 1, "the end of a run settles the clock");
        let digest: serde_json::Value = serde_json::from_str(&got[0].json).unwrap();
        assert_eq!(digest["alerts"][0]["fired"], 1, "the summary is the same firing, and hotel's is not shop's");
        assert_eq!(digest["alerts"].as_array().unwrap().len(), 1);
    }
}
