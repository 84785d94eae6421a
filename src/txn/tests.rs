//! The transaction coordinator against a real log: markers, the last
//! stable offset, the aborted-transaction index, fencing, timeouts,
//! transactional offset commits, and all of it after a restart.

use crate::broker::Broker;
use crate::group::store::{OffsetValue, OFFSETS_TOPIC};
use crate::group::Committer;
use crate::log::partition::Isolation;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::records::{BatchBuilder, BatchIter, NewRecord};
use crate::txn::coordinator::TxnCoordinator;
use crate::txn::store::TxnState;
use bytes::Bytes;
use std::collections::BTreeMap;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn txn_batch(producer_id: i64, epoch: i16, first_seq: i32, values: &[&str]) -> Bytes {
    let mut builder = BatchBuilder::new(0)
        .producer(producer_id, epoch, first_seq)
        .transactional(true);
    for v in values {
        builder.push(NewRecord::new(
            1_700_000_000_000,
            None,
            Some(Bytes::copy_from_slice(v.as_bytes())),
        ));
    }
    builder.build().expect("batch")
}

/// Appends through the produce path's checks, as a client would.
async fn produce(
    broker: &Broker,
    topic: &str,
    partition: i32,
    batch: Bytes,
) -> Result<i64, ErrorCode> {
    let p = broker
        .log
        .partition(topic, partition)
        .ok_or(ErrorCode::UnknownTopicOrPartition)?;
    let producer_id = crate::protocol::records::header::i64_at(
        &batch,
        crate::protocol::records::header::PRODUCER_ID,
    );
    let epoch = crate::protocol::records::header::i16_at(
        &batch,
        crate::protocol::records::header::PRODUCER_EPOCH,
    );
    broker
        .txns
        .verify_produce(producer_id, epoch, topic, partition)?;
    let pending = broker
        .log
        .append(&p, &batch)
        .map_err(|_| ErrorCode::InvalidProducerEpoch)?;
    Ok(pending
        .wait()
        .await
        .map_err(|_| ErrorCode::UnknownServerError)?
        .base_offset)
}

/// Values a `read_committed` consumer would keep: batches of aborted
/// transactions dropped, control batches skipped.
fn committed_values(broker: &Broker, topic: &str, partition: i32) -> (Vec<String>, i64) {
    let p = broker.log.partition(topic, partition).expect("partition");
    let read = p
        .read_isolated(0, 1 << 20, Isolation::ReadCommitted)
        .expect("read");
    // As Kafka's consumer: a producer is "aborting" from the first offset
    // of an aborted transaction until its abort marker.
    let mut pending: Vec<_> = read.aborted.clone();
    pending.sort_by_key(|a| a.first_offset);
    let mut aborting = std::collections::HashSet::new();
    let mut values = Vec::new();
    for batch in BatchIter::new(read.records) {
        let batch = batch.expect("batch");
        while pending
            .first()
            .is_some_and(|a| a.first_offset <= batch.last_offset())
        {
            aborting.insert(pending.remove(0).producer_id);
        }
        if batch.is_control() {
            aborting.remove(&batch.producer_id());
            continue;
        }
        if aborting.contains(&batch.producer_id()) {
            continue;
        }
        for record in batch.records() {
            let value = record.expect("record").value.expect("value");
            values.push(String::from_utf8(value.to_vec()).expect("utf8"));
        }
    }
    (values, read.last_stable_offset)
}

#[test]
fn commit_and_abort_are_what_read_committed_sees_before_and_after_a_restart() {
    let config = Broker::test_config();
    let rt = runtime();
    {
        let broker = Broker::open(config.clone()).unwrap();
        broker.log.create_topic("t", 2, BTreeMap::new()).unwrap();
        rt.block_on(async {
            let (pid, epoch) = broker
                .txns
                .init_producer_id(&broker, "tx", 60_000, None)
                .await
                .unwrap();
            assert_eq!(epoch, 0);
            let t0 = [("t".to_string(), 0)];
            // Producing before adding the partition is refused.
            assert_eq!(
                produce(&broker, "t", 0, txn_batch(pid, epoch, 0, &["early"])).await,
                Err(ErrorCode::InvalidTxnState)
            );
            broker
                .txns
                .add_partitions(&broker, "tx", pid, epoch, &t0)
                .await
                .unwrap();
            produce(&broker, "t", 0, txn_batch(pid, epoch, 0, &["a1", "a2"]))
                .await
                .unwrap();
            assert_eq!(
                committed_values(&broker, "t", 0),
                (vec![], 0),
                "an open transaction holds the LSO at its first offset"
            );
            broker
                .txns
                .end_txn(&broker, "tx", pid, epoch, false)
                .await
                .unwrap();
            assert_eq!(
                committed_values(&broker, "t", 0),
                (vec![], 3),
                "aborted records are filtered, the marker passed"
            );

            broker
                .txns
                .add_partitions(&broker, "tx", pid, epoch, &t0)
                .await
                .unwrap();
            produce(&broker, "t", 0, txn_batch(pid, epoch, 2, &["c1"]))
                .await
                .unwrap();
            produce(&broker, "t", 0, txn_batch(pid, epoch, 3, &["c2"]))
                .await
                .unwrap();
            broker
                .txns
                .end_txn(&broker, "tx", pid, epoch, true)
                .await
                .unwrap();
            // A retried EndTxn of the same kind is fine; the other kind is not.
            broker
                .txns
                .end_txn(&broker, "tx", pid, epoch, true)
                .await
                .unwrap();
            assert_eq!(
                broker.txns.end_txn(&broker, "tx", pid, epoch, false).await,
                Err(ErrorCode::InvalidTxnState)
            );
            assert_eq!(
                committed_values(&broker, "t", 0),
                (vec!["c1".to_string(), "c2".to_string()], 6)
            );
        });
        broker.close().unwrap();
    }
    let broker = Broker::open(config).unwrap();
    assert_eq!(
        committed_values(&broker, "t", 0),
        (vec!["c1".to_string(), "c2".to_string()], 6),
        "after a restart"
    );
    let described = rt.block_on(
        broker
            .txns
            .describe(&["tx".to_string(), "nope".to_string()]),
    );
    assert_eq!(
        described[0].1.as_ref().map(|v| v.state),
        Ok(TxnState::CompleteCommit)
    );
    assert_eq!(
        described[1].1.as_ref().err(),
        Some(&ErrorCode::TransactionalIdNotFound)
    );
}

