//! The KIP-848 consumer group APIs: ConsumerGroupHeartbeat (68) and
//! ConsumerGroupDescribe (69). The state machine is `crate::group::consumer`.

use super::Implemented;
use crate::broker::Broker;
use crate::group::assignor::Partitions;
use crate::group::consumer::{
    ConsumerHeartbeat, ConsumerHeartbeatResult, NamedPartitions, TopicsView,
};
use crate::log::steady_ms;
use crate::protocol::messages::consumer_group_describe_response::{
    self as describe, DescribedGroup,
};
use crate::protocol::messages::consumer_group_heartbeat_response::{Assignment, TopicPartitions};
use crate::protocol::messages::{
    ApiKey, ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse,
    ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse, ResponseBody,
};

/// v1 adds SubscribedTopicRegex, resolved by the broker.
pub const CONSUMER_GROUP_HEARTBEAT: Implemented = Implemented {
    api_key: ApiKey::ConsumerGroupHeartbeat,
    min: 0,
    max: 1,
};
pub const CONSUMER_GROUP_DESCRIBE: Implemented = Implemented {
    api_key: ApiKey::ConsumerGroupDescribe,
    min: 0,
    max: 1,
};

use super::authorized;

/// ConsumerGroupDescribe v1's MemberType: 0 classic, 1 consumer protocol.
const CONSUMER_MEMBER: i8 = 1;

/// Every topic the broker has, for subscriptions and regexes.
fn topics_view(broker: &Broker) -> TopicsView {
    broker
        .log
        .topics()
        .iter()
        .map(|t| (t.meta.name.clone(), (t.meta.id, t.meta.partitions)))
        .collect()
}

pub async fn heartbeat(
    broker: &Broker,
    ctx: &crate::handlers::RequestContext,
    request: ConsumerGroupHeartbeatRequest,
) -> ResponseBody {
    let version = ctx.api_version;
    if let Err(code) = super::coordinators::check(
        broker,
        super::coordinators::Coordinated::Group,
        &request.group_id,
    ) {
        return ResponseBody::ConsumerGroupHeartbeat(ConsumerGroupHeartbeatResponse {
            error_code: code.code(),
            ..ConsumerGroupHeartbeatResponse::default()
        });
    }
    let owned = request.topic_partitions.map(|topics| {
        let mut owned = Partitions::new();
        for t in topics {
            owned.entry(t.topic_id).or_default().extend(t.partitions);
        }
        owned
    });
    let req = ConsumerHeartbeat {
        group_id: request.group_id,
        member_id: request.member_id,
        member_epoch: request.member_epoch,
        instance_id: request.instance_id,
        rack_id: request.rack_id,
        rebalance_timeout_ms: request.rebalance_timeout_ms,
        subscribed_topic_names: request.subscribed_topic_names,
        subscribed_topic_regex: if version >= 1 {
            request.subscribed_topic_regex
        } else {
            None
        },
        server_assignor: request.server_assignor,
        owned,
        client_id: ctx.client_id.clone().unwrap_or_default(),
        client_host: ctx.client_host(),
    };
    let member_id = req.member_id.clone();
    let (mut result, write) =
        broker
            .groups
            .consumer_heartbeat(&broker.log, req, &topics_view(broker), steady_ms());
    // The member hears its new epoch and assignment only once they are committed.
    if let Some(write) = write {
        if let Err(e) = write.wait().await {
            tracing::error!(error = %e, "consumer group state not committed");
            result = ConsumerHeartbeatResult::failed(
                crate::group::store::unwritten(&e),
                "the group's state was not committed".into(),
                &member_id,
            );
        }
    }
    ResponseBody::ConsumerGroupHeartbeat(ConsumerGroupHeartbeatResponse {
        throttle_time_ms: 0,
        error_code: result.error.code(),
        error_message: result.message,
        member_id: Some(result.member_id),
        member_epoch: result.member_epoch,
        heartbeat_interval_ms: result.heartbeat_interval_ms,
        assignment: result.assignment.map(|partitions| Assignment {
            topic_partitions: partitions
                .into_iter()
                .map(|(topic_id, ps)| TopicPartitions {
                    topic_id,
                    partitions: ps.into_iter().collect(),
                })
                .collect(),
        }),
    })
}

fn described(partitions: NamedPartitions) -> describe::Assignment {
    describe::Assignment {
        topic_partitions: partitions
            .into_iter()
            .map(
                |(topic_id, topic_name, partitions)| describe::TopicPartitions {
                    topic_id,
                    topic_name,
                    partitions,
                },
            )
            .collect(),
    }
}

pub fn describe(
    broker: &Broker,
    _version: i16,
    request: ConsumerGroupDescribeRequest,
) -> ResponseBody {
    let operations =
        authorized::if_requested(request.include_authorized_operations, authorized::GROUP);
    let groups = request
        .group_ids
        .iter()
        .map(|id| {
            let group = broker.groups.describe_consumer_group(id);
            DescribedGroup {
                error_code: group.error.code(),
                error_message: group.message,
                group_id: group.group_id,
                group_state: group.state.to_string(),
                group_epoch: group.epoch,
                assignment_epoch: group.assignment_epoch,
                assignor_name: group.assignor,
                members: group
                    .members
                    .into_iter()
                    .map(|m| describe::Member {
                        member_id: m.member_id,
                        instance_id: m.instance_id,
                        rack_id: m.rack_id,
                        member_epoch: m.member_epoch,
                        client_id: m.client_id,
                        client_host: m.client_host,
                        subscribed_topic_names: m.topic_names,
                        subscribed_topic_regex: m.regex,
                        assignment: described(m.assignment),
                        target_assignment: described(m.target),
                        // v1 (KIP-1099): every member here speaks the consumer protocol.
                        member_type: CONSUMER_MEMBER,
                    })
                    .collect(),
                authorized_operations: operations,
            }
        })
        .collect();
    ResponseBody::ConsumerGroupDescribe(ConsumerGroupDescribeResponse {
        throttle_time_ms: 0,
        groups,
    })
}
