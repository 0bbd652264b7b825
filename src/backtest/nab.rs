//! `backtest --nab`: every Numenta Anomaly Benchmark series (`timestamp,value` CSV) is one key's
//! per-window value, scored row by row by the spike rule's own code (`dataflow::spike`), and
//! written as `OUT/<category>/<file>.csv` with `timestamp,value,anomaly_score` for NAB's scorer,
//! followed by the row's `surprise` (z) and shape `discord` (empty where not judged) so that a
//! score can be explained and other scorings of the same judgements tried without re-running
//! (`benches/nab_lab/rescore.py`).

use crate::config::RuleConfig;
use crate::dataflow::spike::SeriesScorer;
use crate::util::error::{bail_invalid, Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct NabReport {
    pub files: usize,
    pub rows: usize,
}

/// Scores every `DATA/<category>/*.csv`, spreading files over `threads`.
pub fn run(data: &Path, out: &Path, rule: &RuleConfig, threads: usize) -> Result<NabReport> {
    let files = series_files(data)?;
    if files.is_empty() {
        bail_invalid!("no <category>/<file>.csv under {}", data.display());
    }
    let next = AtomicUsize::new(0);
    let report = Mutex::new(NabReport::default());
    let first_error: Mutex<Option<crate::util::error::DataError>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((category, file)) = files.get(i) else { break };
                match score_file(&data.join(category).join(file), &out.join(category).join(file), rule) {
                    Ok(rows) => {
                        let mut r = report.lock().expect("report lock");
                        r.files += 1;
                        r.rows += rows;
                    }
                    Err(e) => {
                        first_error.lock().expect("error lock").get_or_insert(e);
                        break;
                    }
                }
            });
        }
    });
    if let Some(e) = first_error.into_inner().expect("error lock") {
        return Err(e);
    }
    Ok(report.into_inner().expect("report lock"))
}

