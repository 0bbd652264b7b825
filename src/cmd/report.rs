//! `feedpulse report --input FILE --every 1d|1w`: the digests of history, built in event time
//! from the same dataflow and rules as live (`src/report/`).

use crate::cmd::backtest::history;
use crate::cmd::pipeline::PipelineArgs;
use crate::report::{digest, periods, publish, DigestFiles, Rollups};
use crate::sinks::Fanout;
use anyhow::Context;
use std::path::PathBuf;
use std::sync::Arc;

/// `feedpulse report`.
#[derive(clap::Args)]
pub struct ReportArgs {
    /// NDJSON history (`-` for stdin).
    #[arg(long)]
    pub input: String,
    /// The period of each digest: `1d` (local days) or `1w` (weeks from local Monday), in the
    /// `[calendar]` zone.
    #[arg(long, default_value = "1d")]
    pub every: String,
    /// Print the digests as JSON lines instead of Markdown.
    #[arg(long)]
    pub json: bool,
    /// Also write each digest to DIR as `{start date}.md` and `{start date}.json`.
    #[arg(long)]
    pub out_dir: Option<PathBuf>,
    /// Records per processing tick (1: alerts as live; larger: faster).
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

impl ReportArgs {
    pub fn run(self) -> anyhow::Result<()> {
        let every_days = match self.every.as_str() {
            "1d" => 1,
            "1w" | "7d" => 7,
            other => anyhow::bail!("--every must be 1d or 1w, not `{other}`"),
        };
        let pipeline = self.pipeline.into_options()?;
        let rollups = Arc::new(Rollups::default());
        let extra = Fanout { windows: vec![rollups.clone()], kpis: vec![rollups.clone()], ..Fanout::default() };
        let alerts = history(&pipeline, &self.input, self.batch, extra)?.alerts;
        let calendar = &pipeline.config.calendar;
        let Some((first, last)) = rollups.span() else {
            anyhow::bail!("no hourly window was counted: is the input empty, or has the dataflow no 1h window?")
        };
        let files = match &self.out_dir {
            Some(dir) => Some(DigestFiles::new(dir.clone()).with_context(|| format!("creating {}", dir.display()))?),
            None => None,
        };
        for (start, end, previous) in periods(every_days, first, last, calendar) {
            let d = publish(&self.every, &digest(&rollups, &alerts, start, end, previous, calendar), start, calendar);
            if let Some(files) = &files {
                files.write(&d)?;
            }
            println!("{}", if self.json { &d.json } else { &d.markdown });
        }
        Ok(())
    }
}
