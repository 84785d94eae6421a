//! The classic consumer-group APIs: FindCoordinator (10), JoinGroup (11),
//! Heartbeat (12), LeaveGroup (13), SyncGroup (14), DescribeGroups (15),
//! ListGroups (16), DeleteGroups (42). The state machine is `crate::group`.

use super::Implemented;
use crate::broker::Broker;
use crate::group::{GroupState, JoinRequest, JoinResult, SyncRequest, SyncResult};
use crate::log::steady_ms;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::messages::delete_groups_response::DeletableGroupResult;
use crate::protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use crate::protocol::messages::find_coordinator_response::Coordinator;
use crate::protocol::messages::join_group_response::JoinGroupResponseMember;
use crate::protocol::messages::leave_group_response::MemberResponse;
use crate::protocol::messages::list_groups_response::ListedGroup;
use crate::protocol::messages::{
    ApiKey, DeleteGroupsRequest, DeleteGroupsResponse, DescribeGroupsRequest,
    DescribeGroupsResponse, FindCoordinatorRequest, FindCoordinatorResponse, HeartbeatRequest,
    HeartbeatResponse, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest, LeaveGroupResponse,
    ListGroupsRequest, ListGroupsResponse, ResponseBody, SyncGroupRequest, SyncGroupResponse,
};

pub const FIND_COORDINATOR: Implemented = Implemented {
    api_key: ApiKey::FindCoordinator,
    min: 0,
    max: 5,
};
pub const JOIN_GROUP: Implemented = Implemented {
    api_key: ApiKey::JoinGroup,
    min: 0,
    max: 9,
};
pub const HEARTBEAT: Implemented = Implemented {
    api_key: ApiKey::Heartbeat,
    min: 0,
    max: 4,
};
pub const LEAVE_GROUP: Implemented = Implemented {
    api_key: ApiKey::LeaveGroup,
    min: 0,
    max: 5,
};
pub const SYNC_GROUP: Implemented = Implemented {
    api_key: ApiKey::SyncGroup,
    min: 0,
    max: 5,
};
pub const DESCRIBE_GROUPS: Implemented = Implemented {
    api_key: ApiKey::DescribeGroups,
    min: 0,
    max: 6,
};
pub const LIST_GROUPS: Implemented = Implemented {
    api_key: ApiKey::ListGroups,
    min: 0,
    max: 5,
};
pub const DELETE_GROUPS: Implemented = Implemented {
    api_key: ApiKey::DeleteGroups,
    min: 0,
    max: 3,
};

use super::{authorized, coordinators};

/// Where a key's coordinator is: node id, host, port.
type Found = (i32, String, u16);

/// The coordinator of `key`: the leader of its internal partition (see
/// [`coordinators`]), at its endpoint on the request's listener.
async fn locate(
    broker: &Broker,
    listener: &str,
    key_type: i8,
    key: &str,
) -> Result<Found, (ErrorCode, String)> {
    let kind = match key_type {
        0 => coordinators::Coordinated::Group,
        1 => coordinators::Coordinated::Transaction,
        other => {
            return Err((
                ErrorCode::InvalidRequest,
                format!("unknown key type {other}"),
            ))
        }
    };
    coordinators::ensure_topic(broker, kind).await?;
    let id = coordinators::coordinator_of(broker, kind, key).map_err(|code| {
        (
            code,
            "the coordinator's partition has no leader".to_string(),
        )
    })?;
    if id == broker.config.node_id {
        let (host, port) = broker.endpoint(listener);
        return Ok((id, host, port));
    }
    let image = broker.image();
    image
        .brokers
        .get(&id)
        .and_then(|b| b.endpoint(listener))
        .map(|e| (id, e.host.clone(), e.port))
        .ok_or_else(|| {
            (
                ErrorCode::CoordinatorNotAvailable,
                format!("node {id} has no {listener} listener"),
            )
        })
}

