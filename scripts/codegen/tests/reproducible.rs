//! The generator is deterministic and the committed output is current.
//! Runs where the fetched specs are present (`scripts/kafka-specs --fetch`
//! puts Kafka 4.4.0's and 3.9.1's in `target/kafka-specs/`; or
//! `$KAFKA_MESSAGE_SPECS` and `$KAFKA_MESSAGE_SPECS_OLDER`). CI fetches them
//! before the tests, so there their absence is a failure.

use std::path::PathBuf;

fn spec_dir(variable: &str, version: &str) -> Option<PathBuf> {
    let dir = std::env::var_os(variable)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../target/kafka-specs")
                .join(version)
                .join("common/message")
        });
    dir.is_dir().then_some(dir)
}

#[test]
fn generating_twice_is_byte_identical_and_matches_committed_code() {
    let (Some(dir), Some(older)) = (
        spec_dir("KAFKA_MESSAGE_SPECS", "4.4.0"),
        spec_dir("KAFKA_MESSAGE_SPECS_OLDER", "3.9.1"),
    ) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI run without the fetched specs: run scripts/kafka-specs --fetch first"
        );
        eprintln!("specs not fetched: nothing to compare (the committed code is what builds)");
        return;
    };
    let first = odradek_codegen::generate(&dir, Some(&older)).expect("generate");
    let second = odradek_codegen::generate(&dir, Some(&older)).expect("generate again");
    assert_eq!(first, second, "two runs differ");
    let committed = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(odradek_codegen::OUTPUT_DIR);
    for (name, code) in &first {
        let on_disk = std::fs::read_to_string(committed.join(name))
            .unwrap_or_else(|e| panic!("{name} is not committed ({e}); run the generator"));
        assert!(
            on_disk == *code,
            "{name} differs from the generator's output; run the generator"
        );
    }
    let count = std::fs::read_dir(&committed)
        .expect("list")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "rs"))
        })
        .count();
    assert_eq!(
        count,
        first.len(),
        "stale generated files in {}",
        committed.display()
    );
}
