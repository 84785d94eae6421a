//! The `*_authorized_operations` bit sets of Metadata, DescribeCluster,
//! DescribeGroups and ConsumerGroupDescribe. Without an authorizer Kafka
//! reports every operation a resource type supports as allowed; so does
//! Odradek until ACLs exist.

/// Kafka's `AclOperation` codes; a set is the OR of `1 << code`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum AclOperation {
    Read = 3,
    Write = 4,
    Create = 5,
    Delete = 6,
    Alter = 7,
    Describe = 8,
    ClusterAction = 9,
    DescribeConfigs = 10,
    AlterConfigs = 11,
    IdempotentWrite = 12,
}

const fn set(ops: &[AclOperation]) -> i32 {
    let mut bits = 0;
    let mut i = 0;
    while i < ops.len() {
        bits |= 1 << ops[i] as u8;
        i += 1;
    }
    bits
}

use AclOperation as Op;

/// What a topic supports: READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE,
/// DESCRIBE_CONFIGS, ALTER_CONFIGS.
pub const TOPIC: i32 = set(&[
    Op::Read,
    Op::Write,
    Op::Create,
    Op::Delete,
    Op::Alter,
    Op::Describe,
    Op::DescribeConfigs,
    Op::AlterConfigs,
]);

/// What the cluster supports: CREATE, ALTER, DESCRIBE, CLUSTER_ACTION,
/// DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE.
pub const CLUSTER: i32 = set(&[
    Op::Create,
    Op::Alter,
    Op::Describe,
    Op::ClusterAction,
    Op::DescribeConfigs,
    Op::AlterConfigs,
    Op::IdempotentWrite,
]);

/// What a group supports: READ, DELETE, DESCRIBE.
pub const GROUP: i32 = set(&[Op::Read, Op::Delete, Op::Describe]);

/// The value of an operations field the client did not ask for.
pub const NOT_REQUESTED: i32 = i32::MIN;

/// `ops` when the request asked for them, else Kafka's "not requested" value.
pub fn if_requested(asked: bool, ops: i32) -> i32 {
    if asked {
        ops
    } else {
        NOT_REQUESTED
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_have_kafkas_operation_counts() {
        assert_eq!(TOPIC.count_ones(), 8);
        assert_eq!(CLUSTER.count_ones(), 7);
        assert_eq!(GROUP.count_ones(), 3);
        assert_eq!(GROUP, (1 << 3) | (1 << 6) | (1 << 8));
    }
}
