//! One module per Kafka API. The table of what the broker advertises in
//! ApiVersions is built from the handlers listed here, never from the specs:
//! an API appears only once its handler exists.

pub mod api_versions;
pub mod authorized;
pub mod configs;
pub mod consumer_groups;
pub mod context;
pub mod coordinators;
pub mod describe_cluster;
pub mod describe_quorum;
pub mod elect_leaders;
pub mod fetch;
pub mod fetch_session;
pub mod groups;
pub mod init_producer_id;
pub mod list_offsets;
pub mod metadata;
pub mod offsets;
pub mod produce;
pub mod produce_policy;
pub mod reassignments;
pub mod records_admin;
pub mod topics;
pub mod txn;
pub mod txn_admin;
pub mod txn_markers;
pub mod txn_verification;

#[cfg(test)]
mod encode_tests;

use crate::broker::Broker;
use crate::protocol::messages::{ApiKey, RequestBody, ResponseBody};
pub use context::RequestContext;

/// KIP-320: a request naming the leader epoch the client last saw is fenced
/// when that epoch is not the leader's: newer is UNKNOWN_LEADER_EPOCH (this
/// broker has not seen it yet), older FENCED_LEADER_EPOCH; -1 asks no check.
pub fn check_leader_epoch(
    current_leader_epoch: i32,
    leader_epoch: i32,
) -> Result<(), crate::protocol::error_code::ErrorCode> {
    use crate::protocol::error_code::ErrorCode;
    match current_leader_epoch {
        -1 => Ok(()),
        e if e > leader_epoch => Err(ErrorCode::UnknownLeaderEpoch),
        e if e < leader_epoch => Err(ErrorCode::FencedLeaderEpoch),
        _ => Ok(()),
    }
}

/// Why this broker does not serve a partition's reads and writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotServed {
    pub code: crate::protocol::error_code::ErrorCode,
    /// The leader and its epoch as the image has them (KIP-951 hints), when known.
    pub leader: Option<(i32, i32)>,
}

/// A partition this broker leads, as the image says, with its leader
/// epoch, checked against the client's `current_leader_epoch` (-1: none).
pub fn led_partition(
    broker: &Broker,
    image: &crate::cluster::image::MetadataImage,
    topic: &str,
    partition: i32,
    current_leader_epoch: i32,
) -> Result<(std::sync::Arc<crate::log::partition::Partition>, i32), NotServed> {
    use crate::protocol::error_code::ErrorCode;
    let Some(state) = image.partition(topic, partition) else {
        return Err(NotServed {
            code: ErrorCode::UnknownTopicOrPartition,
            leader: None,
        });
    };
    let leader = Some((state.leader, state.leader_epoch));
    let not_leader = NotServed {
        code: ErrorCode::NotLeaderOrFollower,
        leader,
    };
    if let Err(code) = check_leader_epoch(current_leader_epoch, state.leader_epoch) {
        return Err(NotServed { code, leader });
    }
    if state.leader != broker.config.node_id {
        return Err(not_leader);
    }
    // Led here, but not yet followed by the local logs: soon.
    let local = broker.log.partition(topic, partition).ok_or(not_leader)?;
    Ok((local, state.leader_epoch))
}

/// Asks the controller for `call`, which decides `parts` things: each
/// one's outcome, once this broker's image shows the decision (so the
/// client's next request here sees it); NOT_CONTROLLER for every part if
/// the controller did not decide.
pub async fn decided_by_controller(
    node: &crate::cluster::node::ClusterNode,
    call: crate::cluster::node::ControllerCall,
    parts: usize,
) -> Vec<(crate::protocol::error_code::ErrorCode, Option<String>)> {
    use crate::cluster::node::ControllerReply;
    use crate::protocol::error_code::ErrorCode;
    match node.call(call).await {
        ControllerReply::Topics { outcomes, offset } => {
            node.wait_for_offset(offset).await;
            outcomes
                .into_iter()
                .map(|o| match o {
                    Ok(()) => (ErrorCode::None, None),
                    Err(e) => (e.code(), Some(e.to_string())),
                })
                .collect()
        }
        other => {
            let why = format!("the controller did not decide: {other:?}");
            vec![(ErrorCode::NotController, Some(why)); parts]
        }
    }
}

/// KIP-951: where clients find the leaders named in NOT_LEADER_OR_FOLLOWER
/// hints, on the listener the request came in on.
pub fn leader_endpoints(
    image: &crate::cluster::image::MetadataImage,
    listener: &str,
    leaders: impl IntoIterator<Item = i32>,
) -> Vec<(i32, String, u16, Option<String>)> {
    let mut ids: Vec<i32> = leaders.into_iter().filter(|id| *id >= 0).collect();
    ids.sort_unstable();
    ids.dedup();
    ids.into_iter()
        .filter_map(|id| {
            let broker = image.brokers.get(&id)?;
            let endpoint = broker.endpoint(listener)?;
            Some((
                id,
                endpoint.host.clone(),
                endpoint.port,
                broker.rack.clone(),
            ))
        })
        .collect()
}

