//! Keyword segmentation speed: feedpulse's segmenter (`src/enrich/segment.rs`, binary search in
//! the embedded word list) against jieba-rs's hash trie on the same words, over the hotel
//! reviews of `../shared/eval-data/chnsenticorp_htl_all` (skipped when absent).
//!
//! `cargo bench --bench segment_throughput`

use feedpulse::enrich::segment::{dictionary, JIEBA_WORDS};
use std::time::Instant;

fn main() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/eval-data/chnsenticorp_htl_all/ChnSentiCorp_htl_all.csv");
    let Ok(content) = std::fs::read_to_string(&path) else {
        eprintln!("{} is absent: nothing to measure", path.display());
        return;
    };
    let texts: Vec<&str> = content.lines().skip(1).collect();
    let chars: usize = texts.iter().map(|t| t.chars().count()).sum();

    let started = Instant::now();
    let ours = dictionary();
    let our_load = started.elapsed();
    let started = Instant::now();
    let jieba = jieba_rs::Jieba::with_dict(&mut JIEBA_WORDS.as_bytes()).expect("jieba-rs reads the word list");
    let jieba_load = started.elapsed();

    println!("{} texts, {chars} characters\n", texts.len());
    println!("| segmenter | load | ns per character (three runs) |");
    println!("|---|---:|---|");
    let runs = |cut: &dyn Fn(&str) -> usize| {
        let mut times = Vec::new();
        let mut words = 0;
        for _ in 0..3 {
            let started = Instant::now();
            words = texts.iter().map(|t| cut(t)).sum::<usize>();
            times.push(format!("{:.0}", started.elapsed().as_nanos() as f64 / chars as f64));
        }
        (times.join(", "), words)
    };
    let (our_times, our_words) = runs(&|t| ours.cut(t).len());
    let (jieba_times, jieba_words) = runs(&|t| jieba.cut(t, false).len());
    assert_eq!(our_words, jieba_words, "both cut the same words");
    println!("| feedpulse (sorted list, binary search) | {our_load:.0?} | {our_times} |");
    println!("| jieba-rs 0.11 (hash trie), same words | {jieba_load:.0?} | {jieba_times} |");
}
