//! Group commit: one thread fsyncs on behalf of every append waiting at that
//! moment, across partitions, then wakes them all.
//!
//! An append hands over the file it wrote and a completion; the thread takes
//! everything queued, fsyncs each distinct file once, and completes the lot.
//! Appends that arrive during an fsync form the next group.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

/// Called once the data is durable (or the fsync failed).
pub type Completion = Box<dyn FnOnce(io::Result<()>) + Send>;

struct Pending {
    file: Arc<File>,
    done: Completion,
}

#[derive(Default)]
struct Queue {
    pending: Vec<Pending>,
    closed: bool,
}

pub struct Flusher {
    shared: Arc<(Mutex<Queue>, Condvar)>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Flusher {
    pub fn start() -> io::Result<Flusher> {
        let shared = Arc::new((Mutex::new(Queue::default()), Condvar::new()));
        let worker = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("odradek-fsync".into())
            .spawn(move || run(&worker))?;
        Ok(Flusher {
            shared,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Queues `file` for the next fsync round; `done` runs after it.
    pub fn sync(&self, file: Arc<File>, done: Completion) {
        let (lock, wake) = &*self.shared;
        let mut queue = lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if queue.closed {
            drop(queue);
            done(Err(io::Error::other("log is closing")));
            return;
        }
        queue.pending.push(Pending { file, done });
        wake.notify_one();
    }

    /// Completes what is queued, then stops the thread.
    pub fn close(&self) {
        {
            let (lock, wake) = &*self.shared;
            let mut queue = lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            queue.closed = true;
            wake.notify_one();
        }
        let handle = self
            .thread
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(handle) = handle {
            let _ = handle.join();
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.close();
    }
}

fn run(shared: &(Mutex<Queue>, Condvar)) {
    let (lock, wake) = shared;
    loop {
        let group = {
            let mut queue = lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            while queue.pending.is_empty() && !queue.closed {
                queue = wake
                    .wait(queue)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
            }
            if queue.pending.is_empty() && queue.closed {
                return;
            }
            std::mem::take(&mut queue.pending)
        };
        // One fsync per distinct file in this group.
        // What failed, kept as (kind, OS error): io::Error is not Clone.
        let mut results: HashMap<*const File, (io::ErrorKind, Option<i32>)> = HashMap::new();
        let mut synced: Vec<*const File> = Vec::new();
        for pending in &group {
            let key = Arc::as_ptr(&pending.file);
            if synced.contains(&key) || results.contains_key(&key) {
                continue;
            }
            match pending.file.sync_data() {
                Ok(()) => synced.push(key),
                Err(e) => {
                    tracing::error!(error = %e, "fsync failed");
                    results.insert(key, (e.kind(), e.raw_os_error()));
                }
            }
        }
        for pending in group {
            let outcome = match results.get(&Arc::as_ptr(&pending.file)) {
                None => Ok(()),
                Some((_, Some(code))) => Err(io::Error::from_raw_os_error(*code)),
                Some((kind, None)) => Err(io::Error::new(*kind, "fsync failed")),
            };
            (pending.done)(outcome);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn every_queued_append_is_completed_and_close_drains() {
        let path = std::env::temp_dir().join(format!("odradek-flusher-{}", std::process::id()));
        let file = Arc::new(File::create(&path).unwrap());
        let flusher = Flusher::start().unwrap();
        let (tx, rx) = mpsc::channel();
        for i in 0..100 {
            let tx = tx.clone();
            flusher.sync(
                Arc::clone(&file),
                Box::new(move |r| tx.send((i, r.is_ok())).unwrap()),
            );
        }
        flusher.close();
        let mut done: Vec<_> = rx.try_iter().collect();
        done.sort();
        assert_eq!(done.len(), 100);
        assert!(done.iter().all(|(_, ok)| *ok));
        let (tx2, rx2) = mpsc::channel();
        flusher.sync(file, Box::new(move |r| tx2.send(r.is_err()).unwrap()));
        assert_eq!(rx2.try_recv(), Ok(true), "after close, syncs fail at once");
        std::fs::remove_file(path).unwrap();
    }
}
