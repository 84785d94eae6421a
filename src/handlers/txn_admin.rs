//! Operators' views of transactions (KIP-664): DescribeProducers (61),
//! DescribeTransactions (65) and ListTransactions (66).

use super::Implemented;
use crate::broker::Broker;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::messages::describe_producers_response::{
    PartitionResponse, ProducerState, TopicResponse,
};
use crate::protocol::messages::{describe_transactions_response, list_transactions_response};
use crate::protocol::messages::{
    ApiKey, DescribeProducersRequest, DescribeProducersResponse, DescribeTransactionsRequest,
    DescribeTransactionsResponse, ListTransactionsRequest, ListTransactionsResponse, ResponseBody,
};
use crate::txn::store::{TxnState, TxnValue};
use std::collections::BTreeMap;

pub const DESCRIBE_PRODUCERS: Implemented = Implemented {
    api_key: ApiKey::DescribeProducers,
    min: 0,
    max: 0,
};
pub const DESCRIBE_TRANSACTIONS: Implemented = Implemented {
    api_key: ApiKey::DescribeTransactions,
    min: 0,
    max: 0,
};
pub const LIST_TRANSACTIONS: Implemented = Implemented {
    api_key: ApiKey::ListTransactions,
    min: 0,
    max: 2,
};

pub fn describe_producers(
    broker: &Broker,
    _version: i16,
    request: DescribeProducersRequest,
) -> ResponseBody {
    let topics = request
        .topics
        .into_iter()
        .map(|topic| TopicResponse {
            partitions: topic
                .partition_indexes
                .iter()
                .map(
                    |&partition_index| match broker.log.partition(&topic.name, partition_index) {
                        None => PartitionResponse {
                            partition_index,
                            error_code: ErrorCode::UnknownTopicOrPartition.code(),
                            ..PartitionResponse::default()
                        },
                        Some(partition) => PartitionResponse {
                            partition_index,
                            error_code: 0,
                            error_message: None,
                            active_producers: partition
                                .producers()
                                .into_iter()
                                .map(|p| ProducerState {
                                    producer_id: p.producer_id,
                                    producer_epoch: i32::from(p.epoch),
                                    last_sequence: p.last_sequence,
                                    last_timestamp: p.last_timestamp,
                                    coordinator_epoch: p.coordinator_epoch,
                                    current_txn_start_offset: p.txn_first_offset.unwrap_or(-1),
                                })
                                .collect(),
                        },
                    },
                )
                .collect(),
            name: topic.name,
        })
        .collect();
    ResponseBody::DescribeProducers(DescribeProducersResponse {
        topics,
        ..Default::default()
    })
}

fn topics_of(value: &TxnValue) -> Vec<describe_transactions_response::TopicData> {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (topic, partition) in &value.partitions {
        by_topic.entry(topic).or_default().push(*partition);
    }
    by_topic
        .into_iter()
        .map(
            |(topic, partitions)| describe_transactions_response::TopicData {
                topic: topic.to_string(),
                partitions,
            },
        )
        .collect()
}

pub async fn describe_transactions(
    broker: &Broker,
    _version: i16,
    request: DescribeTransactionsRequest,
) -> ResponseBody {
    let transaction_states = broker
        .txns
        .describe(&request.transactional_ids)
        .await
        .into_iter()
        .map(|(transactional_id, found)| match found {
            Ok(value) => describe_transactions_response::TransactionState {
                error_code: 0,
                transaction_state: value.state.name().to_string(),
                transaction_timeout_ms: value.timeout_ms,
                transaction_start_time_ms: value.start_ms,
                producer_id: value.producer_id,
                producer_epoch: value.producer_epoch,
                topics: topics_of(&value),
                transactional_id,
            },
            Err(code) => describe_transactions_response::TransactionState {
                error_code: code.code(),
                transactional_id,
                ..Default::default()
            },
        })
        .collect();
    ResponseBody::DescribeTransactions(DescribeTransactionsResponse {
        transaction_states,
        ..Default::default()
    })
}

