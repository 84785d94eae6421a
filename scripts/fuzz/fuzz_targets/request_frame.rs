//! Frame → header → request body. Any input must decode or fail with a typed
//! error; whatever decodes must re-encode to bytes that decode and re-encode
//! to the very same bytes. (Bytes, not values, are compared: a float64 field
//! may hold NaN, which never equals itself.)
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use odradek::protocol::frame::decode_request;
use odradek::protocol::messages::RequestBody;
use odradek::protocol::wire::Encode;

fn encode(body: &RequestBody, version: i16) -> BytesMut {
    let mut buf = BytesMut::with_capacity(body.encoded_size(version));
    body.encode(&mut buf, version).expect("a decoded body re-encodes");
    assert_eq!(buf.len(), body.encoded_size(version), "size disagrees with encode");
    buf
}

fuzz_target!(|data: &[u8]| {
    let Ok(request) = decode_request(Bytes::copy_from_slice(data)) else { return };
    let version = request.header.request_api_version;
    let first = encode(&request.body, version);
    let again = RequestBody::decode(request.api_key, &mut first.clone().freeze(), version).expect("re-encoded body decodes");
    assert_eq!(encode(&again, version), first, "encode(decode(encode(x))) != encode(x)");
});
