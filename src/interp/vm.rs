//! The VM: its state, its public API, and how a run starts and ends.
//! The dispatch loop itself is in `exec.rs`.

use super::fuse::{Fused, fuse};
use super::host::{BuiltinHandler, ExtensionFn, ExtensionHandler, ExtensionWideHandler, Host};
use super::tiers::Tiers;
use crate::bytecode::chunk::Chunk;
use crate::bytecode::op::Op;
use crate::bytecode::value::Value;
use crate::bytecode::verify::verify;
use std::fmt;
use std::io::{BufRead, Write};
use std::sync::Arc;

/// Also here, where fusevm keeps it (`fusevm::vm::VMPool`).
pub use super::pool::VMPool;

/// What kind of frame a [`Frame`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// The bottom frame of a run; it can not be popped.
    Root,
    /// A subroutine activation; `Return`/`ReturnValue` resume at `return_ip`.
    Call {
        /// The op after the `Call`.
        return_ip: usize,
        /// The subroutine's entry (whose slot names
        /// [`VM::slot_names_at`] reads).
        entry_ip: usize,
    },
    /// A scope opened by `PushFrame`.
    Scope,
}

/// One frame. While [`VM::run`] runs, every frame's slots live in one
/// shared area (the VM's, each frame's from its `slot_base` up) and
/// `slots` is empty; between runs each frame holds its own in `slots`, as
/// in fusevm, so a host seeds or reads them there (`vm.frames[0].slots`).
/// The values a frame owns on the operand stack start at `stack_base` (for
/// a call, its arguments).
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// Root, call or scope.
    pub kind: FrameKind,
    /// First operand-stack index owned by the frame.
    pub stack_base: usize,
    /// Index of the frame's slot 0 in the shared area (while running).
    pub slot_base: usize,
    /// The frame's slots between runs (empty while running).
    pub slots: Vec<Value>,
}

/// A run-time error: the op index where it happened and what went wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", match .ip { Some(ip) => format!("op {ip}: "), None => String::new() })]
pub struct VmError {
    /// Index of the failing op (`None` for errors not tied to one op).
    pub ip: Option<usize>,
    /// What went wrong.
    pub message: String,
}

/// Reads as its message, so code written for fusevm's `String` errors
/// (`e.contains("…")`, `e == "…"`) works unchanged.
impl std::ops::Deref for VmError {
    type Target = str;
    fn deref(&self) -> &str {
        &self.message
    }
}

impl PartialEq<str> for VmError {
    fn eq(&self, other: &str) -> bool {
        self.message == other
    }
}

impl PartialEq<&str> for VmError {
    fn eq(&self, other: &&str) -> bool {
        self.message == *other
    }
}

/// The outcome of [`VM::run`].
#[derive(Debug, Clone)]
pub enum VMResult {
    /// The run finished with this value on top of the stack.
    Ok(Value),
    /// The run finished with an empty stack.
    Halted,
    /// The run stopped with an error.
    Error(VmError),
}

impl VMResult {
    /// Strict equality: same variant, values compared with
    /// [`Value::same_as`] (kinds and float bits), errors by op index and
    /// message. The comparison differential tests use.
    pub fn same_as(&self, other: &VMResult) -> bool {
        match (self, other) {
            (VMResult::Ok(a), VMResult::Ok(b)) => a.same_as(b),
            (VMResult::Halted, VMResult::Halted) => true,
            (VMResult::Error(a), VMResult::Error(b)) => a == b,
            _ => false,
        }
    }
}

impl fmt::Display for VMResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VMResult::Ok(v) => write!(f, "{v:?}"),
            VMResult::Halted => f.write_str("Halted"),
            VMResult::Error(e) => write!(f, "error: {e}"),
        }
    }
}

/// Most values the operand stack, and most slots the slot area, may hold
/// (checked where they can grow without bound: back-edges, calls, slot
/// writes). Fixed, unlike [`Limits`], because superinstructions rely on it.
pub(crate) const MAX_STACK: usize = 1 << 24;