/// FindCoordinator: key types 0 (groups) and 1 (transactional ids).
pub async fn find_coordinator(
    broker: &Broker,
    ctx: &crate::handlers::RequestContext,
    request: FindCoordinatorRequest,
) -> ResponseBody {
    let version = ctx.api_version;
    if version >= 4 {
        let mut coordinators = Vec::with_capacity(request.coordinator_keys.len());
        for key in request.coordinator_keys {
            coordinators.push(
                match locate(broker, &ctx.listener, request.key_type, &key).await {
                    Ok((node_id, host, port)) => Coordinator {
                        key,
                        node_id,
                        host,
                        port: i32::from(port),
                        error_code: 0,
                        error_message: None,
                    },
                    Err((code, message)) => Coordinator {
                        key,
                        node_id: -1,
                        host: String::new(),
                        port: -1,
                        error_code: code.code(),
                        error_message: Some(message),
                    },
                },
            );
        }
        return ResponseBody::FindCoordinator(FindCoordinatorResponse {
            coordinators,
            ..FindCoordinatorResponse::default()
        });
    }
    let key_type = if version >= 1 { request.key_type } else { 0 };
    ResponseBody::FindCoordinator(
        match locate(broker, &ctx.listener, key_type, &request.key).await {
            Ok((node_id, host, port)) => FindCoordinatorResponse {
                error_code: 0,
                error_message: None,
                node_id,
                host,
                port: i32::from(port),
                ..FindCoordinatorResponse::default()
            },
            Err((code, message)) => FindCoordinatorResponse {
                error_code: code.code(),
                error_message: Some(message),
                node_id: -1,
                host: String::new(),
                port: -1,
                ..FindCoordinatorResponse::default()
            },
        },
    )
}

fn join_response(version: i16, result: JoinResult) -> ResponseBody {
    let protocol_name = if version < 7 {
        Some(result.protocol_name.unwrap_or_default())
    } else {
        result.protocol_name
    };
    ResponseBody::JoinGroup(JoinGroupResponse {
        throttle_time_ms: 0,
        error_code: result.error.code(),
        generation_id: result.generation,
        protocol_type: result.protocol_type,
        protocol_name,
        leader: result.leader,
        skip_assignment: version >= 9 && result.skip_assignment,
        member_id: result.member_id,
        members: result
            .members
            .into_iter()
            .map(|m| JoinGroupResponseMember {
                member_id: m.member_id,
                group_instance_id: if version >= 5 {
                    m.group_instance_id
                } else {
                    None
                },
                metadata: m.metadata,
            })
            .collect(),
    })
}

pub async fn join_group(
    broker: &Broker,
    ctx: &crate::handlers::RequestContext,
    request: JoinGroupRequest,
) -> ResponseBody {
    let version = ctx.api_version;
    let member_id = request.member_id.clone();
    if let Err(code) =
        coordinators::check(broker, coordinators::Coordinated::Group, &request.group_id)
    {
        return ResponseBody::JoinGroup(JoinGroupResponse {
            error_code: code.code(),
            generation_id: -1,
            protocol_name: (version < 7).then(String::new),
            member_id,
            ..JoinGroupResponse::default()
        });
    }
    // v0 has no rebalance timeout: Kafka uses the session timeout.
    let rebalance_timeout_ms = if version == 0 || request.rebalance_timeout_ms < 0 {
        request.session_timeout_ms
    } else {
        request.rebalance_timeout_ms
    };
    let join = JoinRequest {
        group_id: request.group_id,
        member_id: request.member_id,
        group_instance_id: if version >= 5 {
            request.group_instance_id
        } else {
            None
        },
        client_id: ctx.client_id.clone().unwrap_or_default(),
        client_host: ctx.client_host(),
        session_timeout_ms: request.session_timeout_ms,
        rebalance_timeout_ms,
        protocol_type: request.protocol_type,
        protocols: request
            .protocols
            .into_iter()
            .map(|p| (p.name, p.metadata))
            .collect(),
        require_known_member_id: version >= 4,
    };
    let pending = broker.groups.join(&broker.log, join, steady_ms());
    let result = pending
        .result(|| JoinResult::failed(ErrorCode::RebalanceInProgress, member_id))
        .await;
    join_response(version, result)
}

