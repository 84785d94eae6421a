//! The transactional producer's APIs: AddPartitionsToTxn (24),
//! AddOffsetsToTxn (25), EndTxn (26) and TxnOffsetCommit (28). The state
//! machine is `crate::txn::coordinator`; InitProducerId is in its own file.
//!
//! EndTxn v5 (KIP-890 part 2, an epoch bump per transaction) is unstable in
//! the spec set this broker is built from, so it is not offered.

use super::txn_verification::Write;
use super::Implemented;
use crate::broker::Broker;
use crate::group::store::{OffsetValue, OFFSETS_TOPIC};
use crate::group::Committer;
use crate::log::steady_ms;
use crate::log::txn_verification::TxnGuard;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use crate::protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use crate::protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use crate::protocol::messages::{
    AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, AddPartitionsToTxnRequest,
    AddPartitionsToTxnResponse, ApiKey, EndTxnRequest, EndTxnResponse, ResponseBody,
    TxnOffsetCommitRequest, TxnOffsetCommitResponse,
};
use crate::txn::coordinator::TxnCoordinator;

pub const ADD_PARTITIONS_TO_TXN: Implemented = Implemented {
    api_key: ApiKey::AddPartitionsToTxn,
    min: 0,
    max: 5,
};
pub const ADD_OFFSETS_TO_TXN: Implemented = Implemented {
    api_key: ApiKey::AddOffsetsToTxn,
    min: 0,
    max: 4,
};
pub const END_TXN: Implemented = Implemented {
    api_key: ApiKey::EndTxn,
    min: 0,
    max: 4,
};
pub const TXN_OFFSET_COMMIT: Implemented = Implemented {
    api_key: ApiKey::TxnOffsetCommit,
    min: 0,
    max: 4,
};

/// PRODUCER_FENCED exists from v2 of these APIs; older clients get INVALID_PRODUCER_EPOCH.
fn for_version(code: ErrorCode, version: i16) -> ErrorCode {
    if code == ErrorCode::ProducerFenced && version < 2 {
        ErrorCode::InvalidProducerEpoch
    } else {
        code
    }
}

fn result_of(result: Result<(), ErrorCode>) -> ErrorCode {
    result.err().unwrap_or(ErrorCode::None)
}

/// One transaction's AddPartitions: partitions of unknown topics fail with
/// UNKNOWN_TOPIC_OR_PARTITION and the rest with OPERATION_NOT_ATTEMPTED, as
/// Kafka does. With `verify_only` (v4+, from partition leaders) nothing is
/// added: each partition not in the ongoing transaction gets INVALID_TXN_STATE.
async fn add_partitions(
    broker: &Broker,
    version: i16,
    transactional_id: &str,
    producer_id: i64,
    epoch: i16,
    verify_only: bool,
    topics: Vec<AddPartitionsToTxnTopic>,
) -> Vec<AddPartitionsToTxnTopicResult> {
    let all: Vec<(String, i32)> = topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| (t.name.clone(), *p)))
        .collect();
    // The metadata knows every partition; the local log only those hosted here.
    let image = broker.image();
    let unknown = |topic: &str, partition: i32| image.partition(topic, partition).is_none();
    let any_unknown = all.iter().any(|(t, p)| unknown(t, *p));
    let coordinated = super::coordinators::check(
        broker,
        super::coordinators::Coordinated::Transaction,
        transactional_id,
    );
    let every = |code: ErrorCode| vec![for_version(code, version); all.len()];
    let codes: Vec<ErrorCode> = if let Err(code) = coordinated {
        every(code)
    } else if any_unknown {
        all.iter()
            .map(|(t, p)| {
                if unknown(t, *p) {
                    ErrorCode::UnknownTopicOrPartition
                } else {
                    ErrorCode::OperationNotAttempted
                }
            })
            .collect()
    } else if verify_only {
        let included = broker
            .txns
            .partitions_in_transaction(transactional_id, producer_id, epoch, &all)
            .await;
        match included {
            Err(code) => every(code),
            Ok(included) => included
                .into_iter()
                .map(|yes| {
                    if yes {
                        ErrorCode::None
                    } else {
                        ErrorCode::InvalidTxnState
                    }
                })
                .collect(),
        }
    } else {
        let added = broker
            .txns
            .add_partitions(broker, transactional_id, producer_id, epoch, &all)
            .await;
        every(result_of(added))
    };
    let mut codes = codes.into_iter();
    topics
        .into_iter()
        .map(|topic| AddPartitionsToTxnTopicResult {
            results_by_partition: topic
                .partitions
                .iter()
                .map(|&partition_index| AddPartitionsToTxnPartitionResult {
                    partition_index,
                    partition_error_code: codes
                        .next()
                        .unwrap_or(ErrorCode::UnknownServerError)
                        .code(),
                })
                .collect(),
            name: topic.name,
        })
        .collect()
}

