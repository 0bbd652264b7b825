//! Local days: windows of a day or longer start at local midnight of a configured time zone,
//! so a `1d` window in China runs from 00:00 to 00:00 Beijing time, not 08:00 to 08:00. Shorter
//! windows stay aligned to the epoch (every zone in use is a whole number of quarter hours
//! from UTC, so an hour window is a local hour wherever the offset is whole hours).

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::Timestamp;

const DAY_S: i64 = 86_400;

/// A time zone's calendar. Cloning shares the zone's rules.
#[derive(Clone, Debug)]
pub struct Calendar {
    name: String,
    zone: TimeZone,
    /// UTC: days are epoch-aligned, and every computation is arithmetic.
    utc: bool,
}

impl PartialEq for Calendar {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Default for Calendar {
    fn default() -> Self {
        Calendar::utc()
    }
}

impl Calendar {
    pub fn utc() -> Calendar {
        Calendar { name: "UTC".into(), zone: TimeZone::UTC, utc: true }
    }

    /// The calendar of an IANA zone (`Asia/Shanghai`, `Europe/Berlin`, `UTC`).
    pub fn named(name: &str) -> Result<Calendar, String> {
        let zone = TimeZone::get(name)
            .map_err(|_| format!("unknown time zone `{name}` (an IANA name such as Asia/Shanghai)"))?;
        let utc = zone.to_fixed_offset().is_ok_and(|o| o.seconds() == 0);
        Ok(Calendar { name: name.to_string(), zone, utc })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether every offset the zone has used since 1970 is a whole number of hours, so an
    /// hour window is always a local hour (day-over-day rules sum local days out of them).
    pub fn whole_hours(&self) -> bool {
        if self.utc {
            return true;
        }
        let mut at = Timestamp::UNIX_EPOCH;
        let mut checked = 0;
        loop {
            if self.zone.to_offset(at).seconds() % 3600 != 0 {
                return false;
            }
            match self.zone.following(at).next() {
                Some(t) if checked < 1000 => {
                    at = t.timestamp();
                    checked += 1;
                }
                _ => return true,
            }
        }
    }

    /// Whether the zone's offset has not changed since 2000 (UTC, Asia/Shanghai; not
    /// Europe/Berlin): its days are all 24 hours long.
    pub fn steady(&self) -> bool {
        self.utc
            || self
                .zone
                .following(Timestamp::from_second(946_684_800).unwrap_or(Timestamp::UNIX_EPOCH))
                .next()
                .is_none()
    }

    fn date(&self, ts_s: i64) -> Date {
        let ts = Timestamp::from_second(ts_s).unwrap_or(Timestamp::UNIX_EPOCH);
        self.zone.to_datetime(ts).date()
    }

    /// Local midnight (epoch s) starting `date`. A zone that skips midnight on a day starts it
    /// at its first instant.
    fn midnight(&self, date: Date) -> i64 {
        date.to_zoned(self.zone.clone()).map_or(0, |z| z.timestamp().as_second())
    }

    /// Local midnight at or before `ts_s`.
    pub fn day_start(&self, ts_s: i64) -> i64 {
        if self.utc {
            return ts_s.div_euclid(DAY_S) * DAY_S;
        }
        self.midnight(self.date(ts_s))
    }

    /// Local midnight `days` days after (or, negative, before) the local day holding `ts_s`.
    pub fn day_start_after(&self, ts_s: i64, days: i64) -> i64 {
        if self.utc {
            return ts_s.div_euclid(DAY_S) * DAY_S + days * DAY_S;
        }
        let date = self.date(ts_s);
        self.midnight(date.checked_add(jiff::Span::new().days(days)).unwrap_or(date))
    }

    /// Local midnight of the Monday at or before `ts_s` (a week's start).
    pub fn week_start(&self, ts_s: i64) -> i64 {
        let date = self.date(ts_s);
        let back = date.weekday().to_monday_zero_offset() as i64;
        self.day_start_after(ts_s, -back)
    }

    /// The local date of `ts_s`, `2026-11-11`.
    pub fn date_name(&self, ts_s: i64) -> String {
        self.date(ts_s).to_string()
    }

    /// Seconds since local midnight of the instant `ts_s` (23 h on the day clocks go forward).
    pub fn since_midnight(&self, ts_s: i64) -> i64 {
        ts_s - self.day_start(ts_s)
    }

    /// The start (epoch s) of the window of `size_s` seconds holding `ts_ms`. Whole-day sizes
    /// start at local midnight, on days counted from 1970-01-01 local; others at multiples of
    /// the size since the epoch.
    pub fn window_start(&self, ts_ms: i64, size_s: u32) -> i64 {
        let size = size_s as i64;
        let ts_s = ts_ms.div_euclid(1000);
        if self.utc || size % DAY_S != 0 {
            return ts_s.div_euclid(size) * size;
        }
        let date = self.date(ts_s);
        let epoch_day = date.since(Date::constant(1970, 1, 1)).map_or(0, |s| s.get_days() as i64);
        let back = epoch_day.rem_euclid(size / DAY_S);
        self.day_start_after(ts_s, -back)
    }

    /// The end (epoch s) of the window of `size_s` starting at `start_s`: the next local
    /// midnight for whole days (23 or 25 hours later across a daylight-saving change).
    pub fn window_end(&self, start_s: i64, size_s: u32) -> i64 {
        self.window_after(start_s, size_s, 1)
    }

    /// The start of the window `k` windows after (negative: before) the one starting at `start_s`.
    pub fn window_after(&self, start_s: i64, size_s: u32, k: i64) -> i64 {
        let size = size_s as i64;
        if self.utc || size % DAY_S != 0 {
            return start_s + k * size;
        }
        self.day_start_after(start_s, k * (size / DAY_S))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> i64 {
        text.parse::<Timestamp>().unwrap().as_second()
    }

    #[test]
    fn a_day_in_shanghai_starts_at_local_midnight() {
        let c = Calendar::named("Asia/Shanghai").unwrap();
        let last = at("2026-11-11T23:59:59.999+08:00") * 1000 + 999;
        let first = at("2026-11-12T00:00:00+08:00") * 1000;
        assert_eq!(c.window_start(last, 86_400), at("2026-11-11T00:00:00+08:00"));
        assert_eq!(c.window_start(first, 86_400), at("2026-11-12T00:00:00+08:00"));
        assert_eq!(c.date_name(last / 1000), "2026-11-11");
        assert_eq!(c.date_name(first / 1000), "2026-11-12");
        // The same instants in UTC fall in one day (16:00 to 16:00 local).
        let utc = Calendar::utc();
        assert_eq!(utc.window_start(last, 86_400), utc.window_start(first, 86_400));
        // Hours stay epoch-aligned, which is local in a whole-hour zone.
        assert_eq!(c.window_start(first, 3600), at("2026-11-12T00:00:00+08:00"));
        assert!(c.whole_hours() && c.steady());
        assert!(!Calendar::named("Asia/Kolkata").unwrap().whole_hours());
        assert!(!Calendar::named("Europe/Berlin").unwrap().steady());
    }

    #[test]
    fn days_across_a_daylight_saving_change_are_23_and_25_hours() {
        let c = Calendar::named("Europe/Berlin").unwrap();
        // Clocks went forward on 2026-03-29 at 02:00 and back on 2026-10-25 at 03:00.
        let spring = at("2026-03-29T12:00:00+02:00");
        let start = c.window_start(spring * 1000, 86_400);
        assert_eq!(start, at("2026-03-29T00:00:00+01:00"));
        assert_eq!(c.window_end(start, 86_400) - start, 23 * 3600);
        assert_eq!(c.window_after(start, 86_400, -1), at("2026-03-28T00:00:00+01:00"));
        let autumn = c.window_start(at("2026-10-25T23:30:00+01:00") * 1000, 86_400);
        assert_eq!(autumn, at("2026-10-25T00:00:00+02:00"));
        assert_eq!(c.window_end(autumn, 86_400) - autumn, 25 * 3600);
        assert_eq!(c.since_midnight(at("2026-10-25T12:00:00+01:00")), 13 * 3600);
        // A week window starts at local midnight too.
        let week = c.window_start(spring * 1000, 7 * 86_400);
        assert_eq!(c.since_midnight(week), 0);
        assert!(week <= spring && c.window_end(week, 7 * 86_400) > spring);
    }

    #[test]
    fn unknown_zones_say_so() {
        assert!(Calendar::named("Mars/Olympus").unwrap_err().contains("unknown time zone"));
        assert!(Calendar::named("UTC").unwrap().utc);
    }
}
