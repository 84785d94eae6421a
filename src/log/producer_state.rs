//! Idempotent producers: per partition, each producer id's epoch and its
//! last five batches' sequence ranges and offsets. A retried batch is found
//! among those five and answered with its original offset instead of being
//! appended again; a gap in sequence numbers or an old epoch is refused.
//!
//! Follows Kafka's ProducerStateManager: an unknown producer (never seen, or
//! expired) may start at any sequence; a new epoch must start at sequence 0.
//! The state is snapshotted when a segment is sealed and rebuilt on recovery
//! from the last snapshot plus the batches after it.
//!
//! Transactions: a producer's first transactional batch opens its ongoing
//! transaction (its first offset bounds the partition's last stable offset)
//! and a commit or abort marker closes it.

use std::collections::{HashMap, VecDeque};

/// Batches remembered per producer: Kafka's max in-flight requests for idempotence.
const CACHED_BATCHES: usize = 5;
const SNAPSHOT_MAGIC: &[u8; 4] = b"ODPS";
/// Version 2 added each producer's ongoing transaction, version 3 the
/// coordinator epoch of its last marker; older versions are still read.
const SNAPSHOT_VERSION: u8 = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchSequence {
    pub first_seq: i32,
    pub last_seq: i32,
    pub base_offset: i64,
    pub last_offset: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProducerEntry {
    pub epoch: i16,
    batches: VecDeque<BatchSequence>,
    /// Largest batch timestamp seen (ms), for `producer.id.expiration.ms`.
    pub last_timestamp: i64,
    /// First offset of the producer's ongoing transaction in this partition.
    pub txn_first_offset: Option<i64>,
    /// The coordinator epoch of the producer's last marker (-1: none): a
    /// marker from an older coordinator is fenced.
    pub coordinator_epoch: i32,
}

impl ProducerEntry {
    /// The last sequence number appended, -1 if none is remembered.
    pub fn last_sequence(&self) -> i32 {
        self.batches.back().map_or(-1, |b| b.last_seq)
    }

    /// The last offset of the producer's last batch, if one is remembered.
    pub fn last_offset(&self) -> Option<i64> {
        self.batches.back().map(|b| b.last_offset)
    }
}

/// No marker seen yet.
const NO_COORDINATOR_EPOCH: i32 = -1;

/// Why a transaction marker may not be written.
#[derive(Debug, PartialEq, Eq)]
pub enum MarkerRefused {
    /// The producer has a newer epoch than the marker's.
    ProducerEpoch { current: i16, got: i16 },
    /// An earlier marker came from a newer coordinator: this one is a zombie's.
    CoordinatorEpoch { current: i32, got: i32 },
}

/// What the producer state says about a batch about to be appended.
#[derive(Debug, PartialEq, Eq)]
pub enum SequenceCheck {
    Append,
    /// Already in the log: answer with this batch's original offsets.
    Duplicate(BatchSequence),
    OutOfOrder {
        expected: i32,
        got: i32,
    },
    InvalidEpoch {
        current: i16,
        got: i16,
    },
}

/// Kafka's sequence arithmetic: sequences wrap from i32::MAX to 0.
pub fn increment_sequence(sequence: i32, increment: i32) -> i32 {
    if sequence > i32::MAX - increment {
        increment - (i32::MAX - sequence) - 1
    } else {
        sequence + increment
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProducerStates {
    producers: HashMap<i64, ProducerEntry>,
}

impl ProducerStates {
    pub fn len(&self) -> usize {
        self.producers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }

    pub fn get(&self, producer_id: i64) -> Option<&ProducerEntry> {
        self.producers.get(&producer_id)
    }

    pub fn check(
        &self,
        producer_id: i64,
        epoch: i16,
        first_seq: i32,
        last_seq: i32,
    ) -> SequenceCheck {
        let Some(entry) = self.producers.get(&producer_id) else {
            return SequenceCheck::Append;
        };
        if epoch < entry.epoch {
            return SequenceCheck::InvalidEpoch {
                current: entry.epoch,
                got: epoch,
            };
        }
        if first_seq < 0 {
            // The broker's own transactional writes (offsets inside a
            // transaction) carry no sequence: only the epoch is checked.
            return SequenceCheck::Append;
        }
        if epoch > entry.epoch {
            return if first_seq == 0 {
                SequenceCheck::Append
            } else {
                SequenceCheck::OutOfOrder {
                    expected: 0,
                    got: first_seq,
                }
            };
        }
        if let Some(duplicate) = entry
            .batches
            .iter()
            .find(|b| b.first_seq == first_seq && b.last_seq == last_seq)
        {
            return SequenceCheck::Duplicate(*duplicate);
        }
        match entry.batches.back() {
            // Same epoch but nothing cached (state rebuilt from markers only): accept.
            None => SequenceCheck::Append,
            Some(last) => {
                let expected = increment_sequence(last.last_seq, 1);
                if first_seq == expected {
                    SequenceCheck::Append
                } else {
                    SequenceCheck::OutOfOrder {
                        expected,
                        got: first_seq,
                    }
                }
            }
        }
    }

    /// Every producer, for DescribeProducers.
    pub fn iter(&self) -> impl Iterator<Item = (i64, &ProducerEntry)> {
        self.producers.iter().map(|(id, entry)| (*id, entry))
    }

    /// Whether a transaction marker of `epoch`, from a coordinator at
    /// `coordinator_epoch`, may be written: never below the producer's
    /// epoch, nor from a coordinator older than its last marker's.
    pub fn check_marker(
        &self,
        producer_id: i64,
        epoch: i16,
        coordinator_epoch: i32,
    ) -> Result<(), MarkerRefused> {
        let Some(entry) = self.producers.get(&producer_id) else {
            return Ok(());
        };
        if epoch < entry.epoch {
            return Err(MarkerRefused::ProducerEpoch {
                current: entry.epoch,
                got: epoch,
            });
        }
        if coordinator_epoch < entry.coordinator_epoch {
            return Err(MarkerRefused::CoordinatorEpoch {
                current: entry.coordinator_epoch,
                got: coordinator_epoch,
            });
        }
        Ok(())
    }

    fn entry(&mut self, producer_id: i64, epoch: i16, timestamp: i64) -> &mut ProducerEntry {
        let entry = self
            .producers
            .entry(producer_id)
            .or_insert_with(|| ProducerEntry {
                epoch,
                batches: VecDeque::new(),
                last_timestamp: timestamp,
                txn_first_offset: None,
                coordinator_epoch: NO_COORDINATOR_EPOCH,
            });
        if epoch != entry.epoch {
            entry.epoch = epoch;
            entry.batches.clear();
        }
        entry
    }

    /// Records an appended batch (or one replayed during recovery); a
    /// transactional one opens the producer's transaction if none is open.
    pub fn record(
        &mut self,
        producer_id: i64,
        epoch: i16,
        batch: BatchSequence,
        timestamp: i64,
        transactional: bool,
    ) {
        let entry = self.entry(producer_id, epoch, timestamp);
        if transactional && entry.txn_first_offset.is_none() {
            entry.txn_first_offset = Some(batch.base_offset);
        }
        if batch.first_seq < 0 {
            entry.last_timestamp = entry.last_timestamp.max(timestamp);
            return;
        }
        if entry.batches.len() == CACHED_BATCHES {
            entry.batches.pop_front();
        }
        entry.batches.push_back(batch);
        entry.last_timestamp = entry.last_timestamp.max(timestamp);
    }

    /// Records a commit or abort marker of a coordinator at
    /// `coordinator_epoch`: closes the producer's transaction and returns
    /// its first offset (None if nothing of it was in this partition).
    pub fn end_transaction(
        &mut self,
        producer_id: i64,
        epoch: i16,
        coordinator_epoch: i32,
        timestamp: i64,
    ) -> Option<i64> {
        let entry = self.entry(producer_id, epoch, timestamp);
        entry.last_timestamp = entry.last_timestamp.max(timestamp);
        entry.coordinator_epoch = entry.coordinator_epoch.max(coordinator_epoch);
        entry.txn_first_offset.take()
    }

    /// The first offset of the earliest ongoing transaction: the last stable
    /// offset cannot pass it.
    pub fn first_unstable_offset(&self) -> Option<i64> {
        self.producers
            .values()
            .filter_map(|e| e.txn_first_offset)
            .min()
    }

    /// Forgets producers idle longer than `max_age_ms`, never one with an
    /// open transaction. Returns how many went.
    pub fn expire(&mut self, now_ms: i64, max_age_ms: i64) -> usize {
        let before = self.producers.len();
        self.producers.retain(|_, entry| {
            entry.txn_first_offset.is_some() || now_ms - entry.last_timestamp <= max_age_ms
        });
        before - self.producers.len()
    }

    /// A versioned binary snapshot, producers in id order so equal states give equal bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut ids: Vec<&i64> = self.producers.keys().collect();
        ids.sort_unstable();
        let mut out = Vec::with_capacity(16 + ids.len() * 64);
        out.extend_from_slice(SNAPSHOT_MAGIC);
        out.push(SNAPSHOT_VERSION);
        out.extend_from_slice(&(ids.len() as u32).to_be_bytes());
        for id in ids {
            let entry = &self.producers[id];
            out.extend_from_slice(&id.to_be_bytes());
            out.extend_from_slice(&entry.epoch.to_be_bytes());
            out.extend_from_slice(&entry.last_timestamp.to_be_bytes());
            out.extend_from_slice(&entry.txn_first_offset.unwrap_or(-1).to_be_bytes());
            out.extend_from_slice(&entry.coordinator_epoch.to_be_bytes());
            out.push(entry.batches.len() as u8);
            for b in &entry.batches {
                out.extend_from_slice(&b.first_seq.to_be_bytes());
                out.extend_from_slice(&b.last_seq.to_be_bytes());
                out.extend_from_slice(&b.base_offset.to_be_bytes());
                out.extend_from_slice(&b.last_offset.to_be_bytes());
            }
        }
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_be_bytes());
        out
    }

    /// Reads a snapshot; `None` if it is damaged in any way (it is then rebuilt from the log).
    pub fn decode(bytes: &[u8]) -> Option<ProducerStates> {
        let (body, crc) = bytes.split_at_checked(bytes.len().checked_sub(4)?)?;
        if crc32c::crc32c(body).to_be_bytes() != crc {
            return None;
        }
        let mut cursor = Cursor(body);
        if cursor.take(4)? != SNAPSHOT_MAGIC {
            return None;
        }
        let version = cursor.take(1)?[0];
        if !(1..=SNAPSHOT_VERSION).contains(&version) {
            return None;
        }
        let count = u32::from_be_bytes(cursor.array()?);
        let mut producers = HashMap::new();
        for _ in 0..count {
            let id = i64::from_be_bytes(cursor.array()?);
            let epoch = i16::from_be_bytes(cursor.array()?);
            let last_timestamp = i64::from_be_bytes(cursor.array()?);
            let txn_first_offset = if version >= 2 {
                Some(i64::from_be_bytes(cursor.array()?)).filter(|o| *o >= 0)
            } else {
                None
            };
            let coordinator_epoch = if version >= 3 {
                i32::from_be_bytes(cursor.array()?)
            } else {
                NO_COORDINATOR_EPOCH
            };
            let batch_count = cursor.take(1)?[0] as usize;
            if batch_count > CACHED_BATCHES {
                return None;
            }
            let mut batches = VecDeque::with_capacity(batch_count);
            for _ in 0..batch_count {
                batches.push_back(BatchSequence {
                    first_seq: i32::from_be_bytes(cursor.array()?),
                    last_seq: i32::from_be_bytes(cursor.array()?),
                    base_offset: i64::from_be_bytes(cursor.array()?),
                    last_offset: i64::from_be_bytes(cursor.array()?),
                });
            }
            producers.insert(
                id,
                ProducerEntry {
                    epoch,
                    batches,
                    last_timestamp,
                    txn_first_offset,
                    coordinator_epoch,
                },
            );
        }
        cursor.0.is_empty().then_some(ProducerStates { producers })
    }
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, tail) = self.0.split_at_checked(n)?;
        self.0 = tail;
        Some(head)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(first_seq: i32, last_seq: i32, base_offset: i64) -> BatchSequence {
        BatchSequence {
            first_seq,
            last_seq,
            base_offset,
            last_offset: base_offset + i64::from(last_seq - first_seq),
        }
    }

    #[test]
    fn sequences_must_follow_on_and_retries_are_recognised() {
        let mut states = ProducerStates::default();
        assert_eq!(states.check(7, 0, 0, 4), SequenceCheck::Append);
        states.record(7, 0, batch(0, 4, 100), 1, false);
        assert_eq!(states.check(7, 0, 5, 9), SequenceCheck::Append);
        states.record(7, 0, batch(5, 9, 105), 2, false);
        assert_eq!(
            states.check(7, 0, 0, 4),
            SequenceCheck::Duplicate(batch(0, 4, 100))
        );
        assert_eq!(
            states.check(7, 0, 11, 12),
            SequenceCheck::OutOfOrder {
                expected: 10,
                got: 11
            }
        );
        // Only the last five batches are remembered.
        for i in 0..5 {
            let first = 10 + i * 5;
            states.record(
                7,
                0,
                batch(first, first + 4, 110 + i64::from(i) * 5),
                3,
                false,
            );
        }
        assert!(matches!(
            states.check(7, 0, 0, 4),
            SequenceCheck::OutOfOrder { .. }
        ));
    }

    #[test]
    fn epochs_fence_and_reset() {
        let mut states = ProducerStates::default();
        states.record(1, 3, batch(0, 0, 0), 1, false);
        assert_eq!(
            states.check(1, 2, 1, 1),
            SequenceCheck::InvalidEpoch { current: 3, got: 2 }
        );
        assert_eq!(
            states.check(1, 4, 5, 5),
            SequenceCheck::OutOfOrder {
                expected: 0,
                got: 5
            }
        );
        assert_eq!(states.check(1, 4, 0, 0), SequenceCheck::Append);
        // An unknown producer may start anywhere (its state may have expired).
        assert_eq!(states.check(2, 0, 42, 42), SequenceCheck::Append);
    }

    #[test]
    fn transactions_open_with_their_first_batch_and_close_with_a_marker() {
        let mut states = ProducerStates::default();
        states.record(5, 0, batch(0, 2, 10), 1, true);
        states.record(5, 0, batch(3, 4, 20), 2, true);
        states.record(6, 0, batch(0, 0, 15), 2, true);
        states.record(7, 0, batch(0, 0, 5), 2, false);
        assert_eq!(states.first_unstable_offset(), Some(10));
        let snapshot = ProducerStates::decode(&states.encode()).unwrap();
        assert_eq!(snapshot, states, "open transactions survive a snapshot");
        assert_eq!(states.end_transaction(5, 0, 4, 3), Some(10));
        assert_eq!(states.first_unstable_offset(), Some(15));
        assert_eq!(
            states.end_transaction(5, 0, 4, 3),
            None,
            "a second marker closes nothing"
        );
        // A marker with a newer epoch (a fenced producer's transaction aborted) takes the epoch.
        assert_eq!(states.end_transaction(6, 1, 4, 3), Some(15));
        assert_eq!(
            states.check(6, 0, 1, 1),
            SequenceCheck::InvalidEpoch { current: 1, got: 0 }
        );
        assert_eq!(
            states.check_marker(6, 0, 4),
            Err(MarkerRefused::ProducerEpoch { current: 1, got: 0 })
        );
        // Coordinators move on: one older than the last marker's is a zombie.
        assert_eq!(states.check_marker(6, 1, 5), Ok(()));
        assert_eq!(
            states.check_marker(6, 1, 3),
            Err(MarkerRefused::CoordinatorEpoch { current: 4, got: 3 })
        );
        assert_eq!(states.check_marker(42, 0, 0), Ok(()), "an unknown producer");
        let snapshot = ProducerStates::decode(&states.encode()).unwrap();
        assert_eq!(snapshot.get(6).map(|e| e.coordinator_epoch), Some(4));
        assert_eq!(states.first_unstable_offset(), None);
        // Producers with an open transaction never expire.
        states.record(8, 0, batch(0, 0, 30), 1, true);
        states.expire(1_000_000, 10);
        assert!(states.get(8).is_some() && states.get(7).is_none());
    }

    #[test]
    fn sequences_wrap_like_kafkas() {
        assert_eq!(increment_sequence(i32::MAX, 1), 0);
        assert_eq!(increment_sequence(i32::MAX - 1, 3), 1);
        assert_eq!(increment_sequence(5, 1), 6);
    }

    #[test]
    fn snapshots_round_trip_and_damage_is_detected() {
        let mut states = ProducerStates::default();
        states.record(1, 0, batch(0, 9, 0), 10, false);
        states.record(99, 2, batch(3, 3, 10), 20, false);
        let bytes = states.encode();
        assert_eq!(ProducerStates::decode(&bytes), Some(states.clone()));
        for i in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[i] ^= 0x01;
            assert_eq!(ProducerStates::decode(&damaged), None, "flip at {i}");
            assert_eq!(ProducerStates::decode(&bytes[..i]), None, "cut at {i}");
        }
        assert_eq!(states.expire(1_000, 985), 1);
        assert!(states.get(99).is_some() && states.get(1).is_none());
    }
}
