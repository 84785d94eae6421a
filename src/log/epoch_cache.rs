//! A partition's leader-epoch history: for each leader epoch that wrote to
//! the log, the offset of its first batch. Followers compare their history
//! with the leader's (OffsetForLeaderEpoch, Fetch's diverging epoch) to find
//! where their logs part, so it must survive restarts and follow the log
//! when it is truncated at either end.
//!
//! This is the state machine alone (no I/O); `leader-epoch-checkpoint`, in
//! Kafka's text format, is its persistent form.

/// Kafka's answer for an epoch it knows nothing about.
pub const UNDEFINED_EPOCH: i32 = -1;
pub const UNDEFINED_OFFSET: i64 = -1;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EpochCache {
    /// (epoch, start offset): epochs strictly increasing, offsets
    /// non-decreasing.
    entries: Vec<(i32, i64)>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum EpochError {
    /// An epoch below the latest: a deposed leader's write.
    EpochWentBack { latest: i32, epoch: i32 },
    /// A start offset below the latest epoch's: offsets went back.
    OffsetWentBack { latest: i64, offset: i64 },
    /// The checkpoint text is not Kafka's format.
    Malformed(String),
}

impl std::fmt::Display for EpochError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EpochError::EpochWentBack { latest, epoch } => {
                write!(f, "leader epoch {epoch} is below the latest, {latest}")
            }
            EpochError::OffsetWentBack { latest, offset } => write!(
                f,
                "epoch start offset {offset} is below the latest epoch's, {latest}"
            ),
            EpochError::Malformed(why) => write!(f, "leader-epoch checkpoint: {why}"),
        }
    }
}

impl std::error::Error for EpochError {}

impl EpochCache {
    pub fn entries(&self) -> &[(i32, i64)] {
        &self.entries
    }

    pub fn latest_epoch(&self) -> Option<i32> {
        self.entries.last().map(|(e, _)| *e)
    }

    /// A batch of `epoch` was appended at `offset`. Returns whether the
    /// history changed (a new epoch begins there).
    pub fn assign(&mut self, epoch: i32, offset: i64) -> Result<bool, EpochError> {
        match self.entries.last() {
            Some(&(latest, _)) if epoch == latest => Ok(false),
            Some(&(latest, _)) if epoch < latest => {
                Err(EpochError::EpochWentBack { latest, epoch })
            }
            Some(&(_, start)) if offset < start => Err(EpochError::OffsetWentBack {
                latest: start,
                offset,
            }),
            _ => {
                self.entries.push((epoch, offset));
                Ok(true)
            }
        }
    }

    /// OffsetForLeaderEpoch, as Kafka answers it: the latest epoch ends at
    /// the log end; an earlier one ends where the next epoch starts, under
    /// the largest epoch not above it; an epoch above every epoch here is
    /// unknown.
    pub fn end_offset_for(&self, epoch: i32, log_end_offset: i64) -> (i32, i64) {
        if epoch == UNDEFINED_EPOCH {
            return (UNDEFINED_EPOCH, UNDEFINED_OFFSET);
        }
        if self.latest_epoch() == Some(epoch) {
            return (epoch, log_end_offset);
        }
        let Some(&(_, next_start)) = self.entries.iter().find(|(e, _)| *e > epoch) else {
            return (UNDEFINED_EPOCH, UNDEFINED_OFFSET);
        };
        match self.entries.iter().rev().find(|(e, _)| *e <= epoch) {
            Some(&(floor, _)) => (floor, next_start),
            None => (epoch, next_start),
        }
    }

    /// The log now starts at `offset`: epochs wholly below it go, and the
    /// one it falls in starts there.
    pub fn truncate_from_start(&mut self, offset: i64) -> bool {
        let below = self.entries.iter().filter(|(_, s)| *s < offset).count();
        if below == 0 {
            return false;
        }
        let kept_from = if self.entries.get(below).is_some_and(|(_, s)| *s == offset) {
            below
        } else {
            below - 1
        };
        self.entries.drain(..kept_from);
        if let Some(first) = self.entries.first_mut() {
            first.1 = first.1.max(offset);
        }
        true
    }

    /// The log now ends before `offset`: epochs starting at or after it go.
    pub fn truncate_from_end(&mut self, offset: i64) -> bool {
        let before = self.entries.len();
        self.entries.retain(|(_, s)| *s < offset);
        self.entries.len() != before
    }

    /// Kafka's `leader-epoch-checkpoint`: version 0, the entry count, then
    /// one `epoch start_offset` line per entry.
    pub fn to_checkpoint(&self) -> String {
        let mut text = format!("0\n{}\n", self.entries.len());
        for (epoch, offset) in &self.entries {
            text.push_str(&format!("{epoch} {offset}\n"));
        }
        text
    }

