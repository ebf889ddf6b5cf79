//! The block tier's analysis: which functions a chunk needs, and at every
//! op the depth of the operand stack, the open scopes and the kinds each
//! stack position and slot may hold.
//!
//! A *function* is the chunk's top-level code (the root, entered at op 0)
//! or a subroutine entered by `Call` with a given argument count. The
//! analysis is a forward dataflow fixpoint: within a function over its ops,
//! across functions over argument and return kinds. It refuses a chunk (with
//! a reason naming the op) when an op has no lowering, when stack depths or
//! scopes disagree where paths meet, or when a subroutine does something only
//! the interpreter can (fall off the chunk, pop its caller's values).

use super::super::kinds::*;
use super::super::support::{self, Support};
use crate::bytecode::chunk::Chunk;
use crate::bytecode::op::Op;
use rustc_hash::FxHashMap;
use std::collections::BTreeMap;

/// Largest frame (physical slots) and operand stack the block tier takes.
pub(crate) const MAX_SLOTS: usize = 1024;
pub(crate) const MAX_DEPTH: usize = 1024;
/// Most globals native code takes: each is loaded at entry and stored at
/// every exit, and LLVM's instruction selection grows faster than linearly
/// with them (about 1 s at 256, 5–8 s at 545), so a chunk that numbers a
/// global far past the name pool would make it compile for minutes.
pub(crate) const MAX_GLOBALS: usize = 256;
const MAX_FUNCTIONS: usize = 256;

/// A frame opened in top-level code: a scope (`PushFrame`) or, in a trace,
/// the frame of an inlined call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// Physical index of the frame's slot 0.
    pub slot_base: usize,
    /// Operand stack depth where the frame's values start (for a call:
    /// below its arguments).
    pub stack_depth: usize,
    /// For an inlined call frame: the original ip it returns to.
    pub call: Option<usize>,
}

/// What a trace chunk's op stands for when it belongs to an inlined call
/// (the tracing tier: the callee's recorded ops follow the `Call` in the
/// trace chunk itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Inline {
    /// A `Call` opening a call frame over its arguments; the frame returns
    /// to original ip `return_ip`.
    Call {
        /// Where the interpreter goes when the callee returns.
        return_ip: usize,
    },
    /// A `Return`/`ReturnValue` closing the innermost inlined call frame
    /// (and any scope the callee left open).
    Return,
    /// An `ArrayGet` whose element was of kind `tag` (Int, Float or Bool)
    /// when recorded: the trace is specialised to it, and an element of
    /// another kind exits before the op.
    Element(u8),
}

/// The inlined calls of a trace chunk, by trace-chunk ip (empty for the
/// block tier: every `Call` there is a native call).
pub type Inlined = BTreeMap<usize, Inline>;

/// What is known before an op runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    /// Kinds of the operand stack, bottom first (its length is the depth).
    pub stack: Vec<KindSet>,
    /// Kinds of the physical slots of the function's frame.
    pub slots: Vec<KindSet>,
    /// Length of the slot area when known (top level only).
    pub len: Option<usize>,
    /// Open scopes and inlined call frames, outermost first (top level
    /// only).
    pub scopes: Vec<Scope>,
    /// Kinds of the globals, by name index (top level only).
    pub globals: Vec<KindSet>,
    /// Kinds the elements of the array (or the values of the hash) each
    /// global holds may have, by name index (top level only): `ANY` for a
    /// container the chunk didn't make, then what its own writes store.
    /// Containers are values (copy-on-write), so only ops naming the
    /// global change them; subroutines touch no globals. A read yields one
    /// of these or Undef, which keeps a Float array's reads (or an Int
    /// histogram's counts) out of the boxed paths.
    pub elems: Vec<KindSet>,
}

impl State {
    /// Index in `scopes` of the innermost inlined call frame.
    pub fn innermost_call(&self) -> Option<usize> {
        self.scopes.iter().rposition(|sc| sc.call.is_some())
    }

    /// Physical index of slot `s` in the innermost scope.
    pub fn phys(&self, s: u16) -> usize {
        self.scopes.last().map_or(0, |sc| sc.slot_base) + s as usize
    }

    fn slot(&mut self, p: usize) -> KindSet {
        if p >= self.slots.len() {
            self.slots.resize(p + 1, KindSet::UNDEF);
        }
        self.slots[p]
    }

    fn set_slot(&mut self, p: usize, k: KindSet) {
        self.slot(p);
        self.slots[p] = k;
        self.len = self.len.map(|l| l.max(p + 1));
    }

