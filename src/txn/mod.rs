//! Exactly-once support: producer ids for idempotent producers, and the
//! transaction coordinator with its log `__transaction_state`.

pub mod coordinator;
pub mod markers;
pub mod producer_ids;
pub mod store;

#[cfg(test)]
mod tests;
