//! Sources: records in, admitted event batches out. HTTP ingest lives in `server`.

pub mod lines;
pub mod wal;
