//! The admin and console commands against the real broker binary over TCP:
//! each test starts `odradek serve` on an ephemeral port and drives
//! `odradek topics|groups|produce|consume` as child processes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_odradek");

/// A broker child process and its data directory, both removed on drop.
struct Broker {
    child: Child,
    addr: String,
    dir: PathBuf,
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start_broker() -> Broker {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "odradek-cli-test-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&dir)
        .env("ODRADEK_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the broker");
    let stdout = child.stdout.take().expect("broker stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read the ready line");
    // "odradek ready: listening on ADDR, node ..."
    let addr = line
        .split("listening on ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    Broker { child, addr, dir }
}

/// Runs `odradek ARGS --bootstrap-server ADDR`, feeding `stdin`.
fn run(addr: &str, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .args(["--bootstrap-server", addr])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the CLI");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin.as_bytes()).expect("write stdin");
    drop(input);
    child.wait_with_output().expect("wait for the CLI")
}

/// Runs and requires success; returns stdout.
fn ok(addr: &str, args: &[&str], stdin: &str) -> String {
    let out = run(addr, args, stdin);
    assert!(
        out.status.success(),
        "odradek {args:?} failed: {}\nstdout: {}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

/// Runs and requires failure; returns stderr.
fn fails(addr: &str, args: &[&str]) -> String {
    let out = run(addr, args, "");
    assert!(
        !out.status.success(),
        "odradek {args:?} unexpectedly succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stderr).expect("utf-8 stderr")
}

fn sorted_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines.sort();
    lines
}

#[test]
fn topics_create_list_describe_delete() {
    let broker = start_broker();
    let a = broker.addr.as_str();
    assert_eq!(
        ok(
            a,
            &[
                "topics",
                "create",
                "orders",
                "--partitions",
                "3",
                "--config",
                "retention.ms=3600000"
            ],
            ""
        ),
        "Created topic orders.\n"
    );
    assert!(
        fails(a, &["topics", "create", "orders", "--partitions", "3"])
            .contains("TOPIC_ALREADY_EXISTS")
    );
    ok(a, &["topics", "create", "audit", "--partitions", "1"], "");
    assert_eq!(ok(a, &["topics", "list"], ""), "audit\norders\n");
    assert_eq!(
        ok(a, &["topics", "list", "--json"], ""),
        "[{\"topic\":\"audit\",\"partitions\":1,\"internal\":false},{\"topic\":\"orders\",\"partitions\":3,\"internal\":false}]\n"
    );

    ok(
        a,
        &["produce", "--topic", "orders", "--partition", "2"],
        "x\ny\n",
    );
    let described = ok(a, &["topics", "describe", "orders"], "");
    assert!(
        described.starts_with("Topic: orders\tTopicId: "),
        "{described}"
    );
    assert!(
        described.contains("PartitionCount: 3\tReplicationFactor: 1"),
        "{described}"
    );
    let rows: Vec<Vec<&str>> = described
        .lines()
        .skip_while(|l| !l.starts_with("PARTITION"))
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows,
        vec![
            vec!["0", "0", "0", "0", "0", "0"],
            vec!["1", "0", "0", "0", "0", "0"],
            vec!["2", "0", "0", "0", "0", "2"]
        ]
    );
    let json = ok(a, &["topics", "describe", "orders", "--json"], "");
    assert!(json.contains("{\"partition\":2,\"leader\":0,"), "{json}");
    assert!(
        json.contains("\"earliest_offset\":0,\"latest_offset\":2}"),
        "{json}"
    );

    assert_eq!(
        ok(a, &["topics", "delete", "orders"], ""),
        "Deleted topic orders.\n"
    );
    assert_eq!(ok(a, &["topics", "list"], ""), "audit\n");
    assert!(fails(a, &["topics", "describe", "orders"]).contains("UNKNOWN_TOPIC_OR_PARTITION"));
    assert!(fails(a, &["topics", "delete", "orders"]).contains("UNKNOWN_TOPIC_OR_PARTITION"));
}

#[test]
fn produce_then_consume_keys_and_headers() {
    let broker = start_broker();
    let a = broker.addr.as_str();
    ok(a, &["topics", "create", "events", "--partitions", "4"], "");
    let input: String = (0..40)
        .map(|i| format!("user-{}|event {i}\n", i % 5))
        .collect();
    // Small batches so several Produce requests are sent.
    ok(
        a,
        &[
            "produce",
            "--topic",
            "events",
            "--key-separator",
            "|",
            "--header",
            "src=cli",
            "--header",
            "v=1",
            "--batch-lines",
            "7",
        ],
        &input,
    );
    let consumed = ok(
        a,
        &[
            "consume",
            "--topic",
            "events",
            "--from-beginning",
            "--max-messages",
            "40",
            "--timeout-ms",
            "20000",
            "--format",
            "{key}|{value}|{headers}|{partition}",
        ],
        "",
    );
    let lines = sorted_lines(&consumed);
    assert_eq!(lines.len(), 40, "{consumed}");
    let mut partition_of_key = std::collections::BTreeMap::new();
    for line in &lines {
        let fields: Vec<&str> = line.split('|').collect();
        assert_eq!(fields.len(), 4, "{line}");
        assert_eq!(fields[2], "src=cli,v=1");
        // The same key always lands on the same partition.
        assert_eq!(
            *partition_of_key
                .entry(fields[0].to_string())
                .or_insert(fields[3].to_string()),
            fields[3],
            "{line}"
        );
    }
    let expected: Vec<String> =
        sorted_lines(&input.lines().map(|l| format!("{l}\n")).collect::<String>());
    let got: Vec<String> = sorted_lines(
        &lines
            .iter()
            .map(|l| l.rsplitn(3, '|').nth(2).unwrap_or("").to_string() + "\n")
            .collect::<String>(),
    );
    assert_eq!(got, expected);

    // One partition from an offset, as JSON lines, with offsets in order.
    let partition = partition_of_key["user-0"].clone();
    let json = ok(
        a,
        &[
            "consume",
            "--topic",
            "events",
            "--partition",
            &partition,
            "--offset",
            "1",
            "--max-messages",
            "2",
            "--timeout-ms",
            "20000",
            "--json",
        ],
        "",
    );
    let json_lines: Vec<&str> = json.lines().collect();
    assert_eq!(json_lines.len(), 2, "{json}");
    assert!(
        json_lines[0].contains(&format!("\"partition\":{partition},\"offset\":1,")),
        "{json}"
    );
    assert!(
        json_lines[1].contains(&format!("\"partition\":{partition},\"offset\":2,")),
        "{json}"
    );
    assert!(
        json_lines[0].contains(
            "\"headers\":[{\"key\":\"src\",\"value\":\"cli\"},{\"key\":\"v\",\"value\":\"1\"}]"
        ),
        "{json}"
    );

    // A line without the separator is an error, not a silent null key.
    let out = run(
        a,
        &["produce", "--topic", "events", "--key-separator", "|"],
        "no separator here\n",
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 1 has no key separator"));
}

/// The `groups describe --json` offsets entry of one partition.
fn offsets_entry(json: &str, topic: &str, partition: i32) -> String {
    let start = json
        .find(&format!(
            "{{\"topic\":\"{topic}\",\"partition\":{partition},\"committed_offset\""
        ))
        .unwrap_or_else(|| panic!("no {topic}-{partition} in {json}"));
    let end = json[start..]
        .find('}')
        .map_or(json.len(), |e| start + e + 1);
    json[start..end].to_string()
}

#[test]
fn group_commits_lag_and_reset_offsets() {
    let broker = start_broker();
    let a = broker.addr.as_str();
    ok(a, &["topics", "create", "jobs", "--partitions", "1"], "");
    let input: String = (0..10).map(|i| format!("job-{i}\n")).collect();
    ok(a, &["produce", "--topic", "jobs"], &input);

    let first = ok(
        a,
        &[
            "consume",
            "--topic",
            "jobs",
            "--group",
            "workers",
            "--from-beginning",
            "--max-messages",
            "4",
            "--timeout-ms",
            "20000",
        ],
        "",
    );
    assert_eq!(first, "job-0\njob-1\njob-2\njob-3\n");
    let described = ok(a, &["groups", "describe", "workers", "--json"], "");
    assert!(
        described.starts_with("[{\"group\":\"workers\",\"state\":\"Empty\""),
        "{described}"
    );
    assert_eq!(
        offsets_entry(&described, "jobs", 0),
        "{\"topic\":\"jobs\",\"partition\":0,\"committed_offset\":4,\"log_end_offset\":10,\"lag\":6,\"member_id\":null}"
    );
    let table = ok(a, &["groups", "describe", "workers"], "");
    let row: Vec<&str> = table
        .lines()
        .find(|l| l.starts_with("jobs"))
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(row, vec!["jobs", "0", "4", "10", "6", "-"], "{table}");
    assert!(ok(a, &["groups", "list"], "")
        .lines()
        .any(|l| l.split_whitespace().next() == Some("workers")));

    // The next run resumes from the commit.
    let second = ok(
        a,
        &[
            "consume",
            "--topic",
            "jobs",
            "--group",
            "workers",
            "--max-messages",
            "2",
            "--timeout-ms",
            "20000",
        ],
        "",
    );
    assert_eq!(second, "job-4\njob-5\n");

    // A dry run (the default) computes but does not commit.
    let dry = ok(
        a,
        &[
            "groups",
            "reset-offsets",
            "workers",
            "--topic",
            "jobs",
            "--to-earliest",
        ],
        "",
    );
    assert_eq!(
        dry.lines()
            .nth(1)
            .map(|l| l.split_whitespace().collect::<Vec<_>>()),
        Some(vec!["workers", "jobs", "0", "0"])
    );
    assert!(offsets_entry(
        &ok(a, &["groups", "describe", "workers", "--json"], ""),
        "jobs",
        0
    )
    .contains("\"committed_offset\":6,"));

    ok(
        a,
        &[
            "groups",
            "reset-offsets",
            "workers",
            "--topic",
            "jobs",
            "--to-earliest",
            "--execute",
        ],
        "",
    );
    let after = offsets_entry(
        &ok(a, &["groups", "describe", "workers", "--json"], ""),
        "jobs",
        0,
    );
    assert!(
        after.contains("\"committed_offset\":0,\"log_end_offset\":10,\"lag\":10,"),
        "{after}"
    );

    // --to-offset clamps into the log; --to-datetime far in the future is the end.
    ok(
        a,
        &[
            "groups",
            "reset-offsets",
            "workers",
            "--all-topics",
            "--to-offset",
            "99",
            "--execute",
        ],
        "",
    );
    assert!(offsets_entry(
        &ok(a, &["groups", "describe", "workers", "--json"], ""),
        "jobs",
        0
    )
    .contains("\"committed_offset\":10,"));
    ok(
        a,
        &[
            "groups",
            "reset-offsets",
            "workers",
            "--topic",
            "jobs:0",
            "--to-datetime",
            "2001-09-09T01:46:40Z",
            "--execute",
        ],
        "",
    );
    assert!(offsets_entry(
        &ok(a, &["groups", "describe", "workers", "--json"], ""),
        "jobs",
        0
    )
    .contains("\"committed_offset\":0,"));
    ok(
        a,
        &[
            "groups",
            "reset-offsets",
            "workers",
            "--topic",
            "jobs",
            "--to-datetime",
            "9999-01-01T00:00:00Z",
            "--execute",
        ],
        "",
    );
    assert!(offsets_entry(
        &ok(a, &["groups", "describe", "workers", "--json"], ""),
        "jobs",
        0
    )
    .contains("\"committed_offset\":10,"));
    ok(
        a,
        &[
            "groups",
            "reset-offsets",
            "workers",
            "--topic",
            "jobs",
            "--to-offset",
            "3",
            "--execute",
        ],
        "",
    );
    assert_eq!(
        ok(
            a,
            &[
                "consume",
                "--topic",
                "jobs",
                "--group",
                "workers",
                "--max-messages",
                "1",
                "--timeout-ms",
                "20000"
            ],
            ""
        ),
        "job-3\n"
    );

    assert!(fails(
        a,
        &[
            "groups",
            "reset-offsets",
            "workers",
            "--topic",
            "nope",
            "--to-latest"
        ]
    )
    .contains("nope"));
    assert_eq!(
        ok(a, &["groups", "delete", "workers"], ""),
        "Deleted group workers.\n"
    );
    assert!(!ok(a, &["groups", "list"], "")
        .lines()
        .any(|l| l.starts_with("workers")));
}

#[test]
fn bad_servers_give_errors_not_panics() {
    // Nothing listening.
    let closed = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = closed.local_addr().expect("addr").to_string();
    drop(closed);
    let err = fails(&addr, &["topics", "list"]);
    assert!(err.starts_with("odradek: connecting to"), "{err}");

    // A server answering with a frame size of 2 GiB, then one answering with
    // a wrong correlation id.
    for reply in [
        vec![0x7f, 0xff, 0xff, 0xff],
        vec![0, 0, 0, 6, 0, 0, 0x30, 0x39, 0, 0],
    ] {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let server = std::thread::spawn(move || {
            if let Ok((mut socket, _)) = listener.accept() {
                let mut size = [0u8; 4];
                let _ = socket.read_exact(&mut size);
                let mut request = vec![0u8; u32::from_be_bytes(size) as usize];
                let _ = socket.read_exact(&mut request);
                let _ = socket.write_all(&reply);
                std::thread::sleep(Duration::from_millis(500));
            }
        });
        let err = fails(&addr, &["topics", "list", "--request-timeout-ms", "5000"]);
        assert!(
            err.contains("exceeds") || err.contains("correlation id 12345"),
            "{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
        let _ = server.join();
    }
}

/// `topics alter-config` through IncrementalAlterConfigs, then DescribeConfigs.
#[test]
fn alter_config_then_describe_shows_overrides() {
    let broker = start_broker();
    let a = broker.addr.as_str();
    ok(
        a,
        &[
            "topics",
            "create",
            "conf",
            "--partitions",
            "1",
            "--config",
            "retention.ms=3600000",
        ],
        "",
    );
    let before = ok(a, &["topics", "describe", "conf"], "");
    assert!(before.contains("Configs: retention.ms=3600000"), "{before}");
    ok(
        a,
        &[
            "topics",
            "alter-config",
            "conf",
            "--set",
            "cleanup.policy=compact",
            "--delete",
            "retention.ms",
        ],
        "",
    );
    let after = ok(a, &["topics", "describe", "conf"], "");
    assert!(
        after.contains("Configs: cleanup.policy=compact\n"),
        "{after}"
    );
    let all = ok(
        a,
        &["topics", "describe", "conf", "--all-configs", "--json"],
        "",
    );
    assert!(
        all.contains(
            "{\"name\":\"cleanup.policy\",\"value\":\"compact\",\"source\":\"TOPIC_CONFIG\""
        ),
        "{all}"
    );
    assert!(all.contains("{\"name\":\"retention.ms\","), "{all}");
    assert!(
        !all.contains("\"retention.ms\",\"value\":\"3600000\""),
        "{all}"
    );
    assert!(fails(
        a,
        &[
            "topics",
            "alter-config",
            "conf",
            "--set",
            "no.such.config=1"
        ]
    )
    .contains("INVALID_CONFIG"));
}
