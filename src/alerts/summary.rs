//! What an LLM summary of an alert is built from and checked against: the alert's masked
//! explanation as the model's input, the answer's schema, and faithfulness (an answer may name
//! only numbers and keywords its input holds). The requests themselves are the summarizer
//! sink's (`sinks::summarizer`).

use super::Alert;
use serde_json::{json, Value};

/// The user message for `alert`: its rule, labels, summary, window and explanation (masked
/// texts only: the samples were masked at admission), as compact JSON.
pub fn input(alert: &Alert) -> String {
    let labels: serde_json::Map<String, Value> = alert
        .labels
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "alertname" | "severity"))
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    let e = &alert.explanation;
    json!({
        "rule": alert.rule,
        "labels": labels,
        "summary": alert.summary,
        "window": {"start": alert.window.start.to_string(), "end": alert.window.end.to_string()},
        "count": e.count,
        "keywords": e.keywords,
        "samples": e.samples,
        "drivers": e.drivers.iter().map(|d| d.describe()).collect::<Vec<_>>(),
    })
    .to_string()
}

/// A summary the model gave and the checks accepted.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    pub summary: String,
    pub keywords: Vec<String>,
}

/// Why an answer was not taken.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Rejected {
    #[error("not JSON: {0}")]
    Parse(String),
    #[error("breaks the schema: {0}")]
    Schema(String),
    #[error("names what its input does not: {0}")]
    Unfaithful(String),
}

impl Rejected {
    /// The metric label of the reason.
    pub fn reason(&self) -> &'static str {
        match self {
            Rejected::Parse(_) => "parse",
            Rejected::Schema(_) => "schema",
            Rejected::Unfaithful(_) => "unfaithful",
        }
    }
}

/// Checks the model's message `content` against `schema` and `input`.
pub fn accept(content: &str, schema: &Value, input: &str) -> Result<Answer, Rejected> {
    // Models often fence JSON in Markdown: take the outermost object.
    let text = match (content.find('{'), content.rfind('}')) {
        (Some(a), Some(b)) if a < b => &content[a..=b],
        _ => content,
    };
    let value: Value = serde_json::from_str(text).map_err(|e| Rejected::Parse(e.to_string()))?;
    conforms(schema, &value, "answer").map_err(Rejected::Schema)?;
    let summary = value.get("summary").and_then(Value::as_str).unwrap_or_default().to_string();
    let keywords: Vec<String> = value
        .get("keywords")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect())
        .unwrap_or_default();
    if summary.trim().is_empty() {
        return Err(Rejected::Schema("answer.summary is missing or empty".into()));
    }
    faithful(&summary, &keywords, input).map_err(Rejected::Unfaithful)?;
    Ok(Answer { summary, keywords })
}

/// Every number of the summary and every keyword must occur in the input: a summary that
/// invents "3,000 users" or a cause nobody wrote is worse than none.
pub fn faithful(summary: &str, keywords: &[String], input: &str) -> Result<(), String> {
    let lower = input.to_lowercase();
    for number in numbers(summary) {
        if !input.contains(&number) {
            return Err(format!("the number {number}"));
        }
    }
    for keyword in keywords {
        if !lower.contains(&keyword.to_lowercase()) {
            return Err(format!("the keyword `{keyword}`"));
        }
    }
    Ok(())
}

