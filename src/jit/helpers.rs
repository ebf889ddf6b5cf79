//! Rust functions native code calls, registered with the JIT as absolute
//! symbols. Each forwards to `interp::semantics`, so a helper's result is
//! the interpreter's, bit for bit.

use super::kinds::value_of;
use crate::bytecode::value::Value;
use crate::interp::containers;
use crate::interp::semantics::{self as sem, Unary};
use fusevm_llvm_backend::Jit;
use fusevm_llvm_backend::inkwell::context::ContextRef;
use fusevm_llvm_backend::inkwell::types::FunctionType;
use std::cell::RefCell;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

mod hashes;
pub use hashes::{HASH_INSERT, HASH_VIEW};

/// `f64 pow(f64, f64)`
pub const POW: &str = "fusevm_pow";
/// `f64 atan2(f64, f64)`
pub const ATAN2: &str = "fusevm_atan2";
/// `f64 unary(i64 code, f64)`
pub const UNARY: &str = "fusevm_unary";
/// `i64 gcd(i64, i64)`
pub const GCD: &str = "fusevm_gcd";
/// `i64 lcm(i64, i64)`
pub const LCM: &str = "fusevm_lcm";
/// `i64 mul_mod_floor(i64, i64, i64)`
pub const MUL_MOD_FLOOR: &str = "fusevm_mul_mod_floor";
/// `i64 mul_add_mod_floor(i64, i64, i64, i64)`
pub const MUL_ADD_MOD_FLOOR: &str = "fusevm_mul_add_mod_floor";
/// `i64 print_value(i64 tag, i64 bits)`: writes a value's text.
pub const PRINT_VALUE: &str = "fusevm_print_value";
/// `i64 print_newline()`
pub const PRINT_NEWLINE: &str = "fusevm_print_newline";
/// `{i64 tag, i64 bits} value_op(i64 ip, i64 out_box, i64 kinds, i64
/// global_box, (i64 tag, i64 bits) × 4)`: the op at `ip` of the running
/// chunk applied to its operands (`semantics::apply`), or for a container
/// op, to the global in box `global_box` and its operands
/// (`containers::apply_to_global`); an `OPAQUE` result is left in box
/// `out_box`. The tag is [`FAILED`] when the op fails, its global is not a
/// container or its result's kind is not in the bit set `kinds`: native
/// code then exits before the op (nothing changed).
pub const VALUE_OP: &str = "fusevm_value_op";
/// `i64 box_move(i64 from, i64 to)`: box `to` gets a copy of box `from`.
pub const BOX_MOVE: &str = "fusevm_box_move";
/// `i64 box_truthy(i64 box)`: whether the boxed value is true.
pub const BOX_TRUTHY: &str = "fusevm_box_truthy";

/// `{i64 base, i64 meta} array_view(i64 box, i64 write)`: the array in box
/// `box` (made unique first when `write` is 1, so writing through the view
/// can't show through a copy; when `write` is 2, only if it already is,
/// else base 0): its element buffer's address and `len << 2 | strategy`;
/// base 0 if the box holds no array. See
/// `block::lower::arrays`.
pub const ARRAY_VIEW: &str = "fusevm_array_view";
/// `{i64 base, i64 room} array_grow(i64 box, i64 len)`: the unboxed array
/// in box `box`, `len` elements long as native code sees it, opened (zero
/// elements appended) so pushes can write in place up to `room` elements,
/// within the collection limit; base 0 when it can't be (the general
/// strategy, the limit reached).
pub const ARRAY_GROW: &str = "fusevm_array_grow";
/// `i64 array_sync((i64 box, i64 len) × 4)`: for each pair whose `len` is
/// not negative (a view that owes its array nothing passes -1), the array
/// in box `box` shortened to `len`, the elements native code pushed
/// (dropping room not written). One call hands several views' lengths
/// back, so native code that keeps many arrays open stays small at each
/// place it syncs.
pub const ARRAY_SYNC: &str = "fusevm_array_sync";

