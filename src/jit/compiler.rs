//! [`JitCompiler`]: the public entry points of the native tiers, the code
//! cache they share and their counters.
//!
//! Compiled code is shared by every thread of the process, keyed by the
//! chunk's content hash *and* the kinds of its slots at entry (code
//! specialises on them). Decisions are per thread, like the configuration:
//! each thread counts its own invocations of a chunk against
//! `block_threshold`. A chunk that fails to compile is remembered with its
//! reason and never retried.

use super::block::analysis::{Inlined, Tier};
use super::block::{BlockCode, Exit, Words};
use super::engine;
use super::events::{self, JitEvent};
use super::kinds::*;
use super::persist::{self, Want};
use super::trace;
use super::trace::meta::TraceMetadata;
use crate::bytecode::chunk::Chunk;
use crate::bytecode::op::Op;
use crate::bytecode::value::Value;
use crate::interp::vm::{VM, VMResult};
use fusevm_llvm_backend::{CompileTimings, DumpOptions};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// The JIT's entry points. A `JitCompiler` is a cheap handle: compiled code
/// lives in a process-wide cache, configuration and invocation counts are
/// per thread.
///
/// ```
/// use fusevm_llvm::{assemble, JitCompiler};
/// let chunk = assemble("
///         LoadInt 0
///         SetSlot 0
/// head:   SlotIncLtIntJumpBack 0 1000 head
///         GetSlot 0
///         GetSlot 1
///         Add
/// ").unwrap();
/// let jit = JitCompiler::new();
/// assert!(jit.is_block_eligible(&chunk));
/// let mut slots = [0, 5];
/// assert_eq!(jit.try_run_block_eager(&chunk, &mut slots), Some(1005));
/// assert_eq!(slots, [1000, 5]);
/// assert!(jit.block_jit_is_compiled(&chunk));
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct JitCompiler {
    _private: (),
}

/// The kind of a numeric slot, as in fusevm: what the `_kinded` entry
/// points pass beside each slot's `i64` (the value's bits: `f64::to_bits`
/// for Float), and the numeric kinds a trace's entry guard checks
/// ([`TraceMetadata::slot_kinds_at_anchor`]).
///
/// [`TraceMetadata::slot_kinds_at_anchor`]: crate::TraceMetadata::slot_kinds_at_anchor
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SlotKind {
    /// `Int`.
    Int,
    /// `Float`.
    Float,
}

impl SlotKind {
    /// The kind of a native tag, if numeric.
    pub(crate) fn of_tag(tag: u8) -> Option<SlotKind> {
        match tag {
            TAG_INT => Some(SlotKind::Int),
            TAG_FLOAT => Some(SlotKind::Float),
            _ => None,
        }
    }

    /// The native tag of this kind.
    pub(crate) fn tag(self) -> u8 {
        match self {
            SlotKind::Int => TAG_INT,
            SlotKind::Float => TAG_FLOAT,
        }
    }
}

/// The result of a block-tier run through the typed entry points, as in
/// fusevm: the value the chunk leaves, when it is a number or a Bool.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BlockNum {
    /// `Ok(Int)`.
    Int(i64),
    /// `Ok(Float)`.
    Float(f64),
    /// `Ok(Bool)`.
    Bool(bool),
}

/// Process-wide counters of the native tiers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JitStats {
    /// Chunks compiled by the block tier (per set of entry kinds).
    pub block_compiled: u64,
    /// Chunks the block tier refused or failed to compile.
    pub block_failed: u64,
    /// Runs entered in block-tier code.
    pub block_runs: u64,
    /// Runs that left native code before the end (the interpreter finished).
    pub block_early_exits: u64,
    /// Time spent building IR, in O2 and in code generation.
    pub compile_time: (Duration, Duration, Duration),
    /// Trace recordings started.
    pub trace_recorded: u64,
    /// Traces compiled.
    pub trace_compiled: u64,
    /// Trace recordings or compilations abandoned (reasons:
    /// [`JitCompiler::trace_failure`]).
    pub trace_aborted: u64,
    /// Side exits taken from traces.
    pub trace_side_exits: u64,
    /// Calls inlined into compiled traces (counted per compilation).
    pub trace_inlined_calls: u64,
    /// Exits taken inside inlined calls (each rebuilt the callee's frames).
    pub trace_callee_exits: u64,
    /// Calls from interpreted code run as native code (a hot subroutine of
    /// a chunk not compiled whole).
    pub native_calls: u64,
    /// Loop headers blacklisted.
    pub trace_blacklisted: u64,
    /// Time spent compiling traces (included in `compile_time`).
    pub trace_compile_time: Duration,
    /// What the persistent code cache did: units LLVM compiled, units
    /// linked from records instead (hits), misses, stores, rejected records
    /// (see [`JitCompiler::set_code_cache_dir`]).
    pub disk: persist::DiskStats,
    /// Calls native code made to the value helper: ops it runs through the
    /// interpreter's own code (boxed operands, strings, hashes, array
    /// accesses off the fast path).
    pub value_helper_calls: u64,
    /// Array views native code fetched (once per array and loop entry, or
    /// after a value helper call; see `block::lower::arrays`).
    pub array_views: u64,
    /// Times a block-tier loop that works on arrays entered its *fast
    /// copy* (the loop built again with its array checks made once at its
    /// entry; see `block::lower::versions`).
    pub fast_copy_entries: u64,
    /// Times a fast copy left for its loop's general copy (an index out of
    /// range, an element of another kind, a helper call needed).
    pub fast_copy_bails: u64,
    /// Compilations handed to the compiler thread
    /// ([`TraceJitConfig::background_compile`](super::config::TraceJitConfig::background_compile)).
    pub compiles_queued: u64,
    /// Of those, run to the end: installed, or failed with a reason (see
    /// [`JitCompiler::trace_failure`]).
    pub compiles_finished: u64,
    /// Of those, dropped: their chunk was evicted first, or the process was
    /// exiting.
    pub compiles_discarded: u64,
    /// Time interpreter threads waited for LLVM (synchronous compilations:
    /// the block tier, traces with background compilation off), in all and
    /// the longest single wait.
    pub compile_wait: (Duration, Duration),
}

// ── the cache ──

