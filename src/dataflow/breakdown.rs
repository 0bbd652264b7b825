//! Per tick, how each judged series' messages split over the other dimensions and the
//! configured `meta` fields, slice by slice: what an alert's drivers are computed from
//! (`detect::drivers`). Ingest counts it per group of events with the same labels, so the cost
//! is per group, not per message.

use crate::config::{Dimension, Key};
use crate::event::SmolStr;
use crate::records::notice::{Breakdown, Facet, FacetDimension};
use crate::records::window::Series;
use crate::util::interner::Interner;

/// The most `meta` fields attributed (`[attribution] meta`).
pub const MAX_META: usize = 4;

/// The configured `meta` fields' values of one message.
pub type MetaValues = [Option<SmolStr>; MAX_META];

/// A message without any of them.
pub const NO_META: &MetaValues = &[None, None, None, None];

/// The slice of event time breakdowns (and ingest's groups) are made per: the largest duration
/// every window size (s) is a multiple of.
pub fn slice_s(windows: &[(u32, i64)]) -> u32 {
    let gcd = |(mut a, mut b): (u32, u32)| {
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a
    };
    windows.iter().fold(0, |g, w| gcd((g, w.0))).max(1)
}

/// What ingest attributes.
#[derive(Clone, Debug, Default)]
pub struct AttributionParams {
    /// The combined keys judged by rules; every single dimension is attributed too.
    pub combined_keys: Vec<Key>,
    /// `[attribution] meta`.
    pub meta: Vec<String>,
}

impl AttributionParams {
    pub fn covers(&self, key: Key) -> bool {
        !key.is_combined() || self.combined_keys.contains(&key)
    }

    /// The configured fields' values in a message's `meta` (JSON object text): strings as they
    /// are, numbers and booleans as written; absent, null or nested: none. `None` when the
    /// message has none of them (or no field is configured).
    pub fn meta_values(&self, meta: &str) -> Option<MetaValues> {
        if self.meta.is_empty() {
            return None;
        }
        let map = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(meta).ok()?;
        let mut values: MetaValues = Default::default();
        for (slot, field) in values.iter_mut().zip(&self.meta) {
            *slot = match map.get(field) {
                Some(serde_json::Value::String(s)) => Some(s.as_str().into()),
                Some(v @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_))) => Some(v.to_string().into()),
                _ => None,
            };
        }
        values.iter().any(Option::is_some).then_some(values)
    }
}

/// Where a facet's dimension sits among a group's facets: the four dimensions, then the meta
/// fields.
const SLOTS: usize = 4 + MAX_META;

fn slot_of(dimension: FacetDimension) -> usize {
    match dimension {
        FacetDimension::Dimension(Dimension::Category) => 0,
        FacetDimension::Dimension(Dimension::Channel) => 1,
        FacetDimension::Dimension(Dimension::Campaign) => 2,
        FacetDimension::Dimension(Dimension::Business) => 3,
        FacetDimension::Dimension(_) => unreachable!("groups carry no other dimension"),
        FacetDimension::Meta(i) => 4 + i as usize,
    }
}

fn dimension_of(slot: usize) -> FacetDimension {
    match slot {
        0 => FacetDimension::Dimension(Dimension::Category),
        1 => FacetDimension::Dimension(Dimension::Channel),
        2 => FacetDimension::Dimension(Dimension::Campaign),
        3 => FacetDimension::Dimension(Dimension::Business),
        i => FacetDimension::Meta((i - 4) as u8),
    }
}

/// One tick's breakdowns. Label values get a small id once per group of messages
/// ([`TickBreakdowns::group`]); each series of a group then records only which group it took
/// and how many messages, and [`TickBreakdowns::emit`] tallies them per (series, slice) in a
/// table indexed by (value, slot): no label is hashed or compared twice.
#[derive(Default)]
pub struct TickBreakdowns<'a> {
    /// Each group's facets (where they start in `facets`, how many), and those facets as
    /// (slot, value id).
    groups: Vec<(u32, u8)>,
    facets: Vec<(u8, u32)>,
    /// (series index, slice start, group, messages, slots the series' own key excludes).
    taken: Vec<(u32, i64, u32, u64, u8)>,
    values: Interner<&'a str>,
}