/// `{i64 base, i64 meta} element_into_box(i64 from, i64 tag, i64 bits,
/// i64 to)`: `ArrayGet` followed by `SetSlot` when the element is itself an
/// array (a row of an array of rows): element `(tag, bits)` (an unboxed
/// index) of the array in box `from` goes into box `to`, and the result is
/// that row's view as [`ARRAY_VIEW`] gives it (read-only: the row is now
/// shared). Base 0, with nothing changed, when the box holds no array, the
/// index is boxed or the element is not an array: native code then takes
/// the general path.
pub const ELEMENT_INTO_BOX: &str = "fusevm_element_into_box";

/// `{i64 table, i64 len} rows_view(i64 box)`: for the general array in box
/// `box` (an array of rows), a table of its `len` elements as `[base,
/// meta]` pairs, each what [`ARRAY_VIEW`] gives for that element read-only
/// (base 0 for an element that is no array); table 0 when the box holds
/// no general array, or its table was rebuilt too often in this call
/// ([`ROW_TABLE_BUILDS`]). The table stays valid until a helper changes
/// the array in that box: the value helper applying an op that changes a
/// container, or a move into that box (native code forgets its view of
/// the rows at both). See `block::lower::rows`.
pub const ROWS_VIEW: &str = "fusevm_rows_view";

/// How often one box's row table is built in one native call at most: a
/// loop that changes an array of rows and reads its rows by turns then
/// reads them through the value helper, not rebuilding the table (the
/// length of the array) every iteration.
pub const ROW_TABLE_BUILDS: u32 = 8;

/// Calls to [`VALUE_OP`] (for `JitStats`).
pub static VALUE_OP_CALLS: AtomicU64 = AtomicU64::new(0);
/// Calls to [`ARRAY_VIEW`] (for `JitStats`).
pub static ARRAY_VIEWS: AtomicU64 = AtomicU64::new(0);
/// Loops' fast copies entered, and left for the general copy (for
/// `JitStats`; counted by native code in its `info` buffer).
pub static FAST_COPIES: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];

/// How many elements [`ARRAY_GROW`] opens at a time at most.
const GROW_STEP: usize = 1024;

/// The tag [`VALUE_OP`] returns when native code must leave before the op.
pub const FAILED: u8 = 0xff;

/// What native code running on this thread may use besides its buffers:
/// the values it can't keep in registers (strings, containers: *boxes*, one
/// per slot, stack position and global, named by index), and the chunk it
/// runs (for the op a helper applies).
pub struct Lent {
    /// The boxes; a native value tagged `OPAQUE` holds its box's index.
    pub boxes: Vec<Value>,
    /// The running chunk.
    pub chunk: std::sync::Arc<crate::bytecode::chunk::Chunk>,
    /// `Limits::max_string_len` of the running VM.
    pub max_string_len: usize,
    /// `Limits::max_collection_len` of the running VM.
    pub max_collection_len: usize,
    /// Row tables ([`ROWS_VIEW`]) by box.
    pub rows: rustc_hash::FxHashMap<usize, RowTable>,
}

/// The rows of an array of rows as native code reads them (see
/// [`ROWS_VIEW`]).
#[derive(Default)]
pub struct RowTable {
    /// `[base, meta]` per element.
    entries: Vec<[i64; 2]>,
    /// Whether `entries` still describes the box's array.
    live: bool,
    /// Times built in this native call.
    builds: u32,
    /// Tables replaced in this call: kept until it ends, so no address
    /// native code was given is freed under it.
    retired: Vec<Vec<[i64; 2]>>,
}

/// Marks box `bx`'s row table stale (its array may have changed).
fn retire_rows(l: &mut Lent, bx: i64) {
    if let Some(t) = usize::try_from(bx).ok().and_then(|b| l.rows.get_mut(&b)) {
        t.live = false;
    }
}

