//! The transaction coordinator: one state machine per `transactional.id`,
//! as Kafka's TransactionCoordinator has it:
//!
//! ```text
//! Empty ──AddPartitions──▶ Ongoing ──EndTxn──▶ PrepareCommit ──markers──▶ CompleteCommit
//!                                  └─EndTxn / timeout / re-init─▶ PrepareAbort ──markers──▶ CompleteAbort
//! ```
//!
//! Every state change is written to `__transaction_state` (see [`store`])
//! and made durable before it is acted on or answered. EndTxn is answered
//! once the markers are durable in every partition of the transaction, so a
//! committed transaction is visible to `read_committed` readers as soon as
//! the producer hears of it. A crash between "prepare" and "complete" is
//! finished at start-up ([`TxnCoordinator::recover`]).
//!
//! Each transactional id has its own async lock, held across the log
//! writes of one operation, so operations on one id run one at a time and
//! different ids never wait for each other.

use super::markers;
use super::store::{self, TxnState, TxnValue};
use crate::broker::Broker;
use crate::config::TxnConfig;
use crate::group::store::{partition_for, OFFSETS_TOPIC};
use crate::log::LogManager;
use crate::protocol::error_code::ErrorCode;
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Mutex as AsyncMutex;

type Slot = Arc<AsyncMutex<Option<TxnValue>>>;
type Partitions = BTreeSet<(String, i32)>;

/// Kafka's limit: an epoch this high makes InitProducerId hand out a new producer id.
const MAX_EPOCH: i16 = i16::MAX - 1;

/// A transaction as DescribeTransactions and ListTransactions report it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxnDescription {
    pub transactional_id: String,
    pub value: TxnValue,
}

pub struct TxnCoordinator {
    config: TxnConfig,
    txns: Mutex<HashMap<String, Slot>>,
    /// Every transactional producer id → (its current epoch, the partitions
    /// of its transaction in progress, empty when none), so Produce can check
    /// a transactional batch belongs to one (KIP-890's verification) and tell
    /// a fenced producer from one outside a transaction, without waiting on
    /// the id's lock.
    open: Mutex<HashMap<i64, (i16, Partitions)>>,
    last_timeout_check: AtomicI64,
}

/// Transaction timeouts and the start times they run from, on a clock that
/// never jumps: a wall clock set forward aborts nothing.
fn now_ms() -> i64 {
    crate::log::steady_ms()
}

/// What Produce's verification needs of an id's state: the epoch, and the
/// partitions of the transaction in progress (none unless Ongoing).
fn producer_entry(value: &TxnValue) -> (i16, Partitions) {
    let partitions = if value.state == TxnState::Ongoing {
        value.partitions.clone()
    } else {
        Partitions::new()
    };
    (value.producer_epoch, partitions)
}

impl TxnCoordinator {
    /// Rebuilds every transactional id's state from `__transaction_state`.
    pub fn load(config: TxnConfig, log: &LogManager) -> std::io::Result<TxnCoordinator> {
        let stored = store::replay(log, None)?;
        let mut txns = HashMap::new();
        let mut open = HashMap::new();
        for (id, value) in stored {
            open.insert(value.producer_id, producer_entry(&value));
            txns.insert(id, Arc::new(AsyncMutex::new(Some(value))));
        }
        if !txns.is_empty() {
            tracing::info!(
                transactional_ids = txns.len(),
                open = open.values().filter(|(_, p)| !p.is_empty()).count(),
                "loaded transactions"
            );
        }
        Ok(TxnCoordinator {
            config,
            txns: Mutex::new(txns),
            open: Mutex::new(open),
            last_timeout_check: AtomicI64::new(now_ms()),
        })
    }

    /// This broker now leads `__transaction_state` partition `partition`:
    /// the states of its ids are read again from that partition's log,
    /// replacing whatever was known of them. Returns how many it holds.
    pub fn load_partition(&self, log: &LogManager, partition: i32) -> std::io::Result<usize> {
        let stored = store::replay(log, Some(partition))?;
        self.unload_partition(log, partition);
        let mut txns = self.txns.lock().unwrap_or_else(|p| p.into_inner());
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        for (id, value) in &stored {
            open.insert(value.producer_id, producer_entry(value));
            txns.insert(id.clone(), Arc::new(AsyncMutex::new(Some(value.clone()))));
        }
        Ok(stored.len())
    }