impl<'a> TickBreakdowns<'a> {
    /// Registers a group of messages with these labels (dimensions without a value and absent
    /// meta fields have no facet); returns its number.
    pub fn group(&mut self, labels: [(Dimension, Option<&'a str>); 4], meta: &'a MetaValues) -> u32 {
        let dimensions = labels.into_iter().filter_map(|(d, v)| Some((FacetDimension::Dimension(d), v?)));
        let meta = meta.iter().enumerate().filter_map(|(i, v)| Some((FacetDimension::Meta(i as u8), v.as_deref()?)));
        let start = self.facets.len();
        for (dimension, value) in dimensions.chain(meta) {
            let id = self.values.intern(&value);
            self.facets.push((slot_of(dimension) as u8, id));
        }
        self.groups.push((start as u32, (self.facets.len() - start) as u8));
        (self.groups.len() - 1) as u32
    }

    /// Adds `count` messages of `group` to a series of `key`: every facet but the key's own
    /// dimensions'.
    pub fn add(&mut self, series: u32, slice_s: i64, count: u64, key: Key, group: u32) {
        let own = key.dims().filter(|d| {
            matches!(d, Dimension::Category | Dimension::Channel | Dimension::Campaign | Dimension::Business)
        });
        let excluded = own.fold(0u8, |mask, d| mask | 1 << slot_of(FacetDimension::Dimension(d)));
        self.taken.push((series, slice_s, group, count, excluded));
    }

    /// Each (series, slice) as a [`Breakdown`], in order, its facets sorted.
    pub fn emit(mut self, series: &[Series], mut out: impl FnMut(Breakdown)) {
        self.taken.sort_unstable_by_key(|t| (t.0, t.1));
        let mut table = vec![0u64; self.values.capacity() * SLOTS];
        let mut at = 0;
        while at < self.taken.len() {
            let (si, slice_s) = (self.taken[at].0, self.taken[at].1);
            let mut total = 0;
            let mut touched: Vec<usize> = Vec::new();
            while let Some(&(_, _, group, count, excluded)) = self.taken.get(at).filter(|t| (t.0, t.1) == (si, slice_s))
            {
                total += count;
                let (start, len) = self.groups[group as usize];
                for &(slot, id) in &self.facets[start as usize..start as usize + len as usize] {
                    if excluded & (1 << slot) == 0 {
                        let cell = id as usize * SLOTS + slot as usize;
                        if table[cell] == 0 {
                            touched.push(cell);
                        }
                        table[cell] += count;
                    }
                }
                at += 1;
            }
            let mut facets: Vec<(Facet, u64)> = touched
                .into_iter()
                .map(|cell| {
                    let n = std::mem::take(&mut table[cell]);
                    let facet = Facet {
                        dimension: dimension_of(cell % SLOTS),
                        value: (*self.values.get((cell / SLOTS) as u32)).into(),
                    };
                    (facet, n)
                })
                .collect();
            facets.sort_unstable();
            out(Breakdown { series: series[si as usize].clone(), slice_s, total, facets });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_series_is_broken_down_by_every_label_but_its_own() {
        let params = AttributionParams { combined_keys: Vec::new(), meta: vec!["app_version".into(), "beta".into()] };
        let meta = params.meta_values(r#"{"app_version":"8.2.1","beta":true,"other":1}"#).unwrap();
        assert_eq!(meta[..2], [Some("8.2.1".into()), Some("true".into())]);
        assert_eq!(params.meta_values("not json"), None);
        let labels = [
            (Dimension::Category, Some("payment")),
            (Dimension::Channel, Some("weibo")),
            (Dimension::Campaign, None),
            (Dimension::Business, Some("shop")),
        ];
        let mut tick = TickBreakdowns::default();
        let group = tick.group(labels, &meta);
        tick.add(0, 60, 3, Key::from(Dimension::Category), group);
        tick.add(0, 60, 2, Key::from(Dimension::Category), group);
        let mut out = Vec::new();
        tick.emit(&[Series::new(Dimension::Category, "payment")], |b| out.push(b));
        let [b] = &out[..] else { panic!("one breakdown: {out:?}") };
        assert_eq!((b.slice_s, b.total), (60, 5));
        let named: Vec<(String, u64)> = b.facets.iter().map(|(f, n)| (f.value.to_string(), *n)).collect();
        assert_eq!(named, [("weibo", 5), ("shop", 5), ("8.2.1", 5), ("true", 5)].map(|(v, n)| (v.to_string(), n)));
    }

    #[test]
    fn a_combined_key_leaves_out_each_of_its_dimensions_and_overall_none() {
        let labels = [
            (Dimension::Category, Some("payment")),
            (Dimension::Channel, Some("app")),
            (Dimension::Campaign, Some("double11")),
            (Dimension::Business, Some("shop")),
        ];
        let mut tick = TickBreakdowns::default();
        let one = tick.group(labels, NO_META);
        let other = tick.group([labels[0], (Dimension::Channel, Some("weibo")), labels[2], labels[3]], NO_META);
        let combined = Key::combined(&[Dimension::Business, Dimension::Category]).unwrap();
        tick.add(1, 0, 4, combined, one);
        tick.add(1, 0, 1, combined, other);
        tick.add(0, 0, 4, Key::from(Dimension::Overall), one);
        let mut out = Vec::new();
        let series = [Series::new(Dimension::Overall, "all"), Series::new(combined, "shop|payment")];
        tick.emit(&series, |b| out.push(b));
        let values = |b: &Breakdown| b.facets.iter().map(|(f, n)| format!("{}={n}", f.value)).collect::<Vec<_>>();
        assert_eq!(values(&out[0]), ["payment=4", "app=4", "double11=4", "shop=4"]);
        assert_eq!((out[1].total, values(&out[1])), (5, vec!["app=4".into(), "weibo=1".into(), "double11=5".into()]));
    }
}
