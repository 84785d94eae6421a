//! A small Kafka client for the admin commands: one TCP connection per
//! broker, ApiVersions negotiation, and request/response framing with the
//! project's own codec. Every read is bounded and every reply is checked
//! (correlation id, API) so a misbehaving server gives an error, not a panic.

use super::errors::CliError;
use crate::protocol::frame::encode_request;
use crate::protocol::messages::metadata_request::MetadataRequestTopic;
use crate::protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, MetadataResponse,
    RequestBody, RequestHeader, ResponseBody, ResponseHeader,
};
use crate::protocol::wire::Decode;
use bytes::{Bytes, BytesMut};
use std::collections::HashMap;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest response frame accepted: Fetch answers are capped well below this
/// by the max_bytes we ask for, so anything larger is a broken server.
const MAX_RESPONSE_BYTES: usize = 256 * 1024 * 1024;
const CLIENT_ID: &str = "odradek-cli";
/// The ApiVersions version tried first (flexible, carries the client name).
const API_VERSIONS_FIRST: i16 = 3;
const UNSUPPORTED_VERSION: i16 = 35;

/// One connection to one broker, with the versions it advertised.
pub struct Connection {
    stream: TcpStream,
    addr: String,
    versions: HashMap<i16, (i16, i16)>,
    next_correlation: i32,
    timeout: Duration,
}

