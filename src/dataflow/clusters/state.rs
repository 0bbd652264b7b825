//! The clustering algorithm: assignment, establishment, merges, expiry, keywords (docs/clusters.md).

use super::index::ScopeIndex;
use super::model::*;
use crate::dataflow::sketch::Sketcher;
use crate::dataflow::whitening::Whitening;
use crate::event::{cosine_q, Embedding, EMBEDDING_SCALE};
use crate::records::notice::{NewCluster, Scope};
use crate::util::round3;
use std::collections::{BTreeMap, HashMap, VecDeque};

/// The space cosines are taken in.
pub(super) enum Space {
    Raw,
    /// Holding messages (their embeddings here, the messages with the caller) until the
    /// whitening can be fitted.
    Fitting {
        sample: Vec<Vec<i16>>,
        since_ms: Option<i64>,
    },
    Whitened(Whitening),
}

/// What [`ClusterState::hold`] says to do with a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hold {
    /// Absorb it now.
    Absorb,
    /// Keep it: the whitening is not fitted yet.
    Held,
    /// The whitening was just fitted: absorb every held message, in order, then this one.
    Release,
}

pub struct ClusterState {
    pub(super) params: ClusterParams,
    pub(super) dim: usize,
    pub(super) space: Space,
    pub(super) clusters: HashMap<u64, Cluster>,
    pub(super) index: HashMap<Scope, ScopeIndex>,
    pub(super) sketcher: Sketcher,
    pub(super) next_id: u64,
    pub(super) started_ms: Option<i64>,
    pub(super) clock_ms: i64,
    pub(super) last_sweep_ms: i64,
    pub(super) merged_into: HashMap<u64, u64>,
    pub(super) merge_order: VecDeque<u64>,
    /// How often each term occurs in the stored texts of all clusters (c-TF-IDF's denominator).
    pub(super) term_totals: HashMap<String, u32>,
}

impl ClusterState {
    pub fn new(params: ClusterParams, dim: usize) -> Self {
        debug_assert!(params.merge_similarity >= params.similarity, "config validation guarantees it");
        ClusterState {
            sketcher: Sketcher::new(dim),
            space: if params.whitening_sample > 0 {
                Space::Fitting { sample: Vec::new(), since_ms: None }
            } else {
                Space::Raw
            },
            params,
            dim,
            clusters: HashMap::new(),
            index: HashMap::new(),
            next_id: 1,
            started_ms: None,
            clock_ms: i64::MIN,
            last_sweep_ms: i64::MIN,
            merged_into: HashMap::new(),
            merge_order: VecDeque::new(),
            term_totals: HashMap::new(),
        }
    }

    /// Puts `item` (a message whose embedding and event time `key` gives) in `ready`, the
    /// messages to absorb now in order, or in `held` while the whitening is being fitted; the
    /// message that completes the fit brings every held one into `ready` ahead of it.
    pub fn admit<T>(&mut self, item: T, key: impl FnOnce(&T) -> (&[i16], i64), held: &mut Vec<T>, ready: &mut Vec<T>) {
        let (embedding, ts_ms) = key(&item);
        match self.hold(embedding, ts_ms) {
            Hold::Absorb => ready.push(item),
            Hold::Held => held.push(item),
            Hold::Release => {
                ready.append(held);
                ready.push(item);
            }
        }
    }

    /// The input ended: fits the whitening on whatever is held and moves it into `ready`.
    pub fn release_held<T>(&mut self, held: &mut Vec<T>, ready: &mut Vec<T>) {
        if self.release() {
            ready.append(held);
        }
    }

    /// Whether a message with this embedding and event time must wait for the whitening.
    fn hold(&mut self, embedding: &[i16], ts_ms: i64) -> Hold {
        let Space::Fitting { sample, since_ms } = &mut self.space else { return Hold::Absorb };
        if embedding.len() != self.dim {
            return Hold::Absorb;
        }
        sample.push(embedding.to_vec());
        let since = *since_ms.get_or_insert(ts_ms);
        // A slow stream does not wait for a full sample past its warm-up, when alerts start.
        let warmed = ts_ms >= since.saturating_add(self.params.warmup_ms) && sample.len() >= 2;
        if sample.len() < self.params.whitening_sample && !warmed {
            return Hold::Held;
        }
        self.fit();
        Hold::Release
    }