thread_local! {
    /// The running code's boxes and chunk.
    static LENT: RefCell<Option<Lent>> = const { RefCell::new(None) };
    /// The running VM's output while native code runs on this thread.
    static OUTPUT: RefCell<Option<Box<dyn Write + Send>>> = const { RefCell::new(None) };
    /// The first write error native code met.
    static OUTPUT_ERROR: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Runs `f` (a call into native code) with `out` as the target of the
/// print helpers; returns `f`'s result and the first write error.
pub fn with_output<R>(
    out: &mut Box<dyn Write + Send>,
    f: impl FnOnce() -> R,
) -> (R, Option<String>) {
    let lent = std::mem::replace(out, Box::new(std::io::sink()));
    OUTPUT.with(|o| *o.borrow_mut() = Some(lent));
    let r = f();
    if let Some(back) = OUTPUT.with(|o| o.borrow_mut().take()) {
        *out = back;
    }
    (r, OUTPUT_ERROR.with(|e| e.borrow_mut().take()))
}

/// Runs `f` (a call into native code) with `lent` available to the value
/// helpers; gives `lent` back with `f`'s result.
pub fn with_lent<R>(lent: Lent, f: impl FnOnce() -> R) -> (R, Lent) {
    let previous = LENT.with(|l| l.borrow_mut().replace(lent));
    let r = f();
    let back = LENT.with(|l| std::mem::replace(&mut *l.borrow_mut(), previous));
    (r, back.expect("lent for the call"))
}

/// Runs `g` on the lent state (`None` outside a native call).
fn lent<R>(g: impl FnOnce(&mut Lent) -> R) -> Option<R> {
    LENT.with(|l| l.borrow_mut().as_mut().map(g))
}

/// The value a native `(tag, bits)` pair stands for, reading boxes for
/// `OPAQUE` ones.
#[inline(always)]
fn value_in(l: &Lent, tag: i64, bits: i64) -> Value {
    match value_of(tag as u64, bits as u64) {
        Some(v) => v,
        None => l.boxes.get(bits as usize).cloned().unwrap_or(Value::Undef),
    }
}

/// A native `(tag, bits)` pair.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Pair {
    tag: i64,
    bits: i64,
}

#[allow(clippy::too_many_arguments)]
extern "C" fn value_op(
    ip: i64,
    out_box: i64,
    kinds: i64,
    global_box: i64,
    t0: i64,
    b0: i64,
    t1: i64,
    b1: i64,
    t2: i64,
    b2: i64,
    t3: i64,
    b3: i64,
) -> Pair {
    let failed = Pair {
        tag: FAILED as i64,
        bits: 0,
    };
    VALUE_OP_CALLS.fetch_add(1, Relaxed);
    lent(|l| {
        let Some(op) = l.chunk.ops().get(ip as usize).copied() else {
            return failed;
        };
        let result = if let Some(r) = unboxed_container_op(l, &op, global_box, [(t0, b0), (t1, b1)])
        {
            r
        } else {
            general_op(l, &op, global_box, [(t0, b0), (t1, b1), (t2, b2), (t3, b3)])
        };
        if !l.rows.is_empty() && !reads_only(&op) {
            retire_rows(l, global_box);
            retire_rows(l, out_box);
        }
        let Some(v) = result else {
            return failed;
        };
        let tag = super::kinds::tag_of(&v);
        if kinds & (1 << tag) == 0 {
            return failed;
        }
        if tag == super::kinds::TAG_OPAQUE {
            match l.boxes.get_mut(out_box as usize) {
                Some(slot) => *slot = v,
                None => return failed,
            }
            return Pair {
                tag: tag as i64,
                bits: out_box,
            };
        }
        Pair {
            tag: tag as i64,
            bits: super::kinds::bits_of(&v) as i64,
        }
    })
    .unwrap_or(failed)
}

/// Whether the value helper applying `op` changes no container (native
/// code keeps its views across it: `block::lower::boxed::keeps_views`).
fn reads_only(op: &crate::bytecode::op::Op) -> bool {
    use crate::bytecode::op::Op;
    matches!(
        op,
        Op::ArrayGet(_)
            | Op::SlotArrayGet(_)
            | Op::ArrayLen(_)
            | Op::HashGet(_)
            | Op::HashExists(_)
    )
}

