//! Fetch sessions (KIP-227): the broker remembers what a client fetches so
//! that later requests name only the partitions whose position changed and
//! responses carry only the partitions with something new.
//!
//! Session id 0 with epoch -1 is a sessionless full fetch; epoch 0 asks for
//! a new session; epoch -1 with an id closes it; epochs 1, 2, … continue it.
//! The cache is bounded; the least recently used session makes room.

use crate::protocol::wire::Uuid;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// `max.incremental.fetch.session.cache.slots` (Kafka's default).
pub const MAX_SESSIONS: usize = 1000;

pub const INITIAL_EPOCH: i32 = 0;
pub const FINAL_EPOCH: i32 = -1;

/// One partition a fetch reads, and what the client was last told about it.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    pub topic: String,
    pub topic_id: Uuid,
    pub partition: i32,
    pub fetch_offset: i64,
    /// The leader epoch the client last saw (-1: none), checked on every read.
    pub current_leader_epoch: i32,
    /// A follower's last fetched epoch (-1: none), to find where its log
    /// parts from the leader's.
    pub last_fetched_epoch: i32,
    pub max_bytes: i32,
    /// High watermark and log start last sent (-1: never), to detect changes.
    pub sent_high_watermark: i64,
    pub sent_log_start: i64,
}

struct Session {
    next_epoch: i32,
    targets: Vec<Target>,
    last_used: Instant,
}

#[derive(Default)]
struct Cache {
    sessions: HashMap<i32, Session>,
    last_id: i32,
}

#[derive(Default)]
pub struct FetchSessions {
    cache: Mutex<Cache>,
}

/// What a request asks of the session cache.
#[derive(Debug, PartialEq)]
pub enum Plan {
    /// Answer every partition of the request; `session_id` is what to answer with (0: none).
    Full {
        session_id: i32,
    },
    /// Answer the changed partitions of this session.
    Incremental {
        session_id: i32,
        targets: Vec<Target>,
    },
    /// Top-level error: FETCH_SESSION_ID_NOT_FOUND or INVALID_FETCH_SESSION_EPOCH.
    UnknownSession,
    InvalidEpoch,
}

fn next_epoch(epoch: i32) -> i32 {
    if epoch == i32::MAX {
        1
    } else {
        epoch + 1
    }
}

impl FetchSessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn len(&self) -> usize {
        self.lock().sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Decides how to answer, creating, closing or updating sessions.
    /// `requested`: the request's partitions; `forgotten`: (topic, partition) to drop.
    pub fn plan(
        &self,
        session_id: i32,
        epoch: i32,
        requested: &[Target],
        forgotten: &[(String, i32)],
    ) -> Plan {
        let mut cache = self.lock();
        if session_id != 0 && (epoch == FINAL_EPOCH || epoch == INITIAL_EPOCH) {
            cache.sessions.remove(&session_id);
        }
        match (session_id, epoch) {
            (_, FINAL_EPOCH) => Plan::Full { session_id: 0 },
            (_, INITIAL_EPOCH) => {
                if cache.sessions.len() >= MAX_SESSIONS {
                    let oldest = cache
                        .sessions
                        .iter()
                        .min_by_key(|(_, s)| s.last_used)
                        .map(|(id, _)| *id);
                    if let Some(oldest) = oldest {
                        cache.sessions.remove(&oldest);
                    }
                }
                let mut id = cache.last_id;
                loop {
                    id = if id == i32::MAX { 1 } else { id + 1 };
                    if !cache.sessions.contains_key(&id) {
                        break;
                    }
                }
                cache.last_id = id;
                let session = Session {
                    next_epoch: 1,
                    targets: requested.to_vec(),
                    last_used: Instant::now(),
                };
                cache.sessions.insert(id, session);
                tracing::debug!(
                    session = id,
                    partitions = requested.len(),
                    "fetch session created"
                );
                Plan::Full { session_id: id }
            }
            (0, _) => Plan::UnknownSession,
            (id, epoch) => {
                let Some(session) = cache.sessions.get_mut(&id) else {
                    return Plan::UnknownSession;
                };
                if epoch != session.next_epoch {
                    return Plan::InvalidEpoch;
                }
                session.next_epoch = next_epoch(epoch);
                session.last_used = Instant::now();
                session.targets.retain(|t| {
                    !forgotten
                        .iter()
                        .any(|(topic, p)| *topic == t.topic && *p == t.partition)
                });
                for wanted in requested {
                    match session
                        .targets
                        .iter_mut()
                        .find(|t| t.topic == wanted.topic && t.partition == wanted.partition)
                    {
                        Some(existing) => {
                            existing.fetch_offset = wanted.fetch_offset;
                            existing.current_leader_epoch = wanted.current_leader_epoch;
                            existing.max_bytes = wanted.max_bytes;
                        }
                        None => session.targets.push(wanted.clone()),
                    }
                }
                Plan::Incremental {
                    session_id: id,
                    targets: session.targets.clone(),
                }
            }
        }
    }

    /// Records what was sent for the partitions of a session's response.
    pub fn record_sent(&self, session_id: i32, sent: &[(String, i32, i64, i64)]) {
        let mut cache = self.lock();
        let Some(session) = cache.sessions.get_mut(&session_id) else {
            return;
        };
        for (topic, partition, high_watermark, log_start) in sent {
            if let Some(t) = session
                .targets
                .iter_mut()
                .find(|t| t.topic == *topic && t.partition == *partition)
            {
                t.sent_high_watermark = *high_watermark;
                t.sent_log_start = *log_start;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(topic: &str, partition: i32, offset: i64) -> Target {
        Target {
            topic: topic.into(),
            topic_id: Uuid::ZERO,
            partition,
            fetch_offset: offset,
            current_leader_epoch: -1,
            last_fetched_epoch: -1,
            max_bytes: 1024,
            sent_high_watermark: -1,
            sent_log_start: -1,
        }
    }

    #[test]
    fn sessions_are_created_continued_and_closed() {
        let sessions = FetchSessions::default();
        assert_eq!(
            sessions.plan(0, FINAL_EPOCH, &[target("a", 0, 0)], &[]),
            Plan::Full { session_id: 0 }
        );
        let Plan::Full { session_id } = sessions.plan(
            0,
            INITIAL_EPOCH,
            &[target("a", 0, 0), target("a", 1, 0)],
            &[],
        ) else {
            panic!("no session")
        };
        assert_ne!(session_id, 0);
        // Epoch 1 moves partition 0 forward and forgets partition 1.
        let plan = sessions.plan(session_id, 1, &[target("a", 0, 5)], &[("a".into(), 1)]);
        assert_eq!(
            plan,
            Plan::Incremental {
                session_id,
                targets: vec![target("a", 0, 5)]
            }
        );
        assert_eq!(
            sessions.plan(session_id, 1, &[], &[]),
            Plan::InvalidEpoch,
            "epochs may not repeat"
        );
        assert!(matches!(
            sessions.plan(session_id, 2, &[], &[]),
            Plan::Incremental { .. }
        ));
        assert_eq!(
            sessions.plan(session_id, FINAL_EPOCH, &[], &[]),
            Plan::Full { session_id: 0 }
        );
        assert_eq!(sessions.plan(session_id, 3, &[], &[]), Plan::UnknownSession);
        assert!(sessions.is_empty());
    }

    #[test]
    fn the_cache_is_bounded() {
        let sessions = FetchSessions::default();
        for _ in 0..MAX_SESSIONS + 10 {
            sessions.plan(0, INITIAL_EPOCH, &[target("a", 0, 0)], &[]);
        }
        assert_eq!(sessions.len(), MAX_SESSIONS);
    }
}
