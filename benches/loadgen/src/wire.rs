//! Just enough of a raw Kafka client (on Odradek's codec) to create a topic
//! and to time the first Metadata answer, without librdkafka's own retries
//! and back-off in the measurement.

use bytes::Bytes;
use odradek::protocol::frame::encode_request;
use odradek::protocol::messages::create_topics_request::CreatableTopic;
use odradek::protocol::messages::{
    CreateTopicsRequest, MetadataRequest, RequestBody, RequestHeader, ResponseBody, ResponseHeader,
};
use odradek::protocol::wire::Decode;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

fn call(stream: &mut TcpStream, body: RequestBody, version: i16) -> io::Result<ResponseBody> {
    let api_key = body.api_key();
    let header = RequestHeader {
        request_api_key: api_key as i16,
        request_api_version: version,
        correlation_id: 1,
        client_id: Some("odradek-loadgen".into()),
    };
    let frame = encode_request(&header, &body).map_err(io::Error::other)?;
    stream.write_all(&frame)?;
    let mut size = [0u8; 4];
    stream.read_exact(&mut size)?;
    let size = usize::try_from(i32::from_be_bytes(size)).map_err(io::Error::other)?;
    let mut response = vec![0u8; size];
    stream.read_exact(&mut response)?;
    let mut response = Bytes::from(response);
    ResponseHeader::decode(&mut response, api_key.response_header_version(version))
        .map_err(io::Error::other)?;
    ResponseBody::decode(api_key, &mut response, version).map_err(io::Error::other)
}

/// Connects to the first broker of a bootstrap list.
fn connect(bootstrap: &str) -> io::Result<TcpStream> {
    let first = bootstrap.split(',').next().unwrap_or(bootstrap);
    let stream = TcpStream::connect(first)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// One Metadata v9 round trip; Ok once the broker answers.
pub fn metadata(bootstrap: &str) -> io::Result<()> {
    let mut stream = connect(bootstrap)?;
    match call(
        &mut stream,
        RequestBody::Metadata(MetadataRequest {
            topics: Some(Vec::new()),
            ..MetadataRequest::default()
        }),
        9,
    )? {
        ResponseBody::Metadata(_) => Ok(()),
        other => Err(io::Error::other(format!(
            "unexpected answer {:?}",
            other.api_key()
        ))),
    }
}

/// Creates `topic` (an existing one is fine).
pub fn create_topic(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    replication_factor: i16,
) -> io::Result<()> {
    let mut stream = connect(bootstrap)?;
    let request = CreateTopicsRequest {
        topics: vec![CreatableTopic {
            name: topic.into(),
            num_partitions: partitions,
            replication_factor,
            ..CreatableTopic::default()
        }],
        timeout_ms: 10_000,
        ..CreateTopicsRequest::default()
    };
    match call(&mut stream, RequestBody::CreateTopics(request), 5)? {
        ResponseBody::CreateTopics(response) => match response.topics.first() {
            Some(t) if t.error_code == 0 || t.error_code == 36 => Ok(()),
            Some(t) => Err(io::Error::other(format!(
                "CreateTopics error {} {:?}",
                t.error_code, t.error_message
            ))),
            None => Err(io::Error::other("empty CreateTopics answer")),
        },
        other => Err(io::Error::other(format!(
            "unexpected answer {:?}",
            other.api_key()
        ))),
    }
}
