//! `cargo run -p odradek-codegen -- SPEC_DIR [--older OLDER_SPEC_DIR] [OUTPUT_DIR]`
//!
//! Regenerates `src/protocol/messages/` from a folder of Kafka message specs,
//! extended down to the versions of an older release's specs (`--older`).
//! `scripts/kafka-specs` fetches both from Maven Central and runs this.
//! Files in the output folder that the specs no longer produce are removed.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let Some(spec_dir) = args.next().map(PathBuf::from) else {
        eprintln!("usage: odradek-codegen SPEC_DIR [--older OLDER_SPEC_DIR] [OUTPUT_DIR]");
        return ExitCode::from(2);
    };
    let mut older = None;
    let mut output = None;
    while let Some(arg) = args.next() {
        if arg == "--older" {
            older = args.next().map(PathBuf::from);
        } else {
            output = Some(PathBuf::from(arg));
        }
    }
    let output = output.unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(odradek_codegen::OUTPUT_DIR)
    });
    match run(&spec_dir, older.as_deref(), &output) {
        Ok(count) => {
            println!("wrote {count} files to {}", output.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("odradek-codegen: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(
    spec_dir: &std::path::Path,
    older: Option<&std::path::Path>,
    output: &std::path::Path,
) -> Result<usize, String> {
    let files = odradek_codegen::generate(spec_dir, older)?;
    std::fs::create_dir_all(output).map_err(|e| format!("creating {}: {e}", output.display()))?;
    let stale =
        std::fs::read_dir(output).map_err(|e| format!("listing {}: {e}", output.display()))?;
    for entry in stale.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".rs") && !files.contains_key(&name) {
            std::fs::remove_file(entry.path()).map_err(|e| format!("removing {name}: {e}"))?;
        }
    }
    for (name, code) in &files {
        let path = output.join(name);
        std::fs::write(&path, code).map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    Ok(files.len())
}