pub async fn add_partitions_to_txn(
    broker: &Broker,
    version: i16,
    request: AddPartitionsToTxnRequest,
) -> ResponseBody {
    if version <= 3 {
        let results_by_topic_v3_and_below = add_partitions(
            broker,
            version,
            &request.v3_and_below_transactional_id,
            request.v3_and_below_producer_id,
            request.v3_and_below_producer_epoch,
            false,
            request.v3_and_below_topics,
        )
        .await;
        return ResponseBody::AddPartitionsToTxn(AddPartitionsToTxnResponse {
            results_by_topic_v3_and_below,
            ..Default::default()
        });
    }
    // v4+: the broker-to-coordinator form, several transactions per request.
    let mut results_by_transaction = Vec::with_capacity(request.transactions.len());
    for txn in request.transactions {
        let topic_results = add_partitions(
            broker,
            version,
            &txn.transactional_id,
            txn.producer_id,
            txn.producer_epoch,
            txn.verify_only,
            txn.topics,
        )
        .await;
        results_by_transaction.push(AddPartitionsToTxnResult {
            transactional_id: txn.transactional_id,
            topic_results,
        });
    }
    ResponseBody::AddPartitionsToTxn(AddPartitionsToTxnResponse {
        results_by_transaction,
        ..Default::default()
    })
}

pub async fn add_offsets_to_txn(
    broker: &Broker,
    version: i16,
    request: AddOffsetsToTxnRequest,
) -> ResponseBody {
    let coordinated = super::coordinators::check(
        broker,
        super::coordinators::Coordinated::Transaction,
        &request.transactional_id,
    );
    let code = if let Err(code) = coordinated {
        code
    } else if request.group_id.is_empty() {
        ErrorCode::InvalidGroupId
    } else {
        match TxnCoordinator::offsets_partition(broker, &request.group_id) {
            Ok(partition) => result_of(
                broker
                    .txns
                    .add_partitions(
                        broker,
                        &request.transactional_id,
                        request.producer_id,
                        request.producer_epoch,
                        &[partition],
                    )
                    .await,
            ),
            Err(e) => {
                tracing::error!(group = %request.group_id, error = %e, "no offsets partition");
                ErrorCode::CoordinatorNotAvailable
            }
        }
    };
    ResponseBody::AddOffsetsToTxn(AddOffsetsToTxnResponse {
        error_code: for_version(code, version).code(),
        ..Default::default()
    })
}

pub async fn end_txn(broker: &Broker, version: i16, request: EndTxnRequest) -> ResponseBody {
    let coordinated = super::coordinators::check(
        broker,
        super::coordinators::Coordinated::Transaction,
        &request.transactional_id,
    );
    let result = match coordinated {
        Err(code) => Err(code),
        Ok(()) => {
            broker
                .txns
                .end_txn(
                    broker,
                    &request.transactional_id,
                    request.producer_id,
                    request.producer_epoch,
                    request.committed,
                )
                .await
        }
    };
    ResponseBody::EndTxn(EndTxnResponse {
        error_code: for_version(result_of(result), version).code(),
        producer_id: -1,
        producer_epoch: -1,
        ..Default::default()
    })
}

