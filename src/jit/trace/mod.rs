//! The tracing tier: hot loops of chunks the block tier can't take whole.
//!
//! Every taken backward jump counts against its target, the loop's *anchor*
//! (an array slot per ip: cheap while cold). At `trace_threshold` the
//! recorder ([`record`]) arms and captures one iteration in the anchor's
//! frame; [`synth`] turns it into a trace chunk whose branches keep to the
//! recorded path and *exit* otherwise; the block tier compiles it (same
//! analysis, lowering, O2 and exits). Entering a trace at its anchor runs
//! the loop natively until an exit, whose state (slots, stack, scopes) is
//! materialised exactly, and the interpreter resumes at the exit's ip.
//!
//! Exits that leave the loop are its normal end. Other exits (a branch the
//! trace did not record, a guard) are *side exits*: after `max_side_exits`
//! of them the trace is blacklisted. A failed recording or compilation backs
//! off (the anchor must get hot again, twice as hot each time) and after
//! [`MAX_ATTEMPTS`] the anchor is blacklisted.

pub mod meta;
pub mod record;
pub mod synth;

use super::block::BlockCode;
use super::block::analysis::Inline;
use super::config::TraceJitConfig;
use super::events::{self, JitEvent};
use super::kinds::tag_of;
use crate::bytecode::chunk::Chunk;
use crate::bytecode::op::Op;
use crate::interp::vm::VM;
use record::{Progress, Recording};
use rustc_hash::FxHashMap;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

/// The element kind (a native tag) of an unboxed array.
fn unboxed_kind(v: &crate::bytecode::value::Value) -> Option<u8> {
    use crate::bytecode::array::Strategy;
    use crate::jit::kinds::{TAG_BOOL, TAG_FLOAT, TAG_INT};
    match v {
        crate::bytecode::value::Value::Array(a) => match a.strategy() {
            Strategy::Int => Some(TAG_INT),
            Strategy::Float => Some(TAG_FLOAT),
            Strategy::Bool => Some(TAG_BOOL),
            Strategy::Any => None,
        },
        _ => None,
    }
}

/// A back-edge counter's value once its anchor is blacklisted.
const BLACKLISTED: u32 = u32::MAX;

/// Times an exit is taken before the path it leads to is recorded as a side
/// path (below the default `max_side_exits`, so exits get absorbed before
/// the loop is blacklisted).
pub const SIDE_TRACE_THRESHOLD: u32 = 10;

/// Failed recordings or compilations of one anchor before it is blacklisted.
pub const MAX_ATTEMPTS: u32 = 3;

/// Recordings of one anchor given up so that an inner loop is traced first;
/// past it, inner loops are recorded unrolled (whatever the layout, no two
/// loops can defer to each other for ever).
pub const MAX_DEFERRALS: u32 = 8;

/// Times a hot exit may try to grow a side path when the first try gave way
/// to an inner loop (at every `SIDE_TRACE_THRESHOLD` exits).
pub const SIDE_RETRIES: u32 = 3;

/// A stub's side recording gave way to an inner loop ([`SIDE_RETRIES`]
/// more tries).
const GAVE_WAY: u8 = 1;
/// A stub got hot while its anchor was compiling: it tries again, as often
/// as it takes, once the compilation is in.
const AWAITS_COMPILE: u8 = 2;

/// A compiled trace (for one set of slot kinds at the anchor).
pub struct Trace {
    /// The main path and the side paths grown from its hot exits.
    steps: Vec<record::Step>,
    sides: Vec<synth::SidePath>,
    /// Each stub's exit, and how often it was taken.
    stub_keys: Vec<synth::ExitKey>,
    /// Each stub's open inlined call frames.
    stub_frames: Vec<Vec<synth::InlineFrame>>,
    exit_counts: Vec<AtomicU32>,
    /// Stubs whose side recording waits ([`GAVE_WAY`], [`AWAITS_COMPILE`]):
    /// they try again at later multiples of [`SIDE_TRACE_THRESHOLD`].
    deferred: Vec<AtomicU8>,
    tags: Vec<u8>,
    /// Kinds of the globals it was compiled for.
    gtags: Vec<u8>,
    /// Compiled to count steps (for VMs with a step budget).
    fuel: bool,
    code: Arc<BlockCode>,
    orig_ip: Vec<usize>,
    /// Index of the first stub in the trace chunk, and which stubs leave
    /// the loop.
    first_stub: usize,
    leaves_loop: Vec<bool>,
}