#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    /// The chunk whose code this is (for a trace chunk: the chunk it was
    /// recorded in): the unit of eviction.
    owner: u128,
    hash: u128,
    tags: Vec<u8>,
    globals: Vec<u8>,
    tier: Tier,
    /// A trace chunk's inlined calls (they change what its ops mean).
    inlined: Inlined,
    /// Compiled to count steps (for a VM with a step budget).
    fuel: bool,
}

struct Entry {
    /// Set once, by the first thread that needs it (others wait for it):
    /// compilation runs outside the cache's lock.
    code: OnceLock<Result<Arc<BlockCode>, String>>,
    /// Its compilation is on the compiler thread (asked for once).
    queued: AtomicBool,
    runs: AtomicU64,
    early_exits: AtomicU64,
}

impl Entry {
    fn ready(&self) -> Option<&Arc<BlockCode>> {
        self.code.get().and_then(|c| c.as_ref().ok())
    }

    /// The code, or why there is none.
    fn outcome(&self) -> Result<Arc<BlockCode>, String> {
        match self.code.get() {
            Some(Ok(code)) => Ok(Arc::clone(code)),
            Some(Err(why)) => Err(why.clone()),
            None => Err("not compiled".into()),
        }
    }
}

#[derive(Default)]
struct Cache {
    entries: FxHashMap<Key, Arc<Entry>>,
    /// Last failure per chunk hash.
    failures: FxHashMap<u128, String>,
    /// Compilations attempted per chunk hash.
    attempts: FxHashMap<u128, u32>,
    /// When each owner chunk was last used (a counter, for LRU eviction).
    used: FxHashMap<u128, u64>,
    clock: u64,
}

/// Chunks that may hold compiled code at once (process-wide); the least
/// recently used beyond it are evicted.
static CAPACITY: AtomicU64 = AtomicU64::new(DEFAULT_CODE_CACHE_CAPACITY as u64);

/// The default for [`JitCompiler::set_code_cache_capacity`].
pub const DEFAULT_CODE_CACHE_CAPACITY: usize = 512;

/// How many cache records [`JitCompiler::warm_up`] links ahead of time by
/// default (see [`JitCompiler::set_code_cache_preload`]).
pub const DEFAULT_CODE_CACHE_PRELOAD: usize = persist::preload::DEFAULT_RECORDS;

impl Cache {
    /// Marks `owner` used now; returns the chunk to evict to stay within
    /// the capacity, if any.
    fn touch(&mut self, owner: u128) -> Option<u128> {
        self.clock += 1;
        let fresh = self.used.insert(owner, self.clock).is_none();
        let cap = CAPACITY.load(Relaxed).max(1) as usize;
        if !fresh || self.used.len() <= cap {
            return None;
        }
        let (&oldest, _) = self
            .used
            .iter()
            .filter(|(o, _)| **o != owner)
            .min_by_key(|(_, t)| **t)?;
        self.forget(oldest);
        Some(oldest)
    }

    /// Drops everything cached for `owner` (running code keeps itself).
    fn forget(&mut self, owner: u128) {
        self.entries.retain(|k, _| k.owner != owner);
        self.failures.remove(&owner);
        self.attempts.remove(&owner);
        self.used.remove(&owner);
    }
}

/// Marks `owner` used; past the capacity, evicts the least recently used
/// chunk's code and traces.
pub(crate) fn touch(owner: u128) {
    if let Some(old) = with_cache(|c| c.touch(owner)) {
        trace::forget(old);
        events::emit(|| JitEvent::Evicted { chunk: old });
    }
}

static CACHE: Mutex<Option<Cache>> = Mutex::new(None);

static COMPILED: AtomicU64 = AtomicU64::new(0);
static FAILED: AtomicU64 = AtomicU64::new(0);
static RUNS: AtomicU64 = AtomicU64::new(0);
static EARLY_EXITS: AtomicU64 = AtomicU64::new(0);
static NANOS: [AtomicU64; 3] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];

thread_local! {
    /// Invocations of each chunk on this thread (for `block_threshold`).
    static INVOCATIONS: RefCell<FxHashMap<u128, u32>> = RefCell::new(FxHashMap::default());
    /// What compilations on this thread keep for debugging.
    static DUMPS: RefCell<DumpOptions> = RefCell::new(DumpOptions::default());
    /// Whether trace events list the trace's ops.
    static TRACE_OPS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether this thread's trace events list the trace's ops.
pub(crate) fn trace_op_dump() -> bool {
    TRACE_OPS.with(|t| t.get())
}

/// What this thread's compilations keep for debugging.
pub(crate) fn dump_options() -> DumpOptions {
    DUMPS.with(|d| *d.borrow())
}

fn with_cache<R>(f: impl FnOnce(&mut Cache) -> R) -> R {
    let mut g = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    f(g.get_or_insert_with(Cache::default))
}

/// The cache entries of `chunk` (one per set of entry kinds).
fn entries_of(chunk: &Chunk) -> Vec<Arc<Entry>> {
    let h = chunk.sealed_hash();
    with_cache(|c| {
        c.entries
            .iter()
            .filter(|(k, _)| k.hash == h)
            .map(|(_, e)| Arc::clone(e))
            .collect()
    })
}

/// Counts an invocation; `true` once past the thread's `block_threshold`.
fn past_threshold(hash: u128) -> bool {
    let threshold = super::config::current().block_threshold;
    INVOCATIONS.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() >= 1 << 16 && !m.contains_key(&hash) {
            m.clear(); // bounded: counting just starts over
        }
        let n = m.entry(hash).or_insert(0);
        *n = n.saturating_add(1);
        *n > threshold
    })
}

/// The cache entry for `chunk` entered with `tags` (created empty when
/// new), and the unit's hash.
fn cache_entry(
    owner: u128,
    chunk: &Chunk,
    tags: &[u8],
    globals: &[u8],
    unit: (Tier, &Inlined),
    fuel: bool,
) -> (Arc<Entry>, u128) {
    let (tier, inlined) = unit;
    let key = Key {
        owner,
        hash: chunk.sealed_hash(),
        tags: tags.to_vec(),
        globals: globals.to_vec(),
        tier,
        inlined: inlined.clone(),
        fuel,
    };
    let hash = key.hash;
    let entry = with_cache(|c| {
        Arc::clone(c.entries.entry(key).or_insert_with(|| {
            Arc::new(Entry {
                code: OnceLock::new(),
                queued: AtomicBool::new(false),
                runs: AtomicU64::new(0),
                early_exits: AtomicU64::new(0),
            })
        }))
    });
    (entry, hash)
}