/// `ArrayGet`/`ArraySet` on an array, `HashGet`/`HashSet`/`HashExists` on
/// a hash, with operands that are not boxed (a loop over an array's
/// elements, a histogram): the same `containers` functions the interpreter
/// runs, without building the general operand list. `None` when the op or
/// its operands are not that case.
#[inline(always)]
fn unboxed_container_op(
    l: &mut Lent,
    op: &crate::bytecode::op::Op,
    global_box: i64,
    [(t0, b0), (t1, b1)]: [(i64, i64); 2],
) -> Option<Option<Value>> {
    use crate::bytecode::op::Op;
    let g = l.boxes.get_mut(usize::try_from(global_box).ok()?)?;
    if matches!(g, Value::Hash(_)) {
        let key = value_of(t0 as u64, b0 as u64)?;
        return match op {
            Op::HashGet(_) => Some(containers::hash_get(g, &key).ok()),
            Op::HashExists(_) => Some(
                containers::hash_get_opt(g, &key)
                    .ok()
                    .map(|v| Value::Bool(v.is_some())),
            ),
            Op::HashSet(_) => {
                let v = key;
                let key = value_of(t1 as u64, b1 as u64)?;
                let limit = l.max_collection_len;
                Some(
                    containers::hash_insert(g, &key, v, limit)
                        .ok()
                        .map(|()| Value::Undef),
                )
            }
            _ => None,
        };
    }
    if !matches!(g, Value::Array(_)) {
        return None;
    }
    match op {
        Op::ArrayGet(_) | Op::SlotArrayGet(_) => {
            let idx = value_of(t0 as u64, b0 as u64)?;
            Some(containers::element_of(g, &idx).ok())
        }
        Op::ArraySet(_) | Op::SlotArraySet(_) => {
            let v = value_of(t0 as u64, b0 as u64)?;
            let idx = value_of(t1 as u64, b1 as u64)?;
            let limit = l.max_collection_len;
            Some(
                containers::set_element(g, &idx, v, limit)
                    .ok()
                    .map(|()| Value::Undef),
            )
        }
        _ => None,
    }
}

/// Any op the value helper takes: its operands read from `pairs` (boxed
/// ones cloned out of their boxes), then `containers::apply_to_global` for
/// a container op on the global in box `global_box`, `semantics::apply`
/// otherwise. `None` when the op fails or its global is not a container.
fn general_op(
    l: &mut Lent,
    op: &crate::bytecode::op::Op,
    global_box: i64,
    pairs: [(i64, i64); 4],
) -> Option<Value> {
    let n = super::support::stack_effect(op).0.min(4);
    let mut args: [Value; 4] = Default::default();
    for (slot, &(t, b)) in args.iter_mut().zip(&pairs).take(n) {
        *slot = value_in(l, t, b);
    }
    let args = &args[..n];
    if super::support::makes_container(op) {
        return containers::build(op, args.to_vec(), l.max_collection_len).ok();
    }
    if global_box >= 0 {
        let limit = l.max_collection_len;
        match l.boxes.get_mut(global_box as usize) {
            Some(g @ (Value::Array(_) | Value::Hash(_))) => {
                match containers::apply_to_global(op, g, args, limit) {
                    Some(Ok(pushed)) => Some(pushed.unwrap_or_default()),
                    _ => None,
                }
            }
            _ => None,
        }
    } else {
        match sem::apply(op, args, l.chunk.constants(), l.max_string_len) {
            Some(r) => r.ok(),
            None => None,
        }
    }
}

/// The array a box holds, made unique for writing.
fn boxed_array(l: &mut Lent, bx: i64) -> Option<&mut crate::bytecode::value::Array> {
    match l.boxes.get_mut(usize::try_from(bx).ok()?)? {
        Value::Array(a) => Some(a.make_mut()),
        _ => None,
    }
}

