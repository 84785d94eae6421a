//! `odradek groups ...`: list, describe, delete, reset-offsets.

use super::client::{expect_response, Cluster};
use super::errors::{describe_error, CliError};
use super::group_api::{self, Offsets};
use super::meta::{self, EARLIEST, LATEST};
use super::output::{or_dash, out, outln, Json, Table};
use super::time::parse_datetime;
use crate::protocol::messages::describe_groups_response::DescribedGroup;
use crate::protocol::messages::{
    ApiKey, ConsumerProtocolAssignment, DeleteGroupsRequest, ListGroupsRequest, RequestBody,
};
use crate::protocol::wire::Decode;
use clap::Subcommand;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Subcommand, Debug)]
pub enum GroupsAction {
    /// List groups on every broker (ListGroups).
    List,
    /// Members, assignments, and per partition the committed offset, log end offset and lag.
    Describe {
        #[arg(required = true)]
        groups: Vec<String>,
    },
    /// Delete groups (DeleteGroups; the group must have no members).
    Delete {
        #[arg(required = true)]
        groups: Vec<String>,
    },
    /// Compute, and with --execute commit, new offsets for an inactive group.
    #[command(group(clap::ArgGroup::new("to").required(true).args(["to_earliest", "to_latest", "to_datetime", "to_offset"])))]
    #[command(group(clap::ArgGroup::new("scope").required(true).args(["topics", "all_topics"])))]
    ResetOffsets {
        group: String,
        /// TOPIC or TOPIC:P1,P2 (repeatable).
        #[arg(long = "topic", value_name = "TOPIC[:PARTITIONS]")]
        topics: Vec<String>,
        /// Every topic the group has committed offsets for.
        #[arg(long)]
        all_topics: bool,
        #[arg(long)]
        to_earliest: bool,
        #[arg(long)]
        to_latest: bool,
        /// First offset whose timestamp is at or after this time (ListOffsets):
        /// milliseconds since the epoch, or YYYY-MM-DDTHH:MM:SS[.mmm][Z|+HH:MM]
        /// (UTC when no zone is given).
        #[arg(long, value_name = "TIME")]
        to_datetime: Option<String>,
        /// This offset, clamped into the partition's [earliest, latest] range.
        #[arg(long, value_name = "OFFSET")]
        to_offset: Option<i64>,
        /// Only show the new offsets (the default).
        #[arg(long, conflicts_with = "execute")]
        dry_run: bool,
        /// Commit the new offsets.
        #[arg(long)]
        execute: bool,
    },
}

pub async fn run(cluster: &mut Cluster, action: GroupsAction, json: bool) -> Result<(), CliError> {
    match action {
        GroupsAction::List => list(cluster, json).await,
        GroupsAction::Describe { groups } => {
            let mut out = Vec::new();
            for (i, group) in groups.iter().enumerate() {
                if i > 0 && !json {
                    outln!();
                }
                out.push(describe(cluster, group, json).await?);
            }
            if json {
                outln!("{}", Json::Arr(out));
            }
            Ok(())
        }
        GroupsAction::Delete { groups } => delete(cluster, &groups, json).await,
        GroupsAction::ResetOffsets {
            group,
            topics,
            all_topics,
            to_earliest,
            to_latest,
            to_datetime,
            to_offset,
            execute,
            ..
        } => {
            let target = if to_earliest {
                Target::Earliest
            } else if to_latest {
                Target::Latest
            } else if let Some(text) = to_datetime {
                Target::Time(parse_datetime(&text)?)
            } else if let Some(offset) = to_offset {
                Target::Offset(offset)
            } else {
                return Err(CliError::new(
                    "choose one of --to-earliest, --to-latest, --to-datetime, --to-offset",
                ));
            };
            reset_offsets(cluster, &group, &topics, all_topics, target, execute, json).await
        }
    }
}

