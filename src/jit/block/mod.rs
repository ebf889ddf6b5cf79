//! The block tier: a whole chunk (and every subroutine it calls) compiled to
//! native code, entered at op 0, left at the end of the chunk or wherever
//! native code can't go on, with the interpreter's exact state.
//!
//! [`analysis`] decides what the chunk needs and what kinds flow where;
//! [`lower`] turns that into LLVM IR; this file compiles it, enters it and
//! materialises its exit state into a VM.

pub mod analysis;
pub mod lower;

use super::entry;
use super::kinds::*;
use crate::bytecode::chunk::Chunk;
use crate::interp::vm::{Frame, FrameKind, MAX_STACK, VM};
use analysis::Plan;
use fusevm_llvm_backend::{CompileTimings, Compiled, DumpOptions, Jit};
use std::sync::atomic::{AtomicU64, Ordering};

static UNITS: AtomicU64 = AtomicU64::new(0);

/// A compiled chunk for one set of entry kinds (slots and globals).
pub struct BlockCode {
    compiled: Compiled,
    plan: Plan,
    entry_tags: Vec<u8>,
    global_tags: Vec<u8>,
    /// Deepest operand stack of any subroutine (bounds the frame budget).
    sub_depth: usize,
}

/// Where native code stopped.
pub struct Exit {
    /// Resume the interpreter here (the chunk's length: the end).
    pub ip: usize,
    /// Slot area: `(tag, bits)` pairs, `slot_count` of them.
    pub slots: Vec<u64>,
    /// Operand stack: `(tag, bits)` pairs.
    pub stack: Vec<u64>,
    /// Globals: `(tag, bits)` pairs.
    pub globals: Vec<u64>,
    /// Length of the slot area.
    pub len: usize,
    /// Values on the operand stack.
    pub depth: usize,
}

/// `(tag, bits)` words for `tags` and `bits`.
fn words(tags: &[u8], bits: &[u64], len: usize) -> Vec<u64> {
    let mut w = vec![0u64; 2 * len];
    for (p, (t, b)) in tags.iter().zip(bits).enumerate() {
        w[2 * p] = *t as u64;
        w[2 * p + 1] = *b;
    }
    w
}

impl BlockCode {
    /// Analyses, lowers and compiles `chunk` for slots of kinds
    /// `entry_tags` and globals of kinds `global_tags`.
    pub fn compile(
        jit: &Jit,
        chunk: &Chunk,
        entry_tags: &[u8],
        global_tags: &[u8],
        tier: analysis::Tier,
        dumps: DumpOptions,
    ) -> Result<BlockCode, String> {
        let kinds = |tags: &[u8]| tags.iter().map(|t| KindSet::of(*t)).collect::<Vec<_>>();
        let plan = analysis::analyse(chunk, &kinds(entry_tags), &kinds(global_tags), tier)?;
        // Symbols share one JITDylib: every unit needs its own root name.
        let root = format!("block_{}", UNITS.fetch_add(1, Ordering::Relaxed));
        let compiled = jit
            .compile(&root, &[&root], dumps, |ctx, module| {
                let tags = lower::EntryTags {
                    slots: entry_tags,
                    globals: global_tags,
                };
                lower::build(ctx, module, &root, chunk, &plan, tags).map_err(|e| e.0)
            })
            .map_err(|e| e.to_string())?;
        let sub_depth = plan
            .functions
            .iter()
            .skip(1)
            .map(|f| f.max_depth)
            .max()
            .unwrap_or(0);
        Ok(BlockCode {
            compiled,
            plan,
            entry_tags: entry_tags.to_vec(),
            global_tags: global_tags.to_vec(),
            sub_depth,
        })
    }

    /// Where compile time went.
    pub fn timings(&self) -> CompileTimings {
        self.compiled.timings
    }

    /// The compiled unit (for its dumps).
    pub fn compiled(&self) -> &Compiled {
        &self.compiled
    }

    /// Physical slots native code works on.
    pub fn slot_count(&self) -> usize {
        self.plan.functions[0].slot_count
    }

    /// Runs native code from op 0 with the bits of the entry slots and
    /// globals (kinds as compiled for), `entry_depth` values already on the
    /// operand stack, `frames_left` frames still allowed and `native_stack`
    /// bytes of native stack for subroutine calls.
    pub fn run(
        &self,
        slot_bits: &[u64],
        global_bits: &[u64],
        entry_depth: usize,
        frames_left: usize,
        native_stack: usize,
    ) -> Option<Exit> {
        let root = &self.plan.functions[0];
        if entry_depth + root.max_depth > MAX_STACK {
            return None;
        }
        let mut slots = words(&self.entry_tags, slot_bits, root.slot_count);
        let mut globals = words(&self.global_tags, global_bits, self.global_tags.len());
        let mut stack = vec![0u64; 2 * root.max_depth];
        // The interpreter's operand stack holds every live frame's values:
        // bound native frames so it could never outgrow MAX_STACK either.
        let by_stack = (MAX_STACK - entry_depth - root.max_depth) / (self.sub_depth + 1);
        let frames = frames_left.min(by_stack).min(i64::MAX as usize) as i64;
        let marker = 0u8;
        let sp = std::ptr::addr_of!(marker) as usize;
        let mut info = [0i64; lower::info::COUNT as usize];
        info[lower::info::FRAMES_LEFT as usize] = frames;
        info[lower::info::STACK_FLOOR as usize] = sp.saturating_sub(native_stack) as i64;
        let addr = self.compiled.addresses()[0];
        let ip = entry::call_root(addr, &mut slots, &mut stack, &mut info, &mut globals);
        Some(Exit {
            ip: ip as usize,
            slots,
            stack,
            globals,
            len: info[lower::info::LEN as usize] as usize,
            depth: info[lower::info::DEPTH as usize] as usize,
        })
    }

    /// Scopes open at `exit` (outermost first).
    pub fn scopes_at(&self, exit: &Exit) -> &[analysis::Scope] {
        self.plan.functions[0].states[exit.ip]
            .as_ref()
            .map_or(&[], |s| s.scopes.as_slice())
    }

    /// Writes an exit's state into `vm`: native code was entered with
    /// `entry_depth` values on the operand stack, in a frame whose slots
    /// start at `slot_base`. (The caller sets the ip.)
    pub fn materialise(&self, exit: &Exit, vm: &mut VM, entry_depth: usize, slot_base: usize) {
        vm.slots.resize(slot_base + exit.len, crate::Value::Undef);
        for p in 0..exit.len.min(exit.slots.len() / 2) {
            if let Some(v) = value_of(exit.slots[2 * p], exit.slots[2 * p + 1]) {
                vm.slots[slot_base + p] = v;
            }
        }
        vm.stack.truncate(entry_depth);
        for k in 0..exit.depth {
            let v = value_of(exit.stack[2 * k], exit.stack[2 * k + 1]);
            vm.stack.push(v.unwrap_or(crate::Value::Undef));
        }
        for (n, g) in exit.globals.chunks(2).enumerate() {
            if let (Some(v), Some(slot)) = (value_of(g[0], g[1]), vm.globals.get_mut(n)) {
                *slot = v;
            }
        }
        for sc in self.scopes_at(exit) {
            vm.frames.push(Frame {
                kind: FrameKind::Scope,
                stack_base: entry_depth + sc.stack_depth,
                slot_base: slot_base + sc.slot_base,
            });
        }
    }
}
