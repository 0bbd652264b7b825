//! NDJSON from a file or stdin: a reader thread cuts the input into batches of lines, parser
//! threads admit them in parallel, and a reorder stage hands them to the dataflow in input order,
//! one batch per tick. Every channel is bounded, so memory stays flat however large the input.

use crate::admit::Admission;
use crate::event::Event;
use crate::feed::Spent;
use crate::sinks::Fanout;
use crate::telemetry::{Metrics, SourceKind};
use std::collections::BTreeMap;
use std::io::{IsTerminal, Read};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub struct LineSourceOptions {
    /// Lines per batch (= per tick).
    pub batch_lines: usize,
    pub parse_threads: usize,
    /// Show a progress line on stderr (only when it is a terminal).
    pub progress: bool,
    pub kind: SourceKind,
}

/// A chunk of raw lines: one buffer, and where each line ends.
struct Chunk {
    seq: u64,
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

/// Starts reading `input`; returns the receiver of admitted batches in input order, and the way
/// back for batches the dataflow has absorbed: the parser threads free them (see [`Spent`]).
pub fn spawn(
    input: Box<dyn Read + Send>,
    options: LineSourceOptions,
    admission: Arc<Admission>,
    metrics: Arc<Metrics>,
    outputs: Fanout,
) -> (Receiver<Vec<Event>>, Spent) {
    let threads = options.parse_threads.max(1);
    let (spent_tx, spent_rx) = sync_channel::<Vec<Event>>(threads);
    let spent_rx = Arc::new(Mutex::new(spent_rx));
    let (chunk_tx, chunk_rx) = sync_channel::<Chunk>(threads);
    // Parsed chunks go back to the reader to be filled again: a fresh block of this size is
    // fresh pages each time (faulted in and zeroed by the kernel), which cost the reader more
    // than copying the file did.
    let (blank_tx, blank_rx) = sync_channel::<Chunk>(threads + 1);
    let (parsed_tx, parsed_rx) = sync_channel::<(u64, Vec<Event>)>(threads);
    let (ordered_tx, ordered_rx) = sync_channel::<Vec<Event>>(2);
    let chunk_rx = Arc::new(Mutex::new(chunk_rx));

    let kind = options.kind;
    let reader_metrics = metrics.clone();
    std::thread::Builder::new()
        .name("fp-reader".into())
        .spawn(move || read_chunks(input, options, chunk_tx, blank_rx, reader_metrics))
        .expect("spawn reader");

    for i in 0..threads {
        let (chunk_rx, parsed_tx, spent_rx) = (chunk_rx.clone(), parsed_tx.clone(), spent_rx.clone());
        let blank_tx = blank_tx.clone();
        let (admission, outputs) = (admission.clone(), outputs.clone());
        let source = kind.as_str();
        std::thread::Builder::new()
            .name(format!("fp-parse-{i}"))
            .spawn(move || loop {
                let chunk = match chunk_rx.lock().unwrap().recv() {
                    Ok(c) => c,
                    Err(_) => return,
                };
                let now = chrono::Utc::now().timestamp_millis();
                // A block that is valid UTF-8 as a whole is so line by line (lines end at a
                // newline, a character of its own): one validation instead of thousands. Slicing
                // the validated text at the line ends only checks those ends.
                let admitted = match simdutf8::basic::from_utf8(&chunk.bytes) {
                    Ok(text) => {
                        let lines = chunk_lines(&chunk.ends, |start, end| &text[start..end]);
                        admission.admit_text_batch(&lines, now, source)
                    }
                    Err(_) => {
                        let lines = chunk_lines(&chunk.ends, |start, end| &chunk.bytes[start..end]);
                        admission.admit_batch(&lines, now, source)
                    }
                };
                for (_, dead) in &admitted.dead {
                    outputs.dead_letter(dead);
                }
                let events = admitted.events;
                let seq = chunk.seq;
                // The reader empties it before refilling. Full (or the reader is done): this
                // one is freed here.
                let _ = blank_tx.try_send(chunk);
                if parsed_tx.send((seq, events)).is_err() {
                    return;
                }
                // Free what the dataflow is done with (the other parser may be at it already).
                if let Ok(spent) = spent_rx.try_lock() {
                    while let Ok(batch) = spent.try_recv() {
                        drop(batch);
                    }
                }
            })
            .expect("spawn parser");
    }
    drop(parsed_tx);

    std::thread::Builder::new()
        .name("fp-reorder".into())
        .spawn(move || {
            let mut next = 0u64;
            let mut waiting: BTreeMap<u64, Vec<Event>> = BTreeMap::new();
            for (seq, events) in parsed_rx {
                waiting.insert(seq, events);
                while let Some(events) = waiting.remove(&next) {
                    if ordered_tx.send(events).is_err() {
                        return;
                    }
                    next += 1;
                }
            }
        })
        .expect("spawn reorder");
    (ordered_rx, Spent(spent_tx))
}

/// The chunk's lines without their line ends, blank ones left out; `slice(start, end)` cuts one
/// out of the chunk (as bytes or as validated text).
fn chunk_lines<'a, L: AsRef<[u8]> + ?Sized + 'a>(ends: &[usize], slice: impl Fn(usize, usize) -> &'a L) -> Vec<&'a L> {
    let mut lines = Vec::with_capacity(ends.len());
    let mut start = 0;
    for &end in ends {
        let bytes = slice(start, end).as_ref();
        let mut len = bytes.len();
        len -= bytes[..len].ends_with(b"\n") as usize;
        len -= bytes[..len].ends_with(b"\r") as usize;
        if !bytes[..len].iter().all(u8::is_ascii_whitespace) {
            lines.push(slice(start, start + len));
        }
        start = end;
    }
    lines
}

fn read_chunks(
    mut input: Box<dyn Read + Send>,
    options: LineSourceOptions,
    tx: std::sync::mpsc::SyncSender<Chunk>,
    blank: Receiver<Chunk>,
    metrics: Arc<Metrics>,
) {
    // Blocks are read straight into the chunk (no line-by-line copy through a BufReader); the
    // bytes after a full batch's last line start the next chunk.
    // Small batches read small blocks, so the carried-over tail stays small too.
    let block = (options.batch_lines * 256).clamp(4 << 10, 64 << 10);
    let show_progress = options.progress && std::io::stderr().is_terminal();
    let started = Instant::now();
    let mut last_report = Instant::now();
    let mut total = 0u64;
    let mut seq = 0;
    let mut carry: Vec<u8> = Vec::new();
    let mut eof = false;
    loop {
        let mut chunk = blank.try_recv().unwrap_or_else(|_| Chunk {
            seq,
            bytes: Vec::with_capacity(options.batch_lines * 192 + block),
            ends: Vec::with_capacity(options.batch_lines),
        });
        chunk.seq = seq;
        chunk.bytes.clear();
        chunk.ends.clear();
        chunk.bytes.extend_from_slice(&carry);
        carry.clear();
        let mut scanned = 0;
        while chunk.ends.len() < options.batch_lines {
            let room = options.batch_lines - chunk.ends.len();
            chunk
                .ends
                .extend(memchr::memchr_iter(b'\n', &chunk.bytes[scanned..]).take(room).map(|nl| scanned + nl + 1));
            if chunk.ends.len() == options.batch_lines || eof {
                break;
            }
            scanned = chunk.bytes.len();
            chunk.bytes.resize(scanned + block, 0);
            let read = loop {
                match input.read(&mut chunk.bytes[scanned..]) {
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    other => break other,
                }
            };
            match read {
                Ok(n) => {
                    chunk.bytes.truncate(scanned + n);
                    eof = n == 0;
                }
                Err(e) => {
                    tracing::error!(error = %e, "read error; stopping this source");
                    chunk.bytes.truncate(scanned);
                    eof = true;
                }
            }
        }
        let used = chunk.ends.last().copied().unwrap_or(0);
        if chunk.ends.len() == options.batch_lines {
            carry.extend_from_slice(&chunk.bytes[used..]);
            chunk.bytes.truncate(used);
        } else if used < chunk.bytes.len() {
            // The last line has no newline.
            chunk.ends.push(chunk.bytes.len());
        }
        if chunk.ends.is_empty() {
            break;
        }
        let n = chunk.ends.len();
        total += n as u64;
        metrics.received(options.kind, n as u64);
        let last = eof && carry.is_empty();
        if tx.send(chunk).is_err() {
            break;
        }
        seq += 1;
        if show_progress && last_report.elapsed().as_millis() >= 500 {
            let rate = total as f64 / started.elapsed().as_secs_f64();
            eprint!("\r{total} records read, {:.0} k/s   ", rate / 1000.0);
            last_report = Instant::now();
        }
        if last {
            break;
        }
    }
    if show_progress {
        eprintln!("\r{total} records read in {:.1} s          ", started.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Gives at most a few bytes per read, so lines straddle reads in every possible way.
    struct Trickle(std::io::Cursor<Vec<u8>>, usize);

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.1 = self.1 % 7 + 1;
            let n = buf.len().min(self.1 * 997 % 5000 + 1);
            self.0.read(&mut buf[..n])
        }
    }

    fn chunks(input: &[u8], batch_lines: usize) -> Vec<Vec<String>> {
        chunks_reusing(input, batch_lines, 0)
    }

    /// As `chunks`, the reader first refilling `used` chunks that come back with old contents.
    fn chunks_reusing(input: &[u8], batch_lines: usize, used: usize) -> Vec<Vec<String>> {
        let (tx, rx) = sync_channel(1 << 16);
        let options = LineSourceOptions { batch_lines, parse_threads: 1, progress: false, kind: SourceKind::File };
        let (blank_tx, blank) = sync_channel(used);
        for i in 0..used {
            let old = Chunk { seq: 99, bytes: format!("old {i}\nlines\n").into_bytes(), ends: vec![6, 12] };
            blank_tx.send(old).unwrap();
        }
        drop(blank_tx);
        read_chunks(Box::new(Trickle(std::io::Cursor::new(input.to_vec()), 0)), options, tx, blank, Arc::default());
        rx.into_iter()
            .enumerate()
            .map(|(i, c)| {
                assert_eq!(c.seq, i as u64);
                let mut start = 0;
                c.ends
                    .iter()
                    .map(|&end| {
                        let line = c.bytes[start..end].strip_suffix(b"\n").unwrap_or(&c.bytes[start..end]);
                        let line = String::from_utf8(line.strip_suffix(b"\r").unwrap_or(line).to_vec()).unwrap();
                        start = end;
                        line
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn lines_are_cut_alike_from_bytes_and_from_text() {
        let block = "a\n\n  \r\n{\"text\": \"付款\"}\r\nlast";
        let ends: Vec<usize> = block.match_indices('\n').map(|(i, _)| i + 1).chain([block.len()]).collect();
        let texts = chunk_lines(&ends, |s, e| &block[s..e]);
        let bytes = chunk_lines(&ends, |s, e| &block.as_bytes()[s..e]);
        assert_eq!(texts, ["a", "{\"text\": \"付款\"}", "last"], "blank lines and line ends dropped");
        assert_eq!(bytes, texts.iter().map(|t| t.as_bytes()).collect::<Vec<_>>());
    }

    /// One bad line in a block does not lose the block: the others are admitted, that one is
    /// dead-lettered for its UTF-8.
    #[test]
    fn a_block_with_invalid_utf8_is_admitted_line_by_line() {
        let admission = Arc::new(Admission::new(&crate::config::Config::embedded(), None));
        struct Reasons(Mutex<Vec<crate::event::DeadReason>>);
        impl crate::sinks::DeadLetterSink for Reasons {
            fn deliver(&self, dead: &crate::event::DeadLetter) {
                self.0.lock().unwrap().push(dead.reason);
            }
        }
        let reasons = Arc::new(Reasons(Mutex::default()));
        let outputs = Fanout { dead_letters: vec![reasons.clone()], ..Fanout::default() };
        let mut input = b"{\"id\": \"a\", \"text\": \"\xe4\xbb\x98\xe6\xac\xbe\"}\n".to_vec();
        input.extend_from_slice(b"{\"id\": \"b\", \"text\": \"\xff\xfe\"}\n{\"id\": \"c\", \"text\": \"ok\"}\n");
        let options = LineSourceOptions { batch_lines: 10, parse_threads: 1, progress: false, kind: SourceKind::File };
        let (rx, _spent) = spawn(Box::new(std::io::Cursor::new(input)), options, admission, Arc::default(), outputs);
        let ids: Vec<String> = rx.iter().flatten().map(|e| e.id.to_string()).collect();
        assert_eq!(ids, ["a", "c"]);
        assert_eq!(*reasons.0.lock().unwrap(), [crate::event::DeadReason::InvalidUtf8]);
    }

    #[test]
    fn batches_hold_exactly_their_lines() {
        let lines: Vec<String> = (0..3000).map(|i| "x".repeat(i * 37 % 300)).collect();
        let mut input = lines.join("\n").into_bytes();
        for batch in [1, 7, 4096] {
            let got = chunks(&input, batch);
            assert!(got[..got.len() - 1].iter().all(|c| c.len() == batch), "full batches");
            assert_eq!(got.concat(), lines, "the last line needs no newline (batch {batch})");
        }
        input.extend_from_slice(b"\r\n");
        let got = chunks(&input, 1000);
        assert_eq!(got.iter().map(Vec::len).collect::<Vec<_>>(), vec![1000, 1000, 1000]);
        assert_eq!(got.concat(), lines, "CRLF");
        assert!(chunks(b"", 10).is_empty());
        assert_eq!(chunks_reusing(&input, 1000, 2), got, "refilled chunks keep nothing of before");
    }
}
