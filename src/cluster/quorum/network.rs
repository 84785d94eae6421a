//! The quorum's RPCs between controllers, over TCP: each message is a
//! frame `u32 length | JSON`; a snapshot request is followed by one frame of
//! snapshot bytes. Frames are bounded, and read as their bytes arrive (a
//! claimed length allocates nothing up front); a malformed frame closes
//! only its connection.
//!
//! A client holds one connection and makes one call at a time; any failure
//! drops the connection (a late answer would be read as the next one's).

use super::types::{QuorumTypes, Snapshot, SnapshotData, SnapshotMeta, Vote};
use openraft::errors::{
    NetworkError, RPCError, RaftError, ReplicationClosed, StreamingError, Timeout, Unreachable,
};
use openraft::network::{RPCOption, RaftNetworkFactory, RaftNetworkV2};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, TransferLeaderRequest,
    TransferLeaderResponse, VoteRequest, VoteResponse,
};
use openraft::{BasicNode, OptionalSend, RPCTypes};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// The largest frame: a snapshot of the whole image.
const MAX_FRAME: u64 = 256 << 20;

type Raft = openraft::Raft<QuorumTypes, super::state_machine::StateMachine>;

#[derive(Serialize, Deserialize, Debug)]
enum Request {
    Append(AppendEntriesRequest<QuorumTypes>),
    Vote(VoteRequest<QuorumTypes>),
    PreVote(VoteRequest<QuorumTypes>),
    /// Followed by one frame of snapshot bytes.
    Snapshot {
        vote: Vote,
        meta: SnapshotMeta,
    },
    TransferLeader(TransferLeaderRequest<QuorumTypes>),
    /// A request for the controller, opaque here (see [`CallHandler`]).
    Call(Vec<u8>),
}

#[derive(Serialize, Deserialize, Debug)]
enum Response {
    Append(Result<AppendEntriesResponse<QuorumTypes>, RaftError<QuorumTypes>>),
    Vote(Result<VoteResponse<QuorumTypes>, RaftError<QuorumTypes>>),
    Snapshot(Result<SnapshotResponse<QuorumTypes>, RaftError<QuorumTypes>>),
    TransferLeader(Result<TransferLeaderResponse<QuorumTypes>, RaftError<QuorumTypes>>),
    Call(Vec<u8>),
}

/// Answers requests other nodes send for the controller (registrations,
/// heartbeats, ...). The quorum carries them without knowing their shape.
pub trait CallHandler: Send + Sync {
    fn handle(&self, call: Vec<u8>) -> futures_util::future::BoxFuture<'static, Vec<u8>>;
}

/// Where the node's handler is, once the node above the quorum has started.
pub type Handlers = std::sync::Arc<std::sync::OnceLock<std::sync::Arc<dyn CallHandler>>>;

/// Sends one call to the node at `addr` and returns its answer.
pub async fn call(addr: &str, body: Vec<u8>, timeout: Duration) -> io::Result<Vec<u8>> {
    let exchange = async {
        let stream = TcpStream::connect(addr).await?;
        let _ = stream.set_nodelay(true);
        let mut stream = BufReader::new(stream);
        let request = serde_json::to_vec(&Request::Call(body)).map_err(io::Error::other)?;
        write_frame(stream.get_mut(), &request).await?;
        let answer = read_frame(&mut stream).await?;
        match serde_json::from_slice(&answer).map_err(io::Error::other)? {
            Response::Call(answer) => Ok(answer),
            other => Err(io::Error::other(format!(
                "an answer of the wrong kind: {other:?}"
            ))),
        }
    };
    tokio::time::timeout(timeout, exchange).await.map_err(|_| {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!("{addr} did not answer in {timeout:?}"),
        )
    })?
}

async fn write_frame<W: AsyncWriteExt + Unpin>(w: &mut W, body: &[u8]) -> io::Result<()> {
    let len = u32::try_from(body.len()).map_err(|_| io::Error::other("frame too large"))?;
    w.write_all(&len.to_be_bytes()).await?;
    w.write_all(body).await?;
    w.flush().await
}

