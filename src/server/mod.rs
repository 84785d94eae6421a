//! The TCP listener and its connections.

mod connection;
pub mod dispatch;
mod maintenance;

use crate::broker::Broker;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// How long a stopping broker waits for in-flight requests.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// A bound listener, ready to serve.
pub struct Server {
    listener: TcpListener,
    broker: Arc<Broker>,
}

impl Server {
    /// Binds `listen` before the broker opens, so that a port of 0 can be
    /// resolved to the real one and advertised.
    pub async fn bind(listen: SocketAddr) -> io::Result<TcpListener> {
        TcpListener::bind(listen).await
    }

    pub fn new(listener: TcpListener, broker: Arc<Broker>) -> Server {
        Server { listener, broker }
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
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
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        connections.spawn(connection::serve(stream, Arc::clone(&self.broker), shutdown_rx.clone()));
                    }
                    Err(e) => tracing::warn!(error = %e, "accept failed"),
                },
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
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

#[cfg(test)]
mod tests;
