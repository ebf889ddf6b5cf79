//! A chunk's traces kept beside its code: after every trace compilation
//! the chunk's trace metadata (with each trace's code) is stored as one
//! record; a later process imports it at the first back-edge of any of the
//! chunk's loops, so its loops run natively without recording, waiting
//! for exits to get hot, or compiling.
//!
//! The record is sealed and keyed like any unit's (a file of another build
//! or CPU is foreign); its metadata is checked by the import like any
//! other, so a record can only ever describe paths that fit the chunk. It
//! carries the chunk too (as its `meta`), so a warm-up can import the
//! traces before any run (`preload.rs`): the chunk must verify and have
//! the content hash the record is keyed by.

use super::record::CacheRecord;
use super::{dir, directory, key_of, reject};
use crate::bytecode::chunk::Chunk;
use crate::jit::trace::meta::{self, TraceMetadata};
use rustc_hash::FxHashSet;
use std::sync::Mutex;
use std::time::SystemTime;

/// The entry name a traces record carries (it holds no code of its own).
pub(crate) const ENTRY: &str = "traces";

/// What a traces record's unit starts with (the chunk's content hash follows).
const UNIT_TAG: &[u8] = b"traces2";

/// Chunks whose traces record this process has looked for.
static LOOKED: Mutex<Option<FxHashSet<u128>>> = Mutex::new(None);

/// The key of `chunk`'s traces record.
pub(crate) fn key(hash: u128) -> super::CacheKey {
    let mut unit = UNIT_TAG.to_vec();
    unit.extend_from_slice(&hash.to_le_bytes());
    key_of(unit)
}

/// Stores every trace of `chunk` (with code) as its traces record, if a
/// cache directory is in use. The record's payload: a count, then per
/// trace its metadata (JSON) and its code's record, each length-prefixed;
/// its `meta`: the chunk (JSON).
pub(crate) fn save(chunk: &Chunk) {
    let Some(d) = directory() else { return };
    let traces = meta::export_all_with_records(chunk);
    let mut payload = Vec::new();
    payload.extend_from_slice(&(traces.len() as u32).to_le_bytes());
    for (m, code) in &traces {
        let Ok(json) = serde_json::to_vec(m) else {
            return;
        };
        let code = code.as_deref().unwrap_or_default();
        for part in [&json[..], code] {
            payload.extend_from_slice(&(part.len() as u32).to_le_bytes());
            payload.extend_from_slice(part);
        }
    }
    let key = key(chunk.sealed_hash());
    let file = key.file_name();
    let record = CacheRecord {
        key,
        entry: ENTRY.into(),
        object: payload,
        meta: serde_json::to_vec(chunk).unwrap_or_default(),
    }
    .encode();
    super::store(chunk.sealed_hash(), &d, &file, &record);
}

/// A stored trace: its metadata and its code's cache record.
pub(crate) type Stored = (TraceMetadata, Option<Vec<u8>>);

/// The traces a payload holds, or why it is malformed.
pub(crate) fn parse(payload: &[u8]) -> Result<Vec<Stored>, String> {
    let mut rest = payload;
    let word = |rest: &mut &[u8]| -> Result<usize, String> {
        let (w, tail) = rest
            .split_first_chunk::<4>()
            .ok_or("the payload runs past its end")?;
        *rest = tail;
        Ok(u32::from_le_bytes(*w) as usize)
    };
    let count = word(&mut rest)?;
    let mut traces = Vec::new();
    for _ in 0..count {
        let mut parts = [&[][..]; 2];
        for part in &mut parts {
            let len = word(&mut rest)?;
            if len > rest.len() {
                return Err("the payload runs past its end".into());
            }
            (*part, rest) = rest.split_at(len);
        }
        let meta: TraceMetadata = serde_json::from_slice(parts[0])
            .map_err(|e| format!("trace metadata does not parse: {e}"))?;
        let code = (!parts[1].is_empty()).then(|| parts[1].to_vec());
        traces.push((meta, code));
    }
    if !rest.is_empty() {
        return Err("bytes after the last trace".into());
    }
    Ok(traces)
}