/// Everything known about one anchor, shared by all threads.
#[derive(Default)]
pub struct Anchor {
    traces: Mutex<Vec<Arc<Trace>>>,
    blacklisted: AtomicBool,
    attempts: AtomicU32,
    last_failure: Mutex<Option<String>>,
    /// The ops its traces span (`lo..=hi`), for keeping it whole inside an
    /// outer loop's trace.
    range: Mutex<Option<(usize, usize)>>,
    /// Exits that rebuilt interpreter state.
    pub deopts: AtomicU64,
    /// Exits by an unrecorded path or a failed guard (not the loop's end).
    pub side_exits: AtomicU64,
    /// Exits inside inlined calls (their frames rebuilt for the interpreter).
    pub callee_exits: AtomicU64,
    /// Recordings given up for an inner loop to be traced first.
    deferrals: AtomicU32,
    /// A compilation of this anchor is queued or running on the compiler
    /// thread: no new recording starts here until it is installed.
    compiling: AtomicBool,
    /// Side exits taken while `compiling` (the path they take is on its way
    /// to native code): not counted toward `max_side_exits`.
    excused_exits: AtomicU64,
}

impl Anchor {
    /// Whether a trace is compiled here.
    pub fn is_compiled(&self) -> bool {
        !lock(&self.traces).is_empty()
    }

    /// Whether a compilation of this anchor is on the compiler thread.
    pub fn is_compiling(&self) -> bool {
        self.compiling.load(Relaxed)
    }

    /// Whether this anchor no longer records or runs traces.
    pub fn is_blacklisted(&self) -> bool {
        self.blacklisted.load(Relaxed)
    }

    /// Why the last recording or compilation failed.
    pub fn last_failure(&self) -> Option<String> {
        lock(&self.last_failure).clone()
    }

    /// A recording was given up for an inner loop: counted and reported
    /// like an abort, but not toward blacklisting.
    fn defer(&self, at: (u128, usize), reason: String) {
        count_abort(at, &reason);
    }

    /// A recording or compilation failed. A failed side path costs the
    /// parent nothing (its exit stays an exit); a failed trace counts toward
    /// blacklisting the anchor.
    fn fail(&self, (chunk, anchor): (u128, usize), reason: String, side: bool) {
        count_abort((chunk, anchor), &reason);
        *lock(&self.last_failure) = Some(reason);
        if !side
            && self.attempts.fetch_add(1, Relaxed) + 1 >= MAX_ATTEMPTS
            && !self.blacklisted.swap(true, Relaxed)
        {
            stats().blacklisted.fetch_add(1, Relaxed);
            events::emit(|| JitEvent::TraceBlacklisted {
                chunk,
                anchor,
                reason: format!("{MAX_ATTEMPTS} failed attempts"),
            });
        }
    }
}

/// Counts an abandoned recording by kind of reason and reports it.
fn count_abort((chunk, anchor): (u128, usize), reason: &str) {
    stats().aborted.fetch_add(1, Relaxed);
    *lock(&stats().abort_reasons)
        .get_or_insert_with(FxHashMap::default)
        .entry(reason_class(reason))
        .or_default() += 1;
    events::emit(|| JitEvent::TraceAborted {
        chunk,
        anchor,
        reason: reason.to_string(),
    });
}

/// Aggregate counters of the tracing tier (process-wide).
#[derive(Default)]
pub struct Stats {
    /// Recordings started.
    pub recorded: AtomicU64,
    /// Traces compiled.
    pub compiled: AtomicU64,
    /// Recordings or compilations abandoned.
    pub aborted: AtomicU64,
    /// Side exits taken.
    pub side_exits: AtomicU64,
    /// Calls inlined into compiled traces.
    pub inlined_calls: AtomicU64,
    /// Exits taken inside inlined calls (their frames rebuilt).
    pub callee_exits: AtomicU64,
    /// Interpreted calls run natively (`hot_call`).
    pub native_calls: AtomicU64,
    /// Anchors blacklisted.
    pub blacklisted: AtomicU64,
    /// Nanoseconds spent compiling traces.
    pub compile_nanos: AtomicU64,
    /// Aborts by kind of reason (numbers elided).
    pub abort_reasons: Mutex<Option<FxHashMap<String, u64>>>,
}

