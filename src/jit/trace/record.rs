//! The trace recorder: the ops one iteration of a hot loop executes in the
//! anchor's frame and in the calls it makes, with where each went next.
//!
//! Calls are recorded through (the callee's ops follow the `Call`, and the
//! trace inlines them); recursion deeper than `max_inline_recursion` live
//! activations of one function aborts the recording. Scopes opened in the
//! anchor's frame are part of it; returning from it aborts.
//! [`is_closed_path`] applies the same rules to a path handed in as a list
//! of ops (fusevm's trace API).

use super::super::support::{self, Support};
use crate::bytecode::chunk::Chunk;
use crate::bytecode::op::Op;

/// One recorded op: its ip, the op, and the ip that ran next.
#[derive(Debug, Clone, Copy)]
pub struct Step {
    /// Where the op is.
    pub ip: usize,
    /// The op.
    pub op: Op,
    /// Where execution went after it (the branch direction).
    pub next: usize,
    /// An inner loop that already has a trace, kept as a loop: its ops
    /// `lo..=hi` go into the trace as they are (`ip` is where it was
    /// entered, `next` where it was left).
    pub inner: Option<(usize, usize)>,
    /// For an `ArrayGet` or `ArraySet` on an unboxed array: its element
    /// kind when recorded, Int, Float or Bool (the trace is specialised to
    /// it).
    pub seen: Option<u8>,
}

/// A recording in progress.
pub struct Recording {
    /// The loop header the trace starts and closes at.
    pub anchor: usize,
    /// Index in `vm.frames` of the anchor's call (or root) frame.
    pub ctx: usize,
    /// Calls entered and not yet returned from (outermost first): each
    /// callee's name index and the ip it returns to.
    pub frames: Vec<super::synth::InlineFrame>,
    /// Slot kinds of the anchor's frame at the start (the trace's key).
    pub tags: Vec<u8>,
    /// Kinds of the globals at the start (also part of the key).
    pub gtags: Vec<u8>,
    /// What ran.
    pub steps: Vec<Step>,
    /// Inside an inner loop kept whole: its entry and range.
    pub skipping: Option<(usize, usize, usize)>,
    /// The call context the inner loop being skipped runs in.
    skip_ctx: usize,
    /// The call context after the previous op (the one the next op runs in).
    last_ctx: usize,
    /// A side recording: the trace and the exit it starts from.
    pub side: Option<(std::sync::Arc<super::Trace>, super::synth::ExitKey)>,
}

/// What the recorder says after an op.
pub enum Progress {
    /// Keep recording.
    Continue,
    /// The loop closed at the anchor: compile the steps.
    Closed,
    /// Give up, for this reason.
    Abort(String),
}

impl Recording {
    /// A recording of the loop at `anchor`, in the frame at index `ctx`,
    /// for the given slot and global kinds; `side` when it continues an
    /// exit of an existing trace.
    pub fn new(
        anchor: usize,
        ctx: usize,
        tags: Vec<u8>,
        gtags: Vec<u8>,
        side: Option<(std::sync::Arc<super::Trace>, super::synth::ExitKey)>,
    ) -> Recording {
        Recording {
            anchor,
            ctx,
            frames: Vec::new(),
            tags,
            gtags,
            steps: Vec::new(),
            skipping: None,
            skip_ctx: ctx,
            last_ctx: ctx,
            side,
        }
    }

    /// The loop just closed at `anchor` (spanning `lo..=hi`) has a trace of
    /// its own: keep it as a loop instead of unrolling it. Steps recorded
    /// inside it are dropped; recording resumes when execution leaves it.
    pub fn keep_inner_loop(&mut self, lo: usize, hi: usize, ctx: usize) {
        // This entry into the loop: the run of steps inside it at the end
        // (an earlier entry, in an earlier call or trip, stays recorded).
        let inside = |s: &Step| (lo..=hi).contains(&s.ip);
        let first = self
            .steps
            .iter()
            .rposition(|s| !inside(s))
            .map_or(0, |p| p + 1);
        if first == self.steps.len() {
            return;
        }
        let entry = self.steps[first].ip;
        self.steps.truncate(first);
        self.skipping = Some((entry, lo, hi));
        self.skip_ctx = ctx;
    }

