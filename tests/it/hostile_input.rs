//! A sample of the hostile-input cases (`cargo bench --bench hostile_input` runs 10⁵ per
//! target): 3,000 mutated cases per target with a seed of its own; no panic, every record an
//! event or a dead letter with a reason, every refused configuration with its errors.

use feedpulse::eval::hostile::{corpus, run, Target};
use std::path::Path;

#[test]
fn hostile_input_never_panics_and_every_case_ends_with_a_reason() {
    let (records, config) = corpus(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap();
    for target in Target::ALL {
        let report = run(target, &records, &config, 3_000, 20_261_207);
        assert!(
            report.failures.is_empty(),
            "{}: {:?}",
            target.name(),
            &report.failures[..report.failures.len().min(5)]
        );
        assert!(report.refused > 0 || target == Target::Masker, "{}: the mutations reach the refusals", target.name());
        assert!(report.accepted > 0, "{}: and some cases still pass", target.name());
    }
}