/// A failure's reason with its numbers (op indices, lengths) elided, so
/// failures of one kind count together.
fn reason_class(reason: &str) -> String {
    let mut out = String::with_capacity(reason.len());
    let mut in_number = false;
    for c in reason.chars() {
        if c.is_ascii_digit() {
            if !in_number {
                out.push('N');
            }
            in_number = true;
        } else {
            out.push(c);
            in_number = false;
        }
    }
    out
}

/// Aborts by kind of reason, most frequent first.
pub fn abort_reasons() -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = lock(&stats().abort_reasons)
        .as_ref()
        .map(|m| m.iter().map(|(k, n)| (k.clone(), *n)).collect())
        .unwrap_or_default();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v
}

/// The tracing tier's counters.
pub fn stats() -> &'static Stats {
    static STATS: std::sync::OnceLock<Stats> = std::sync::OnceLock::new();
    STATS.get_or_init(Stats::default)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

type Registry = FxHashMap<(u128, usize), Arc<Anchor>>;
static REGISTRY: Mutex<Option<Registry>> = Mutex::new(None);

/// An exit that just got hot: which it is, and the inlined call frames
/// open at it (a side recording from it starts inside them).
type HotExit = (synth::ExitKey, Vec<synth::InlineFrame>);

/// The shared record of `(chunk hash, anchor ip)`, created on demand.
pub fn anchor(hash: u128, ip: usize) -> Arc<Anchor> {
    let (a, fresh) = {
        let mut g = lock(&REGISTRY);
        let reg = g.get_or_insert_with(Registry::default);
        let fresh = !reg.contains_key(&(hash, ip));
        (Arc::clone(reg.entry((hash, ip)).or_default()), fresh)
    };
    if fresh {
        // Anchors count as the chunk's use of the code cache (and go when
        // it is evicted).
        super::compiler::touch(hash);
    }
    a
}

/// The loop headers of chunk `hash` that have a record, in order.
pub fn anchors_of(hash: u128) -> Vec<usize> {
    let mut ips: Vec<usize> = lock(&REGISTRY)
        .as_ref()
        .map(|r| {
            r.keys()
                .filter(|(h, _)| *h == hash)
                .map(|(_, ip)| *ip)
                .collect()
        })
        .unwrap_or_default();
    ips.sort_unstable();
    ips
}

/// Drops every anchor (and so every trace) of the chunk `hash` from the
/// registry; VMs running them keep what they hold.
pub fn forget(hash: u128) {
    if let Some(reg) = lock(&REGISTRY).as_mut() {
        reg.retain(|(h, _), _| *h != hash);
    }
    // A later run may import its stored traces again.
    super::persist::traces::forget_chunk(hash);
}

/// The shared record of `(chunk hash, anchor ip)`, if it exists.
pub fn find_anchor(hash: u128, ip: usize) -> Option<Arc<Anchor>> {
    lock(&REGISTRY).as_ref()?.get(&(hash, ip)).cloned()
}

/// A VM's tracing state: back-edge counters, the recording in progress,
/// and the anchors it has looked up.
pub struct Tracer {
    counts: Vec<u32>,
    /// Calls per subroutine and their compiled call chunks.
    pub(crate) calls: super::hot_call::HotCalls,
    recording: Option<Recording>,
    anchors: FxHashMap<usize, Arc<Anchor>>,
}

impl Tracer {
    /// Fresh state for a chunk of `len` ops.
    pub fn new(len: usize) -> Tracer {
        Tracer {
            counts: vec![0; len + 1],
            calls: Default::default(),
            recording: None,
            anchors: FxHashMap::default(),
        }
    }
}

/// Index of the innermost call (or root) frame: scopes belong to it.
fn call_context(vm: &VM) -> usize {
    vm.frames
        .iter()
        .rposition(|f| f.kind != crate::interp::vm::FrameKind::Scope)
        .unwrap_or(0)
}

impl Tracer {
    /// Whether a recording is in progress (every op must reach the hook).
    pub fn is_recording(&self) -> bool {
        self.recording.is_some()
    }
}

