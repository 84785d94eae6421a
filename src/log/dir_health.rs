//! Whether the data directory still takes writes. The first write or fsync
//! error takes it offline until a restart, as Kafka does with a failed log
//! directory: after an I/O error nothing says what reached the disk, so no
//! later success may count. The broker then refuses every append
//! (KAFKA_STORAGE_ERROR) and, in a cluster, leaves it (see `main`), so the
//! controller moves its leaderships to replicas whose disks work.

use tokio::sync::watch;

pub struct DirHealth {
    /// Why the directory went offline; None while it is online.
    failure: watch::Sender<Option<String>>,
}

impl Default for DirHealth {
    fn default() -> Self {
        DirHealth {
            failure: watch::Sender::new(None),
        }
    }
}

impl DirHealth {
    /// Takes the directory offline; the first reason given is kept.
    pub fn fail(&self, reason: impl FnOnce() -> String) {
        self.failure.send_if_modified(|failure| {
            if failure.is_some() {
                return false;
            }
            let reason = reason();
            tracing::error!("the data directory is offline: {reason}");
            *failure = Some(reason);
            true
        });
    }

    pub fn is_offline(&self) -> bool {
        self.failure.borrow().is_some()
    }

    /// Why the directory went offline, if it did.
    pub fn failure(&self) -> Option<String> {
        self.failure.borrow().clone()
    }

    /// Resolves (with the reason) once the directory is offline.
    pub async fn offline(&self) -> String {
        let mut watching = self.failure.subscribe();
        // The sender lives as long as `self`: it cannot close while borrowed.
        let failure = match watching.wait_for(Option::is_some).await {
            Ok(failure) => failure.clone(),
            Err(_) => None,
        };
        failure.unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_failure_is_kept_and_wakes_the_waiters() {
        let health = DirHealth::default();
        assert!(!health.is_offline());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let reason = runtime.block_on(async {
            let waiting = health.offline();
            health.fail(|| "fsync of 00000000000000000000.log: EIO".into());
            health.fail(|| "a later failure".into());
            waiting.await
        });
        assert_eq!(reason, "fsync of 00000000000000000000.log: EIO");
        assert!(health.is_offline());
    }
}
