//! The persistent code cache: the object code of every native unit
//! (block-tier chunks, call chunks, traces with their side paths) kept in a
//! directory, so a second process links it instead of running LLVM.
//!
//! Off by default; on with [`DIR_ENV`] or
//! [`JitCompiler::set_code_cache_dir`]. Each record is stored under its
//! [`CacheKey`] (the unit, and everything its machine code depends on) and
//! sealed by a checksum ([`record`]); a record that fails any check is
//! rejected with the reason, never linked, and replaced by a fresh
//! compilation. The directory stays under a size bound, least recently used
//! records removed first ([`dir`]). A directory that can't be written
//! degrades to compiling, with one warning event. A chunk's traces (paths,
//! kinds and code) are kept too, so a later process runs its loops
//! natively from their first back-edge (`traces.rs`).
//!
//! Trust: the checksum detects corruption and tampering by anything that
//! does not also recompute it. Like a directory of shared libraries, a
//! cache directory must be writable only by those trusted to supply code.
//!
//! [`JitCompiler::set_code_cache_dir`]: super::compiler::JitCompiler::set_code_cache_dir

pub mod dir;
pub(crate) mod preload;
pub mod record;
pub(crate) mod traces;

pub use dir::DirStats;
pub use record::{CacheKey, CacheRecord, EXTENSION, FORMAT, Rejection};

use super::block::analysis::{Inline, Inlined, Tier};
use super::events::{self, JitEvent};
use fusevm_llvm_backend::{Compiled, Jit, TargetIdentity};
use rustc_hash::FxHashSet;
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

/// The environment variable naming the cache directory (read when the
/// process first compiles or asks for the directory).
pub const DIR_ENV: &str = "FUSEVM_JIT_CACHE_DIR";

/// The default bound on the directory's size, in bytes (256 MiB).
pub const DEFAULT_DIR_LIMIT: u64 = 256 << 20;

// ── settings ──

static DIR: OnceLock<RwLock<Option<PathBuf>>> = OnceLock::new();
static LIMIT: AtomicU64 = AtomicU64::new(DEFAULT_DIR_LIMIT);
/// The directory a warning was given for (one per directory).
static WARNED: Mutex<Option<PathBuf>> = Mutex::new(None);

fn dir_cell() -> &'static RwLock<Option<PathBuf>> {
    DIR.get_or_init(|| {
        let from_env = std::env::var_os(DIR_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        RwLock::new(from_env)
    })
}

/// The cache directory in use, if any.
pub fn directory() -> Option<PathBuf> {
    dir_cell().read().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Uses `dir` from now on (`None`: no persistent cache).
pub fn set_directory(dir: Option<&Path>) {
    *dir_cell().write().unwrap_or_else(|e| e.into_inner()) = dir.map(Path::to_path_buf);
    *WARNED.lock().unwrap_or_else(|e| e.into_inner()) = None;
    *ESTIMATE.lock().unwrap_or_else(|e| e.into_inner()) = None;
    traces::forget_lookups();
    preload::forget();
}

/// Bounds the directory's size (checked after every store).
pub fn set_limit(bytes: u64) {
    LIMIT.store(bytes, Relaxed);
    *ESTIMATE.lock().unwrap_or_else(|e| e.into_inner()) = None;
}

// ── counters ──

/// What the persistent cache did, process-wide.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiskStats {
    /// Units LLVM compiled (whatever the cache did).
    pub llvm_compilations: u64,
    /// Units linked from a record instead (from the directory or carried by
    /// imported trace metadata).
    pub hits: u64,
    /// Units looked up and not found, then compiled.
    pub misses: u64,
    /// Records written.
    pub stores: u64,
    /// Records refused (each with a [`JitEvent::CacheRejected`] reason).
    pub rejected: u64,
    /// Records that could not be written (unwritable or full directory).
    pub store_failures: u64,
    /// Time runs spent reading, checking and linking records (or taking
    /// preloaded ones).
    pub load_time: Duration,
    /// Units linked at start-up by [`JitCompiler::warm_up`] (each becomes
    /// a hit when a run takes it).
    ///
    /// [`JitCompiler::warm_up`]: super::compiler::JitCompiler::warm_up
    pub preloaded: u64,
    /// Time start-up spent linking them.
    pub preload_time: Duration,
}