impl VM {
    /// After a back-edge, or any op while recording: records, counts
    /// back-edges, enters compiled traces. `Some(ip)`: native code ran,
    /// resume at `ip`.
    pub(crate) fn trace_step(
        &mut self,
        tr: &mut Tracer,
        ip: usize,
        op: &Op,
        next: usize,
    ) -> Option<usize> {
        // A blacklisted anchor costs one array read per back-edge.
        if tr.recording.is_none() && tr.counts.get(next) == Some(&BLACKLISTED) {
            return None;
        }
        let cfg = super::config::current();
        if let Some(rec) = tr.recording.as_mut() {
            let ctx = call_context(self);
            let chunk = std::sync::Arc::clone(self.chunk());
            // The element kind of the unboxed array an `ArrayGet` just read
            // from or an `ArraySet` wrote to (the trace specialises to an
            // Int, Float or Bool one, in place; an array of any values keeps
            // the general path).
            let kind = match op {
                Op::ArrayGet(n) | Op::ArraySet(n) => {
                    self.globals.get(*n as usize).and_then(unboxed_kind)
                }
                Op::SlotArrayGet(s) | Op::SlotArraySet(s) => unboxed_kind(&self.get_slot(*s)),
                _ => None,
            };
            let seen = match op {
                // A read specialises to the element it read (one past the
                // end read undef: not specialised).
                Op::ArrayGet(_) | Op::SlotArrayGet(_) => {
                    kind.filter(|&k| self.stack.last().map(crate::jit::kinds::tag_of) == Some(k))
                }
                _ => kind,
            };
            match rec.step(&chunk, (ip, *op, next, seen), ctx, &cfg) {
                Progress::Continue => {}
                Progress::Closed => {
                    let rec = tr.recording.take().expect("recording");
                    self.compile_trace(rec);
                }
                Progress::Abort(why) => {
                    let rec = tr.recording.take().expect("recording");
                    let a = anchor(chunk.sealed_hash(), rec.anchor);
                    a.fail((chunk.sealed_hash(), rec.anchor), why, rec.side.is_some());
                    tr.counts[rec.anchor] = 0;
                }
            }
        }
        // A taken backward jump: `next` is a loop header.
        if next > ip || op.jump_target() != Some(next) {
            return None;
        }
        if self.inner_loop_first(tr, next, &cfg) {
            return None;
        }
        let count = &mut tr.counts[next];
        *count = count.saturating_add(1).min(BLACKLISTED - 1);
        let first = *count == 1;
        let hot = cfg.trace_threshold != u32::MAX && *count >= cfg.trace_threshold;
        let hash = self.chunk().sealed_hash();
        let mut known = tr.anchors.contains_key(&next);
        if !known && !hot && first {
            // The loop's first back-edge in this VM: traces compiled
            // elsewhere (another VM, another thread, an import) run at once.
            // Traces a former process stored come in first (once per chunk).
            let mut found = find_anchor(hash, next).filter(|a| a.is_compiled());
            if found.is_none() && super::persist::traces::load_once(self.chunk()) {
                found = find_anchor(hash, next).filter(|a| a.is_compiled());
            }
            if let Some(a) = found {
                tr.anchors.insert(next, a);
                known = true;
            }
        }
        if !hot && !known {
            return None;
        }
        let a = Arc::clone(tr.anchors.entry(next).or_insert_with(|| anchor(hash, next)));
        if a.is_blacklisted() {
            tr.counts[next] = BLACKLISTED;
            return None;
        }
        let base = self.frames.last().map_or(0, |f| f.slot_base);
        let frame = self.slots.get(base..).unwrap_or_default();
        // The trace for the frame's slot kinds (compared in place: this
        // runs on every back-edge to a hot loop).
        let fuel = self.fuel.is_some();
        let fits = |t: &Trace| {
            t.fuel == fuel
                && t.tags.len() == frame.len()
                && t.tags.iter().zip(frame).all(|(k, v)| *k == tag_of(v))
                && t.gtags
                    .iter()
                    .zip(&self.globals)
                    .all(|(k, v)| *k == tag_of(v))
        };
        let trace = lock(&a.traces).iter().find(|t| fits(t)).cloned();
        // While recording, stay in the interpreter: the recorder must see
        // every op of the iteration (an inner loop is recorded unrolled).
        if let Some(rec) = tr.recording.as_mut()
            && rec.anchor != next
            && rec.skipping.is_none()
            && let Some((lo, hi)) = *lock(&a.range)
        {
            if (lo..=hi).contains(&rec.anchor) && rec.side.is_none() {
                // That loop's trace runs through this recording's anchor (a
                // side path back through the outer loop's header): it
                // already covers this loop, and keeping it whole would
                // swallow the anchor, so a root recording could never
                // close. A side path of the outer trace is not refused:
                // the do-while mandelbrot's column loop needs one there
                // (refused, its exit stayed hot until both loops were
                // blacklisted); one that can't close fails at
                // `max_trace_len` like any other recording.
                let rec = tr.recording.take().expect("recording");
                let why = format!("op {next}'s trace already runs through op {}", rec.anchor);
                anchor(hash, rec.anchor).fail((hash, rec.anchor), why, rec.side.is_some());
                tr.counts[rec.anchor] = 0;
                return None;
            }
            // An inner loop with a trace of its own: keep it as a loop.
            rec.keep_inner_loop(lo, hi, call_context(self));
            return None;
        }
        match trace {
            Some(t) if tr.recording.is_none() => {
                let ctx = call_context(self);
                let (resume, grow) =
                    self.enter_trace(&a, &t, base, cfg.max_side_exits, cfg.max_trace_chain)?;
                if let Some((key, frames)) = grow {
                    // Record from the hot exit back to the anchor.
                    stats().recorded.fetch_add(1, Relaxed);
                    events::emit(|| JitEvent::TraceStarted {
                        chunk: hash,
                        anchor: next,
                        side: Some((key.0, key.1)),
                    });
                    let (tags, gtags) = (t.tags.clone(), t.gtags.clone());
                    let side = Some((Arc::clone(&t), key));
                    let mut rec = Recording::new(next, ctx, tags, gtags, side);
                    // It starts inside the calls open at the exit.
                    rec.frames = frames;
                    tr.recording = Some(rec);
                }
                return Some(resume);
            }
            Some(_) => return None,
            None => {}
        }
        // Back off after failures: twice as hot per failed attempt.
        let needed = (cfg.trace_threshold as u64) << a.attempts.load(Relaxed);
        if hot && tr.recording.is_none() && tr.counts[next] as u64 >= needed && !a.is_compiling() {
            stats().recorded.fetch_add(1, Relaxed);
            events::emit(|| JitEvent::TraceStarted {
                chunk: hash,
                anchor: next,
                side: None,
            });
            let tags = frame.iter().map(tag_of).collect();
            let gtags = self.globals.iter().map(tag_of).collect();
            tr.recording = Some(Recording::new(next, call_context(self), tags, gtags, None));
        }
        None
    }

