//! One client connection: frames in, responses out, strictly in request order.
//!
//! The reader decodes frames and starts each request as its own task, so a
//! produce waiting for fsync does not hold up decoding the next request; the
//! writer awaits those tasks in arrival order. At most `MAX_IN_FLIGHT`
//! requests are pending per connection.
//!
//! Requests also *start* in arrival order: each request has a turn
//! ([`Turn`]), and the next request's task begins only once it is passed
//! on: at the request's first wait, or, for a handler that holds it, when
//! the handler says its ordered part is done (a produce: every append
//! queued; only durability is awaited after). So the log sees a
//! connection's produce requests in the order they were sent, which is what
//! Kafka's ordering guarantee with several requests in flight (and
//! idempotent producers' sequence checks) rely on.

use super::dispatch::dispatch;
use crate::broker::Broker;
use crate::handlers::context::Turn;
use crate::handlers::RequestContext;
use bytes::{Bytes, BytesMut};
use std::future::Future;
use std::io;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};

const MAX_IN_FLIGHT: usize = 64;
/// Frames grow in steps of this size as bytes arrive, so a size prefix alone
/// (up to socket.request.max.bytes) costs no memory.
const READ_CHUNK: usize = 64 * 1024;

/// Reads one size-prefixed frame. `Ok(None)` on a clean end of stream.
async fn read_frame(
    stream: &mut (impl AsyncReadExt + Unpin),
    max_bytes: usize,
) -> io::Result<Option<Bytes>> {
    let mut size = [0u8; 4];
    match stream.read_exact(&mut size).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let size = i32::from_be_bytes(size);
    let size = usize::try_from(size)
        .ok()
        .filter(|s| *s <= max_bytes)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("frame size {size} outside 0..={max_bytes}"),
            )
        })?;
    let mut frame = BytesMut::with_capacity(size.min(READ_CHUNK));
    while frame.len() < size {
        frame.reserve((size - frame.len()).min(READ_CHUNK));
        let mut limited = (&mut *stream).take((size - frame.len()) as u64);
        if limited.read_buf(&mut frame).await? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed mid-frame",
            ));
        }
    }
    Ok(Some(frame.freeze()))
}

pub async fn serve(
    stream: TcpStream,
    listener: Arc<str>,
    broker: Arc<Broker>,
    mut shutdown: watch::Receiver<bool>,
) {
    let peer_addr = stream.peer_addr().ok();
    let peer = peer_addr.map_or_else(|| "unknown".into(), |a| a.to_string());
    let context = Arc::new(RequestContext::connection(listener, peer_addr));
    let _ = stream.set_nodelay(true);
    let (mut reader, mut writer) = stream.into_split();
    let (pending_tx, mut pending_rx) =
        mpsc::channel::<oneshot::Receiver<Option<BytesMut>>>(MAX_IN_FLIGHT);

    let writer_task = tokio::spawn(async move {
        while let Some(pending) = pending_rx.recv().await {
            match pending.await {
                Ok(Some(response)) => {
                    if writer.write_all(&response).await.is_err() {
                        return;
                    }
                }
                Ok(None) => {}
                Err(_) => return, // the request failed: the connection is closing
            }
        }
        let _ = writer.shutdown().await;
    });

    // The first request's turn comes at once.
    let (first_turn, mut turn) = oneshot::channel::<()>();
    let _ = first_turn.send(());
    let idle = broker.config.connections_max_idle;
    let max_bytes = broker.config.socket_request_max_bytes;
    loop {
        let frame = tokio::select! {
            _ = shutdown.changed() => break,
            read = tokio::time::timeout(idle, read_frame(&mut reader, max_bytes)) => match read {
                Err(_) => { tracing::debug!(%peer, "closing idle connection"); break; }
                Ok(Ok(Some(frame))) => frame,
                Ok(Ok(None)) => break,
                Ok(Err(e)) => { tracing::info!(%peer, error = %e, "closing connection"); break; }
            },
        };
        let (done_tx, done_rx) = oneshot::channel();
        if pending_tx.send(done_rx).await.is_err() {
            break;
        }
        let broker = Arc::clone(&broker);
        let peer = peer.clone();
        let my_turn = std::mem::replace(&mut turn, oneshot::channel().1);
        let (next_tx, next_rx) = oneshot::channel::<()>();
        turn = next_rx;
        let ours = Arc::new(Turn::new(next_tx));
        let context = RequestContext {
            turn: Some(Arc::clone(&ours)),
            ..(*context).clone()
        };
        tokio::spawn(async move {
            // Whether the previous request ended or passed its turn, it is ours.
            let _ = my_turn.await;
            let mut request = Box::pin(dispatch(&broker, &context, frame));
            let mut first = true;
            let outcome = std::future::poll_fn(|cx| {
                let polled = request.as_mut().poll(cx);
                if std::mem::take(&mut first) {
                    ours.pass_unless_held();
                }
                polled
            })
            .await;
            ours.pass();
            match outcome {
                Ok(response) => {
                    let _ = done_tx.send(response);
                }
                Err(e) => {
                    tracing::info!(%peer, error = %e, "closing connection");
                    drop(done_tx); // the writer stops at this request
                }
            }
        });
    }
    drop(pending_tx);
    let _ = writer_task.await;
}
