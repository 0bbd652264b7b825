//! Backtesting a spike rule's detector on labelled series: `--nab` scores Numenta Anomaly
//! Benchmark series with the rule's own detector code (`feedpulse backtest --input` replays
//! history through the live dataflow: `crate::cmd::backtest`).

pub mod nab;

/// The rule `backtest --nab` uses unless `--rules` names another.
pub const NAB_RULE: &str = include_str!("../../benches/nab_rule.toml");
