//! The block tier: a whole chunk (and every subroutine it calls) compiled to
//! native code, entered at op 0, left at the end of the chunk or wherever
//! native code can't go on, with the interpreter's exact state.
//!
//! [`analysis`] decides what the chunk needs and what kinds flow where;
//! [`lower`] turns that into LLVM IR; [`exits`] keeps what running it needs
//! of the analysis; this file compiles it, enters it and materialises its
//! exit state into a VM.

pub mod analysis;
pub mod exits;
pub mod lower;

use super::entry;
use super::kinds::*;
use super::persist;
use crate::bytecode::chunk::Chunk;
use crate::bytecode::op::Op;
use crate::bytecode::value::Value;
use crate::interp::vm::{Frame, FrameKind, Limits, MAX_STACK, VM};
use exits::ExitMap;
use fusevm_llvm_backend::{CompileTimings, Compiled, DumpOptions, Jit};

/// A compiled chunk for one set of entry kinds (slots and globals).
pub struct BlockCode {
    /// Declared before `symbol`: the code is freed before its entry symbol
    /// may be reused.
    compiled: Compiled,
    /// Reserved while the code lives (released on drop).
    _symbol: persist::Symbol,
    /// Linked from a cache record rather than compiled.
    loaded: bool,
    /// A trace's cache record (what an export with code carries).
    record: Option<Vec<u8>>,
    /// Its frame sizes and the scopes open at each exit.
    exits: ExitMap,
    entry_tags: Vec<u8>,
    global_tags: Vec<u8>,
    /// Boxes the root uses (boxed plans: the chunk's helpers read its ops).
    layout: lower::BoxLayout,
    chunk: Option<std::sync::Arc<Chunk>>,
    /// Whether anything can be boxed (boxed plans, or boxed entry values).
    needs_boxes: bool,
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
    /// The values native code kept boxed; an `OPAQUE` word's bits index it.
    pub boxes: Vec<Value>,
    /// Steps left of the budget it was given.
    pub fuel_left: u64,
    /// Whether it stopped because the budget ran out at a backward jump
    /// (`ip` is that jump, already taken).
    pub out_of_fuel: bool,
}

impl Exit {
    /// The value of the `(tag, bits)` pair at `words[2 * k]`, taking a boxed
    /// one out of its box (each box belongs to one position).
    pub fn take(&mut self, which: Words, k: usize) -> Value {
        let w = match which {
            Words::Slots => &self.slots,
            Words::Stack => &self.stack,
            Words::Globals => &self.globals,
        };
        let (tag, bits) = (w[2 * k], w[2 * k + 1]);
        value_of(tag, bits).unwrap_or_else(|| {
            self.boxes
                .get_mut(bits as usize)
                .map(std::mem::take)
                .unwrap_or_default()
        })
    }
}

/// Which buffer of an [`Exit`].
#[derive(Debug, Clone, Copy)]
pub enum Words {
    /// The slot area.
    Slots,
    /// The operand stack.
    Stack,
    /// The globals.
    Globals,
}

/// `(tag, bits)` words for `values` as compiled for `tags` (which the caller
/// checked), padded to `len`; a boxed value is *moved* to box `bx(k)` (so
/// a container native code changes stays unshared: no copy on write) and
/// comes back when the exit is materialised.
fn words(
    tags: &[u8],
    values: &mut [Value],
    len: usize,
    boxes: &mut [Value],
    bx: impl Fn(usize) -> usize,
) -> Vec<u64> {
    let mut w = vec![0u64; 2 * len];
    for (k, (t, v)) in tags.iter().zip(values).enumerate() {
        w[2 * k] = *t as u64;
        w[2 * k + 1] = if *t == TAG_OPAQUE {
            boxes[bx(k)] = std::mem::take(v);
            bx(k) as u64
        } else {
            bits_of(v)
        };
    }
    w
}