/// Resource limits that keep a hostile or buggy program from exhausting the
/// host. Exceeding one is a clean [`VMResult::Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most frames (calls and scopes) alive at once.
    pub max_frames: usize,
    /// Most elements one array may hold (`Range`, growth by index, …).
    pub max_collection_len: usize,
    /// Most bytes one string may hold (`Concat`, `StringRepeat`, …).
    pub max_string_len: usize,
    /// Most bytes of the calling thread's stack native subroutine calls may
    /// use below `VM::run` (the interpreter itself never recurses). Deeper
    /// native recursion hands over to the interpreter, so this bounds speed,
    /// never results; lower it when running VMs on threads with small stacks.
    pub native_stack: usize,
}

impl Limits {
    /// The defaults: 100,000 frames, 2^28 elements, 2^30 bytes, 256 KiB of
    /// native stack.
    pub const fn defaults() -> Limits {
        Limits {
            max_frames: 100_000,
            max_collection_len: 1 << 28,
            max_string_len: 1 << 30,
            native_stack: 256 * 1024,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::defaults()
    }
}

/// A virtual machine running one chunk.
///
/// ```
/// use fusevm_llvm::{assemble, VM, VMResult, Value};
/// let chunk = assemble("LoadInt 6\nLoadInt 7\nMul").unwrap();
/// let result = VM::new(chunk).run();
/// assert!(matches!(result, VMResult::Ok(Value::Int(42))));
/// ```
pub struct VM {
    /// The operand stack.
    pub stack: Vec<Value>,
    /// The frame stack; `frames[0]` is the root frame. Between runs each
    /// frame holds its own slots (see [`Frame`]).
    pub frames: Vec<Frame>,
    /// The shared slot area while running: every live frame's slots, each
    /// frame's from its `slot_base` up (between runs they are parked in
    /// [`Frame::slots`]).
    pub(crate) slots: Vec<Value>,
    /// Whether the slots are parked in the frames (between runs).
    parked: bool,
    /// Globals, indexed by global index (one per name, and any a global op
    /// numbers past the name pool). Public as in fusevm: a host may seed or
    /// read them between runs; `run` and every host call grow the table
    /// back to the chunk's count, which the ops rely on.
    pub globals: Vec<Value>,
    /// The next op to execute.
    pub ip: usize,
    /// The chunk being run (read with [`VM::chunk`]; replaced only through
    /// [`VM::reset`], which verifies it and decodes its superinstructions).
    pub(crate) chunk: Arc<Chunk>,
    pub(crate) verified: Result<(), VmError>,
    /// Superinstructions for `chunk`, indexed by ip (see `fuse.rs`).
    pub(crate) fused: Arc<[Fused]>,
    superinstructions: bool,
    pub(crate) host: Host,
    pub(crate) limits: Limits,
    /// An error raised by a builtin or extension handler.
    pub(crate) raised: Option<String>,
    /// The native tiers `run` may hand control to (see `tiers.rs`).
    tiers: Option<Box<dyn Tiers>>,
    /// Whether the tiers are recording (every op goes to them).
    pub(crate) recording: bool,
    /// Set by [`VM::request_halt`]: `run` stops after the current op.
    pub(crate) halt_requested: bool,
    /// Steps left in the step budget (`None`: unbounded).
    pub(crate) fuel: Option<u64>,
    /// `fused` without groups that branch backward (so every back-edge
    /// reaches the tracing hook and the step budget), made when first needed.
    pub(crate) fused_forward: Option<Arc<[Fused]>>,
}

/// `chunk` when its seal holds, else a sealed copy (see `chunk.rs`).
fn sealed_arc(chunk: Arc<Chunk>) -> Arc<Chunk> {
    if chunk.is_sealed() {
        chunk
    } else {
        let mut c = Chunk::clone(&chunk);
        c.seal();
        Arc::new(c)
    }
}

impl VM {
    /// A VM ready to run `chunk` from op 0. The chunk is verified here; a
    /// chunk that fails verification makes [`VM::run`] return the error.
    pub fn new(mut chunk: Chunk) -> VM {
        chunk.seal();
        Self::with_sealed_chunk(Arc::new(chunk))
    }

    /// Like [`VM::new`] for a chunk shared with other VMs.
    pub fn with_shared_chunk(chunk: Arc<Chunk>) -> VM {
        Self::with_sealed_chunk(sealed_arc(chunk))
    }

