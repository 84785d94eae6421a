//! The generator is deterministic and the committed output is current.
//! Runs only where the spec folder is present (`../shared/kafka-message-specs`
//! beside the project, or `$KAFKA_MESSAGE_SPECS`).

use std::path::PathBuf;

fn spec_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("KAFKA_MESSAGE_SPECS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/kafka-message-specs")
        });
    dir.is_dir().then_some(dir)
}

#[test]
fn generating_twice_is_byte_identical_and_matches_committed_code() {
    let Some(dir) = spec_dir() else {
        // CI always has the specs beside the clone: there, their absence is a failure, not a skip.
        assert!(
            std::env::var_os("CI").is_none(),
            "CI run without ../shared/kafka-message-specs"
        );
        eprintln!("spec folder absent: nothing to compare (the committed code is what builds)");
        return;
    };
    let first = odradek_codegen::generate(&dir).expect("generate");
    let second = odradek_codegen::generate(&dir).expect("generate again");
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
