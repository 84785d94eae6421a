//! ApiVersions (key 18): what the broker implements, from the handler table.

use super::Implemented;
use crate::broker::Broker;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::messages::api_versions_response::ApiVersion;
use crate::protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse, ResponseBody};

pub const IMPLEMENTED: Implemented = Implemented {
    api_key: ApiKey::ApiVersions,
    min: 0,
    max: 5,
};

fn advertised() -> Vec<ApiVersion> {
    super::IMPLEMENTED
        .iter()
        .map(|api| ApiVersion {
            api_key: api.api_key as i16,
            min_version: api.min,
            max_version: api.max,
        })
        .collect()
}

pub fn handle(broker: &Broker, version: i16, request: &ApiVersionsRequest) -> ResponseBody {
    ResponseBody::ApiVersions(ApiVersionsResponse {
        error_code: intended_node(broker, version, request).code(),
        api_keys: advertised(),
        ..ApiVersionsResponse::default()
    })
}

/// v5 (KIP-1242): a client that names the cluster and node it means to
/// reach hears REBOOTSTRAP_REQUIRED when this broker is not that node (its
/// address now belongs to another cluster or broker).
fn intended_node(broker: &Broker, version: i16, request: &ApiVersionsRequest) -> ErrorCode {
    if version < 5 {
        return ErrorCode::None;
    }
    let other_cluster = request
        .cluster_id
        .as_deref()
        .is_some_and(|id| id != broker.cluster_id());
    let other_node = request.node_id >= 0 && request.node_id != broker.config.node_id;
    if other_cluster || other_node {
        ErrorCode::RebootstrapRequired
    } else {
        ErrorCode::None
    }
}

/// The answer to an ApiVersions request of a version newer than ours: encoded
/// as v0, with UNSUPPORTED_VERSION and our ranges, so the client can retry
/// with a version we speak (Java and kafka-python rely on this).
pub fn unsupported_version_response() -> ApiVersionsResponse {
    ApiVersionsResponse {
        error_code: ErrorCode::UnsupportedVersion.code(),
        api_keys: advertised(),
        ..ApiVersionsResponse::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(broker: &Broker, version: i16, cluster: Option<&str>, node: i32) -> i16 {
        let request = ApiVersionsRequest {
            cluster_id: cluster.map(String::from),
            node_id: node,
            ..ApiVersionsRequest::default()
        };
        let ResponseBody::ApiVersions(response) = handle(broker, version, &request) else {
            panic!()
        };
        response.error_code
    }

    #[test]
    fn v5_checks_the_cluster_and_node_the_client_means() {
        let broker = Broker::for_tests();
        let id = broker.cluster_id();
        let node = broker.config.node_id;
        assert_eq!(ask(&broker, 5, None, -1), 0);
        assert_eq!(ask(&broker, 5, Some(&id), node), 0);
        let rebootstrap = ErrorCode::RebootstrapRequired.code();
        assert_eq!(ask(&broker, 5, Some("another-cluster"), node), rebootstrap);
        assert_eq!(ask(&broker, 5, Some(&id), node + 1), rebootstrap);
        assert_eq!(ask(&broker, 4, Some("ignored-before-v5"), -1), 0);
    }
}