extern "C" fn array_view(bx: i64, write: i64) -> Pair {
    ARRAY_VIEWS.fetch_add(1, Relaxed);
    lent(|l| {
        let raw = if write == 2 {
            match l.boxes.get_mut(usize::try_from(bx).ok()?)? {
                Value::Array(a) => a.get_mut()?.raw(),
                _ => return None,
            }
        } else if write != 0 {
            boxed_array(l, bx)?.raw()
        } else {
            match l.boxes.get(usize::try_from(bx).ok()?)? {
                Value::Array(a) => a.raw_shared(),
                _ => return None,
            }
        };
        Some(Pair {
            tag: raw.base as i64,
            bits: ((raw.len as i64) << 2) | raw.strategy as i64,
        })
    })
    .flatten()
    .unwrap_or(Pair { tag: 0, bits: 0 })
}

extern "C" fn element_into_box(from: i64, tag: i64, bits: i64, to: i64) -> Pair {
    lent(|l| {
        let idx = value_of(tag as u64, bits as u64)?;
        let array = l.boxes.get(usize::try_from(from).ok()?)?;
        let row = containers::element_at(array, &idx)?;
        let Value::Array(r) = row.as_ref() else {
            return None;
        };
        // The buffer lives in the row's shared allocation, which moving
        // the value into its box doesn't move.
        let raw = r.raw_shared();
        let row = row.into_owned();
        *l.boxes.get_mut(usize::try_from(to).ok()?)? = row;
        Some(Pair {
            tag: raw.base as i64,
            bits: ((raw.len as i64) << 2) | raw.strategy as i64,
        })
    })
    .flatten()
    .unwrap_or(Pair { tag: 0, bits: 0 })
}

extern "C" fn rows_view(bx: i64) -> Pair {
    ARRAY_VIEWS.fetch_add(1, Relaxed);
    lent(|l| {
        let b = usize::try_from(bx).ok()?;
        let Value::Array(a) = l.boxes.get(b)? else {
            return None;
        };
        if a.strategy() != crate::bytecode::value::Strategy::Any {
            return None;
        }
        let table = l.rows.entry(b).or_default();
        if !table.live {
            if table.builds >= ROW_TABLE_BUILDS {
                return None;
            }
            table.builds += 1;
            let entries = (a.elements())
                .map(|v| match v.as_ref() {
                    Value::Array(r) => {
                        let raw = r.raw_shared();
                        [
                            raw.base as i64,
                            ((raw.len as i64) << 2) | raw.strategy as i64,
                        ]
                    }
                    _ => [0, 0],
                })
                .collect();
            let old = std::mem::replace(&mut table.entries, entries);
            table.retired.push(old);
            table.live = true;
        }
        Some(Pair {
            tag: table.entries.as_ptr() as i64,
            bits: table.entries.len() as i64,
        })
    })
    .flatten()
    .unwrap_or(Pair { tag: 0, bits: 0 })
}

extern "C" fn array_grow(bx: i64, len: i64) -> Pair {
    let none = Pair { tag: 0, bits: 0 };
    lent(|l| {
        let limit = l.max_collection_len;
        let a = boxed_array(l, bx)?;
        let len = usize::try_from(len).ok()?;
        let room = len.saturating_add(GROW_STEP).min(limit);
        if room <= len || !a.open_room(room) {
            return None;
        }
        let raw = a.raw();
        Some(Pair {
            tag: raw.base as i64,
            bits: raw.len as i64,
        })
    })
    .flatten()
    .unwrap_or(none)
}

#[allow(clippy::too_many_arguments)]
extern "C" fn array_sync(
    b0: i64,
    l0: i64,
    b1: i64,
    l1: i64,
    b2: i64,
    l2: i64,
    b3: i64,
    l3: i64,
) -> i64 {
    lent(|l| {
        for (bx, len) in [(b0, l0), (b1, l1), (b2, l2), (b3, l3)] {
            // A negative length: nothing owed, the box is not touched.
            let Ok(len) = usize::try_from(len) else {
                continue;
            };
            if let Some(a) = boxed_array(l, bx) {
                a.truncate(len);
            }
        }
    });
    0
}