/// TxnOffsetCommit's KIP-890 check: the group's offsets partition must be
/// in the transaction (AddOffsetsToTxn added it). Coordinator trouble is
/// answered COORDINATOR_NOT_AVAILABLE, which the producer retries, as
/// Kafka's group coordinator answers it.
async fn verify_offsets_write(
    broker: &Broker,
    transactional_id: &str,
    producer_id: i64,
    epoch: i16,
    partition: i32,
) -> Result<Option<TxnGuard>, ErrorCode> {
    let offsets = broker
        .log
        .partition(OFFSETS_TOPIC, partition)
        .ok_or(ErrorCode::CoordinatorNotAvailable)?;
    let write = Write {
        topic: OFFSETS_TOPIC.to_string(),
        partition: offsets,
        producer_id,
        epoch,
    };
    let verdict = super::txn_verification::verify(broker, Some(transactional_id), &[write])
        .await
        .pop()
        .unwrap_or(Err(ErrorCode::InvalidTxnState));
    verdict.map(Some).map_err(|code| match code {
        ErrorCode::NotEnoughReplicas | ErrorCode::NetworkException => {
            ErrorCode::CoordinatorNotAvailable
        }
        other => other,
    })
}

pub async fn txn_offset_commit(
    broker: &Broker,
    version: i16,
    request: TxnOffsetCommitRequest,
) -> ResponseBody {
    let now = steady_ms();
    let max_metadata = broker.config.group.offset_metadata_max_bytes;
    // v3 added the member and generation; before, the commit is not checked against them.
    let (generation, member_id, instance_id) = if version >= 3 {
        (
            request.generation_id_or_member_epoch,
            request.member_id.as_str(),
            request.group_instance_id.as_deref(),
        )
    } else {
        (-1, "", None)
    };
    let mut offsets = Vec::new();
    let mut codes: Vec<Vec<Option<ErrorCode>>> = Vec::with_capacity(request.topics.len());
    let coordinated = super::coordinators::check(
        broker,
        super::coordinators::Coordinated::Group,
        &request.group_id,
    );
    for topic in &request.topics {
        let mut topic_codes = Vec::with_capacity(topic.partitions.len());
        for p in &topic.partitions {
            let code = if let Err(code) = coordinated {
                Some(code)
            } else if broker
                .log
                .partition(&topic.name, p.partition_index)
                .is_none()
            {
                Some(ErrorCode::UnknownTopicOrPartition)
            } else if p
                .committed_metadata
                .as_ref()
                .is_some_and(|m| m.len() > max_metadata)
            {
                Some(ErrorCode::OffsetMetadataTooLarge)
            } else {
                let value = OffsetValue {
                    offset: p.committed_offset,
                    leader_epoch: if version >= 2 {
                        p.committed_leader_epoch
                    } else {
                        -1
                    },
                    metadata: p.committed_metadata.clone(),
                    commit_timestamp: now,
                    expire_timestamp: -1,
                };
                offsets.push((topic.name.clone(), p.partition_index, value));
                None
            };
            topic_codes.push(code);
        }
        codes.push(topic_codes);
    }
    let shared = if request.group_id.is_empty() {
        ErrorCode::InvalidGroupId
    } else {
        match crate::group::store::partition_of(&broker.log, &request.group_id) {
            None => ErrorCode::InvalidTxnState,
            Some(partition) => match verify_offsets_write(
                broker,
                &request.transactional_id,
                request.producer_id,
                request.producer_epoch,
                partition,
            )
            .await
            {
                Err(code) => code,
                Ok(guard) => {
                    let by = Committer {
                        group_id: &request.group_id,
                        generation,
                        member_id,
                        instance_id,
                    };
                    result_of(
                        broker
                            .groups
                            .txn_commit_offsets(
                                &broker.log,
                                by,
                                (request.producer_id, request.producer_epoch),
                                offsets,
                                guard,
                                now,
                            )
                            .await,
                    )
                }
            },
        }
    };
    let topics = request
        .topics
        .into_iter()
        .zip(codes)
        .map(|(topic, topic_codes)| TxnOffsetCommitResponseTopic {
            name: topic.name,
            partitions: topic
                .partitions
                .iter()
                .zip(topic_codes)
                .map(|(p, code)| TxnOffsetCommitResponsePartition {
                    partition_index: p.partition_index,
                    error_code: code.unwrap_or(shared).code(),
                })
                .collect(),
            ..TxnOffsetCommitResponseTopic::default()
        })
        .collect();
    ResponseBody::TxnOffsetCommit(TxnOffsetCommitResponse {
        topics,
        ..Default::default()
    })
}