fn sync_response(version: i16, result: SyncResult) -> ResponseBody {
    let v5 = version >= 5;
    ResponseBody::SyncGroup(SyncGroupResponse {
        throttle_time_ms: 0,
        error_code: result.error.code(),
        protocol_type: if v5 { result.protocol_type } else { None },
        protocol_name: if v5 { result.protocol_name } else { None },
        assignment: result.assignment,
    })
}

pub async fn sync_group(broker: &Broker, version: i16, request: SyncGroupRequest) -> ResponseBody {
    if let Err(code) =
        coordinators::check(broker, coordinators::Coordinated::Group, &request.group_id)
    {
        return ResponseBody::SyncGroup(SyncGroupResponse {
            error_code: code.code(),
            ..SyncGroupResponse::default()
        });
    }
    let sync = SyncRequest {
        group_id: request.group_id,
        generation: request.generation_id,
        member_id: request.member_id,
        group_instance_id: if version >= 3 {
            request.group_instance_id
        } else {
            None
        },
        protocol_type: if version >= 5 {
            request.protocol_type
        } else {
            None
        },
        protocol_name: if version >= 5 {
            request.protocol_name
        } else {
            None
        },
        assignments: request
            .assignments
            .into_iter()
            .map(|a| (a.member_id, a.assignment))
            .collect(),
    };
    let pending = broker.groups.sync(&broker.log, sync, steady_ms());
    let result = pending
        .result(|| SyncResult::failed(ErrorCode::RebalanceInProgress))
        .await;
    sync_response(version, result)
}

pub fn heartbeat(broker: &Broker, version: i16, request: HeartbeatRequest) -> ResponseBody {
    if let Err(code) =
        coordinators::check(broker, coordinators::Coordinated::Group, &request.group_id)
    {
        return ResponseBody::Heartbeat(HeartbeatResponse {
            throttle_time_ms: 0,
            error_code: code.code(),
        });
    }
    let instance = if version >= 3 {
        request.group_instance_id.as_deref()
    } else {
        None
    };
    let error = broker.groups.heartbeat(
        &request.group_id,
        request.generation_id,
        &request.member_id,
        instance,
        steady_ms(),
    );
    ResponseBody::Heartbeat(HeartbeatResponse {
        throttle_time_ms: 0,
        error_code: error.code(),
    })
}

pub fn leave_group(broker: &Broker, version: i16, request: LeaveGroupRequest) -> ResponseBody {
    if let Err(code) =
        coordinators::check(broker, coordinators::Coordinated::Group, &request.group_id)
    {
        return ResponseBody::LeaveGroup(LeaveGroupResponse {
            error_code: code.code(),
            ..LeaveGroupResponse::default()
        });
    }
    let leaving: Vec<(String, Option<String>)> = if version >= 3 {
        request
            .members
            .iter()
            .map(|m| (m.member_id.clone(), m.group_instance_id.clone()))
            .collect()
    } else {
        vec![(request.member_id.clone(), None)]
    };
    let response = match broker
        .groups
        .leave(&broker.log, &request.group_id, &leaving, steady_ms())
    {
        Err(code) => LeaveGroupResponse {
            error_code: code.code(),
            ..LeaveGroupResponse::default()
        },
        Ok(errors) if version >= 3 => LeaveGroupResponse {
            error_code: 0,
            members: leaving
                .into_iter()
                .zip(errors)
                .map(|((member_id, group_instance_id), code)| MemberResponse {
                    member_id,
                    group_instance_id,
                    error_code: code.code(),
                })
                .collect(),
            ..LeaveGroupResponse::default()
        },
        Ok(errors) => LeaveGroupResponse {
            error_code: errors.first().map_or(0, |c| c.code()),
            ..LeaveGroupResponse::default()
        },
    };
    ResponseBody::LeaveGroup(response)
}