static COMPILES: AtomicU64 = AtomicU64::new(0);
static HITS: AtomicU64 = AtomicU64::new(0);
static MISSES: AtomicU64 = AtomicU64::new(0);
static STORES: AtomicU64 = AtomicU64::new(0);
static REJECTED: AtomicU64 = AtomicU64::new(0);
static STORE_FAILURES: AtomicU64 = AtomicU64::new(0);
static LOAD_NANOS: AtomicU64 = AtomicU64::new(0);

/// The counters.
pub fn stats() -> DiskStats {
    let (preloaded, preload_time) = preload::counts();
    DiskStats {
        preloaded,
        preload_time,
        llvm_compilations: COMPILES.load(Relaxed),
        hits: HITS.load(Relaxed),
        misses: MISSES.load(Relaxed),
        stores: STORES.load(Relaxed),
        rejected: REJECTED.load(Relaxed),
        store_failures: STORE_FAILURES.load(Relaxed),
        load_time: Duration::from_nanos(LOAD_NANOS.load(Relaxed)),
    }
}

// ── keys ──

/// The canonical bytes of a unit: what `compiler`'s in-memory key holds
/// besides the owner, in a fixed layout.
pub(crate) fn unit_bytes(
    hash: u128,
    (tier, inlined): (Tier, &Inlined),
    fuel: bool,
    tags: &[u8],
    globals: &[u8],
) -> Vec<u8> {
    let mut u = Vec::with_capacity(32 + tags.len() + globals.len() + 17 * inlined.len());
    u.extend_from_slice(b"unit1");
    u.extend_from_slice(&hash.to_le_bytes());
    u.push(match tier {
        Tier::Block => 0,
        Tier::Trace => 1,
    });
    u.push(fuel as u8);
    for part in [tags, globals] {
        u.extend_from_slice(&(part.len() as u32).to_le_bytes());
        u.extend_from_slice(part);
    }
    u.extend_from_slice(&(inlined.len() as u32).to_le_bytes());
    for (ip, inl) in inlined {
        u.extend_from_slice(&(*ip as u64).to_le_bytes());
        match inl {
            Inline::Call { return_ip } => {
                u.push(0);
                u.extend_from_slice(&(*return_ip as u64).to_le_bytes());
            }
            Inline::Return => u.push(1),
            Inline::Element(tag) => u.extend_from_slice(&[2, *tag]),
        }
    }
    u
}

/// What this process's code depends on besides its IR (read once).
pub(crate) fn identity() -> &'static TargetIdentity {
    static IDENTITY: OnceLock<TargetIdentity> = OnceLock::new();
    IDENTITY.get_or_init(Jit::target_identity)
}

/// The key of `unit` in this process.
pub(crate) fn key_of(unit: Vec<u8>) -> CacheKey {
    let id = identity();
    CacheKey {
        crate_version: env!("CARGO_PKG_VERSION").into(),
        build: env!("FUSEVM_BUILD_FINGERPRINT").into(),
        llvm_version: id.llvm_version.clone(),
        triple: id.triple.clone(),
        cpu: id.cpu.clone(),
        features: id.features.clone(),
        unit,
    }
}

// ── entry symbols ──

static LIVE: Mutex<Option<FxHashSet<String>>> = Mutex::new(None);
static SUFFIX: AtomicU64 = AtomicU64::new(0);

/// A unit's entry symbol, reserved while its code lives: symbols share one
/// JITDylib, so a name may be linked again only once its code is freed.
pub(crate) struct Symbol {
    name: String,
    /// The key's own name (`false`: a stand-in, neither loaded nor stored).
    canonical: bool,
}

impl Symbol {
    /// Reserves `fvm_<stem>` for the record `file` (its key's name) if
    /// free, else a unique stand-in.
    fn reserve(file: &str) -> Symbol {
        let stem = file.trim_end_matches(&format!(".{EXTENSION}"));
        let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
        let live = live.get_or_insert_with(FxHashSet::default);
        let name = format!("fvm_{stem}");
        if live.insert(name.clone()) {
            return Symbol {
                name,
                canonical: true,
            };
        }
        let name = format!("{name}_{}", SUFFIX.fetch_add(1, Relaxed));
        live.insert(name.clone());
        Symbol {
            name,
            canonical: false,
        }
    }

    /// The symbol.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for Symbol {
    fn drop(&mut self) {
        if let Some(live) = LIVE.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            live.remove(&self.name);
        }
    }
}

