//! Sources: records in, admitted event batches out. HTTP ingest lives in `server`.

pub mod decode;
pub mod lines;
pub mod redis;
