//! `{prefix}daily:{local date}:{key}:{value}`: a series' local day so far, summed from its hour
//! windows, for daily-report readers (one `HGETALL` per business line and day).

use super::resp::{cmd, Command};
use crate::records::window::{Agg, Series, WindowKey};
use crate::util::calendar::Calendar;
use differential_dataflow::difference::Semigroup;
use std::collections::{BTreeMap, HashMap};

pub(super) const HOUR_S: u32 = 3600;

/// Each series' hour windows by local day.
pub(super) struct Daily {
    calendar: Calendar,
    hours: HashMap<(Series, i64), BTreeMap<i64, Agg>>,
    /// The newest local day seen: days past the hour windows' retention are forgotten.
    newest_day: i64,
}

impl Daily {
    pub(super) fn new(calendar: Calendar) -> Self {
        Daily { calendar, hours: HashMap::new(), newest_day: i64::MIN }
    }

    /// Records an hour window's value; returns its local date and the day's sum so far.
    fn note_hour(&mut self, key: &WindowKey, agg: &Agg, retention_s: i64) -> (String, Agg) {
        let day = self.calendar.day_start(key.start_s);
        let hours = self.hours.entry((key.series.clone(), day)).or_default();
        hours.insert(key.start_s, *agg);
        let mut sum = Agg::default();
        for a in hours.values() {
            sum.plus_equals(a);
        }
        if day > self.newest_day {
            self.newest_day = day;
            let oldest = day - retention_s - 86_400;
            self.hours.retain(|(_, d), _| *d >= oldest);
        }
        (self.calendar.date_name(day), sum)
    }

    /// The commands writing the day hash of the hour window `key` now holding `agg`; it lives
    /// as long as the hour windows (`retention_s`) and a day more.
    pub(super) fn commands(&mut self, prefix: &str, key: &WindowKey, agg: &Agg, retention_s: i64) -> Vec<Command> {
        let (date, day) = self.note_hour(key, agg, retention_s);
        let hash = format!("{prefix}daily:{date}:{}:{}", key.series.key, key.series.value);
        let mut hset = cmd(["HSET", &hash]);
        for (field, value) in [
            ("count", day.count.to_string()),
            ("neg_count", day.neg.to_string()),
            ("sentiment_sum", format!("{:.3}", day.sent_sum as f64 / 1e3)),
            ("mean", format!("{:.3}", day.sentiment_mean())),
            ("negative_share", format!("{:.3}", day.negative_share())),
            ("timezone", self.calendar.name().to_string()),
        ] {
            hset.extend([field.as_bytes().to_vec(), value.into_bytes()]);
        }
        vec![hset, cmd(["EXPIRE", &hash, &(retention_s + 86_400).to_string()])]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Dimension;

    fn hour(start_s: i64) -> WindowKey {
        WindowKey { series: Series::new(Dimension::Business, "live"), size_s: HOUR_S, start_s }
    }

    fn fields(commands: &[Command]) -> (String, Vec<String>) {
        let text = |b: &Vec<u8>| String::from_utf8(b.clone()).unwrap();
        (text(&commands[0][1]), commands[0][2..].iter().map(text).collect())
    }

    #[test]
    fn a_local_day_sums_its_hours_and_a_changed_hour_replaces_its_value() {
        let mut daily = Daily::new(Calendar::named("Asia/Shanghai").unwrap());
        // 2026-11-11 00:00 +08:00 is 16:00 UTC the day before.
        let midnight = 1_794_326_400;
        let one = Agg { count: 3, neg: 1, sent_sum: -900, sent_sq: 0 };
        daily.commands("fp:", &hour(midnight - 3600), &one, 691_200);
        daily.commands("fp:", &hour(midnight), &one, 691_200);
        let commands = daily.commands("fp:", &hour(midnight + 3600), &one, 691_200);
        let (hash, values) = fields(&commands);
        assert_eq!(hash, "fp:daily:2026-11-11:business:live");
        assert_eq!(values[..6], ["count", "6", "neg_count", "2", "sentiment_sum", "-1.800"]);
        assert_eq!(values[10..], ["timezone", "Asia/Shanghai"]);
        // Late data raises an hour: its new value replaces the old one in the sum.
        let more = Agg { count: 5, neg: 1, sent_sum: -900, sent_sq: 0 };
        let (_, values) = fields(&daily.commands("fp:", &hour(midnight), &more, 691_200));
        assert_eq!(values[1], "8");
        // The hour before midnight belongs to the previous day.
        let (hash, values) = fields(&daily.commands("fp:", &hour(midnight - 3600), &one, 691_200));
        assert_eq!((hash.as_str(), values[1].as_str()), ("fp:daily:2026-11-10:business:live", "3"));
    }
}
