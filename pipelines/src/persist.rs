//! The persistent sending queue (`sending_queue.storage: <dir>`): one file per batch, so batches survive a
//! restart of llmtel and are sent after it comes back.
//!
//! Each file is `<sequence>.batch`: the magic `LLMTELQ1`, one byte for the signal, the body length (u64 LE), a
//! CRC-32 of the body (u32 LE), then the body, an OTLP export request in protobuf. A batch is written to a `.tmp`
//! file, fsynced, then renamed, so a crash leaves either the whole file or a `.tmp` that is removed at start.
//! Durability: a batch counts as queued once its file is fsynced and renamed; the directory itself is not fsynced,
//! so a power cut (not a crash of llmtel) may lose the last few renames. Batches still in memory queues in front of
//! the disk (the pipeline's and the exporter's channel) are not persisted until they reach it; a graceful shutdown
//! moves them to disk first. A file that fails its checks is renamed `*.corrupt` with a warning, never a crash.

use std::collections::VecDeque;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::payload::{Payload, Signal};

const MAGIC: &[u8; 8] = b"LLMTELQ1";
const HEADER: usize = 8 + 1 + 8 + 4;

/// Batch files in a directory, oldest first.
#[derive(Debug)]
pub(crate) struct DiskQueue {
    dir: PathBuf,
    pending: VecDeque<PathBuf>,
    next_seq: u64,
}

impl DiskQueue {
    /// Opens (creating if needed) `dir`, removes leftover `.tmp` files and queues the `.batch` files found.
    pub(crate) fn open(dir: &Path) -> Result<Self, String> {
        fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        let mut found: Vec<(u64, PathBuf)> = Vec::new();
        let entries = fs::read_dir(dir).map_err(|e| format!("read {}: {e}", dir.display()))?;
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".tmp") {
                let _ = fs::remove_file(&path);
            } else if let Some(seq) = name
                .strip_suffix(".batch")
                .and_then(|n| n.parse::<u64>().ok())
            {
                found.push((seq, path));
            }
        }
        found.sort();
        let next_seq = found.last().map_or(0, |(s, _)| s + 1);
        Ok(Self {
            dir: dir.to_owned(),
            pending: found.into_iter().map(|(_, p)| p).collect(),
            next_seq,
        })
    }

    /// Batches waiting on disk.
    pub(crate) fn len(&self) -> usize {
        self.pending.len()
    }

    /// The oldest waiting batch's file, taken off the queue (delete it with [`remove`] once it is done).
    pub(crate) fn pop(&mut self) -> Option<PathBuf> {
        self.pending.pop_front()
    }

    /// The path the next batch will be written to; call [`write`] with it, then [`DiskQueue::push`].
    pub(crate) fn next_path(&mut self) -> PathBuf {
        let p = self.dir.join(format!("{:020}.batch", self.next_seq));
        self.next_seq += 1;
        p
    }

    /// Queues a file written by [`write`].
    pub(crate) fn push(&mut self, path: PathBuf) {
        self.pending.push_back(path);
    }
}

/// Writes `batch` durably to `path` (see the module docs).
pub(crate) fn write(path: &Path, batch: Payload) -> Result<(), String> {
    let signal = batch.signal();
    let body = batch.into_request_bytes();
    let mut data = Vec::with_capacity(HEADER + body.len());
    data.extend_from_slice(MAGIC);
    data.push(signal_byte(signal));
    data.extend_from_slice(&(body.len() as u64).to_le_bytes());
    data.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    data.extend_from_slice(&body);
    let tmp = path.with_extension("tmp");
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(&data)?;
        f.sync_data()?;
        fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        format!("write {}: {e}", path.display())
    })
}

/// Reads a batch file back, checking every part of it.
pub(crate) fn read(path: &Path) -> Result<Payload, String> {
    let data = fs::read(path).map_err(|e| format!("read {}: {e}", path.display()))?;
    let bad = |what: &str| format!("{}: {what}", path.display());
    if data.len() < HEADER || &data[..8] != MAGIC {
        return Err(bad("not a batch file (bad header)"));
    }
    let Some(signal) = Signal::from_index(usize::from(data[8])) else {
        return Err(bad("unknown signal"));
    };
    let len = u64::from_le_bytes(data[9..17].try_into().map_err(|_| bad("bad length"))?) as usize;
    let crc = u32::from_le_bytes(
        data[17..21]
            .try_into()
            .map_err(|_| bad("bad checksum field"))?,
    );
    let body = &data[HEADER..];
    if body.len() != len {
        return Err(bad(&format!("truncated: {} of {len} bytes", body.len())));
    }
    if crc32fast::hash(body) != crc {
        return Err(bad("checksum mismatch"));
    }
    Payload::from_request_bytes(signal, body).map_err(|e| bad(&format!("protobuf: {e}")))
}

/// Deletes a batch file that is done.
pub(crate) fn remove(path: &Path) {
    if let Err(e) = fs::remove_file(path) {
        tracing::warn!(file = %path.display(), error = %e, "cannot delete a sent batch from the persistent queue");
    }
}

/// Sets a bad file aside so it is neither retried nor lost.
pub(crate) fn quarantine(path: &Path) {
    let _ = fs::rename(path, path.with_extension("corrupt"));
}

/// The byte naming `s` in a batch file: its [`Signal::index`] (0, 1 or 2, so it always fits).
fn signal_byte(s: Signal) -> u8 {
    s.index() as u8
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::tests::{logs, metrics, spans};

    #[test]
    fn batches_round_trip_in_order_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let mut q = DiskQueue::open(dir.path()).unwrap();
        for b in [spans(3), metrics(2, 2), logs(5)] {
            let p = q.next_path();
            write(&p, b).unwrap();
            q.push(p);
        }
        drop(q);
        let mut q = DiskQueue::open(dir.path()).unwrap();
        assert_eq!(q.len(), 3);
        let got: Vec<Payload> = std::iter::from_fn(|| q.pop())
            .map(|p| read(&p).unwrap())
            .collect();
        assert_eq!(got, vec![spans(3), metrics(2, 2), logs(5)]);
        let p = q.next_path();
        assert!(
            p.ends_with("00000000000000000003.batch"),
            "sequence continues after a restart: {p:?}"
        );
    }

    #[test]
    fn damaged_and_partial_files_are_reported_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let mut q = DiskQueue::open(dir.path()).unwrap();
        let (a, b) = (q.next_path(), q.next_path());
        write(&a, spans(2)).unwrap();
        write(&b, spans(2)).unwrap();
        std::fs::write(dir.path().join("00000000000000000009.tmp"), b"half").unwrap();
        let mut bytes = std::fs::read(&a).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&a, &bytes).unwrap();
        let full = std::fs::read(&b).unwrap();
        std::fs::write(&b, &full[..full.len() - 3]).unwrap();

        let mut q = DiskQueue::open(dir.path()).unwrap();
        assert_eq!(q.len(), 2, "the .tmp leftover is removed, not queued");
        assert!(
            read(&q.pop().unwrap())
                .unwrap_err()
                .contains("checksum mismatch")
        );
        assert!(read(&q.pop().unwrap()).unwrap_err().contains("truncated"));
        assert!(!dir.path().join("00000000000000000009.tmp").exists());
    }
}
