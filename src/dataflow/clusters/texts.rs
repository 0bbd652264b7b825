//! What a cluster says about itself: its stored member texts, their words, c-TF-IDF keywords
//! and the summary the read side shows.

use super::model::*;
use super::state::ClusterState;
use crate::enrich::terms::terms;
use crate::records::notice::cluster_name;
use crate::util::round3;
use std::collections::HashMap;

impl ClusterState {
    /// The first texts, then a reservoir sample (decided by a hash of the message id, so the
    /// choice does not depend on the order of workers or runs).
    pub(super) fn store_text(&mut self, id: u64, m: &Member<'_>, similarity: f32) {
        let cluster = self.clusters.get_mut(&id).expect("cluster exists");
        let slot = if cluster.texts.len() < TEXTS_KEPT {
            Some(cluster.texts.len())
        } else {
            let pick = stable_hash(m.id) % cluster.count;
            (pick < TEXTS_KEPT as u64).then_some(pick as usize)
        };
        let Some(slot) = slot else { return };
        let text: String = m.text.chars().take(280).collect();
        let segmented = cluster.count >= 2;
        let terms = if segmented { terms(&text) } else { Vec::new() };
        let stored = StoredText { id: m.id.to_owned(), terms, text, similarity, segmented };
        let added = stored.terms.clone();
        let removed = if slot < cluster.texts.len() {
            Some(std::mem::replace(&mut cluster.texts[slot], stored).terms)
        } else {
            cluster.texts.push(stored);
            None
        };
        if let Some(removed) = removed {
            self.count_terms(&removed, -1);
        }
        self.count_terms(&added, 1);
        if segmented {
            self.segment_texts(id);
        }
    }

    /// Segments the stored texts of `id` that are not yet, and counts their words in the
    /// c-TF-IDF totals. A cluster's texts are segmented once it has a second member: most
    /// clusters at the cap are one-off messages that are dropped as singletons, and word
    /// segmentation was half the cost of an assignment. Their words stay out of the totals,
    /// which are the vocabulary of clusters, not of noise.
    pub(super) fn segment_texts(&mut self, id: u64) {
        let Some(cluster) = self.clusters.get_mut(&id) else { return };
        let mut added = Vec::new();
        for t in cluster.texts.iter_mut().filter(|t| !t.segmented) {
            t.terms = terms(&t.text);
            t.segmented = true;
            added.extend(t.terms.iter().cloned());
        }
        self.count_terms(&added, 1);
    }

    pub(super) fn count_terms(&mut self, terms: &[String], sign: i32) {
        for t in terms {
            if sign > 0 {
                *self.term_totals.entry(t.clone()).or_default() += 1;
            } else if let Some(n) = self.term_totals.get_mut(t) {
                *n -= 1;
                if *n == 0 {
                    self.term_totals.remove(t);
                }
            }
        }
    }

    /// Top keywords by c-TF-IDF: a term's frequency in this cluster's stored texts, weighted by
    /// log(1 + average terms per cluster / the term's frequency over all clusters).
    pub fn keywords(&self, id: u64, k: usize) -> Vec<String> {
        let Some(cluster) = self.clusters.get(&id) else { return Vec::new() };
        // A singleton's text is not segmented yet (see `segment_texts`).
        let pending: Vec<Vec<String>> = cluster.texts.iter().filter(|t| !t.segmented).map(|t| terms(&t.text)).collect();
        let mut tf: HashMap<&str, u32> = HashMap::new();
        for term in cluster.texts.iter().flat_map(|t| &t.terms).chain(pending.iter().flatten()) {
            *tf.entry(term.as_str()).or_default() += 1;
        }
        let total: u64 = self.term_totals.values().map(|&n| n as u64).sum();
        let counted = self.clusters.values().filter(|c| c.count >= 2).count();
        let average = total as f64 / counted.max(1) as f64;
        let mut scored: Vec<(f64, &str)> = tf
            .into_iter()
            // A term in one stored text only is an accident of that message, not the cluster's.
            .filter(|(_, n)| *n >= 2 || cluster.texts.len() < 3)
            .map(|(term, n)| {
                let overall = self.term_totals.get(term).copied().unwrap_or(n).max(1) as f64;
                (n as f64 * (1.0 + average / overall).ln(), term)
            })
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
        scored.into_iter().take(k).map(|(_, t)| t.to_owned()).collect()
    }

    pub fn summary(&self, id: u64) -> Option<ClusterSummary> {
        let c = self.clusters.get(&id)?;
        Some(ClusterSummary {
            id: cluster_name(c.id),
            scope: c.scope.name().to_owned(),
            size: c.count,
            established: c.established,
            alerted: c.alerted,
            first_seen: crate::alerts::rfc3339(c.first_seen_ms),
            last_seen: crate::alerts::rfc3339(c.last_seen_ms),
            keywords: self.keywords(id, 5),
            samples: c.representatives(3).into_iter().map(|(_, text)| text).collect(),
            sentiment_mean: round3(c.sentiment_mean()),
            negative_share: round3(c.negative_share()),
            categories: c.categories.clone(),
            channels: c.channels.clone(),
        })
    }
}

fn stable_hash(text: &str) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = foldhash::quality::FixedState::with_seed(0x636c_7573).build_hasher();
    h.write(text.as_bytes());
    h.finish()
}