async fn read_frame<R: AsyncReadExt + Unpin>(r: &mut R) -> io::Result<Vec<u8>> {
    let len = u64::from(r.read_u32().await?);
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes"),
        ));
    }
    let mut body = Vec::new();
    r.take(len).read_to_end(&mut body).await?;
    if body.len() as u64 != len {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(body)
}

/// Addresses that moved since the membership that named them was built
/// into a replication stream: an observer restarted on another port.
pub type AddressBook = Arc<std::sync::Mutex<BTreeMap<u64, String>>>;

#[derive(Clone, Debug)]
pub struct Network {
    pub node_id: u64,
    pub moved: AddressBook,
}

impl RaftNetworkFactory<QuorumTypes> for Network {
    type Network = Peer;

    async fn new_client(&mut self, target: u64, node: &BasicNode) -> Peer {
        Peer {
            from: self.node_id,
            target,
            addr: node.addr.clone(),
            moved: Arc::clone(&self.moved),
            conn: None,
        }
    }
}

pub struct Peer {
    from: u64,
    target: u64,
    addr: String,
    moved: AddressBook,
    conn: Option<BufReader<TcpStream>>,
}

enum CallError {
    Connect(io::Error),
    Io(io::Error),
    Timeout(Duration),
}

impl Peer {
    async fn exchange(
        &mut self,
        request: &Request,
        extra: Option<&[u8]>,
    ) -> Result<Response, CallError> {
        let conn = match &mut self.conn {
            Some(conn) => conn,
            None => {
                if let Some(addr) = super::lock(&self.moved).get(&self.target) {
                    self.addr.clone_from(addr);
                }
                let stream = TcpStream::connect(&self.addr)
                    .await
                    .map_err(CallError::Connect)?;
                let _ = stream.set_nodelay(true);
                self.conn.insert(BufReader::new(stream))
            }
        };
        let body = serde_json::to_vec(request).map_err(|e| CallError::Io(io::Error::other(e)))?;
        write_frame(conn.get_mut(), &body)
            .await
            .map_err(CallError::Io)?;
        if let Some(extra) = extra {
            write_frame(conn.get_mut(), extra)
                .await
                .map_err(CallError::Io)?;
        }
        let answer = read_frame(conn).await.map_err(CallError::Io)?;
        serde_json::from_slice(&answer).map_err(|e| CallError::Io(io::Error::other(e)))
    }

    async fn call(
        &mut self,
        action: RPCTypes,
        request: Request,
        extra: Option<&[u8]>,
        ttl: Duration,
    ) -> Result<Response, RPCError<QuorumTypes>> {
        let outcome = match tokio::time::timeout(ttl, self.exchange(&request, extra)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(CallError::Timeout(ttl)),
        };
        outcome.map_err(|e| {
            self.conn = None;
            match e {
                CallError::Connect(e) => RPCError::Unreachable(Unreachable::new(&e)),
                CallError::Io(e) => RPCError::Network(NetworkError::new(&e)),
                CallError::Timeout(timeout) => RPCError::Timeout(Timeout {
                    action,
                    id: self.from,
                    target: self.target,
                    timeout,
                }),
            }
        })
    }
}

/// A peer's own failure (shutting down, storage error): unreachable, so
/// openraft backs off and retries.
fn remote<T>(answer: Result<T, RaftError<QuorumTypes>>) -> Result<T, RPCError<QuorumTypes>> {
    answer.map_err(|e| RPCError::Unreachable(Unreachable::new(&e)))
}

fn mismatched(answer: Response) -> RPCError<QuorumTypes> {
    RPCError::Network(NetworkError::from_string(format!(
        "an answer of the wrong kind: {answer:?}"
    )))
}