    /// Merges `o` into `self`; `Err` when the shapes disagree.
    fn join(&mut self, o: &State) -> Result<bool, String> {
        if self.stack.len() != o.stack.len() {
            return Err(format!(
                "operand stack depth differs where paths meet ({} vs {})",
                self.stack.len(),
                o.stack.len()
            ));
        }
        if self.scopes != o.scopes {
            return Err("scopes (PushFrame/PopFrame) differ where paths meet".into());
        }
        let before = self.clone();
        for (a, b) in self.stack.iter_mut().zip(&o.stack) {
            *a = a.join(*b);
        }
        if o.slots.len() > self.slots.len() {
            self.slots.resize(o.slots.len(), KindSet::UNDEF);
        }
        for (p, a) in self.slots.iter_mut().enumerate() {
            *a = a.join(o.slots.get(p).copied().unwrap_or(KindSet::UNDEF));
        }
        if self.len != o.len {
            self.len = None;
        }
        for (a, b) in self.globals.iter_mut().zip(&o.globals) {
            *a = a.join(*b);
        }
        for (a, b) in self.elems.iter_mut().zip(&o.elems) {
            *a = a.join(*b);
        }
        Ok(*self != before)
    }
}

/// One function of the plan.
#[derive(Debug, Clone)]
pub struct Function {
    /// First op.
    pub entry: usize,
    /// Arguments it finds on its stack (0 for the root).
    pub argc: usize,
    /// State before each op (`None`: unreachable); index `ops.len()` is the
    /// state at the end of the chunk (root only).
    pub states: Vec<Option<State>>,
    /// Kinds the function may return (subroutines ending in `ReturnValue`).
    pub returns: KindSet,
    /// `Some(true)` if it returns a value, `Some(false)` if it returns
    /// nothing, `None` if it never returns.
    pub returns_value: Option<bool>,
    /// Kinds of the arguments over all call sites.
    pub args: Vec<KindSet>,
    /// Callee function index of each `Call` op.
    pub callees: FxHashMap<usize, usize>,
    /// Deepest operand stack.
    pub max_depth: usize,
    /// Number of physical slots.
    pub slot_count: usize,
}

/// The functions of a chunk, root first.
#[derive(Debug, Clone)]
pub struct Plan {
    /// `functions[0]` is the root.
    pub functions: Vec<Function>,
    /// Whether boxed values (strings, containers) flow through the root's
    /// stack and slots (the tracing tier), rather than staying in the slots
    /// and globals that held them at entry (the block tier).
    pub boxed: bool,
    /// The trace chunk's inlined calls.
    pub inlined: Inlined,
    /// The tier whose op table the plan follows.
    pub tier: Tier,
}

/// Analyses `chunk` entered at op 0 with slots of the given kinds.
/// Which tier's op table applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tier {
    /// A whole chunk.
    Block,
    /// A trace chunk (may print in its top-level code).
    Trace,
}

/// Analyses `chunk` entered at op 0 with slots and globals of the given
/// kinds, by `tier`'s op table, with the calls `inlined` in its top-level
/// code.
pub fn analyse(
    chunk: &Chunk,
    entry_kinds: &[KindSet],
    global_kinds: &[KindSet],
    tier: Tier,
    inlined: &Inlined,
) -> Result<Plan, String> {
    if global_kinds.len() > MAX_GLOBALS {
        return Err(format!(
            "too many globals for native code ({} > {MAX_GLOBALS})",
            global_kinds.len()
        ));
    }
    let boxed = tier == Tier::Trace || support::block_boxes(chunk);
    let mut fns = vec![new_function(0, usize::MAX)];
    let mut index: FxHashMap<(usize, usize), usize> = FxHashMap::default();
    discover(
        chunk,
        &mut fns,
        &mut index,
        (tier, global_kinds.len()),
        inlined,
    )?;
    // Fixpoint over argument and return kinds.
    for round in 0.. {
        if round > 64 {
            return Err("kind analysis did not converge".into());
        }
        let mut changed = false;
        for f in 0..fns.len() {
            let (states, calls, ret) =
                analyse_function(chunk, &fns, f, entry_kinds, global_kinds, boxed, inlined)?;
            for (callee, args) in calls {
                let c = &mut fns[callee];
                for (a, k) in c.args.iter_mut().zip(args) {
                    let j = a.join(k);
                    changed |= j != *a;
                    *a = j;
                }
            }
            let fun = &mut fns[f];
            changed |= ret != fun.returns;
            fun.returns = ret;
            fun.max_depth = states
                .iter()
                .flatten()
                .map(|s| s.stack.len())
                .max()
                .unwrap_or(0);
            fun.slot_count = states
                .iter()
                .flatten()
                .map(|s| s.slots.len())
                .max()
                .unwrap_or(0)
                .max(if f == 0 { entry_kinds.len() } else { 0 });
            if fun.max_depth > MAX_DEPTH || fun.slot_count > MAX_SLOTS {
                return Err(format!(
                    "frame too large for the block tier ({} slots, stack depth {})",
                    fun.slot_count, fun.max_depth
                ));
            }
            fun.states = states;
        }
        if !changed {
            break;
        }
    }
    Ok(Plan {
        functions: fns,
        boxed,
        inlined: inlined.clone(),
        tier,
    })
}

