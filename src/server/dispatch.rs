//! From a request frame to a response frame: version checks, decoding,
//! the handler, and encoding with the right header version.

use crate::broker::Broker;
use crate::handlers::{self, api_versions};
use crate::protocol::frame::{decode_request_header, encode_response, peek_api};
use crate::protocol::messages::{ApiKey, RequestBody, ResponseBody};
use crate::protocol::wire::{DecodeError, EncodeError};
use bytes::{Bytes, BytesMut};
use std::fmt;

/// Why a connection must be closed. Kafka closes the connection for a
/// request it cannot parse or a version it does not support (except
/// ApiVersions, which is answered).
#[derive(Debug)]
pub enum DispatchError {
    Decode(DecodeError),
    UnsupportedApi { api_key: i16, version: i16 },
    Unhandled(ApiKey),
    Encode(EncodeError),
}

impl fmt::Display for DispatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DispatchError::Decode(e) => write!(f, "undecodable request: {e}"),
            DispatchError::UnsupportedApi { api_key, version } => {
                write!(f, "unsupported API key {api_key} version {version}")
            }
            DispatchError::Unhandled(key) => write!(f, "no handler for {key:?}"),
            DispatchError::Encode(e) => write!(f, "response could not be encoded: {e}"),
        }
    }
}

impl std::error::Error for DispatchError {}

/// The correlation id sits at bytes 4..8 in every request header version.
fn correlation_id(frame: &Bytes) -> Option<i32> {
    let bytes: [u8; 4] = frame.get(4..8)?.try_into().ok()?;
    Some(i32::from_be_bytes(bytes))
}

/// Handles one request frame (size prefix removed). `Ok(None)`: no response
/// is owed (acks=0 produce).
pub async fn dispatch(
    broker: &Broker,
    connection: &handlers::RequestContext,
    mut frame: Bytes,
) -> Result<Option<BytesMut>, DispatchError> {
    let (key, version) = peek_api(&frame).map_err(DispatchError::Decode)?;
    let api_key = ApiKey::from_i16(key);
    if !api_key.is_some_and(|api| handlers::is_implemented(api, version)) {
        if api_key == Some(ApiKey::ApiVersions) {
            let correlation =
                correlation_id(&frame).ok_or(DispatchError::Decode(DecodeError::Truncated {
                    needed: 8,
                    remaining: frame.len(),
                }))?;
            let body = ResponseBody::ApiVersions(api_versions::unsupported_version_response());
            return encode_response(ApiKey::ApiVersions, 0, correlation, &body)
                .map(Some)
                .map_err(DispatchError::Encode);
        }
        return Err(DispatchError::UnsupportedApi {
            api_key: key,
            version,
        });
    }
    let (api_key, header) = decode_request_header(&mut frame).map_err(DispatchError::Decode)?;
    let body = RequestBody::decode(api_key, &mut frame, version).map_err(DispatchError::Decode)?;
    let ctx = handlers::RequestContext {
        client_id: header.client_id.clone(),
        api_version: version,
        ..connection.clone()
    };
    let response = handlers::handle(broker, &ctx, body)
        .await
        .map_err(|e| DispatchError::Unhandled(e.0))?;
    match response {
        None => Ok(None),
        Some(body) => encode_response(api_key, version, header.correlation_id, &body)
            .map(Some)
            .map_err(DispatchError::Encode),
    }
}