/// Imports `chunk`'s traces record, once per process and chunk, if a cache
/// directory is in use and holds one. Returns whether any trace came in.
pub(crate) fn load_once(chunk: &Chunk) -> bool {
    let Some(d) = directory() else { return false };
    let hash = chunk.sealed_hash();
    if !first_look(hash) {
        return false;
    }
    let key = key(hash);
    let file = key.file_name();
    let (traces, used) = match super::preload::take_traces(&file, &key) {
        Some(t) => t,
        None => match read(&d, &file, &key) {
            Ok(Some(t)) => t,
            Ok(None) => return false,
            Err((why, disk)) => {
                reject(hash, &file, why, disk.then_some(&*d));
                return false;
            }
        },
    };
    install(chunk, &file, traces, used)
}

/// Imports the traces of a traces record read at start-up, for the chunk it
/// carries, unless the chunk was looked up already.
pub(crate) fn install_at_start(chunk: &Chunk, file: &str, traces: Vec<Stored>, used: SystemTime) {
    if first_look(chunk.sealed_hash()) {
        install(chunk, file, traces, used);
    }
}

/// Marks `hash` looked up; whether this is the first time.
fn first_look(hash: u128) -> bool {
    let mut looked = LOOKED.lock().unwrap_or_else(|e| e.into_inner());
    let looked = looked.get_or_insert_with(FxHashSet::default);
    if looked.len() >= 1 << 16 {
        looked.clear(); // bounded: looking again is only a file read
    }
    looked.insert(hash)
}

/// Imports `chunk`'s stored traces (from the record `file`, last used at
/// `used`); a trace that does not fit is refused with the reason. Returns
/// whether any came in.
fn install(chunk: &Chunk, file: &str, traces: Vec<Stored>, used: SystemTime) -> bool {
    let hash = chunk.sealed_hash();
    let mut any = false;
    for (m, code) in traces {
        match meta::import_with(chunk, &m, code) {
            Ok(()) => any = true,
            Err(why) => reject(
                hash,
                file,
                format!("trace at op {}: {why}", m.anchor_ip),
                None,
            ),
        }
    }
    if any && let Some(d) = directory() {
        dir::touch(&d, file, used);
    }
    any
}

/// The chunk a traces record carries, if it verifies and is the chunk the
/// record is keyed by.
pub(crate) fn carried_chunk(rec: &CacheRecord) -> Option<Chunk> {
    let hash = rec.key.unit.strip_prefix(UNIT_TAG)?;
    let hash = u128::from_le_bytes(hash.try_into().ok()?);
    let chunk: Chunk = serde_json::from_slice(&rec.meta).ok()?;
    (chunk.sealed_hash() == hash && crate::bytecode::verify::verify(&chunk).is_ok())
        .then_some(chunk)
}

/// A traces record's traces and its file's last use.
type Found = (Vec<Stored>, SystemTime);

/// Reads, checks and parses the traces record `file`, with its last use
/// (`Ok(None)`: there is none); a refusal says whether the file itself is
/// bad (to remove it).
fn read(
    d: &std::path::Path,
    file: &str,
    key: &super::CacheKey,
) -> Result<Option<Found>, (String, bool)> {
    let r = match dir::read(d, file) {
        Ok(Some(r)) => r,
        Ok(None) => return Ok(None),
        Err(e) => return Err((e.to_string(), false)),
    };
    CacheRecord::decode_for(&r.bytes, key)
        .map_err(|r| r.to_string())
        .and_then(|rec| parse(&rec.object))
        .map(|t| Some((t, r.used)))
        .map_err(|why| (why, true))
}

/// Forgets which chunks were looked up (a new directory was set).
pub(crate) fn forget_lookups() {
    *LOOKED.lock().unwrap_or_else(|e| e.into_inner()) = None;
}

/// Forgets that `hash` was looked up (its traces were evicted: a later
/// run may import them again).
pub(crate) fn forget_chunk(hash: u128) {
    if let Some(looked) = LOOKED.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
        looked.remove(&hash);
    }
}
