//! The commands: each runs one way of using feedpulse (replay, run, demo, backtest, report,
//! enrich)
//! and wires the stages together for it; each owns its arguments (a clap `Args` struct), its run
//! and its output. `main.rs` parses the command line and dispatches here.

/// Prints a line to stdout, ignoring a closed pipe (`feedpulse run | head` must not panic).
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

pub mod backtest;
pub mod check_config;
pub mod demo;
pub mod enrich;
pub mod eval;
pub mod models;
pub mod pipeline;
pub mod replay;
pub mod report;
pub mod serve;