    /// Fits the whitening on whatever is held. Returns whether messages were held.
    fn release(&mut self) -> bool {
        let held = matches!(&self.space, Space::Fitting { sample, .. } if !sample.is_empty());
        if held {
            self.fit();
        }
        held
    }

    fn fit(&mut self) {
        let Space::Fitting { sample, .. } = &mut self.space else { return };
        let sample = std::mem::take(sample);
        // One message has no covariance; it (a stream of one) is clustered as it is.
        self.space = match Whitening::fit(self.dim, sample.iter().map(Vec::as_slice)) {
            Some(w) => {
                tracing::info!(messages = w.fitted_on, "fitted the clusterer's whitening");
                Space::Whitened(w)
            }
            None => Space::Raw,
        };
    }

    pub fn len(&self) -> usize {
        self.clusters.len()
    }

    pub fn is_empty(&self) -> bool {
        self.clusters.is_empty()
    }

    pub fn get(&self, id: u64) -> Option<&Cluster> {
        self.clusters.get(&self.resolve(id))
    }

    /// The live cluster `id` became (itself unless it was merged away).
    pub fn resolve(&self, mut id: u64) -> u64 {
        while let Some(&into) = self.merged_into.get(&id) {
            id = into;
        }
        id
    }

    pub fn clusters(&self) -> impl Iterator<Item = &Cluster> {
        self.clusters.values()
    }

    /// Absorbs one message into every scope it belongs to. Messages without an embedding of
    /// the right size are ignored.
    pub fn absorb(&mut self, m: &Member<'_>, changes: &mut Vec<ClusterChange>) {
        if m.embedding.len() != self.dim {
            return;
        }
        let whitened;
        let m = match &self.space {
            Space::Whitened(w) => {
                whitened = w.apply(m.embedding);
                &Member { embedding: &whitened.0, ..*m }
            }
            _ => m,
        };
        self.started_ms.get_or_insert(m.ts_ms);
        self.clock_ms = self.clock_ms.max(m.ts_ms);
        let global = self.assign(Scope::Global, m, None, changes);
        if self.params.per_category {
            self.assign(Scope::Category(m.category.to_owned()), m, Some(global), changes);
        }
        if self.clock_ms >= self.last_sweep_ms.saturating_add(1000) {
            self.last_sweep_ms = self.clock_ms;
            self.expire(changes);
        }
    }

    /// Assigns `m` within `scope`; `link` is the global cluster it joined (category scopes).
    /// Returns the cluster it joined.
    fn assign(&mut self, scope: Scope, m: &Member<'_>, link: Option<u64>, changes: &mut Vec<ClusterChange>) -> u64 {
        let sketch = self.sketcher.sketch(m.embedding);
        let nearest = self
            .index
            .get(&scope)
            .and_then(|ix| ix.nearest_within(m.embedding, &sketch, &self.sketcher, self.params.similarity));
        let (id, similarity) = match nearest {
            Some((slot, cos)) => (self.index[&scope].ids[slot], cos),
            None => (self.create(scope.clone(), m, &sketch), 1.0),
        };
        let cluster = self.clusters.get_mut(&id).expect("indexed cluster exists");
        if cluster.count > 0 {
            for (s, &x) in cluster.sum.iter_mut().zip(m.embedding) {
                *s += x as f32 / EMBEDDING_SCALE;
            }
        }
        cluster.count += 1;
        cluster.last_seen_ms = cluster.last_seen_ms.max(m.ts_ms);
        cluster.first_seen_ms = cluster.first_seen_ms.min(m.ts_ms);
        cluster.sentiment_sum += m.sentiment_milli as i64;
        cluster.negative += m.negative as u64;
        Cluster::add_span(&mut cluster.categories, m.category, 1);
        Cluster::add_span(&mut cluster.channels, m.channel, 1);
        if cluster.first_ids.len() < FIRST_IDS {
            cluster.first_ids.push(m.id.to_owned());
            cluster.first_links.extend(link);
        }
        let (count, established) = (cluster.count, cluster.established);
        let centroid = cluster.centroid();
        self.store_text(id, m, similarity);
        // A cluster's first member is its centroid, whose sketch is the message's.
        let centroid_sketch = if count > 1 { self.sketcher.sketch(&centroid.0) } else { sketch };
        let ix = self.index.get_mut(&scope).expect("scope index");
        if let Some(slot) = ix.position(id) {
            ix.set(slot, &centroid.0, &centroid_sketch);
        }
        if !established {
            self.check_established(id, m.ts_ms, changes);
        }
        let counted = self.clusters.get(&id).is_some_and(|c| c.established);
        changes.push(ClusterChange::Joined { cluster: id, counted });
        // A cluster the message just started has no centroid within `similarity` of it, let
        // alone `merge_similarity` (validated to be at least that): no merge scan.
        if count > 1 && (count.is_power_of_two() || count % 64 == 0) {
            self.merge_neighbours(id, changes);
        }
        self.resolve(id)
    }

