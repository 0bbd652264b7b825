//! `feedpulse eval new-clusters FILE`: does the new-cluster alert find kinds of messages it has
//! never seen? Labels of a labelled set (e.g. banking77's intents) play the kinds: `--holdout K`
//! labels are held back, the others stream first as background (the clusterer's warm-up), then
//! the held-out ones are interleaved with the rest of the background from a known point. The
//! clusterer is the one the dataflow runs ([`ClusterState`]), global scope, with the
//! configuration's parameters unless overridden.
//!
//! Scored: a held-out label is detected by the first new-cluster alert whose first members are
//! mostly that label; its delay is how many of its messages had streamed by then. Every other
//! alert (background labels, a second alert for a detected label) is false. Purity and NMI
//! compare each message's final cluster with its label.

use crate::dataflow::clusters::{unit_quantized, ClusterChange, ClusterParams, ClusterState, Member};
use crate::enrich::Embedder;
use crate::event::{cosine_q, Embedding, EMBEDDING_SCALE};
use crate::util::error::{bail_invalid, Context, Result};
use crate::util::SplitMix;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

pub struct Options {
    pub holdout: usize,
    pub seed: u64,
    /// Share of the background streamed before the held-out labels start.
    pub background_share: f64,
    /// Event time between consecutive messages.
    pub interval_ms: i64,
    pub limit: Option<usize>,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub n: usize,
    pub holdout_labels: Vec<String>,
    /// Index of the first interleaved message (where the held-out labels may start).
    pub known_point: usize,
    pub detected: usize,
    pub recall: f64,
    pub median_delay_messages: Option<f64>,
    /// Per detected label: (label, its messages streamed until the alert).
    pub delays: Vec<(String, usize)>,
    pub false_alerts: usize,
    /// Of the false alerts, those whose first members were mostly a held-out label that had
    /// already been detected: one new kind seen as two clusters.
    pub false_repeats: usize,
    pub false_alerts_per_10k: f64,
    pub purity: f64,
    pub nmi: f64,
    pub clusters: usize,
    /// What a perfect grouper could reach with this encoder and novelty rule; `None` when the
    /// clusterer's whitening was never fitted.
    pub ceiling: Option<Ceiling>,
    pub embed_per_s: f64,
    pub assign_per_s: f64,
}

/// A bound on any clusterer that judges novelty as the new-cluster rule does, with this encoder:
/// the ideal clusterer, whose clusters are the labels. Each background label's warm-up messages
/// form one established cluster; each label's first `group_size` messages after the known point
/// are then judged as the rule judges a cluster that has just gathered them, by the cosine from
/// their centroid to the nearest established cluster (the rule alerts below `novelty`). A
/// held-out label can alert after `group_size` of its messages without a false alert only if its
/// group is farther out than every background label's group.
#[derive(Debug, Serialize)]
pub struct Ceiling {
    pub group_size: usize,
    /// Per held-out label, its group's cosine to the nearest established cluster.
    pub held_out: Vec<(String, f32)>,
    /// The three background groups farthest out, farthest first.
    pub background_farthest: Vec<(String, f32)>,
    /// Share of held-out groups farther out than every background group: the recall at delay
    /// `group_size` of a novelty threshold that lets no background group alert.
    pub recall_no_false: f64,
    /// The same, letting the farthest background group alert.
    pub recall_one_false: f64,
    /// The same two recalls when the known picture is not the labels but what the warm-up
    /// shows without them: each group is judged against the mean of the
    /// [`LABEL_FREE_NEIGHBOURS`] warm-up messages nearest its centroid. An ideal grouping of the
    /// new kind with a label-free idea of what is known: the bound for any clusterer.
    pub label_free_recall_no_false: f64,
    pub label_free_recall_one_false: f64,
}

/// Warm-up messages averaged into a group's label-free prototype: about two groups' worth, so
/// the prototype is as smooth as the group it is compared with (1 to 32 measured: within ±0.05
/// of recall on banking77 and online_shopping; hwu64 rises with more, docs/notes).
pub const LABEL_FREE_NEIGHBOURS: usize = 16;

