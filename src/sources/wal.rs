//! The write-ahead log of durable HTTP ingest without Redis (`[ingest] durable = true` with
//! `wal = DIR`): each accepted request's records are appended to a segment file and synced to
//! disk before the client hears `202`; at start, the segments a previous run left are fed to the
//! dataflow again before the server is ready, so a `kill -9` or a power cut loses nothing that
//! was acknowledged. A segment is deleted once every record in it is older than the longest
//! window's retention behind the newest record: the dataflow would refuse it as too late.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// A segment is closed and the next begun beyond this size.
const SEGMENT_BYTES: u64 = 64 << 20;

pub struct Wal {
    dir: PathBuf,
    keep_ms: i64,
    state: Mutex<Segments>,
}

struct Segments {
    /// The segment being written: its number, file, size and newest record time.
    number: u64,
    file: File,
    bytes: u64,
    newest_ms: i64,
    /// Closed segments and their newest record time (`i64::MAX` until known).
    closed: Vec<(u64, i64)>,
    /// The newest record time seen.
    clock_ms: i64,
}

fn segment_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("wal-{number:010}.ndjson"))
}

impl Wal {
    /// Opens the log in `dir` (created if missing) and begins a new segment after those left
    /// there, which are returned, oldest first, for the caller to replay.
    pub fn open(dir: &Path, keep_ms: i64) -> std::io::Result<(Wal, Vec<PathBuf>)> {
        std::fs::create_dir_all(dir)?;
        let mut numbers: Vec<u64> = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok()?.file_name().to_str()?.strip_prefix("wal-")?.strip_suffix(".ndjson")?.parse().ok())
            .collect();
        numbers.sort_unstable();
        let number = numbers.last().map_or(1, |n| n + 1);
        let file = OpenOptions::new().create_new(true).append(true).open(segment_path(dir, number))?;
        let segments = Segments {
            number,
            file,
            bytes: 0,
            newest_ms: i64::MIN,
            closed: numbers.iter().map(|n| (*n, i64::MAX)).collect(),
            clock_ms: i64::MIN,
        };
        let left = numbers.iter().map(|n| segment_path(dir, *n)).collect();
        Ok((Wal { dir: dir.to_owned(), keep_ms, state: Mutex::new(segments) }, left))
    }

    /// The log's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends one request's records (one line each) and syncs them to disk; `newest_ms` is the
    /// newest event time among them. `Ok` means they survive a crash.
    pub fn append(&self, records: &[&[u8]], newest_ms: i64) -> std::io::Result<()> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut buffer = Vec::with_capacity(records.iter().map(|r| r.len() + 1).sum());
        for record in records {
            // A record is one JSON value: its own newlines are whitespace, and go.
            buffer.extend(record.iter().map(|b| if *b == b'\n' || *b == b'\r' { b' ' } else { *b }));
            buffer.push(b'\n');
        }
        s.file.write_all(&buffer)?;
        s.file.sync_data()?;
        s.bytes += buffer.len() as u64;
        s.newest_ms = s.newest_ms.max(newest_ms);
        s.clock_ms = s.clock_ms.max(newest_ms);
        if s.bytes >= SEGMENT_BYTES {
            let next = s.number + 1;
            let file = OpenOptions::new().create_new(true).append(true).open(segment_path(&self.dir, next))?;
            let closed = (s.number, s.newest_ms);
            s.closed.push(closed);
            (s.number, s.file, s.bytes, s.newest_ms) = (next, file, 0, i64::MIN);
        }
        self.prune(&mut s)
    }

    /// A segment left by a previous run has been replayed: its newest record time.
    pub fn replayed(&self, path: &Path, newest_ms: i64) -> std::io::Result<()> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        for (number, newest) in s.closed.iter_mut() {
            if segment_path(&self.dir, *number) == path {
                *newest = newest_ms;
            }
        }
        s.clock_ms = s.clock_ms.max(newest_ms);
        self.prune(&mut s)
    }

    /// Deletes the closed segments whose records are all older than `keep_ms` behind the clock.
    fn prune(&self, s: &mut Segments) -> std::io::Result<()> {
        let horizon = s.clock_ms.saturating_sub(self.keep_ms);
        while let Some(at) = s.closed.iter().position(|(_, newest)| *newest < horizon) {
            let (number, _) = s.closed.remove(at);
            std::fs::remove_file(segment_path(&self.dir, number))?;
        }
        Ok(())
    }

    /// The segments on disk, oldest first (for tests and the docs' examples).
    pub fn segments(&self) -> Vec<PathBuf> {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.closed.iter().map(|(n, _)| *n).chain([s.number]).map(|n| segment_path(&self.dir, n)).collect()
    }
}