    fn with_sealed_chunk(chunk: Arc<Chunk>) -> VM {
        let mut vm = VM {
            stack: Vec::with_capacity(256),
            frames: Vec::with_capacity(64),
            slots: Vec::with_capacity(64),
            parked: true,
            globals: Vec::new(),
            ip: 0,
            chunk: Arc::clone(&chunk),
            verified: Ok(()),
            fused: Arc::from(Vec::new()),
            superinstructions: true,
            host: Host::default(),
            limits: Limits::default(),
            raised: None,
            tiers: None,
            recording: false,
            halt_requested: false,
            fuel: None,
            fused_forward: None,
        };
        vm.load(chunk);
        vm
    }

    /// Swaps in a new chunk and clears all run state (stack, frames, slots,
    /// globals, ip). Registered builtins, handlers, I/O and limits stay.
    pub fn reset(&mut self, mut chunk: Chunk) {
        chunk.seal();
        self.load(Arc::new(chunk));
    }

    /// Like [`VM::reset`] for a shared chunk.
    pub fn reset_shared(&mut self, chunk: Arc<Chunk>) {
        // An `Arc` we already hold was sealed then and cannot have changed.
        if Arc::ptr_eq(&self.chunk, &chunk) {
            self.load(chunk);
        } else {
            self.load(sealed_arc(chunk));
        }
    }

    /// Loads a sealed chunk (see `chunk.rs`).
    fn load(&mut self, chunk: Arc<Chunk>) {
        self.verified = verify(&chunk).map_err(|e| VmError {
            ip: e.ip,
            message: format!("invalid chunk: {}", e.message),
        });
        let same = Arc::ptr_eq(&self.chunk, &chunk) && self.fused.len() == chunk.len();
        if !same {
            self.fused = self.decode(&chunk);
            self.fused_forward = None;
        }
        self.stack.clear();
        self.slots.clear();
        self.parked = true;
        self.frames.clear();
        self.frames.push(Frame {
            kind: FrameKind::Root,
            stack_base: 0,
            slot_base: 0,
            slots: Vec::new(),
        });
        self.globals.clear();
        self.globals
            .resize(chunk.sealed_global_count(), Value::Undef);
        self.ip = 0;
        self.raised = None;
        self.recording = false;
        self.halt_requested = false;
        if let Some(t) = self.tiers.as_mut() {
            t.chunk_changed(&chunk);
        }
        self.chunk = chunk;
    }

    /// The dispatch array for `chunk`: superinstructions, or none.
    fn decode(&self, chunk: &Chunk) -> Arc<[Fused]> {
        if self.verified.is_err() {
            return Arc::from(Vec::new());
        }
        if self.superinstructions {
            Arc::from(fuse(chunk.ops(), |n| chunk.sealed_sub_entry(n)))
        } else {
            Arc::from(vec![Fused::None; chunk.len()])
        }
    }

    /// Without the `jit` feature there are no native tiers: runs stay in
    /// the interpreter (the method exists so embedders compile either way).
    #[cfg(not(feature = "jit"))]
    pub fn enable_tracing_jit(&mut self) {}

    /// Hands [`VM::run`] to `tiers` at the points `tiers.rs` names (`None`:
    /// interpret only). `VM::enable_tracing_jit` installs the crate's own.
    pub fn set_tiers(&mut self, tiers: Option<Box<dyn Tiers>>) {
        self.tiers = tiers;
        self.recording = false;
    }

    /// Keeps [`VM::run`] in the interpreter.
    pub fn disable_tracing_jit(&mut self) {
        self.set_tiers(None);
    }

    /// Whether [`VM::run`] may use native tiers.
    pub fn tracing_jit_enabled(&self) -> bool {
        self.tiers.is_some()
    }

    /// A fresh run may go native: the tiers run the chunk from op 0 and
    /// hand back the interpreter's state where they stopped.
    fn tiers_enter_run(&mut self) {
        if let Some(mut t) = self.tiers.take() {
            t.enter_run(self);
            self.tiers = Some(t);
        }
    }