#[test]
fn an_open_transaction_survives_a_restart_and_can_still_commit() {
    let config = Broker::test_config();
    let rt = runtime();
    let (pid, epoch) = {
        let broker = Broker::open(config.clone()).unwrap();
        broker.log.create_topic("t", 1, BTreeMap::new()).unwrap();
        let ids = rt.block_on(async {
            let (pid, epoch) = broker
                .txns
                .init_producer_id(&broker, "tx", 60_000, None)
                .await
                .unwrap();
            broker
                .txns
                .add_partitions(&broker, "tx", pid, epoch, &[("t".to_string(), 0)])
                .await
                .unwrap();
            produce(&broker, "t", 0, txn_batch(pid, epoch, 0, &["x"]))
                .await
                .unwrap();
            (pid, epoch)
        });
        // No clean close: the "crash" leaves the transaction open.
        ids
    };
    let broker = Broker::open(config).unwrap();
    assert_eq!(
        committed_values(&broker, "t", 0).1,
        0,
        "the LSO is still held by the open transaction"
    );
    rt.block_on(broker.txns.end_txn(&broker, "tx", pid, epoch, true))
        .unwrap();
    assert_eq!(
        committed_values(&broker, "t", 0),
        (vec!["x".to_string()], 2)
    );
}

#[test]
fn a_new_producer_fences_the_old_one_and_aborts_its_transaction() {
    let broker = Broker::for_tests();
    broker.log.create_topic("t", 1, BTreeMap::new()).unwrap();
    let rt = runtime();
    rt.block_on(async {
        let (pid, old) = broker
            .txns
            .init_producer_id(&broker, "tx", 60_000, None)
            .await
            .unwrap();
        broker
            .txns
            .add_partitions(&broker, "tx", pid, old, &[("t".to_string(), 0)])
            .await
            .unwrap();
        produce(&broker, "t", 0, txn_batch(pid, old, 0, &["zombie"]))
            .await
            .unwrap();
        let (same_pid, new) = broker
            .txns
            .init_producer_id(&broker, "tx", 60_000, None)
            .await
            .unwrap();
        assert_eq!(same_pid, pid);
        assert!(
            new > old + 1,
            "one bump to fence and abort, one for the new producer"
        );
        assert_eq!(
            broker.txns.end_txn(&broker, "tx", pid, old, true).await,
            Err(ErrorCode::ProducerFenced)
        );
        assert_eq!(
            broker
                .txns
                .add_partitions(&broker, "tx", pid, old, &[("t".to_string(), 0)])
                .await,
            Err(ErrorCode::ProducerFenced)
        );
        assert_eq!(
            produce(&broker, "t", 0, txn_batch(pid, old, 1, &["late"])).await,
            Err(ErrorCode::InvalidProducerEpoch),
            "the fenced producer is told so (fatal), not that its transaction lacks the partition (abortable)"
        );
        assert_eq!(
            broker
                .txns
                .end_txn(&broker, "unknown", pid, new, true)
                .await,
            Err(ErrorCode::InvalidProducerIdMapping)
        );
        assert_eq!(
            broker.txns.end_txn(&broker, "tx", pid, new, true).await,
            Err(ErrorCode::InvalidTxnState),
            "nothing to end"
        );
        assert_eq!(
            broker.txns.init_producer_id(&broker, "tx", 0, None).await,
            Err(ErrorCode::InvalidTransactionTimeout)
        );
        assert_eq!(
            broker
                .txns
                .init_producer_id(&broker, "tx", 60_000, Some((pid, old)))
                .await,
            Err(ErrorCode::ProducerFenced),
            "KIP-360: a stale producer cannot resume"
        );
    });
    assert_eq!(
        committed_values(&broker, "t", 0),
        (vec![], 2),
        "the zombie's record was aborted"
    );
}