type ArraySync = extern "C" fn(i64, i64, i64, i64, i64, i64, i64, i64) -> i64;

extern "C" fn box_move(from: i64, to: i64) -> i64 {
    lent(|l| {
        retire_rows(l, to);
        let v = l.boxes.get(from as usize).cloned().unwrap_or(Value::Undef);
        if let Some(slot) = l.boxes.get_mut(to as usize) {
            *slot = v;
        }
    });
    0
}

extern "C" fn box_truthy(b: i64) -> i64 {
    lent(|l| l.boxes.get(b as usize).is_some_and(Value::is_truthy) as i64).unwrap_or(0)
}

fn write_out(text: &str) {
    OUTPUT.with(|o| {
        if let Some(w) = o.borrow_mut().as_mut()
            && let Err(e) = w.write_all(text.as_bytes())
        {
            OUTPUT_ERROR.with(|slot| {
                slot.borrow_mut()
                    .get_or_insert_with(|| format!("output error: {e}"));
            });
        }
    });
}

/// 1 once a write has failed (native code then leaves the trace).
fn failed() -> i64 {
    OUTPUT_ERROR.with(|e| e.borrow().is_some()) as i64
}

extern "C" fn print_value(tag: i64, bits: i64) -> i64 {
    let v = lent(|l| value_in(l, tag, bits))
        .unwrap_or_else(|| value_of(tag as u64, bits as u64).unwrap_or(Value::Undef));
    let mut text = String::new();
    v.write_str(&mut text);
    write_out(&text);
    failed()
}

extern "C" fn print_newline() -> i64 {
    write_out("\n");
    failed()
}

const UNARIES: [Unary; 19] = [
    Unary::Sqrt,
    Unary::Sin,
    Unary::Cos,
    Unary::Tan,
    Unary::Exp,
    Unary::Ln,
    Unary::Log2,
    Unary::Log10,
    Unary::Abs,
    Unary::Floor,
    Unary::Ceil,
    Unary::Trunc,
    Unary::Round,
    Unary::Asin,
    Unary::Acos,
    Unary::Atan,
    Unary::Sinh,
    Unary::Cosh,
    Unary::Tanh,
];

/// The code passed to [`UNARY`] for `op`.
pub fn unary_code(op: Unary) -> i64 {
    UNARIES
        .iter()
        .position(|u| *u == op)
        .expect("every Unary is listed") as i64
}

extern "C" fn pow(x: f64, y: f64) -> f64 {
    x.powf(y)
}

extern "C" fn atan2(x: f64, y: f64) -> f64 {
    x.atan2(y)
}

extern "C" fn unary(code: i64, x: f64) -> f64 {
    match UNARIES.get(code as usize) {
        Some(op) => sem::unary_f64(*op, x),
        None => f64::NAN,
    }
}

extern "C" fn gcd(x: i64, y: i64) -> i64 {
    sem::gcd_i64(x, y)
}

extern "C" fn lcm(x: i64, y: i64) -> i64 {
    sem::lcm_i64(x, y)
}

extern "C" fn mul_mod_floor(x: i64, y: i64, k: i64) -> i64 {
    sem::floor_rem_i128(x as i128 * y as i128, k)
}

extern "C" fn mul_add_mod_floor(x: i64, y: i64, z: i64, k: i64) -> i64 {
    sem::floor_rem_i128(x as i128 * y as i128 + z as i128, k)
}

type ValueOp = extern "C" fn(i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64) -> Pair;