    /// After op `ip` chose `next` (a back-edge, or any op while recording):
    /// `Some(resume)` when native code ran.
    pub(crate) fn tiers_after_op(&mut self, ip: usize, op: &Op, next: usize) -> Option<usize> {
        let mut t = self.tiers.take()?;
        let resume = t.after_op(self, ip, op, next);
        self.recording = t.recording();
        self.tiers = Some(t);
        resume
    }

    /// Whether the tiers ran `Call name argc` natively.
    pub(crate) fn tiers_call(&mut self, name: u16, argc: u8) -> bool {
        let Some(mut t) = self.tiers.take() else {
            return false;
        };
        let ran = t.call(self, name, argc);
        self.tiers = Some(t);
        ran
    }

    /// Whether native tiers are installed (the dispatch loop's `TRACE`).
    pub(crate) fn has_tiers(&self) -> bool {
        self.tiers.is_some()
    }

    /// Turns superinstructions (fused execution of common op sequences) on
    /// or off; on by default. Results never depend on it: it exists so
    /// tests can compare the two, and to measure what fusion buys.
    pub fn set_superinstructions(&mut self, on: bool) {
        self.superinstructions = on;
        self.fused = self.decode(&Arc::clone(&self.chunk));
    }

    /// Runs from the current ip until the end of the chunk, a top-level
    /// `Return`/`ReturnValue`, or an error. The value on top of the stack
    /// is the result (`Halted` when the stack is empty).
    pub fn run(&mut self) -> VMResult {
        if let Err(e) = &self.verified {
            return VMResult::Error(e.clone());
        }
        self.fit_globals();
        if self.halt_requested {
            return self.result();
        }
        // A handler may call `run` again: only the outermost run parks.
        let outermost = self.parked;
        self.unpark_slots();
        let outcome = self.run_unparked();
        if outermost {
            self.park_slots();
        }
        outcome
    }

    fn run_unparked(&mut self) -> VMResult {
        if self.ip == 0 && self.frames.len() == 1 && self.raised.is_none() {
            self.tiers_enter_run();
        }
        let outcome = self.execute();
        let flushed = self.host.output.flush();
        if let Err(e) = outcome {
            return VMResult::Error(e);
        }
        if let Err(e) = flushed {
            return VMResult::Error(VmError {
                ip: None,
                message: format!("output error: {e}"),
            });
        }
        self.result()
    }

    /// Hands the VM a shared slot area to run on, unparked: `run` leaves it
    /// in place (for the JIT's run-to-completion after an early exit, which
    /// builds frames and slots itself and takes the area back).
    #[cfg(feature = "jit")]
    pub(crate) fn set_slot_area(&mut self, slots: Vec<Value>) {
        self.slots = slots;
        self.parked = false;
    }

    /// Moves the frames' parked slots into the shared area, each frame's
    /// after the one below it.
    fn unpark_slots(&mut self) {
        if !self.parked {
            return;
        }
        self.parked = false;
        if let [root] = self.frames.as_mut_slice() {
            // The common case: swap buffers, copy nothing.
            self.slots = std::mem::take(&mut root.slots);
            root.slot_base = 0;
            return;
        }
        self.slots.clear();
        for f in &mut self.frames {
            f.slot_base = self.slots.len();
            self.slots.append(&mut f.slots);
        }
    }

    /// Moves each frame's region of the shared area into its `slots`.
    fn park_slots(&mut self) {
        if self.parked || self.frames.is_empty() {
            return;
        }
        self.parked = true;
        for f in self.frames.iter_mut().rev() {
            let base = f.slot_base.min(self.slots.len());
            f.slots = if base == 0 {
                std::mem::take(&mut self.slots)
            } else {
                self.slots.split_off(base)
            };
        }
        self.slots.clear();
    }

    /// What a finished run returns: the top of the stack, if any.
    fn result(&self) -> VMResult {
        match self.stack.last() {
            Some(v) => VMResult::Ok(v.clone()),
            None => VMResult::Halted,
        }
    }

    /// Asks the VM to stop: a builtin or extension handler calling this
    /// ends the run after its op (the result is the stack's top, as at the
    /// end of the chunk); before a run, `run` returns at once. The request
    /// stands until [`VM::clear_halt`] or [`VM::reset`]; a run resumed
    /// after `clear_halt` continues after the op that halted.
    pub fn request_halt(&mut self) {
        self.halt_requested = true;
    }