impl Connection {
    /// Connects and negotiates API versions.
    pub async fn connect(addr: &str, timeout: Duration) -> Result<Connection, CliError> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| {
                CliError::new(format!("connecting to {addr}: timed out after {timeout:?}"))
            })?
            .map_err(|e| CliError::new(format!("connecting to {addr}: {e}")))?;
        let _ = stream.set_nodelay(true);
        let mut conn = Connection {
            stream,
            addr: addr.to_string(),
            versions: HashMap::new(),
            next_correlation: 1,
            timeout,
        };
        conn.negotiate().await?;
        Ok(conn)
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// ApiVersions at v3; a broker that does not know v3 answers with
    /// UNSUPPORTED_VERSION and its own range (in a v0 body), and we retry at
    /// the highest version it named.
    async fn negotiate(&mut self) -> Result<(), CliError> {
        let mut version = API_VERSIONS_FIRST;
        for _ in 0..2 {
            let request = RequestBody::ApiVersions(ApiVersionsRequest {
                client_software_name: CLIENT_ID.into(),
                client_software_version: env!("CARGO_PKG_VERSION").into(),
                ..ApiVersionsRequest::default()
            });
            let frame = self
                .round_trip(ApiKey::ApiVersions, version, &request)
                .await?;
            let response = decode_api_versions(frame, version)?;
            if response.error_code == UNSUPPORTED_VERSION {
                let theirs = response
                    .api_keys
                    .iter()
                    .find(|k| k.api_key == ApiKey::ApiVersions as i16);
                match theirs {
                    Some(k) if k.max_version < version => {
                        version = k.max_version.max(0);
                        continue;
                    }
                    _ => {
                        return Err(CliError::new(format!(
                            "{}: ApiVersions v{version} rejected",
                            self.addr
                        )))
                    }
                }
            }
            if response.error_code != 0 {
                return Err(CliError::kafka(
                    &format!("{}: ApiVersions", self.addr),
                    response.error_code,
                    None,
                ));
            }
            self.versions = response
                .api_keys
                .iter()
                .map(|k| (k.api_key, (k.min_version, k.max_version)))
                .collect();
            return Ok(());
        }
        Err(CliError::new(format!(
            "{}: could not agree on an ApiVersions version",
            self.addr
        )))
    }

    /// The highest version of `api` both sides support, capped at `client_max`
    /// (the newest version whose shape this client fills in).
    pub fn version(&self, api: ApiKey, client_max: i16) -> Result<i16, CliError> {
        self.try_version(api, client_max).ok_or_else(|| {
            let theirs = match self.versions.get(&(api as i16)) {
                Some((min, max)) => format!("versions {min}-{max}"),
                None => "no versions".into(),
            };
            CliError::new(format!(
                "the broker at {} does not support {} (it advertises {theirs}; this tool speaks up to v{client_max})",
                self.addr,
                api.name()
            ))
        })
    }

    pub fn try_version(&self, api: ApiKey, client_max: i16) -> Option<i16> {
        let (spec_min, spec_max) = api.spec_versions();
        let (min, max) = *self.versions.get(&(api as i16))?;
        let best = max.min(client_max).min(spec_max);
        (best >= min.max(spec_min)).then_some(best)
    }

    /// Sends one request and decodes its response.
    pub async fn send(
        &mut self,
        version: i16,
        body: RequestBody,
    ) -> Result<ResponseBody, CliError> {
        let api = body.api_key();
        let frame = self.round_trip(api, version, &body).await?;
        decode_body(api, version, frame).map_err(|e| {
            CliError::new(format!(
                "{}: {} v{version} response: {e}",
                self.addr,
                api.name()
            ))
        })
    }

    /// Sends a request that gets no response (Produce with acks=0).
    pub async fn send_oneway(&mut self, version: i16, body: RequestBody) -> Result<(), CliError> {
        let api = body.api_key();
        self.write(api, version, &body).await.map(|_| ())
    }

    async fn write(
        &mut self,
        api: ApiKey,
        version: i16,
        body: &RequestBody,
    ) -> Result<i32, CliError> {
        let correlation_id = self.next_correlation;
        self.next_correlation = self.next_correlation.wrapping_add(1);
        let header = RequestHeader {
            request_api_key: api as i16,
            request_api_version: version,
            correlation_id,
            client_id: Some(CLIENT_ID.into()),
        };
        let frame = encode_request(&header, body)
            .map_err(|e| CliError::new(format!("encoding {} v{version}: {e}", api.name())))?;
        let write = self.stream.write_all(&frame);
        tokio::time::timeout(self.timeout, write)
            .await
            .map_err(|_| {
                CliError::new(format!("{}: sending {}: timed out", self.addr, api.name()))
            })?
            .map_err(|e| CliError::new(format!("{}: sending {}: {e}", self.addr, api.name())))?;
        Ok(correlation_id)
    }

    /// Writes the request and reads its response frame, header stripped.
    async fn round_trip(
        &mut self,
        api: ApiKey,
        version: i16,
        body: &RequestBody,
    ) -> Result<Bytes, CliError> {
        let correlation_id = self.write(api, version, body).await?;
        let addr = self.addr.clone();
        let frame = tokio::time::timeout(self.timeout, read_frame(&mut self.stream))
            .await
            .map_err(|_| {
                CliError::new(format!(
                    "{addr}: no {} response within {:?}",
                    api.name(),
                    self.timeout
                ))
            })?
            .map_err(|e| {
                CliError::new(format!("{addr}: reading the {} response: {e}", api.name()))
            })?;
        let mut frame = frame;
        let header = ResponseHeader::decode(&mut frame, api.response_header_version(version))
            .map_err(|e| CliError::new(format!("{addr}: {} response header: {e}", api.name())))?;
        if header.correlation_id != correlation_id {
            return Err(CliError::new(format!(
                "{addr}: {} response carries correlation id {} (expected {correlation_id})",
                api.name(),
                header.correlation_id
            )));
        }
        Ok(frame)
    }
}

async fn read_frame(stream: &mut TcpStream) -> Result<Bytes, String> {
    let mut size = [0u8; 4];
    stream
        .read_exact(&mut size)
        .await
        .map_err(|e| e.to_string())?;
    let size = i32::from_be_bytes(size);
    let size = usize::try_from(size).map_err(|_| format!("negative frame size {size}"))?;
    if size > MAX_RESPONSE_BYTES {
        return Err(format!(
            "frame of {size} bytes exceeds the {MAX_RESPONSE_BYTES}-byte limit"
        ));
    }
    let mut buf = BytesMut::zeroed(size);
    stream
        .read_exact(&mut buf)
        .await
        .map_err(|e| e.to_string())?;
    Ok(buf.freeze())
}

fn decode_body(
    api: ApiKey,
    version: i16,
    mut frame: Bytes,
) -> Result<ResponseBody, crate::protocol::wire::DecodeError> {
    ResponseBody::decode(api, &mut frame, version)
}

/// An UNSUPPORTED_VERSION answer to ApiVersions is a v0 body whatever the
/// request version, so fall back to v0 when the body does not parse.
fn decode_api_versions(frame: Bytes, version: i16) -> Result<ApiVersionsResponse, CliError> {
    let parsed = ApiVersionsResponse::decode(&mut frame.clone(), version);
    match parsed {
        Ok(response) => Ok(response),
        Err(first) => ApiVersionsResponse::decode(&mut frame.clone(), 0)
            .map_err(|_| CliError::new(format!("ApiVersions v{version} response: {first}"))),
    }
}