/// The records of a segment, in batches of at most `batch` lines (a torn last line, from a crash
/// mid-write, is among them: it was never acknowledged, and admission dead-letters it).
pub fn read_segment(path: &Path, batch: usize, mut each: impl FnMut(&[String])) -> std::io::Result<()> {
    let mut lines = Vec::with_capacity(batch);
    for line in BufReader::new(File::open(path)?).lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        lines.push(line);
        if lines.len() == batch {
            each(&lines);
            lines.clear();
        }
    }
    if !lines.is_empty() {
        each(&lines);
    }
    Ok(())
}

/// Feeds what a previous run logged to the dataflow, oldest segment first, as HTTP ingest fed
/// it (admitted again: dead letters counted, duplicates by id dropped by the dataflow), and
/// tells the log each segment's newest time. Returns how many records were read.
pub fn replay(
    wal: &Wal,
    left: &[PathBuf],
    feed: &crate::feed::FeedSender,
    admission: &crate::admit::Admission,
    metrics: &crate::telemetry::Metrics,
    outputs: &crate::sinks::Fanout,
) -> std::io::Result<u64> {
    let now = chrono::Utc::now().timestamp_millis();
    let mut read = 0;
    for path in left {
        let mut newest = i64::MIN;
        read_segment(path, 1024, |lines| {
            let records: Vec<&[u8]> = lines.iter().map(|l| l.as_bytes()).collect();
            metrics.received(crate::telemetry::SourceKind::Wal, records.len() as u64);
            read += records.len() as u64;
            let admitted = admission.admit_batch(&records, now, "wal");
            for (_, dead) in &admitted.dead {
                outputs.dead_letter(dead);
            }
            newest = admitted.events.iter().map(|e| e.ts_ms).fold(newest, i64::max);
            if !admitted.events.is_empty() {
                // Only fails once the dataflow has stopped, when nothing more can be counted.
                let _ = feed.send(admitted.events);
            }
        })?;
        wal.replayed(path, newest)?;
    }
    Ok(read)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("fp-wal-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn all_lines(paths: &[PathBuf]) -> Vec<String> {
        let mut out = Vec::new();
        for p in paths {
            read_segment(p, 2, |batch| out.extend_from_slice(batch)).unwrap();
        }
        out
    }

    #[test]
    fn what_one_run_appends_the_next_finds_in_order() {
        let dir = temp("reopen");
        let (wal, left) = Wal::open(&dir, 3_600_000).unwrap();
        assert!(left.is_empty());
        wal.append(&[b"{\"id\":1}", b"{\"id\":\n2}"], 1_000).unwrap();
        wal.append(&[b"{\"id\":3}"], 2_000).unwrap();
        drop(wal);
        let (wal, left) = Wal::open(&dir, 3_600_000).unwrap();
        assert_eq!(all_lines(&left), ["{\"id\":1}", "{\"id\": 2}", "{\"id\":3}"], "one line per record");
        wal.append(&[b"{\"id\":4}"], 3_000).unwrap();
        drop(wal);
        let (_, left) = Wal::open(&dir, 3_600_000).unwrap();
        assert_eq!(all_lines(&left).len(), 4, "both runs' segments, oldest first");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_segment_goes_once_everything_in_it_is_too_old_to_count() {
        let dir = temp("prune");
        let (wal, _) = Wal::open(&dir, 10_000).unwrap();
        wal.append(&[b"{}"], 5_000).unwrap();
        drop(wal);
        let (wal, left) = Wal::open(&dir, 10_000).unwrap();
        wal.replayed(&left[0], 5_000).unwrap();
        wal.append(&[b"{}"], 14_000).unwrap();
        assert!(left[0].exists(), "9 s behind the newest record: still within retention");
        wal.append(&[b"{}"], 15_001).unwrap();
        assert!(!left[0].exists(), "more than 10 s behind: deleted");
        assert_eq!(wal.segments().len(), 1, "the segment being written stays");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_segment_left_behind_is_kept_until_its_times_are_known() {
        let dir = temp("unknown");
        let (wal, _) = Wal::open(&dir, 10).unwrap();
        wal.append(&[b"{}"], 0).unwrap();
        drop(wal);
        let (wal, left) = Wal::open(&dir, 10).unwrap();
        wal.append(&[b"{}"], 1_000_000).unwrap();
        assert!(left[0].exists(), "not replayed yet: its newest time is unknown");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
