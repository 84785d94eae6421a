//! The internal compacted topics after cleaning: `__consumer_offsets` and
//! `__transaction_state` shrink, and their replay after a restart (across
//! the offset gaps) gives the same state as before.

use crate::broker::Broker;
use crate::group::store::{OffsetValue, OFFSETS_TOPIC};
use crate::group::Committer;
use crate::log::cleaner::{clean_partition, CleanerOptions};
use crate::protocol::records::{split_batches, BatchBuilder, NewRecord};
use crate::txn::store::{TxnState, TRANSACTION_TOPIC};
use bytes::Bytes;
use std::collections::BTreeMap;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Records in every partition of `topic`, read fetch by fetch across gaps.
fn record_count(broker: &Broker, topic: &str) -> usize {
    let mut count = 0;
    for p in &broker.log.topic(topic).unwrap().partitions {
        let (mut next, hw, _) = p.offsets();
        while next < hw {
            let got = split_batches(p.read(next, 1 << 20).unwrap().records).unwrap();
            if got.is_empty() {
                break;
            }
            for b in got {
                next = b.next_offset();
                count += b.record_count() as usize;
            }
        }
    }
    count
}

/// A forced pass over every partition of `topic` at `now`.
fn clean_topic(broker: &Broker, topic: &str, now: i64) {
    let options = CleanerOptions {
        force: true,
        ..CleanerOptions::with_buffer(1 << 20)
    };
    for p in &broker.log.topic(topic).unwrap().partitions {
        clean_partition(p, now, &options).unwrap();
    }
}

fn small_segments() -> crate::config::BrokerConfig {
    let mut config = Broker::test_config();
    config.log.segment_bytes = 1024;
    config
}

fn committed(broker: &Broker, group: &str, partition: i32) -> Option<i64> {
    let fetched = broker
        .groups
        .fetch_offsets(group, Some(vec![("t".to_string(), vec![partition])]));
    fetched[0].1[0].1.as_ref().map(|f| f.offset)
}

#[test]
fn consumer_offsets_compact_and_replay_to_the_same_offsets() {
    let config = small_segments();
    let rt = runtime();
    let now = crate::log::now_ms();
    let commit = |broker: &Broker, group: &str, partition: i32, offset: i64| {
        let value = OffsetValue {
            offset,
            leader_epoch: 0,
            metadata: None,
            commit_timestamp: now,
            expire_timestamp: -1,
        };
        rt.block_on(broker.groups.commit_offsets(
            &broker.log,
            Committer {
                group_id: group,
                generation: -1,
                member_id: "",
                instance_id: None,
            },
            vec![("t".into(), partition, value)],
            now,
        ))
        .unwrap();
    };
    let before;
    {
        let broker = Broker::open(config.clone()).unwrap();
        for i in 0..300 {
            commit(&broker, "g", i % 3, i64::from(i));
        }
        commit(&broker, "gone", 0, 5);
        for i in 0..50 {
            commit(&broker, "h", 0, i);
        }
        assert_eq!(
            rt.block_on(broker.groups.delete_group(&broker.log, "gone", now)),
            crate::protocol::error_code::ErrorCode::None
        );
        before = record_count(&broker, OFFSETS_TOPIC);
        clean_topic(&broker, OFFSETS_TOPIC, now);
        let after = record_count(&broker, OFFSETS_TOPIC);
        assert!(after < 30, "{before} records cleaned to {after}");
        broker.close().unwrap();
    }
    let broker = Broker::open(config.clone()).unwrap();
    assert_eq!(
        (0..3)
            .map(|p| committed(&broker, "g", p))
            .collect::<Vec<_>>(),
        vec![Some(297), Some(298), Some(299)]
    );
    assert_eq!(committed(&broker, "h", 0), Some(49));
    assert_eq!(committed(&broker, "gone", 0), None);
    // A day and more later the tombstones go too; replay still agrees.
    clean_topic(&broker, OFFSETS_TOPIC, now + 2 * 86_400_000);
    let tombstones_gone = record_count(&broker, OFFSETS_TOPIC);
    broker.close().unwrap();
    drop(broker);
    let broker = Broker::open(config).unwrap();
    assert_eq!(committed(&broker, "g", 2), Some(299));
    assert_eq!(committed(&broker, "h", 0), Some(49));
    assert_eq!(committed(&broker, "gone", 0), None);
    assert!(tombstones_gone < before);
}

#[test]
fn transaction_state_compacts_and_replays_to_the_same_transactions() {
    let config = small_segments();
    let rt = runtime();
    let batch = |pid: i64, epoch: i16, seq: i32| {
        BatchBuilder::new(0)
            .producer(pid, epoch, seq)
            .transactional(true)
            .record(NewRecord::new(0, None, Some(Bytes::from_static(b"v"))))
            .build()
            .unwrap()
    };
    let (pid, epoch): (i64, i16);
    {
        let broker = Broker::open(config.clone()).unwrap();
        broker.log.create_topic("t", 1, BTreeMap::new()).unwrap();
        let t0 = [("t".to_string(), 0)];
        (pid, epoch) = rt
            .block_on(broker.txns.init_producer_id(&broker, "tx", 60_000, None))
            .unwrap();
        rt.block_on(async {
            for i in 0..40 {
                broker
                    .txns
                    .add_partitions(&broker, "tx", pid, epoch, &t0)
                    .await
                    .unwrap();
                let p = broker.log.partition("t", 0).unwrap();
                broker
                    .log
                    .append(&p, &batch(pid, epoch, i))
                    .unwrap()
                    .wait()
                    .await
                    .unwrap();
                broker
                    .txns
                    .end_txn(&broker, "tx", pid, epoch, i % 2 == 0)
                    .await
                    .unwrap();
            }
        });
        let before = record_count(&broker, TRANSACTION_TOPIC);
        clean_topic(&broker, TRANSACTION_TOPIC, crate::log::now_ms());
        let after = record_count(&broker, TRANSACTION_TOPIC);
        assert!(after < before / 10, "{before} records cleaned to {after}");
        broker.close().unwrap();
    }
    let broker = Broker::open(config).unwrap();
    let described = rt.block_on(broker.txns.describe(&["tx".to_string()]));
    let value = described[0].1.as_ref().unwrap();
    assert_eq!(
        value.state,
        TxnState::CompleteAbort,
        "the 40th ended in an abort"
    );
    assert_eq!((value.producer_id, value.producer_epoch), (pid, epoch));
    // The transactional id carries on: a new epoch, a new transaction.
    rt.block_on(async {
        let (again, next_epoch) = broker
            .txns
            .init_producer_id(&broker, "tx", 60_000, None)
            .await
            .unwrap();
        assert_eq!((again, next_epoch), (pid, epoch + 1));
    });
}