// ── records carried by imported trace metadata ──

thread_local! {
    static OFFERED: RefCell<Option<Vec<u8>>> = const { RefCell::new(None) };
}

/// Runs `f` with `record` offered to the units it compiles (an imported
/// trace's code): a unit whose key it fits links it instead of compiling.
pub(crate) fn with_offered<R>(record: Option<Vec<u8>>, f: impl FnOnce() -> R) -> R {
    let before = OFFERED.with(|o| o.replace(record));
    let r = f();
    OFFERED.with(|o| o.replace(before));
    r
}

// ── getting a unit's code ──

/// Whether a unit may be compiled, or only linked from a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Want {
    /// Link a record if there is one, else compile.
    Code,
    /// Link a record if there is one, else nothing (below a threshold).
    StoredOnly,
}

/// A unit's key in this process and the file name it is stored under.
pub(crate) struct UnitKey {
    key: CacheKey,
    file: String,
}

impl UnitKey {
    /// The key of `unit` (its canonical bytes: [`unit_bytes`]).
    pub fn new(unit: Vec<u8>) -> UnitKey {
        let key = key_of(unit);
        let file = key.file_name();
        UnitKey { key, file }
    }
}

/// Whether a record for `unit` may be at hand: preloaded, offered by an
/// imported trace, or in the cache directory (not checked: [`obtain`] does
/// that).
pub(crate) fn is_stored(unit: &UnitKey) -> bool {
    preload::is_waiting(&unit.file)
        || OFFERED.with(|o| o.borrow().is_some())
        || directory().is_some_and(|d| d.join(&unit.file).is_file())
}

/// A unit's code and where it came from.
pub(crate) struct Obtained {
    pub compiled: Compiled,
    pub symbol: Symbol,
    /// The record's bytes (what a trace export carries).
    pub record: Vec<u8>,
    /// What running it needs besides the code (the record's `meta`).
    pub meta: Vec<u8>,
    /// Linked from a record, not compiled.
    pub loaded: bool,
}

/// The code of the unit `unit` (owned by chunk `owner`): linked from a
/// preloaded or offered record or the directory when one fits, else
/// compiled by `compile` (given the entry symbol to define; it returns the
/// code and the record's `meta`) and stored. `dumps`: the caller wants IR
/// or assembly, which only a compilation has.
pub(crate) fn obtain(
    jit: &Jit,
    owner: u128,
    unit: UnitKey,
    want: Want,
    dumps: bool,
    compile: impl FnOnce(&str) -> Result<(Compiled, Vec<u8>), String>,
) -> Result<Option<Obtained>, String> {
    let dir = directory();
    let offered = OFFERED.with(|o| o.borrow_mut().take());
    if dir.is_none() && offered.is_none() && want == Want::StoredOnly {
        return Ok(None);
    }
    let start = Instant::now();
    let UnitKey { key, file } = unit;
    if !dumps && let Some((got, used)) = preload::take_unit(&file, &key) {
        if let Some(d) = dir.as_deref() {
            dir::touch(d, &file, used);
        }
        hit(owner, format!("{file} (preloaded)"), start.elapsed());
        return Ok(Some(got));
    }
    let symbol = Symbol::reserve(&file);
    if symbol.canonical && !dumps {
        // The bytes, where they came from, and when a file was last used.
        let found = offered
            .map(|bytes| ("imported trace code".to_string(), bytes, None))
            .or_else(|| {
                let dir = dir.as_deref()?;
                match dir::read(dir, &file) {
                    Ok(r) => r.map(|r| (file.clone(), r.bytes, Some(r.used))),
                    Err(e) => {
                        reject(owner, &file, e.to_string(), None);
                        None
                    }
                }
            });
        if let Some((source, bytes, used)) = found {
            let disk = dir.as_deref().filter(|_| used.is_some());
            match link(jit, &key, &symbol, &bytes) {
                Ok((compiled, meta)) => {
                    if let (Some(d), Some(used)) = (disk, used) {
                        dir::touch(d, &file, used);
                    }
                    hit(owner, source, start.elapsed());
                    return Ok(Some(Obtained {
                        compiled,
                        symbol,
                        record: bytes,
                        meta,
                        loaded: true,
                    }));
                }
                Err(why) => reject(owner, &source, why, disk),
            }
        } else if want == Want::Code && dir.is_some() {
            MISSES.fetch_add(1, Relaxed);
            events::emit(|| JitEvent::CacheMiss {
                chunk: owner,
                file: file.clone(),
            });
        }
    }
    if want == Want::StoredOnly {
        return Ok(None);
    }
    COMPILES.fetch_add(1, Relaxed);
    let (mut compiled, meta) = compile(symbol.name())?;
    let record = CacheRecord {
        key,
        entry: symbol.name.clone(),
        object: compiled.object.take().unwrap_or_default(),
        meta,
    };
    let (meta, record) = (record.meta.clone(), record.encode());
    if let Some(d) = dir.filter(|_| symbol.canonical) {
        store(owner, &d, &file, &record);
    }
    Ok(Some(Obtained {
        compiled,
        symbol,
        record,
        meta,
        loaded: false,
    }))
}