impl BlockCode {
    /// Links the code of `chunk` for slots of kinds `entry_tags` and
    /// globals of kinds `global_tags` (a trace chunk: with its `inlined`
    /// calls) from the persistent cache, or analyses, lowers and compiles
    /// it (`want`: [`persist::Want::StoredOnly`] gives `None` rather than
    /// compile). `owner` is the chunk the unit belongs to. A unit that may
    /// be stored is looked up before any analysis (its record carries its
    /// exit map); one that can't be is analysed first, so a refusal costs
    /// no lookup.
    #[allow(clippy::too_many_arguments)]
    pub fn compile(
        jit: &Jit,
        owner: u128,
        chunk: &Chunk,
        entry_tags: &[u8],
        global_tags: &[u8],
        (tier, inlined): (analysis::Tier, &analysis::Inlined),
        fuel: bool,
        dumps: DumpOptions,
        want: persist::Want,
    ) -> Result<Option<BlockCode>, String> {
        let unit = persist::UnitKey::new(persist::unit_bytes(
            chunk.sealed_hash(),
            (tier, inlined),
            fuel,
            entry_tags,
            global_tags,
        ));
        let stored = persist::is_stored(&unit);
        if want == persist::Want::StoredOnly && !stored {
            return Ok(None);
        }
        let kinds = |tags: &[u8]| tags.iter().map(|t| KindSet::of(*t)).collect::<Vec<_>>();
        let analyse = || {
            analysis::analyse(
                chunk,
                &kinds(entry_tags),
                &kinds(global_tags),
                tier,
                inlined,
            )
        };
        let mut plan = if stored { None } else { Some(analyse()?) };
        let wants_dumps = dumps.ir_before || dumps.ir_after || dumps.asm;
        let obtained = persist::obtain(jit, owner, unit, want, wants_dumps, |root| {
            let plan = match plan.take() {
                Some(p) => p,
                None => analyse()?,
            };
            let compiled = jit
                .compile(root, &[root], dumps, |ctx, module| {
                    let tags = lower::EntryTags {
                        slots: entry_tags,
                        globals: global_tags,
                        fuel,
                    };
                    lower::build(ctx, module, root, chunk, &plan, tags).map_err(|e| e.0)
                })
                .map_err(|e| e.to_string())?;
            Ok((compiled, ExitMap::of(&plan).encode()))
        })?;
        let Some(obtained) = obtained else {
            return Ok(None);
        };
        // One path for every unit (a compiled one's map was just encoded);
        // a record of an older writer (or a damaged map under a sound
        // checksum) costs an analysis, never a wrong exit.
        let exits = match ExitMap::decode(&obtained.meta, chunk.len()) {
            Some(m) => m,
            None => ExitMap::of(&analyse()?),
        };
        let layout = lower::BoxLayout {
            slots: exits.slot_count,
            depth: exits.max_depth,
            globals: global_tags.len(),
        };
        let chunk = exits.boxed.then(|| std::sync::Arc::new(chunk.clone()));
        let needs_boxes = chunk.is_some()
            || entry_tags.contains(&TAG_OPAQUE)
            || global_tags.contains(&TAG_OPAQUE);
        Ok(Some(BlockCode {
            needs_boxes,
            compiled: obtained.compiled,
            _symbol: obtained.symbol,
            loaded: obtained.loaded,
            record: (tier == analysis::Tier::Trace).then_some(obtained.record),
            exits,
            entry_tags: entry_tags.to_vec(),
            global_tags: global_tags.to_vec(),
            layout,
            chunk,
        }))
    }

    /// Whether this code was linked from a cache record (no LLVM ran).
    pub fn was_loaded(&self) -> bool {
        self.loaded
    }

    /// A trace's cache record: its object code and key.
    pub fn record(&self) -> Option<&[u8]> {
        self.record.as_deref()
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
        self.exits.slot_count
    }

