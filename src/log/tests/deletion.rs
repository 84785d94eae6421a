//! Topic deletion is crash-safe: whatever step a crash interrupts, the next
//! start leaves either the whole topic or none of it.

use super::*;
use crate::log::topic::TopicMeta;
use crate::log::LogManager;

fn dirs(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.path().is_dir() && e.file_name() != "meta")
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_restart_discards_partitions_no_topic_owns_and_finishes_deletions() {
    let dir = TempDir::new("deletion");
    {
        let log = LogManager::open(dir.path(), config()).unwrap();
        log.create_topic("kept", 2, Default::default()).unwrap();
        log.create_topic("doomed", 2, Default::default()).unwrap();
        log.close().unwrap();
    }
    // A crash right after the commit point of a deletion: the properties
    // file is gone, the directories not yet renamed.
    TopicMeta::remove(dir.path(), "doomed").unwrap();
    // A crash half-way through creating a topic (directories, no properties file),
    // and one half-way through removing renamed directories.
    std::fs::create_dir_all(dir.path().join("half-made-0")).unwrap();
    std::fs::create_dir_all(dir.path().join("kept-7")).unwrap();
    std::fs::create_dir_all(
        dir.path()
            .join("old-0.0123456789abcdef0123456789abcdef-delete"),
    )
    .unwrap();
    std::fs::write(
        dir.path()
            .join("old-0.0123456789abcdef0123456789abcdef-delete")
            .join("x.log"),
        b"x",
    )
    .unwrap();

    let log = LogManager::open(dir.path(), config()).unwrap();
    assert_eq!(
        log.topics()
            .iter()
            .map(|t| t.meta.name.clone())
            .collect::<Vec<_>>(),
        ["kept"]
    );
    assert_eq!(dirs(dir.path()), ["kept-0", "kept-1"]);
    // The name is free again, and starts empty.
    log.create_topic("doomed", 1, Default::default()).unwrap();
    assert_eq!(log.partition("doomed", 0).unwrap().offsets(), (0, 0, 0));
}

#[test]
fn deleted_topics_are_renamed_away_at_once_and_removed_in_the_background() {
    let dir = TempDir::new("deletion-bg");
    let log = LogManager::open(dir.path(), config()).unwrap();
    log.create_topic("gone", 3, Default::default()).unwrap();
    log.delete_topic("gone").unwrap();
    assert!(dirs(dir.path())
        .iter()
        .all(|d| !d.starts_with("gone-") || d.ends_with("-delete")));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !dirs(dir.path()).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "left behind: {:?}",
            dirs(dir.path())
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn racing_creations_of_one_name_leave_the_winners_directory_alone() {
    for round in 0..20 {
        let dir = TempDir::new(&format!("create-race-{round}"));
        let log = Arc::new(LogManager::open(dir.path(), config()).unwrap());
        let outcomes: Vec<bool> = std::thread::scope(|s| {
            let racers: Vec<_> = (0..4)
                .map(|_| {
                    let log = Arc::clone(&log);
                    s.spawn(move || log.create_topic("raced", 2, Default::default()).is_ok())
                })
                .collect();
            racers.into_iter().map(|r| r.join().unwrap()).collect()
        });
        assert_eq!(
            outcomes.iter().filter(|won| **won).count(),
            1,
            "{outcomes:?}"
        );
        // The winner's partitions are whole: a refused racer removed nothing.
        for p in 0..2 {
            assert!(
                dir.path().join(format!("raced-{p}")).is_dir(),
                "round {round}"
            );
        }
        let partition = log.partition("raced", 0).unwrap();
        let appended = partition.append(&batch("a", &[1]), 1_000).unwrap();
        assert_eq!(appended.base_offset, 0);
    }
}
