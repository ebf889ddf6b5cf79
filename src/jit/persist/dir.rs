//! The cache directory: reading a record, writing one atomically, keeping
//! the directory under its size bound (least recently used files go
//! first), and what `fusevm-llvm cache stats|clear` report.

use super::record::{EXTENSION, MAX_RECORD};
use std::fs::{self, File};
use std::io::{self, Read as _, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, SystemTime};

/// A writer's temporary file older than this is taken for a crashed
/// writer's leftover and removed.
const STALE_TEMP: Duration = Duration::from_secs(600);

/// Temporary file names start with this (never a record's name).
const TEMP_PREFIX: &str = ".tmp-";

/// A record file's bytes and when it was last used.
pub struct Read {
    /// The file's content.
    pub bytes: Vec<u8>,
    /// Its modification time (what orders eviction).
    pub used: SystemTime,
}

/// Reads the record stored as `name`; `Ok(None)` when there is none.
/// Something else at that path (a directory, a file over
/// [`MAX_RECORD`]) is an error whose message says what.
pub fn read(dir: &Path, name: &str) -> io::Result<Option<Read>> {
    let path = dir.join(name);
    let mut file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    if meta.len() > MAX_RECORD {
        return Err(io::Error::other(format!(
            "{} bytes, over the {MAX_RECORD}-byte bound",
            meta.len()
        )));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    io::Read::by_ref(&mut file)
        .take(MAX_RECORD + 1)
        .read_to_end(&mut bytes)?;
    let used = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    Ok(Some(Read { bytes, used }))
}

/// A record marked used this recently is not marked again: eviction needs
/// no finer order, and a run's first hits skip three system calls each.
const FRESH: Duration = Duration::from_secs(60);

/// Marks `name` used now (its modification time orders eviction), unless
/// its last use, `used`, is within the last minute.
pub fn touch(dir: &Path, name: &str, used: SystemTime) {
    if used.elapsed().is_ok_and(|age| age < FRESH) {
        return;
    }
    if let Ok(f) = File::options().append(true).open(dir.join(name)) {
        let _ = f.set_modified(SystemTime::now());
    }
}

/// Removes the record `name` (a rejected one); a directory standing there
/// is left alone.
pub fn remove(dir: &Path, name: &str) {
    let path = dir.join(name);
    if fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
        let _ = fs::remove_file(path);
    }
}

/// Writes `bytes` as `name`: to a temporary file, flushed to disk, then
/// renamed over the old one, so a reader (or a second writer of the same
/// record) only ever sees a whole file.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    fs::create_dir_all(dir)?;
    let temp = dir.join(format!(
        "{TEMP_PREFIX}{}-{}-{name}",
        std::process::id(),
        SEQ.fetch_add(1, Relaxed)
    ));
    let written = (|| {
        let mut f = File::create(&temp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&temp, dir.join(name))
    })();
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    written
}

/// A record file: its path, size and last use.
struct Stored {
    path: PathBuf,
    bytes: u64,
    used: SystemTime,
}

/// The records in `dir`, and leftover temporary files removed on the way.
fn records(dir: &Path, clean_temps: bool) -> io::Result<Vec<Stored>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        let used = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        if name.starts_with(TEMP_PREFIX) {
            let old = used.elapsed().is_ok_and(|age| age > STALE_TEMP);
            if clean_temps && old {
                let _ = fs::remove_file(entry.path());
            }
            continue;
        }
        if Path::new(name.as_ref()).extension() == Some(EXTENSION.as_ref()) {
            out.push(Stored {
                path: entry.path(),
                bytes: meta.len(),
                used,
            });
        }
    }
    Ok(out)
}

/// When the directory's records take more than `limit` bytes, removes the
/// least recently used until they take at most nine tenths of it (so a
/// full directory is not rescanned at every store). Returns the bytes that
/// remain.
pub fn enforce_limit(dir: &Path, limit: u64) -> io::Result<u64> {
    let mut recs = records(dir, true)?;
    let mut total: u64 = recs.iter().map(|r| r.bytes).sum();
    if total <= limit {
        return Ok(total);
    }
    let target = limit - limit / 10;
    recs.sort_by_key(|r| r.used);
    for r in recs {
        if total <= target {
            break;
        }
        if fs::remove_file(&r.path).is_ok() {
            total -= r.bytes;
        }
    }
    Ok(total)
}

/// What a cache directory holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DirStats {
    /// Record files.
    pub records: usize,
    /// Their total size in bytes.
    pub bytes: u64,
    /// Records that fail their checks (format, length, checksum, body);
    /// they are replaced when their unit is next compiled.
    pub unreadable: usize,
}

/// Counts the records in `dir` and checks each one's integrity.
pub fn stats(dir: &Path) -> io::Result<DirStats> {
    let mut s = DirStats::default();
    for r in records(dir, false)? {
        s.records += 1;
        s.bytes += r.bytes;
        let sound = fs::read(&r.path)
            .ok()
            .is_some_and(|b| super::record::CacheRecord::decode(&b).is_ok());
        if !sound {
            s.unreadable += 1;
        }
    }
    Ok(s)
}

/// Removes every record (and leftover temporary file) from `dir`; other
/// files are left alone. Returns how many records were removed.
pub fn clear(dir: &Path) -> io::Result<usize> {
    let mut n = 0;
    for r in records(dir, true)? {
        if fs::remove_file(&r.path).is_ok() {
            n += 1;
        }
    }
    Ok(n)
}

/// The names of `dir`'s records, most recently used first, with their
/// sizes (what start-up preloading walks).
pub fn most_recent(dir: &Path) -> io::Result<Vec<(String, u64)>> {
    let mut recs = records(dir, false)?;
    recs.sort_by_key(|r| std::cmp::Reverse(r.used));
    Ok(recs
        .into_iter()
        .filter_map(|r| {
            let name = r.path.file_name()?.to_str()?.to_string();
            Some((name, r.bytes))
        })
        .collect())
}
