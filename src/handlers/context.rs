//! Who sent a request, and where: what handlers need beyond the request
//! body. The listener decides which endpoints Metadata advertises; the
//! client id and host show up in group descriptions; the principal is what
//! authorisation will check.

use std::net::SocketAddr;
use std::sync::Arc;

#[derive(Clone, Debug)]
pub struct RequestContext {
    /// The name of the listener the connection arrived on (`PLAINTEXT`, ...).
    pub listener: Arc<str>,
    pub peer: Option<SocketAddr>,
    pub client_id: Option<String>,
    /// Kafka's form, `User:NAME`; `User:ANONYMOUS` before authentication exists.
    pub principal: Arc<str>,
    pub api_version: i16,
}

impl RequestContext {
    /// The connection's side of a context, before any request header is read.
    pub fn connection(listener: Arc<str>, peer: Option<SocketAddr>) -> RequestContext {
        RequestContext {
            listener,
            peer,
            client_id: None,
            principal: Arc::from("User:ANONYMOUS"),
            api_version: 0,
        }
    }

    /// The peer's address as group descriptions show it (`/127.0.0.1`, as Kafka).
    pub fn client_host(&self) -> String {
        self.peer
            .map(|p| format!("/{}", p.ip()))
            .unwrap_or_default()
    }

    #[cfg(test)]
    pub fn for_tests(api_version: i16) -> RequestContext {
        RequestContext {
            api_version,
            client_id: Some("cli".into()),
            ..RequestContext::connection(Arc::from("PLAINTEXT"), None)
        }
    }
}
