//! `fp:kpi:{window}:{key}:{value}`: ticket KPI windows for the services that read them
//! (docs/redis.md). One hash per series and window size, as `fp:agg`: field = window start,
//! value = the window's KPIs as compact JSON (counts, breaches, and per duration its count,
//! mean and p50/p90/p99 in seconds, read from the histogram).

use super::resp::cmd;
use super::sink::{window_name, RedisSink};
use crate::config::{SlaKind, Span, TicketStatus};
use crate::records::ticket::TicketAgg;
use crate::records::window::WindowKey;
use crate::sinks::KpiSink;
use serde_json::{json, Map, Value};

/// A KPI window as its hash field holds it.
pub fn kpi_value(k: &TicketAgg) -> String {
    let mut out = Map::new();
    for s in TicketStatus::ALL {
        out.insert(s.as_str().into(), k.transitions(s).into());
    }
    let breaches: Map<String, Value> =
        SlaKind::ALL.iter().map(|s| (s.as_str().into(), k.breaches(*s).into())).collect();
    out.insert("breaches".into(), breaches.into());
    if k.qa[0] > 0 {
        let mean = (k.qa[1] as f64 / k.qa[0] as f64 * 10.0).round() / 10.0;
        out.insert("qa".into(), json!({"scored": k.qa[0], "mean_score": mean, "violations": k.qa[2]}));
    }
    for span in Span::ALL {
        let h = k.span(span);
        if h.count == 0 {
            continue;
        }
        let s = crate::records::ticket::seconds;
        out.insert(
            span.as_str().into(),
            json!({
                "count": h.count,
                "mean_s": s(h.mean_ms()),
                "p50_s": s(h.quantile_ms(0.5)),
                "p90_s": s(h.quantile_ms(0.9)),
                "p99_s": s(h.quantile_ms(0.99)),
            }),
        );
    }
    Value::Object(out).to_string()
}

impl KpiSink for RedisSink {
    fn kpi(&self, key: &WindowKey, kpis: &TicketAgg) {
        let hash = self.key(&format!("kpi:{}:{}:{}", window_name(key.size_s), key.series.key, key.series.value));
        let retention = self.retention_of(key.size_s);
        let mut commands = vec![
            cmd(["HSET", &hash, &key.start_s.to_string(), &kpi_value(kpis)]),
            cmd(["EXPIRE", &hash, &(retention + key.size_s as i64).to_string()]),
        ];
        let expired = self.note_written(&hash, key.start_s, retention);
        if !expired.is_empty() {
            let mut hdel = cmd(["HDEL", &hash]);
            hdel.extend(expired.iter().map(|s| s.to_string().into_bytes()));
            commands.push(hdel);
        }
        self.send(commands);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use differential_dataflow::difference::Semigroup;

    #[test]
    fn a_kpi_window_reads_as_counts_breaches_and_durations_in_seconds() {
        let mut k = TicketAgg::of_transition(TicketStatus::Opened);
        k.plus_equals(&TicketAgg::of_breach(SlaKind::Takeover));
        k.plus_equals(&TicketAgg::of_span(Span::FirstResponse, 42_000));
        let v: Value = serde_json::from_str(&kpi_value(&k)).unwrap();
        assert_eq!((v["opened"].as_i64(), v["resolved"].as_i64()), (Some(1), Some(0)));
        assert_eq!(v["breaches"]["takeover"].as_i64(), Some(1));
        assert_eq!(v["first_response"]["count"].as_i64(), Some(1));
        assert_eq!(v["first_response"]["mean_s"].as_f64(), Some(42.0));
        let p90 = v["first_response"]["p90_s"].as_f64().unwrap();
        assert!((p90 / 42.0 - 1.0).abs() < 0.1, "{p90}");
        assert!(v.get("handling").is_none(), "no handling times: no entry");
    }
}
