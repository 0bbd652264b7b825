//! Categories by example (docs/architecture.md): the taxonomy's example sentences, plus analysts'
//! corrections, train a softmax classifier over the sentence embeddings, one learned prototype
//! per category. Nearest-example voting (1-NN) is what this replaced: on banking77 it scores
//! 0.886 with the train split as examples, the learned prototypes 0.91; with three to thirty
//! examples per category they win by 4 to 8 points, and they fit every example, so a
//! correction changes the category of the message it was made on.
//!
//! The classifier always names a category; whether a message belongs to the taxonomy at all is
//! an open-set question it cannot answer (softmax is confident far from its training data).
//! That gate stays geometric: the message must be within `example_threshold` cosine of one of
//! the chosen category's examples.

use super::encoder::{cosine, DIM};
use crate::util::SplitMix;

/// Logit scale on cosine-like scores: unit embeddings against near-unit prototypes give
/// scores in [−1, 1], too flat for a softmax without it.
const SCALE: f32 = 20.0;
const LEARNING_RATE: f32 = 0.5;
const BATCH: usize = 64;
/// Passes over the examples, and the least number of steps for small example sets (a taxonomy
/// of fifty examples needs more than twenty one-batch epochs to fit).
const EPOCHS: usize = 20;
const MIN_STEPS: usize = 500;

/// The embedded examples of every category and the classifier trained on them.
#[derive(Clone)]
pub struct CategoryExamples {
    /// Unit vectors, `DIM` each.
    vectors: Vec<f32>,
    /// The category index of each example.
    category: Vec<usize>,
    /// The categories that have examples: classifier row → category index.
    classes: Vec<usize>,
    /// One learned prototype per class, `DIM` each, and its bias.
    weights: Vec<f32>,
    bias: Vec<f32>,
}

impl CategoryExamples {
    /// Trains the classifier on `vectors` (`category.len() × DIM`).
    pub fn new(vectors: Vec<f32>, category: Vec<usize>) -> Self {
        assert_eq!(vectors.len(), category.len() * DIM);
        let mut classes = category.clone();
        classes.sort_unstable();
        classes.dedup();
        let (weights, bias) = train(&vectors, &category, &classes);
        CategoryExamples { vectors, category, classes, weights, bias }
    }

    /// These examples plus one, retrained.
    pub fn with_example(&self, vector: &[f32], category: usize) -> Self {
        let mut vectors = self.vectors.clone();
        vectors.extend_from_slice(vector);
        let mut categories = self.category.clone();
        categories.push(category);
        Self::new(vectors, categories)
    }

    pub fn count(&self, category: usize) -> usize {
        self.category.iter().filter(|&&c| c == category).count()
    }

    /// The classifier's category for `embedding` and the cosine to that category's nearest
    /// example, or `None` when there are no examples.
    pub fn classify(&self, embedding: &[f32]) -> Option<(usize, f32)> {
        let best = self
            .weights
            .chunks_exact(DIM)
            .zip(&self.bias)
            .map(|(w, b)| SCALE * cosine(w, embedding) + b)
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(&b.1))?
            .0;
        let category = self.classes[best];
        let nearest = self
            .vectors
            .chunks_exact(DIM)
            .zip(&self.category)
            .filter(|(_, &c)| c == category)
            .map(|(v, _)| cosine(v, embedding))
            .fold(f32::NEG_INFINITY, f32::max);
        Some((category, nearest))
    }
}

