//! Sources: records in, admitted event batches out.

pub mod decode;
