//! `[[report]]` in `alerts/*.toml`: a digest of every local day or week, released at a local
//! time in event time, and where it goes (docs/alerting.md § Digests).

use crate::util::calendar::Calendar;
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportConfig {
    pub name: String,
    /// `1d` (local days) or `1w` (weeks from local Monday).
    pub every: String,
    /// When a period's digest is released: `HH:MM` after the period ends (the next day's), or
    /// for weeks `Ddd HH:MM` (`Mon 09:00`, the default for weeks; `00:00` for days).
    pub at: Option<String>,
    /// IANA zone of the periods; the `[calendar]` zone otherwise.
    pub timezone: Option<String>,
    /// Only the alerts, new clusters and high-risk messages whose labels all match
    /// (`match = { business = "shop" }`); the volume sections stay the whole stream's.
    #[serde(default, rename = "match")]
    pub match_eq: std::collections::BTreeMap<String, String>,
    /// Writes `{date}.md` and `{date}.json` here.
    pub dir: Option<PathBuf>,
    /// Adds each digest to the Redis stream `{prefix}reports` (needs `[redis]`).
    #[serde(default)]
    pub redis: bool,
    /// Names of `[[webhook]]` receivers each digest is POSTed to.
    #[serde(default)]
    pub webhooks: Vec<String>,
}

/// A validated `[[report]]`: its period in days, its zone and its release offset.
#[derive(Clone, Debug, PartialEq)]
pub struct ReportSchedule {
    pub config: ReportConfig,
    pub every_days: i64,
    pub calendar: Calendar,
    /// Days after the period's end (for weeks: the weekday's distance from Monday) and seconds
    /// after that day's local midnight.
    pub release_days: i64,
    pub release_s: i64,
}

const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

impl ReportConfig {
    /// The schedule, or every problem with the table (zone from `[calendar]` unless given).
    pub fn schedule(&self, default_calendar: &Calendar) -> Result<ReportSchedule, Vec<String>> {
        let mut problems = Vec::new();
        let every_days = match self.every.as_str() {
            "1d" => 1,
            "1w" | "7d" => 7,
            other => {
                problems.push(format!("every must be `1d` or `1w`, not `{other}`"));
                1
            }
        };
        let calendar = match &self.timezone {
            Some(zone) => Calendar::named(zone).unwrap_or_else(|e| {
                problems.push(format!("timezone: {e}"));
                Calendar::utc()
            }),
            None => default_calendar.clone(),
        };
        let default_at = if every_days == 7 { "Mon 00:00" } else { "00:00" };
        let at = self.at.as_deref().unwrap_or(default_at);
        let (release_days, release_s) = parse_at(at, every_days).unwrap_or_else(|e| {
            problems.push(e);
            (0, 0)
        });
        if self.dir.is_none() && !self.redis && self.webhooks.is_empty() {
            problems.push("names no output: give `dir`, `redis = true` or `webhooks`".into());
        }
        if self.name.trim().is_empty() || self.name.contains(['/', '\\']) {
            problems.push(format!("name `{}` must be non-empty, without slashes", self.name));
        }
        if problems.is_empty() {
            Ok(ReportSchedule { config: self.clone(), every_days, calendar, release_days, release_s })
        } else {
            Err(problems)
        }
    }
}

/// `HH:MM` → (0, seconds); `Ddd HH:MM` (weeks only) → (days from Monday, seconds).
fn parse_at(at: &str, every_days: i64) -> Result<(i64, i64), String> {
    let bad = || format!("at `{at}` must be `HH:MM`, or for weeks `Ddd HH:MM` (`Mon 09:00`)");
    let (day, time) = match at.trim().split_once(' ') {
        Some((day, time)) => {
            let day = WEEKDAYS.iter().position(|d| d.eq_ignore_ascii_case(day)).ok_or_else(bad)? as i64;
            if every_days != 7 {
                return Err(format!("at `{at}` names a weekday; only weekly reports (`every = \"1w\"`) can"));
            }
            (day, time)
        }
        None => (0, at.trim()),
    };
    let (h, m) = time.split_once(':').ok_or_else(bad)?;
    let (h, m): (i64, i64) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if !(0..24).contains(&h) || !(0..60).contains(&m) || time.len() != 5 {
        return Err(bad());
    }
    Ok((day, h * 3600 + m * 60))
}

impl ReportSchedule {
    /// The period `[start, end)` containing `ts_s`, and the start of the period before it.
    pub fn period_of(&self, ts_s: i64) -> (i64, i64, i64) {
        let start = if self.every_days == 7 { self.calendar.week_start(ts_s) } else { self.calendar.day_start(ts_s) };
        self.period_from(start)
    }

    /// The period starting at `start`.
    pub fn period_from(&self, start: i64) -> (i64, i64, i64) {
        let end = self.calendar.day_start_after(start, self.every_days);
        (start, end, self.calendar.day_start_after(start, -self.every_days))
    }

    /// When the digest of the period ending at `end` is released (local clock time).
    pub fn release(&self, end: i64) -> i64 {
        self.calendar.day_start_after(end, self.release_days) + self.release_s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(text: &str) -> ReportConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn at_is_a_local_time_after_the_period() {
        let shanghai = Calendar::named("Asia/Shanghai").unwrap();
        let weekly =
            report("name = \"w\"\nevery = \"1w\"\nat = \"Mon 09:30\"\ndir = \"/tmp/r\"").schedule(&shanghai).unwrap();
        // 2026-01-01 (Thursday) lies in the week of Monday 2025-12-29; released Monday
        // 2026-01-05 09:30 +08:00.
        let (start, end, previous) = weekly.period_of(1_767_225_600);
        assert_eq!(shanghai.date_name(start), "2025-12-29");
        assert_eq!((end - start, start - previous), (7 * 86_400, 7 * 86_400));
        assert_eq!(weekly.release(end), end + 9 * 3600 + 1800);
        let friday =
            report("name = \"w\"\nevery = \"1w\"\nat = \"fri 17:00\"\nredis = true").schedule(&shanghai).unwrap();
        assert_eq!(friday.release(end), end + 4 * 86_400 + 17 * 3600);
        let daily = report("name = \"d\"\nevery = \"1d\"\nwebhooks = [\"ops\"]\ntimezone = \"UTC\"")
            .schedule(&shanghai)
            .unwrap();
        let (start, end, _) = daily.period_of(1_767_225_600 + 3600);
        assert_eq!((start, end, daily.release(end)), (1_767_225_600, 1_767_312_000, 1_767_312_000));
    }

    #[test]
    fn every_problem_is_reported() {
        let bad = report("name = \"a/b\"\nevery = \"2d\"\nat = \"Mon 25:00\"\ntimezone = \"Mars/Olympus\"");
        let problems = bad.schedule(&Calendar::utc()).unwrap_err();
        assert_eq!(problems.len(), 5, "{problems:?}");
        for expected in ["every must be", "timezone", "at `Mon 25:00`", "names no output", "without slashes"] {
            assert!(problems.iter().any(|p| p.contains(expected)), "{expected}: {problems:?}");
        }
        let daily_weekday = report("name = \"d\"\nevery = \"1d\"\nat = \"Tue 09:00\"\ndir = \"x\"");
        assert!(daily_weekday.schedule(&Calendar::utc()).unwrap_err()[0].contains("only weekly"));
    }
}
