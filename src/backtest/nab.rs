//! `backtest --nab`: every Numenta Anomaly Benchmark series (`timestamp,value` CSV) is one key's
//! per-window value, scored row by row by the spike rule's own code (`dataflow::spike`), and
//! written as `OUT/<category>/<file>.csv` with `timestamp,value,anomaly_score` for NAB's scorer.

use crate::config::RuleConfig;
use crate::dataflow::spike::SeriesScorer;
use anyhow::{bail, Context, Result};
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
        bail!("no <category>/<file>.csv under {}", data.display());
    }
    let next = AtomicUsize::new(0);
    let report = Mutex::new(NabReport::default());
    let first_error: Mutex<Option<anyhow::Error>> = Mutex::new(None);
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
        bail!("{}: expected the header `timestamp,value`, found `{header}`", input.display());
    }
    if let Some(dir) = output.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut w = std::io::BufWriter::new(
        std::fs::File::create(output).with_context(|| format!("creating {}", output.display()))?,
    );
    writeln!(w, "timestamp,value,anomaly_score")?;
    let mut scorer = SeriesScorer::new(rule, None);
    let mut rows = 0;
    for (i, line) in lines.enumerate() {
        let Some((timestamp, value)) = line.split_once(',') else {
            bail!("{}:{}: expected timestamp,value", input.display(), i + 2);
        };
        let parsed: f64 =
            value.trim().parse().with_context(|| format!("{}:{}: value `{value}`", input.display(), i + 2))?;
        writeln!(w, "{timestamp},{value},{:.6}", scorer.push(parsed))?;
        rows += 1;
    }
    w.flush()?;
    Ok(rows)
}