    fn create(&mut self, scope: Scope, m: &Member<'_>, sketch: &[u64]) -> u64 {
        let dim = self.dim;
        let live = self.index.get(&scope).map_or(0, |ix| ix.ids.len());
        if live >= self.params.max_clusters {
            // The least useful clusters make room: not established, fewest members, idle
            // longest. A sixteenth of the scope at once, so a stream of one-off messages does
            // not pay a scan of every cluster each.
            let mut ranked: Vec<(bool, u64, i64, u64)> = self.index[&scope]
                .ids
                .iter()
                .filter_map(|id| self.clusters.get(id))
                .map(|c| (c.established, c.count, c.last_seen_ms, c.id))
                .collect();
            let room = (self.params.max_clusters / 16).max(1);
            ranked.select_nth_unstable(room - 1);
            for (_, _, _, victim) in ranked.into_iter().take(room) {
                self.drop_cluster(victim);
            }
        }
        let id = self.next_id;
        self.next_id += 1;
        let cluster = Cluster {
            id,
            scope: scope.clone(),
            sum: m.embedding.iter().map(|&x| x as f32 / EMBEDDING_SCALE).collect(),
            count: 0,
            first_seen_ms: m.ts_ms,
            last_seen_ms: m.ts_ms,
            recent: VecDeque::new(),
            first_ids: Vec::new(),
            first_links: Vec::new(),
            texts: Vec::new(),
            sentiment_sum: 0,
            negative: 0,
            categories: BTreeMap::new(),
            channels: BTreeMap::new(),
            established: false,
            alerted: false,
        };
        self.index.entry(scope).or_default().push(id, m.embedding, sketch);
        debug_assert_eq!(m.embedding.len(), dim);
        self.clusters.insert(id, cluster);
        id
    }

    fn check_established(&mut self, id: u64, ts_ms: i64, changes: &mut Vec<ClusterChange>) {
        let (min_size, window_ms) = (self.params.min_size, self.params.window_ms);
        let cluster = self.clusters.get_mut(&id).expect("cluster exists");
        cluster.recent.push_back(ts_ms);
        while cluster.recent.len() > min_size {
            cluster.recent.pop_front();
        }
        let (Some(first), Some(last)) = (cluster.recent.iter().min(), cluster.recent.iter().max()) else { return };
        if cluster.recent.len() < min_size || last - first > window_ms {
            return;
        }
        cluster.established = true;
        cluster.recent = VecDeque::new();
        let in_warmup = self.started_ms.is_some_and(|s| ts_ms < s + self.params.warmup_ms);
        // A cluster that took long to gather its members (many of them older than the window)
        // is a known, slowly recurring issue, not a new one.
        let young = cluster.count as usize <= min_size + min_size / 2;
        if in_warmup || !young || !self.params.alerts {
            return;
        }
        let nearest = self.nearest_established(id);
        if nearest.is_some_and(|(_, cos)| cos >= self.params.novelty) {
            return;
        }
        // One emerging issue is seen by the global and its category scope: alert once. A
        // category cluster speaks for the global cluster most of its first members joined.
        if let Some(global) = self.majority_link(id) {
            let covered = self.clusters.get(&global).is_some_and(|g| g.alerted);
            if let Some(g) = self.clusters.get_mut(&global) {
                g.alerted = true;
            }
            if covered {
                return;
            }
        }
        let cluster = self.clusters.get_mut(&id).expect("cluster exists");
        cluster.alerted = true;
        let summary = self.summary(id).expect("cluster exists");
        let cluster = &self.clusters[&id];
        changes.push(ClusterChange::New(NewCluster {
            id,
            scope: cluster.scope.clone(),
            ts_ms,
            first_seen_ms: cluster.first_seen_ms,
            size: cluster.count,
            keywords: summary.keywords,
            samples: summary.samples,
            sample_ids: cluster.first_ids.clone(),
            sentiment_mean: round3(cluster.sentiment_mean()),
            negative_share: round3(cluster.negative_share()),
            categories: cluster.categories.keys().cloned().collect(),
            channels: cluster.channels.keys().cloned().collect(),
            nearest_established: nearest.map(|(id, cos)| (id, round3(cos as f64) as f32)),
        }));
    }