pub async fn list_transactions(
    broker: &Broker,
    version: i16,
    request: ListTransactionsRequest,
) -> ResponseBody {
    let known = |name: &str| TxnState::ALL.iter().any(|s| s.name() == name);
    let unknown_state_filters: Vec<String> = request
        .state_filters
        .iter()
        .filter(|f| !known(f))
        .cloned()
        .collect();
    // v1's DurationFilter: only transactions running longer than this (ms); -1 for all.
    let min_duration = if version >= 1 {
        request.duration_filter
    } else {
        -1
    };
    // v2's TransactionalIdPattern (KIP-1152): ids the whole pattern matches.
    let pattern = match request.transactional_id_pattern.as_deref() {
        Some(p) if version >= 2 && !p.is_empty() => {
            match regex::Regex::new(&format!("^(?:{p})$")) {
                Ok(re) => Some(re),
                Err(e) => {
                    tracing::debug!(pattern = p, error = %e, "ListTransactions: invalid pattern");
                    return ResponseBody::ListTransactions(ListTransactionsResponse {
                        error_code: ErrorCode::InvalidRegularExpression.code(),
                        ..Default::default()
                    });
                }
            }
        }
        _ => None,
    };
    let now = crate::log::steady_ms();
    let transaction_states = broker
        .txns
        .list()
        .await
        .into_iter()
        .filter(|t| {
            request.state_filters.is_empty()
                || request
                    .state_filters
                    .iter()
                    .any(|f| f == t.value.state.name())
        })
        .filter(|t| {
            request.producer_id_filters.is_empty()
                || request.producer_id_filters.contains(&t.value.producer_id)
        })
        .filter(|t| {
            pattern
                .as_ref()
                .is_none_or(|re| re.is_match(&t.transactional_id))
        })
        .filter(|t| {
            min_duration < 0
                || (t.value.state == TxnState::Ongoing && now - t.value.start_ms > min_duration)
        })
        .map(|t| list_transactions_response::TransactionState {
            transactional_id: t.transactional_id,
            producer_id: t.value.producer_id,
            transaction_state: t.value.state.name().to_string(),
        })
        .collect();
    ResponseBody::ListTransactions(ListTransactionsResponse {
        error_code: 0,
        unknown_state_filters,
        transaction_states,
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(broker: &Broker, version: i16, pattern: Option<&str>) -> (i16, Vec<String>) {
        let request = ListTransactionsRequest {
            transactional_id_pattern: pattern.map(String::from),
            duration_filter: -1,
            ..ListTransactionsRequest::default()
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let ResponseBody::ListTransactions(r) =
            rt.block_on(list_transactions(broker, version, request))
        else {
            panic!()
        };
        let mut ids: Vec<String> = r
            .transaction_states
            .into_iter()
            .map(|t| t.transactional_id)
            .collect();
        ids.sort();
        (r.error_code, ids)
    }

    /// v2's TransactionalIdPattern (KIP-1152): a whole-id regex filter.
    #[test]
    fn v2_filters_by_a_transactional_id_pattern() {
        let broker = Broker::for_tests();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        for id in ["tx-a", "tx-b", "other-tx"] {
            rt.block_on(broker.txns.init_producer_id(&broker, id, 60_000, None))
                .unwrap();
        }
        assert_eq!(
            listed(&broker, 2, Some("tx-.*")),
            (0, vec!["tx-a".into(), "tx-b".into()])
        );
        assert_eq!(
            listed(&broker, 2, Some("tx")).1,
            Vec::<String>::new(),
            "whole ids only"
        );
        assert_eq!(listed(&broker, 2, None).1.len(), 3);
        assert_eq!(listed(&broker, 2, Some("")).1.len(), 3);
        assert_eq!(
            listed(&broker, 2, Some("(")).0,
            ErrorCode::InvalidRegularExpression.code()
        );
    }
}