    /// Inner loops first: a recording that takes the back-edge of an inner
    /// loop (a header after its anchor, in the anchor's frame) with no trace
    /// of its own gives up — at no cost to its anchor — and that loop
    /// records at its next back-edge; the outer loop, recorded again once
    /// it is traced, keeps it whole. (Recorded unrolled, an inner loop makes
    /// the outer trace exit whenever its trip count differs, until the
    /// outer loop is blacklisted.) `true` if the recording was given up.
    fn inner_loop_first(&mut self, tr: &mut Tracer, header: usize, cfg: &TraceJitConfig) -> bool {
        let Some(rec) = tr.recording.as_ref() else {
            return false;
        };
        let inner = header > rec.anchor
            && rec.skipping.is_none()
            && rec.frames.is_empty()
            && call_context(self) == rec.ctx
            && tr.counts[header] != BLACKLISTED;
        if !inner || cfg.trace_threshold == u32::MAX {
            return false;
        }
        let hash = self.chunk().sealed_hash();
        let inner = find_anchor(hash, header);
        // An inner loop whose trace is being compiled (first or with a new
        // side path) will have it soon: the outer loop waits for it, at no
        // cost to its deferrals, rather than record around code in flux.
        let compiling = inner.as_ref().is_some_and(|a| a.is_compiling());
        if !compiling
            && inner
                .as_ref()
                .is_some_and(|a| a.is_blacklisted() || lock(&a.range).is_some())
        {
            return false;
        }
        let outer = anchor(hash, rec.anchor);
        if !compiling && outer.deferrals.fetch_add(1, Relaxed) >= MAX_DEFERRALS {
            return false;
        }
        let rec = tr.recording.take().expect("recording");
        if let Some((parent, key)) = &rec.side
            && let Some(s) = parent.stub_keys.iter().position(|k| k == key)
        {
            let wait = if compiling { AWAITS_COMPILE } else { GAVE_WAY };
            parent.deferred[s].store(wait, Relaxed);
        }
        let why =
            format!("op {header} starts an inner loop with no trace yet: it is recorded first");
        outer.defer((hash, rec.anchor), why);
        tr.counts[rec.anchor] = 0;
        tr.counts[header] = tr.counts[header].max(cfg.trace_threshold.saturating_sub(1));
        true
    }

