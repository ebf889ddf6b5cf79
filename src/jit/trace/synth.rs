//! Turning a recording into code the block tier compiles: the *trace chunk*.
//!
//! The trace chunk starts with the recorded ops in recorded order (so op 0
//! is the anchor's op), each branch rewritten to continue along the recorded
//! direction and to jump to an *exit stub* otherwise; a `Jump 0` closes the
//! loop. Each stub is a top-level `Return`, which the block tier never runs:
//! native code exits *before* it, with the state the interpreter has right
//! after the branch, and `orig_ip` maps the stub to where the interpreter
//! goes next (the branch's other target). After the stubs come the original
//! chunk's ops, shifted, so `Call`s in inner loops kept whole reach their
//! subroutines.
//!
//! A recorded `Call` is *inlined*: the callee's recorded ops follow it in
//! the trace chunk, and [`TraceChunk::inlined`] marks the `Call` (it opens a
//! call frame) and the callee's `Return` (it closes it) for the block tier.
//! Recursion is inlined up to `max_inline_recursion` live activations of one
//! function; a path deeper than that is refused here, whatever recorded it.

use super::record::Step;
use crate::bytecode::chunk::{Chunk, ChunkBuilder};
use crate::bytecode::op::Op;
use crate::jit::block::analysis::{Inline, Inlined};
use crate::jit::config::TraceJitConfig;

/// An inlined call frame while a path is emitted: the callee's name index
/// and the original ip it returns to.
pub type InlineFrame = (u16, usize);

/// Names an exit of a trace: the path it is on (0: the main path, `i + 1`:
/// side path `i`), the step of that path that branches off, and the ip the
/// interpreter resumes at.
pub type ExitKey = (usize, usize, usize);

/// A path recorded from a hot exit back to the anchor, attached at `key`.
#[derive(Debug, Clone)]
pub struct SidePath {
    /// The exit it continues.
    pub key: ExitKey,
    /// What ran from there to the anchor.
    pub steps: Vec<Step>,
}

/// A trace chunk and how its ips map back.
pub struct TraceChunk {
    /// The code to compile.
    pub chunk: Chunk,
    /// For each trace-chunk ip (trace ops and stubs), the original ip at
    /// which the interpreter resumes when native code exits before it.
    pub orig_ip: Vec<usize>,
    /// For each stub, whether it leaves the loop (its target lies outside
    /// the recorded ips) rather than taking a path the trace did not record.
    pub leaves_loop: Vec<bool>,
    /// For each stub, which exit it is.
    pub stub_keys: Vec<ExitKey>,
    /// For each stub, the inlined call frames open at it (outermost first):
    /// a side path recorded from it starts inside them.
    pub stub_frames: Vec<Vec<InlineFrame>>,
    /// The trace chunk's inlined calls and returns.
    pub inlined: Inlined,
    /// Original ips the main path runs in the loop's own frame (`lo..=hi`).
    pub span: (usize, usize),
    /// Trace-chunk ip of the first stub.
    pub first_stub: usize,
    /// Side paths linked in (within `max_trace_chain`).
    pub linked: usize,
}

/// Trace ops being emitted, with their exit stubs.
#[derive(Default)]
struct TraceOps {
    /// (op, original ip)
    ops: Vec<(Op, usize)>,
    /// Each stub's resume ip.
    stubs: Vec<usize>,
    /// (op index, stub index): branch targets to set once stubs are placed.
    patches: Vec<(usize, usize)>,
    /// Each stub's exit.
    stub_keys: Vec<ExitKey>,
    /// The path and step being emitted.
    cur: (usize, usize),
    /// `Jump`s to trampolines that jump back to the op after them.
    charges: Vec<usize>,
    /// Inlined call frames open at the op being emitted.
    frames: Vec<InlineFrame>,
    /// Each stub's open frames.
    stub_frames: Vec<Vec<InlineFrame>>,
    /// Inlined calls and returns, by trace-chunk ip.
    inlined: Inlined,
    /// Live activations of one function allowed (`max_inline_recursion`).
    max_recursion: usize,
}

