//! Hostile input, fuzz-style on stable Rust: seeded mutations of real records and
//! configuration (byte flips, arbitrary bytes, invalid UTF-8, control characters, huge numbers,
//! deep nesting, very long lines) fed to the decoder, the HTTP body splitter, the configuration
//! loader and the PII masker. A case passes when it does not panic and every record of it ends
//! as an event or a dead letter with a reason (a configuration: loaded, or refused with every
//! error named). `cargo bench --bench hostile_input` runs 10⁵ cases per target; the test suite
//! a sample (docs/testing.md § Hostile input).

use crate::admit::Admission;
use crate::clean::pii::PiiMasker;
use crate::config::{Config, PiiConfig, Source};
use crate::util::SplitMix;
use std::panic::{catch_unwind, AssertUnwindSafe};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// NDJSON lines through admission (decode, clean, mask, risk rules).
    Decoder,
    /// `POST /v1/events` bodies: split into records, each admitted.
    HttpBody,
    /// `dataflows/*.toml` and `alerts/*.toml` through load and validation.
    Config,
    /// Arbitrary text through the PII masker.
    Masker,
}

impl Target {
    pub const ALL: [Target; 4] = [Target::Decoder, Target::HttpBody, Target::Config, Target::Masker];

    pub fn name(self) -> &'static str {
        match self {
            Target::Decoder => "decoder",
            Target::HttpBody => "http-body",
            Target::Config => "config",
            Target::Masker => "pii-masker",
        }
    }
}

#[derive(Debug, Default)]
pub struct Report {
    pub cases: usize,
    /// Records (or configurations) accepted and refused with a reason.
    pub accepted: usize,
    pub refused: usize,
    /// Cases that panicked or broke the contract, with the case (lossy, cut) and what happened.
    pub failures: Vec<String>,
}

/// Fragments that break parsers: huge and odd numbers, nesting, escapes, control characters,
/// invalid UTF-8 and surrogates.
const NASTY: [&[u8]; 22] = [
    b"1e999999",
    b"-99999999999999999999999999999999",
    b"NaN",
    b"-0",
    b"0x1F",
    b"\"\\ud800\"",
    b"\"\\u0000\"",
    b"\xff\xfe\xfd",
    b"\xe4\xbd",
    b"\xc0\x80",
    b"\x00",
    b"\x1b[31m",
    b"\r\n",
    b"\"",
    b"\\",
    b",,,,",
    b"null",
    b"{}",
    b"[]",
    b"\"text\":",
    b"\xef\xbb\xbf",
    b"\xe2\x80\xae",
];

/// One mutated case from `corpus`.
fn mutate(corpus: &[Vec<u8>], rng: &mut SplitMix) -> Vec<u8> {
    let mut case = corpus[rng.below(corpus.len())].clone();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(case.len() + 1);
        match rng.below(9) {
            0 if !case.is_empty() => {
                let i = at.min(case.len() - 1);
                case[i] ^= 1 << rng.below(8);
            }
            1 => case.insert(at, rng.below(256) as u8),
            2 => {
                let end = (at + rng.below(16)).min(case.len());
                case.drain(at..end);
            }
            3 => {
                let end = (at + rng.below(32)).min(case.len());
                let copy = case[at..end].to_vec();
                case.splice(at..at, copy);
            }
            4 | 5 => {
                let nasty = NASTY[rng.below(NASTY.len())];
                case.splice(at..at, nasty.iter().copied());
            }
            6 => case.truncate(at),
            7 => {
                // Deep nesting around the case.
                let deepest = if rng.below(50) == 0 { 100_000 } else { 200 };
                let depth = 1 + rng.below(deepest);
                let (open, close) = if rng.below(2) == 0 { (b"[", b"]") } else { (b"{", b"}") };
                let mut nested = open.repeat(depth);
                nested.extend_from_slice(&case);
                nested.extend(close.repeat(depth));
                case = nested;
            }
            _ if rng.below(200) == 0 => {
                // A very long line: a megabyte of text inside the record.
                let long = "长".repeat(350_000);
                case.splice(at..at, long.bytes());
            }
            _ => {}
        }
    }
    case
}

fn shown(case: &[u8]) -> String {
    let text = String::from_utf8_lossy(&case[..case.len().min(200)]).into_owned();
    text.replace('\n', "\\n")
}

