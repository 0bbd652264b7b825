//! What scheduled digests (`[[report]]`) keep in Redis: each released digest in the stream
//! `{prefix}reports`, and each report's last released period in `{prefix}report:{name}`, which
//! a restart continues after.

use super::resp::{cmd, Command};
use super::sink::{RedisSink, RestoreError, CONNECT_TIMEOUT};
use crate::config::RedisConfig;

/// Each digest in the stream `{prefix}reports`: `report`, `date`, `markdown`, `digest` (JSON).
impl crate::sinks::DigestSink for RedisSink {
    fn digest(&self, d: &crate::sinks::PublishedDigest) {
        self.send(vec![cmd([
            "XADD",
            &self.key("reports"),
            "MAXLEN",
            "~",
            self.stream_maxlen(),
            "*",
            "report",
            &d.report,
            "date",
            &d.date,
            "markdown",
            &d.markdown,
            "digest",
            &d.json,
        ])]);
    }
}

impl RedisSink {
    /// Remembers that `report`'s periods up to `end_s` are released (`{prefix}report:{name}`),
    /// so that a restart which restores the windows does not release them again.
    pub fn report_released(&self, report: &str, end_s: i64) {
        self.send(vec![cmd(["SET", &self.key(&format!("report:{report}")), &end_s.to_string()])]);
    }

    /// Where each of `reports` was released through by a previous run (absent: never).
    pub fn load_report_releases(
        &self,
        redis: &RedisConfig,
        reports: &[String],
    ) -> Result<Vec<(String, i64)>, RestoreError> {
        let mut connection = super::connect(redis, CONNECT_TIMEOUT)
            .map_err(|source| RestoreError::Connect { addr: redis.host_port(), source })?;
        let commands: Vec<Command> = reports.iter().map(|r| cmd(["GET", &self.key(&format!("report:{r}"))])).collect();
        let replies =
            connection.pipeline(&commands).map_err(|source| RestoreError::Command { command: "GET".into(), source })?;
        Ok(reports
            .iter()
            .zip(replies)
            .filter_map(|(r, reply)| Some((r.clone(), reply.as_str()?.parse().ok()?)))
            .collect())
    }
}
