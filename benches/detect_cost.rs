//! What the live detector costs per judged window: the shipped rules (`category_spike` with
//! `min_expected`, on 1m–1h windows) over many category series, and the NAB rule (rarity with
//! the shape view) per row, as `backtest --nab` runs it.
//!
//!   cargo bench --bench detect_cost -- [SERIES]      (default: 200 series, a day of minutes)
//!
//! Each minute every series gets its messages (Poisson-like counts around its own rate, from
//! a few an hour to a hundred a minute) as the dataflow would hand them over: the new count of
//! each window size containing the minute, retracting the old one. Prints the time per tick, per
//! series-minute, and per judgement (the detector's `WindowJudgement`s).

use feedpulse::config::{Config, Dimension};
use feedpulse::dataflow::detect::{DetectIn, DetectorState};
use feedpulse::records::window::{window_start, Agg, Series, WindowKey};
use feedpulse::util::SplitMix;
use std::collections::HashMap;
use std::time::Instant;

fn main() {
    let series_n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(200);
    live(series_n);
    nab_rule();
}

fn live(series_n: usize) {
    let config = Config::embedded();
    let sizes: Vec<u32> = config.windows.iter().map(|w| w.size.as_secs()).collect();
    let mut detector = DetectorState::new(&config);
    let series: Vec<Series> = (0..series_n).map(|i| Series::new(Dimension::Category, format!("c{i}"))).collect();
    // Rates per minute from 0.05 (three an hour) to 100, spread log-uniformly.
    let rates: Vec<f64> = (0..series_n).map(|i| 0.05 * 2000f64.powf(i as f64 / series_n.max(2) as f64)).collect();
    let mut rng = SplitMix::new(7);
    let mut counts: HashMap<(usize, u32, i64), i64> = HashMap::new();
    let (mut ticks, mut judged) = (0u64, 0u64);
    let mut busy = std::time::Duration::ZERO;
    for minute in 0..1440i64 {
        let mut items = Vec::new();
        for (i, s) in series.iter().enumerate() {
            let n = rng.poisson(rates[i].min(30.0)) as i64 + if rates[i] > 30.0 { rates[i] as i64 - 30 } else { 0 };
            if n == 0 {
                continue;
            }
            for &size in &sizes {
                let start = window_start(minute * 60_000, size);
                let c = counts.entry((i, size, start)).or_default();
                let key = WindowKey { series: s.clone(), size_s: size, start_s: start };
                if *c > 0 {
                    items.push(DetectIn::Window(key.clone(), Agg { count: *c, ..Default::default() }, -1));
                }
                *c += n;
                items.push(DetectIn::Window(key, Agg { count: *c, ..Default::default() }, 1));
            }
        }
        items.push(DetectIn::Clock(minute * 60_000 + 59_999));
        let started = Instant::now();
        detector.process_tick(items);
        busy += started.elapsed();
        judged += detector.take_judgements().len() as u64;
        ticks += 1;
    }
    println!("live detector, shipped rules, {series_n} category series, a day of one-minute ticks:");
    println!(
        "  {:.1} µs per tick, {:.2} µs per series-minute, {:.2} µs per judgement ({judged} judgements)",
        busy.as_secs_f64() * 1e6 / ticks as f64,
        busy.as_secs_f64() * 1e6 / (ticks as f64 * series_n as f64),
        busy.as_secs_f64() * 1e6 / judged.max(1) as f64
    );
}

fn nab_rule() {
    let text = include_str!("nab_rule.toml").to_string();
    let config = Config::embedded_with_rules(feedpulse::config::Source { name: "nab_rule.toml".into(), text })
        .expect("the NAB rule is valid");
    let rule = &config.rules[0];
    let mut scorer = feedpulse::dataflow::spike::SeriesScorer::new(rule, None);
    let mut rng = SplitMix::new(3);
    let rows = 20_000;
    let started = Instant::now();
    let mut sum = 0.0;
    for i in 0..rows {
        let daily = (std::f64::consts::TAU * (i % 288) as f64 / 288.0).sin();
        sum += scorer.push(100.0 + 30.0 * daily + 5.0 * (rng.unit() - 0.5));
    }
    let elapsed = started.elapsed();
    println!(
        "NAB rule (level+daily+weekly+step, rarity over 8000, shape view of 12): {:.1} µs per row over {rows} rows (checksum {sum:.1})",
        elapsed.as_secs_f64() * 1e6 / rows as f64
    );
}