pub fn describe_groups(
    broker: &Broker,
    version: i16,
    request: DescribeGroupsRequest,
) -> ResponseBody {
    let operations = authorized::if_requested(
        version >= 3 && request.include_authorized_operations,
        authorized::GROUP,
    );
    let groups = request
        .groups
        .iter()
        .map(|id| {
            if let Err(code) = coordinators::check(broker, coordinators::Coordinated::Group, id) {
                return DescribedGroup {
                    error_code: code.code(),
                    group_id: id.clone(),
                    authorized_operations: operations,
                    ..DescribedGroup::default()
                };
            }
            let described = broker.groups.describe(id);
            // v6 (KIP-1043): a group that does not exist is an error, not "Dead".
            if version >= 6 && described.state == GroupState::Dead {
                return DescribedGroup {
                    error_code: ErrorCode::GroupIdNotFound.code(),
                    error_message: Some(format!("Group {id} not found.")),
                    group_id: id.clone(),
                    group_state: String::new(),
                    protocol_type: String::new(),
                    protocol_data: String::new(),
                    authorized_operations: operations,
                    ..DescribedGroup::default()
                };
            }
            DescribedGroup {
                error_code: 0,
                group_id: described.group_id,
                group_state: described.state_name.to_string(),
                protocol_type: described.protocol_type,
                protocol_data: described.protocol,
                members: described
                    .members
                    .into_iter()
                    .map(|m| DescribedGroupMember {
                        member_id: m.member_id,
                        group_instance_id: if version >= 4 {
                            m.group_instance_id
                        } else {
                            None
                        },
                        client_id: m.client_id,
                        client_host: m.client_host,
                        member_metadata: m.metadata,
                        member_assignment: m.assignment,
                    })
                    .collect(),
                authorized_operations: operations,
                ..DescribedGroup::default()
            }
        })
        .collect();
    ResponseBody::DescribeGroups(DescribeGroupsResponse {
        throttle_time_ms: 0,
        groups,
    })
}

pub fn list_groups(broker: &Broker, version: i16, request: ListGroupsRequest) -> ResponseBody {
    let states: Vec<String> = if version >= 4 {
        request
            .states_filter
            .iter()
            .map(|s| s.to_lowercase())
            .collect()
    } else {
        Vec::new()
    };
    let types: Vec<String> = if version >= 5 {
        request
            .types_filter
            .iter()
            .map(|s| s.to_lowercase())
            .collect()
    } else {
        Vec::new()
    };
    let groups = broker
        .groups
        .listing()
        .into_iter()
        .filter(|g| states.is_empty() || states.contains(&g.state.to_lowercase()))
        .filter(|g| types.is_empty() || types.iter().any(|t| t == g.group_type))
        .map(|g| ListedGroup {
            group_id: g.group_id,
            protocol_type: g.protocol_type,
            group_state: if version >= 4 {
                g.state.to_string()
            } else {
                String::new()
            },
            group_type: if version >= 5 {
                g.group_type.to_string()
            } else {
                String::new()
            },
        })
        .collect();
    ResponseBody::ListGroups(ListGroupsResponse {
        throttle_time_ms: 0,
        error_code: 0,
        groups,
    })
}