/// Registers every helper with `jit`.
pub fn register(jit: &Jit) -> Result<(), fusevm_llvm_backend::Error> {
    let table: [(&str, usize); 19] = [
        (
            HASH_VIEW,
            hashes::hash_view as extern "C" fn(i64, i64) -> Pair as usize,
        ),
        (
            HASH_INSERT,
            hashes::hash_insert as extern "C" fn(i64, i64, i64, i64) -> i64 as usize,
        ),
        (ROWS_VIEW, rows_view as extern "C" fn(i64) -> Pair as usize),
        (VALUE_OP, value_op as ValueOp as usize),
        (ARRAY_SYNC, array_sync as ArraySync as usize),
        (
            ARRAY_VIEW,
            array_view as extern "C" fn(i64, i64) -> Pair as usize,
        ),
        (
            ARRAY_GROW,
            array_grow as extern "C" fn(i64, i64) -> Pair as usize,
        ),
        (
            ELEMENT_INTO_BOX,
            element_into_box as extern "C" fn(i64, i64, i64, i64) -> Pair as usize,
        ),
        (
            BOX_MOVE,
            box_move as extern "C" fn(i64, i64) -> i64 as usize,
        ),
        (BOX_TRUTHY, box_truthy as extern "C" fn(i64) -> i64 as usize),
        (
            PRINT_VALUE,
            print_value as extern "C" fn(i64, i64) -> i64 as usize,
        ),
        (
            PRINT_NEWLINE,
            print_newline as extern "C" fn() -> i64 as usize,
        ),
        (POW, pow as extern "C" fn(f64, f64) -> f64 as usize),
        (ATAN2, atan2 as extern "C" fn(f64, f64) -> f64 as usize),
        (UNARY, unary as extern "C" fn(i64, f64) -> f64 as usize),
        (GCD, gcd as extern "C" fn(i64, i64) -> i64 as usize),
        (LCM, lcm as extern "C" fn(i64, i64) -> i64 as usize),
        (
            MUL_MOD_FLOOR,
            mul_mod_floor as extern "C" fn(i64, i64, i64) -> i64 as usize,
        ),
        (
            MUL_ADD_MOD_FLOOR,
            mul_add_mod_floor as extern "C" fn(i64, i64, i64, i64) -> i64 as usize,
        ),
    ];
    for (name, addr) in table {
        jit.define_symbol(name, addr)?;
    }
    Ok(())
}

/// The LLVM type of helper `name`.
pub fn signature<'c>(name: &str, ctx: ContextRef<'c>) -> Option<FunctionType<'c>> {
    let (i, f) = (ctx.i64_type(), ctx.f64_type());
    Some(match name {
        POW | ATAN2 => f.fn_type(&[f.into(), f.into()], false),
        UNARY => f.fn_type(&[i.into(), f.into()], false),
        GCD | LCM => i.fn_type(&[i.into(), i.into()], false),
        MUL_MOD_FLOOR => i.fn_type(&[i.into(), i.into(), i.into()], false),
        MUL_ADD_MOD_FLOOR => i.fn_type(&[i.into(), i.into(), i.into(), i.into()], false),
        PRINT_VALUE => i.fn_type(&[i.into(), i.into()], false),
        PRINT_NEWLINE => i.fn_type(&[], false),
        VALUE_OP => ctx
            .struct_type(&[i.into(), i.into()], false)
            .fn_type(&[i.into(); 12], false),
        BOX_MOVE => i.fn_type(&[i.into(), i.into()], false),
        HASH_INSERT => i.fn_type(&[i.into(); 4], false),
        ARRAY_VIEW | ARRAY_GROW | HASH_VIEW => ctx
            .struct_type(&[i.into(), i.into()], false)
            .fn_type(&[i.into(), i.into()], false),
        ROWS_VIEW => ctx
            .struct_type(&[i.into(), i.into()], false)
            .fn_type(&[i.into()], false),
        ELEMENT_INTO_BOX => ctx
            .struct_type(&[i.into(), i.into()], false)
            .fn_type(&[i.into(); 4], false),
        BOX_TRUTHY => i.fn_type(&[i.into()], false),
        ARRAY_SYNC => i.fn_type(&[i.into(); 8], false),
        _ => return None,
    })
}
