//! Evaluation commands: measure the models on labelled public data (`../shared/eval-data`).

pub mod classify;
pub mod hostile;
pub mod new_clusters;
pub mod pii;
pub mod scopes;
pub mod sentiment;
pub mod similarity;
