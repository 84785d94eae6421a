//! The high-watermark checkpoint: every partition's high watermark, in
//! Kafka's `replication-offset-checkpoint` format (a version line `0`, a
//! count line, then `topic partition offset` per line), written atomically
//! every `replica.high.watermark.checkpoint.interval.ms` and at shutdown.
//!
//! A restarted node of a cluster takes its high watermarks from here, so it
//! never exposes records above what was committed before it stopped: those
//! may be missing from the replica that leads now. The checkpoint lags the
//! real high watermark, which only makes a restart more careful.

use std::collections::HashMap;
use std::io;
use std::path::Path;

pub const FILE: &str = "replication-offset-checkpoint";
const VERSION: &str = "0";
/// A bound on what a corrupt count line can make the reader reserve.
const MAX_PRESIZE: usize = 1 << 16;

pub type HighWatermarks = HashMap<(String, i32), i64>;

/// The checkpoint in `dir`; `None` when there is none yet.
pub fn read(dir: &Path) -> io::Result<Option<HighWatermarks>> {
    let text = match std::fs::read_to_string(dir.join(FILE)) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    parse(&text)
        .map(Some)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("{FILE} is malformed")))
}

fn parse(text: &str) -> Option<HighWatermarks> {
    let mut lines = text.lines();
    if lines.next()?.trim() != VERSION {
        return None;
    }
    let count: usize = lines.next()?.trim().parse().ok()?;
    let mut entries = HighWatermarks::with_capacity(count.min(MAX_PRESIZE));
    for _ in 0..count {
        let mut fields = lines.next()?.split_whitespace();
        let topic = fields.next()?.to_string();
        let partition: i32 = fields.next()?.parse().ok()?;
        let offset: i64 = fields.next()?.parse().ok()?;
        if fields.next().is_some() || partition < 0 || offset < 0 {
            return None;
        }
        entries.insert((topic, partition), offset);
    }
    Some(entries)
}

/// Replaces the checkpoint in `dir` with `entries` (sorted, so equal
/// contents give equal files).
pub fn write(dir: &Path, entries: &[(String, i32, i64)]) -> io::Result<()> {
    let mut text = format!("{VERSION}\n{}\n", entries.len());
    for (topic, partition, offset) in entries {
        text.push_str(&format!("{topic} {partition} {offset}\n"));
    }
    super::properties::write_atomically(&dir.join(FILE), text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_malformed_files() {
        let dir = std::env::temp_dir().join(format!("odradek-hwcp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(read(&dir).unwrap(), None);
        write(&dir, &[("a".into(), 0, 5), ("b.c".into(), 3, 0)]).unwrap();
        let read_back = read(&dir).unwrap().unwrap();
        assert_eq!(read_back.len(), 2);
        assert_eq!(read_back[&("a".to_string(), 0)], 5);
        assert_eq!(read_back[&("b.c".to_string(), 3)], 0);
        for bad in [
            "",
            "1\n0\n",
            "0\n2\na 0 5\n",
            "0\n1\na 0\n",
            "0\n1\na x 5\n",
            "0\n1\na 0 -3\n",
            "0\n1\na 0 5 6\n",
            "0\n99999999999999999999\n",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
        assert_eq!(parse("0\n0\n"), Some(HighWatermarks::new()));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