/// Unwraps a response body of the expected variant.
macro_rules! expect_response {
    ($body:expr, $variant:ident) => {
        match $body {
            $crate::protocol::messages::ResponseBody::$variant(response) => response,
            other => {
                return Err($crate::cli::errors::CliError::new(format!(
                    "expected a {} response, got {}",
                    stringify!($variant),
                    other.api_key().name()
                )))
            }
        }
    };
}
pub(crate) use expect_response;

/// A broker's address from Metadata.
#[derive(Debug, Clone)]
pub struct Node {
    pub id: i32,
    pub host: String,
    pub port: i32,
}

/// The bootstrap connection plus lazily opened connections to other
/// brokers (partition leaders, group coordinators).
pub struct Cluster {
    pub bootstrap: Connection,
    nodes: HashMap<i32, Node>,
    conns: HashMap<i32, Connection>,
    timeout: Duration,
}

/// Highest Metadata version whose fields this client reads.
const METADATA_MAX: i16 = 12;

impl Cluster {
    /// Connects to the first of `bootstrap`'s comma-separated brokers that
    /// answers, as Kafka's tools take `--bootstrap-server`.
    pub async fn connect(bootstrap: &str, timeout: Duration) -> Result<Cluster, CliError> {
        let mut failure = CliError::new("--bootstrap-server names no broker");
        let mut connected = None;
        for addr in bootstrap
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
        {
            match Connection::connect(addr, timeout).await {
                Ok(conn) => {
                    connected = Some(conn);
                    break;
                }
                Err(e) => failure = e,
            }
        }
        let bootstrap = connected.ok_or(failure)?;
        Ok(Cluster {
            bootstrap,
            nodes: HashMap::new(),
            conns: HashMap::new(),
            timeout,
        })
    }

    /// Metadata for `topics` (all topics when `None`), remembering broker addresses.
    pub async fn metadata(
        &mut self,
        topics: Option<&[String]>,
    ) -> Result<MetadataResponse, CliError> {
        let version = self.bootstrap.version(ApiKey::Metadata, METADATA_MAX)?;
        let topics = match topics {
            Some(names) => Some(
                names
                    .iter()
                    .map(|n| MetadataRequestTopic {
                        name: Some(n.clone()),
                        ..Default::default()
                    })
                    .collect(),
            ),
            // v0 has no null: an empty list means "all topics" there.
            None if version == 0 => Some(Vec::new()),
            None => None,
        };
        let request = MetadataRequest {
            topics,
            allow_auto_topic_creation: false,
            ..Default::default()
        };
        let request = if version < 4 {
            MetadataRequest {
                allow_auto_topic_creation: true,
                ..request
            }
        } else {
            request
        };
        let response = expect_response!(
            self.bootstrap
                .send(version, RequestBody::Metadata(request))
                .await?,
            Metadata
        );
        for broker in &response.brokers {
            self.nodes.insert(
                broker.node_id,
                Node {
                    id: broker.node_id,
                    host: broker.host.clone(),
                    port: broker.port,
                },
            );
        }
        Ok(response)
    }

    pub fn remember(&mut self, node: Node) {
        self.nodes.insert(node.id, node);
    }

    /// The connection to broker `id`, opened on first use.
    pub async fn node(&mut self, id: i32) -> Result<&mut Connection, CliError> {
        if !self.conns.contains_key(&id) {
            let node = self
                .nodes
                .get(&id)
                .ok_or_else(|| CliError::new(format!("no address known for broker {id}")))?;
            let addr = format!("{}:{}", bracket_ipv6(&node.host), node.port);
            let conn = Connection::connect(&addr, self.timeout).await?;
            self.conns.insert(id, conn);
        }
        self.conns
            .get_mut(&id)
            .ok_or_else(|| CliError::new(format!("broker {id}: connection lost")))
    }

    pub fn node_ids(&self) -> Vec<i32> {
        let mut ids: Vec<i32> = self.nodes.keys().copied().collect();
        ids.sort_unstable();
        ids
    }
}

fn bracket_ipv6(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}
