//! KIP-890's verification guards, per partition. A transactional batch that
//! would open its producer's transaction in a partition must first be
//! confirmed by the transaction's coordinator (the partition was added to
//! the ongoing transaction). The confirmation can take a round trip to
//! another broker, and meanwhile the transaction may end: its marker lands
//! here, and a batch appended after it would open a transaction no
//! coordinator knows (a hanging transaction, which pins the last stable
//! offset). So the leader hands out a guard before asking, every marker of
//! the producer voids its guards, and the append checks the guard still holds.

use std::collections::HashMap;

/// Guards kept per partition at most; the oldest are voided beyond it (a
/// producer whose guard went that way gets INVALID_TXN_STATE and retries).
const MAX_GUARDS: usize = 65_536;

/// One verification in flight for a producer in one partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxnGuard {
    producer_id: i64,
    token: u64,
}

impl TxnGuard {
    pub fn producer_id(&self) -> i64 {
        self.producer_id
    }
}

/// A transactional write's start: its guard, and whether the producer's
/// transaction is open in the partition already (then its coordinator need
/// not be asked; the guard still catches a marker that closes it first).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Begun {
    pub guard: TxnGuard,
    pub open_here: bool,
}

#[derive(Debug, Default)]
pub struct TxnVerifications {
    /// The guard of each producer whose writes are being verified.
    guards: HashMap<i64, u64>,
    next_token: u64,
}

impl TxnVerifications {
    /// The guard of `producer_id`'s writes: the one in force if there is
    /// one (pipelined writes of a producer share it), else a new one.
    pub fn begin(&mut self, producer_id: i64) -> TxnGuard {
        if let Some(&token) = self.guards.get(&producer_id) {
            return TxnGuard { producer_id, token };
        }
        self.next_token += 1;
        let token = self.next_token;
        if self.guards.len() >= MAX_GUARDS && !self.guards.contains_key(&producer_id) {
            let oldest_kept = token.saturating_sub(MAX_GUARDS as u64 / 2);
            self.guards.retain(|_, t| *t >= oldest_kept);
        }
        self.guards.insert(producer_id, token);
        TxnGuard { producer_id, token }
    }

    /// Whether nothing voided `guard` since it was handed out.
    pub fn holds(&self, guard: TxnGuard) -> bool {
        self.guards.get(&guard.producer_id) == Some(&guard.token)
    }

    /// A marker of `producer_id` was written: whatever it was verifying
    /// belonged to the transaction that just ended.
    pub fn transaction_ended(&mut self, producer_id: i64) {
        self.guards.remove(&producer_id);
    }

    /// The producer's transaction is open in the partition now; its guard
    /// has served.
    pub fn transaction_opened(&mut self, producer_id: i64) {
        self.guards.remove(&producer_id);
    }

    /// The partition changed hands: verifications begun under the old
    /// role count for nothing.
    pub fn clear(&mut self) {
        self.guards.clear();
    }

    pub fn len(&self) -> usize {
        self.guards.len()
    }

    pub fn is_empty(&self) -> bool {
        self.guards.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guard_holds_until_a_marker_of_its_producer() {
        let mut v = TxnVerifications::default();
        let a = v.begin(1);
        let b = v.begin(2);
        assert!(v.holds(a) && v.holds(b));
        v.transaction_ended(2);
        assert!(
            v.holds(a),
            "another producer's marker voids nothing of producer 1"
        );
        assert!(!v.holds(b));
    }

    #[test]
    fn writes_of_a_producer_share_its_guard_until_it_serves() {
        let mut v = TxnVerifications::default();
        let first = v.begin(7);
        let second = v.begin(7);
        assert_eq!(first, second, "pipelined writes must not void each other");
        v.transaction_opened(7);
        assert!(!v.holds(second), "a guard serves once");
        assert!(v.is_empty());
        assert_ne!(v.begin(7), first);
    }

    #[test]
    fn a_guard_never_comes_back_after_it_was_voided() {
        let mut v = TxnVerifications::default();
        let old = v.begin(3);
        v.transaction_ended(3);
        let new = v.begin(3);
        assert_ne!(old, new);
        assert!(!v.holds(old) && v.holds(new));
        v.clear();
        assert!(!v.holds(new));
    }

    #[test]
    fn guards_are_bounded() {
        let mut v = TxnVerifications::default();
        for producer_id in 0..(MAX_GUARDS as i64 * 3) {
            let guard = v.begin(producer_id);
            assert!(v.holds(guard), "the newest guard always holds");
            assert!(v.len() <= MAX_GUARDS);
        }
    }
}
