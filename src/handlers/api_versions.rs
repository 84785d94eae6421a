//! ApiVersions (key 18): what the broker implements, from the handler table.

use super::Implemented;
use crate::broker::Broker;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::messages::api_versions_response::ApiVersion;
use crate::protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse, ResponseBody};

pub const IMPLEMENTED: Implemented = Implemented {
    api_key: ApiKey::ApiVersions,
    min: 0,
    max: 4,
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

pub fn handle(_broker: &Broker, _version: i16, _request: &ApiVersionsRequest) -> ResponseBody {
    ResponseBody::ApiVersions(ApiVersionsResponse {
        api_keys: advertised(),
        ..ApiVersionsResponse::default()
    })
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