/// The cache entry for `chunk` entered with `tags`, compiling it if needed
/// (`want`: [`Want::StoredOnly`] only links a persistent cache record, and
/// leaves the entry empty when there is none).
fn entry_for(
    owner: u128,
    chunk: &Chunk,
    tags: &[u8],
    globals: &[u8],
    unit: (Tier, &Inlined),
    fuel: bool,
    want: Want,
) -> Arc<Entry> {
    let tier = unit.0;
    if want == Want::Code {
        touch(owner);
    }
    let (entry, hash) = cache_entry(owner, chunk, tags, globals, unit, fuel);
    let obtain = |want: Want| {
        let dumps = DUMPS.with(|d| *d.borrow());
        let jit = engine::jit().map_err(|e| format!("LLVM unavailable: {e}"));
        let code = jit.and_then(|jit| {
            BlockCode::compile(jit, owner, chunk, tags, globals, unit, fuel, dumps, want)
        });
        match code {
            Ok(None) => None,
            Ok(Some(code)) => {
                if !code.was_loaded() {
                    note_compiled(hash, tier, &code);
                }
                Some(Ok(Arc::new(code)))
            }
            // Below the threshold a refusal waits for the real attempt.
            Err(_) if want == Want::StoredOnly => None,
            Err(reason) => {
                if tier == Tier::Block {
                    FAILED.fetch_add(1, Relaxed);
                    events::emit(|| JitEvent::BlockRefused {
                        chunk: hash,
                        reason: reason.clone(),
                    });
                }
                with_cache(|c| c.failures.insert(hash, reason.clone()));
                Some(Err(reason))
            }
        }
    };
    match want {
        Want::Code => {
            entry.code.get_or_init(|| {
                let asked = std::time::Instant::now();
                with_cache(|c| *c.attempts.entry(hash).or_insert(0) += 1);
                let code = obtain(Want::Code).unwrap_or_else(|| Err("no code obtained".into()));
                if !super::queue::on_compiler_thread() {
                    super::queue::note_wait(asked.elapsed());
                }
                code
            });
        }
        Want::StoredOnly => {
            if entry.code.get().is_none()
                && let Some(Ok(code)) = obtain(Want::StoredOnly)
            {
                touch(owner);
                let _ = entry.code.set(Ok(code));
            }
        }
    }
    entry
}

/// Counts a unit LLVM compiled and its time.
fn note_compiled(hash: u128, tier: Tier, code: &BlockCode) {
    let t: CompileTimings = code.timings();
    if tier == Tier::Block {
        COMPILED.fetch_add(1, Relaxed);
        events::emit(|| JitEvent::BlockCompiled {
            chunk: hash,
            millis: (t.build_ir + t.optimize + t.codegen + t.link).as_secs_f64() * 1e3,
        });
    }
    for (n, d) in NANOS
        .iter()
        .zip([t.build_ir, t.optimize, t.codegen + t.link])
    {
        n.fetch_add(d.as_nanos() as u64, Relaxed);
    }
}

/// Compiled code for `chunk` with `tags`, honouring the threshold unless
/// `eager`. With the chunk `shared` (a VM's run) and `background_compile`
/// on, a compilation past a threshold of 1 or more goes to the compiler
/// thread and this run is interpreted (a threshold of 0 asks for native
/// code on the first run: compiled here).
fn code_for(
    chunk: &Chunk,
    shared: Option<&Arc<Chunk>>,
    tags: &[u8],
    globals: &[u8],
    eager: bool,
    fuel: bool,
) -> Option<(Arc<Entry>, Arc<BlockCode>)> {
    if tags.len() > 1024 {
        return None;
    }
    // Below the threshold only code already in the persistent cache runs
    // (it costs no compilation); `u32::MAX` keeps the block tier off.
    let want = if eager || past_threshold(chunk.sealed_hash()) {
        Want::Code
    } else if super::config::current().block_threshold != u32::MAX && persist::directory().is_some()
    {
        Want::StoredOnly
    } else {
        return None;
    };
    let cfg = super::config::current();
    if let Some(chunk) = shared
        && want == Want::Code
        && !eager
        && cfg.background_compile
        && cfg.block_threshold > 0
    {
        return code_in_background(chunk, tags, globals, fuel);
    }
    let e = entry_for(
        chunk.sealed_hash(),
        chunk,
        tags,
        globals,
        (Tier::Block, &Inlined::new()),
        fuel,
        want,
    );
    let code = Arc::clone(e.ready()?);
    Some((e, code))
}

/// [`code_for`] without waiting: the code if it is ready (compiled, or
/// linked from the persistent cache), else its compilation queued once for
/// the compiler thread and `None`.
fn code_in_background(
    chunk: &Arc<Chunk>,
    tags: &[u8],
    globals: &[u8],
    fuel: bool,
) -> Option<(Arc<Entry>, Arc<BlockCode>)> {
    let unit = (Tier::Block, &Inlined::new());
    let owner = chunk.sealed_hash();
    let (mut e, _) = cache_entry(owner, chunk, tags, globals, unit, fuel);
    if e.code.get().is_none() && persist::directory().is_some() {
        e = entry_for(owner, chunk, tags, globals, unit, fuel, Want::StoredOnly);
    }
    if let Some(code) = e.ready() {
        touch(owner);
        let code = Arc::clone(code);
        return Some((e, code));
    }
    if e.code.get().is_some() || e.queued.swap(true, Relaxed) {
        return None; // refused, or already on its way
    }
    let job = {
        let (chunk, entry) = (Arc::clone(chunk), Arc::clone(&e));
        let (tags, globals) = (tags.to_vec(), globals.to_vec());
        let (cfg, dumps) = (super::config::current(), dump_options());
        move || {
            // Evicted before its turn: nobody is waiting for it.
            if !with_cache(|c| c.entries.values().any(|x| Arc::ptr_eq(x, &entry))) {
                return false;
            }
            super::config::set_current(cfg);
            JitCompiler::set_dump_options(dumps);
            let unit = (Tier::Block, &Inlined::new());
            entry_for(owner, &chunk, &tags, &globals, unit, fuel, Want::Code);
            true
        }
    };
    if let Err(job) = super::queue::submit(Box::new(job), super::queue::Priority::Block) {
        job();
        let code = Arc::clone(e.ready()?);
        return Some((e, code));
    }
    None
}