    /// Runs native code from op 0 with the entry slots and globals (of the
    /// kinds compiled for: the caller checked), `entry_depth` values already
    /// on the operand stack, `frames_left` frames still allowed and the
    /// VM's `limits`, and `fuel` steps (code compiled to count them; `None`
    /// for code that doesn't). Boxed values (strings, containers) move out
    /// of `slot_values` and `global_values` into the exit's boxes: `Some`
    /// must be materialised.
    pub fn run(
        &self,
        slot_values: &mut [Value],
        global_values: &mut [Value],
        entry_depth: usize,
        frames_left: usize,
        limits: &Limits,
        fuel: Option<u64>,
    ) -> Option<Exit> {
        let max_depth = self.exits.max_depth;
        if entry_depth + max_depth > MAX_STACK {
            return None;
        }
        let l = self.layout;
        let mut boxes = if self.needs_boxes {
            vec![Value::Undef; l.count()]
        } else {
            Vec::new()
        };
        let mut slots = words(&self.entry_tags, slot_values, l.slots, &mut boxes, |p| p);
        let mut globals = words(
            &self.global_tags,
            global_values,
            l.globals,
            &mut boxes,
            |n| l.global(n),
        );
        let mut stack = vec![0u64; 2 * max_depth];
        let native_stack = limits.native_stack;
        // The interpreter's operand stack holds every live frame's values:
        // bound native frames so it could never outgrow MAX_STACK either.
        let by_stack = (MAX_STACK - entry_depth - max_depth) / (self.exits.sub_depth + 1);
        let frames = frames_left.min(by_stack).min(i64::MAX as usize) as i64;
        let marker = 0u8;
        let sp = std::ptr::addr_of!(marker) as usize;
        let mut info = [0i64; lower::info::COUNT as usize];
        info[lower::info::FRAMES_LEFT as usize] = frames;
        info[lower::info::FUEL as usize] = fuel.map_or(i64::MAX, |f| f.min(i64::MAX as u64) as i64);
        info[lower::info::STACK_FLOOR as usize] = sp.saturating_sub(native_stack) as i64;
        let addr = self.compiled.addresses()[0];
        let mut call = || entry::call_root(addr, &mut slots, &mut stack, &mut info, &mut globals);
        let ip = match &self.chunk {
            Some(chunk) => {
                let lent = super::helpers::Lent {
                    boxes,
                    chunk: std::sync::Arc::clone(chunk),
                    max_string_len: limits.max_string_len,
                    max_collection_len: limits.max_collection_len,
                    rows: Default::default(),
                };
                let (ip, back) = super::helpers::with_lent(lent, call);
                boxes = back.boxes;
                ip
            }
            None => call(),
        };
        for (k, field) in [lower::info::FAST_ENTRIES, lower::info::FAST_BAILS]
            .into_iter()
            .enumerate()
        {
            let n = info[field as usize].max(0) as u64;
            if n > 0 {
                super::helpers::FAST_COPIES[k].fetch_add(n, std::sync::atomic::Ordering::Relaxed);
            }
        }
        Some(Exit {
            boxes,
            fuel_left: info[lower::info::FUEL as usize].max(0) as u64,
            out_of_fuel: info[lower::info::FUEL_OUT as usize] != 0,
            ip: ip as usize,
            slots,
            stack,
            globals,
            len: info[lower::info::LEN as usize] as usize,
            depth: info[lower::info::DEPTH as usize] as usize,
        })
    }

    /// Scopes and inlined call frames open at `exit` (outermost first).
    pub fn scopes_at(&self, exit: &Exit) -> &[analysis::Scope] {
        self.exits.scopes_at(exit.ip)
    }

    /// Writes an exit's state into `vm`: native code was entered with
    /// `entry_depth` values on the operand stack, in a frame whose slots
    /// start at `slot_base`. (The caller sets the ip.)
    pub fn materialise(&self, exit: &mut Exit, vm: &mut VM, entry_depth: usize, slot_base: usize) {
        vm.slots.resize(slot_base + exit.len, Value::Undef);
        for p in 0..exit.len.min(exit.slots.len() / 2) {
            vm.slots[slot_base + p] = exit.take(Words::Slots, p);
        }
        vm.stack.truncate(entry_depth);
        for k in 0..exit.depth {
            let v = exit.take(Words::Stack, k);
            vm.stack.push(v);
        }
        for n in 0..exit.globals.len() / 2 {
            let v = exit.take(Words::Globals, n);
            if let Some(slot) = vm.globals.get_mut(n) {
                *slot = v;
            }
        }
        if vm.fuel.is_some() {
            vm.fuel = Some(exit.fuel_left);
        }
        if exit.out_of_fuel {
            // The interpreter reports it at the jump (see `execute_ops`).
            vm.raised = Some(crate::interp::exec::STEP_BUDGET_EXHAUSTED.into());
        }
        for sc in self.scopes_at(exit) {
            vm.frames.push(Frame {
                kind: match sc.call {
                    // An inlined call is a static `Call` (just before
                    // where it returns to): its callee's entry.
                    Some(return_ip) => FrameKind::Call {
                        return_ip,
                        entry_ip: match vm.chunk().ops().get(return_ip.wrapping_sub(1)) {
                            Some(Op::Call(n, _)) => vm.chunk().sealed_sub_entry(*n).unwrap_or(0),
                            _ => 0,
                        },
                    },
                    None => FrameKind::Scope,
                },
                stack_base: entry_depth + sc.stack_depth,
                slot_base: slot_base + sc.slot_base,
                slots: Vec::new(),
            });
        }
    }
}