fn new_function(entry: usize, argc: usize) -> Function {
    Function {
        entry,
        argc,
        states: Vec::new(),
        returns: KindSet::NONE,
        returns_value: None,
        args: vec![KindSet::NONE; if argc == usize::MAX { 0 } else { argc }],
        callees: FxHashMap::default(),
        max_depth: 0,
        slot_count: 0,
    }
}

/// Finds every function reachable from the root by control flow alone, how
/// each returns, and checks that every reachable op has a lowering.
fn discover(
    chunk: &Chunk,
    fns: &mut Vec<Function>,
    index: &mut FxHashMap<(usize, usize), usize>,
    (tier, globals): (Tier, usize),
    inlined: &Inlined,
) -> Result<(), String> {
    let boxed = support::block_boxes(chunk);
    let ops = chunk.ops();
    let mut f = 0;
    while f < fns.len() {
        let root = f == 0;
        let mut seen = vec![false; ops.len() + 1];
        let mut work = vec![fns[f].entry];
        let mut returns: Option<bool> = None;
        while let Some(ip) = work.pop() {
            if seen[ip] {
                continue;
            }
            seen[ip] = true;
            if ip == ops.len() {
                if !root {
                    return Err(format!("subroutine at {} runs off the chunk", fns[f].entry));
                }
                continue;
            }
            let op = ops[ip];
            let support = match tier {
                Tier::Trace if root => support::trace(&op, chunk.constants()),
                Tier::Block if root && boxed => support::boxed(&op, chunk.constants()),
                _ => support::block(&op, chunk.constants()),
            };
            match support {
                Support::No => return Err(format!("op {ip} `{op}` has no native lowering")),
                Support::ExitAtTop if !root && matches!(op, Op::PopFrame) => {
                    return Err(format!("op {ip} `{op}` in a subroutine"));
                }
                _ => {}
            }
            // A global the caller did not provide (an index past the name
            // pool, entered without it) stays with the interpreter.
            if let Some(n) = op.global().filter(|n| root && *n as usize >= globals) {
                return Err(format!(
                    "op {ip} `{op}` uses global {n}, past the {globals} given"
                ));
            }
            let inline = if root { inlined.get(&ip) } else { None };
            match op {
                // Inlined calls and returns go on to the next trace op.
                Op::Call(..) | Op::Return | Op::ReturnValue if inline.is_some() => {}
                Op::Return | Op::ReturnValue if root => continue,
                Op::Return | Op::ReturnValue => {
                    let v = matches!(op, Op::ReturnValue);
                    if returns.is_some_and(|r| r != v) {
                        return Err(format!(
                            "subroutine at {} both returns a value and returns none (op {ip})",
                            fns[f].entry
                        ));
                    }
                    returns = Some(v);
                    continue;
                }
                Op::PushFrame
                | Op::GetVar(_)
                | Op::SetVar(_)
                | Op::DeclareVar(_)
                | Op::Print(_)
                | Op::PrintLn(_)
                    if !root =>
                {
                    // Subroutines must touch nothing but their frame: an
                    // unwinding call is run again by the interpreter.
                    return Err(format!("op {ip} `{op}` in a subroutine"));
                }
                Op::Call(n, argc) => {
                    let entry = chunk
                        .sealed_sub_entry(n)
                        .ok_or_else(|| format!("op {ip} calls an unknown subroutine"))?;
                    let key = (entry, argc as usize);
                    let callee = match index.get(&key) {
                        Some(&c) => c,
                        None => {
                            if fns.len() >= MAX_FUNCTIONS {
                                return Err("too many subroutines for the block tier".into());
                            }
                            fns.push(new_function(entry, argc as usize));
                            index.insert(key, fns.len() - 1);
                            fns.len() - 1
                        }
                    };
                    fns[f].callees.insert(ip, callee);
                }
                _ => {}
            }
            work.extend(successors(&op, ip));
        }
        fns[f].returns_value = returns;
        f += 1;
    }
    Ok(())
}