/// Runs `vm`'s chunk through the block tier from op 0, leaving the VM in
/// the exact state the interpreter would have at the exit (the end of the
/// chunk, or where native code stopped). `false`: nothing ran.
pub(crate) fn enter_block(vm: &mut VM) -> bool {
    let chunk = Arc::clone(vm.chunk());
    let tags: Vec<u8> = vm.slots.iter().map(tag_of).collect();
    let gtags: Vec<u8> = vm.globals.iter().map(tag_of).collect();
    let fuel = vm.fuel;
    let Some((entry, code)) = code_for(&chunk, Some(&chunk), &tags, &gtags, false, fuel.is_some())
    else {
        return false;
    };
    let depth = vm.stack.len();
    let limits = vm.limits();
    let frames_left = limits.max_frames.saturating_sub(vm.frames.len());
    let run = code.run(
        &mut vm.slots,
        &mut vm.globals,
        depth,
        frames_left,
        &limits,
        fuel,
    );
    let Some(mut exit) = run else {
        return false;
    };
    count_run(&entry, &exit, chunk.len());
    code.materialise(&mut exit, vm, depth, 0);
    vm.ip = exit.ip;
    true
}

/// Compiles a hot subroutine's call chunk (`hot_call`) for argument kinds
/// `tags` (no threshold; cached like any chunk, owned by the chunk it
/// calls into).
pub(crate) fn compile_call_chunk(
    owner: u128,
    chunk: &Chunk,
    tags: &[u8],
) -> Result<Arc<BlockCode>, String> {
    let e = entry_for(
        owner,
        chunk,
        tags,
        &[],
        (Tier::Block, &Inlined::new()),
        false,
        Want::Code,
    );
    e.outcome()
}

/// Compiles a trace chunk (no threshold; cached like any chunk).
pub(crate) fn compile_for_trace(
    owner: u128,
    chunk: &Chunk,
    inlined: &Inlined,
    tags: &[u8],
    globals: &[u8],
    fuel: bool,
) -> Result<Arc<BlockCode>, String> {
    entry_for(
        owner,
        chunk,
        tags,
        globals,
        (Tier::Trace, inlined),
        fuel,
        Want::Code,
    )
    .outcome()
}

fn count_run(entry: &Entry, exit: &Exit, end: usize) {
    entry.runs.fetch_add(1, Relaxed);
    RUNS.fetch_add(1, Relaxed);
    if exit.ip != end {
        entry.early_exits.fetch_add(1, Relaxed);
        EARLY_EXITS.fetch_add(1, Relaxed);
    }
}

/// Why the block tier can't take the sealed `chunk`, or `None` if it can.
fn ineligibility(chunk: &Chunk) -> Option<String> {
    if let Err(e) = crate::verify(chunk) {
        return Some(format!("invalid chunk: {}", e.message));
    }
    let globals = vec![KindSet::UNDEF; chunk.sealed_global_count()];
    super::block::analysis::analyse(chunk, &[], &globals, Tier::Block, &Inlined::new()).err()
}

/// Straight-line code: no jumps, calls or frames (the linear tier's shape).
fn is_straight(chunk: &Chunk) -> bool {
    use crate::Op;
    chunk.ops().iter().all(|op| {
        op.jump_target().is_none()
            && !matches!(
                op,
                Op::Call(..) | Op::PushFrame | Op::PopFrame | Op::AccumSumLoop(..)
            )
    })
}

impl JitCompiler {
    /// A handle on the JIT.
    pub fn new() -> JitCompiler {
        JitCompiler { _private: () }
    }

    /// Whether the block tier can compile `chunk` (entered with no slots
    /// set): every reachable op has a native lowering and the stack shape
    /// is static. [`Self::block_ineligibility`] says why not.
    pub fn is_block_eligible(&self, chunk: &Chunk) -> bool {
        self.block_ineligibility(chunk).is_none()
    }

    /// fusevm's name for [`Self::is_block_eligible`].
    pub fn is_eligible(&self, chunk: &Chunk) -> bool {
        self.is_block_eligible(chunk)
    }

    /// Why the block tier can't take `chunk`, or `None` if it can.
    pub fn block_ineligibility(&self, chunk: &Chunk) -> Option<String> {
        ineligibility(&Chunk::sealed(chunk))
    }

    /// Whether block-tier code for `chunk` exists (for any entry kinds).
    pub fn block_jit_is_compiled(&self, chunk: &Chunk) -> bool {
        let chunk = &*Chunk::sealed(chunk);
        entries_of(chunk).iter().any(|e| e.ready().is_some())
    }

    /// Why compiling `chunk` failed, if it did (remembered; never retried).
    pub fn block_failure(&self, chunk: &Chunk) -> Option<String> {
        let chunk = &*Chunk::sealed(chunk);
        with_cache(|c| c.failures.get(&chunk.sealed_hash()).cloned())
    }

    /// How many times the block tier tried to compile `chunk` (once per set
    /// of entry kinds, successful or not; never again after a failure).
    pub fn block_compile_attempts(&self, chunk: &Chunk) -> u32 {
        let chunk = &*Chunk::sealed(chunk);
        with_cache(|c| c.attempts.get(&chunk.sealed_hash()).copied().unwrap_or(0))
    }

    /// How many runs of `chunk` entered block-tier code (all threads).
    pub fn block_run_count(&self, chunk: &Chunk) -> u64 {
        let chunk = &*Chunk::sealed(chunk);
        entries_of(chunk).iter().map(|e| e.runs.load(Relaxed)).sum()
    }

    /// How many block-tier runs of `chunk` left native code before the end
    /// of the chunk (a top-level return, a value native code can't hold, a
    /// subroutine out of frames or native stack); the interpreter finished
    /// them.
    pub fn block_early_exit_count(&self, chunk: &Chunk) -> u64 {
        let chunk = &*Chunk::sealed(chunk);
        entries_of(chunk)
            .iter()
            .map(|e| e.early_exits.load(Relaxed))
            .sum()
    }

    /// The LLVM IR (after O2) and assembly kept for `chunk`'s block-tier
    /// code, when compiled after [`Self::set_dump_options`] asked for them.
    pub fn block_dumps(&self, chunk: &Chunk) -> Vec<(Option<String>, Option<String>)> {
        let chunk = &*Chunk::sealed(chunk);
        let entries = entries_of(chunk);
        let compiled = entries
            .iter()
            .filter_map(|e| e.ready())
            .map(|code| code.compiled());
        compiled
            .map(|c| (c.ir_after.clone(), c.asm.clone()))
            .collect()
    }

