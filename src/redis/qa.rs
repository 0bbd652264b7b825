//! `fp:qa:sample`: the closed conversations transcript QA sampled for review (a sheet's share,
//! chosen by a hash of the id, and every low-emotion one), for the reviewers' tools that read
//! them with a consumer group (docs/redis.md).

use super::resp::cmd;
use super::sink::RedisSink;
use crate::records::conversation::QaVerdict;
use crate::sinks::QaSink;

impl QaSink for RedisSink {
    fn scored(&self, v: &QaVerdict) {
        if !v.sampled {
            return;
        }
        let stream = self.key("qa:sample");
        let json = serde_json::to_string(v).expect("verdicts serialise");
        let text = |x: &Option<crate::event::SmolStr>| x.as_deref().unwrap_or("").to_owned();
        let violations: Vec<&str> = v.violations.iter().map(|x| x.check.as_str()).collect();
        self.send(vec![cmd([
            "XADD",
            &stream,
            "MAXLEN",
            "~",
            self.stream_maxlen(),
            "*",
            "conversation",
            &v.conversation,
            "agent",
            &text(&v.agent),
            "team",
            &text(&v.team),
            "business",
            &text(&v.business),
            "score",
            &v.score.to_string(),
            "violations",
            &violations.join(","),
            "verdict",
            &json,
        ])]);
    }
}