/// Control-flow successors of a non-returning op.
pub(crate) fn successors(op: &Op, ip: usize) -> Vec<usize> {
    match *op {
        Op::Jump(t) => vec![t],
        Op::JumpIfTrue(t)
        | Op::JumpIfFalse(t)
        | Op::JumpIfTrueKeep(t)
        | Op::JumpIfFalseKeep(t)
        | Op::SlotLtIntJumpIfFalse(_, _, t)
        | Op::SlotIncLtIntJumpBack(_, _, t) => vec![ip + 1, t],
        _ => vec![ip + 1],
    }
}

type Calls = Vec<(usize, Vec<KindSet>)>;

/// Forward fixpoint over one function with the current summaries of the
/// others: states, argument kinds at its call sites, kinds it returns.
fn analyse_function(
    chunk: &Chunk,
    fns: &[Function],
    f: usize,
    entry_kinds: &[KindSet],
    global_kinds: &[KindSet],
    boxed: bool,
    inlined: &Inlined,
) -> Result<(Vec<Option<State>>, Calls, KindSet), String> {
    let ops = chunk.ops();
    let fun = &fns[f];
    let root = f == 0;
    let mut states: Vec<Option<State>> = vec![None; ops.len() + 1];
    let start = if root {
        State {
            stack: Vec::new(),
            slots: entry_kinds.to_vec(),
            len: Some(entry_kinds.len()),
            scopes: Vec::new(),
            globals: global_kinds.to_vec(),
            elems: entry_elements(chunk, global_kinds.len(), inlined),
        }
    } else {
        State {
            stack: fun.args.clone(),
            slots: Vec::new(),
            len: None,
            scopes: Vec::new(),
            globals: Vec::new(),
            elems: Vec::new(),
        }
    };
    if !root && fun.args.contains(&KindSet::NONE) {
        // Not called with known arguments yet.
        return Ok((states, Vec::new(), KindSet::NONE));
    }
    states[fun.entry] = Some(start);
    let mut calls: Calls = Vec::new();
    let mut ret = KindSet::NONE;
    let mut work = vec![fun.entry];
    while let Some(ip) = work.pop() {
        if ip == ops.len() {
            continue;
        }
        let Some(mut st) = states[ip].clone() else {
            continue;
        };
        let op = ops[ip];
        let mut next: Vec<(usize, State)> = Vec::new();
        let (pops, _) = support::stack_effect(&op);
        let underflow = match op {
            Op::Call(_, argc) => st.stack.len() < argc as usize,
            Op::ReturnValue => st.stack.is_empty(),
            _ => st.stack.len() < pops,
        };
        if underflow {
            if root {
                continue; // native code exits here; the interpreter reports it
            }
            return Err(format!("op {ip} `{op}` pops below its subroutine's frame"));
        }
        let inline = if root {
            inlined.get(&ip).copied()
        } else {
            None
        };
        match op {
            Op::Call(_, argc) if inline.is_some() => {
                let Some(Inline::Call { return_ip }) = inline else {
                    return Err(format!("op {ip} `{op}` is marked as an inlined return"));
                };
                let Some(len) = st.len else {
                    return Err(format!(
                        "op {ip} `{op}` (inlined): the slot area's length differs between paths"
                    ));
                };
                st.scopes.push(Scope {
                    slot_base: len,
                    stack_depth: st.stack.len() - argc as usize,
                    call: Some(return_ip),
                });
                next.push((ip + 1, st));
            }
            Op::Return | Op::ReturnValue if inline == Some(Inline::Return) => {
                let Some(c) = st.innermost_call() else {
                    return Err(format!("op {ip} `{op}` (inlined) has no call frame"));
                };
                let value = match op {
                    Op::ReturnValue => st.stack.pop(),
                    _ => None,
                };
                // As the interpreter unwinds: the callee's frames (and any
                // scope it left open) go, the value lands on its stack base.
                let frame = st.scopes[c].clone();
                st.scopes.truncate(c);
                for k in st.slots.iter_mut().skip(frame.slot_base) {
                    *k = KindSet::UNDEF;
                }
                st.len = Some(frame.slot_base);
                st.stack.truncate(frame.stack_depth);
                st.stack.extend(value);
                next.push((ip + 1, st));
            }
            Op::Return | Op::ReturnValue if root => continue,
            // Closing a scope that isn't there (or an inlined call's frame)
            // is the interpreter's error to report.
            Op::PopFrame if root && st.scopes.last().is_none_or(|sc| sc.call.is_some()) => {
                continue;
            }
            Op::Return => continue,
            Op::ReturnValue => {
                ret = ret.join(*st.stack.last().expect("checked depth"));
                continue;
            }
            Op::Call(..) => {
                let callee = fun.callees[&ip];
                let argc = fns[callee].argc;
                let args = st.stack.split_off(st.stack.len() - argc);
                // A boxed argument exits before the call (subroutines have
                // no boxes); the callee sees the other kinds.
                if args.contains(&KindSet::of(TAG_OPAQUE)) {
                    continue;
                }
                let args = args.iter().map(|k| k.without(TAG_OPAQUE)).collect();
                calls.push((callee, args));
                match fns[callee].returns_value {
                    None => continue, // never returns
                    Some(true) => {
                        if fns[callee].returns == KindSet::NONE {
                            continue; // not known yet
                        }
                        st.stack.push(fns[callee].returns);
                    }
                    Some(false) => {}
                }
                next.push((ip + 1, st));
            }
            Op::PushFrame => {
                let Some(len) = st.len else {
                    return Err(format!(
                        "op {ip} `PushFrame`: the slot area's length differs between paths"
                    ));
                };
                st.scopes.push(Scope {
                    slot_base: len,
                    stack_depth: st.stack.len(),
                    call: None,
                });
                next.push((ip + 1, st));
            }
            Op::PopFrame => {
                let sc = st.scopes.pop().expect("checked above");
                for k in st.slots.iter_mut().skip(sc.slot_base) {
                    *k = KindSet::UNDEF;
                }
                st.len = Some(sc.slot_base);
                // The values the scope left on the stack go with it.
                st.stack.truncate(sc.stack_depth);
                next.push((ip + 1, st));
            }
            _ => {
                if !transfer(&op, chunk, &mut st, boxed && root) {
                    continue; // always exits (reads a slot native code can't)
                }
                if let (Op::ArrayGet(_) | Op::SlotArrayGet(_), Some(Inline::Element(tag))) =
                    (op, inline)
                {
                    // Specialised: the element's kind is what was recorded.
                    if let Some(top) = st.stack.last_mut() {
                        *top = KindSet::of(tag);
                    }
                }
                for s in successors(&op, ip) {
                    next.push((s, st.clone()));
                }
            }
        }
        for (s, st) in next {
            if s == ops.len() && !root {
                return Err(format!("subroutine at {} runs off the chunk", fun.entry));
            }
            match &mut states[s] {
                slot @ None => {
                    *slot = Some(st);
                    work.push(s);
                }
                Some(old) => {
                    if old.join(&st).map_err(|e| format!("op {s}: {e}"))? {
                        work.push(s);
                    }
                }
            }
        }
    }
    Ok((states, calls, ret))
}