impl RaftNetworkV2<QuorumTypes> for Peer {
    type SnapshotData = SnapshotData;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<QuorumTypes>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<QuorumTypes>, RPCError<QuorumTypes>> {
        match self
            .call(
                RPCTypes::AppendEntries,
                Request::Append(rpc),
                None,
                option.soft_ttl(),
            )
            .await?
        {
            Response::Append(answer) => remote(answer),
            other => Err(mismatched(other)),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<QuorumTypes>,
        option: RPCOption,
    ) -> Result<VoteResponse<QuorumTypes>, RPCError<QuorumTypes>> {
        match self
            .call(RPCTypes::Vote, Request::Vote(rpc), None, option.soft_ttl())
            .await?
        {
            Response::Vote(answer) => remote(answer),
            other => Err(mismatched(other)),
        }
    }

    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<QuorumTypes>,
        option: RPCOption,
    ) -> Result<VoteResponse<QuorumTypes>, RPCError<QuorumTypes>> {
        match self
            .call(
                RPCTypes::Vote,
                Request::PreVote(rpc),
                None,
                option.soft_ttl(),
            )
            .await?
        {
            Response::Vote(answer) => remote(answer),
            other => Err(mismatched(other)),
        }
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: Snapshot,
        cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<QuorumTypes>, StreamingError<QuorumTypes>> {
        let data = snapshot.snapshot.into_inner();
        let request = Request::Snapshot {
            vote,
            meta: snapshot.meta,
        };
        let call = self.call(
            RPCTypes::InstallSnapshot,
            request,
            Some(&data),
            option.hard_ttl(),
        );
        tokio::pin!(cancel);
        tokio::select! {
            closed = &mut cancel => Err(StreamingError::Closed(closed)),
            answer = call => match answer? {
                Response::Snapshot(answer) => Ok(remote(answer)?),
                other => Err(mismatched(other).into()),
            },
        }
    }

    async fn transfer_leader(
        &mut self,
        rpc: TransferLeaderRequest<QuorumTypes>,
        option: RPCOption,
    ) -> Result<TransferLeaderResponse<QuorumTypes>, RPCError<QuorumTypes>> {
        match self
            .call(
                RPCTypes::TransferLeader,
                Request::TransferLeader(rpc),
                None,
                option.soft_ttl(),
            )
            .await?
        {
            Response::TransferLeader(answer) => remote(answer),
            other => Err(mismatched(other)),
        }
    }
}

/// Serves peers' RPCs until the task is aborted (which closes the
/// listener and, with the join set, every connection).
pub async fn serve(listener: TcpListener, raft: Raft, handlers: Handlers) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    connections.spawn(serve_peer(stream, raft.clone(), Handlers::clone(&handlers)));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "quorum listener: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve_peer(stream: TcpStream, raft: Raft, handlers: Handlers) {
    let peer = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    if let Err(e) = answer_peer(stream, raft, handlers).await {
        if e.kind() != io::ErrorKind::UnexpectedEof {
            tracing::info!(%peer, error = %e, "quorum connection closed");
        }
    }
}

async fn answer_peer(stream: TcpStream, raft: Raft, handlers: Handlers) -> io::Result<()> {
    let mut stream = BufReader::new(stream);
    loop {
        let frame = read_frame(&mut stream).await?;
        let request: Request = serde_json::from_slice(&frame)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        let answer = match request {
            Request::Append(rpc) => Response::Append(raft.append_entries(rpc).await),
            Request::Vote(rpc) => Response::Vote(raft.vote(rpc).await),
            Request::PreVote(rpc) => Response::Vote(raft.pre_vote(rpc).await),
            Request::Snapshot { vote, meta } => {
                let data = read_frame(&mut stream).await?;
                let snapshot = Snapshot {
                    meta,
                    snapshot: std::io::Cursor::new(data),
                };
                Response::Snapshot(
                    raft.install_full_snapshot(vote, snapshot)
                        .await
                        .map_err(RaftError::Fatal),
                )
            }
            Request::TransferLeader(rpc) => Response::TransferLeader(
                raft.handle_transfer_leader(rpc)
                    .await
                    .map_err(RaftError::Fatal),
            ),
            Request::Call(body) => match handlers.get() {
                Some(handler) => Response::Call(handler.handle(body).await),
                None => return Err(io::Error::other("a call before this node has started")),
            },
        };
        let body = serde_json::to_vec(&answer).map_err(io::Error::other)?;
        write_frame(stream.get_mut(), &body).await?;
    }
}