    /// Where the compile time of `chunk`'s block-tier code went (the
    /// latest compilation, for any entry kinds).
    pub fn block_compile_timings(&self, chunk: &Chunk) -> Option<CompileTimings> {
        let chunk = &*Chunk::sealed(chunk);
        entries_of(chunk)
            .iter()
            .find_map(|e| e.ready().map(|code| code.timings()))
    }

    /// What later compilations on this thread keep for debugging.
    pub fn set_dump_options(dumps: DumpOptions) {
        DUMPS.with(|d| *d.borrow_mut() = dumps);
    }

    /// Counters of the native tiers (process-wide).
    pub fn stats() -> JitStats {
        let t = |i: usize| Duration::from_nanos(NANOS[i].load(Relaxed));
        let ts = super::trace::stats();
        let (queued, finished, discarded, wait, longest) = super::queue::counters();
        JitStats {
            block_compiled: COMPILED.load(Relaxed),
            block_failed: FAILED.load(Relaxed),
            block_runs: RUNS.load(Relaxed),
            block_early_exits: EARLY_EXITS.load(Relaxed),
            compile_time: (t(0), t(1), t(2)),
            trace_recorded: ts.recorded.load(Relaxed),
            trace_compiled: ts.compiled.load(Relaxed),
            trace_aborted: ts.aborted.load(Relaxed),
            trace_side_exits: ts.side_exits.load(Relaxed),
            trace_inlined_calls: ts.inlined_calls.load(Relaxed),
            trace_callee_exits: ts.callee_exits.load(Relaxed),
            native_calls: ts.native_calls.load(Relaxed),
            trace_blacklisted: ts.blacklisted.load(Relaxed),
            trace_compile_time: Duration::from_nanos(ts.compile_nanos.load(Relaxed)),
            disk: persist::stats(),
            value_helper_calls: super::helpers::VALUE_OP_CALLS.load(Relaxed),
            array_views: super::helpers::ARRAY_VIEWS.load(Relaxed),
            fast_copy_entries: super::helpers::FAST_COPIES[0].load(Relaxed),
            fast_copy_bails: super::helpers::FAST_COPIES[1].load(Relaxed),
            compiles_queued: queued,
            compiles_finished: finished,
            compiles_discarded: discarded,
            compile_wait: (wait, longest),
        }
    }

    /// Blocks until every compilation queued for the compiler thread has
    /// been installed or discarded (a benchmark's warm-up, a test that
    /// looks at the tiers after a run with background compilation on).
    pub fn wait_for_compiles() {
        super::queue::wait_idle();
    }

    /// Ends background compilation in this process: compilations not yet
    /// started are discarded, the one running is waited for, and from then
    /// on every compilation runs on the thread that asks for it. Call it
    /// before the process exits when `background_compile` was on (LLVM
    /// must not be compiling while the process tears it down).
    pub fn stop_background_compiles() {
        super::queue::shut_down();
    }

    /// Frees what the JIT keeps for `chunk`: its compiled code (every set of
    /// entry kinds), its traces and their records, its remembered failures.
    /// Code a VM is running, or holds for a loop it is in, stays alive until
    /// that VM lets go of it; the next run compiles afresh. Returns whether
    /// anything was cached.
    pub fn evict(&self, chunk: &Chunk) -> bool {
        let chunk = &*Chunk::sealed(chunk);
        let h = chunk.sealed_hash();
        let had = with_cache(|c| {
            let had = c.used.contains_key(&h);
            c.forget(h);
            had
        });
        trace::forget(h);
        if had {
            events::emit(|| JitEvent::Evicted { chunk: h });
        }
        had
    }

    /// The metadata of the trace compiled for the loop whose header is op
    /// `ip` (the first one, when the loop was entered with several sets of
    /// kinds: [`Self::trace_exports_at`] gives them all), `None` when it has
    /// none: everything needed to compile it again, in this process or
    /// another ([`Self::trace_import`]); it serialises with serde.
    pub fn trace_export(&self, chunk: &Chunk, ip: usize) -> Option<TraceMetadata> {
        self.trace_exports_at(chunk, ip).into_iter().next()
    }

    /// The metadata of every trace compiled for the loop at `ip`, one per
    /// set of kinds it was entered with.
    pub fn trace_exports_at(&self, chunk: &Chunk, ip: usize) -> Vec<TraceMetadata> {
        let chunk = &*Chunk::sealed(chunk);
        trace::meta::export(chunk, ip, false)
    }

    /// [`Self::trace_exports_at`] for every loop of `chunk`.
    pub fn trace_export_all(&self, chunk: &Chunk) -> Vec<TraceMetadata> {
        let chunk = &*Chunk::sealed(chunk);
        trace::meta::export_all(chunk, false)
    }

    /// [`Self::trace_export_all`] with each trace's compiled code
    /// ([`TraceMetadata::code`]): importing it into a process with the same
    /// build, LLVM and CPU links that code and runs no LLVM.
    pub fn trace_export_all_with_code(&self, chunk: &Chunk) -> Vec<TraceMetadata> {
        let chunk = &*Chunk::sealed(chunk);
        trace::meta::export_all(chunk, true)
    }

    /// Compiles the trace `meta` describes, main path and side paths with
    /// the exits they continue, so runs of `chunk` use it at once (no
    /// recording); whether it did. [`Self::trace_import_checked`] says why
    /// not.
    pub fn trace_import(&self, chunk: &Chunk, meta: &TraceMetadata) -> bool {
        self.trace_import_checked(chunk, meta).is_ok()
    }

    /// [`Self::trace_import`], refusing with the reason: metadata of another
    /// chunk or format version, paths or ops that don't fit the chunk, or a
    /// trace the tier can't compile.
    pub fn trace_import_checked(&self, chunk: &Chunk, meta: &TraceMetadata) -> Result<(), String> {
        let chunk = &*Chunk::sealed(chunk);
        trace::meta::import(chunk, meta)
    }

    /// [`Self::trace_import`] for each of `metas`, skipping those refused
    /// (of another chunk, say); how many were compiled.
    pub fn trace_import_all(&self, chunk: &Chunk, metas: &[TraceMetadata]) -> usize {
        let chunk = &*Chunk::sealed(chunk);
        metas
            .iter()
            .filter(|m| trace::meta::import(chunk, m).is_ok())
            .count()
    }