    /// Compiles a closed recording: a new trace of its anchor, or, for a
    /// side recording, the parent trace again with the new side path. With
    /// `background_compile` the compiler thread does it and the interpreter
    /// goes on (the trace serves from the first back-edge after it is in);
    /// otherwise this thread waits for it.
    fn compile_trace(&mut self, rec: Recording) {
        let chunk = Arc::clone(self.chunk());
        let a = anchor(chunk.sealed_hash(), rec.anchor);
        let job = CompileJob {
            chunk,
            anchor: Arc::clone(&a),
            rec,
            fuel: self.fuel.is_some(),
            cfg: super::config::current(),
            dumps: super::compiler::dump_options(),
            ops: super::compiler::trace_op_dump(),
        };
        // (A wait for LLVM is counted where the code is obtained.)
        if !job.cfg.background_compile {
            job.install();
            return;
        }
        a.compiling.store(true, Relaxed);
        let queued = super::queue::submit(
            Box::new(move || {
                // Whatever happens, the anchor records again afterwards.
                let _done = Compiling(&a);
                job.run()
            }),
            super::queue::Priority::Trace,
        );
        if let Err(job) = queued {
            job(); // no compiler thread: compiled here
        }
    }

    /// Side paths between the main path and the path of `key`.
    pub(crate) fn chain_depth(t: &Trace, key: synth::ExitKey) -> usize {
        let mut depth = 0;
        let mut path = key.0;
        while path > 0 {
            depth += 1;
            path = t.sides[path - 1].key.0;
        }
        depth
    }

    /// Runs a trace from its anchor; returns where the interpreter resumes.
    fn enter_trace(
        &mut self,
        a: &Anchor,
        t: &Trace,
        base: usize,
        max_side_exits: u32,
        max_chain: usize,
    ) -> Option<(usize, Option<HotExit>)> {
        let depth = self.stack.len();
        let limits = self.limits();
        let frames_left = limits.max_frames.saturating_sub(self.frames.len());
        let slots = self.slots.get_mut(base..).unwrap_or_default();
        let globals = &mut self.globals;
        let fuel = self.fuel;
        let run = || {
            t.code
                .run(slots, globals, depth, frames_left, &limits, fuel)
        };
        let (exit, write_error) = super::helpers::with_output(&mut self.host.output, run);
        if let Some(e) = &write_error {
            // The interpreter reports it at the print that failed.
            self.raised.get_or_insert(e.clone());
        }
        let mut exit = exit?;
        let failed_print = write_error
            .is_some()
            .then(|| exit.ip.checked_sub(1))
            .flatten();
        a.deopts.fetch_add(1, Relaxed);
        let frames_before = self.frames.len();
        t.code.materialise(&mut exit, self, depth, base);
        let callee = self.frames[frames_before..]
            .iter()
            .any(|f| matches!(f.kind, crate::interp::vm::FrameKind::Call { .. }));
        if callee {
            a.callee_exits.fetch_add(1, Relaxed);
            stats().callee_exits.fetch_add(1, Relaxed);
        }
        let resume = *t.orig_ip.get(failed_print.unwrap_or(exit.ip))?;
        let stub = exit
            .ip
            .checked_sub(t.first_stub)
            .filter(|s| *s < t.leaves_loop.len());
        // Running out of steps ends the run: not a side exit.
        let leaves = stub.is_some_and(|s| t.leaves_loop[s]) || exit.out_of_fuel;
        // A stub exit taken often enough grows a side path (before
        // `max_side_exits` can blacklist the loop).
        let mut grow = None;
        if let Some(s) = stub.filter(|_| !leaves && failed_print.is_none()) {
            let key = t.stub_keys[s];
            let n = t.exit_counts[s].fetch_add(1, Relaxed) + 1;
            let retry = match t.deferred[s].load(Relaxed) {
                GAVE_WAY => n <= SIDE_TRACE_THRESHOLD * (1 + SIDE_RETRIES),
                AWAITS_COMPILE => true,
                _ => false,
            } && n % SIDE_TRACE_THRESHOLD == 0;
            if (n == SIDE_TRACE_THRESHOLD || retry) && Self::chain_depth(t, key) < max_chain {
                if a.is_compiling() {
                    t.deferred[s].store(AWAITS_COMPILE, Relaxed);
                } else {
                    t.deferred[s].store(0, Relaxed);
                    grow = Some((key, t.stub_frames[s].clone()));
                }
            }
        }
        if !leaves {
            stats().side_exits.fetch_add(1, Relaxed);
            let excused = if a.is_compiling() {
                a.excused_exits.fetch_add(1, Relaxed) + 1
            } else {
                a.excused_exits.load(Relaxed)
            };
            let counted = (a.side_exits.fetch_add(1, Relaxed) + 1).saturating_sub(excused);
            if counted >= max_side_exits as u64 && !a.blacklisted.swap(true, Relaxed) {
                stats().blacklisted.fetch_add(1, Relaxed);
                events::emit(|| JitEvent::TraceBlacklisted {
                    chunk: self.chunk().sealed_hash(),
                    anchor: t.steps.first().map_or(0, |s| s.ip),
                    reason: format!("{max_side_exits} side exits"),
                });
            }
        }
        Some((resume, grow))
    }
}

