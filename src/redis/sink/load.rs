//! Reading back what a previous run saved: window aggregates, alert states, the ticket and turn
//! logs and the event clock (docs/redis.md § Exactly once across `kill -9`).

use super::*;

impl RedisSink {
    /// Reads the window aggregates, alert states, ticket and turn logs and event clock a
    /// previous run left (and makes this sink trim and show the windows as its own). Windows of
    /// sizes no longer configured are skipped.
    pub fn load_saved(&self, redis: &RedisConfig) -> Result<SavedState, RestoreError> {
        let mut connection = super::super::connect(redis, CONNECT_TIMEOUT)
            .map_err(|source| RestoreError::Connect { addr: redis.host_port(), source })?;
        let mut saved = SavedState::default();
        let agg_prefix = self.key("agg:");
        let keys = scan(&mut connection, &format!("{}*", glob_escape(&agg_prefix)))?;
        let replies = connection
            .pipeline(&keys.iter().map(|k| cmd(["HGETALL", k])).collect::<Vec<_>>())
            .map_err(|source| RestoreError::Command { command: "HGETALL".into(), source })?;
        let mut unreadable = 0;
        for (hash, reply) in keys.iter().zip(replies) {
            let mut name = hash[agg_prefix.len()..].splitn(3, ':');
            let (Some(size_s), Some(dim), Some(value)) = (
                name.next().and_then(|w| self.window_sizes.get(w)),
                name.next().and_then(|k| Key::parse(k).ok()),
                name.next(),
            ) else {
                continue;
            };
            let fields = reply.as_array().unwrap_or_default();
            for pair in fields.chunks(2) {
                let field = |i: usize| pair.get(i).and_then(Reply::as_bytes).map(String::from_utf8_lossy);
                let (Some(start), Some(agg)) =
                    (field(0).and_then(|f| f.parse::<i64>().ok()), field(1).and_then(|v| parse_aggregate(&v)))
                else {
                    unreadable += 1;
                    continue;
                };
                let key = WindowKey { series: Series::new(dim, value), size_s: *size_s, start_s: start };
                saved.windows.push((key, agg));
            }
        }
        if unreadable > 0 {
            tracing::warn!(unreadable, "skipped window fields that are not count,neg,sum,sq aggregates");
        }
        saved.windows.sort();
        for (key, _) in &saved.windows {
            let retention = self.retention_of(key.size_s);
            self.note_written(&self.aggregate_key(key), key.start_s, retention);
            self.note_sentiment_window(key);
        }
        let alert_keys = scan(&mut connection, &format!("{}*", glob_escape(&self.key("alert:"))))?;
        let replies = connection
            .pipeline(&alert_keys.iter().map(|k| cmd(["HGET", k, "alert"])).collect::<Vec<_>>())
            .map_err(|source| RestoreError::Command { command: "HGET alert".into(), source })?;
        for (key, reply) in alert_keys.iter().zip(replies) {
            match reply.as_bytes().map(serde_json::from_slice::<Alert>) {
                Some(Ok(alert)) => saved.alerts.push(alert),
                Some(Err(e)) => tracing::warn!(key, error = %e, "skipped an alert state that does not parse"),
                None => {}
            }
        }
        saved.alerts.sort_by(|a, b| a.fingerprint.cmp(&b.fingerprint));
        saved.tickets = super::super::state_log::load(&mut connection, &self.key("tickets"))?;
        saved.turns = super::super::state_log::load(&mut connection, &self.key("turns"))?;
        let clock = connection
            .call(cmd(["GET", &self.key("clock")]))
            .map_err(|source| RestoreError::Command { command: "GET clock".into(), source })?;
        saved.clock_ms = clock.as_bytes().and_then(|b| std::str::from_utf8(b).ok()?.parse().ok());
        Ok(saved)
    }
}