    /// Compiles a trace of the loop at `anchor_ip` from a path given as the
    /// ops it runs and their ips (fusevm's form: [`TraceMetadata::ops`],
    /// [`TraceMetadata::recorded_ips`]), for the slot and global kinds
    /// given; whether it did. The path must be one the recorder could have
    /// taken: each op the chunk's op at its ip, each followed by the next,
    /// the last branching back to `anchor_ip`, and every op one traces
    /// support. `fallthrough_ip` and `global_numeric_at_anchor` are
    /// fusevm's and not needed: the exits of the trace say where a run that
    /// leaves the path goes on, and its entry guard checks every global's
    /// kind.
    #[allow(clippy::too_many_arguments)] // fusevm's signature
    pub fn trace_install(
        &self,
        chunk: &Chunk,
        anchor_ip: usize,
        fallthrough_ip: usize,
        ops: &[Op],
        recorded_ips: &[usize],
        slot_kinds_at_anchor: &[SlotKind],
        global_kinds_at_anchor: &[SlotKind],
        global_numeric_at_anchor: &[bool],
    ) -> bool {
        let _ = global_numeric_at_anchor;
        let chunk = &*Chunk::sealed(chunk);
        let meta = TraceMetadata {
            chunk_op_hash: chunk.sealed_hash() as u64,
            anchor_ip,
            fallthrough_ip,
            ops: ops.to_vec(),
            recorded_ips: recorded_ips.to_vec(),
            slot_kinds_at_anchor: slot_kinds_at_anchor.to_vec(),
            global_kinds_at_anchor: global_kinds_at_anchor.to_vec(),
            slot_tags: Vec::new(),
            global_tags: Vec::new(),
            format: trace::meta::FORMAT,
            step_budget: false,
            path: Vec::new(),
            side_paths: Vec::new(),
            code: None,
        };
        self.is_trace_eligible(ops, anchor_ip) && trace::meta::import(chunk, &meta).is_ok()
    }

    /// fusevm's form of [`Self::trace_install`] for a side trace recorded
    /// at `record_anchor_ip` that closes at the loop `close_anchor_ip`. Here
    /// a trace starts where it closes, and a side path is installed with
    /// the exit it continues ([`TraceMetadata::side_paths`] through
    /// [`Self::trace_import`]): so this installs a trace only when the two
    /// anchors are one, and returns false otherwise.
    #[allow(clippy::too_many_arguments)] // fusevm's signature
    pub fn trace_install_with_kind(
        &self,
        chunk: &Chunk,
        record_anchor_ip: usize,
        close_anchor_ip: usize,
        fallthrough_ip: usize,
        ops: &[Op],
        recorded_ips: &[usize],
        slot_kinds_at_anchor: &[SlotKind],
        global_kinds_at_anchor: &[SlotKind],
        global_numeric_at_anchor: &[bool],
    ) -> bool {
        record_anchor_ip == close_anchor_ip
            && self.trace_install(
                chunk,
                close_anchor_ip,
                fallthrough_ip,
                ops,
                recorded_ips,
                slot_kinds_at_anchor,
                global_kinds_at_anchor,
                global_numeric_at_anchor,
            )
    }

    /// Whether `ops`, a path recorded from the loop header `anchor_ip`, is
    /// one the tracing tier compiles: not empty and at most `max_trace_len`
    /// ops, every op supported in traces, calls and returns balanced, and
    /// only its last op (outside every call) branching back to `anchor_ip`.
    pub fn is_trace_eligible(&self, ops: &[Op], anchor_ip: usize) -> bool {
        trace::record::is_closed_path(ops, anchor_ip, &super::config::current())
    }

    /// The loop header and fall-through ip ([`TraceMetadata::anchor_ip`],
    /// [`TraceMetadata::fallthrough_ip`]) of the trace compiled for the
    /// loop at `anchor_ip`, `None` when it has none.
    pub fn trace_loop_anchors(&self, chunk: &Chunk, anchor_ip: usize) -> Option<(usize, usize)> {
        self.trace_export(chunk, anchor_ip)
            .map(|m| (m.anchor_ip, m.fallthrough_ip))
    }

    /// Sends every [`JitEvent`] (traces recorded, compiled, aborted,
    /// blacklisted; chunks compiled, refused, evicted) to `hook`,
    /// process-wide; `None` stops. Without a hook, setting the environment
    /// variable `FUSEVM_JIT_LOG` prints them to standard error.
    pub fn set_event_hook(hook: Option<events::EventHook>) {
        events::set_hook(hook);
    }

    /// Whether trace events carry the trace's ops with their exits (this
    /// thread's compilations; LLVM IR and machine code follow
    /// [`Self::set_dump_options`]).
    pub fn set_trace_op_dump(on: bool) {
        TRACE_OPS.with(|t| t.set(on));
    }

    /// How many chunks may hold compiled code at once, process-wide
    /// (default [`DEFAULT_CODE_CACHE_CAPACITY`]); when one more compiles, the least
    /// recently used chunk is evicted as by [`JitCompiler::evict`].
    pub fn set_code_cache_capacity(chunks: usize) {
        CAPACITY.store(chunks.max(1) as u64, Relaxed);
        // Shrinking takes effect at the next compilation.
    }

    /// Gets a process ready to run natively at once: creates the LLVM
    /// session, reads the host CPU's identity (about 1 ms together, once
    /// per process) and, when a persistent cache directory is in use,
    /// links its most recently used units of this build ahead of time
    /// (bounded by [`Self::set_code_cache_preload`]; each ~0.02–0.05 ms),
    /// so first runs find their code ready. Optional: an embedder that
    /// restarts often calls it at start-up, or on a thread of its own while
    /// it starts (a run that needs a unit before it is linked links or
    /// compiles it itself). Returns whether LLVM is usable (if not, every
    /// tier stays in the interpreter). Units linked: [`JitStats::disk`]'s
    /// `preloaded`.
    pub fn warm_up() -> bool {
        persist::identity();
        let Ok(jit) = engine::jit() else {
            return false;
        };
        persist::preload::preload(jit);
        true
    }

    /// Bounds how many of the cache directory's most recently used records
    /// [`Self::warm_up`] links ahead of time (default
    /// [`DEFAULT_CODE_CACHE_PRELOAD`]; 0: none). Records are also bounded
    /// to 16 MiB read; a preloaded unit no run asks for stays linked until
    /// the directory changes.
    pub fn set_code_cache_preload(records: usize) {
        persist::preload::set_records(records);
    }

