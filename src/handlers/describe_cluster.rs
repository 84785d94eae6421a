//! DescribeCluster (key 60): this broker, the cluster id and the controller.

use super::{authorized, Implemented};
use crate::broker::Broker;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::messages::describe_cluster_response::DescribeClusterBroker;
use crate::protocol::messages::{
    ApiKey, DescribeClusterRequest, DescribeClusterResponse, ResponseBody,
};

pub const IMPLEMENTED: Implemented = Implemented {
    api_key: ApiKey::DescribeCluster,
    min: 0,
    max: 2,
};

/// Endpoint types (v1): 1 = brokers, 2 = controllers.
const BROKERS: i8 = 1;

pub fn handle(
    broker: &Broker,
    ctx: &super::RequestContext,
    request: DescribeClusterRequest,
) -> ResponseBody {
    let image = broker.image();
    // v2 (KIP-1073) may ask for fenced brokers too.
    let brokers = image
        .brokers
        .values()
        .filter(|b| !b.fenced || request.include_fenced_brokers)
        .filter_map(|b| {
            let endpoint = b.endpoint(&ctx.listener)?;
            Some(DescribeClusterBroker {
                broker_id: b.id,
                host: endpoint.host.clone(),
                port: i32::from(endpoint.port),
                rack: b.rack.clone(),
                is_fenced: b.fenced,
            })
        })
        .collect();
    let mut response = DescribeClusterResponse {
        endpoint_type: request.endpoint_type,
        cluster_id: broker.cluster_id(),
        controller_id: super::metadata::controller_id(broker, &image),
        cluster_authorized_operations: authorized::if_requested(
            request.include_cluster_authorized_operations,
            authorized::CLUSTER,
        ),
        brokers,
        ..DescribeClusterResponse::default()
    };
    if request.endpoint_type != BROKERS {
        response.error_code = ErrorCode::UnsupportedEndpointType.code();
        response.error_message = Some("only broker endpoints are served".into());
        response.brokers.clear();
    }
    ResponseBody::DescribeCluster(response)
}
