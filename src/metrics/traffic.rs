//! Per-partition traffic: bytes and records produced, bytes served to
//! consumers and fetch requests, as moving averages over 1, 5 and 15
//! minutes (Kafka's meters: a sample every 5 s, each minute-average
//! decaying exponentially). Counting is one relaxed atomic add per
//! request; the averages move once per tick.

use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Seconds between samples.
pub const TICK_SECONDS: u64 = 5;

/// A rate per second over the last 1, 5 and 15 minutes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Averages {
    pub m1: f64,
    pub m5: f64,
    pub m15: f64,
}

impl Averages {
    /// Folds in `count` events of the last tick. The first tick sets the
    /// averages outright, so a new partition's rate shows at once.
    fn tick(&mut self, count: u64, first: bool) {
        let rate = count as f64 / TICK_SECONDS as f64;
        if first {
            *self = Averages {
                m1: rate,
                m5: rate,
                m15: rate,
            };
            return;
        }
        let step = |average: &mut f64, minutes: f64| {
            let alpha = 1.0 - (-(TICK_SECONDS as f64) / (60.0 * minutes)).exp();
            *average += alpha * (rate - *average);
        };
        step(&mut self.m1, 1.0);
        step(&mut self.m5, 5.0);
        step(&mut self.m15, 15.0);
    }
}

/// A partition's rates, as of the last tick.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Rates {
    pub bytes_in: Averages,
    pub records_in: Averages,
    pub bytes_out: Averages,
    pub fetches: Averages,
}

#[derive(Debug, Default)]
pub struct Traffic {
    bytes_in: AtomicU64,
    records_in: AtomicU64,
    bytes_out: AtomicU64,
    fetches: AtomicU64,
    /// The averages, and whether a tick has set them yet.
    rates: Mutex<(Rates, bool)>,
}

impl Traffic {
    /// A batch of `records` records and `bytes` bytes appended by a producer.
    pub fn produced(&self, bytes: u64, records: u64) {
        self.bytes_in.fetch_add(bytes, Ordering::Relaxed);
        self.records_in.fetch_add(records, Ordering::Relaxed);
    }

    /// A consumer's fetch that was sent `bytes` of this partition.
    pub fn fetched(&self, bytes: u64) {
        self.bytes_out.fetch_add(bytes, Ordering::Relaxed);
        self.fetches.fetch_add(1, Ordering::Relaxed);
    }

    /// Moves what was counted since the last tick into the averages; called
    /// every [`TICK_SECONDS`].
    pub fn tick(&self) {
        let take = |counter: &AtomicU64| counter.swap(0, Ordering::Relaxed);
        let mut guard = self.rates.lock().unwrap_or_else(|p| p.into_inner());
        let (rates, started) = &mut *guard;
        let first = !*started;
        rates.bytes_in.tick(take(&self.bytes_in), first);
        rates.records_in.tick(take(&self.records_in), first);
        rates.bytes_out.tick(take(&self.bytes_out), first);
        rates.fetches.tick(take(&self.fetches), first);
        *started = true;
    }

    pub fn rates(&self) -> Rates {
        self.rates.lock().unwrap_or_else(|p| p.into_inner()).0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_steady_rate_is_every_average_and_silence_decays_fastest_in_the_shortest() {
        let t = Traffic::default();
        for _ in 0..3 {
            t.produced(5_000, 50);
            t.fetched(2_500);
            t.tick();
        }
        let r = t.rates();
        assert_eq!(r.bytes_in.m1, 1_000.0);
        assert_eq!(r.bytes_in.m15, 1_000.0);
        assert_eq!(r.records_in.m5, 10.0);
        assert_eq!(r.bytes_out.m1, 500.0);
        assert_eq!(r.fetches.m1, 0.2);
        for _ in 0..12 {
            t.tick(); // a minute of silence
        }
        let r = t.rates();
        assert!(
            (r.bytes_in.m1 - 1_000.0 / std::f64::consts::E).abs() < 1.0,
            "{r:?}"
        );
        assert!(r.bytes_in.m1 < r.bytes_in.m5 && r.bytes_in.m5 < r.bytes_in.m15);
    }
}