    /// Keeps every unit's object code in `dir` (created if missing), so a
    /// later process links it instead of compiling: block-tier chunks, hot
    /// subroutines' call chunks, traces with their side paths. `None` turns
    /// the persistent cache off (the default, unless the environment
    /// variable [`persist::DIR_ENV`] names a directory). Process-wide.
    ///
    /// A record is used only when its key matches exactly (the unit, its
    /// entry kinds and step counting, this crate's version and source,
    /// LLVM's version, the target and host CPU with its features) and its
    /// checksum holds; anything else is rejected with a
    /// [`JitEvent::CacheRejected`] reason and replaced. Code found in the
    /// directory costs no compilation, so a block-eligible chunk whose code
    /// is stored runs natively from its first invocation, whatever
    /// `block_threshold` says (except `u32::MAX`: never). An unwritable
    /// directory degrades to compiling, with one
    /// [`JitEvent::CacheUnwritable`] warning.
    pub fn set_code_cache_dir(dir: Option<&std::path::Path>) {
        persist::set_directory(dir);
    }

    /// The persistent cache's directory, if one is in use.
    pub fn code_cache_dir() -> Option<std::path::PathBuf> {
        persist::directory()
    }

    /// Bounds the persistent cache directory's size in bytes (default
    /// [`persist::DEFAULT_DIR_LIMIT`], 256 MiB): once this process's stores
    /// take it past the bound, least recently used records are removed
    /// down to nine tenths of it.
    pub fn set_code_cache_dir_limit(bytes: u64) {
        persist::set_limit(bytes);
    }

    /// Chunks that currently hold compiled code or traces.
    pub fn code_cache_len() -> usize {
        with_cache(|c| c.used.len())
    }

    /// Why trace recordings and compilations were abandoned, process-wide:
    /// each kind of reason (op indices and other numbers shown as `N`) with
    /// how often, most frequent first.
    pub fn trace_abort_reasons() -> Vec<(String, u64)> {
        trace::abort_reasons()
    }

    /// Whether a trace is compiled for the loop whose header is op `ip`.
    pub fn trace_is_compiled(&self, chunk: &Chunk, ip: usize) -> bool {
        let chunk = &*Chunk::sealed(chunk);
        trace::find_anchor(chunk.sealed_hash(), ip).is_some_and(|a| a.is_compiled())
    }

    /// Whether the loop header at `ip` no longer records or runs traces
    /// (too many side exits, or recordings that kept failing).
    pub fn trace_is_blacklisted(&self, chunk: &Chunk, ip: usize) -> bool {
        let chunk = &*Chunk::sealed(chunk);
        trace::find_anchor(chunk.sealed_hash(), ip).is_some_and(|a| a.is_blacklisted())
    }

    /// Side exits taken from the traces at `ip`: paths the trace did not
    /// record and failed guards (not the loop's own end).
    pub fn trace_side_exit_count(&self, chunk: &Chunk, ip: usize) -> u64 {
        let chunk = &*Chunk::sealed(chunk);
        trace::find_anchor(chunk.sealed_hash(), ip).map_or(0, |a| a.side_exits.load(Relaxed))
    }

    /// Exits from the traces at `ip` that rebuilt interpreter state (every
    /// exit: side exits and the loop's end).
    pub fn trace_deopt_count(&self, chunk: &Chunk, ip: usize) -> u64 {
        let chunk = &*Chunk::sealed(chunk);
        trace::find_anchor(chunk.sealed_hash(), ip).map_or(0, |a| a.deopts.load(Relaxed))
    }

    /// Exits from the traces at `ip` taken inside an inlined call: each
    /// rebuilt the callee's frames (return ip, stack base, slots) so the
    /// interpreter resumed mid-callee.
    pub fn trace_callee_exit_count(&self, chunk: &Chunk, ip: usize) -> u64 {
        let chunk = &*Chunk::sealed(chunk);
        trace::find_anchor(chunk.sealed_hash(), ip).map_or(0, |a| a.callee_exits.load(Relaxed))
    }

    /// Why the last recording or compilation of the loop at `ip` failed.
    pub fn trace_failure(&self, chunk: &Chunk, ip: usize) -> Option<String> {
        let chunk = &*Chunk::sealed(chunk);
        trace::find_anchor(chunk.sealed_hash(), ip)?.last_failure()
    }

    /// Runs `chunk` in the block tier with Int slots; `Some(result)` when it
    /// ran and left an Int result and Int slots (written back), `None`
    /// otherwise: below `block_threshold`, not eligible, or a result the
    /// signature can't carry. On `None` nothing was changed, so the caller
    /// interprets the chunk instead.
    pub fn try_run_block(&self, chunk: &Chunk, slots: &mut [i64]) -> Option<i64> {
        let chunk = &*Chunk::sealed(chunk);
        self.run_int(chunk, slots, false)
    }

    /// [`Self::try_run_block`] ignoring `block_threshold` (compiles now).
    pub fn try_run_block_eager(&self, chunk: &Chunk, slots: &mut [i64]) -> Option<i64> {
        let chunk = &*Chunk::sealed(chunk);
        self.run_int(chunk, slots, true)
    }

    /// [`Self::try_run_block`] with slots of any numeric kind; `kinds` is
    /// updated with the slots.
    pub fn try_run_block_kinded(
        &self,
        chunk: &Chunk,
        slots: &mut [i64],
        kinds: &mut [SlotKind],
    ) -> Option<i64> {
        let chunk = &*Chunk::sealed(chunk);
        match self.run_kinded(chunk, slots, kinds, false)? {
            BlockNum::Int(i) => Some(i),
            _ => None,
        }
    }

    /// [`Self::try_run_block_kinded`] ignoring `block_threshold`.
    pub fn try_run_block_eager_kinded(
        &self,
        chunk: &Chunk,
        slots: &mut [i64],
        kinds: &mut [SlotKind],
    ) -> Option<i64> {
        let chunk = &*Chunk::sealed(chunk);
        match self.run_kinded(chunk, slots, kinds, true)? {
            BlockNum::Int(i) => Some(i),
            _ => None,
        }
    }