    /// The live global cluster most of a category cluster's first members joined.
    fn majority_link(&self, id: u64) -> Option<u64> {
        let mut votes: HashMap<u64, usize> = HashMap::new();
        for &g in &self.clusters[&id].first_links {
            *votes.entry(self.resolve(g)).or_default() += 1;
        }
        votes.into_iter().max_by_key(|(g, n)| (*n, std::cmp::Reverse(*g))).map(|(g, _)| g)
    }

    /// `embedding` in the space the clusterer takes cosines in; `None` while the whitening is
    /// not fitted yet.
    pub fn in_space(&self, embedding: &[i16]) -> Option<Embedding> {
        match &self.space {
            Space::Raw => Some(Embedding(embedding.to_vec())),
            Space::Fitting { .. } => None,
            Space::Whitened(w) => Some(w.apply(embedding)),
        }
    }

    /// The established cluster of the same scope nearest to `id`'s centroid.
    fn nearest_established(&self, id: u64) -> Option<(u64, f32)> {
        let cluster = &self.clusters[&id];
        let centroid = cluster.centroid();
        let ix = self.index.get(&cluster.scope)?;
        ix.ids
            .iter()
            .zip(ix.centroids.chunks_exact(self.dim))
            .filter(|(other, _)| **other != id && self.clusters.get(other).is_some_and(|c| c.established))
            .map(|(other, c)| (*other, cosine_q(c, &centroid.0)))
            .max_by(|a, b| a.1.total_cmp(&b.1).then_with(|| b.0.cmp(&a.0)))
    }

    /// Merges `id` with every cluster of its scope whose centroid is within `merge_similarity`.
    fn merge_neighbours(&mut self, id: u64, changes: &mut Vec<ClusterChange>) {
        let Some(cluster) = self.clusters.get(&id) else { return };
        let scope = cluster.scope.clone();
        let centroid = cluster.centroid();
        let ix = &self.index[&scope];
        let Some(slot) = ix.position(id) else { return };
        let sketch = ix.sketch(slot, self.sketcher.words());
        let close: Vec<u64> = ix
            .within(&centroid.0, sketch, &self.sketcher, self.params.merge_similarity)
            .map(|(slot, _)| ix.ids[slot])
            .filter(|other| *other != id)
            .collect();
        let mut survivor = id;
        for other in close {
            let (keep, gone) = (survivor.min(other), survivor.max(other));
            self.merge(keep, gone);
            changes.push(ClusterChange::Merged { from: gone, into: keep });
            survivor = keep;
        }
    }