impl TraceOps {
    /// An inner loop kept as a loop: the original ops `lo..=hi`, entered at
    /// `entry`, jumps inside retargeted to the copy, a jump to `resume` (where
    /// the recording went on) continuing the trace, any other way out an exit.
    fn inner_loop(&mut self, orig: &Chunk, entry: usize, lo: usize, hi: usize, resume: usize) {
        if entry != lo {
            let start = self.ops.len() + 1;
            self.ops.push((Op::Jump(start + entry - lo), entry));
        }
        let start = self.ops.len();
        let after = start + (hi - lo + 1) + 1;
        for ip in lo..=hi {
            let mut op = orig.ops()[ip];
            match op.jump_target() {
                Some(t) if (lo..=hi).contains(&t) => {
                    op.set_jump_target(start + t - lo);
                    self.ops.push((op, ip));
                }
                Some(t) if t == resume => {
                    op.set_jump_target(after);
                    self.ops.push((op, ip));
                }
                Some(t) => self.exit_branch(op, ip, t),
                None => self.ops.push((op, ip)),
            }
        }
        // Falling off the loop's last op continues at the op after it.
        if hi + 1 == resume {
            self.ops.push((Op::Jump(after), hi));
        } else {
            self.exit_branch(Op::Jump(0), hi, hi + 1);
        }
    }

    /// A branch (from original op `ip`) that exits to a stub resuming at
    /// `resume`.
    fn exit_branch(&mut self, op: Op, ip: usize, resume: usize) {
        self.stubs.push(resume);
        self.stub_keys.push((self.cur.0, self.cur.1, resume));
        self.stub_frames.push(self.frames.clone());
        self.patches.push((self.ops.len(), self.stubs.len() - 1));
        self.ops.push((op, ip));
    }
}

/// Appends `orig`'s ops (jumps shifted) after the `shift` ops already in
/// `b`, with its constants, names and subroutine entries, so calls in the
/// ops before them reach their subroutines.
pub(crate) fn append_original(b: &mut ChunkBuilder, orig: &Chunk, shift: usize) {
    for c in orig.constants() {
        b.add_constant(c.clone());
    }
    for n in orig.names() {
        b.add_name(n);
    }
    for &(n, ip) in orig.sub_entries() {
        b.add_sub_entry(n, ip + shift);
    }
    for op in orig.ops() {
        let mut op = *op;
        if let Some(t) = op.jump_target() {
            op.set_jump_target(t + shift);
        }
        b.emit(op, 0);
    }
}

/// A popping branch taken when the value is truthy (`true`) or falsy.
fn branch_on(truthy: bool) -> Op {
    if truthy {
        Op::JumpIfTrue(0)
    } else {
        Op::JumpIfFalse(0)
    }
}

/// Builds the trace chunk of `steps` (which start at the anchor and end with
/// the back-edge to it) and its side paths, inlining calls up to
/// `cfg.max_inline_recursion` live activations of one function and linking
/// side paths up to `cfg.max_trace_chain` deep (a deeper one's exit stays an
/// exit). `Err` for a path that recurses deeper or whose calls and returns
/// don't pair up.
pub fn build(
    orig: &Chunk,
    steps: &[Step],
    sides: &[SidePath],
    cfg: &TraceJitConfig,
) -> Result<TraceChunk, String> {
    let mut t = TraceOps {
        max_recursion: cfg.max_inline_recursion,
        ..TraceOps::default()
    };
    // The main path, then each side path; each ends with `Jump 0`.
    let mut path_start = vec![0];
    let span = emit_path(&mut t, orig, steps, 0)?;
    for (i, side) in sides.iter().enumerate() {
        path_start.push(t.ops.len());
        // A side path starts inside the calls open at its exit.
        let Some(stub) = t.stub_keys.iter().position(|k| *k == side.key) else {
            return Err(format!(
                "side path {i} continues an exit the trace doesn't have"
            ));
        };
        t.frames = t.stub_frames[stub].clone();
        emit_path(&mut t, orig, &side.steps, i + 1).map_err(|e| format!("side path {i}: {e}"))?;
    }
    // Side path `i` is `depth[i]` side paths away from the main path.
    let mut depth: Vec<usize> = Vec::with_capacity(sides.len());
    for side in sides {
        let d = match side.key.0 {
            0 => 1,
            p => depth.get(p - 1).map_or(usize::MAX, |d| d.saturating_add(1)),
        };
        depth.push(d);
    }
    let linked: Vec<bool> = depth.iter().map(|&d| d <= cfg.max_trace_chain).collect();
    Ok(finish(orig, t, span, (sides, &linked), &path_start))
}