/// Counts and reports a unit's code taken from the cache (`took`: finding,
/// checking and linking it).
fn hit(owner: u128, file: String, took: Duration) {
    HITS.fetch_add(1, Relaxed);
    LOAD_NANOS.fetch_add(took.as_nanos() as u64, Relaxed);
    events::emit(|| JitEvent::CacheHit {
        chunk: owner,
        file,
        millis: took.as_secs_f64() * 1e3,
    });
}

/// Checks `bytes` against `key` and links the object under `symbol`;
/// gives the code and the record's `meta`.
fn link(
    jit: &Jit,
    key: &CacheKey,
    symbol: &Symbol,
    bytes: &[u8],
) -> Result<(Compiled, Vec<u8>), String> {
    let rec = CacheRecord::decode_for(bytes, key).map_err(|r| r.to_string())?;
    if rec.entry != symbol.name {
        return Err(format!(
            "entry symbol `{}` is not the key's `{}`",
            rec.entry, symbol.name
        ));
    }
    jit.load_object(&[&symbol.name], &rec.object)
        .map(|c| (c, rec.meta))
        .map_err(|e| format!("linking failed: {e}"))
}

/// Counts and reports a refused record, removing it from `disk` (it is
/// replaced when the unit is stored again).
pub(crate) fn reject(owner: u128, file: &str, reason: String, disk: Option<&Path>) {
    REJECTED.fetch_add(1, Relaxed);
    if let Some(d) = disk {
        dir::remove(d, file);
    }
    events::emit(|| JitEvent::CacheRejected {
        chunk: owner,
        file: file.to_string(),
        reason,
    });
}

/// This process's estimate of its cache directory's size: scanned at the
/// first store, then counted up; rescanned (and trimmed) only past the
/// bound. Another process's stores make it low, so a shared directory may
/// overshoot until one of them rescans.
static ESTIMATE: Mutex<Option<(PathBuf, u64)>> = Mutex::new(None);

/// Keeps `dir` under the bound after a store of `added` bytes.
fn bound(dir: &Path, added: u64) {
    let limit = LIMIT.load(Relaxed);
    let mut est = ESTIMATE.lock().unwrap_or_else(|e| e.into_inner());
    let known = est.as_ref().filter(|(d, _)| d == dir).map(|(_, n)| *n);
    match known.map(|n| n.saturating_add(added)) {
        Some(n) if n <= limit => *est = Some((dir.to_path_buf(), n)),
        _ => {
            *est = dir::enforce_limit(dir, limit)
                .ok()
                .map(|n| (dir.to_path_buf(), n))
        }
    }
}

/// Writes a record and keeps the directory under its bound; a failure is
/// reported once per directory, and the code is used all the same.
pub(crate) fn store(owner: u128, dir: &Path, file: &str, record: &[u8]) {
    match dir::write_atomic(dir, file, record) {
        Ok(()) => {
            STORES.fetch_add(1, Relaxed);
            events::emit(|| JitEvent::CacheStored {
                chunk: owner,
                file: file.to_string(),
                bytes: record.len(),
            });
            bound(dir, record.len() as u64);
        }
        Err(e) => {
            STORE_FAILURES.fetch_add(1, Relaxed);
            let mut warned = WARNED.lock().unwrap_or_else(|e| e.into_inner());
            if warned.as_deref() != Some(dir) {
                *warned = Some(dir.to_path_buf());
                events::emit(|| JitEvent::CacheUnwritable {
                    dir: dir.display().to_string(),
                    reason: e.to_string(),
                });
            }
        }
    }
}