    fn merge(&mut self, keep: u64, gone: u64) {
        let dim = self.dim;
        let Some(g) = self.clusters.remove(&gone) else { return };
        self.index.get_mut(&g.scope).expect("scope index").remove(gone, dim, self.sketcher.words());
        let k = self.clusters.get_mut(&keep).expect("survivor exists");
        for (s, x) in k.sum.iter_mut().zip(&g.sum) {
            *s += x;
        }
        k.count += g.count;
        k.first_seen_ms = k.first_seen_ms.min(g.first_seen_ms);
        k.last_seen_ms = k.last_seen_ms.max(g.last_seen_ms);
        k.sentiment_sum += g.sentiment_sum;
        k.negative += g.negative;
        for (c, n) in &g.categories {
            Cluster::add_span(&mut k.categories, c, *n);
        }
        for (c, n) in &g.channels {
            Cluster::add_span(&mut k.channels, c, *n);
        }
        k.established |= g.established;
        k.alerted |= g.alerted;
        if k.first_ids.len() < FIRST_IDS {
            let room = FIRST_IDS - k.first_ids.len();
            k.first_ids.extend(g.first_ids.iter().take(room).cloned());
        }
        // Keep the stored texts most like their centroids; the others leave the term counts.
        let mut texts = std::mem::take(&mut k.texts);
        texts.extend(g.texts);
        texts.sort_by(|a, b| b.similarity.total_cmp(&a.similarity).then_with(|| a.id.cmp(&b.id)));
        let dropped: Vec<StoredText> = texts.split_off(TEXTS_KEPT.min(texts.len()));
        k.texts = texts;
        let centroid = k.centroid();
        let scope = k.scope.clone();
        for t in dropped {
            self.count_terms(&t.terms, -1);
        }
        let sketch = self.sketcher.sketch(&centroid.0);
        let ix = self.index.get_mut(&scope).expect("scope index");
        if let Some(slot) = ix.position(keep) {
            ix.set(slot, &centroid.0, &sketch);
        }
        self.segment_texts(keep);
        self.merged_into.insert(gone, keep);
        self.merge_order.push_back(gone);
        if self.merge_order.len() > MERGES_KEPT {
            if let Some(old) = self.merge_order.pop_front() {
                self.merged_into.remove(&old);
            }
        }
    }

    fn drop_cluster(&mut self, id: u64) {
        if let Some(c) = self.clusters.remove(&id) {
            self.index.get_mut(&c.scope).expect("scope index").remove(id, self.dim, self.sketcher.words());
            for t in &c.texts {
                self.count_terms(&t.terms, -1);
            }
        }
    }

    /// Drops clusters no message joined within `idle_expiry` of the clock.
    fn expire(&mut self, changes: &mut Vec<ClusterChange>) {
        let horizon = self.clock_ms - self.params.idle_expiry_ms;
        let mut idle: Vec<u64> = self.clusters.values().filter(|c| c.last_seen_ms < horizon).map(|c| c.id).collect();
        idle.sort_unstable();
        for id in idle {
            self.drop_cluster(id);
            changes.push(ClusterChange::Dropped(id));
        }
    }
}