/// Mini-batch gradient descent on the cross-entropy of `softmax(SCALE · W x + b)`, starting
/// from each class's normalised mean. Deterministic: the shuffles come from a fixed seed.
fn train(vectors: &[f32], category: &[usize], classes: &[usize]) -> (Vec<f32>, Vec<f32>) {
    let k = classes.len();
    let n = category.len();
    let row_of = |c: usize| classes.binary_search(&c).expect("every category is a class");
    let mut weights = vec![0.0f32; k * DIM];
    for (v, &c) in vectors.chunks_exact(DIM).zip(category) {
        let w = &mut weights[row_of(c) * DIM..][..DIM];
        w.iter_mut().zip(v).for_each(|(w, x)| *w += x);
    }
    for w in weights.chunks_exact_mut(DIM) {
        let norm = w.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            w.iter_mut().for_each(|x| *x /= norm);
        }
    }
    let mut bias = vec![0.0f32; k];
    if k < 2 {
        return (weights, bias);
    }
    let batches = n.div_ceil(BATCH);
    let epochs = EPOCHS.max(MIN_STEPS.div_ceil(batches));
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = SplitMix::new(0x9e37_79b9_7f4a_7c15);
    let mut x = vec![0.0f32; BATCH * DIM];
    let mut g = vec![0.0f32; BATCH * k];
    for _ in 0..epochs {
        rng.shuffle(&mut order);
        for batch in order.chunks(BATCH) {
            let m = batch.len();
            for (row, &i) in x.chunks_exact_mut(DIM).zip(batch) {
                row.copy_from_slice(&vectors[i * DIM..][..DIM]);
            }
            // g = SCALE · x Wᵀ (m × k), then softmax minus the one-hot label, per row.
            // SAFETY: every slice holds the rows × columns the strides describe.
            unsafe {
                let w = weights.as_ptr();
                matrixmultiply::sgemm(
                    m,
                    DIM,
                    k,
                    SCALE,
                    x.as_ptr(),
                    DIM as isize,
                    1,
                    w,
                    1,
                    DIM as isize,
                    0.0,
                    g.as_mut_ptr(),
                    k as isize,
                    1,
                );
            }
            for (row, &i) in g.chunks_exact_mut(k).zip(batch) {
                row.iter_mut().zip(&bias).for_each(|(z, b)| *z += b);
                let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let mut sum = 0.0;
                row.iter_mut().for_each(|z| {
                    *z = (*z - max).exp();
                    sum += *z;
                });
                row.iter_mut().for_each(|z| *z /= sum);
                row[row_of(category[i])] -= 1.0;
            }
            // W −= (rate · SCALE / m) gᵀ x;  b −= (rate / m) Σ g.
            // SAFETY: as above.
            unsafe {
                let alpha = -LEARNING_RATE * SCALE / m as f32;
                matrixmultiply::sgemm(
                    k,
                    m,
                    DIM,
                    alpha,
                    g.as_ptr(),
                    1,
                    k as isize,
                    x.as_ptr(),
                    DIM as isize,
                    1,
                    1.0,
                    weights.as_mut_ptr(),
                    DIM as isize,
                    1,
                );
            }
            for row in g.chunks_exact(k).take(m) {
                bias.iter_mut().zip(row).for_each(|(b, d)| *b -= LEARNING_RATE * d / m as f32);
            }
        }
    }
    (weights, bias)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A unit vector pointing mostly along `axis`, tilted by `tilt` along `other`.
    fn unit(axis: usize, other: usize, tilt: f32) -> Vec<f32> {
        let mut v = vec![0.0f32; DIM];
        v[axis] = 1.0;
        v[other] += tilt;
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter_mut().for_each(|x| *x /= norm);
        v
    }

    #[test]
    fn the_classifier_picks_the_category_and_its_nearest_example_scores_it() {
        let mut vectors = Vec::new();
        let mut category = Vec::new();
        for (i, t) in [0.1, 0.3, 0.5, 0.7].into_iter().enumerate() {
            vectors.extend(unit(0, 10 + i, t));
            category.push(0);
            vectors.extend(unit(1, 20 + i, t));
            category.push(1);
        }
        let examples = CategoryExamples::new(vectors.clone(), category.clone());
        for (query, want) in [(unit(0, 40, 0.6), 0), (unit(1, 41, 0.6), 1), (unit(0, 1, 0.8), 0)] {
            let (c, score) = examples.classify(&query).unwrap();
            assert_eq!(c, want);
            let nearest = vectors
                .chunks_exact(DIM)
                .zip(&category)
                .filter(|(_, &k)| k == want)
                .map(|(v, _)| cosine(v, &query))
                .fold(f32::MIN, f32::max);
            assert_eq!(score, nearest);
        }
    }

    #[test]
    fn every_example_is_fitted_so_a_correction_takes() {
        let mut vectors = Vec::new();
        let mut category = Vec::new();
        for i in 0..12 {
            vectors.extend(unit(i % 3, 10 + i, 0.8));
            category.push(i % 3);
        }
        let examples = CategoryExamples::new(vectors, category);
        // An example that lies among category 0's, filed under category 2.
        let corrected = unit(0, 30, 0.5);
        assert_eq!(examples.classify(&corrected).unwrap().0, 0);
        let corrected_examples = examples.with_example(&corrected, 2);
        assert_eq!(corrected_examples.classify(&corrected).unwrap().0, 2);
        assert_eq!(corrected_examples.count(2), 5);
        assert_eq!(corrected_examples.classify(&unit(0, 10, 0.8)).unwrap().0, 0, "the rest stays");
    }

    #[test]
    fn categories_without_examples_are_never_chosen_and_none_means_none() {
        let examples = CategoryExamples::new(unit(5, 6, 0.2), vec![3]);
        assert_eq!(examples.classify(&unit(7, 8, 0.1)).unwrap().0, 3);
        assert!(CategoryExamples::new(Vec::new(), Vec::new()).classify(&unit(0, 1, 0.0)).is_none());
    }

    #[test]
    fn training_is_deterministic() {
        let vectors: Vec<f32> = (0..20).flat_map(|i| unit(i % 4, 8 + i, 0.6)).collect();
        let category: Vec<usize> = (0..20).map(|i| i % 4).collect();
        let a = CategoryExamples::new(vectors.clone(), category.clone());
        let b = CategoryExamples::new(vectors, category);
        assert_eq!(a.weights, b.weights);
        assert_eq!(a.bias, b.bias);
    }
}