/// The numbers written in `text` (digits, with a decimal point or thousands commas inside),
/// as written without the commas.
fn numbers(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let inside = |at: usize| chars.get(at).is_some_and(|c| c.is_ascii_digit());
        if c.is_ascii_digit() || ((c == '.' || c == ',') && !current.is_empty() && inside(i + 1)) {
            if c != ',' {
                current.push(c);
            }
        } else if !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Whether `value` conforms to `schema`, in the subset of JSON Schema a summary needs: `type`,
/// `required`, `properties`, `items`, `minLength`, `maxLength`, `maxItems`, `enum`.
pub fn conforms(schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    if let Some(kind) = schema.get("type").and_then(Value::as_str) {
        let ok = match kind {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "number" => value.is_number(),
            "integer" => value.is_i64() || value.is_u64(),
            "boolean" => value.is_boolean(),
            "null" => value.is_null(),
            _ => true,
        };
        if !ok {
            return Err(format!("{at} is not of type {kind}"));
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        if !allowed.contains(value) {
            return Err(format!("{at} is none of the allowed values"));
        }
    }
    if let Some(text) = value.as_str() {
        let n = text.chars().count() as u64;
        if schema.get("minLength").and_then(Value::as_u64).is_some_and(|min| n < min) {
            return Err(format!("{at} is shorter than minLength"));
        }
        if schema.get("maxLength").and_then(Value::as_u64).is_some_and(|max| n > max) {
            return Err(format!("{at} is longer than maxLength"));
        }
    }
    if let Some(items) = value.as_array() {
        if schema.get("maxItems").and_then(Value::as_u64).is_some_and(|max| items.len() as u64 > max) {
            return Err(format!("{at} has more than maxItems"));
        }
        if let Some(item_schema) = schema.get("items") {
            for (i, item) in items.iter().enumerate() {
                conforms(item_schema, item, &format!("{at}[{i}]"))?;
            }
        }
    }
    if let Some(object) = value.as_object() {
        for name in schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
            if !object.contains_key(name) {
                return Err(format!("{at}.{name} is required"));
            }
        }
        if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
            for (name, property) in properties {
                if let Some(v) = object.get(name) {
                    conforms(property, v, &format!("{at}.{name}"))?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Value {
        serde_json::from_str(crate::config::DEFAULT_SCHEMA).unwrap()
    }

    const INPUT: &str = r#"{"summary":"category payment: 224 messages in a 5m window, 24.9× the baseline 9.0","keywords":["付款","扣款"],"drivers":["app_version 8.2.0 84% (usually 0%)"]}"#;

    #[test]
    fn an_answer_is_taken_when_it_names_only_what_its_input_holds() {
        let ok = r#"```json
{"summary": "付款失败激增 224 条，84% 来自 8.2.0 版本", "keywords": ["付款", "8.2.0"]}
```"#;
        let answer = accept(ok, &schema(), INPUT).unwrap();
        assert_eq!(answer.keywords, ["付款", "8.2.0"]);
        let invented = r#"{"summary": "3,000 users hit by the 8.2.0 payment bug", "keywords": []}"#;
        assert_eq!(accept(invented, &schema(), INPUT), Err(Rejected::Unfaithful("the number 3000".into())));
        let guessed = r#"{"summary": "payment failures after 8.2.0", "keywords": ["gateway outage"]}"#;
        assert_eq!(accept(guessed, &schema(), INPUT).unwrap_err().reason(), "unfaithful");
    }

    #[test]
    fn malformed_answers_are_told_apart() {
        assert_eq!(accept("I think payments broke.", &schema(), INPUT).unwrap_err().reason(), "parse");
        assert_eq!(
            accept(r#"{"summary": "x"}"#, &schema(), INPUT),
            Err(Rejected::Schema("answer.keywords is required".into()))
        );
        let wrong_type = r#"{"summary": "payment", "keywords": "付款"}"#;
        assert_eq!(accept(wrong_type, &schema(), INPUT).unwrap_err().reason(), "schema");
        let empty = r#"{"summary": "", "keywords": []}"#;
        assert_eq!(accept(empty, &schema(), INPUT).unwrap_err().reason(), "schema");
    }

    #[test]
    fn numbers_are_read_as_written() {
        assert_eq!(numbers("224 条, 24.9× and 3,000; v8.2.0, 84%."), ["224", "24.9", "3000", "8.2.0", "84"]);
    }

    #[test]
    fn the_input_is_the_masked_explanation() {
        let mut alert = Alert::example();
        alert.explanation.samples = vec!["手机号 <PHONE> 付款失败".into()];
        let text = input(&alert);
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["samples"][0], "手机号 <PHONE> 付款失败");
        assert!(value["labels"].get("alertname").is_none());
    }
}