/// The element kinds of the arrays the globals hold at entry: `ANY`, but
/// for a trace, the strategy its recording saw a global's array in (the
/// `Inline::Element` marks on its reads and writes, when they agree). That
/// is a guess, not a fact, and safe as one: a read's result kinds are
/// enforced (the in-place read handles only strategies of those kinds, the
/// helper fails on any other and native code leaves before the read, which
/// changed nothing), and the ops that remove elements keep `ANY`.
fn entry_elements(chunk: &Chunk, globals: usize, inlined: &Inlined) -> Vec<KindSet> {
    let mut seen: Vec<Option<KindSet>> = vec![None; globals];
    for (&ip, mark) in inlined {
        let (Inline::Element(tag), Some(Op::ArrayGet(n) | Op::ArraySet(n))) =
            (mark, chunk.ops().get(ip))
        else {
            continue;
        };
        if let Some(s) = seen.get_mut(*n as usize) {
            let k = KindSet::of(*tag);
            *s = Some(match *s {
                None => k,
                Some(old) if old == k => k,
                Some(_) => KindSet::ANY,
            });
        }
    }
    seen.into_iter()
        .map(|k| k.unwrap_or(KindSet::ANY))
        .collect()
}

/// What a top-level op does to the element kinds of the array a global
/// holds (`State::elems`); `args` are its operands in stack order.
fn track_elements(op: &Op, args: &[KindSet], st: &mut State) {
    use Op::*;
    let Some(n) = op.global().map(usize::from) else {
        return;
    };
    let Some(elems) = st.elems.get_mut(n) else {
        return; // a subroutine's state (it touches no globals)
    };
    match *op {
        // Reads and removals store nothing.
        GetArray(_) | ArrayGet(_) | ArrayLen(_) | ArrayPop(_) | ArrayShift(_) | GetVar(_)
        | GetHash(_) | HashGet(_) | HashExists(_) | HashDelete(_) => {}
        DeclareArray(_) | DeclareHash(_) => *elems = KindSet::NONE,
        // The value is the deeper operand (under the index or key).
        ArrayPush(_) | HashSet(_) => *elems = elems.join(args[0]),
        // A write past the end fills the gap with Undef.
        ArraySet(_) => *elems = elems.join(args[0]).join(KindSet::UNDEF),
        // Anything else naming the global may replace what it holds.
        _ => *elems = KindSet::ANY,
    }
}