/// Clears an anchor's `compiling` mark when its compilation ends, however
/// it ends.
struct Compiling<'a>(&'a Anchor);

impl Drop for Compiling<'_> {
    fn drop(&mut self) {
        self.0.compiling.store(false, Relaxed);
    }
}

/// A closed recording and what compiling it needs from the thread that
/// recorded it (its configuration and dump settings are per thread).
struct CompileJob {
    chunk: Arc<Chunk>,
    anchor: Arc<Anchor>,
    rec: Recording,
    fuel: bool,
    cfg: TraceJitConfig,
    dumps: fusevm_llvm_backend::DumpOptions,
    ops: bool,
}

impl CompileJob {
    /// Compiles and installs the trace under the recording thread's
    /// settings; `false` if it was discarded (its chunk was evicted).
    fn run(self) -> bool {
        use super::config::JitCompiler;
        super::config::set_current(self.cfg);
        JitCompiler::set_dump_options(self.dumps);
        JitCompiler::set_trace_op_dump(self.ops);
        self.install()
    }

    /// Whether the anchor is still the chunk's (not evicted meanwhile).
    fn current(&self) -> bool {
        find_anchor(self.chunk.sealed_hash(), self.rec.anchor)
            .is_some_and(|a| Arc::ptr_eq(&a, &self.anchor))
    }

    fn install(self) -> bool {
        if !self.current() {
            return false;
        }
        let CompileJob {
            chunk,
            anchor: a,
            rec,
            fuel,
            ..
        } = self;
        let (steps, mut sides, tags, gtags) = match &rec.side {
            Some((parent, _)) => (
                parent.steps.clone(),
                parent.sides.clone(),
                parent.tags.clone(),
                parent.gtags.clone(),
            ),
            None => (
                rec.steps.clone(),
                Vec::new(),
                rec.tags.clone(),
                rec.gtags.clone(),
            ),
        };
        if let Some((_, key)) = rec.side {
            sides.push(synth::SidePath {
                key,
                steps: rec.steps.clone(),
            });
        }
        let owner = chunk.sealed_hash();
        let trace = match build_trace(&chunk, &a, rec.anchor, steps, sides, tags, gtags, fuel) {
            Ok(t) => t,
            Err(why) => {
                a.fail((owner, rec.anchor), why, rec.side.is_some());
                return true;
            }
        };
        if let Some((_, key)) = rec.side {
            let chain = VM::chain_depth(&trace, key) + 1;
            events::emit(|| JitEvent::SideLinked {
                chunk: owner,
                anchor: rec.anchor,
                exit: (key.0, key.1),
                resume: key.2,
                chain,
            });
        }
        let mut traces = lock(&a.traces);
        match &rec.side {
            Some((parent, _)) => {
                if let Some(old) = traces.iter_mut().find(|t| Arc::ptr_eq(t, parent)) {
                    *old = trace;
                }
            }
            None => traces.push(trace),
        }
        drop(traces);
        super::persist::traces::save(&chunk);
        true
    }
}

