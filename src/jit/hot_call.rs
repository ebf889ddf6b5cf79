//! Hot subroutines: in a chunk the block tier can't take whole (it prints,
//! say), a subroutine the interpreter keeps calling runs as block-tier code
//! from the call on, with its callees and recursion native.
//!
//! Calls count per subroutine, against four times `trace_threshold` (a loop
//! that calls gets its trace first, with the calls inlined). Past that, an
//! interpreted `Call` with numeric arguments runs a *call
//! chunk*: `GetSlot 0 .. GetSlot argc-1; Call n argc; Return`, then the
//! original ops (shifted), compiled by the block tier for the arguments'
//! kinds (the arguments are its slots). Native code either reaches the
//! `Return` with the callee's result, which the interpreter pushes in place
//! of the arguments, or stops before the `Call` (out of frames or native
//! stack): subroutines touch nothing outside their frame, so the
//! interpreter then makes the call itself and reports what it reports. A
//! subroutine the block tier refuses (it prints, touches globals) stays
//! interpreted. Not while recording a trace (the recorder inlines calls)
//! or counting steps (native code would charge the call twice).

use super::block::BlockCode;
use super::kinds::{TAG_OPAQUE, tag_of, value_of};
use crate::bytecode::chunk::{Chunk, ChunkBuilder};
use crate::bytecode::op::Op;
use crate::interp::vm::VM;
use rustc_hash::FxHashMap;
use std::sync::Arc;

/// A VM's hot-call state: calls per subroutine entry, and the code (or the
/// refusal) for each (callee, argument count, argument kinds).
#[derive(Default)]
pub struct HotCalls {
    /// Calls per subroutine entry ([`NEVER`]: the block tier refused it).
    counts: FxHashMap<usize, u32>,
    /// By (callee, argument count, argument kinds packed a byte each).
    code: FxHashMap<(u16, u8, u64), CallCode>,
}

/// Calls that count like one back-edge: a loop calling a function a few
/// times per iteration gets its trace (which inlines the calls) before the
/// function gets a call chunk of its own.
const CALLS_PER_BACK_EDGE: u32 = 4;

/// The call count of a subroutine the block tier refused.
const NEVER: u32 = u32::MAX;

/// Arguments (kinds packed into a `u64`) a call chunk takes.
const MAX_ARGS: usize = 8;

/// A call chunk's code, and the fewest frames it was entered with and ran
/// out of frames or native stack (it is not tried again at that depth or
/// deeper: runaway recursion would otherwise rerun natively at every level).
#[derive(Clone)]
struct CallCode {
    code: Arc<BlockCode>,
    unwound_at: usize,
}

/// The call chunk of `Call n argc` in `orig`.
fn call_chunk(orig: &Chunk, n: u16, argc: u8) -> Chunk {
    let mut b = ChunkBuilder::new();
    for a in 0..argc as u16 {
        b.emit(Op::GetSlot(a), 0);
    }
    b.emit(Op::Call(n, argc), 0);
    b.emit(Op::Return, 0);
    super::trace::synth::append_original(&mut b, orig, argc as usize + 2);
    b.build()
}

impl VM {
    /// Runs `Call n argc` natively if its subroutine is hot and compiles:
    /// the arguments are replaced by the result and `true` is returned;
    /// `false` leaves everything as it was for the interpreter.
    pub(crate) fn hot_call(&mut self, hc: &mut HotCalls, n: u16, argc: u8) -> bool {
        if self.recording || self.fuel.is_some() {
            return false;
        }
        self.run_hot_call(hc, n, argc)
    }

    fn run_hot_call(&mut self, hc: &mut HotCalls, n: u16, argc: u8) -> bool {
        let Some(entry) = self.chunk().sealed_sub_entry(n) else {
            return false;
        };
        let count = hc.counts.entry(entry).or_default();
        let threshold = super::config::current().trace_threshold;
        if *count == NEVER || threshold == u32::MAX {
            return false;
        }
        let threshold = threshold.saturating_mul(CALLS_PER_BACK_EDGE);
        *count = (*count + 1).min(NEVER - 1);
        if *count < threshold {
            return false;
        }
        let k = self.stack.len();
        let Some(base) = k.checked_sub(argc as usize) else {
            return false;
        };
        let args = &self.stack[base..];
        if args.len() > MAX_ARGS || args.iter().any(|v| tag_of(v) == TAG_OPAQUE) {
            return false;
        }
        let kinds = args.iter().fold(0u64, |acc, v| acc << 8 | tag_of(v) as u64);
        let compiled = match hc.code.entry((n, argc, kinds)) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                let tags: Vec<u8> = args.iter().map(tag_of).collect();
                let orig = self.chunk();
                let cc = call_chunk(orig, n, argc);
                match super::compiler::compile_call_chunk(orig.sealed_hash(), &cc, &tags) {
                    Ok(code) => v.insert(CallCode {
                        code,
                        unwound_at: usize::MAX,
                    }),
                    Err(_) => {
                        // What the block tier refuses (printing, globals)
                        // does not depend on the kinds: stop counting.
                        hc.counts.insert(entry, NEVER);
                        return false;
                    }
                }
            }
        };
        let depth = self.frames.len();
        if depth >= compiled.unwound_at {
            return false;
        }
        let code = Arc::clone(&compiled.code);
        let mut args = self.stack[base..].to_vec();
        let limits = self.limits();
        let frames_left = limits.max_frames.saturating_sub(depth);
        let Some(exit) = code.run(&mut args, &mut [], base, frames_left, &limits, None) else {
            return false;
        };
        if exit.ip != argc as usize + 1 {
            // Stopped before the call: the interpreter makes it.
            compiled.unwound_at = depth;
            return false;
        }
        self.stack.truncate(base);
        if exit.depth == 1 {
            let v = value_of(exit.stack[0], exit.stack[1]).unwrap_or_default();
            self.stack.push(v);
        }
        super::trace::stats()
            .native_calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        true
    }
}