/// An API the broker implements, and the versions its handler serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Implemented {
    pub api_key: ApiKey,
    pub min: i16,
    pub max: i16,
}

/// Everything Odradek answers. Each entry names its handler's own constant.
pub const IMPLEMENTED: &[Implemented] = &[
    produce::IMPLEMENTED,
    fetch::IMPLEMENTED,
    list_offsets::IMPLEMENTED,
    metadata::IMPLEMENTED,
    api_versions::IMPLEMENTED,
    topics::CREATE_TOPICS,
    topics::DELETE_TOPICS,
    topics::CREATE_PARTITIONS,
    describe_cluster::IMPLEMENTED,
    init_producer_id::IMPLEMENTED,
    groups::FIND_COORDINATOR,
    groups::JOIN_GROUP,
    groups::HEARTBEAT,
    groups::LEAVE_GROUP,
    groups::SYNC_GROUP,
    groups::DESCRIBE_GROUPS,
    groups::LIST_GROUPS,
    groups::DELETE_GROUPS,
    offsets::OFFSET_COMMIT,
    offsets::OFFSET_FETCH,
    offsets::OFFSET_DELETE,
    txn::ADD_PARTITIONS_TO_TXN,
    txn::ADD_OFFSETS_TO_TXN,
    txn::END_TXN,
    txn::TXN_OFFSET_COMMIT,
    txn_admin::DESCRIBE_PRODUCERS,
    txn_admin::DESCRIBE_TRANSACTIONS,
    txn_admin::LIST_TRANSACTIONS,
    consumer_groups::CONSUMER_GROUP_HEARTBEAT,
    consumer_groups::CONSUMER_GROUP_DESCRIBE,
    configs::DESCRIBE_CONFIGS,
    configs::ALTER_CONFIGS,
    configs::INCREMENTAL_ALTER_CONFIGS,
    records_admin::DELETE_RECORDS,
    records_admin::DESCRIBE_LOG_DIRS,
    records_admin::OFFSET_FOR_LEADER_EPOCH,
    describe_quorum::IMPLEMENTED,
    txn_markers::IMPLEMENTED,
    elect_leaders::IMPLEMENTED,
    reassignments::ALTER,
    reassignments::LIST,
];

/// The versions of `api_key` the broker serves, if any.
pub fn implemented(api_key: ApiKey) -> Option<Implemented> {
    IMPLEMENTED
        .iter()
        .copied()
        .find(|api| api.api_key == api_key)
}

pub fn is_implemented(api_key: ApiKey, version: i16) -> bool {
    implemented(api_key).is_some_and(|api| (api.min..=api.max).contains(&version))
}

/// What a handler gives back: a response, or nothing (acks=0 produce).
pub type HandlerResult = Option<ResponseBody>;

