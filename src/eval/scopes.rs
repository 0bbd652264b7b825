//! How well `[[scope]]` matchers name a business line, measured on online_shopping_10_cats: its
//! ten product categories play the business lines, and `cat` is withheld from what the matcher
//! sees. Three matcher sets: the keywords below (written once from what each product is, before
//! any score was seen, and not changed after), a few examples per line drawn at random from a
//! development half of the data, and both. Scores are on the other half; nothing is fitted to
//! it (the example threshold is `[enrich] example_threshold`).
//!
//! It also writes the replay `benches/scopes` runs: days of reviews without `cat`, one line's
//! negative reviews tripled on one day, with a configuration whose scopes are the keywords.

use super::sentiment::csv_rows;
use crate::config::ScopeConfig;
use crate::enrich::scope::ScopeMatcher;
use crate::enrich::Embedder;
use crate::event::Event;
use crate::util::error::{Context, Result};
use crate::util::SplitMix;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Keywords per product line, in the order the scopes are written (the first match wins, so
/// the most specific lines come first and 书籍, whose 书 also appears in 说明书, last).
pub const PRODUCT_KEYWORDS: &[(&str, &[&str])] = &[
    ("热水器", &["热水器", "加热", "热水", "水温", "安装师傅"]),
    ("洗发水", &["洗发", "头发", "头皮", "去屑", "洗头", "发质", "护发"]),
    ("蒙牛", &["蒙牛", "牛奶", "酸奶", "奶味", "纯奶", "特仑苏"]),
    ("酒店", &["酒店", "房间", "前台", "入住", "宾馆", "早餐", "服务员"]),
    ("平板", &["平板", "pad", "ipad"]),
    ("手机", &["手机", "通话", "信号", "来电", "短信", "待机"]),
    ("计算机", &["电脑", "笔记本", "键盘", "显卡", "内存", "硬盘", "散热", "本本", "系统"]),
    ("水果", &["水果", "橙子", "香蕉", "芒果", "猕猴桃", "苹果", "新鲜", "果子", "甜"]),
    ("衣服", &["衣服", "尺码", "面料", "裤子", "衣", "穿", "袖"]),
    ("书籍", &["书", "作者", "阅读", "出版", "章节", "小说", "印刷"]),
];

/// One labelled review.
#[derive(Clone)]
pub struct Review {
    pub line: String,
    pub positive: bool,
    pub text: String,
}

/// The reviews of online_shopping_10_cats.csv (`cat,label,review`).
pub fn reviews(data: &Path) -> Result<Vec<Review>> {
    let path = data.join("online_shopping_10_cats/online_shopping_10_cats.csv");
    let body = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(csv_rows(&body)
        .with_context(|| path.display().to_string())?
        .into_iter()
        .skip(1)
        .filter(|r| r.len() >= 3 && !r[2].trim().is_empty())
        .map(|r| Review { line: r[0].clone(), positive: r[1] == "1", text: r[2].clone() })
        .collect())
}

#[derive(Debug, Serialize)]
pub struct LineScore {
    pub line: String,
    pub precision: f64,
    pub recall: f64,
    pub support: usize,
}

#[derive(Debug, Serialize)]
pub struct ScopeScore {
    pub matchers: &'static str,
    pub seed: u64,
    pub macro_precision: f64,
    pub macro_recall: f64,
    /// Share of the test reviews no scope named.
    pub unmatched: f64,
    pub lines: Vec<LineScore>,
}

/// The scopes of one matcher set: `keywords`, `examples` (drawn from `dev`), or both.
pub fn product_scopes(matchers: &str, dev: &[Review], examples: usize, rng: &mut SplitMix) -> Vec<ScopeConfig> {
    PRODUCT_KEYWORDS
        .iter()
        .map(|(line, keywords)| {
            let of_line: Vec<&Review> = dev.iter().filter(|r| r.line == *line).collect();
            let drawn = (0..examples.min(of_line.len())).map(|_| of_line[rng.below(of_line.len())].text.clone());
            ScopeConfig {
                name: line.to_string(),
                dimension: "business".into(),
                channels: Vec::new(),
                meta: BTreeMap::new(),
                keywords: if matchers != "examples" {
                    keywords.iter().map(|k| k.to_string()).collect()
                } else {
                    Vec::new()
                },
                regex: Vec::new(),
                examples: if matchers != "keywords" { drawn.collect() } else { Vec::new() },
                example_threshold: None,
                from: None,
                until: None,
            }
        })
        .collect()
}

/// Splits the reviews of each line (at most `per_line` of them, drawn by `seed`) into halves:
/// development (examples are drawn from it) and test.
pub fn split(reviews: &[Review], per_line: usize, seed: u64) -> (Vec<Review>, Vec<Review>) {
    let mut rng = SplitMix::new(seed);
    let (mut dev, mut test) = (Vec::new(), Vec::new());
    for (line, _) in PRODUCT_KEYWORDS {
        let mut of_line: Vec<&Review> = reviews.iter().filter(|r| r.line == *line).collect();
        for i in (1..of_line.len()).rev() {
            of_line.swap(i, rng.below(i + 1));
        }
        of_line.truncate(per_line);
        let half = of_line.len() / 2;
        dev.extend(of_line[..half].iter().map(|r| (*r).clone()));
        test.extend(of_line[half..].iter().map(|r| (*r).clone()));
    }
    (dev, test)
}

/// Scores one matcher set on `test`.
pub fn score(
    matchers: &'static str,
    seed: u64,
    scopes: &[ScopeConfig],
    test: &[Review],
    embedder: &Embedder,
    threshold: f64,
) -> ScopeScore {
    let matcher = ScopeMatcher::new(scopes, threshold, Some(embedder));
    let embeddings = if matcher.needs_embedding() {
        embedder.embed(&test.iter().map(|r| r.text.as_str()).collect::<Vec<_>>())
    } else {
        Vec::new()
    };
    let dim = crate::enrich::encoder::DIM;
    let mut named: Vec<Option<String>> = Vec::with_capacity(test.len());
    for (i, r) in test.iter().enumerate() {
        let mut event = Event { text: r.text.clone(), channel: "app".into(), ..Default::default() };
        let embedding = embeddings.get(i * dim..(i + 1) * dim);
        matcher.apply(&mut event, embedding, |_| {});
        named.push(event.business.map(|b| b.to_string()));
    }
    let lines: Vec<LineScore> = PRODUCT_KEYWORDS
        .iter()
        .map(|(line, _)| {
            let predicted = named.iter().filter(|n| n.as_deref() == Some(*line)).count();
            let support = test.iter().filter(|r| r.line == *line).count();
            let hits = test.iter().zip(&named).filter(|(r, n)| r.line == *line && n.as_deref() == Some(*line)).count();
            let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
            LineScore {
                line: line.to_string(),
                precision: ratio(hits, predicted),
                recall: ratio(hits, support),
                support,
            }
        })
        .collect();
    let mean = |f: &dyn Fn(&LineScore) -> f64| lines.iter().map(f).sum::<f64>() / lines.len() as f64;
    ScopeScore {
        matchers,
        seed,
        macro_precision: mean(&|l| l.precision),
        macro_recall: mean(&|l| l.recall),
        unmatched: named.iter().filter(|n| n.is_none()).count() as f64 / test.len().max(1) as f64,
        lines,
    }
}

/// `days` days of reviews without `cat`, `per_day` per line and day at even times, sentiment
/// from the label (±0.6); on day `surge_day` (0-based) the negative reviews of `surge_line`
/// come three times as often. Returns NDJSON lines in time order.
pub fn surge_replay(
    reviews: &[Review],
    days: i64,
    per_day: usize,
    surge_line: &str,
    surge_day: i64,
    start_ms: i64,
    seed: u64,
) -> Vec<String> {
    let mut rng = SplitMix::new(seed);
    let mut out: Vec<(i64, String)> = Vec::new();
    for (line, _) in PRODUCT_KEYWORDS {
        let of_line: Vec<&Review> = reviews.iter().filter(|r| r.line == *line).collect();
        let (neg, pos): (Vec<&Review>, Vec<&Review>) = of_line.iter().partition(|r| !r.positive);
        for day in 0..days {
            let negatives = if *line == surge_line && day == surge_day { 3 * per_day / 2 } else { per_day / 2 };
            for (pool, n) in [(&neg, negatives), (&pos, per_day / 2)] {
                for _ in 0..n {
                    let r = pool[rng.below(pool.len())];
                    let ts = start_ms + day * 86_400_000 + (rng.unit() * 86_400_000.0) as i64;
                    let record = serde_json::json!({
                        "id": format!("r{}", out.len()), "ts": ts, "channel": "review",
                        "sentiment": if r.positive { 0.6 } else { -0.6 }, "text": r.text,
                    });
                    out.push((ts, record.to_string()));
                }
            }
        }
    }
    out.sort();
    out.into_iter().map(|(_, l)| l).collect()
}

/// The table of scores: per matcher set, the mean and spread over seeds of macro precision
/// and recall and the unmatched share, then each line's mean precision and recall.
pub fn render(scores: &[ScopeScore]) -> String {
    let mut out = String::new();
    let stats = |xs: Vec<f64>| {
        let s = super::new_clusters::Spread::of(&xs);
        format!("{:.3} ± {:.3}", s.mean, s.sd)
    };
    out.push_str("matchers            macro precision   macro recall      unmatched\n");
    for matchers in ["keywords", "examples", "keywords+examples"] {
        let of: Vec<&ScopeScore> = scores.iter().filter(|s| s.matchers == matchers).collect();
        out.push_str(&format!(
            "{matchers:<19} {:<17} {:<17} {}\n",
            stats(of.iter().map(|s| s.macro_precision).collect()),
            stats(of.iter().map(|s| s.macro_recall).collect()),
            stats(of.iter().map(|s| s.unmatched).collect()),
        ));
    }
    out.push_str("\nper line (mean over seeds)   keywords P / R     examples P / R     both P / R\n");
    for (line, _) in PRODUCT_KEYWORDS {
        out.push_str(&format!("{line:<28}"));
        for matchers in ["keywords", "examples", "keywords+examples"] {
            let of: Vec<&LineScore> = scores
                .iter()
                .filter(|s| s.matchers == matchers)
                .flat_map(|s| s.lines.iter().filter(|l| l.line == *line))
                .collect();
            let n = of.len().max(1) as f64;
            let (p, r) =
                (of.iter().map(|l| l.precision).sum::<f64>() / n, of.iter().map(|l| l.recall).sum::<f64>() / n);
            out.push_str(&format!("  {p:.2} / {r:.2}       "));
        }
        out.push('\n');
    }
    out
}

/// Writes `dir/dataflows/default.toml` (the embedded dataflow, its scopes replaced by the
/// product lines' keyword scopes) and `dir/alerts/rules.toml` (day-over-day rules on business:
/// the count and the negative share).
pub fn write_config(dir: &Path) -> Result<()> {
    let scopes = product_scopes("keywords", &[], 0, &mut SplitMix::new(0));
    let flow = without_scopes(crate::config::DEFAULT_DATAFLOW) + "\n" + &scopes_toml(&scopes);
    let rules = "[[rule]]\nname = \"line_volume_dod\"\nkind = \"day_over_day\"\nkey = \"business\"\nmetric = \"count\"\n\
                 min_change = 0.5\nmin_count = 50\ncooldown = \"1d\"\nseverity = \"warning\"\n\n\
                 [[rule]]\nname = \"line_negative_dod\"\nkind = \"day_over_day\"\nkey = \"business\"\n\
                 metric = \"negative_share\"\nmin_change = 0.3\nmin_count = 50\ncooldown = \"1d\"\nseverity = \"warning\"\n";
    for (sub, file, text) in [("dataflows", "default.toml", flow.as_str()), ("alerts", "rules.toml", rules)] {
        std::fs::create_dir_all(dir.join(sub)).with_context(|| format!("creating {}", dir.display()))?;
        std::fs::write(dir.join(sub).join(file), text).with_context(|| format!("writing {file}"))?;
    }
    Ok(())
}

/// The scopes of the keyword set as `[[scope]]` tables.
pub fn scopes_toml(scopes: &[ScopeConfig]) -> String {
    let quote = |v: &[String]| v.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(", ");
    scopes
        .iter()
        .map(|s| {
            format!("[[scope]]\nname = {:?}\ndimension = \"business\"\nkeywords = [{}]\n\n", s.name, quote(&s.keywords))
        })
        .collect()
}

/// `text` without its `[[scope]]` tables (a table runs to the next table header).
pub fn without_scopes(text: &str) -> String {
    let mut out = String::new();
    let mut skipping = false;
    for line in text.lines() {
        if line.starts_with('[') {
            skipping = line.trim() == "[[scope]]";
        }
        if !skipping {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn review(line: &str, positive: bool, text: &str) -> Review {
        Review { line: line.into(), positive, text: text.into() }
    }

    #[test]
    fn scores_count_precision_and_recall_per_line() {
        let test = vec![
            review("手机", false, "手机信号差"),
            review("手机", true, "电池不错"),
            review("酒店", true, "房间干净"),
            review("书籍", true, "手机上看的电子书"),
        ];
        let mut rng = SplitMix::new(1);
        let scopes = product_scopes("keywords", &[], 0, &mut rng);
        let s = score("keywords", 1, &scopes, &test, &Embedder::HashedNgrams, 0.5);
        let phone = s.lines.iter().find(|l| l.line == "手机").unwrap();
        // 手机 names two reviews, one of them a book's: precision ½, recall ½ (电池 is missed).
        assert_eq!((phone.precision, phone.recall, phone.support), (0.5, 0.5, 2));
        let hotel = s.lines.iter().find(|l| l.line == "酒店").unwrap();
        assert_eq!((hotel.precision, hotel.recall), (1.0, 1.0));
        assert_eq!(s.unmatched, 0.25);
    }

    #[test]
    fn the_surge_triples_one_line_on_one_day_and_scopes_render_as_toml() {
        let mut reviews = Vec::new();
        for (line, _) in PRODUCT_KEYWORDS {
            reviews.push(review(line, false, "差"));
            reviews.push(review(line, true, "好"));
        }
        let lines = surge_replay(&reviews, 3, 20, "水果", 1, 0, 7);
        let day_of =
            |l: &str| serde_json::from_str::<serde_json::Value>(l).unwrap()["ts"].as_i64().unwrap() / 86_400_000;
        let per_day: Vec<usize> = (0..3).map(|d| lines.iter().filter(|l| day_of(l) == d).count()).collect();
        assert_eq!(per_day, vec![200, 220, 200], "ten lines of 20 a day; 20 more negatives on day 1");
        let text = scopes_toml(&product_scopes("keywords", &[], 0, &mut SplitMix::new(1)));
        let parsed: toml::Value = toml::from_str(&text).unwrap();
        assert_eq!(parsed["scope"].as_array().unwrap().len(), 10);
        let flow = "[ingest]\na = 1\n\n[[scope]]\nname = \"x\"\nkeywords = [\"y\"]\n\n[[window]]\nsize = \"1m\"\n";
        assert_eq!(without_scopes(flow), "[ingest]\na = 1\n\n[[window]]\nsize = \"1m\"\n");
    }
}