fn centroid<'a>(members: impl IntoIterator<Item = &'a Embedding>) -> Embedding {
    let mut sum = vec![0f32; crate::enrich::encoder::DIM];
    for member in members {
        for (s, &x) in sum.iter_mut().zip(&member.0) {
            *s += x as f32 / EMBEDDING_SCALE;
        }
    }
    unit_quantized(&sum)
}

/// `None` while the clusterer's space is not final (the whitening not fitted).
fn ceiling(
    state: &ClusterState,
    labels_in_order: &[&str],
    embeddings: &[Embedding],
    known_point: usize,
    holdout: &[String],
    group_size: usize,
) -> Option<Ceiling> {
    let spaced: Vec<Embedding> = embeddings.iter().map(|e| state.in_space(&e.0)).collect::<Option<_>>()?;
    let mut warm_up: BTreeMap<&str, Vec<&Embedding>> = BTreeMap::new();
    let mut groups: BTreeMap<&str, Vec<&Embedding>> = BTreeMap::new();
    for (position, (label, embedding)) in labels_in_order.iter().zip(&spaced).enumerate() {
        if position < known_point {
            warm_up.entry(label).or_default().push(embedding);
        } else {
            let group = groups.entry(label).or_default();
            if group.len() < group_size {
                group.push(embedding);
            }
        }
    }
    let warm_up_messages: Vec<&Embedding> = warm_up.values().flatten().copied().collect();
    let established: Vec<Embedding> = warm_up.into_values().map(centroid).collect();
    let by_labels =
        |group: &Embedding| established.iter().map(|e| cosine_q(&e.0, &group.0)).fold(f32::NEG_INFINITY, f32::max);
    let label_free = |group: &Embedding| {
        let mut nearest: Vec<(f32, &Embedding)> =
            warm_up_messages.iter().map(|e| (cosine_q(&e.0, &group.0), *e)).collect();
        let k = LABEL_FREE_NEIGHBOURS.min(nearest.len());
        if k == 0 {
            return f32::NEG_INFINITY;
        }
        nearest.select_nth_unstable_by(k - 1, |a, b| b.0.total_cmp(&a.0));
        cosine_q(&centroid(nearest[..k].iter().map(|(_, e)| *e)).0, &group.0)
    };
    struct Judged {
        held_out: bool,
        label: String,
        by_labels: f32,
        label_free: f32,
    }
    let judged: Vec<Judged> = groups
        .into_iter()
        .filter(|(_, g)| g.len() == group_size)
        .map(|(label, group)| {
            let group = centroid(group);
            Judged {
                held_out: holdout.iter().any(|h| h == label),
                label: label.to_owned(),
                by_labels: by_labels(&group),
                label_free: label_free(&group),
            }
        })
        .collect();
    // Recall with no false alert and with one: held-out groups farther out than every
    // background group, or than all but the farthest.
    let recalls = |cos: fn(&Judged) -> f32| {
        let mut background: Vec<f32> = judged.iter().filter(|g| !g.held_out).map(cos).collect();
        background.sort_by(f32::total_cmp);
        let held_out: Vec<f32> = judged.iter().filter(|g| g.held_out).map(cos).collect();
        let below = |bound: Option<&f32>| {
            let bound = bound.copied().unwrap_or(f32::INFINITY);
            held_out.iter().filter(|&&c| c < bound).count() as f64 / held_out.len().max(1) as f64
        };
        (below(background.first()), below(background.get(1)))
    };
    let (recall_no_false, recall_one_false) = recalls(|g| g.by_labels);
    let (label_free_recall_no_false, label_free_recall_one_false) = recalls(|g| g.label_free);
    let held_out = judged.iter().filter(|g| g.held_out).map(|g| (g.label.clone(), g.by_labels)).collect();
    let mut background: Vec<(String, f32)> =
        judged.iter().filter(|g| !g.held_out).map(|g| (g.label.clone(), g.by_labels)).collect();
    background.sort_by(|a, b| a.1.total_cmp(&b.1));
    background.truncate(3);
    Some(Ceiling {
        group_size,
        held_out,
        background_farthest: background,
        recall_no_false,
        recall_one_false,
        label_free_recall_no_false,
        label_free_recall_one_false,
    })
}