/// Synthesises and compiles the trace of `anchor` in `chunk` from its main
/// path and side paths, for the given kinds (and step counting), noting its
/// span in the anchor's record.
#[allow(clippy::too_many_arguments)]
pub(crate) fn build_trace(
    chunk: &Chunk,
    a: &Anchor,
    anchor_ip: usize,
    steps: Vec<record::Step>,
    sides: Vec<synth::SidePath>,
    tags: Vec<u8>,
    gtags: Vec<u8>,
    fuel: bool,
) -> Result<Arc<Trace>, String> {
    let cfg = super::config::current();
    let tc = synth::build(chunk, &steps, &sides, &cfg)?;
    let first_stub = tc.first_stub;
    let owner = chunk.sealed_hash();
    let code =
        super::compiler::compile_for_trace(owner, &tc.chunk, &tc.inlined, &tags, &gtags, fuel)?;
    let t = code.timings();
    stats().compile_nanos.fetch_add(
        (t.build_ir + t.optimize + t.codegen + t.link).as_nanos() as u64,
        Relaxed,
    );
    stats().compiled.fetch_add(1, Relaxed);
    let inlined_calls = tc
        .inlined
        .values()
        .filter(|i| matches!(i, Inline::Call { .. }))
        .count();
    stats()
        .inlined_calls
        .fetch_add(inlined_calls as u64, Relaxed);
    events::emit(|| JitEvent::TraceCompiled {
        chunk: owner,
        anchor: anchor_ip,
        millis: (t.build_ir + t.optimize + t.codegen + t.link).as_secs_f64() * 1e3,
        side_paths: tc.linked,
        exits: tc.stub_keys.len() - tc.linked,
        inlined_calls,
        dump: dump(&tc, &code),
    });
    *lock(&a.range) = Some(tc.span);
    let exit_counts = tc.stub_keys.iter().map(|_| AtomicU32::new(0)).collect();
    let deferred = tc.stub_keys.iter().map(|_| AtomicU8::new(0)).collect();
    Ok(Arc::new(Trace {
        steps,
        sides,
        stub_keys: tc.stub_keys,
        stub_frames: tc.stub_frames,
        exit_counts,
        deferred,
        tags,
        gtags,
        fuel,
        code,
        orig_ip: tc.orig_ip,
        first_stub,
        leaves_loop: tc.leaves_loop,
    }))
}

/// What a compiled trace event carries when asked: the trace's ops, each
/// with the original op it stands for, its exits, then LLVM IR and machine
/// code as the dump options say.
fn dump(tc: &synth::TraceChunk, code: &BlockCode) -> Option<String> {
    use std::fmt::Write;
    let c = code.compiled();
    let ops = super::compiler::trace_op_dump();
    if !ops && c.ir_after.is_none() && c.asm.is_none() {
        return None;
    }
    let mut out = String::new();
    if ops {
        let _ = writeln!(out, "; ── trace ops (trace ip: op ; original ip) ──");
        let stubs = tc.first_stub..tc.first_stub + tc.stub_keys.len();
        for (ip, orig) in tc.orig_ip.iter().enumerate() {
            let op = tc.chunk.ops()[ip].to_string();
            if stubs.contains(&ip) {
                let leaves = tc.leaves_loop[ip - tc.first_stub];
                let what = if leaves {
                    "leaves the loop"
                } else {
                    "side exit"
                };
                let _ = writeln!(out, "{ip:5}: exit -> op {orig} ({what})");
            } else {
                let note = match tc.inlined.get(&ip) {
                    Some(Inline::Call { .. }) => " (inlined: its callee follows)",
                    Some(Inline::Return) => " (inlined return)",
                    Some(Inline::Element(crate::jit::kinds::TAG_INT)) => " (Int elements)",
                    Some(Inline::Element(crate::jit::kinds::TAG_FLOAT)) => " (Float elements)",
                    Some(Inline::Element(_)) => " (Bool elements)",
                    None => "",
                };
                let _ = writeln!(out, "{ip:5}: {op:<28} ; op {orig}{note}");
            }
        }
    }
    if let Some(ir) = &c.ir_after {
        let _ = writeln!(out, "; ── LLVM IR after O2 ──\n{ir}");
    }
    if let Some(asm) = &c.asm {
        let _ = writeln!(out, "# ── machine code ──\n{asm}");
    }
    Some(out)
}
