//! Evaluation commands: measure the models on labelled public data (`../shared/eval-data`).

pub mod sentiment;