    /// [`Self::try_run_block_kinded`] returning a result of any kind.
    pub fn try_run_block_typed_kinded(
        &self,
        chunk: &Chunk,
        slots: &mut [i64],
        kinds: &mut [SlotKind],
    ) -> Option<BlockNum> {
        let chunk = &*Chunk::sealed(chunk);
        self.run_kinded(chunk, slots, kinds, false)
    }

    /// [`Self::try_run_block_typed_kinded`] ignoring `block_threshold`.
    pub fn try_run_block_eager_typed_kinded(
        &self,
        chunk: &Chunk,
        slots: &mut [i64],
        kinds: &mut [SlotKind],
    ) -> Option<BlockNum> {
        let chunk = &*Chunk::sealed(chunk);
        self.run_kinded(chunk, slots, kinds, true)
    }

    /// Whether `chunk` is straight-line code (no jumps, calls or frames)
    /// the block tier can compile.
    pub fn is_linear_eligible(&self, chunk: &Chunk) -> bool {
        is_straight(chunk) && self.is_block_eligible(chunk)
    }

    /// Runs a straight-line chunk natively (compiled on first use, no
    /// threshold) with Int slots, as fusevm's linear tier does: `slots` is
    /// read only (the chunk's slot writes go to a private copy), and the
    /// result is the value the chunk leaves (a number, a Bool or Undef),
    /// `None` when the chunk is not straight-line, not eligible, or leaves
    /// no such value.
    pub fn try_run_linear(&self, chunk: &Chunk, slots: &[i64]) -> Option<Value> {
        let chunk = &*Chunk::sealed(chunk);
        if !is_straight(chunk) || ineligibility(chunk).is_some() {
            return None;
        }
        let kinds = vec![SlotKind::Int; slots.len()];
        match self.run_values(chunk, slots, &kinds, true)?.0? {
            v @ (Value::Int(_) | Value::Float(_) | Value::Bool(_) | Value::Undef) => Some(v),
            _ => None,
        }
    }

    fn run_int(&self, chunk: &Chunk, slots: &mut [i64], eager: bool) -> Option<i64> {
        let mut kinds = vec![SlotKind::Int; slots.len()];
        let mut out = slots.to_vec();
        match self.run_kinded(chunk, &mut out, &mut kinds, eager)? {
            BlockNum::Int(i) if kinds.iter().all(|k| *k == SlotKind::Int) => {
                slots.copy_from_slice(&out);
                Some(i)
            }
            _ => None,
        }
    }

    /// The typed entry: a [`BlockNum`] result, and the slots written back
    /// with their kinds, when the result and every slot are numbers (the
    /// result may be a Bool); `None`, and nothing changed, otherwise.
    fn run_kinded(
        &self,
        chunk: &Chunk,
        slots: &mut [i64],
        kinds: &mut [SlotKind],
        eager: bool,
    ) -> Option<BlockNum> {
        let (result, finals) = self.run_values(chunk, slots, kinds, eager)?;
        let num = match result? {
            Value::Int(i) => BlockNum::Int(i),
            Value::Float(f) => BlockNum::Float(f),
            Value::Bool(b) => BlockNum::Bool(b),
            _ => return None,
        };
        let mut out = Vec::with_capacity(slots.len());
        for p in 0..slots.len() {
            out.push(match finals.get(p) {
                Some(Value::Int(i)) => (*i, SlotKind::Int),
                Some(Value::Float(f)) => (f.to_bits() as i64, SlotKind::Float),
                _ => return None, // a slot the signature can't carry
            });
        }
        for ((s, k), (bits, kind)) in slots.iter_mut().zip(kinds.iter_mut()).zip(out) {
            (*s, *k) = (bits, kind);
        }
        Some(num)
    }

    /// The raw entry: run natively; if native code stops early, finish in
    /// an interpreter holding its exact state. The value left on the stack
    /// (`None`: it was empty) and the final slots; `None` when the chunk
    /// can't run here (unverified, not eligible, below the threshold, an
    /// error).
    fn run_values(
        &self,
        chunk: &Chunk,
        slots: &[i64],
        kinds: &[SlotKind],
        eager: bool,
    ) -> Option<(Option<Value>, Vec<Value>)> {
        if slots.len() != kinds.len() || crate::verify(chunk).is_err() {
            return None;
        }
        let values: Vec<Value> = slots
            .iter()
            .zip(kinds.iter())
            .map(|(b, k)| slot_value(*b, *k))
            .collect();
        let tags: Vec<u8> = values.iter().map(tag_of).collect();
        // The raw entry points have no globals: all start undefined.
        let gtags = vec![TAG_UNDEF; chunk.sealed_global_count()];
        let (entry, code) = code_for(chunk, None, &tags, &gtags, eager, false)?;
        let mut globals = vec![Value::Undef; gtags.len()];
        let limits = crate::Limits::default();
        let mut entry_values = values.clone();
        let mut exit = code.run(
            &mut entry_values,
            &mut globals,
            0,
            limits.max_frames - 1,
            &limits,
            None,
        )?;
        count_run(&entry, &exit, chunk.len());
        let (result, final_slots) = if exit.ip == chunk.len() && code.scopes_at(&exit).is_empty() {
            // A boxed value (a string, a container) comes out of its box.
            let result = match exit.depth.checked_sub(1) {
                None => VMResult::Halted,
                Some(k) => VMResult::Ok(exit.take(Words::Stack, k)),
            };
            let mut vm_slots = values.clone();
            vm_slots.resize(exit.len, Value::Undef);
            for (p, s) in vm_slots
                .iter_mut()
                .enumerate()
                .take(exit.len.min(code.slot_count()))
            {
                *s = exit.take(Words::Slots, p);
            }
            (result, vm_slots)
        } else {
            let mut vm = VM::with_shared_chunk(Arc::new(chunk.clone()));
            vm.set_slot_area(values.clone());
            code.materialise(&mut exit, &mut vm, 0, 0);
            vm.ip = exit.ip;
            let result = vm.run();
            (result, std::mem::take(&mut vm.slots))
        };
        match result {
            VMResult::Ok(v) => Some((Some(v), final_slots)),
            VMResult::Halted => Some((None, final_slots)),
            VMResult::Error(_) => None,
        }
    }
}

fn slot_value(bits: i64, kind: SlotKind) -> Value {
    match kind {
        SlotKind::Int => Value::Int(bits),
        SlotKind::Float => Value::Float(f64::from_bits(bits as u64)),
    }
}