    /// Withdraws a [`VM::request_halt`].
    pub fn clear_halt(&mut self) {
        self.halt_requested = false;
    }

    // ── stack ──

    /// Pushes a value.
    pub fn push(&mut self, v: Value) {
        self.stack.push(v);
    }

    /// Pops a value (`Undef` when the stack is empty).
    pub fn pop(&mut self) -> Value {
        self.stack.pop().unwrap_or_default()
    }

    /// The top value (`Undef` when the stack is empty).
    pub fn peek(&self) -> &Value {
        const UNDEF: &Value = &Value::Undef;
        self.stack.last().unwrap_or(UNDEF)
    }

    /// The chunk being run.
    pub fn chunk(&self) -> &Arc<Chunk> {
        &self.chunk
    }

    // ── slots and globals ──

    /// All globals, indexed by name-pool index.
    pub fn globals(&self) -> &[Value] {
        &self.globals
    }

    /// Grows the globals table back to the chunk's count (a host may have
    /// shrunk the public field).
    pub(crate) fn fit_globals(&mut self) {
        let n = self.chunk.sealed_global_count();
        if self.globals.len() < n {
            self.globals.resize(n, Value::Undef);
        }
    }

    fn slot_base(&self) -> usize {
        self.frames.last().map_or(0, |f| f.slot_base)
    }

    /// Slot `i` of the current frame (`Undef` if never written).
    pub fn get_slot(&self, i: u16) -> Value {
        let (area, base) = self.slot_area();
        area.get(base + i as usize).cloned().unwrap_or_default()
    }

    /// Writes slot `i` of the current frame, growing the frame to fit.
    pub fn set_slot(&mut self, i: u16, v: Value) {
        let base = self.slot_base();
        let (area, idx) = match (self.parked, self.frames.last_mut()) {
            (true, Some(f)) => (&mut f.slots, i as usize),
            _ => (&mut self.slots, base + i as usize),
        };
        if idx >= area.len() {
            area.resize(idx + 1, Value::Undef);
        }
        area[idx] = v;
    }

    /// Slot `i` of the frame `up` levels out from the current one (0: the
    /// current frame), during a run (from a builtin or an extension
    /// handler) or between runs; `Undef` if never written or no such frame.
    pub fn slot_at(&self, up: usize, i: u16) -> Value {
        let Some(k) = self.frames.len().checked_sub(up + 1) else {
            return Value::Undef;
        };
        let f = &self.frames[k];
        let v = if self.parked {
            f.slots.get(i as usize)
        } else {
            // The frame's slots end where the next frame's begin.
            let end = self
                .frames
                .get(k + 1)
                .map_or(self.slots.len(), |g| g.slot_base);
            self.slots[..end.min(self.slots.len())].get(f.slot_base + i as usize)
        };
        v.cloned().unwrap_or_default()
    }

    /// The slot names of the subroutine the frame `up` levels out is
    /// running ([`ChunkBuilder::set_sub_slot_names`]); empty for the root
    /// frame, a scope, a subroutine with none recorded, or no such frame.
    /// Names come from the chunk and values from the frame
    /// ([`VM::slot_at`]), so each activation of a recursive subroutine
    /// answers with the same names over its own slots.
    ///
    /// [`ChunkBuilder::set_sub_slot_names`]: crate::ChunkBuilder::set_sub_slot_names
    pub fn slot_names_at(&self, up: usize) -> &[String] {
        let Some(k) = self.frames.len().checked_sub(up + 1) else {
            return &[];
        };
        match self.frames[k].kind {
            FrameKind::Call { entry_ip, .. } => self.chunk.sub_slot_names_at(entry_ip),
            _ => &[],
        }
    }

    /// The slot `name` has in the frame `up` levels out, if its subroutine
    /// recorded one by that name.
    pub fn slot_of_at(&self, up: usize, name: &str) -> Option<u16> {
        let i = self.slot_names_at(up).iter().position(|n| n == name)?;
        u16::try_from(i).ok()
    }

    /// [`VM::slot_names_at`] for the current frame.
    pub fn frame_slot_names(&self) -> &[String] {
        self.slot_names_at(0)
    }