    pub fn from_checkpoint(text: &str) -> Result<EpochCache, EpochError> {
        let bad = |why: &str| EpochError::Malformed(why.to_string());
        let mut lines = text.lines();
        if lines.next() != Some("0") {
            return Err(bad("not version 0"));
        }
        let count: usize = lines
            .next()
            .and_then(|l| l.trim().parse().ok())
            .ok_or_else(|| bad("no entry count"))?;
        let mut cache = EpochCache::default();
        for _ in 0..count {
            let (epoch, offset) = lines
                .next()
                .and_then(|l| l.split_once(' '))
                .and_then(|(e, o)| Some((e.parse::<i32>().ok()?, o.parse::<i64>().ok()?)))
                .ok_or_else(|| bad("an entry is not `epoch offset`"))?;
            if epoch < 0 || offset < 0 {
                return Err(bad("a negative entry"));
            }
            match cache.assign(epoch, offset) {
                Ok(true) => {}
                Ok(false) => return Err(bad("an epoch listed twice")),
                Err(e) => return Err(bad(&e.to_string())),
            }
        }
        if lines.any(|l| !l.trim().is_empty()) {
            return Err(bad("more entries than counted"));
        }
        Ok(cache)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cache(entries: &[(i32, i64)]) -> EpochCache {
        let mut c = EpochCache::default();
        for (e, o) in entries {
            assert!(c.assign(*e, *o).unwrap());
        }
        c
    }

    #[test]
    fn end_offsets_as_kafka_answers_them() {
        let c = cache(&[(1, 0), (3, 10), (4, 25)]);
        assert_eq!(c.end_offset_for(4, 40), (4, 40), "latest: the log end");
        assert_eq!(c.end_offset_for(3, 40), (3, 25));
        assert_eq!(c.end_offset_for(2, 40), (1, 10), "between: the floor epoch");
        assert_eq!(c.end_offset_for(0, 40), (0, 0), "before the first");
        assert_eq!(c.end_offset_for(5, 40), (UNDEFINED_EPOCH, UNDEFINED_OFFSET));
        assert_eq!(
            c.end_offset_for(-1, 40),
            (UNDEFINED_EPOCH, UNDEFINED_OFFSET)
        );
    }

    #[test]
    fn deposed_leaders_and_offsets_that_go_back_are_refused() {
        let mut c = cache(&[(2, 5)]);
        assert!(!c.assign(2, 9).unwrap(), "the same epoch goes on");
        assert!(matches!(
            c.assign(1, 9),
            Err(EpochError::EpochWentBack { .. })
        ));
        assert!(matches!(
            c.assign(3, 4),
            Err(EpochError::OffsetWentBack { .. })
        ));
    }

    #[test]
    fn truncation_at_either_end_follows_the_log() {
        let mut c = cache(&[(1, 0), (3, 10), (4, 25)]);
        assert!(c.truncate_from_start(12));
        assert_eq!(c.entries(), &[(3, 12), (4, 25)]);
        assert!(c.truncate_from_start(25));
        assert_eq!(c.entries(), &[(4, 25)]);
        assert!(!c.truncate_from_start(3));
        let mut c = cache(&[(1, 0), (3, 10), (4, 25)]);
        assert!(c.truncate_from_end(25));
        assert_eq!(c.entries(), &[(1, 0), (3, 10)]);
        assert!(!c.truncate_from_end(11));
    }

    #[test]
    fn checkpoints_read_back_and_refuse_what_is_not_kafkas_format() {
        let c = cache(&[(0, 0), (2, 7)]);
        assert_eq!(c.to_checkpoint(), "0\n2\n0 0\n2 7\n");
        assert_eq!(EpochCache::from_checkpoint(&c.to_checkpoint()).unwrap(), c);
        for bad in [
            "",
            "1\n0\n",
            "0\n2\n0 0\n",
            "0\n1\n0 x\n",
            "0\n2\n3 0\n1 5\n",
            "0\n1\n0 0\n1 1\n",
        ] {
            assert!(EpochCache::from_checkpoint(bad).is_err(), "{bad:?}");
        }
    }

    /// A model: the epoch of every offset of a log, as appended.
    fn model_end_offset(offsets: &[(i64, i32)], epoch: i32, end: i64) -> (i32, i64) {
        let latest = offsets.last().map(|(_, e)| *e);
        if epoch < 0 {
            return (UNDEFINED_EPOCH, UNDEFINED_OFFSET);
        }
        if latest == Some(epoch) {
            return (epoch, end);
        }
        match offsets.iter().find(|(_, e)| *e > epoch) {
            None => (UNDEFINED_EPOCH, UNDEFINED_OFFSET),
            Some((first_above, _)) => {
                let floor = offsets
                    .iter()
                    .filter(|(_, e)| *e <= epoch)
                    .map(|(_, e)| *e)
                    .max();
                (floor.unwrap_or(epoch), *first_above)
            }
        }
    }

    proptest! {
        #[test]
        fn the_cache_answers_as_a_log_of_stamped_batches(
            batches in prop::collection::vec((0i32..4, 1i64..5), 1..30),
            asked in -1i32..12,
            cut_start in 0usize..30,
            cut_end in 0usize..30,
        ) {
            // Batches of non-decreasing epochs, each `len` offsets long.
            let mut epoch = 0;
            let mut offset = 0;
            let mut stamped = Vec::new();
            let mut c = EpochCache::default();
            for (bump, len) in batches {
                epoch += bump;
                c.assign(epoch, offset).unwrap();
                for _ in 0..len {
                    stamped.push((offset, epoch));
                    offset += 1;
                }
            }
            prop_assert_eq!(c.end_offset_for(asked, offset), model_end_offset(&stamped, asked, offset));
            // Cut both ends at batch-aligned offsets, as the log would.
            let end = cut_end.min(stamped.len()) as i64;
            let start = (cut_start as i64).min(end);
            c.truncate_from_end(end.max(1));
            stamped.retain(|(o, _)| *o < end.max(1));
            c.truncate_from_start(start);
            stamped.retain(|(o, _)| *o >= start);
            let log_end = stamped.last().map_or(start, |(o, _)| o + 1);
            // Kafka's cache keeps the floor epoch's entry at the new start.
            if let Some(&(first, first_epoch)) = stamped.first() {
                prop_assert_eq!(c.entries().first().copied(), Some((first_epoch, first)));
            }
            for asked in -1..12 {
                if stamped.is_empty() { break; }
                prop_assert_eq!(c.end_offset_for(asked, log_end), model_end_offset(&stamped, asked, log_end));
            }
            let reread = EpochCache::from_checkpoint(&c.to_checkpoint()).unwrap();
            prop_assert_eq!(reread, c);
        }
    }
}
