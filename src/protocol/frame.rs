//! Request and response framing: the 4-byte size prefix, the header version
//! chosen per API key and version, and the body.

use super::messages::{ApiKey, RequestBody, RequestHeader, ResponseBody, ResponseHeader};
use super::wire::{read_i16, Decode, DecodeError, Encode, EncodeError};
use bytes::{BufMut, Bytes, BytesMut};

/// A decoded request: the header, the API it targets, and the body.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub api_key: ApiKey,
    pub header: RequestHeader,
    pub body: RequestBody,
}

/// The first four bytes of every request header are the same in all header
/// versions: API key and API version. Reading them first lets the broker
/// answer an unknown key or version without decoding anything else.
pub fn peek_api(frame: &Bytes) -> Result<(i16, i16), DecodeError> {
    let mut prefix = frame.slice(..frame.len().min(4));
    Ok((read_i16(&mut prefix)?, read_i16(&mut prefix)?))
}

/// Decodes the header of a request frame (without the size prefix), leaving
/// `frame` at the start of the body.
pub fn decode_request_header(frame: &mut Bytes) -> Result<(ApiKey, RequestHeader), DecodeError> {
    let (key, version) = peek_api(frame)?;
    let api_key = ApiKey::from_i16(key).ok_or(DecodeError::UnknownApiKey(key))?;
    let header = RequestHeader::decode(frame, api_key.request_header_version(version))?;
    Ok((api_key, header))
}

/// Decodes a whole request frame (without the size prefix). Trailing bytes
/// after the body are tolerated, as Kafka does, so newer clients that append
/// fields we ignore still work.
pub fn decode_request(mut frame: Bytes) -> Result<Request, DecodeError> {
    let (api_key, header) = decode_request_header(&mut frame)?;
    let body = RequestBody::decode(api_key, &mut frame, header.request_api_version)?;
    Ok(Request {
        api_key,
        header,
        body,
    })
}

/// A size-prefixed frame of `header` then `body`, in one buffer allocated
/// at its final size.
fn encode_frame(
    header: &impl Encode,
    header_version: i16,
    body: &impl Encode,
    version: i16,
) -> Result<BytesMut, EncodeError> {
    let size = header.encoded_size(header_version) + body.encoded_size(version);
    let size_prefix = i32::try_from(size).map_err(|_| EncodeError::TooLong {
        field: "frame",
        len: size,
    })?;
    let mut buf = BytesMut::with_capacity(4 + size);
    buf.put_i32(size_prefix);
    header.encode(&mut buf, header_version)?;
    body.encode(&mut buf, version)?;
    debug_assert_eq!(buf.len(), 4 + size, "encoded_size disagrees with encode");
    Ok(buf)
}

/// Encodes a complete response frame, size prefix included.
pub fn encode_response(
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &ResponseBody,
) -> Result<BytesMut, EncodeError> {
    encode_frame(
        &ResponseHeader { correlation_id },
        api_key.response_header_version(version),
        body,
        version,
    )
}

/// Encodes a complete request frame, size prefix included (for our own tools and tests).
pub fn encode_request(header: &RequestHeader, body: &RequestBody) -> Result<BytesMut, EncodeError> {
    let version = header.request_api_version;
    encode_frame(
        header,
        body.api_key().request_header_version(version),
        body,
        version,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::messages::ApiVersionsRequest;

    /// The frame that aborts `kafka-protocol` 0.18: DescribeClientQuotas v0
    /// claiming 704,643,072 components.
    const HOSTILE_DESCRIBE_CLIENT_QUOTAS: [u8; 14] = [
        0x00, 0x30, 0x00, 0x00, 0x00, 0x00, 0x2f, 0x00, 0x00, 0x00, 0x2a, 0x00, 0x00, 0x00,
    ];

    #[test]
    fn hostile_array_count_is_a_typed_error() {
        let result = decode_request(Bytes::from_static(&HOSTILE_DESCRIBE_CLIENT_QUOTAS));
        assert!(
            matches!(
                result,
                Err(DecodeError::LengthExceedsFrame {
                    claimed: 704_643_072,
                    ..
                })
            ),
            "{result:?}"
        );
    }

    #[test]
    fn one_byte_header_is_a_typed_error() {
        for len in 0..8 {
            let frame = Bytes::copy_from_slice(&HOSTILE_DESCRIBE_CLIENT_QUOTAS[..len]);
            assert!(decode_request(frame).is_err(), "prefix of {len} bytes");
        }
        assert!(matches!(
            decode_request_header(&mut Bytes::from_static(&[0x00])),
            Err(DecodeError::Truncated { .. })
        ));
    }

    #[test]
    fn unknown_api_key_is_reported() {
        let frame = Bytes::from_static(&[0x7f, 0x00, 0x00, 0x00, 0, 0, 0, 1, 0, 0]);
        assert_eq!(
            decode_request(frame),
            Err(DecodeError::UnknownApiKey(0x7f00))
        );
    }

    #[test]
    fn flexible_request_round_trips_through_frames() {
        let header = RequestHeader {
            request_api_key: ApiKey::ApiVersions as i16,
            request_api_version: 3,
            correlation_id: 7,
            client_id: Some("odradek-test".into()),
        };
        let body = RequestBody::ApiVersions(ApiVersionsRequest {
            client_software_name: "odradek".into(),
            client_software_version: "0.1".into(),
            ..ApiVersionsRequest::default()
        });
        let frame = encode_request(&header, &body).unwrap().freeze();
        assert_eq!(
            i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize,
            frame.len() - 4
        );
        let decoded = decode_request(frame.slice(4..)).unwrap();
        assert_eq!(decoded.header, header);
        assert_eq!(decoded.body, body);
    }

    #[test]
    fn api_versions_responses_always_use_header_v0() {
        assert_eq!(ApiKey::ApiVersions.response_header_version(4), 0);
        assert_eq!(ApiKey::Metadata.response_header_version(9), 1);
        assert_eq!(ApiKey::Metadata.response_header_version(8), 0);
        assert_eq!(ApiKey::Metadata.request_header_version(9), 2);
    }
}