/// Emits one recorded path (number `path`), starting inside `t.frames`;
/// returns the span of original ips it ran in the loop's own frame.
fn emit_path(
    t: &mut TraceOps,
    orig: &Chunk,
    steps: &[Step],
    path: usize,
) -> Result<(usize, usize), String> {
    let (mut lo, mut hi) = (usize::MAX, 0);
    for (k, s) in steps.iter().enumerate() {
        if t.frames.is_empty() {
            let (a, b) = s.inner.unwrap_or((s.ip, s.ip));
            (lo, hi) = (lo.min(a.min(s.ip)), hi.max(b.max(s.ip)));
        }
        t.cur = (path, k);
        let (ip, next) = (s.ip, s.next);
        let taken = s.op.jump_target().is_some_and(|t| next == t && t != ip + 1);
        if let Some((from, to)) = s.inner {
            t.inner_loop(orig, s.ip, from, to, next);
        }
        match s.op {
            _ if s.inner.is_some() => {}
            Op::Jump(_) => {}
            Op::Call(n, _) => {
                if orig.sealed_sub_entry(n) != Some(next) {
                    return Err(format!(
                        "step {k}: the call at op {ip} does not enter its callee"
                    ));
                }
                t.frames.push((n, ip + 1));
                if t.frames.iter().filter(|f| f.0 == n).count() > t.max_recursion {
                    return Err(format!(
                        "recursion deeper than max_inline_recursion ({}) at op {ip}",
                        t.max_recursion
                    ));
                }
                t.inlined
                    .insert(t.ops.len(), Inline::Call { return_ip: ip + 1 });
                t.ops.push((s.op, ip));
            }
            Op::Return | Op::ReturnValue => match t.frames.pop() {
                Some((_, to)) if to == next => {
                    t.inlined.insert(t.ops.len(), Inline::Return);
                    t.ops.push((s.op, ip));
                }
                Some(_) => return Err(format!("step {k}: the return at op {ip} goes astray")),
                None => return Err(format!("step {k}: op {ip} returns from the loop's frame")),
            },
            Op::JumpIfTrue(to)
            | Op::JumpIfFalse(to)
            | Op::JumpIfTrueKeep(to)
            | Op::JumpIfFalseKeep(to) => {
                if to == ip + 1 {
                    if matches!(s.op, Op::JumpIfTrue(_) | Op::JumpIfFalse(_)) {
                        t.ops.push((Op::Pop, ip));
                    }
                } else {
                    let jumps_on_true = matches!(s.op, Op::JumpIfTrue(_) | Op::JumpIfTrueKeep(_));
                    let keep = matches!(s.op, Op::JumpIfTrueKeep(_) | Op::JumpIfFalseKeep(_));
                    // Exit on the condition value that leads off the trace.
                    let exits_on_true = jumps_on_true != taken;
                    let other = if taken { ip + 1 } else { to };
                    let op = match (exits_on_true, keep) {
                        (true, false) => Op::JumpIfTrue(0),
                        (false, false) => Op::JumpIfFalse(0),
                        (true, true) => Op::JumpIfTrueKeep(0),
                        (false, true) => Op::JumpIfFalseKeep(0),
                    };
                    t.exit_branch(op, ip, other);
                }
            }
            Op::SlotLtIntJumpIfFalse(slot, lim, to) => {
                t.ops.push((Op::GetSlot(slot), ip));
                t.ops.push((Op::LoadInt(lim as i64), ip));
                t.ops.push((Op::NumLt, ip));
                // It jumps when the slot is not below the limit.
                let (exits_on_true, other) = if taken { (true, ip + 1) } else { (false, to) };
                t.exit_branch(branch_on(exits_on_true), ip, other);
            }
            Op::SlotIncLtIntJumpBack(slot, lim, to) => {
                t.ops.push((Op::PreIncSlotVoid(slot), ip));
                t.ops.push((Op::GetSlot(slot), ip));
                t.ops.push((Op::LoadInt(lim as i64), ip));
                t.ops.push((Op::NumLt, ip));
                // It jumps when the slot is below the limit.
                let (exits_on_true, other) = if taken { (false, ip + 1) } else { (true, to) };
                t.exit_branch(branch_on(exits_on_true), ip, other);
            }
            Op::ArrayGet(_) | Op::SlotArrayGet(_) | Op::ArraySet(_) | Op::SlotArraySet(_) => {
                if let Some(tag) = s.seen {
                    t.inlined.insert(t.ops.len(), Inline::Element(tag));
                }
                t.ops.push((s.op, ip));
            }
            op => t.ops.push((op, ip)),
        }
        if k + 1 == steps.len() {
            if !t.frames.is_empty() {
                return Err("the path ends inside an inlined call".into());
            }
            t.ops.push((Op::Jump(0), ip));
        } else if s.inner.is_none() && taken && next <= ip {
            // A backward jump taken mid-path (into an enclosing loop's
            // header, say): the trace goes on straight, through a
            // trampoline that charges the step the interpreter would.
            t.charges.push(t.ops.len());
            t.ops.push((Op::Jump(0), ip));
        }
    }
    Ok((lo.min(hi), hi))
}