async fn list(cluster: &mut Cluster, json: bool) -> Result<(), CliError> {
    cluster.metadata(Some(&[])).await?;
    let mut groups: BTreeMap<String, (String, String, String)> = BTreeMap::new();
    // Each broker lists only the groups it coordinates, so ask them all.
    for id in cluster.node_ids() {
        let conn = cluster.node(id).await?;
        let version = conn.version(ApiKey::ListGroups, 5)?;
        let response = expect_response!(
            conn.send(
                version,
                RequestBody::ListGroups(ListGroupsRequest::default())
            )
            .await?,
            ListGroups
        );
        if response.error_code != 0 {
            return Err(CliError::kafka(
                &format!("listing groups on broker {id}"),
                response.error_code,
                None,
            ));
        }
        for g in response.groups {
            groups.insert(g.group_id, (g.group_state, g.group_type, g.protocol_type));
        }
    }
    if json {
        let items: Vec<Json> = groups
            .iter()
            .map(|(id, (state, kind, protocol))| {
                Json::obj([
                    ("group", Json::from(id.as_str())),
                    ("state", Json::from(state.as_str())),
                    ("type", Json::from(kind.as_str())),
                    ("protocol_type", Json::from(protocol.as_str())),
                ])
            })
            .collect();
        outln!("{}", Json::Arr(items));
    } else {
        let mut table = Table::new(&["GROUP", "STATE", "TYPE", "PROTOCOL-TYPE"]);
        for (id, (state, kind, protocol)) in &groups {
            table.row(vec![
                id.clone(),
                dash_if_empty(state),
                dash_if_empty(kind),
                dash_if_empty(protocol),
            ]);
        }
        out!("{}", table.render());
    }
    Ok(())
}

fn dash_if_empty(s: &str) -> String {
    if s.is_empty() {
        "-".into()
    } else {
        s.to_string()
    }
}

/// One member and the partitions assigned to it.
struct Member {
    id: String,
    instance: Option<String>,
    client_id: String,
    host: String,
    assignment: Vec<(String, i32)>,
}

/// Decodes a consumer-protocol assignment; other protocols (Connect, custom)
/// or undecodable bytes give no partitions rather than an error.
fn assignment(group: &DescribedGroup, bytes: &bytes::Bytes) -> Vec<(String, i32)> {
    if group.protocol_type != "consumer" || bytes.len() < 2 {
        return Vec::new();
    }
    let mut buf = bytes.clone();
    let version = i16::from_be_bytes([bytes[0], bytes[1]]);
    let _ = crate::protocol::wire::read_i16(&mut buf);
    // Newer assignment versions only add fields at the end; read them as v3.
    let Ok(decoded) = ConsumerProtocolAssignment::decode(&mut buf, version.clamp(0, 3)) else {
        return Vec::new();
    };
    decoded
        .assigned_partitions
        .iter()
        .flat_map(|t| t.partitions.iter().map(move |p| (t.topic.clone(), *p)))
        .collect()
}

/// One partition line of `groups describe`.
struct Row<'a> {
    topic: String,
    partition: i32,
    current: Option<i64>,
    end: Option<i64>,
    lag: Option<i64>,
    member: Option<&'a Member>,
}