    /// This broker no longer leads `__transaction_state` partition
    /// `partition`: it forgets the ids stored there, and their producers'
    /// open transactions.
    pub fn unload_partition(&self, log: &LogManager, partition: i32) {
        let Some(count) = log
            .topic(store::TRANSACTION_TOPIC)
            .map(|t| t.meta.partitions)
        else {
            return;
        };
        let mut txns = self.txns.lock().unwrap_or_else(|p| p.into_inner());
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        txns.retain(|id, slot| {
            if partition_for(id, count) != partition {
                return true;
            }
            // A slot busy with a request keeps its producer entry; that
            // request answers NOT_COORDINATOR (`still_coordinating`).
            if let Ok(guard) = slot.try_lock() {
                if let Some(value) = guard.as_ref() {
                    open.remove(&value.producer_id);
                }
            }
            false
        });
    }

    fn slot(&self, transactional_id: &str, create: bool) -> Option<Slot> {
        let mut txns = self.txns.lock().unwrap_or_else(|p| p.into_inner());
        if create {
            return Some(Arc::clone(
                txns.entry(transactional_id.to_string())
                    .or_insert_with(|| Arc::new(AsyncMutex::new(None))),
            ));
        }
        txns.get(transactional_id).cloned()
    }

    /// Whether an operation that held `slot` and left `written` in it
    /// counts as done. If the id's partition was loaded again (or left)
    /// meanwhile, the state replayed in the slot's place may not hold what
    /// the operation wrote: unless it does, the client hears
    /// NOT_COORDINATOR and retries against the state as loaded.
    fn still_coordinating(
        &self,
        transactional_id: &str,
        slot: &Slot,
        written: Option<&TxnValue>,
    ) -> Result<(), ErrorCode> {
        let current = {
            let txns = self.txns.lock().unwrap_or_else(|p| p.into_inner());
            txns.get(transactional_id).cloned()
        };
        match current {
            Some(current) if Arc::ptr_eq(&current, slot) => Ok(()),
            Some(current) if current.try_lock().is_ok_and(|v| v.as_ref() == written) => Ok(()),
            _ => Err(ErrorCode::NotCoordinator),
        }
    }

    fn slots(&self) -> Vec<(String, Slot)> {
        let txns = self.txns.lock().unwrap_or_else(|p| p.into_inner());
        txns.iter()
            .map(|(id, slot)| (id.clone(), Arc::clone(slot)))
            .collect()
    }