/// Routes a decoded request to its handler. The caller has already checked
/// `is_implemented`, so any other body is a bug in the table, answered by
/// closing the connection rather than by a made-up response.
pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    body: RequestBody,
) -> Result<HandlerResult, Unhandled> {
    let version = ctx.api_version;
    match body {
        RequestBody::Produce(request) => Ok(produce::handle(broker, ctx, request).await),
        RequestBody::Fetch(request) => Ok(Some(fetch::handle(broker, ctx, request).await)),
        RequestBody::ListOffsets(request) => {
            Ok(Some(list_offsets::handle(broker, version, request)))
        }
        RequestBody::Metadata(request) => Ok(Some(metadata::handle(broker, ctx, request).await)),
        RequestBody::ApiVersions(request) => {
            Ok(Some(api_versions::handle(broker, version, &request)))
        }
        RequestBody::CreateTopics(request) => {
            Ok(Some(topics::create_topics(broker, version, request).await))
        }
        RequestBody::DeleteTopics(request) => {
            Ok(Some(topics::delete_topics(broker, version, request).await))
        }
        RequestBody::CreatePartitions(request) => Ok(Some(
            topics::create_partitions(broker, version, request).await,
        )),
        RequestBody::DescribeQuorum(request) => {
            Ok(Some(describe_quorum::handle(broker, ctx, request).await))
        }
        RequestBody::ElectLeaders(request) => {
            Ok(Some(elect_leaders::handle(broker, ctx, request).await))
        }
        RequestBody::AlterPartitionReassignments(request) => {
            Ok(Some(reassignments::alter(broker, version, request).await))
        }
        RequestBody::ListPartitionReassignments(request) => {
            Ok(Some(reassignments::list(broker, request)))
        }
        RequestBody::DescribeCluster(request) => {
            Ok(Some(describe_cluster::handle(broker, ctx, request)))
        }
        RequestBody::InitProducerId(request) => Ok(Some(
            init_producer_id::handle(broker, version, request).await,
        )),
        RequestBody::FindCoordinator(request) => {
            Ok(Some(groups::find_coordinator(broker, ctx, request).await))
        }
        RequestBody::JoinGroup(request) => Ok(Some(groups::join_group(broker, ctx, request).await)),
        RequestBody::Heartbeat(request) => Ok(Some(groups::heartbeat(broker, version, request))),
        RequestBody::LeaveGroup(request) => Ok(Some(groups::leave_group(broker, version, request))),
        RequestBody::SyncGroup(request) => {
            Ok(Some(groups::sync_group(broker, version, request).await))
        }
        RequestBody::DescribeGroups(request) => {
            Ok(Some(groups::describe_groups(broker, version, request)))
        }
        RequestBody::ListGroups(request) => Ok(Some(groups::list_groups(broker, version, request))),
        RequestBody::DeleteGroups(request) => {
            Ok(Some(groups::delete_groups(broker, version, request).await))
        }
        RequestBody::OffsetCommit(request) => {
            Ok(Some(offsets::offset_commit(broker, version, request).await))
        }
        RequestBody::OffsetFetch(request) => {
            Ok(Some(offsets::offset_fetch(broker, version, request)))
        }
        RequestBody::OffsetDelete(request) => {
            Ok(Some(offsets::offset_delete(broker, version, request).await))
        }
        RequestBody::AddPartitionsToTxn(request) => Ok(Some(
            txn::add_partitions_to_txn(broker, version, request).await,
        )),
        RequestBody::AddOffsetsToTxn(request) => Ok(Some(
            txn::add_offsets_to_txn(broker, version, request).await,
        )),
        RequestBody::EndTxn(request) => Ok(Some(txn::end_txn(broker, version, request).await)),
        RequestBody::TxnOffsetCommit(request) => {
            Ok(Some(txn::txn_offset_commit(broker, version, request).await))
        }
        RequestBody::DescribeProducers(request) => Ok(Some(txn_admin::describe_producers(
            broker, version, request,
        ))),
        RequestBody::DescribeTransactions(request) => Ok(Some(
            txn_admin::describe_transactions(broker, version, request).await,
        )),
        RequestBody::ListTransactions(request) => Ok(Some(
            txn_admin::list_transactions(broker, version, request).await,
        )),
        RequestBody::ConsumerGroupHeartbeat(request) => {
            Ok(Some(consumer_groups::heartbeat(broker, ctx, request).await))
        }
        RequestBody::ConsumerGroupDescribe(request) => {
            Ok(Some(consumer_groups::describe(broker, version, request)))
        }
        RequestBody::DescribeConfigs(request) => {
            Ok(Some(configs::describe_configs(broker, version, request)))
        }
        RequestBody::AlterConfigs(request) => {
            Ok(Some(configs::alter_configs(broker, version, request).await))
        }
        RequestBody::IncrementalAlterConfigs(request) => Ok(Some(
            configs::incremental_alter_configs(broker, version, request).await,
        )),
        RequestBody::DeleteRecords(request) => Ok(Some(records_admin::delete_records(
            broker, version, request,
        ))),
        RequestBody::DescribeLogDirs(request) => Ok(Some(records_admin::describe_log_dirs(
            broker, version, request,
        ))),
        RequestBody::OffsetForLeaderEpoch(request) => Ok(Some(
            records_admin::offset_for_leader_epoch(broker, version, request),
        )),
        RequestBody::WriteTxnMarkers(request) => {
            Ok(Some(txn_markers::handle(broker, request).await))
        }
        other => Err(Unhandled(other.api_key())),
    }
}

/// A request whose API has no handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unhandled(pub ApiKey);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advertised_ranges_lie_within_the_specs() {
        for api in IMPLEMENTED {
            let (min, max) = api.api_key.spec_versions();
            assert!(
                min <= api.min && api.max <= max && api.min <= api.max,
                "{api:?} vs spec {min}-{max}"
            );
        }
    }

    #[test]
    fn every_advertised_version_reaches_its_handler() {
        let broker = Broker::for_tests();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let mut rng = crate::protocol::testing::Rng::new(42);
        for api in IMPLEMENTED {
            for version in api.min..=api.max {
                let ctx = RequestContext::for_tests(version);
                let mut body = RequestBody::random(api.api_key, &mut rng, version);
                if let RequestBody::Fetch(fetch) = &mut body {
                    fetch.max_wait_ms = 0; // a random wait could be weeks long
                }
                if let RequestBody::JoinGroup(join) = &mut body {
                    // A fresh group (and no initial delay in tests): the join
                    // never waits for other members to rejoin.
                    join.group_id = format!("random-join-{version}");
                }
                let result = runtime.block_on(handle(&broker, &ctx, body));
                assert!(
                    result.is_ok(),
                    "{:?} v{version} is advertised but unhandled",
                    api.api_key
                );
            }
        }
    }
}