async fn describe(cluster: &mut Cluster, group: &str, json: bool) -> Result<Json, CliError> {
    let coordinator = group_api::coordinator(cluster, group).await?;
    let described = group_api::describe(cluster, coordinator, &[group.to_string()]).await?;
    let info = described
        .into_iter()
        .find(|g| g.group_id == group)
        .ok_or_else(|| CliError::new(format!("DescribeGroups: no answer for group '{group}'")))?;
    if info.error_code != 0 {
        return Err(CliError::kafka(
            &format!("describing group '{group}'"),
            info.error_code,
            None,
        ));
    }
    let members: Vec<Member> = info
        .members
        .iter()
        .map(|m| Member {
            id: m.member_id.clone(),
            instance: m.group_instance_id.clone(),
            client_id: m.client_id.clone(),
            host: m.client_host.clone(),
            assignment: assignment(&info, &m.member_assignment),
        })
        .collect();
    let committed = group_api::committed(cluster, coordinator, group, None).await?;
    let mut owner: BTreeMap<(String, i32), usize> = BTreeMap::new();
    for (i, m) in members.iter().enumerate() {
        for tp in &m.assignment {
            owner.insert(tp.clone(), i);
        }
    }
    let partitions: BTreeSet<(String, i32)> =
        committed.keys().chain(owner.keys()).cloned().collect();
    let topics: Vec<String> = partitions
        .iter()
        .map(|(t, _)| t.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let log_end = if topics.is_empty() {
        BTreeMap::new()
    } else {
        let layouts = meta::layouts(cluster, Some(&topics)).await?;
        let leaders = meta::leaders(&layouts);
        let list: Vec<(String, i32)> = partitions.iter().cloned().collect();
        meta::list_offsets(cluster, &leaders, &list, LATEST).await?
    };
    let rows: Vec<Row> = partitions
        .iter()
        .map(|tp| {
            let current = committed.get(tp).copied();
            let end = log_end.get(tp).and_then(|r| r.as_ref().ok().copied());
            let lag = match (current, end) {
                (Some(c), Some(e)) => Some((e - c).max(0)),
                _ => None,
            };
            Row {
                topic: tp.0.clone(),
                partition: tp.1,
                current,
                end,
                lag,
                member: owner.get(tp).map(|&i| &members[i]),
            }
        })
        .collect();
    if json {
        let members_json: Vec<Json> = members
            .iter()
            .map(|m| {
                Json::obj([
                    ("member_id", Json::from(m.id.as_str())),
                    ("group_instance_id", Json::from(m.instance.clone())),
                    ("client_id", Json::from(m.client_id.as_str())),
                    ("host", Json::from(m.host.as_str())),
                    (
                        "assignment",
                        Json::Arr(
                            m.assignment
                                .iter()
                                .map(|(t, p)| {
                                    Json::obj([
                                        ("topic", Json::from(t.as_str())),
                                        ("partition", Json::from(*p)),
                                    ])
                                })
                                .collect(),
                        ),
                    ),
                ])
            })
            .collect();
        let offsets_json: Vec<Json> = rows
            .iter()
            .map(
                |Row {
                     topic: t,
                     partition: p,
                     current,
                     end,
                     lag,
                     member,
                 }| {
                    Json::obj([
                        ("topic", Json::from(t.as_str())),
                        ("partition", Json::from(*p)),
                        ("committed_offset", Json::from(*current)),
                        ("log_end_offset", Json::from(*end)),
                        ("lag", Json::from(*lag)),
                        ("member_id", Json::from(member.map(|m| m.id.clone()))),
                    ])
                },
            )
            .collect();
        return Ok(Json::obj([
            ("group", Json::from(group)),
            ("state", Json::from(info.group_state.as_str())),
            ("protocol_type", Json::from(info.protocol_type.as_str())),
            ("protocol", Json::from(info.protocol_data.as_str())),
            ("members", Json::Arr(members_json)),
            ("offsets", Json::Arr(offsets_json)),
        ]));
    }
    outln!(
        "Group {group}: state {}, protocol {}, {} member(s), coordinator {coordinator}",
        dash_if_empty(&info.group_state),
        dash_if_empty(&info.protocol_data),
        members.len()
    );
    if !members.is_empty() {
        let mut table = Table::new(&[
            "MEMBER-ID",
            "INSTANCE-ID",
            "CLIENT-ID",
            "HOST",
            "ASSIGNMENT",
        ]);
        for m in &members {
            let assigned: Vec<String> = m
                .assignment
                .iter()
                .map(|(t, p)| format!("{t}-{p}"))
                .collect();
            table.row(vec![
                m.id.clone(),
                m.instance.clone().unwrap_or_else(|| "-".into()),
                m.client_id.clone(),
                m.host.clone(),
                if assigned.is_empty() {
                    "-".into()
                } else {
                    assigned.join(",")
                },
            ]);
        }
        out!("{}", table.render());
        outln!();
    }
    let mut table = Table::new(&[
        "TOPIC",
        "PARTITION",
        "CURRENT-OFFSET",
        "LOG-END-OFFSET",
        "LAG",
        "CONSUMER-ID",
    ]);
    for Row {
        topic: t,
        partition: p,
        current,
        end,
        lag,
        member,
    } in &rows
    {
        table.row(vec![
            t.clone(),
            p.to_string(),
            or_dash(*current),
            or_dash(*end),
            or_dash(*lag),
            member.map_or_else(|| "-".into(), |m| m.id.clone()),
        ]);
    }
    if table.is_empty() {
        outln!("(no committed offsets and no assigned partitions)");
    } else {
        out!("{}", table.render());
    }
    Ok(Json::Null)
}

async fn delete(cluster: &mut Cluster, groups: &[String], json: bool) -> Result<(), CliError> {
    let mut failures = Vec::new();
    let mut results = Vec::new();
    for group in groups {
        let coordinator = group_api::coordinator(cluster, group).await?;
        let conn = cluster.node(coordinator).await?;
        let version = conn.version(ApiKey::DeleteGroups, 2)?;
        let request = DeleteGroupsRequest {
            groups_names: vec![group.clone()],
        };
        let response = expect_response!(
            conn.send(version, RequestBody::DeleteGroups(request))
                .await?,
            DeleteGroups
        );
        let error = match response.results.iter().find(|r| &r.group_id == group) {
            None => Some("no result".to_string()),
            Some(r) if r.error_code != 0 => Some(describe_error(r.error_code, None)),
            Some(_) => None,
        };
        match &error {
            Some(e) => failures.push(format!("deleting group '{group}': {e}")),
            None if !json => outln!("Deleted group {group}."),
            None => {}
        }
        results.push(Json::obj([
            ("group", Json::from(group.as_str())),
            ("error", Json::from(error)),
        ]));
    }
    if json {
        outln!("{}", Json::Arr(results));
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(CliError::new(failures.join("\n")))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Earliest,
    Latest,
    Time(i64),
    Offset(i64),
}

/// Parses `TOPIC` or `TOPIC:P1,P2`.
fn parse_topic_spec(spec: &str) -> Result<(String, Option<Vec<i32>>), CliError> {
    match spec.split_once(':') {
        None => Ok((spec.to_string(), None)),
        Some((topic, parts)) => {
            let partitions = parts
                .split(',')
                .map(|p| {
                    p.trim()
                        .parse::<i32>()
                        .map_err(|e| CliError::new(format!("--topic {spec}: partition '{p}': {e}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok((topic.to_string(), Some(partitions)))
        }
    }
}

async fn reset_offsets(
    cluster: &mut Cluster,
    group: &str,
    topic_specs: &[String],
    all_topics: bool,
    target: Target,
    execute: bool,
    json: bool,
) -> Result<(), CliError> {
    let coordinator = group_api::coordinator(cluster, group).await?;
    let described = group_api::describe(cluster, coordinator, &[group.to_string()]).await?;
    let state = described
        .iter()
        .find(|g| g.group_id == group)
        .map(|g| g.group_state.clone())
        .unwrap_or_default();
    // As Kafka's tool: offsets of a group with live members would be
    // overwritten by their next commit, so only inactive groups are reset.
    if !matches!(state.as_str(), "Empty" | "Dead" | "") {
        return Err(CliError::new(format!(
            "assignments can only be reset if the group '{group}' is inactive, but the current state is {state}"
        )));
    }
    let mut wanted: Vec<(String, Option<Vec<i32>>)> = Vec::new();
    if all_topics {
        let committed = group_api::committed(cluster, coordinator, group, None).await?;
        let topics: BTreeSet<String> = committed.keys().map(|(t, _)| t.clone()).collect();
        wanted.extend(topics.into_iter().map(|t| (t, None)));
    }
    for spec in topic_specs {
        wanted.push(parse_topic_spec(spec)?);
    }
    if wanted.is_empty() {
        return Err(CliError::new(format!(
            "group '{group}' has no committed offsets to reset"
        )));
    }
    let names: Vec<String> = wanted
        .iter()
        .map(|(t, _)| t.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let layouts = meta::layouts(cluster, Some(&names)).await?;
    let leaders = meta::leaders(&layouts);
    let mut partitions = BTreeSet::new();
    for (topic, parts) in &wanted {
        let layout = layouts
            .iter()
            .find(|l| &l.name == topic)
            .ok_or_else(|| CliError::new(format!("topic '{topic}' not found")))?;
        match parts {
            None => partitions.extend(
                layout
                    .partitions
                    .iter()
                    .map(|p| (topic.clone(), p.partition)),
            ),
            Some(list) => {
                for p in list {
                    if !layout.partitions.iter().any(|lp| lp.partition == *p) {
                        return Err(CliError::new(format!(
                            "topic '{topic}' has no partition {p}"
                        )));
                    }
                    partitions.insert((topic.clone(), *p));
                }
            }
        }
    }
    let partitions: Vec<(String, i32)> = partitions.into_iter().collect();
    let offset_of = |map: &BTreeMap<(String, i32), Result<i64, String>>,
                     tp: &(String, i32)|
     -> Result<i64, CliError> {
        match map.get(tp) {
            Some(Ok(o)) => Ok(*o),
            Some(Err(e)) => Err(CliError::new(format!("offset of {}-{}: {e}", tp.0, tp.1))),
            None => Err(CliError::new(format!(
                "offset of {}-{}: no answer",
                tp.0, tp.1
            ))),
        }
    };
    let earliest = meta::list_offsets(cluster, &leaders, &partitions, EARLIEST).await?;
    let latest = meta::list_offsets(cluster, &leaders, &partitions, LATEST).await?;
    let by_time = match target {
        Target::Time(ms) => Some(meta::list_offsets(cluster, &leaders, &partitions, ms).await?),
        _ => None,
    };
    let mut new_offsets = Offsets::new();
    for tp in &partitions {
        let low = offset_of(&earliest, tp)?;
        let high = offset_of(&latest, tp)?;
        let offset = match target {
            Target::Earliest => low,
            Target::Latest => high,
            // No record at or after the time: the end of the log, as Kafka does.
            Target::Time(_) => match by_time.as_ref().map(|m| offset_of(m, tp)).transpose()? {
                Some(o) if o >= 0 => o,
                _ => high,
            },
            Target::Offset(o) => o.clamp(low, high),
        };
        new_offsets.insert(tp.clone(), offset);
    }
    if execute {
        group_api::commit(cluster, coordinator, group, &new_offsets).await?;
    }
    if json {
        let items: Vec<Json> = new_offsets
            .iter()
            .map(|((t, p), o)| {
                Json::obj([
                    ("topic", Json::from(t.as_str())),
                    ("partition", Json::from(*p)),
                    ("new_offset", Json::from(*o)),
                ])
            })
            .collect();
        outln!(
            "{}",
            Json::obj([
                ("group", Json::from(group)),
                ("executed", Json::from(execute)),
                ("offsets", Json::Arr(items))
            ])
        );
    } else {
        let mut table = Table::new(&["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"]);
        for ((t, p), o) in &new_offsets {
            table.row(vec![
                group.to_string(),
                t.clone(),
                p.to_string(),
                o.to_string(),
            ]);
        }
        out!("{}", table.render());
        if !execute {
            eprintln!("(dry run: nothing committed; add --execute to commit these offsets)");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_specs_parse() {
        assert_eq!(parse_topic_spec("t").unwrap(), ("t".to_string(), None));
        assert_eq!(
            parse_topic_spec("t:0,2").unwrap(),
            ("t".to_string(), Some(vec![0, 2]))
        );
        assert!(parse_topic_spec("t:x").is_err());
    }
}