    /// [`VM::slot_of_at`] for the current frame.
    pub fn frame_slot_of(&self, name: &str) -> Option<u16> {
        self.slot_of_at(0, name)
    }

    /// The current frame's slots: its own between runs, else the shared
    /// area from its base.
    fn slot_area(&self) -> (&[Value], usize) {
        match (self.parked, self.frames.last()) {
            (true, Some(f)) => (&f.slots, 0),
            _ => (&self.slots, self.slot_base()),
        }
    }

    /// The global called `name` (`None` if the chunk never names it).
    pub fn get_global(&self, name: &str) -> Option<&Value> {
        let i = self.chunk.name_index(name)?;
        self.globals.get(i as usize)
    }

    /// Sets the global called `name`; false if the chunk never names it
    /// (bytecode can only reach globals its name pool lists).
    pub fn set_global(&mut self, name: &str, v: Value) -> bool {
        match self.chunk.name_index(name) {
            Some(i) => {
                self.globals[i as usize] = v;
                true
            }
            None => false,
        }
    }

    // ── host hooks ──

    /// Registers builtin `id` for `CallBuiltin(id, argc)`.
    pub fn register_builtin(&mut self, id: u16, handler: BuiltinHandler) {
        let i = id as usize;
        if i >= self.host.builtins.len() {
            self.host.builtins.resize(i + 1, None);
        }
        self.host.builtins[i] = Some(handler);
    }

    /// Registers the handler for `Extended(id, _)` ops with this id.
    pub fn register_extension(&mut self, id: u16, handler: ExtensionFn) {
        let i = id as usize;
        if i >= self.host.extensions.len() {
            self.host.extensions.resize_with(i + 1, || None);
        }
        self.host.extensions[i] = Some(handler);
    }

    /// Sets the catch-all handler for `Extended` ids without their own.
    pub fn set_extension_handler(&mut self, handler: ExtensionHandler) {
        self.host.ext_handler = Some(handler);
    }

    /// Sets the handler for `ExtendedWide` ops.
    pub fn set_extension_wide_handler(&mut self, handler: ExtensionWideHandler) {
        self.host.ext_wide_handler = Some(handler);
    }

    /// Called by a builtin or extension handler to fail the current op; the
    /// run stops with this message and the op's index.
    pub fn raise_error(&mut self, message: impl Into<String>) {
        self.raised = Some(message.into());
    }

    /// Where `Print`/`PrintLn` write (default: buffered stdout, flushed at
    /// the end of each run and before each `ReadLine`).
    pub fn set_output(&mut self, out: Box<dyn Write + Send>) {
        self.host.output = out;
    }

    /// Where `ReadLine` reads (default: stdin).
    pub fn set_input(&mut self, input: Box<dyn BufRead + Send>) {
        self.host.input = Some(input);
    }

    /// The resource limits in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Replaces the resource limits.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// Bounds how much work runs may do: `Some(n)` allows `n` more *steps*,
    /// counted over every run until changed; `None` (the default) removes
    /// the bound. A step is a taken backward jump (one loop iteration) or a
    /// call (`Call`, `CallDynamic`); a run that needs one more step than is
    /// left stops with the error "step budget exhausted" at that op — a
    /// backward jump after it is taken, a call before it is made — in every
    /// tier alike (native code counts the same steps at its back-edges and
    /// calls). Without loops or calls a chunk runs at most its length in
    /// ops; each iteration of a fused loop op (`AccumSumLoop` and friends)
    /// is a step too. Use it to run untrusted bytecode.
    pub fn set_step_budget(&mut self, steps: Option<u64>) {
        self.fuel = steps;
    }

    /// Steps left in the budget (`None`: unbounded).
    pub fn step_budget(&self) -> Option<u64> {
        self.fuel
    }
}

impl fmt::Debug for VM {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VM")
            .field("ip", &self.ip)
            .field("stack", &self.stack)
            .field("frames", &self.frames)
            .field("slots", &self.slots)
            .field(
                "chunk_hash",
                &format_args!("{:032x}", self.chunk.sealed_hash()),
            )
            .finish_non_exhaustive()
    }
}