/// `(category, file name)` of every CSV one level below `data`, sorted.
fn series_files(data: &Path) -> Result<Vec<(PathBuf, PathBuf)>> {
    let mut files = Vec::new();
    for category in std::fs::read_dir(data).with_context(|| format!("reading {}", data.display()))? {
        let category = category?.path();
        if !category.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&category)? {
            let file = file?.path();
            if file.extension().is_some_and(|x| x == "csv") {
                let name = |p: &Path| PathBuf::from(p.file_name().expect("listed entries have names"));
                files.push((name(&category), name(&file)));
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Scores one series; returns its row count.
fn score_file(input: &Path, output: &Path, rule: &RuleConfig) -> Result<usize> {
    let text = std::fs::read_to_string(input).with_context(|| format!("reading {}", input.display()))?;
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    if header.trim() != "timestamp,value" {
        bail_invalid!("{}: expected the header `timestamp,value`, found `{header}`", input.display());
    }
    if let Some(dir) = output.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut w = std::io::BufWriter::new(
        std::fs::File::create(output).with_context(|| format!("creating {}", output.display()))?,
    );
    writeln!(w, "timestamp,value,anomaly_score,surprise,discord")?;
    let mut rows = Vec::new();
    for (i, line) in lines.enumerate() {
        let Some((timestamp, value)) = line.split_once(',') else {
            bail_invalid!("{}:{}: expected timestamp,value", input.display(), i + 2);
        };
        let parsed: f64 =
            value.trim().parse().with_context(|| format!("{}:{}: value `{value}`", input.display(), i + 2))?;
        rows.push((timestamp, value, parsed));
    }
    let mut scorer = SeriesScorer::with_clock(rule, None, typical_step_ms(rows.iter().map(|(t, _, _)| *t)));
    // The value is written as the data has it, so the results match the data row by row.
    let column = |x: Option<f64>| x.map_or(String::new(), |x| format!("{x:.6}"));
    for (timestamp, text, value) in &rows {
        let score = scorer.push(*value);
        let (z, discord) = scorer.last_judged();
        let (z, discord) = (column(z), column(discord));
        writeln!(w, "{timestamp},{text},{score:.6},{z},{discord}")?;
    }
    let rows = rows.len();
    w.flush()?;
    Ok(rows)
}

/// The series' step: the median gap between consecutive timestamps (`YYYY-MM-DD HH:MM:SS`, as
/// NAB writes them), so that a day of an hourly series is 24 rows, not 288. `None` when the
/// timestamps do not parse or do not advance.
fn typical_step_ms<'a>(timestamps: impl Iterator<Item = &'a str>) -> Option<i64> {
    let parse = |t: &str| {
        chrono::NaiveDateTime::parse_from_str(t.trim(), "%Y-%m-%d %H:%M:%S%.f")
            .ok()
            .map(|d| d.and_utc().timestamp_millis())
    };
    let times: Option<Vec<i64>> = timestamps.map(parse).collect();
    let mut gaps: Vec<i64> = times?.windows(2).map(|w| w[1] - w[0]).filter(|g| *g > 0).collect();
    if gaps.is_empty() {
        return None;
    }
    let mid = gaps.len() / 2;
    Some(*gaps.select_nth_unstable(mid).1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_step_is_the_typical_gap() {
        let hourly = ["2013-07-04 00:00:00", "2013-07-04 01:00:00", "2013-07-04 02:00:00", "2013-07-04 05:00:00"];
        assert_eq!(typical_step_ms(hourly.into_iter()), Some(3_600_000), "one outage does not change the clock");
        let fractional = ["2015-02-26 21:42:53.000000", "2015-02-26 21:47:53.000000"];
        assert_eq!(typical_step_ms(fractional.into_iter()), Some(300_000));
        assert_eq!(typical_step_ms(["2014-07-01 00:00:00"].into_iter()), None);
        assert_eq!(typical_step_ms(["yesterday", "today"].into_iter()), None);
    }

    #[test]
    fn scores_follow_the_series_clock() {
        // Half-hourly rows (48 a day) with an irregular daily profile: only yesterday's same
        // half hour predicts a row. On day 4 one half hour takes another's usual value, normal
        // for the series but not for the time of day. With the rule's 5-minute window a "day"
        // would be 288 rows, the daily predictor would not exist yet, and nothing would notice.
        let dir = std::env::temp_dir().join(format!("fp-nab-clock-{}", std::process::id()));
        let (input, output) = (dir.join("in.csv"), dir.join("out.csv"));
        std::fs::create_dir_all(&dir).unwrap();
        let start = chrono::NaiveDate::from_ymd_opt(2014, 7, 1).unwrap().and_hms_opt(0, 0, 0).unwrap();
        let profile = |slot: i64| 100 + (slot * 7919 + 13) % 97 * 10;
        let odd = 48 * 4 + 20;
        let mut text = String::from("timestamp,value\n");
        for i in 0..48 * 6 {
            let t = start + chrono::Duration::minutes(30 * i);
            let slot = if i == odd { 21 } else { i % 48 };
            text.push_str(&format!("{},{}\n", t.format("%Y-%m-%d %H:%M:%S"), profile(slot) + (i * 31 % 7)));
        }
        assert!((profile(21) - profile(20)).abs() > 200, "the odd value differs from its slot's");
        std::fs::write(&input, text).unwrap();
        let rule = crate::config::Config::embedded_with_rules(crate::config::Source {
            name: "nab_rule.toml".into(),
            text: crate::backtest::NAB_RULE.into(),
        })
        .unwrap()
        .rules[0]
            .clone();
        assert_eq!(score_file(&input, &output, &rule).unwrap(), 48 * 6);
        let out = std::fs::read_to_string(&output).unwrap();
        let scores: Vec<f64> = out.lines().skip(1).map(|l| l.split(',').nth(2).unwrap().parse().unwrap()).collect();
        std::fs::remove_dir_all(&dir).ok();
        // Four days of memory cannot rank anything one in 500; the top percent can be told.
        assert!(scores[odd as usize] >= 0.99, "the out-of-place half hour scored {}", scores[odd as usize]);
        // A day later the daily predictor compares with the odd value itself (its echo, a known
        // cost of same-time-yesterday forecasts); every other half hour must stay quiet.
        let echo = odd as usize + 48;
        let loud: Vec<usize> =
            (48 * 3..48 * 6).filter(|i| ![odd as usize, echo].contains(i) && scores[*i] >= 0.99).collect();
        assert!(loud.is_empty(), "the learnt daily profile alerted at rows {loud:?}");
    }
}
