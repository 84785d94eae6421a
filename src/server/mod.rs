//! The TCP listener and its connections.

mod connection;
pub mod dispatch;
mod maintenance;

use crate::broker::Broker;
use crate::config::cluster::Listener;
use crate::config::BrokerConfig;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// How long a stopping broker waits for in-flight requests.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// A bound listener and the name it has in `listeners`.
pub struct BoundListener {
    pub name: String,
    pub socket: TcpListener,
}

/// Bound listeners, ready to serve.
pub struct Server {
    listeners: Vec<BoundListener>,
    broker: Arc<Broker>,
}

impl Server {
    /// Binds every client listener of `config` before the broker opens, and
    /// writes back the ports a port of 0 resolved to, so they are advertised.
    pub async fn bind(config: &mut BrokerConfig) -> io::Result<Vec<BoundListener>> {
        let names: Vec<String> = config
            .cluster
            .client_listeners()
            .map(|l| l.name.clone())
            .collect();
        let mut bound = Vec::with_capacity(names.len());
        for listener in config
            .cluster
            .listeners
            .iter_mut()
            .filter(|l| names.contains(&l.name))
        {
            let socket = bind_listener(listener).await?;
            listener.port = socket.local_addr()?.port();
            bound.push(BoundListener {
                name: listener.name.clone(),
                socket,
            });
        }
        Ok(bound)
    }

    pub fn new(listeners: Vec<BoundListener>, broker: Arc<Broker>) -> Server {
        Server { listeners, broker }
    }

    /// Each listener's name and the address it accepts on.
    pub fn local_addrs(&self) -> io::Result<Vec<(String, SocketAddr)>> {
        self.listeners
            .iter()
            .map(|l| Ok((l.name.clone(), l.socket.local_addr()?)))
            .collect()
    }

    /// Serves until `stop` resolves, then stops accepting, lets connections
    /// finish the requests they hold, and returns.
    pub async fn run(self, stop: impl std::future::Future<Output = ()>) {
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let upkeep = tokio::spawn(maintenance::run(
            Arc::clone(&self.broker),
            shutdown_rx.clone(),
        ));
        let mut connections = JoinSet::new();
        let (accepted_tx, mut accepted_rx) = mpsc::channel(16);
        let acceptors: Vec<_> = self
            .listeners
            .into_iter()
            .map(|l| tokio::spawn(accept(l, accepted_tx.clone())))
            .collect();
        drop(accepted_tx);
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                Some((stream, listener)) = accepted_rx.recv() => {
                    connections.spawn(connection::serve(stream, listener, Arc::clone(&self.broker), shutdown_rx.clone()));
                },
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        acceptors.iter().for_each(|a| a.abort());
        let _ = shutdown_tx.send(true);
        // In-flight requests finish (a long-poll fetch within its max wait);
        // past the bound, connections are dropped.
        let drain = async { while connections.join_next().await.is_some() {} };
        if tokio::time::timeout(SHUTDOWN_GRACE, drain).await.is_err() {
            tracing::warn!("connections still busy after {SHUTDOWN_GRACE:?}; closing them");
        }
        let _ = upkeep.await;
    }
}

/// Binds one configured listener (an empty host: every interface), with an
/// error that names it.
pub async fn bind_listener(listener: &Listener) -> io::Result<TcpListener> {
    let host = if listener.host.is_empty() {
        "0.0.0.0"
    } else {
        listener.host.as_str()
    };
    TcpListener::bind((host, listener.port)).await.map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "cannot listen on {}://{host}:{}: {e}",
                listener.name, listener.port
            ),
        )
    })
}

/// Accepts on one listener, handing each connection over with the
/// listener's name, until the server stops listening.
async fn accept(listener: BoundListener, accepted: mpsc::Sender<(TcpStream, Arc<str>)>) {
    let name: Arc<str> = listener.name.into();
    loop {
        match listener.socket.accept().await {
            Ok((stream, _)) => {
                if accepted.send((stream, Arc::clone(&name))).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                tracing::warn!(listener = %name, error = %e, "accept failed");
                // Out of descriptors, typically: give connections time to close.
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests;