/// Applies a non-call op to the state. `false` when the op can only exit
/// (it reads a slot holding a value native code can't represent). With
/// `boxed`, `GetSlot` and `GetVar` push boxed values too.
fn transfer(op: &Op, chunk: &Chunk, st: &mut State, boxed: bool) -> bool {
    use Op::*;
    // Reading a slot: the opaque case exits, the rest flows on.
    macro_rules! read {
        ($s:expr) => {{
            let p = st.phys($s);
            let k = st.slot(p).without(TAG_OPAQUE);
            if k == KindSet::NONE {
                return false;
            }
            k
        }};
    }
    let (pops, _) = support::stack_effect(op);
    let n = st.stack.len();
    let args: Vec<KindSet> = st.stack.split_off(n - pops);
    let a = |i: usize| args[i];
    track_elements(op, &args, st);
    let push: Vec<KindSet> = match *op {
        Nop | MapBlock(_) | GrepBlock(_) | SortBlock(_) | SortDefault | ForEachBlock(_)
        | Jump(_) | JumpIfTrue(_) | JumpIfFalse(_) | Pop | Print(_) | PrintLn(_) => vec![],
        JumpIfTrueKeep(_) | JumpIfFalseKeep(_) => vec![a(0)],
        LoadInt(_) => vec![KindSet::INT],
        LoadFloat(_) => vec![KindSet::FLOAT],
        LoadConst(c) => vec![KindSet::of(tag_of(&chunk.constants()[c as usize]))],
        LoadTrue | LoadFalse => vec![KindSet::BOOL],
        LoadUndef => vec![KindSet::UNDEF],
        Dup => vec![a(0), a(0)],
        Dup2 => vec![a(0), a(1), a(0), a(1)],
        Swap => vec![a(1), a(0)],
        Rot => vec![a(1), a(2), a(0)],
        GetSlot(s) if boxed => {
            let p = st.phys(s);
            vec![st.slot(p)]
        }
        GetSlot(s) => vec![read!(s)],
        GetVar(n) if boxed => vec![st.globals[n as usize]],
        GetVar(n) => {
            let k = st.globals[n as usize].without(TAG_OPAQUE);
            if k == KindSet::NONE {
                return false;
            }
            vec![k]
        }
        SetVar(n) | DeclareVar(n) => {
            st.globals[n as usize] = a(0);
            vec![]
        }
        SetSlot(s) => {
            let p = st.phys(s);
            st.set_slot(p, a(0));
            vec![]
        }
        Add | Sub | Mul | Mod => vec![arith(a(0), a(1))],
        Div => vec![KindSet::UNDEF.join(KindSet::FLOAT)],
        Pow | PowFloat | Atan2Float | SqrtFloat | SinFloat | CosFloat | TanFloat | ExpFloat
        | AsinFloat | AcosFloat | AtanFloat | SinhFloat | CoshFloat | TanhFloat | LogFloat
        | Log2Float | Log10Float | AbsFloat | FloorFloat | CeilFloat | TruncFloat | RoundFloat => {
            vec![KindSet::FLOAT]
        }
        Negate => vec![negate(a(0))],
        Inc | Dec => vec![step(a(0))],
        NumEq | NumNe | NumLt | NumGt | NumLe | NumGe | LogNot | LogAnd | LogOr => {
            vec![KindSet::BOOL]
        }
        Spaceship | BitAnd | BitOr | BitXor | BitNot | Shl | Shr | AbsInt | GcdInt | LcmInt
        | TruncInt | StringLen | StrCmp => vec![KindSet::INT],
        StrEq | StrNe | StrLt | StrGt | StrLe | StrGe => vec![KindSet::BOOL],
        Concat | StringRepeat => vec![KindSet::of(TAG_OPAQUE)],
        // Container ops on a global: native code runs them only when the
        // global is boxed (a container), and exits otherwise.
        GetArray(n) | GetHash(n) | ArrayGet(n) | ArraySet(n) | ArrayPush(n) | ArrayPop(n)
        | ArrayShift(n) | ArrayLen(n) | HashGet(n) | HashSet(n) | HashExists(n) | HashDelete(n) => {
            if !st.globals[n as usize].has(TAG_OPAQUE) {
                return false;
            }
            match *op {
                GetArray(_) | GetHash(_) => vec![st.globals[n as usize]],
                // An element or value, or Undef (out of range, absent, or an
                // Undef global). The ops that remove one keep ANY: their
                // helper must never refuse a result after changing the
                // container (native code would leave before the op, and
                // the interpreter would run it again).
                ArrayGet(_) | HashGet(_) => vec![st.elems[n as usize].join(KindSet::UNDEF)],
                ArrayPop(_) | ArrayShift(_) | HashDelete(_) => vec![KindSet::ANY],
                ArrayLen(_) => vec![KindSet::INT],
                HashExists(_) => vec![KindSet::BOOL],
                _ => vec![],
            }
        }
        // The same on the array a slot holds.
        SlotArrayGet(s) | SlotArraySet(s) => {
            if !st.slot(st.phys(s)).has(TAG_OPAQUE) {
                return false;
            }
            match *op {
                SlotArrayGet(_) => vec![KindSet::ANY],
                _ => vec![],
            }
        }
        // A new container, or one checked and stored into a global.
        MakeArray(_) | MakeHash(_) | Range | RangeStep => vec![KindSet::of(TAG_OPAQUE)],
        DeclareArray(n) | DeclareHash(n) | SetArray(n) | SetHash(n) => {
            st.globals[n as usize] = KindSet::of(TAG_OPAQUE);
            vec![]
        }
        MulModFloor => vec![KindSet::INT.join(arith(arith(a(0), a(1)), a(2)))],
        MulAddModFloor => vec![KindSet::INT.join(arith(arith(arith(a(0), a(1)), a(2)), a(3)))],
        PreIncSlot(s) | PreDecSlot(s) => {
            let k = step(read!(s));
            let p = st.phys(s);
            st.set_slot(p, k);
            vec![k]
        }
        PreIncSlotVoid(s) | SlotIncLtIntJumpBack(s, _, _) => {
            let k = step(read!(s));
            let p = st.phys(s);
            st.set_slot(p, k);
            vec![]
        }
        PostIncSlot(s) | PostDecSlot(s) => {
            let old = read!(s);
            let p = st.phys(s);
            st.set_slot(p, step(old));
            vec![old]
        }
        AddAssignSlotVoid(x, y) => {
            let ky = read!(y);
            let k = arith(read!(x), ky);
            let p = st.phys(x);
            st.set_slot(p, k);
            vec![]
        }
        SlotLtIntJumpIfFalse(s, _, _) => {
            read!(s);
            vec![]
        }
        AccumSumLoop(sum, i, _) => {
            let (ps, pi) = (st.phys(sum), st.phys(i));
            read!(i);
            // Slots are written only if the loop runs: a length it might
            // grow becomes unknown.
            let grows = st.len.is_none_or(|l| ps >= l || pi >= l);
            // The loop body, repeated on kind sets until they are stable.
            loop {
                let before = (st.slot(ps), st.slot(pi));
                let iv = read!(i);
                let acc = arith(read!(sum), iv);
                let ks = st.slot(ps).join(acc);
                st.set_slot(ps, ks);
                let ki = st.slot(pi).join(step(read!(i)));
                st.set_slot(pi, ki);
                if (st.slot(ps), st.slot(pi)) == before {
                    break;
                }
            }
            if grows {
                st.len = None;
            }
            vec![]
        }
        _ => unreachable!("transfer: {op} is handled by the caller"),
    };
    st.stack.extend(push);
    true
}

