//! The server over real TCP, in process.

use super::Server;
use crate::broker::Broker;
use crate::protocol::frame::encode_request;
use crate::protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use crate::protocol::messages::{ApiKey, ProduceRequest, RequestBody, RequestHeader};
use crate::protocol::records::{BatchBuilder, BatchIter, NewRecord};
use bytes::Bytes;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn produce_frame(correlation_id: i32, sequence: i32) -> bytes::BytesMut {
    let batch = BatchBuilder::new(0)
        .producer(7, 0, sequence)
        .record(NewRecord::new(
            1_700_000_000_000,
            None,
            Some(Bytes::from(vec![b'x'; 2000])),
        ))
        .build()
        .expect("batch");
    let body = RequestBody::Produce(ProduceRequest {
        acks: -1,
        timeout_ms: 5000,
        topic_data: vec![TopicProduceData {
            name: "t".into(),
            partition_data: vec![PartitionProduceData {
                index: 0,
                records: Some(batch),
            }],
            ..Default::default()
        }],
        ..ProduceRequest::default()
    });
    let header = RequestHeader {
        request_api_key: ApiKey::Produce as i16,
        request_api_version: 9,
        correlation_id,
        client_id: Some("ordering-test".into()),
    };
    encode_request(&header, &body).expect("encode")
}

/// Pipelined produce requests on one connection reach the log in the
/// order they were sent: an idempotent producer's sequence numbers are
/// never seen out of order (which would refuse all but one of them).
#[test]
fn pipelined_produce_requests_are_appended_in_order() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let broker = Arc::new(Broker::for_tests());
    broker.log.create_topic("t", 1, BTreeMap::new()).unwrap();
    const REQUESTS: i32 = 64;
    runtime.block_on(async {
        let mut config = Broker::test_config();
        config.cluster.listeners[0].port = 0;
        let listeners = Server::bind(&mut config).await.unwrap();
        let server = Server::new(listeners, Arc::clone(&broker));
        let addr = server.local_addrs().unwrap()[0].1;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(server.run(async move {
            let _ = stop_rx.await;
        }));
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut all = Vec::new();
        for i in 0..REQUESTS {
            all.extend_from_slice(&produce_frame(i, i));
        }
        stream.write_all(&all).await.unwrap();
        for _ in 0..REQUESTS {
            let size = stream.read_i32().await.unwrap();
            let mut response = vec![0u8; size as usize];
            stream.read_exact(&mut response).await.unwrap();
        }
        let _ = stop_tx.send(());
        serving.await.unwrap();
    });
    let partition = broker.log.partition("t", 0).unwrap();
    let read = partition.read(0, 1 << 24).unwrap();
    let sequences: Vec<(i64, i32)> = BatchIter::new(read.records)
        .map(|b| b.unwrap())
        .map(|b| (b.base_offset(), b.base_sequence()))
        .collect();
    let expected: Vec<(i64, i32)> = (0..REQUESTS).map(|i| (i64::from(i), i)).collect();
    assert_eq!(sequences, expected);
}
