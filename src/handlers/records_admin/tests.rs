use super::*;
use crate::protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use crate::protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use crate::protocol::records::{BatchBuilder, NewRecord};
use std::collections::BTreeMap;

fn broker_with_records(per_batch: usize, batches: usize) -> Broker {
    let broker = Broker::for_tests();
    let configs: BTreeMap<String, String> =
        [("segment.bytes".to_string(), "300".to_string())].into();
    broker.log.create_topic("t", 1, configs).unwrap();
    let partition = broker.log.partition("t", 0).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for b in 0..batches {
        let mut builder = BatchBuilder::new(0);
        for i in 0..per_batch {
            builder.push(NewRecord::new(
                crate::log::now_ms(),
                None,
                Some(bytes::Bytes::from(format!("{b}-{i}-{}", "x".repeat(40)))),
            ));
        }
        let pending = broker
            .log
            .append(&partition, &builder.build().unwrap())
            .unwrap();
        runtime.block_on(pending.wait()).unwrap();
    }
    broker
}

fn delete(broker: &Broker, offset: i64) -> DeleteRecordsPartitionResult {
    let request = DeleteRecordsRequest {
        topics: vec![DeleteRecordsTopic {
            name: "t".into(),
            partitions: vec![DeleteRecordsPartition {
                partition_index: 0,
                offset,
            }],
        }],
        timeout_ms: 1000,
    };
    let ResponseBody::DeleteRecords(mut response) = delete_records(broker, 2, request) else {
        panic!()
    };
    response.topics.remove(0).partitions.remove(0)
}

#[test]
fn delete_records_moves_the_log_start_and_removes_whole_segments() {
    let broker = broker_with_records(2, 10); // 20 records, several segments
    let partition = broker.log.partition("t", 0).unwrap();
    let segments = || {
        std::fs::read_dir(partition.dir())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "log")
            })
            .count()
    };
    let before = segments();
    assert!(before > 3, "{before} segments");
    let size_before = partition.size_bytes();
    let result = delete(&broker, 9);
    assert_eq!((result.error_code, result.low_watermark), (0, 9));
    assert_eq!(partition.offsets().0, 9);
    assert!(segments() < before, "segments below the log start are gone");
    assert!(partition.size_bytes() < size_before);
    // Reading below the new start is out of range; at it, the batch holding offset 9.
    assert!(partition.read(8, 1 << 20).is_err());
    assert!(!partition.read(9, 1 << 20).unwrap().records.is_empty());
    // Lower offsets change nothing; beyond the high watermark is refused.
    assert_eq!(delete(&broker, 3).low_watermark, 9);
    assert_eq!(
        delete(&broker, 21).error_code,
        ErrorCode::OffsetOutOfRange.code()
    );
    assert_eq!(
        delete(&broker, -5).error_code,
        ErrorCode::OffsetOutOfRange.code()
    );
    // -1: everything up to the high watermark.
    assert_eq!(delete(&broker, -1).low_watermark, 20);
    assert_eq!(partition.offsets(), (20, 20, 20));
    // The log start survives a restart, and so does the epoch checkpoint.
    let config = broker.config.clone();
    let dir = partition.dir().to_path_buf();
    drop(partition);
    broker.close().unwrap();
    drop(broker);
    let reopened = Broker::open(config).unwrap();
    assert_eq!(reopened.log.partition("t", 0).unwrap().offsets().0, 20);
    assert_eq!(
        crate::log::partition::read_epoch_checkpoint_for_tests(&dir).unwrap(),
        Some(vec![(0, 20)])
    );
}

#[test]
fn offset_for_leader_epoch_answers_epoch_zero_at_the_log_end() {
    let broker = broker_with_records(3, 2);
    let ask = |current: i32, epoch: i32, partition: i32| {
        let request = OffsetForLeaderEpochRequest {
            replica_id: -1,
            topics: vec![OffsetForLeaderTopic {
                topic: "t".into(),
                partitions: vec![OffsetForLeaderPartition {
                    partition,
                    current_leader_epoch: current,
                    leader_epoch: epoch,
                }],
            }],
        };
        let ResponseBody::OffsetForLeaderEpoch(mut response) =
            offset_for_leader_epoch(&broker, 4, request)
        else {
            panic!()
        };
        let r = response.topics.remove(0).partitions.remove(0);
        (r.error_code, r.leader_epoch, r.end_offset)
    };
    assert_eq!(ask(0, 0, 0), (0, 0, 6));
    assert_eq!(ask(-1, 0, 0), (0, 0, 6));
    assert_eq!(ask(0, 3, 0), (0, -1, -1));
    assert_eq!(ask(1, 0, 0).0, ErrorCode::UnknownLeaderEpoch.code());
    assert_eq!(ask(-2, 0, 0).0, ErrorCode::FencedLeaderEpoch.code());
    assert_eq!(ask(0, 0, 5).0, ErrorCode::UnknownTopicOrPartition.code());
}

#[test]
fn describe_log_dirs_reports_each_partition_size() {
    let broker = broker_with_records(2, 3);
    broker
        .log
        .create_topic("empty", 2, BTreeMap::new())
        .unwrap();
    let ResponseBody::DescribeLogDirs(all) =
        describe_log_dirs(&broker, 4, DescribeLogDirsRequest { topics: None })
    else {
        panic!()
    };
    assert_eq!(all.results.len(), 1);
    let dir = &all.results[0];
    assert!(std::path::Path::new(&dir.log_dir).is_absolute());
    let t = dir.topics.iter().find(|t| t.name == "t").unwrap();
    assert_eq!(
        t.partitions[0].partition_size as u64,
        broker.log.partition("t", 0).unwrap().size_bytes()
    );
    assert!(t.partitions[0].partition_size > 0);
    let empty = dir.topics.iter().find(|t| t.name == "empty").unwrap();
    assert_eq!(
        empty
            .partitions
            .iter()
            .map(|p| p.partition_size)
            .collect::<Vec<_>>(),
        [0, 0]
    );
    let only = DescribeLogDirsRequest {
        topics: Some(vec![
            crate::protocol::messages::describe_log_dirs_request::DescribableLogDirTopic {
                topic: "empty".into(),
                partitions: vec![1],
            },
        ]),
    };
    let ResponseBody::DescribeLogDirs(some) = describe_log_dirs(&broker, 4, only) else {
        panic!()
    };
    let topics = &some.results[0].topics;
    assert_eq!(
        (
            topics.len(),
            topics[0].partitions.len(),
            topics[0].partitions[0].partition_index
        ),
        (1, 1, 1)
    );
}
