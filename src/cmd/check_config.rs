//! `feedpulse check-config`: validate a configuration directory and report every problem at once.

use crate::config::Config;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct CheckConfigArgs {
    /// A directory holding `dataflows/` and `alerts/` (or a `dataflows/` directory).
    pub dir: PathBuf,
}

impl CheckConfigArgs {
    /// Prints a one-line summary; every problem and exit status 1 when the configuration is bad.
    pub fn run(self) -> anyhow::Result<()> {
        match Config::load_dir(&self.dir) {
            Ok(c) => {
                println!(
                    "{}: ok ({} windows, {} categories, {} rules)",
                    self.dir.display(),
                    c.windows.len(),
                    c.categories.len(),
                    c.rules.len()
                );
                Ok(())
            }
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1);
            }
        }
    }
}