pub async fn delete_groups(
    broker: &Broker,
    version: i16,
    request: DeleteGroupsRequest,
) -> ResponseBody {
    let mut results = Vec::with_capacity(request.groups_names.len());
    for group_id in request.groups_names {
        let error = broker
            .groups
            .delete_group(&broker.log, &group_id, steady_ms())
            .await;
        // v3 says why, in words.
        let error_message = match error {
            ErrorCode::NonEmptyGroup if version >= 3 => {
                Some(format!("Group {group_id} is not empty."))
            }
            ErrorCode::GroupIdNotFound if version >= 3 => {
                Some(format!("Group {group_id} not found."))
            }
            _ => None,
        };
        results.push(DeletableGroupResult {
            group_id,
            error_code: error.code(),
            error_message,
        });
    }
    ResponseBody::DeleteGroups(DeleteGroupsResponse {
        throttle_time_ms: 0,
        results,
    })
}

#[cfg(test)]
mod tests {
    use crate::broker::Broker;
    use crate::handlers::handle;
    use crate::protocol::frame::encode_response;
    use crate::protocol::messages::join_group_request::JoinGroupRequestProtocol;
    use crate::protocol::messages::leave_group_request::MemberIdentity;
    use crate::protocol::messages::offset_commit_request::{
        OffsetCommitRequestPartition, OffsetCommitRequestTopic,
    };
    use crate::protocol::messages::offset_delete_request::{
        OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
    };
    use crate::protocol::messages::offset_fetch_request::{
        OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
    };
    use crate::protocol::messages::sync_group_request::SyncGroupRequestAssignment;
    use crate::protocol::messages::*;
    use bytes::Bytes;

