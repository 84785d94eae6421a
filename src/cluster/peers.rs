//! Requests from this broker to another, on the inter-broker listener, for
//! the coordinators: transaction markers to partition leaders, and KIP-890
//! verifications from partition leaders to transaction coordinators. Idle
//! connections are kept per address and reused, so neither costs a TCP
//! handshake and an ApiVersions exchange per request.

use crate::broker::Broker;
use crate::cli::client::Connection;
use crate::protocol::messages::{ApiKey, RequestBody, ResponseBody};
use std::collections::HashMap;
use std::ops::RangeInclusive;
use std::sync::Mutex;
use std::time::Duration;

/// How long a peer gets to connect, and to answer each request.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Idle connections kept per peer address.
const MAX_IDLE: usize = 4;

#[derive(Debug)]
pub enum PeerError {
    /// The image names no endpoint of the broker on the inter-broker listener.
    NoEndpoint(i32),
    /// The peer does not serve the API at a version this broker speaks.
    Unsupported(ApiKey),
    /// Connecting, sending or reading failed, or the answer did not decode.
    Transport(String),
}

impl std::fmt::Display for PeerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PeerError::NoEndpoint(node) => {
                write!(
                    f,
                    "broker {node} has no inter-broker endpoint in the metadata"
                )
            }
            PeerError::Unsupported(api) => write!(f, "{} is not served", api.name()),
            PeerError::Transport(why) => f.write_str(why),
        }
    }
}

#[derive(Default)]
pub struct Peers {
    idle: Mutex<HashMap<String, Vec<Connection>>>,
}

impl Peers {
    /// Sends `body` to broker `node` at the highest of `versions` both
    /// speak and returns the answer. A kept connection that fails is
    /// replaced by a new one once: the peer may have restarted.
    pub async fn send(
        &self,
        broker: &Broker,
        node: i32,
        versions: RangeInclusive<i16>,
        body: RequestBody,
    ) -> Result<ResponseBody, PeerError> {
        let addr = address_of(broker, node)?;
        if let Some(conn) = self.take(&addr) {
            match self.send_on(conn, &addr, &versions, body.clone()).await {
                Err(PeerError::Transport(_)) => {}
                done => return done,
            }
        }
        let conn = Connection::connect(&addr, TIMEOUT)
            .await
            .map_err(|e| PeerError::Transport(e.to_string()))?;
        self.send_on(conn, &addr, &versions, body).await
    }

    async fn send_on(
        &self,
        mut conn: Connection,
        addr: &str,
        versions: &RangeInclusive<i16>,
        body: RequestBody,
    ) -> Result<ResponseBody, PeerError> {
        let api = body.api_key();
        let version = conn
            .try_version(api, *versions.end())
            .filter(|v| versions.contains(v));
        let Some(version) = version else {
            self.put_back(addr, conn);
            return Err(PeerError::Unsupported(api));
        };
        let answer = conn
            .send(version, body)
            .await
            .map_err(|e| PeerError::Transport(e.to_string()))?;
        if answer.api_key() != api {
            return Err(PeerError::Transport(format!(
                "{addr}: a {} answer to {}",
                answer.api_key().name(),
                api.name()
            )));
        }
        self.put_back(addr, conn);
        Ok(answer)
    }

    fn take(&self, addr: &str) -> Option<Connection> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        idle.get_mut(addr).and_then(Vec::pop)
    }

    fn put_back(&self, addr: &str, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let kept = idle.entry(addr.to_string()).or_default();
        if kept.len() < MAX_IDLE {
            kept.push(conn);
        }
    }
}

/// `node`'s `host:port` on the inter-broker listener, as the image has it.
fn address_of(broker: &Broker, node: i32) -> Result<String, PeerError> {
    let listener = broker
        .config
        .cluster
        .inter_broker_listener()
        .map(|l| l.name.clone())
        .unwrap_or_default();
    let image = broker.image();
    let endpoint = image
        .brokers
        .get(&node)
        .and_then(|b| b.endpoint(&listener))
        .ok_or(PeerError::NoEndpoint(node))?;
    Ok(format!("{}:{}", endpoint.host, endpoint.port))
}