impl ClusterState {
    pub fn clock_ms(&self) -> i64 {
        self.clock_ms
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::enrich::terms::terms;
    use std::collections::HashSet;

    const D: usize = 32;

    pub(in crate::dataflow::clusters) fn params() -> ClusterParams {
        ClusterParams {
            similarity: 0.8,
            merge_similarity: 0.95,
            novelty: 0.5,
            min_size: 4,
            window_ms: 60_000,
            warmup_ms: 10_000,
            idle_expiry_ms: 3_600_000,
            max_clusters: 100,
            per_category: false,
            alerts: true,
            whitening_sample: 0,
        }
    }

    /// A unit vector near axis `axis`, nudged by `jitter` on axis `axis + 1`.
    fn vector(axis: usize, jitter: f32) -> Embedding {
        let mut v = [0.0f32; D];
        v[axis] = 1.0;
        v[(axis + 1) % D] = jitter;
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        Embedding::quantize(&v.iter().map(|x| x / n).collect::<Vec<_>>())
    }

    fn absorb(s: &mut ClusterState, id: &str, ts_ms: i64, axis: usize, jitter: f32, text: &str) -> Vec<ClusterChange> {
        let e = vector(axis, jitter);
        let m = Member {
            id,
            ts_ms,
            category: "other",
            channel: "app",
            sentiment_milli: -500,
            negative: true,
            text,
            embedding: &e.0,
        };
        let mut changes = Vec::new();
        s.absorb(&m, &mut changes);
        changes
    }

    fn joined(changes: &[ClusterChange]) -> u64 {
        changes
            .iter()
            .find_map(|c| if let ClusterChange::Joined { cluster, .. } = c { Some(*cluster) } else { None })
            .unwrap()
    }

    #[test]
    fn ids_stay_stable_as_a_cluster_grows() {
        let mut s = ClusterState::new(params(), D);
        let first = joined(&absorb(&mut s, "a", 0, 0, 0.0, "付款失败"));
        for i in 0..20 {
            let c = absorb(&mut s, &format!("m{i}"), 1000 * i, 0, 0.1 * (i % 3) as f32, "付款失败 重复扣款");
            assert_eq!(joined(&c), first);
        }
        let other = joined(&absorb(&mut s, "b", 30_000, 5, 0.0, "物流太慢"));
        assert_ne!(other, first);
        assert_eq!(s.get(first).unwrap().count, 21);
    }

    #[test]
    fn a_new_cluster_alerts_once_after_warmup_and_noise_never_does() {
        let mut s = ClusterState::new(params(), D);
        // Warm-up: axis 0 becomes established without an alert.
        let mut all = Vec::new();
        for i in 0..6 {
            all.extend(absorb(&mut s, &format!("w{i}"), 1000 * i, 0, 0.0, "登录 验证码"));
        }
        assert!(!all.iter().any(|c| matches!(c, ClusterChange::New(_))));
        // Noise: every message on its own axis, none reaches the size.
        for i in 0..20 {
            all.extend(absorb(&mut s, &format!("n{i}"), 20_000 + i, 2 + i as usize % 28, 0.0, "随便说说"));
        }
        // A variant of the established cluster (cosine 0.71 to it) forms its own cluster, but it
        // is not new.
        for i in 0..6 {
            all.extend(absorb(&mut s, &format!("v{i}"), 30_000 + i, 0, 1.0, "登录 短信"));
        }
        let news = |changes: &[ClusterChange]| changes.iter().filter(|c| matches!(c, ClusterChange::New(_))).count();
        assert_eq!(news(&all), 0);
        assert_eq!(s.clusters().filter(|c| c.established).count(), 2);
        let mut emerging = Vec::new();
        for i in 0..10 {
            let text = format!("直播间 打赏 扣费 异常 {i}");
            emerging.extend(absorb(&mut s, &format!("e{i}"), 40_000 + 100 * i, 30, 0.0, &text));
        }
        assert_eq!(news(&emerging), 1, "{emerging:?}");
        // An issue that recurs slowly (one message a minute, four per window) is not new when
        // it finally has four within a window.
        let mut slow = Vec::new();
        for i in 0..12 {
            let ts = 100_000 + 60_000 * i;
            slow.extend(absorb(&mut s, &format!("s{i}"), ts, 26, 0.0, "慢慢"));
        }
        for i in 0..4 {
            slow.extend(absorb(&mut s, &format!("t{i}"), 900_000 + i, 26, 0.0, "慢慢"));
        }
        assert_eq!(news(&slow), 0, "{slow:?}");
        assert!(s.clusters().any(|c| c.scope == Scope::Global && c.established && c.first_ids[0] == "s0"));
        let new = emerging.iter().find_map(|c| if let ClusterChange::New(n) = c { Some(n.clone()) } else { None });
        let new = new.unwrap();
        assert_eq!(new.size, 4);
        assert_eq!(new.sample_ids, vec!["e0", "e1", "e2", "e3"]);
        assert!(new.keywords.contains(&"直播间".to_string()), "{:?}", new.keywords);
        assert!(new.nearest_established.is_some_and(|(_, cos)| cos < 0.5));
    }

    #[test]
    fn close_clusters_merge_into_the_older_id() {
        let mut p = params();
        p.similarity = 0.9;
        p.merge_similarity = 0.93;
        let mut s = ClusterState::new(p, D);
        // 0°, then 26.6° (cosine 0.89: a cluster of its own), then 15°: nearer the second, whose
        // centroid moves to 20.8°, within 0.93 of the first.
        let a = joined(&absorb(&mut s, "a", 0, 0, 0.0, "x"));
        let b = joined(&absorb(&mut s, "b", 1, 0, 0.5, "y"));
        assert_ne!(a, b);
        let c = absorb(&mut s, "c", 2, 0, 0.268, "y");
        assert_eq!(joined(&c), b);
        assert!(c.contains(&ClusterChange::Merged { from: b, into: a }), "{c:?}");
        assert_eq!(s.resolve(b), a);
        assert_eq!(s.get(b).unwrap().count, 3);
        assert_eq!(s.len(), 1);
    }

    /// The c-TF-IDF totals against a recount from every stored text, and the segmentation rule:
    /// a cluster's texts are segmented exactly when it has a second member.
    fn assert_term_totals_match_a_recount(s: &ClusterState) {
        let mut recount: HashMap<String, u32> = HashMap::new();
        for c in s.clusters.values() {
            for t in &c.texts {
                assert_eq!(t.segmented, c.count >= 2, "cluster {} of {} members", c.id, c.count);
                assert_eq!(t.terms, if t.segmented { terms(&t.text) } else { Vec::new() });
                for term in &t.terms {
                    *recount.entry(term.clone()).or_default() += 1;
                }
            }
        }
        assert_eq!(s.term_totals, recount);
    }

    #[test]
    fn term_totals_follow_joins_merges_drops_and_expiry() {
        let mut p = params();
        p.max_clusters = 12;
        p.idle_expiry_ms = 20_000;
        p.merge_similarity = 0.85;
        let mut s = ClusterState::new(p, D);
        let texts =
            ["付款失败 重复扣款", "物流太慢 快递没到", "登录 验证码 收不到", "闪退 打开就崩溃", "退款 一直没到账"];
        // A singleton at 40° off axis 0, then messages at 15° pull the axis cluster towards it
        // until, at its fourth member, the two centroids are within 0.85 and merge.
        let mut merges = 0;
        for (i, jitter) in [0.0, 0.839, 0.268, 0.268, 0.268].into_iter().enumerate() {
            let changes = absorb(&mut s, &format!("s{i}"), i as i64, 0, jitter, texts[i]);
            merges += changes.iter().filter(|c| matches!(c, ClusterChange::Merged { .. })).count();
            assert_term_totals_match_a_recount(&s);
        }
        assert_eq!(merges, 1);
        let mut rng = crate::util::SplitMix::new(3);
        for i in 0..400 {
            // Mostly a few busy axes (joins, merges), some one-off axes (singletons, drops).
            let axis = if rng.unit() < 0.7 { rng.below(4) } else { 4 + rng.below(D - 4) };
            // Up to 56° off the axis: far ends start clusters of their own that later drift
            // into their neighbours and merge.
            let jitter = rng.unit() as f32 * 1.5;
            let ts = 1000 + i as i64 * 150;
            absorb(&mut s, &format!("m{i}"), ts, axis, jitter, texts[rng.below(texts.len())]);
            assert_term_totals_match_a_recount(&s);
        }
        assert!(s.clusters.values().any(|c| c.count == 1), "some singletons remain");
        // A singleton's keywords come from its own text.
        let single = s.clusters.values().find(|c| c.count == 1).map(|c| (c.id, c.texts[0].text.clone())).unwrap();
        let words = terms(&single.1);
        assert!(!s.keywords(single.0, 5).is_empty());
        assert!(s.keywords(single.0, 5).iter().all(|k| words.contains(k)));
    }

    #[test]
    fn idle_clusters_expire_and_the_count_is_bounded() {
        let mut p = params();
        p.max_clusters = 5;
        p.idle_expiry_ms = 10_000;
        let mut s = ClusterState::new(p, D);
        for i in 0..12 {
            absorb(&mut s, &format!("n{i}"), i, i as usize, 0.0, "z");
        }
        assert_eq!(s.len(), 5);
        let changes = absorb(&mut s, "late", 60_000, 20, 0.0, "z");
        // One made room for the new cluster, the other four expired.
        assert_eq!(changes.iter().filter(|c| matches!(c, ClusterChange::Dropped(_))).count(), 4);
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn a_snapshot_restores_ids_and_centroids() {
        let mut s = ClusterState::new(params(), D);
        let a = joined(&absorb(&mut s, "a", 0, 0, 0.0, "付款失败"));
        absorb(&mut s, "b", 1, 3, 0.0, "物流");
        let mut restored = ClusterState::restore(params(), D, s.snapshot());
        assert_eq!(joined(&absorb(&mut restored, "c", 2, 0, 0.05, "付款失败")), a);
        let fresh = joined(&absorb(&mut restored, "d", 3, 9, 0.0, "新问题"));
        assert_eq!(fresh, 3, "ids continue after the restored ones");
    }

    #[test]
    fn whitened_clustering_waits_for_its_fit_and_restores_in_its_own_space() {
        let whitened = ClusterParams { whitening_sample: 12, ..params() };
        let mut s = ClusterState::new(whitened.clone(), D);
        // Three messages on each of four axes, held until the twelfth releases them all. (No
        // jitter: whitening magnifies directions the sample barely varies in.)
        let messages: Vec<(String, i64, usize, f32)> =
            (0..12).map(|i| (format!("m{i}"), i as i64, i % 4, 0.0)).collect();
        for (k, (_, ts, axis, jitter)) in messages.iter().enumerate() {
            let expected = if k < 11 { Hold::Held } else { Hold::Release };
            assert_eq!(s.hold(&vector(*axis, *jitter).0, *ts), expected, "message {k}");
        }
        assert_eq!(s.hold(&vector(0, 0.0).0, 20), Hold::Absorb, "fitted once");
        let ids: Vec<u64> = messages
            .iter()
            .map(|(id, ts, axis, jitter)| joined(&absorb(&mut s, id, *ts, *axis, *jitter, "t")))
            .collect();
        assert_eq!((ids[0], ids[0]), (ids[4], ids[8]), "one axis, one cluster");
        assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 4, "four axes, four clusters");
        let snapshot = s.snapshot();
        assert_eq!(snapshot.whitening.as_ref().map(|w| w.fitted_on), Some(12));
        let mut restored = ClusterState::restore(whitened, D, snapshot.clone());
        assert_eq!(restored.hold(&vector(1, 0.0).0, 30), Hold::Absorb, "the whitening came with the snapshot");
        assert_eq!(joined(&absorb(&mut restored, "x", 30, 1, 0.0, "t")), ids[1]);
        // Raw cosines would not mean the same for these centroids: the clusters start afresh,
        // and ids go on from the snapshot's.
        let mut raw = ClusterState::restore(params(), D, snapshot);
        assert!(raw.is_empty());
        assert_eq!(raw.hold(&vector(1, 0.0).0, 40), Hold::Absorb);
        assert_eq!(joined(&absorb(&mut raw, "y", 40, 1, 0.0, "t")), ids.iter().max().unwrap() + 1);
    }

    #[test]
    fn a_slow_stream_fits_when_its_warm_up_ends_and_the_end_of_input_releases_the_rest() {
        let slow = ClusterParams { whitening_sample: 1000, ..params() };
        let mut s = ClusterState::new(slow.clone(), D);
        assert_eq!(s.hold(&vector(0, 0.0).0, 0), Hold::Held);
        assert_eq!(s.hold(&vector(1, 0.0).0, 5_000), Hold::Held);
        assert_eq!(s.hold(&[1, 2], 6_000), Hold::Absorb, "a message without an embedding waits for nothing");
        assert_eq!(s.hold(&vector(2, 0.0).0, 10_000), Hold::Release, "the warm-up (10 s) has passed");
        let mut s = ClusterState::new(slow, D);
        assert!(!s.release(), "nothing held");
        s.hold(&vector(0, 0.0).0, 0);
        s.hold(&vector(1, 0.0).0, 1);
        assert!(s.release());
        assert_eq!(s.hold(&vector(2, 0.0).0, 2), Hold::Absorb);
        assert!(s.snapshot().whitening.is_some());
    }
}
