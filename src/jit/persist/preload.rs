//! Start-up preloading: the most recently used records of the cache
//! directory linked before any run asks for them (what
//! [`JitCompiler::warm_up`] does), so a second process's first runs find
//! their code ready and pay only for looking it up.
//!
//! A preloaded unit waits here, linked under its canonical entry symbol,
//! until a run obtains its key; it then belongs to that run's code like any
//! other. A chunk's traces record is parsed here too and its traces'
//! code linked; the traces are imported at once for the chunk the record
//! carries (or, failing that, wait here for the chunk's first back-edge).
//! Only sound records of this build are taken; anything else is left for
//! the run that needs it to read, reject (with the reason) and replace.
//!
//! [`JitCompiler::warm_up`]: crate::jit::compiler::JitCompiler::warm_up

use super::record::CacheRecord;
use super::traces::{self, Stored};
use super::{CacheKey, Obtained, Symbol, dir, directory, key_of};
use crate::jit::events::{self, JitEvent};
use fusevm_llvm_backend::{Compiled, Jit};
use rustc_hash::FxHashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant, SystemTime};

/// The default bound on records preloaded at start-up.
pub const DEFAULT_RECORDS: usize = 128;

/// Bytes of records read at start-up, at most (whatever the count).
const MAX_BYTES: u64 = 16 << 20;

static RECORDS: AtomicUsize = AtomicUsize::new(DEFAULT_RECORDS);
static UNITS_LINKED: AtomicU64 = AtomicU64::new(0);
static NANOS: AtomicU64 = AtomicU64::new(0);

/// A unit linked at start-up, waiting for a run.
struct Unit {
    key: CacheKey,
    meta: Vec<u8>,
    /// The file's last use before this process.
    used: SystemTime,
    compiled: Compiled,
    symbol: Symbol,
    record: Vec<u8>,
}

/// Preloaded units and traces records, by file name.
#[derive(Default)]
struct Waiting {
    units: FxHashMap<String, Unit>,
    traces: FxHashMap<String, (CacheKey, Vec<Stored>, SystemTime)>,
}

static WAITING: Mutex<Option<Waiting>> = Mutex::new(None);

fn with_waiting<R>(f: impl FnOnce(&mut Waiting) -> R) -> R {
    let mut w = WAITING.lock().unwrap_or_else(|e| e.into_inner());
    f(w.get_or_insert_with(Waiting::default))
}

/// Bounds how many records [`preload`] takes (0: none).
pub(crate) fn set_records(n: usize) {
    RECORDS.store(n, Relaxed);
}

/// Units linked at start-up so far, and the time it took.
pub(crate) fn counts() -> (u64, Duration) {
    (
        UNITS_LINKED.load(Relaxed),
        Duration::from_nanos(NANOS.load(Relaxed)),
    )
}

// ── at start-up ──

/// Links the cache directory's most recently used units of this build (up
/// to the bound) and parses its traces records; returns the units linked.
pub(crate) fn preload(jit: &Jit) -> usize {
    let Some(d) = directory() else { return 0 };
    let Ok(names) = dir::most_recent(&d) else {
        return 0;
    };
    let here = key_of(Vec::new());
    let same_build = |k: &CacheKey| {
        CacheKey {
            unit: Vec::new(),
            ..k.clone()
        } == here
    };
    let (mut linked, mut bytes) = (0, 0u64);
    for (name, size) in names.into_iter().take(RECORDS.load(Relaxed)) {
        bytes += size;
        if bytes > MAX_BYTES {
            break;
        }
        let Ok(Some(dir::Read { bytes: raw, used })) = dir::read(&d, &name) else {
            continue;
        };
        let Ok(rec) = CacheRecord::decode(&raw) else {
            continue;
        };
        if !same_build(&rec.key) || rec.key.file_name() != name {
            continue;
        }
        if rec.entry != traces::ENTRY {
            linked += link(jit, name, rec, raw, used) as usize;
            continue;
        }
        let Ok(stored) = traces::parse(&rec.object) else {
            continue;
        };
        for code in stored.iter().filter_map(|(_, c)| c.as_ref()) {
            if let Ok(unit) = CacheRecord::decode(code)
                && same_build(&unit.key)
            {
                let file = unit.key.file_name();
                linked += link(jit, file, unit, code.clone(), used) as usize;
            }
        }
        // With the chunk it carries, the traces go in now (taking the units
        // just linked): a run finds them at its loops' first back-edges.
        match traces::carried_chunk(&rec) {
            Some(chunk) => traces::install_at_start(&chunk, &name, stored, used),
            None => {
                with_waiting(|w| w.traces.insert(name, (rec.key, stored, used)));
            }
        }
    }
    linked
}

/// Links the unit of record `file` under its canonical symbol (if free and
/// not waiting already); whether it was linked.
fn link(jit: &Jit, file: String, rec: CacheRecord, raw: Vec<u8>, used: SystemTime) -> bool {
    // Held while linking: a run looking for this unit waits for it.
    let mut waiting = WAITING.lock().unwrap_or_else(|e| e.into_inner());
    let waiting = waiting.get_or_insert_with(Waiting::default);
    if waiting.units.contains_key(&file) {
        return false;
    }
    let symbol = Symbol::reserve(&file);
    if !symbol.canonical || rec.entry != symbol.name {
        return false;
    }
    let start = Instant::now();
    let Ok(compiled) = jit.load_object(&[symbol.name()], &rec.object) else {
        return false;
    };
    let took = start.elapsed();
    UNITS_LINKED.fetch_add(1, Relaxed);
    NANOS.fetch_add(took.as_nanos() as u64, Relaxed);
    events::emit(|| JitEvent::CachePreloaded {
        file: file.clone(),
        millis: took.as_secs_f64() * 1e3,
    });
    waiting.units.insert(
        file,
        Unit {
            key: rec.key,
            meta: rec.meta,
            used,
            compiled,
            symbol,
            record: raw,
        },
    );
    true
}

// ── when a run needs them ──

/// Whether a unit stored as `file` waits here.
pub(crate) fn is_waiting(file: &str) -> bool {
    with_waiting(|w| w.units.contains_key(file))
}

/// The preloaded unit stored as `file`, if its key is `key`, with its
/// file's last use.
pub(crate) fn take_unit(file: &str, key: &CacheKey) -> Option<(Obtained, SystemTime)> {
    with_waiting(|w| {
        if w.units.get(file)?.key != *key {
            return None;
        }
        let u = w.units.remove(file)?;
        let got = Obtained {
            compiled: u.compiled,
            symbol: u.symbol,
            record: u.record,
            meta: u.meta,
            loaded: true,
        };
        Some((got, u.used))
    })
}

/// The parsed traces record stored as `file`, if its key is `key`, with
/// its file's last use.
pub(crate) fn take_traces(file: &str, key: &CacheKey) -> Option<(Vec<Stored>, SystemTime)> {
    with_waiting(|w| {
        if w.traces.get(file)?.0 != *key {
            return None;
        }
        w.traces.remove(file).map(|(_, t, used)| (t, used))
    })
}

/// Frees whatever still waits (a new directory was set).
pub(crate) fn forget() {
    let gone = WAITING.lock().unwrap_or_else(|e| e.into_inner()).take();
    drop(gone);
}
