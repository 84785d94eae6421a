//! Who sent a request, and where: what handlers need beyond the request
//! body. The listener decides which endpoints Metadata advertises; the
//! client id and host show up in group descriptions; the principal is what
//! authorisation will check.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// A request's place in its connection's order: the connection starts the
/// next request once this one passes its turn on. A request passes it when
/// it first waits (see `server::connection`), or when it ends; a handler
/// whose ordered part spans waits (a produce: every append queued, in
/// request order, before anything is awaited for durability) holds the
/// turn and passes it on itself, so no wait it gains later can let the
/// next request's appends overtake its own.
#[derive(Debug, Default)]
pub struct Turn {
    next: Mutex<Option<oneshot::Sender<()>>>,
    held: AtomicBool,
}

impl Turn {
    pub fn new(next: oneshot::Sender<()>) -> Turn {
        Turn {
            next: Mutex::new(Some(next)),
            held: AtomicBool::new(false),
        }
    }

    /// The handler passes the turn on itself, with [`pass`](Self::pass).
    pub fn hold(&self) {
        self.held.store(true, Ordering::Release);
    }

    /// The next request may start (once is enough; later calls do nothing).
    pub fn pass(&self) {
        let next = self.next.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(next) = next {
            let _ = next.send(());
        }
    }

    /// At the request's first wait: passes the turn unless it is held.
    pub fn pass_unless_held(&self) {
        if !self.held.load(Ordering::Acquire) {
            self.pass();
        }
    }
}

impl Drop for Turn {
    /// A request that ends has passed its turn, held or not.
    fn drop(&mut self) {
        self.pass();
    }
}

#[derive(Clone, Debug)]
pub struct RequestContext {
    /// The name of the listener the connection arrived on (`PLAINTEXT`, ...).
    pub listener: Arc<str>,
    pub peer: Option<SocketAddr>,
    pub client_id: Option<String>,
    /// Kafka's form, `User:NAME`; `User:ANONYMOUS` before authentication exists.
    pub principal: Arc<str>,
    pub api_version: i16,
    /// The request's place in its connection's order (none outside one).
    pub turn: Option<Arc<Turn>>,
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
            turn: None,
        }
    }

    /// Takes over passing this request's turn (see [`Turn`]).
    pub fn hold_turn(&self) {
        if let Some(turn) = &self.turn {
            turn.hold();
        }
    }

    /// Lets the connection's next request start.
    pub fn pass_turn(&self) {
        if let Some(turn) = &self.turn {
            turn.pass();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_turn_passes_at_the_first_wait_unless_held_and_always_at_the_end() {
        let (tx, mut rx) = oneshot::channel();
        let turn = Turn::new(tx);
        turn.pass_unless_held();
        assert!(rx.try_recv().is_ok(), "not held: passed at the first wait");

        let (tx, mut rx) = oneshot::channel();
        let turn = Turn::new(tx);
        turn.hold();
        turn.pass_unless_held();
        assert!(rx.try_recv().is_err(), "held: the handler passes it");
        turn.pass();
        assert!(rx.try_recv().is_ok());

        let (tx, mut rx) = oneshot::channel();
        let turn = Turn::new(tx);
        turn.hold();
        drop(turn);
        assert!(rx.try_recv().is_ok(), "ended: passed even if held");
    }
}