    fn set_open(&self, value: &TxnValue) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.insert(value.producer_id, producer_entry(value));
    }

    /// Writes `value` as the id's new state and waits until it is durable.
    async fn persist(
        &self,
        log: &LogManager,
        transactional_id: &str,
        value: &TxnValue,
    ) -> Result<(), ErrorCode> {
        let pending = store::append(
            log,
            self.config.state_log_num_partitions,
            transactional_id,
            value,
            value.last_update_ms,
        )
        .map_err(|e| {
            tracing::error!(transactional_id, error = %e, "writing transaction state failed");
            ErrorCode::CoordinatorNotAvailable
        })?;
        pending.wait().await.map_err(|e| {
            tracing::error!(transactional_id, error = %e, "transaction state not durable");
            ErrorCode::CoordinatorNotAvailable
        })?;
        Ok(())
    }

    /// Whether a transactional batch from `producer_id` at `epoch` may go to
    /// `topic`/`partition`: only as part of a transaction that added it. A
    /// producer whose epoch was bumped (fenced by a newer InitProducerId, or
    /// by a timeout) hears INVALID_PRODUCER_EPOCH, which clients treat as
    /// fatal, whichever partition it writes to.
    pub fn verify_produce(
        &self,
        producer_id: i64,
        epoch: i16,
        topic: &str,
        partition: i32,
    ) -> Result<(), ErrorCode> {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        match open.get(&producer_id) {
            Some((current, _)) if epoch < *current => Err(ErrorCode::InvalidProducerEpoch),
            Some((current, partitions))
                if epoch == *current && partitions.contains(&(topic.to_string(), partition)) =>
            {
                Ok(())
            }
            _ => Err(ErrorCode::InvalidTxnState),
        }
    }

    /// InitProducerId for a transactional id: a producer id and a new epoch
    /// (fencing every older producer of the id), after aborting whatever
    /// transaction the id left open. `expected` is KIP-360's producer id and
    /// epoch of a producer recovering from an error.
    pub async fn init_producer_id(
        &self,
        broker: &Broker,
        transactional_id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
    ) -> Result<(i64, i16), ErrorCode> {
        if timeout_ms <= 0 || timeout_ms > self.config.max_timeout_ms {
            return Err(ErrorCode::InvalidTransactionTimeout);
        }
        let slot = self
            .slot(transactional_id, true)
            .ok_or(ErrorCode::CoordinatorNotAvailable)?;
        let mut guard = slot.lock().await;
        let now = now_ms();
        let Some(mut value) = guard.clone() else {
            if expected.is_some() {
                // A recovering producer whose id this coordinator never knew.
                return Err(ErrorCode::InvalidProducerIdMapping);
            }
            let producer_id = allocate(broker).await?;
            let value = TxnValue {
                producer_id,
                producer_epoch: 0,
                timeout_ms,
                state: TxnState::Empty,
                partitions: BTreeSet::new(),
                last_update_ms: now,
                start_ms: -1,
            };
            self.persist(&broker.log, transactional_id, &value).await?;
            *guard = Some(value);
            return Ok((producer_id, 0));
        };
        if let Some((producer_id, epoch)) = expected {
            if producer_id != value.producer_id || epoch != value.producer_epoch {
                return Err(ErrorCode::ProducerFenced);
            }
        }
        match value.state {
            TxnState::Ongoing => {
                // Fence the old producer (epoch + 1) and abort its transaction.
                value.producer_epoch = value.producer_epoch.saturating_add(1);
                self.complete(broker, transactional_id, &mut value, false)
                    .await?;
                *guard = Some(value.clone());
            }
            TxnState::PrepareCommit | TxnState::PrepareAbort | TxnState::PrepareEpochFence => {
                // A completion that failed earlier: finish it first.
                let commit = value.state == TxnState::PrepareCommit;
                self.complete(broker, transactional_id, &mut value, commit)
                    .await?;
                *guard = Some(value.clone());
            }
            TxnState::Empty
            | TxnState::CompleteCommit
            | TxnState::CompleteAbort
            | TxnState::Dead => {}
        }
        let (producer_id, epoch) = if value.producer_epoch >= MAX_EPOCH {
            (allocate(broker).await?, 0)
        } else {
            (value.producer_id, value.producer_epoch + 1)
        };
        let next = TxnValue {
            producer_id,
            producer_epoch: epoch,
            timeout_ms,
            state: TxnState::Empty,
            partitions: BTreeSet::new(),
            last_update_ms: now,
            start_ms: -1,
        };
        self.persist(&broker.log, transactional_id, &next).await?;
        if producer_id != value.producer_id {
            // The old producer id is retired: every epoch of it is fenced.
            let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
            open.insert(value.producer_id, (i16::MAX, Partitions::new()));
        }
        self.set_open(&next);
        *guard = Some(next);
        self.still_coordinating(transactional_id, &slot, guard.as_ref())?;
        Ok((producer_id, epoch))
    }

    /// Checks a request's producer id and epoch against the id's state.
    fn check_producer(
        value: Option<&TxnValue>,
        producer_id: i64,
        epoch: i16,
    ) -> Result<&TxnValue, ErrorCode> {
        let value = value.ok_or(ErrorCode::InvalidProducerIdMapping)?;
        if value.producer_id != producer_id {
            return Err(ErrorCode::InvalidProducerIdMapping);
        }
        if value.producer_epoch != epoch {
            return Err(ErrorCode::ProducerFenced);
        }
        match value.state {
            TxnState::PrepareCommit | TxnState::PrepareAbort | TxnState::PrepareEpochFence => {
                Err(ErrorCode::ConcurrentTransactions)
            }
            TxnState::Dead => Err(ErrorCode::InvalidProducerIdMapping),
            _ => Ok(value),
        }
    }

    /// AddPartitionsToTxn's `verify_only` (KIP-890): which of `partitions`
    /// the ongoing transaction of `producer_id` at `epoch` includes.
    pub async fn partitions_in_transaction(
        &self,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        partitions: &[(String, i32)],
    ) -> Result<Vec<bool>, ErrorCode> {
        let slot = self
            .slot(transactional_id, false)
            .ok_or(ErrorCode::InvalidProducerIdMapping)?;
        let guard = slot.lock().await;
        let value = Self::check_producer(guard.as_ref(), producer_id, epoch)?;
        let ongoing = value.state == TxnState::Ongoing;
        Ok(partitions
            .iter()
            .map(|p| ongoing && value.partitions.contains(p))
            .collect())
    }

    /// AddPartitionsToTxn / AddOffsetsToTxn: the transaction is Ongoing
    /// from here, and includes `partitions`.
    pub async fn add_partitions(
        &self,
        broker: &Broker,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        partitions: &[(String, i32)],
    ) -> Result<(), ErrorCode> {
        let slot = self
            .slot(transactional_id, false)
            .ok_or(ErrorCode::InvalidProducerIdMapping)?;
        let mut guard = slot.lock().await;
        let value = Self::check_producer(guard.as_ref(), producer_id, epoch)?;
        let ongoing = value.state == TxnState::Ongoing;
        let missing = partitions
            .iter()
            .any(|p| !ongoing || !value.partitions.contains(p));
        if !missing {
            return Ok(());
        }
        let now = now_ms();
        let mut next = value.clone();
        if !ongoing {
            next.state = TxnState::Ongoing;
            next.partitions.clear();
            next.start_ms = now;
        }
        next.partitions.extend(partitions.iter().cloned());
        next.last_update_ms = now;
        self.persist(&broker.log, transactional_id, &next).await?;
        self.set_open(&next);
        *guard = Some(next);
        self.still_coordinating(transactional_id, &slot, guard.as_ref())
    }

    /// The `__consumer_offsets` partition AddOffsetsToTxn adds for `group_id`.
    pub fn offsets_partition(broker: &Broker, group_id: &str) -> std::io::Result<(String, i32)> {
        crate::group::store::ensure_topic(
            &broker.log,
            broker.config.group.offsets_topic_num_partitions,
        )?;
        let count = broker
            .log
            .topic(OFFSETS_TOPIC)
            .map_or(1, |t| i32::try_from(t.partitions.len()).unwrap_or(1));
        Ok((OFFSETS_TOPIC.to_string(), partition_for(group_id, count)))
    }

    /// EndTxn: commit or abort the ongoing transaction. Answered once the
    /// markers are durable everywhere.
    pub async fn end_txn(
        &self,
        broker: &Broker,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        commit: bool,
    ) -> Result<(), ErrorCode> {
        let slot = self
            .slot(transactional_id, false)
            .ok_or(ErrorCode::InvalidProducerIdMapping)?;
        let mut guard = slot.lock().await;
        let value = Self::check_producer(guard.as_ref(), producer_id, epoch)?;
        match (value.state, commit) {
            (TxnState::Ongoing, _) => {
                let mut next = value.clone();
                let result = self
                    .complete(broker, transactional_id, &mut next, commit)
                    .await;
                *guard = Some(next);
                result
                    .and_then(|()| self.still_coordinating(transactional_id, &slot, guard.as_ref()))
            }
            // A retry of an EndTxn that already went through.
            (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) => Ok(()),
            _ => Err(ErrorCode::InvalidTxnState),
        }
    }

    /// Prepare, write the markers, complete. On error `value` is left in
    /// its Prepare state, which a later call or the timeout pass finishes.
    async fn complete(
        &self,
        broker: &Broker,
        transactional_id: &str,
        value: &mut TxnValue,
        commit: bool,
    ) -> Result<(), ErrorCode> {
        value.state = if commit {
            TxnState::PrepareCommit
        } else {
            TxnState::PrepareAbort
        };
        value.last_update_ms = now_ms();
        self.set_open(value);
        self.persist(&broker.log, transactional_id, value).await?;
        let outcome = markers::Outcome {
            producer_id: value.producer_id,
            epoch: value.producer_epoch,
            commit,
            coordinator_epoch: crate::handlers::coordinators::coordinator_epoch(
                broker,
                crate::handlers::coordinators::Coordinated::Transaction,
                transactional_id,
            ),
        };
        write_markers(broker, outcome, &value.partitions).await?;
        value.state = if commit {
            TxnState::CompleteCommit
        } else {
            TxnState::CompleteAbort
        };
        value.partitions.clear();
        value.last_update_ms = now_ms();
        // Written, not awaited: the Prepare record is durable and the markers
        // are, so a crash that loses this record only makes recovery write
        // the (already present) markers again and complete once more.
        store::append(
            &broker.log,
            self.config.state_log_num_partitions,
            transactional_id,
            value,
            value.last_update_ms,
        )
        .map(drop)
        .map_err(|e| {
            tracing::error!(transactional_id, error = %e, "writing transaction state failed");
            ErrorCode::CoordinatorNotAvailable
        })
    }

    /// Finishes transactions a crash left between prepare and complete.
    pub async fn recover(&self, broker: &Broker) {
        for (id, slot) in self.slots() {
            let mut guard = slot.lock().await;
            let Some(value) = guard.as_ref() else {
                continue;
            };
            let commit = match value.state {
                TxnState::PrepareCommit => true,
                TxnState::PrepareAbort | TxnState::PrepareEpochFence => false,
                _ => continue,
            };
            let mut next = value.clone();
            match self.complete(broker, &id, &mut next, commit).await {
                Ok(()) => {
                    tracing::info!(transactional_id = %id, commit, "completed a transaction interrupted by a restart")
                }
                Err(code) => {
                    tracing::error!(transactional_id = %id, ?code, "could not complete an interrupted transaction")
                }
            }
            *guard = Some(next);
        }
    }

    /// Aborts transactions open longer than their timeout, fencing their
    /// producer (epoch + 1) so a late EndTxn cannot commit them; retries
    /// completions that failed. Runs every
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms`.
    pub async fn abort_timed_out(&self, broker: &Broker, now: i64) {
        let last = self.last_timeout_check.load(Ordering::Relaxed);
        if now - last < self.config.abort_check_interval_ms {
            return;
        }
        self.last_timeout_check.store(now, Ordering::Relaxed);
        for (id, slot) in self.slots() {
            // A busy id is being worked on by its producer: look again next time.
            let Ok(mut guard) = slot.try_lock() else {
                continue;
            };
            let Some(value) = guard.as_ref() else {
                continue;
            };
            let mut next = value.clone();
            let result = match value.state {
                TxnState::Ongoing if now - value.start_ms > i64::from(value.timeout_ms) => {
                    tracing::info!(transactional_id = %id, producer_id = value.producer_id, "aborting a timed-out transaction");
                    next.producer_epoch = next.producer_epoch.saturating_add(1);
                    self.complete(broker, &id, &mut next, false).await
                }
                TxnState::PrepareCommit => self.complete(broker, &id, &mut next, true).await,
                TxnState::PrepareAbort | TxnState::PrepareEpochFence => {
                    self.complete(broker, &id, &mut next, false).await
                }
                _ => continue,
            };
            if let Err(code) = result {
                tracing::warn!(transactional_id = %id, ?code, "transaction completion failed; will retry");
            }
            *guard = Some(next);
        }
    }

    /// The state of each id asked for (TRANSACTIONAL_ID_NOT_FOUND if unknown).
    pub async fn describe(&self, ids: &[String]) -> Vec<(String, Result<TxnValue, ErrorCode>)> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let value = match self.slot(id, false) {
                Some(slot) => slot.lock().await.clone(),
                None => None,
            };
            out.push((id.clone(), value.ok_or(ErrorCode::TransactionalIdNotFound)));
        }
        out
    }

    /// Every known transactional id and its state.
    pub async fn list(&self) -> Vec<TxnDescription> {
        let mut all = Vec::new();
        for (id, slot) in self.slots() {
            if let Some(value) = slot.lock().await.clone() {
                all.push(TxnDescription {
                    transactional_id: id,
                    value,
                });
            }
        }
        all.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        all
    }
}

async fn allocate(broker: &Broker) -> Result<i64, ErrorCode> {
    crate::txn::producer_ids::allocate(broker)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "could not persist the producer id block");
            ErrorCode::CoordinatorNotAvailable
        })
}

/// Writes a commit or abort marker to every partition of the transaction
/// and waits until all are durable: here for the partitions this broker
/// leads (then settles transactional offset commits in its
/// `__consumer_offsets` partitions), through WriteTxnMarkers at their
/// leaders for the others.
async fn write_markers(
    broker: &Broker,
    outcome: markers::Outcome,
    partitions: &Partitions,
) -> Result<(), ErrorCode> {
    let mut grouped = markers::by_leader(broker, partitions)?;
    let here = grouped.remove(&broker.config.node_id).unwrap_or_default();
    let mut pending = Vec::with_capacity(here.len());
    for (topic, index) in &here {
        if let Some(append) = markers::append_here(broker, outcome, topic, *index)
            .map_err(|_| ErrorCode::CoordinatorNotAvailable)?
        {
            pending.push(append);
        }
    }
    let elsewhere = grouped
        .iter()
        .map(|(leader, partitions)| markers::write_at(broker, *leader, outcome, partitions));
    let remote = futures_util::future::join_all(elsewhere).await;
    for append in pending {
        append.wait().await.map_err(|e| {
            tracing::error!(error = %e, "transaction marker not durable");
            ErrorCode::CoordinatorNotAvailable
        })?;
    }
    for (topic, index) in &here {
        markers::settle_offsets(broker, outcome, topic, *index);
    }
    remote.into_iter().collect()
}

#[cfg(test)]
mod reload_tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    }

    /// The failure CI met: an operation holding an id while the id's
    /// partition was loaded again answered success, though the loaded state
    /// did not hold its write; the producer's next request found no such
    /// producer id (INVALID_PRODUCER_ID_MAPPING), for good.
    #[test]
    fn an_operation_overtaken_by_a_reload_stands_only_if_the_reload_saw_its_write() {
        let broker = Broker::for_tests();
        let rt = runtime();
        rt.block_on(async {
            let txns = &broker.txns;
            let (pid, epoch) = txns
                .init_producer_id(&broker, "tx", 60_000, None)
                .await
                .expect("init");
            let partition = partition_for("tx", broker.config.txn.state_log_num_partitions);
            let slot = txns.slot("tx", false).expect("slot");
            let mut guard = slot.lock().await;
            let stored = guard.clone();
            txns.load_partition(&broker.log, partition).expect("load");

            // A write the replay did not see: the client must retry.
            let mut unseen = stored.clone().expect("state");
            unseen.producer_epoch += 1;
            *guard = Some(unseen);
            assert_eq!(
                txns.still_coordinating("tx", &slot, guard.as_ref()),
                Err(ErrorCode::NotCoordinator)
            );
            // What the replay holds stands.
            assert_eq!(
                txns.still_coordinating("tx", &slot, stored.as_ref()),
                Ok(())
            );
            drop(guard);

            // The retry works on the loaded state, which knows the producer.
            assert_eq!(
                txns.init_producer_id(&broker, "tx", 60_000, Some((pid, epoch)))
                    .await,
                Ok((pid, epoch + 1))
            );
        });
    }

    /// An operation whose write was in the log when the partition was
    /// loaded again is done: the loaded state holds it.
    #[test]
    fn an_operation_whose_write_the_reload_saw_answers_success() {
        let broker = Broker::for_tests();
        let rt = runtime();
        rt.block_on(async {
            let txns = &broker.txns;
            let (pid, epoch) = txns
                .init_producer_id(&broker, "tx", 60_000, None)
                .await
                .expect("init");
            let partition = partition_for("tx", broker.config.txn.state_log_num_partitions);
            let mut op = Box::pin(txns.init_producer_id(&broker, "tx", 60_000, Some((pid, epoch))));
            // Its record is appended; it waits for the record to be durable.
            let first = futures_util::poll!(&mut op);
            txns.load_partition(&broker.log, partition).expect("load");
            let answer = match first {
                std::task::Poll::Ready(answer) => answer,
                std::task::Poll::Pending => op.await,
            };
            assert_eq!(answer, Ok((pid, epoch + 1)));
            assert_eq!(
                txns.add_partitions(&broker, "tx", pid, epoch + 1, &[("t".to_string(), 0)])
                    .await,
                Ok(())
            );
        });
    }
}