    struct Client<'a> {
        broker: &'a Broker,
        rt: tokio::runtime::Runtime,
    }

    impl Client<'_> {
        /// Sends through the dispatcher and checks the answer encodes at `version`.
        fn call(&self, version: i16, body: RequestBody) -> ResponseBody {
            let api = body.api_key();
            let ctx = crate::handlers::RequestContext::for_tests(version);
            let response = self
                .rt
                .block_on(handle(self.broker, &ctx, body))
                .unwrap()
                .unwrap();
            encode_response(api, version, 1, &response)
                .unwrap_or_else(|e| panic!("{api:?} v{version}: {e}"));
            response
        }
    }

    fn join(group: &str, member: &str) -> JoinGroupRequest {
        JoinGroupRequest {
            group_id: group.into(),
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 10_000,
            member_id: member.into(),
            protocol_type: "consumer".into(),
            protocols: vec![JoinGroupRequestProtocol {
                name: "range".into(),
                metadata: Bytes::from_static(b"sub"),
            }],
            ..JoinGroupRequest::default()
        }
    }

    #[test]
    fn a_consumer_group_lives_through_every_version() {
        let broker = Broker::for_tests();
        broker.log.create_topic("t", 2, Default::default()).unwrap();
        let client = Client {
            broker: &broker,
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
        };
        for version in 0..=5 {
            let request = FindCoordinatorRequest {
                key: "g".into(),
                key_type: 0,
                coordinator_keys: vec!["g".into(), "h".into()],
            };
            let ResponseBody::FindCoordinator(found) =
                client.call(version, RequestBody::FindCoordinator(request))
            else {
                panic!()
            };
            if version >= 4 {
                assert_eq!(found.coordinators.len(), 2);
                assert_eq!(found.coordinators[0].node_id, broker.config.node_id);
            } else {
                assert_eq!(
                    (found.error_code, found.node_id),
                    (0, broker.config.node_id)
                );
            }
        }
        assert!(broker
            .log
            .topic(crate::group::store::OFFSETS_TOPIC)
            .is_some());
        for version in 0..=9i16 {
            let group = format!("g{version}");
            let ResponseBody::JoinGroup(mut joined) =
                client.call(version, RequestBody::JoinGroup(join(&group, "")))
            else {
                panic!()
            };
            if version >= 4 {
                assert_eq!(joined.error_code, 79);
                let rejoin = join(&group, &joined.member_id);
                let ResponseBody::JoinGroup(again) =
                    client.call(version, RequestBody::JoinGroup(rejoin))
                else {
                    panic!()
                };
                joined = again;
            }
            assert_eq!(joined.error_code, 0, "JoinGroup v{version}");
            assert_eq!(joined.generation_id, 1);
            let member = joined.member_id.clone();
            let sync_version = version.min(5);
            let sync = SyncGroupRequest {
                group_id: group.clone(),
                generation_id: 1,
                member_id: member.clone(),
                assignments: vec![SyncGroupRequestAssignment {
                    member_id: member.clone(),
                    assignment: Bytes::from_static(b"asg"),
                }],
                protocol_type: (sync_version >= 5).then(|| "consumer".into()),
                protocol_name: (sync_version >= 5).then(|| "range".into()),
                ..SyncGroupRequest::default()
            };
            let ResponseBody::SyncGroup(synced) =
                client.call(sync_version, RequestBody::SyncGroup(sync))
            else {
                panic!()
            };
            assert_eq!(
                (synced.error_code, synced.assignment.as_ref()),
                (0, &b"asg"[..])
            );
            let beat = HeartbeatRequest {
                group_id: group.clone(),
                generation_id: 1,
                member_id: member.clone(),
                group_instance_id: None,
            };
            let ResponseBody::Heartbeat(beat) =
                client.call(version.min(4), RequestBody::Heartbeat(beat))
            else {
                panic!()
            };
            assert_eq!(beat.error_code, 0);
            let describe = DescribeGroupsRequest {
                groups: vec![group.clone()],
                include_authorized_operations: version >= 3,
            };
            let ResponseBody::DescribeGroups(described) =
                client.call(version.min(5), RequestBody::DescribeGroups(describe))
            else {
                panic!()
            };
            assert_eq!(described.groups[0].group_state, "Stable");
            assert_eq!(described.groups[0].members[0].client_id, "cli");
            let commit_version = version.clamp(2, 9);
            let commit = OffsetCommitRequest {
                group_id: group.clone(),
                generation_id_or_member_epoch: 1,
                member_id: member.clone(),
                topics: vec![OffsetCommitRequestTopic {
                    name: "t".into(),
                    partitions: [0, 5]
                        .into_iter()
                        .map(|p| OffsetCommitRequestPartition {
                            partition_index: p,
                            committed_offset: 17,
                            committed_metadata: Some("md".into()),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                }],
                ..OffsetCommitRequest::default()
            };
            let ResponseBody::OffsetCommit(committed) =
                client.call(commit_version, RequestBody::OffsetCommit(commit))
            else {
                panic!()
            };
            let codes: Vec<i16> = committed.topics[0]
                .partitions
                .iter()
                .map(|p| p.error_code)
                .collect();
            assert_eq!(codes, vec![0, 3]);
            let fetch_version = version.clamp(1, 9);
            let fetch = if fetch_version >= 8 {
                OffsetFetchRequest {
                    groups: vec![OffsetFetchRequestGroup {
                        group_id: group.clone(),
                        topics: Some(vec![OffsetFetchRequestTopics {
                            name: "t".into(),
                            partition_indexes: vec![0, 1],
                            ..Default::default()
                        }]),
                        ..Default::default()
                    }],
                    ..OffsetFetchRequest::default()
                }
            } else {
                OffsetFetchRequest {
                    group_id: group.clone(),
                    topics: Some(vec![OffsetFetchRequestTopic {
                        name: "t".into(),
                        partition_indexes: vec![0, 1],
                    }]),
                    ..OffsetFetchRequest::default()
                }
            };
            let ResponseBody::OffsetFetch(fetched) =
                client.call(fetch_version, RequestBody::OffsetFetch(fetch))
            else {
                panic!()
            };
            let offsets: Vec<i64> = if fetch_version >= 8 {
                fetched.groups[0].topics[0]
                    .partitions
                    .iter()
                    .map(|p| p.committed_offset)
                    .collect()
            } else {
                fetched.topics[0]
                    .partitions
                    .iter()
                    .map(|p| p.committed_offset)
                    .collect()
            };
            assert_eq!(offsets, vec![17, -1], "OffsetFetch v{fetch_version}");
            let leave_version = version.min(5);
            let leave = if leave_version >= 3 {
                LeaveGroupRequest {
                    group_id: group.clone(),
                    members: vec![MemberIdentity {
                        member_id: member.clone(),
                        ..Default::default()
                    }],
                    ..LeaveGroupRequest::default()
                }
            } else {
                LeaveGroupRequest {
                    group_id: group.clone(),
                    member_id: member.clone(),
                    ..LeaveGroupRequest::default()
                }
            };
            let ResponseBody::LeaveGroup(left) =
                client.call(leave_version, RequestBody::LeaveGroup(leave))
            else {
                panic!()
            };
            assert_eq!(left.error_code, 0);
            let delete = OffsetDeleteRequest {
                group_id: group.clone(),
                topics: vec![OffsetDeleteRequestTopic {
                    name: "t".into(),
                    partitions: vec![OffsetDeleteRequestPartition { partition_index: 0 }],
                }],
            };
            let ResponseBody::OffsetDelete(deleted) =
                client.call(0, RequestBody::OffsetDelete(delete))
            else {
                panic!()
            };
            assert_eq!(
                (
                    deleted.error_code,
                    deleted.topics[0].partitions[0].error_code
                ),
                (0, 0)
            );
        }
        for version in 0..=5 {
            let filter = if version >= 4 {
                vec!["empty".to_string()]
            } else {
                Vec::new()
            };
            let request = ListGroupsRequest {
                states_filter: filter,
                types_filter: Vec::new(),
            };
            let ResponseBody::ListGroups(listed) =
                client.call(version, RequestBody::ListGroups(request))
            else {
                panic!()
            };
            assert_eq!(listed.groups.len(), 10);
        }
        for version in 0..=2 {
            let request = DeleteGroupsRequest {
                groups_names: vec![format!("g{version}"), "never".into()],
            };
            let ResponseBody::DeleteGroups(deleted) =
                client.call(version, RequestBody::DeleteGroups(request))
            else {
                panic!()
            };
            let codes: Vec<i16> = deleted.results.iter().map(|r| r.error_code).collect();
            assert_eq!(codes, vec![0, 69]);
        }
    }

    /// DescribeGroups v6 and DeleteGroups v3 (KIP-1043): an unknown group is
    /// an error with a message, where older versions said "Dead" or only a code.
    #[test]
    fn unknown_groups_are_errors_with_messages_in_the_newest_versions() {
        let broker = Broker::for_tests();
        let client = Client {
            broker: &broker,
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
        };
        let describe = |version| {
            let request = DescribeGroupsRequest {
                groups: vec!["nobody".into()],
                include_authorized_operations: false,
            };
            let ResponseBody::DescribeGroups(mut r) =
                client.call(version, RequestBody::DescribeGroups(request))
            else {
                panic!()
            };
            r.groups.remove(0)
        };
        let old = describe(5);
        assert_eq!((old.error_code, old.group_state.as_str()), (0, "Dead"));
        let new = describe(6);
        assert_eq!(new.error_code, 69, "GROUP_ID_NOT_FOUND");
        assert_eq!(
            new.error_message.as_deref(),
            Some("Group nobody not found.")
        );
        assert_eq!(new.group_state, "");
        let delete = |version| {
            let request = DeleteGroupsRequest {
                groups_names: vec!["nobody".into()],
            };
            let ResponseBody::DeleteGroups(mut r) =
                client.call(version, RequestBody::DeleteGroups(request))
            else {
                panic!()
            };
            r.results.remove(0)
        };
        assert_eq!((delete(2).error_code, delete(2).error_message), (69, None));
        assert_eq!(
            delete(3).error_message.as_deref(),
            Some("Group nobody not found.")
        );
    }
}