/// Rows of (text, label) from a CSV whose header names the text (`text` or `review`) and the
/// label (`category`, `cat`, `intent` or `label`, the first of these present: in
/// online_shopping_10_cats `label` is the sentiment and `cat` the product category), or NDJSON
/// objects with `text` and `label` (or `category`).
pub fn read_labelled(path: &Path) -> Result<Vec<(String, String)>> {
    let body = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let is_ndjson = body.trim_start().starts_with('{');
    let mut rows = Vec::new();
    if is_ndjson {
        for (i, line) in body.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let v: serde_json::Value =
                serde_json::from_str(line).with_context(|| format!("{}:{}: not JSON", path.display(), i + 1))?;
            let field = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
            match (field("text"), field("label").or_else(|| field("category"))) {
                (Some(t), Some(l)) => rows.push((t, l)),
                _ => bail_invalid!("{}:{}: needs string fields `text` and `label`", path.display(), i + 1),
            }
        }
    } else {
        let mut lines = super::sentiment::csv_rows(&body).with_context(|| path.display().to_string())?.into_iter();
        let header = lines.next().unwrap_or_default();
        let col = |names: &[&str]| names.iter().find_map(|n| header.iter().position(|h| h.trim() == *n));
        let (Some(t), Some(l)) = (col(&["text", "review"]), col(&["category", "cat", "intent", "label"])) else {
            bail_invalid!("{}: the header must name a `text` and a `label` (or `category`) column", path.display());
        };
        rows.extend(lines.filter(|r| r.len() > t.max(l)).map(|r| (r[t].clone(), r[l].clone())));
    }
    Ok(rows)
}

/// The order messages stream in: background first, then background and held-out interleaved.
/// Returns the row indexes and the known point.
fn stream_order(
    rows: &[(String, String)],
    holdout: &[String],
    options: &Options,
    rng: &mut SplitMix,
) -> (Vec<usize>, usize) {
    let (mut held, mut background): (Vec<usize>, Vec<usize>) =
        (0..rows.len()).partition(|&i| holdout.contains(&rows[i].1));
    rng.shuffle(&mut held);
    rng.shuffle(&mut background);
    let known_point = (background.len() as f64 * options.background_share).round() as usize;
    let mut order: Vec<usize> = background[..known_point].to_vec();
    let (mut rest, mut held) = (background[known_point..].iter().peekable(), held.iter().peekable());
    // Interleave at random in proportion to what is left of each.
    while rest.peek().is_some() || held.peek().is_some() {
        let (r, h) = (rest.len(), held.len());
        let take_held = rng.below(r + h) < h;
        order.push(*if take_held { held.next() } else { rest.next() }.expect("non-empty side"));
    }
    (order, known_point)
}

/// Unit embeddings of `texts`, on every core.
pub fn embed_all(embedder: &Embedder, texts: &[&str]) -> Vec<Embedding> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).max(1);
    let chunk = texts.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = texts
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    let dim = crate::enrich::encoder::DIM;
                    embedder.embed(part).chunks_exact(dim).map(Embedding::quantize).collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("embedding thread")).collect()
    })
}