/// Kinds of `a ⊕ b` for the promoting binary ops.
pub fn arith(a: KindSet, b: KindSet) -> KindSet {
    let mut k = KindSet::NONE;
    if a.has(TAG_INT) && b.has(TAG_INT) {
        k = k.join(KindSet::INT);
    }
    if a.has_other_than(TAG_INT) || b.has_other_than(TAG_INT) {
        k = k.join(KindSet::FLOAT);
    }
    k
}

/// Kinds of `-a`.
pub fn negate(a: KindSet) -> KindSet {
    let mut k = KindSet::NONE;
    if a.has(TAG_INT) {
        k = k.join(KindSet::INT);
    }
    if a.has_other_than(TAG_INT) {
        k = k.join(KindSet::FLOAT);
    }
    k
}

/// Kinds of `a ± 1` (the increment family).
pub fn step(a: KindSet) -> KindSet {
    let mut k = KindSet::NONE;
    if a.has(TAG_FLOAT) {
        k = k.join(KindSet::FLOAT);
    }
    if a.has_other_than(TAG_FLOAT) {
        k = k.join(KindSet::INT);
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bytecode::asm::assemble;

    /// The kinds on top of the stack before the op labelled `at` (by op
    /// index), analysing `src` with its globals holding `globals` at entry.
    fn top_before(src: &str, at: usize, globals: KindSet) -> KindSet {
        let chunk = assemble(src).expect("assembles");
        let kinds = vec![globals; chunk.sealed_global_count()];
        let plan = analyse(&chunk, &[], &kinds, Tier::Block, &Inlined::new()).expect("analyses");
        let st = plan.functions[0].states[at].as_ref().expect("reachable");
        *st.stack.last().expect("a value on the stack")
    }

    const FILL_THEN_READ: &str = "
            DeclareArray xs
            LoadFloat 1.5
            ArrayPush xs
            LoadInt 0
            ArrayGet xs
            Pop
            LoadUndef";

    #[test]
    fn reads_of_an_array_the_chunk_filled_with_floats_are_float_or_undef() {
        assert_eq!(
            top_before(FILL_THEN_READ, 5, KindSet::UNDEF),
            KindSet::FLOAT.join(KindSet::UNDEF)
        );
    }

    #[test]
    fn a_write_of_another_kind_reaches_reads_around_the_loop() {
        // The Int written after the read flows back to it along the loop.
        let src = "
                DeclareArray xs
                LoadFloat 1.5
                ArrayPush xs
        top:    LoadInt 0
                ArrayGet xs
                Pop
                LoadInt 7
                LoadInt 0
                ArraySet xs
                Jump top";
        let want = KindSet::FLOAT.join(KindSet::INT).join(KindSet::UNDEF);
        assert_eq!(top_before(src, 5, KindSet::UNDEF), want);
    }

    #[test]
    fn the_counts_of_a_histogram_the_chunk_keeps_are_numbers_or_undef() {
        // h[3] = 0, then h[3] = h[3] + 1 forever: an absent key reads as
        // Undef, and Undef + 1 is a Float, so the counts are Int or Float.
        let src = "
                DeclareHash counts
                LoadInt 0
                LoadInt 3
                HashSet counts
        top:    LoadInt 3
                HashGet counts
                LoadInt 1
                Add
                LoadInt 3
                HashSet counts
                Jump top";
        let want = KindSet::INT.join(KindSet::FLOAT).join(KindSet::UNDEF);
        assert_eq!(top_before(src, 6, KindSet::UNDEF), want);
    }

    /// The kinds on top of the stack before op `at` of the trace chunk
    /// `src` whose ops `marks` read or wrote elements of the given kinds.
    fn trace_top_before(src: &str, marks: &[(usize, u8)], at: usize) -> KindSet {
        let chunk = assemble(src).expect("assembles");
        let kinds = vec![KindSet::of(TAG_OPAQUE); chunk.sealed_global_count()];
        let inlined: Inlined = marks
            .iter()
            .map(|&(ip, t)| (ip, Inline::Element(t)))
            .collect();
        let plan = analyse(&chunk, &[], &kinds, Tier::Trace, &inlined).expect("analyses");
        let st = plan.functions[0].states[at].as_ref().expect("reachable");
        *st.stack.last().expect("a value on the stack")
    }

    const TWO_READS: &str = "
            LoadInt 0
            ArrayGet xs
            Pop
            LoadInt 1
            ArrayGet xs
            Pop";

    #[test]
    fn a_trace_guesses_the_strategy_its_recording_saw_for_every_read() {
        // Only op 1 was recorded as a Float read; op 4 reads the same
        // array: a Float or Undef, enforced by its helper.
        let want = KindSet::FLOAT.join(KindSet::UNDEF);
        assert_eq!(trace_top_before(TWO_READS, &[(1, TAG_FLOAT)], 5), want);
    }

    #[test]
    fn a_trace_that_saw_two_strategies_guesses_nothing() {
        let marks = [(1, TAG_FLOAT), (4, TAG_INT)];
        let unmarked = "
                LoadInt 0
                ArrayGet xs
                Pop
                LoadInt 1
                ArrayGet xs
                Pop
                LoadInt 2
                ArrayGet xs
                Pop";
        assert_eq!(trace_top_before(unmarked, &marks, 8), KindSet::ANY);
    }

    #[test]
    fn an_array_the_chunk_did_not_make_reads_as_anything() {
        let src = "
                LoadInt 0
                ArrayGet xs
                Pop
                LoadUndef";
        let opaque = KindSet::of(TAG_OPAQUE);
        assert_eq!(top_before(src, 2, opaque), KindSet::ANY);
    }

    #[test]
    fn replacing_the_array_a_global_holds_forgets_its_elements() {
        let src = "
                DeclareArray xs
                LoadFloat 1.5
                ArrayPush xs
                GetArray other
                SetArray xs
                LoadInt 0
                ArrayGet xs
                Pop
                LoadUndef";
        assert_eq!(top_before(src, 7, KindSet::of(TAG_OPAQUE)), KindSet::ANY);
    }
}
