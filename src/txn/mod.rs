//! Exactly-once support. So far: producer ids for idempotent producers.
//! (Transactions, their coordinator and `__transaction_state` come later.)

pub mod producer_ids;