pub fn run(path: &Path, embedder: &Embedder, mut params: ClusterParams, options: &Options) -> Result<Report> {
    let mut rows = read_labelled(path)?;
    if rows.is_empty() {
        bail_invalid!("{}: no labelled rows", path.display());
    }
    let mut rng = SplitMix::new(options.seed);
    if let Some(limit) = options.limit {
        rng.shuffle(&mut rows);
        rows.truncate(limit);
    }
    let holdout = pick_holdout(&rows, options.holdout, &mut rng)?;
    let (order, known_point) = stream_order(&rows, &holdout, options, &mut rng);

    let started = std::time::Instant::now();
    let texts: Vec<&str> = order.iter().map(|&i| rows[i].0.as_str()).collect();
    let embeddings = embed_all(embedder, &texts);
    let embed_per_s = texts.len() as f64 / started.elapsed().as_secs_f64().max(1e-9);

    // The background phase is the starting picture: clusters established in it are known.
    params.warmup_ms = known_point as i64 * options.interval_ms;
    params.per_category = false;
    params.alerts = true;
    let group_size = params.min_size;
    let mut state = ClusterState::new(params, crate::enrich::encoder::DIM);
    let mut assigned: Vec<(usize, u64)> = Vec::with_capacity(order.len());
    let mut seen_of_label: HashMap<&str, usize> = HashMap::new();
    let mut detections: BTreeMap<String, usize> = BTreeMap::new();
    let (mut false_alerts, mut false_repeats) = (0, 0);
    let mut changes = Vec::new();
    let started = std::time::Instant::now();
    // Positions held until the whitening is fitted (on the background phase's first messages).
    let (mut held, mut ready) = (Vec::new(), Vec::new());
    for item in embeddings.iter().enumerate() {
        let position = item.0;
        state.admit(item, |(p, e)| (&e.0, *p as i64 * options.interval_ms), &mut held, &mut ready);
        if position + 1 == order.len() {
            state.release_held(&mut held, &mut ready);
        }
        for (position, embedding) in ready.drain(..) {
            let (text, label) = (&rows[order[position]].0, rows[order[position]].1.as_str());
            *seen_of_label.entry(label).or_default() += 1;
            let id = position.to_string();
            let member = Member {
                id: &id,
                ts_ms: position as i64 * options.interval_ms,
                category: "all",
                channel: "eval",
                sentiment_milli: 0,
                negative: false,
                text,
                embedding: &embedding.0,
            };
            changes.clear();
            state.absorb(&member, &mut changes);
            for change in &changes {
                match change {
                    ClusterChange::Joined { cluster, .. } => assigned.push((position, *cluster)),
                    ClusterChange::New(new) => {
                        let majority = majority_label(&new.sample_ids, &rows, &order);
                        let held_out = holdout.iter().any(|h| h == majority);
                        if held_out && !detections.contains_key(majority) {
                            detections.insert(majority.to_owned(), seen_of_label[majority]);
                        } else {
                            false_alerts += 1;
                            false_repeats += held_out as usize;
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    let assign_per_s = order.len() as f64 / started.elapsed().as_secs_f64().max(1e-9);
    // After the timed loop: the ceiling needs only the clusterer's (now final) space.
    let labels_in_order: Vec<&str> = order.iter().map(|&i| rows[i].1.as_str()).collect();
    let bound = ceiling(&state, &labels_in_order, &embeddings, known_point, &holdout, group_size);
    let finals: Vec<u64> = assigned.iter().map(|&(_, c)| state.resolve(c)).collect();
    let truth: Vec<&str> = assigned.iter().map(|&(p, _)| labels_in_order[p]).collect();
    let (purity, nmi) = purity_and_nmi(&finals, &truth);
    let median = median_delay(detections.values().copied().collect());
    Ok(Report {
        n: order.len(),
        holdout_labels: holdout.clone(),
        known_point,
        detected: detections.len(),
        recall: detections.len() as f64 / holdout.len() as f64,
        median_delay_messages: median,
        delays: detections.into_iter().collect(),
        false_alerts,
        false_repeats,
        false_alerts_per_10k: false_alerts as f64 * 10_000.0 / order.len() as f64,
        purity,
        nmi,
        clusters: finals.iter().collect::<std::collections::HashSet<_>>().len(),
        ceiling: bound,
        embed_per_s,
        assign_per_s,
    })
}

/// The labels held back: `count` of the file's labels, drawn with `rng`, sorted.
fn pick_holdout(rows: &[(String, String)], count: usize, rng: &mut SplitMix) -> Result<Vec<String>> {
    let mut labels: Vec<String> = rows.iter().map(|r| r.1.clone()).collect();
    labels.sort();
    labels.dedup();
    if count == 0 || count >= labels.len() {
        bail_invalid!("--holdout must be between 1 and {} (the labels in the file, less one)", labels.len() - 1);
    }
    rng.shuffle(&mut labels);
    labels.truncate(count);
    labels.sort();
    Ok(labels)
}

/// The label most of a new cluster's first members carry (ties: the smaller label).
fn majority_label<'r>(sample_ids: &[String], rows: &'r [(String, String)], order: &[usize]) -> &'r str {
    let mut votes: HashMap<&str, usize> = HashMap::new();
    for id in sample_ids {
        let p: usize = id.parse().expect("ids are stream positions");
        *votes.entry(rows[order[p]].1.as_str()).or_default() += 1;
    }
    votes.into_iter().max_by_key(|(l, n)| (*n, std::cmp::Reverse(*l))).expect("members").0
}

fn median_delay(mut delays: Vec<usize>) -> Option<f64> {
    delays.sort_unstable();
    match delays.len() {
        0 => None,
        n if n % 2 == 1 => Some(delays[n / 2] as f64),
        n => Some((delays[n / 2 - 1] + delays[n / 2]) as f64 / 2.0),
    }
}

/// Purity (each cluster counted as its majority label) and normalised mutual information
/// (arithmetic-mean normalisation) of a clustering against labels.
pub fn purity_and_nmi<C: std::hash::Hash + Eq + Copy, L: std::hash::Hash + Eq + Copy>(
    clusters: &[C],
    labels: &[L],
) -> (f64, f64) {
    let n = clusters.len() as f64;
    if clusters.is_empty() {
        return (0.0, 0.0);
    }
    let mut joint: HashMap<(C, L), f64> = HashMap::new();
    let mut by_cluster: HashMap<C, f64> = HashMap::new();
    let mut by_label: HashMap<L, f64> = HashMap::new();
    for (&c, &l) in clusters.iter().zip(labels) {
        *joint.entry((c, l)).or_default() += 1.0;
        *by_cluster.entry(c).or_default() += 1.0;
        *by_label.entry(l).or_default() += 1.0;
    }
    let mut majority: HashMap<C, f64> = HashMap::new();
    for (&(c, _), &k) in &joint {
        let m = majority.entry(c).or_default();
        *m = m.max(k);
    }
    let purity = majority.values().sum::<f64>() / n;
    let entropy = |counts: &mut dyn Iterator<Item = &f64>| -counts.map(|&k| k / n * (k / n).ln()).sum::<f64>();
    let (hc, hl) = (entropy(&mut by_cluster.values()), entropy(&mut by_label.values()));
    let mi: f64 = joint.iter().map(|(&(c, l), &k)| k / n * ((k * n) / (by_cluster[&c] * by_label[&l])).ln()).sum();
    let nmi = if hc + hl > 0.0 { 2.0 * mi / (hc + hl) } else { 1.0 };
    (purity, nmi)
}

/// Mean and sample standard deviation of one measure over seeds.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Spread {
    pub mean: f64,
    pub sd: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    pub fn of(values: &[f64]) -> Spread {
        let n = values.len().max(1) as f64;
        let mean = values.iter().sum::<f64>() / n;
        let var = if values.len() > 1 {
            values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (values.len() - 1) as f64
        } else {
            0.0
        };
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Spread { mean, sd: var.sqrt(), min, max }
    }
}

/// Several orders (seeds) of the same set: each measure's mean and spread.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub seeds: Vec<u64>,
    pub recall: Spread,
    /// Over the seeds where something was detected.
    pub median_delay_messages: Option<Spread>,
    pub false_alerts_per_10k: Spread,
    pub purity: Spread,
    pub nmi: Spread,
    pub ceiling_recall_no_false: Option<Spread>,
    pub ceiling_recall_one_false: Option<Spread>,
    pub label_free_ceiling_recall_one_false: Option<Spread>,
    /// Recall over the label-free ceiling's recall at one false alert.
    pub recall_of_label_free_ceiling: Option<f64>,
    /// Recall over the ceiling's recall at one false alert (issue 27's target: >= 0.9).
    pub recall_of_ceiling: Option<f64>,
}

impl Summary {
    pub fn of(seeds: &[u64], reports: &[Report]) -> Summary {
        let spread = |f: &dyn Fn(&Report) -> f64| Spread::of(&reports.iter().map(f).collect::<Vec<_>>());
        let delays: Vec<f64> = reports.iter().filter_map(|r| r.median_delay_messages).collect();
        let ceilings: Vec<&Ceiling> = reports.iter().filter_map(|r| r.ceiling.as_ref()).collect();
        let ceiling = |f: &dyn Fn(&Ceiling) -> f64| {
            (ceilings.len() == reports.len() && !ceilings.is_empty())
                .then(|| Spread::of(&ceilings.iter().map(|c| f(c)).collect::<Vec<_>>()))
        };
        let recall = spread(&|r| r.recall);
        let one_false = ceiling(&|c| c.recall_one_false);
        let label_free = ceiling(&|c| c.label_free_recall_one_false);
        Summary {
            seeds: seeds.to_vec(),
            recall,
            median_delay_messages: (!delays.is_empty()).then(|| Spread::of(&delays)),
            false_alerts_per_10k: spread(&|r| r.false_alerts_per_10k),
            purity: spread(&|r| r.purity),
            nmi: spread(&|r| r.nmi),
            ceiling_recall_no_false: ceiling(&|c| c.recall_no_false),
            recall_of_ceiling: one_false.filter(|c| c.mean > 0.0).map(|c| recall.mean / c.mean),
            ceiling_recall_one_false: one_false,
            recall_of_label_free_ceiling: label_free.filter(|c| c.mean > 0.0).map(|c| recall.mean / c.mean),
            label_free_ceiling_recall_one_false: label_free,
        }
    }

    /// The summary as text: one line per measure, `mean ± sd (min–max)`.
    pub fn render(&self) -> String {
        use std::fmt::Write;
        let show = |s: &Spread| format!("{:.3} ± {:.3} ({:.3}–{:.3})", s.mean, s.sd, s.min, s.max);
        let mut out = String::new();
        let _ = writeln!(out, "seeds {:?}", self.seeds);
        let _ = writeln!(out, "recall                 {}", show(&self.recall));
        let _ =
            writeln!(out, "median delay (msgs)    {}", self.median_delay_messages.as_ref().map_or("-".into(), show));
        let _ = writeln!(out, "false alerts / 10k     {}", show(&self.false_alerts_per_10k));
        let _ = writeln!(out, "purity                 {}", show(&self.purity));
        let _ = writeln!(out, "NMI                    {}", show(&self.nmi));
        let ceiling = |s: &Option<Spread>| s.as_ref().map_or("-".into(), show);
        let _ = writeln!(out, "ceiling, no false      {}", ceiling(&self.ceiling_recall_no_false));
        let _ = writeln!(out, "ceiling, one false     {}", ceiling(&self.ceiling_recall_one_false));
        let _ = writeln!(out, "label-free ceiling, one false {}", ceiling(&self.label_free_ceiling_recall_one_false));
        let ratio = |r: Option<f64>| r.map_or("-".into(), |r| format!("{r:.2}"));
        let _ = writeln!(out, "recall / ceiling (one false) {}", ratio(self.recall_of_ceiling));
        let _ = writeln!(out, "recall / label-free ceiling (one false) {}", ratio(self.recall_of_label_free_ceiling));
        out
    }
}

/// Seeds written as `7`, `1-6` or `1,3,5`.
pub fn parse_seeds(text: &str) -> Option<Vec<u64>> {
    let mut seeds = Vec::new();
    for part in text.split(',') {
        match part.trim().split_once('-') {
            Some((a, b)) => {
                let (a, b): (u64, u64) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
                if a > b {
                    return None;
                }
                seeds.extend(a..=b);
            }
            None => seeds.push(part.trim().parse().ok()?),
        }
    }
    (!seeds.is_empty()).then_some(seeds)
}

/// The report as text, with the clusterer's parameters first.
pub fn render(report: &Report, params: &ClusterParams) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let space = match params.whitening_sample {
        0 => "raw cosines".to_string(),
        n => format!("whitened on the first {n} messages"),
    };
    let _ = writeln!(
        out,
        "clusterer: similarity {} · novelty {} · merge {} · {} messages within {} ms · {}",
        params.similarity, params.novelty, params.merge_similarity, params.min_size, params.window_ms, space
    );
    let _ = writeln!(
        out,
        "messages {}  held-out labels {:?}  known point {}",
        report.n, report.holdout_labels, report.known_point
    );
    let _ = writeln!(
        out,
        "detected {}/{}  recall {:.3}  median delay {} messages  {:?}",
        report.detected,
        report.holdout_labels.len(),
        report.recall,
        report.median_delay_messages.map_or("-".into(), |d| format!("{d}")),
        report.delays
    );
    let _ = writeln!(
        out,
        "false alerts {} ({:.2} per 10k messages; {} of them a detected label again)  purity {:.3}  NMI {:.3}  clusters {}",
        report.false_alerts, report.false_alerts_per_10k, report.false_repeats, report.purity, report.nmi, report.clusters
    );
    if let Some(c) = &report.ceiling {
        let show = |groups: &[(String, f32)]| {
            groups.iter().map(|(l, cos)| format!("{l} {cos:.3}")).collect::<Vec<_>>().join(", ")
        };
        let _ = writeln!(
            out,
            "ceiling (clusters = labels; each label's first {} messages after the known point, cosine to the nearest \
             warm-up label): held-out {}; farthest background {}; recall {:.2} at delay {} with no false alert, {:.2} \
             with one; label-free (against the mean of the {} nearest warm-up messages) {:.2} and {:.2}",
            c.group_size,
            show(&c.held_out),
            show(&c.background_farthest),
            c.recall_no_false,
            c.group_size,
            c.recall_one_false,
            LABEL_FREE_NEIGHBOURS,
            c.label_free_recall_no_false,
            c.label_free_recall_one_false
        );
    }
    let _ = writeln!(out, "embedded {:.0} msgs/s, clustered {:.0} msgs/s", report.embed_per_s, report.assign_per_s);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_read_as_ranges_and_lists_and_spreads_are_sample_deviations() {
        assert_eq!(parse_seeds("1-6"), Some(vec![1, 2, 3, 4, 5, 6]));
        assert_eq!(parse_seeds("1,3, 7"), Some(vec![1, 3, 7]));
        assert_eq!(parse_seeds("6-1"), None);
        assert_eq!(parse_seeds("x"), None);
        let s = Spread::of(&[1.0, 2.0, 3.0]);
        assert_eq!((s.mean, s.sd, s.min, s.max), (2.0, 1.0, 1.0, 3.0));
    }

    #[test]
    fn purity_and_nmi_of_perfect_and_useless_clusterings() {
        let labels = ["a", "a", "b", "b"];
        assert_eq!(purity_and_nmi(&[1, 1, 2, 2], &labels), (1.0, 1.0));
        let (p, nmi) = purity_and_nmi(&[1, 1, 1, 1], &labels);
        assert_eq!(p, 0.5);
        assert!(nmi.abs() < 1e-12);
        let (p, nmi) = purity_and_nmi(&[1, 2, 3, 4], &labels);
        assert_eq!(p, 1.0, "singletons are pure");
        assert!(nmi < 0.7, "but share little information: {nmi}");
    }

    #[test]
    fn held_out_labels_start_after_the_known_point() {
        let rows: Vec<(String, String)> = (0..100).map(|i| (format!("t{i}"), format!("l{}", i % 5))).collect();
        let options = Options { holdout: 1, seed: 7, background_share: 0.5, interval_ms: 1000, limit: None };
        let holdout = vec!["l3".to_string()];
        let (order, known) = stream_order(&rows, &holdout, &options, &mut SplitMix::new(7));
        assert_eq!(order.len(), 100);
        assert_eq!(known, 40, "half of the 80 background rows");
        assert!(order[..known].iter().all(|&i| rows[i].1 != "l3"));
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>(), "every row once");
    }

    /// The unit vector with these (axis, value) components.
    fn unit(components: &[(usize, f32)]) -> Embedding {
        let mut v = vec![0.0f32; crate::enrich::encoder::DIM];
        for &(axis, x) in components {
            v[axis] = x;
        }
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        Embedding::quantize(&v.iter().map(|x| x / norm).collect::<Vec<_>>())
    }

    /// A unit vector on `axis`, nudged by `jitter` towards the next one.
    fn near(axis: usize, jitter: f32) -> Embedding {
        unit(&[(axis, 1.0), (axis + 1, jitter)])
    }

    fn params() -> ClusterParams {
        ClusterParams {
            similarity: 0.8,
            merge_similarity: 0.95,
            novelty: 0.5,
            min_size: 2,
            window_ms: 60_000,
            warmup_ms: 0,
            idle_expiry_ms: 3_600_000,
            max_clusters: 100,
            per_category: false,
            alerts: true,
            whitening_sample: 0,
        }
    }

    #[test]
    fn the_ceiling_separates_a_new_kind_from_a_twin_of_a_known_one() {
        let dim = crate::enrich::encoder::DIM;
        // Warm-up: `a` on axis 0, `b` on axis 4. Then two of each, and two held-out kinds: `new`
        // on an axis of its own, `twin` exactly where `a` is.
        let mut stream: Vec<(&str, Embedding)> = Vec::new();
        // Twenty each, so the label-free prototype (the 16 nearest) holds one label only.
        for i in 0..20 {
            stream.push(("a", near(0, 0.05 * (i % 4) as f32)));
            stream.push(("b", near(4, 0.05 * (i % 4) as f32)));
        }
        let known_point = stream.len();
        for _ in 0..2 {
            stream.extend([("a", near(0, 0.3)), ("b", near(4, 0.3)), ("new", near(8, 0.0)), ("twin", near(0, 0.0))]);
        }
        let (labels, embeddings): (Vec<&str>, Vec<Embedding>) = stream.into_iter().unzip();
        let state = ClusterState::new(params(), dim);
        let holdout = vec!["new".to_string(), "twin".to_string()];
        let c = ceiling(&state, &labels, &embeddings, known_point, &holdout, 2).unwrap();
        let cos_of = |label: &str| c.held_out.iter().find(|(l, _)| l == label).unwrap().1;
        assert!(cos_of("new").abs() < 0.01, "{c:?}");
        assert!(cos_of("twin") > 0.99, "{c:?}");
        let farthest = c.background_farthest.iter().map(|(_, cos)| *cos).collect::<Vec<_>>();
        assert!(farthest.len() == 2 && farthest.iter().all(|cos| (0.9..0.99).contains(cos)), "{c:?}");
        assert_eq!((c.recall_no_false, c.recall_one_false), (0.5, 0.5), "{c:?}");
        assert_eq!((c.label_free_recall_no_false, c.label_free_recall_one_false), (0.5, 0.5), "{c:?}");
    }

    #[test]
    fn the_label_free_ceiling_cannot_know_a_background_label_the_warm_up_barely_showed() {
        let dim = crate::enrich::encoder::DIM;
        // `rare` shows once in the warm-up: by the labels it is known, but its group's 16 nearest
        // warm-up messages are mostly `a`, so without labels it looks farther out than `new`,
        // which leans towards `a` (cosine 0.33).
        let new = unit(&[(0, 0.35), (16, 1.0)]);
        let mut stream: Vec<(&str, Embedding)> = (0..30).map(|i| ("a", near(0, 0.05 * (i % 4) as f32))).collect();
        stream.push(("rare", near(8, 0.0)));
        let known_point = stream.len();
        for _ in 0..2 {
            stream.extend([("a", near(0, 0.3)), ("rare", near(8, 0.1)), ("new", new.clone())]);
        }
        let (labels, embeddings): (Vec<&str>, Vec<Embedding>) = stream.into_iter().unzip();
        let state = ClusterState::new(params(), dim);
        let c = ceiling(&state, &labels, &embeddings, known_point, &["new".to_string()], 2).unwrap();
        assert_eq!((c.recall_no_false, c.recall_one_false), (1.0, 1.0), "{c:?}");
        assert_eq!(c.label_free_recall_no_false, 0.0, "`rare` is farther out than `new`: {c:?}");
        assert_eq!(c.label_free_recall_one_false, 1.0, "{c:?}");
    }
}
