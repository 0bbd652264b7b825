//! Durable HTTP ingest (`[ingest] durable = true`): accepted records are appended to the
//! feedback stream the consumer group reads (docs/deployment.md § Durability of HTTP ingest),
//! and the client hears `202` only once Redis has them. The consumer group then counts them as
//! it counts any producer's entries, exactly once per checkpoint and across restarts.

use super::resp::{cmd, Connection, Reply};
use crate::config::RedisConfig;
use std::sync::Mutex;
use std::time::Duration;

pub struct StreamAppender {
    redis: RedisConfig,
    stream: String,
    connection: Mutex<Option<Connection>>,
}

impl StreamAppender {
    pub fn new(redis: &RedisConfig) -> StreamAppender {
        StreamAppender { stream: redis.stream_key(), redis: redis.clone(), connection: Mutex::new(None) }
    }

    /// XADDs every record (field `json`) in one pipeline. `Ok` only when Redis answered each
    /// with an entry id; a broken connection is reopened and the whole batch tried once more
    /// (a record that made it the first time is then in the stream twice: records with an `id`
    /// are counted once all the same).
    pub fn append(&self, records: &[&[u8]]) -> std::io::Result<()> {
        let commands: Vec<_> =
            records.iter().map(|r| cmd([b"XADD".as_slice(), self.stream.as_bytes(), b"*", b"json", r])).collect();
        let mut slot = self.connection.lock().unwrap_or_else(|e| e.into_inner());
        let mut last_error = None;
        for _ in 0..2 {
            if slot.is_none() {
                *slot = Some(super::connect(&self.redis, Duration::from_secs(2))?);
            }
            let connection = slot.as_mut().expect("connected above");
            match connection.pipeline(&commands) {
                Ok(replies) => {
                    return match replies.iter().find(|r| !matches!(r, Reply::Bulk(Some(_)))) {
                        None => Ok(()),
                        Some(reply) => Err(std::io::Error::other(format!("redis refused XADD: {reply:?}"))),
                    };
                }
                Err(e) => {
                    *slot = None;
                    last_error = Some(e);
                }
            }
        }
        Err(last_error.expect("two failed tries"))
    }
}
