//! The quorum's state machine: committed proposals applied to the
//! [`MetadataImage`], each new image published to the node's readers.
//!
//! A snapshot is the image written as records (the records that rebuild
//! it), kept in `<data>/metadata/snapshot` as `u32 meta length | meta (JSON)
//! | records`. A restarted node starts from it and replays the log's tail.

use super::types::{
    Applied, LogId, Proposal, QuorumTypes, Snapshot, SnapshotData, SnapshotMeta, StoredMembership,
};
use super::{invalid, lock};
use crate::cluster::image::MetadataImage;
use crate::cluster::records::MetadataRecord;
use futures_util::{Stream, TryStreamExt};
use openraft::storage::{EntryResponder, RaftStateMachine};
use openraft::{EntryPayload, OptionalSend, RaftSnapshotBuilder};
use std::io::{self, Cursor};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    image: MetadataImage,
    last_applied: Option<LogId>,
    membership: StoredMembership,
    snapshot: Option<(SnapshotMeta, Vec<u8>)>,
}

#[derive(Clone, Debug)]
pub struct StateMachine {
    inner: Arc<Mutex<Inner>>,
    published: Arc<watch::Sender<Arc<MetadataImage>>>,
}

/// The image as the records that rebuild it, framed as in a proposal.
fn image_bytes(image: &MetadataImage) -> io::Result<Vec<u8>> {
    let proposal = Proposal(image.to_records());
    serde_json::to_vec(&proposal).map_err(invalid)
}

fn image_from(offset: i64, bytes: &[u8]) -> io::Result<MetadataImage> {
    let proposal: Proposal = serde_json::from_slice(bytes).map_err(invalid)?;
    let mut image = MetadataImage::empty();
    for record in &proposal.0 {
        image
            .apply(offset, record)
            .map_err(|e| invalid(format!("snapshot: {e}")))?;
    }
    image.offset = offset;
    Ok(image)
}

impl StateMachine {
    /// Starts empty; openraft installs the stored snapshot, if any, then
    /// replays the committed tail of the log.
    pub fn open(dir: &Path) -> io::Result<(StateMachine, watch::Receiver<Arc<MetadataImage>>)> {
        let snapshot = match std::fs::read(dir.join("snapshot")) {
            Ok(bytes) => {
                let head: [u8; 4] = bytes
                    .get(..4)
                    .and_then(|h| h.try_into().ok())
                    .ok_or_else(|| invalid("snapshot: truncated"))?;
                let meta_len = u32::from_be_bytes(head) as usize;
                let meta_bytes = bytes
                    .get(4..4 + meta_len)
                    .ok_or_else(|| invalid("snapshot: truncated"))?;
                let meta: SnapshotMeta = serde_json::from_slice(meta_bytes).map_err(invalid)?;
                Some((meta, bytes[4 + meta_len..].to_vec()))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        let (sender, receiver) = watch::channel(Arc::new(MetadataImage::empty()));
        let inner = Inner {
            dir: dir.to_path_buf(),
            image: MetadataImage::empty(),
            last_applied: None,
            membership: StoredMembership::default(),
            snapshot,
        };
        Ok((
            StateMachine {
                inner: Arc::new(Mutex::new(inner)),
                published: Arc::new(sender),
            },
            receiver,
        ))
    }

    fn store_snapshot(dir: &Path, meta: &SnapshotMeta, data: &[u8]) -> io::Result<()> {
        let meta_bytes = serde_json::to_vec(meta).map_err(invalid)?;
        let mut bytes = Vec::with_capacity(4 + meta_bytes.len() + data.len());
        bytes.extend_from_slice(&(meta_bytes.len() as u32).to_be_bytes());
        bytes.extend_from_slice(&meta_bytes);
        bytes.extend_from_slice(data);
        crate::log::properties::write_atomically(&dir.join("snapshot"), &bytes)
    }
}

impl RaftSnapshotBuilder<QuorumTypes> for StateMachine {
    type SnapshotData = SnapshotData;

    async fn build_snapshot(&mut self) -> Result<Snapshot, io::Error> {
        let (meta, data, dir) = {
            let inner = lock(&self.inner);
            let meta = SnapshotMeta {
                last_log_id: inner.last_applied,
                last_membership: inner.membership.clone(),
            };
            (meta, image_bytes(&inner.image)?, inner.dir.clone())
        };
        StateMachine::store_snapshot(&dir, &meta, &data)?;
        lock(&self.inner).snapshot = Some((meta.clone(), data.clone()));
        Ok(Snapshot {
            meta,
            snapshot: Cursor::new(data),
        })
    }
}

impl RaftStateMachine<QuorumTypes> for StateMachine {
    type SnapshotData = SnapshotData;
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), io::Error> {
        let inner = lock(&self.inner);
        Ok((inner.last_applied, inner.membership.clone()))
    }

    async fn apply<S>(&mut self, mut entries: S) -> Result<(), io::Error>
    where
        S: Stream<Item = Result<EntryResponder<QuorumTypes>, io::Error>> + Unpin + OptionalSend,
    {
        // One image published per batch of entries, before any proposer
        // hears back: an answered proposal is visible in `images`.
        let mut answers = Vec::new();
        while let Some((entry, responder)) = entries.try_next().await? {
            let offset = entry.log_id.index as i64;
            let mut inner = lock(&self.inner);
            inner.last_applied = Some(entry.log_id);
            let refused = match entry.payload {
                EntryPayload::Blank => None,
                EntryPayload::Membership(m) => {
                    inner.membership = StoredMembership::new(Some(entry.log_id), m);
                    None
                }
                EntryPayload::Normal(proposal) => apply_all(&mut inner.image, offset, &proposal.0),
            };
            inner.image.offset = offset;
            if let Some(responder) = responder {
                answers.push((responder, Applied { offset, refused }));
            }
        }
        let image = Arc::new(lock(&self.inner).image.clone());
        self.published.send_replace(image);
        for (responder, applied) in answers {
            responder.send(applied);
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: SnapshotData,
    ) -> Result<(), io::Error> {
        let data = snapshot.into_inner();
        let offset = meta.last_log_id.as_ref().map_or(-1, |l| l.index as i64);
        let image = image_from(offset, &data)?;
        let dir = lock(&self.inner).dir.clone();
        StateMachine::store_snapshot(&dir, meta, &data)?;
        let mut inner = lock(&self.inner);
        inner.image = image;
        inner.last_applied = meta.last_log_id;
        inner.membership = meta.last_membership.clone();
        inner.snapshot = Some((meta.clone(), data));
        self.published.send_replace(Arc::new(inner.image.clone()));
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, io::Error> {
        let inner = lock(&self.inner);
        Ok(inner.snapshot.as_ref().map(|(meta, data)| Snapshot {
            meta: meta.clone(),
            snapshot: Cursor::new(data.clone()),
        }))
    }
}

/// Applies every record or none: a refused proposal leaves the image as it was.
fn apply_all(image: &mut MetadataImage, offset: i64, records: &[MetadataRecord]) -> Option<String> {
    let mut next = image.clone();
    for record in records {
        if let Err(e) = next.apply(offset, record) {
            tracing::warn!(offset, error = %e, "metadata proposal refused");
            return Some(e.to_string());
        }
    }
    *image = next;
    None
}
