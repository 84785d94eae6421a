//! Seeds in CI; thousands on demand (`scripts/simulate`).
//!
//! `ODRADEK_SIM_SEEDS` (how many), `ODRADEK_SIM_FIRST_SEED` (from which)
//! and `ODRADEK_SIM_FAULT_MS` (how long the faults run) choose the run.

use super::*;

/// Seeds a plain `cargo test` runs (about 10 s unoptimised).
const CI_SEEDS: u64 = 100;
const CI_FAULT_MS: i64 = 10_000;
/// Seeds that catch a bug put back, as (seed, fault_ms), run every time.
/// A seed replays the simulation as it is: a change to the simulation
/// changes the run, so the list was checked against the simulation as of
/// its last change:
/// - (16, 10 s): a deposed leader that resumes from a stop and takes a
///   batch in its old epoch acknowledges it once its new leader's log
///   passes the offset (Partition::committed's epoch check undone);
/// - (159, 10 s): proposed ISR members left out of the high watermark let
///   a leader acknowledge what a member the controller had just added
///   lacked ("maximal ISR" undone).
///
/// The third bug it found (a refused retry clearing a proposal that had
/// been committed; 1 seed in 2,000 of 30 s) no longer replays since the
/// simulation changed; `a_proposed_member_holds_the_high_watermark_until_decided`
/// in log/replica_set.rs keeps it.
const REGRESSIONS: &[(u64, i64)] = &[(16, 10_000), (159, 10_000)];

fn env(name: &str) -> Option<i64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

fn run_seeds(tag: &str, seeds: impl Iterator<Item = (u64, i64)>) -> Vec<u64> {
    let root = scratch_dir(tag);
    let mut failed = Vec::new();
    let mut total = Summary::default();
    let mut runs = 0;
    let mut slowest_settle = 0;
    for (seed, fault_ms) in seeds {
        match run(seed, &Settings::for_seed(seed, fault_ms), &root) {
            Ok(summary) => {
                runs += 1;
                total.events += summary.events;
                total.acknowledged += summary.acknowledged;
                total.crashes += summary.crashes;
                total.pauses += summary.pauses;
                total.partitions += summary.partitions;
                total.failovers += summary.failovers;
                slowest_settle = slowest_settle.max(summary.settled_after_ms);
            }
            Err(failure) => {
                eprintln!("{failure}");
                failed.push(seed);
            }
        }
    }
    let _ = std::fs::remove_dir_all(&root);
    eprintln!(
        "simulation: {runs} seeds passed, {} failed; {} events, {} records acknowledged, {} crashes, {} pauses, {} partitions, {} controller failovers; slowest settle {} ms",
        failed.len(),
        total.events,
        total.acknowledged,
        total.crashes,
        total.pauses,
        total.partitions,
        total.failovers,
        slowest_settle
    );
    failed
}

/// Replays `seed` and prints its trace, pass or fail
/// (`ODRADEK_SIM_TRACE` lines of it).
fn show_trace(seed: u64, fault_ms: i64) {
    let root = scratch_dir("show");
    let mut world = World::new(seed, Settings::for_seed(seed, fault_ms), &root);
    let _ = world.run();
    for line in &world.ctx.trace {
        eprintln!("{line}");
    }
    drop(world);
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn seeded_faults_never_lose_an_acknowledged_record() {
    let count = env("ODRADEK_SIM_SEEDS").map_or(CI_SEEDS, |n| n as u64);
    let first = env("ODRADEK_SIM_FIRST_SEED").unwrap_or(0) as u64;
    let fault_ms = env("ODRADEK_SIM_FAULT_MS").unwrap_or(CI_FAULT_MS);
    let failed = run_seeds(
        "seeded",
        (first..first + count).map(|seed| (seed, fault_ms)),
    );
    if std::env::var("ODRADEK_SIM_SHOW").is_ok() {
        show_trace(first, fault_ms);
    }
    assert!(
        failed.is_empty(),
        "failing seeds {failed:?}; replay one with ODRADEK_SIM_FIRST_SEED=<seed> ODRADEK_SIM_SEEDS=1"
    );
}

#[test]
fn seeds_that_once_failed_pass() {
    let failed = run_seeds("regressions", REGRESSIONS.iter().copied());
    assert!(failed.is_empty(), "regressed seeds {failed:?}");
}

#[test]
fn a_seed_replays_exactly() {
    let root = scratch_dir("replay");
    let settings = Settings::for_seed(11, 5_000);
    let once = run(11, &settings, &root).map_err(|f| f.to_string());
    let twice = run(11, &settings, &root).map_err(|f| f.to_string());
    let key = |s: &Summary| (s.events, s.acknowledged, s.crashes, s.settled_after_ms);
    assert_eq!(once.map(|s| key(&s)), twice.map(|s| key(&s)));
    let _ = std::fs::remove_dir_all(&root);
}
