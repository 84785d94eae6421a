//! Producer ids, unique across restarts: ids are handed out from blocks
//! whose end is persisted before the first id of the block is used, so a
//! restart continues after the last block and never repeats an id.

use crate::log::properties;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

const BLOCK: i64 = 1000;
const FILE: &str = "producer-ids.properties";

struct Range {
    next: i64,
    block_end: i64,
}

pub struct ProducerIds {
    path: PathBuf,
    range: Mutex<Range>,
}

impl ProducerIds {
    pub fn open(meta_dir: &Path) -> io::Result<ProducerIds> {
        std::fs::create_dir_all(meta_dir)?;
        let path = meta_dir.join(FILE);
        let stored = properties::read(&path)?
            .and_then(|p| p.get("block.end").and_then(|v| v.parse::<i64>().ok()))
            .unwrap_or(0);
        Ok(ProducerIds {
            path,
            range: Mutex::new(Range {
                next: stored,
                block_end: stored,
            }),
        })
    }

    /// The next id of the current block, if it has one left.
    pub fn next_in_block(&self) -> Option<i64> {
        let mut range = self.range.lock().unwrap_or_else(|p| p.into_inner());
        (range.next < range.block_end).then(|| {
            range.next += 1;
            range.next - 1
        })
    }

    /// Where the ids this node handed out alone end.
    pub fn handed_out_below(&self) -> i64 {
        self.range
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .block_end
    }

    /// Takes a block the controller allocated: [start, end). Persisted,
    /// so that the node never goes back below it on its own.
    pub fn install_block(&self, start: i64, end: i64) -> io::Result<()> {
        let mut range = self.range.lock().unwrap_or_else(|p| p.into_inner());
        let props = [("block.end".to_string(), end.to_string())].into();
        properties::write(&self.path, &props)?;
        *range = Range {
            next: start,
            block_end: end,
        };
        Ok(())
    }

    /// A producer id never handed out before, by this broker or an earlier
    /// run of it (a node alone; in a cluster the controller hands out
    /// blocks, see [`allocate`]).
    pub fn allocate(&self) -> io::Result<i64> {
        let mut range = self.range.lock().unwrap_or_else(|p| p.into_inner());
        if range.next >= range.block_end {
            let block_end = range.next + BLOCK;
            let props = [("block.end".to_string(), block_end.to_string())].into();
            properties::write(&self.path, &props)?;
            range.block_end = block_end;
        }
        let id = range.next;
        range.next += 1;
        Ok(id)
    }
}

/// A producer id unique in the cluster: from this node's current block,
/// or a new block from the controller once this node has joined one.
pub async fn allocate(broker: &crate::broker::Broker) -> io::Result<i64> {
    let Some(node) = broker.metadata_writer().await else {
        return broker.producer_ids.allocate();
    };
    if let Some(id) = broker.producer_ids.next_in_block() {
        return Ok(id);
    }
    let (start, end) = node
        .allocate_producer_ids(broker.producer_ids.handed_out_below())
        .await
        .map_err(io::Error::other)?;
    broker.producer_ids.install_block(start, end)?;
    broker
        .producer_ids
        .next_in_block()
        .ok_or_else(|| io::Error::other("an empty producer id block"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_across_restarts() {
        let dir = std::env::temp_dir().join(format!("odradek-pids-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let first = ProducerIds::open(&dir).unwrap();
        let a: Vec<i64> = (0..3).map(|_| first.allocate().unwrap()).collect();
        assert_eq!(a, vec![0, 1, 2]);
        drop(first);
        let second = ProducerIds::open(&dir).unwrap();
        let b = second.allocate().unwrap();
        assert_eq!(b, BLOCK, "a restart skips the rest of the used block");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