    /// Notes that `op` at `ip` ran and went to `next` (`seen`: the kind of
    /// the element an `ArrayGet` read); `ctx` is the call context now.
    /// `cfg` gives `max_trace_len` and `max_inline_recursion`.
    pub fn step(
        &mut self,
        chunk: &Chunk,
        (ip, op, next, seen): (usize, Op, usize, Option<u8>),
        ctx: usize,
        cfg: &crate::jit::config::TraceJitConfig,
    ) -> Progress {
        let ran_in = std::mem::replace(&mut self.last_ctx, ctx);
        if ctx < self.ctx {
            return Progress::Abort(format!("left the anchor's frame at op {ip}"));
        }
        if let Some((entry, lo, hi)) = self.skipping {
            if (lo..=hi).contains(&ip) {
                return Progress::Continue; // inside the inner loop
            }
            // The first op after the inner loop, in the frame it ran in (a
            // return from inside it is not a path the trace can take).
            if ran_in != self.skip_ctx {
                return Progress::Abort(format!("op {ip}: a call returned inside an inner loop"));
            }
            self.skipping = None;
            self.steps.push(Step {
                ip: entry,
                op: Op::Nop,
                next: ip,
                inner: Some((lo, hi)),
                seen: None,
            });
        }
        match (support::trace(&op, chunk.constants()), op) {
            // A scope closing inside the loop: the trace chunk has its
            // `PushFrame` too (a scope opened before the loop makes the
            // trace exit there instead).
            (Support::Native, _) | (Support::ExitAtTop, Op::PopFrame) => {}
            (Support::ExitAtTop, Op::Return | Op::ReturnValue) if !self.frames.is_empty() => {}
            (Support::ExitAtTop, Op::Return | Op::ReturnValue) => {
                return Progress::Abort(format!("op {ip} returns from the anchor's frame"));
            }
            _ => return Progress::Abort(format!("op {ip} `{op}` is not supported in traces")),
        }
        match op {
            Op::Call(n, _) => {
                self.frames.push((n, ip + 1));
                let live = self.frames.iter().filter(|f| f.0 == n).count();
                if live > cfg.max_inline_recursion {
                    return Progress::Abort(format!(
                        "recursion deeper than max_inline_recursion ({}) at op {ip}",
                        cfg.max_inline_recursion
                    ));
                }
            }
            Op::Return | Op::ReturnValue => {
                self.frames.pop();
            }
            _ => {}
        }
        // Each recorded op must follow the previous one: anything else is
        // not one path.
        if let Some(prev) = self.steps.last() {
            let expected = prev.next;
            if ip != expected {
                return Progress::Abort(format!(
                    "op {ip} does not follow op {} on the recorded path",
                    prev.ip
                ));
            }
        }
        self.steps.push(Step {
            ip,
            op,
            next,
            inner: None,
            seen,
        });
        if self.steps.len() > cfg.max_trace_len {
            return Progress::Abort(format!(
                "longer than max_trace_len ({} ops)",
                cfg.max_trace_len
            ));
        }
        if next == self.anchor && next <= ip && self.frames.is_empty() && ctx == self.ctx {
            return Progress::Closed;
        }
        Progress::Continue
    }
}

/// Whether `ops`, a path given as a list (no ips), is one the recorder could
/// close at `anchor`: not empty, at most `max_trace_len` ops, each supported
/// in traces, calls and returns balanced (a return only from a call the
/// path made), and the loop closed by the last op alone — a branch to
/// `anchor` outside every call.
pub fn is_closed_path(ops: &[Op], anchor: usize, cfg: &crate::jit::config::TraceJitConfig) -> bool {
    let Some((last, body)) = ops.split_last() else {
        return false;
    };
    if ops.len() > cfg.max_trace_len {
        return false;
    }
    let mut depth = 0usize;
    for op in body {
        // No constant pool here: a `LoadConst` is supported whatever it loads.
        match (support::trace(op, &[]), op) {
            (Support::Native, _) | (Support::ExitAtTop, Op::PopFrame) => {}
            (Support::ExitAtTop, Op::Return | Op::ReturnValue) if depth > 0 => {}
            _ => return false,
        }
        match op {
            Op::Call(..) => depth += 1,
            Op::Return | Op::ReturnValue => depth -= 1,
            _ if depth == 0 && op.jump_target() == Some(anchor) => return false,
            _ => {}
        }
    }
    depth == 0 && last.jump_target() == Some(anchor) && support::trace(last, &[]) == Support::Native
}