/// Runs `cases` mutated cases against `target`, `records` and `config` being the corpus.
pub fn run(target: Target, records: &[Vec<u8>], config: &[Source], cases: usize, seed: u64) -> Report {
    let mut rng = SplitMix::new(seed);
    let mut report = Report { cases, ..Report::default() };
    let admission = Admission::new(&Config::embedded(), None);
    let masker = PiiMasker::new(PiiConfig::default());
    let config_corpus: Vec<Vec<u8>> = config.iter().map(|s| s.text.clone().into_bytes()).collect();
    for _ in 0..cases {
        let case = match target {
            Target::Config => mutate(&config_corpus, &mut rng),
            Target::HttpBody if rng.below(3) == 0 => {
                // Several records as NDJSON or a JSON array.
                let parts: Vec<Vec<u8>> = (0..2 + rng.below(5)).map(|_| mutate(records, &mut rng)).collect();
                if rng.below(2) == 0 {
                    parts.join(&b'\n')
                } else {
                    let mut body = b"[".to_vec();
                    body.extend(parts.join(&b','));
                    body.push(b']');
                    body
                }
            }
            _ => mutate(records, &mut rng),
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| check(target, &case, config, &admission, &masker)));
        match outcome {
            Ok(Ok((accepted, refused))) => {
                report.accepted += accepted;
                report.refused += refused;
            }
            Ok(Err(broken)) => report.failures.push(format!("{broken}: {}", shown(&case))),
            Err(_) => report.failures.push(format!("panic: {}", shown(&case))),
        }
    }
    report
}

/// One case: (accepted, refused), or how it broke the contract.
fn check(
    target: Target,
    case: &[u8],
    config: &[Source],
    admission: &Admission,
    masker: &PiiMasker,
) -> Result<(usize, usize), String> {
    let admitted = |records: &[&[u8]]| -> Result<(usize, usize), String> {
        let batch = admission.admit_batch(records, 1_767_225_600_000, "fuzz");
        if batch.events.len() + batch.dead.len() != records.len() {
            return Err(format!(
                "{} records became {} events and {} dead letters",
                records.len(),
                batch.events.len(),
                batch.dead.len()
            ));
        }
        if let Some((_, dead)) = batch.dead.iter().find(|(_, d)| d.detail.is_empty()) {
            return Err(format!("a dead letter without a reason ({:?})", dead.reason));
        }
        Ok((batch.events.len(), batch.dead.len()))
    };
    match target {
        Target::Decoder => {
            let lines: Vec<&[u8]> = case.split(|b| *b == b'\n').filter(|l| !l.is_empty()).collect();
            admitted(&lines)
        }
        Target::HttpBody => match crate::server::split_records(case) {
            Ok(records) => admitted(&records),
            Err(dead) if dead.detail.is_empty() => Err("a refused body without a reason".into()),
            Err(_) => Ok((0, 1)),
        },
        Target::Config => {
            let text = String::from_utf8_lossy(case).into_owned();
            let flows = vec![Source { name: "fuzz.toml".into(), text }];
            let alerts = config
                .iter()
                .filter(|s| s.name.starts_with("alerts"))
                .map(|s| Source { name: s.name.clone(), text: s.text.clone() })
                .collect();
            match Config::from_sources(flows, alerts) {
                Ok(_) => Ok((1, 0)),
                Err(errors) if errors.0.is_empty() || errors.0.iter().any(|e| e.message.is_empty()) => {
                    Err(format!("refused without naming every error ({:?})", errors.0))
                }
                Err(_) => Ok((0, 1)),
            }
        }
        Target::Masker => {
            let text = String::from_utf8_lossy(case);
            let masked = masker.mask(&text);
            // Masking only replaces: it never grows a text by more than its tokens.
            if masked.len() > text.len() + 16 * text.chars().count().max(1) {
                return Err("the masked text grew without bound".into());
            }
            Ok((1, 0))
        }
    }
}

/// The corpus: the golden stream's records and the shipped configuration.
pub fn corpus(repo: &std::path::Path) -> std::io::Result<(Vec<Vec<u8>>, Vec<Source>)> {
    let golden = std::fs::read(repo.join("tests/golden/spike_dip.ndjson"))?;
    let records = golden.split(|b| *b == b'\n').filter(|l| !l.is_empty()).map(<[u8]>::to_vec).collect();
    let config = vec![
        Source {
            name: "dataflows/default.toml".into(),
            text: std::fs::read_to_string(repo.join("dataflows/default.toml"))?,
        },
        Source { name: "alerts/default.toml".into(), text: std::fs::read_to_string(repo.join("alerts/default.toml"))? },
    ];
    Ok((records, config))
}