#[test]
fn a_timed_out_transaction_is_aborted_and_its_producer_fenced() {
    let mut config = Broker::test_config();
    config.txn.abort_check_interval_ms = 1;
    let broker = Broker::open(config).unwrap();
    broker.log.create_topic("t", 1, BTreeMap::new()).unwrap();
    let rt = runtime();
    rt.block_on(async {
        let (pid, epoch) = broker
            .txns
            .init_producer_id(&broker, "slow", 1_000, None)
            .await
            .unwrap();
        broker
            .txns
            .add_partitions(&broker, "slow", pid, epoch, &[("t".to_string(), 0)])
            .await
            .unwrap();
        produce(&broker, "t", 0, txn_batch(pid, epoch, 0, &["stuck"]))
            .await
            .unwrap();
        broker
            .txns
            .abort_timed_out(&broker, crate::log::now_ms())
            .await;
        assert_eq!(committed_values(&broker, "t", 0).1, 0, "not yet timed out");
        broker
            .txns
            .abort_timed_out(&broker, crate::log::now_ms() + 5_000)
            .await;
        assert_eq!(
            committed_values(&broker, "t", 0),
            (vec![], 2),
            "the LSO is released"
        );
        assert_eq!(
            broker.txns.end_txn(&broker, "slow", pid, epoch, true).await,
            Err(ErrorCode::ProducerFenced)
        );
    });
}

#[test]
fn transactional_offsets_count_only_once_committed() {
    let config = Broker::test_config();
    let rt = runtime();
    let by = Committer {
        group_id: "g",
        generation: -1,
        member_id: "",
        instance_id: None,
    };
    let offset = |n: i64| OffsetValue {
        offset: n,
        leader_epoch: -1,
        metadata: None,
        commit_timestamp: 1,
        expire_timestamp: -1,
    };
    {
        let broker = Broker::open(config.clone()).unwrap();
        broker.log.create_topic("t", 1, BTreeMap::new()).unwrap();
        rt.block_on(async {
            let (pid, epoch) = broker
                .txns
                .init_producer_id(&broker, "tx", 60_000, None)
                .await
                .unwrap();
            for (n, commit) in [(10, false), (20, true), (30, false)] {
                let offsets_partition = TxnCoordinator::offsets_partition(&broker, "g").unwrap();
                broker
                    .txns
                    .add_partitions(&broker, "tx", pid, epoch, &[offsets_partition])
                    .await
                    .unwrap();
                broker
                    .groups
                    .txn_commit_offsets(
                        &broker.log,
                        by,
                        (pid, epoch),
                        vec![("t".to_string(), 0, offset(n))],
                        None,
                        1,
                    )
                    .await
                    .unwrap();
                assert!(broker.groups.has_pending_txn_offset("g", "t", 0));
                broker
                    .txns
                    .end_txn(&broker, "tx", pid, epoch, commit)
                    .await
                    .unwrap();
                assert!(!broker.groups.has_pending_txn_offset("g", "t", 0));
            }
            // One more left open across the restart.
            let offsets_partition = TxnCoordinator::offsets_partition(&broker, "g").unwrap();
            broker
                .txns
                .add_partitions(&broker, "tx", pid, epoch, &[offsets_partition])
                .await
                .unwrap();
            broker
                .groups
                .txn_commit_offsets(
                    &broker.log,
                    by,
                    (pid, epoch),
                    vec![("t".to_string(), 0, offset(40))],
                    None,
                    1,
                )
                .await
                .unwrap();
        });
        let fetched = broker.groups.fetch_offsets("g", None);
        assert_eq!(fetched[0].1[0].1.as_ref().map(|f| f.offset), Some(20));
    }
    let broker = Broker::open(config).unwrap();
    let fetched = broker.groups.fetch_offsets("g", None);
    assert_eq!(
        fetched[0].1[0].1.as_ref().map(|f| f.offset),
        Some(20),
        "replay applies only committed transactions"
    );
    assert!(
        broker.groups.has_pending_txn_offset("g", "t", 0),
        "the open transaction's offset is pending again"
    );
    let (pid, epoch) = rt.block_on(async {
        let d = broker.txns.describe(&["tx".to_string()]).await;
        let v = d[0].1.clone().unwrap();
        (v.producer_id, v.producer_epoch)
    });
    rt.block_on(broker.txns.end_txn(&broker, "tx", pid, epoch, true))
        .unwrap();
    let fetched = broker.groups.fetch_offsets("g", None);
    assert_eq!(fetched[0].1[0].1.as_ref().map(|f| f.offset), Some(40));
    assert!(broker.log.topic(OFFSETS_TOPIC).is_some());
}