/// Places the stubs (branches to exits that have a linked side path go to
/// it), then the original ops, and builds the chunk.
fn finish(
    orig: &Chunk,
    t: TraceOps,
    (lo, hi): (usize, usize),
    (sides, linked): (&[SidePath], &[bool]),
    path_start: &[usize],
) -> TraceChunk {
    let TraceOps {
        mut ops,
        stubs,
        patches,
        stub_keys,
        charges,
        stub_frames,
        inlined,
        ..
    } = t;
    let first_stub = ops.len();
    // Trampolines, placed after the stubs, are `Jump`s back into the trace:
    // code counting steps charges each backward jump of the original the
    // trace realises by a forward one (a branch to a stub or side path
    // whose original jump went backward; a backward jump taken mid-path),
    // and out of steps exits at the trampoline, which maps to that jump.
    let mut trampolines: Vec<(usize, usize)> = Vec::new();
    for (at, stub) in patches {
        let side = sides
            .iter()
            .position(|p| p.key == stub_keys[stub])
            .filter(|&i| linked[i]);
        let target = match side {
            Some(i) => path_start[i + 1],
            None => first_stub + stub,
        };
        let from = ops[at].1;
        if stubs[stub] <= from {
            ops[at]
                .0
                .set_jump_target(first_stub + stubs.len() + trampolines.len());
            trampolines.push((target, from));
        } else {
            ops[at].0.set_jump_target(target);
        }
    }
    for at in charges {
        ops[at]
            .0
            .set_jump_target(first_stub + stubs.len() + trampolines.len());
        trampolines.push((at + 1, ops[at].1));
    }
    let shift = first_stub + stubs.len() + trampolines.len();
    let mut b = ChunkBuilder::new();
    let mut orig_ip = Vec::with_capacity(shift);
    for (op, ip) in &ops {
        b.emit(*op, 0);
        orig_ip.push(*ip);
    }
    for &resume in &stubs {
        b.emit(Op::Return, 0);
        orig_ip.push(resume);
    }
    for &(target, from) in &trampolines {
        b.emit(Op::Jump(target), 0);
        orig_ip.push(from);
    }
    append_original(&mut b, orig, shift);
    // An exit inside an inlined call returns into the loop: a side exit.
    let leaves_loop = stubs
        .iter()
        .zip(&stub_frames)
        .map(|(&r, f)| f.is_empty() && (r < lo || r > hi))
        .collect();
    TraceChunk {
        chunk: b.build(),
        orig_ip,
        leaves_loop,
        stub_keys,
        stub_frames,
        inlined,
        span: (lo, hi),
        first_stub,
        linked: linked.iter().filter(|l| **l).count(),
    }
}
