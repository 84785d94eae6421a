//! Fetches parked on partitions, woken only by their own partitions.
//!
//! A long-polling fetch parks once on every partition it reads, for what it
//! waits on: a consumer for the high watermark, a follower for the log end.
//! A partition wakes only the fetches parked on it, so an append in one
//! partition does not make every follower in the cluster re-read its whole
//! fetch (Kafka's delayed-fetch purgatory, keyed by partition).
//!
//! Each parked fetch holds one `Notify`; a wake stores a permit in it, so a
//! wake between a fetch's read and its wait is never lost.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use super::Partition;

/// What a parked fetch waits on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Awaited {
    /// The high watermark moves (consumers read only below it).
    HighWatermark,
    /// The log end moves (followers copy everything appended).
    LogEnd,
}

/// The fetches parked on one partition for one event.
#[derive(Default)]
pub struct Watchers {
    parked: Mutex<HashMap<u64, Arc<Notify>>>,
}

impl Watchers {
    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Arc<Notify>>> {
        // The map is never left half-updated: every change is one call.
        self.parked.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes every fetch parked here (each keeps its registration until it
    /// answers, so it is woken again by the next move).
    pub fn wake(&self) {
        for waiter in self.lock().values() {
            waiter.notify_one();
        }
    }

    /// How many fetches are parked here.
    pub fn parked(&self) -> usize {
        self.lock().len()
    }

    fn park(&self, id: u64, waiter: &Arc<Notify>) {
        self.lock().insert(id, Arc::clone(waiter));
    }

    fn leave(&self, id: u64) {
        self.lock().remove(&id);
    }
}

/// One fetch's registration on its partitions; leaves them when dropped.
pub struct Parked {
    id: u64,
    awaited: Awaited,
    waiter: Arc<Notify>,
    partitions: Vec<Arc<Partition>>,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

impl Parked {
    /// Parks on `partitions` now: any move after this call wakes `arrived`.
    pub fn on(partitions: Vec<Arc<Partition>>, awaited: Awaited) -> Parked {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let waiter = Arc::new(Notify::new());
        for partition in &partitions {
            partition.watchers(awaited).park(id, &waiter);
        }
        Parked {
            id,
            awaited,
            waiter,
            partitions,
        }
    }

    /// Completes once a watched partition moved since parking or since the
    /// last time this completed.
    pub async fn arrived(&self) {
        self.waiter.notified().await;
    }
}

impl Drop for Parked {
    fn drop(&mut self) {
        for partition in &self.partitions {
            partition.watchers(self.awaited).leave(self.id);
        }
    }
}
