//! The fusevm crate (crates.io, 0.26.x, feature `jit`) running our kernels:
//! a translation of our ops to its, and runners for its interpreter and its
//! JIT. Only with `--features peer-bench`.

use super::Kernel;
use fusevm_llvm::{Chunk, Op, Value};
use std::hint::black_box;
use std::sync::Arc;

/// Our `op` as fusevm's (the ops the kernels use; both sets descend from
/// the same design, so operands carry over as they are).
fn op(op: &Op) -> Result<fusevm::Op, String> {
    use fusevm::Op as F;
    Ok(match *op {
        Op::Nop => F::Nop,
        Op::LoadInt(v) => F::LoadInt(v),
        Op::LoadFloat(v) => F::LoadFloat(v),
        Op::LoadTrue => F::LoadTrue,
        Op::LoadFalse => F::LoadFalse,
        Op::Pop => F::Pop,
        Op::Dup => F::Dup,
        Op::Swap => F::Swap,
        Op::GetSlot(s) => F::GetSlot(s),
        Op::SetSlot(s) => F::SetSlot(s),
        Op::GetVar(n) => F::GetVar(n),
        Op::SetVar(n) => F::SetVar(n),
        Op::DeclareArray(n) => F::DeclareArray(n),
        Op::ArrayGet(n) => F::ArrayGet(n),
        Op::ArraySet(n) => F::ArraySet(n),
        Op::ArrayPush(n) => F::ArrayPush(n),
        Op::ArrayLen(n) => F::ArrayLen(n),
        Op::Add => F::Add,
        Op::Sub => F::Sub,
        Op::Mul => F::Mul,
        Op::Div => F::Div,
        Op::Mod => F::Mod,
        Op::Negate => F::Negate,
        Op::NumEq => F::NumEq,
        Op::NumLt => F::NumLt,
        Op::NumGt => F::NumGt,
        Op::NumLe => F::NumLe,
        Op::BitXor => F::BitXor,
        Op::Jump(t) => F::Jump(t),
        Op::JumpIfTrue(t) => F::JumpIfTrue(t),
        Op::JumpIfFalse(t) => F::JumpIfFalse(t),
        Op::Call(n, argc) => F::Call(n, argc),
        Op::Return => F::Return,
        Op::ReturnValue => F::ReturnValue,
        Op::PreIncSlotVoid(s) => F::PreIncSlotVoid(s),
        Op::AddAssignSlotVoid(a, b) => F::AddAssignSlotVoid(a, b),
        Op::SlotLtIntJumpIfFalse(s, lim, t) => F::SlotLtIntJumpIfFalse(s, lim, t),
        ref other => return Err(format!("no translation for `{other}`")),
    })
}

/// `chunk` as a fusevm chunk: same ops, constants, names and sub entries.
pub fn translate(chunk: &Chunk) -> Result<fusevm::Chunk, String> {
    let mut b = fusevm::ChunkBuilder::new();
    for c in chunk.constants() {
        let v = match c {
            Value::Int(i) => fusevm::value::Value::Int(*i),
            Value::Float(f) => fusevm::value::Value::Float(*f),
            other => return Err(format!("no translation for constant {other:?}")),
        };
        b.add_constant(v);
    }
    for n in chunk.names() {
        b.add_name(n);
    }
    for (ip, o) in chunk.ops().iter().enumerate() {
        b.emit(op(o)?, chunk.lines().get(ip).copied().unwrap_or(1));
    }
    for (name, entry) in chunk.sub_entries() {
        b.add_sub_entry(*name, *entry);
    }
    Ok(b.build())
}

fn ours(v: fusevm::value::Value) -> Value {
    match v {
        fusevm::value::Value::Int(i) => Value::Int(i),
        fusevm::value::Value::Float(f) => Value::Float(f),
        fusevm::value::Value::Bool(b) => Value::Bool(b),
        fusevm::value::Value::Undef => Value::Undef,
        other => Value::str(format!("{other:?}")),
    }
}

/// Runs `k` on fusevm's interpreter, or with its JIT enabled (a fresh VM
/// per run, like ours; its JIT caches compiled code per thread).
pub fn runner(chunk: &Arc<Chunk>, k: &'static Kernel, jit: bool) -> Result<super::Runner, String> {
    let theirs = translate(chunk)?;
    let touched = touched_slots(chunk) as u16;
    Ok(Box::new(move || {
        let mut vm = fusevm::VM::new(theirs.clone());
        if jit {
            vm.enable_tracing_jit();
        }
        // Every slot present and numeric, as its block JIT wants.
        for s in 0..touched {
            vm.set_slot(s, fusevm::value::Value::Int(0));
        }
        for (s, v) in k.params {
            vm.set_slot(*s, fusevm::value::Value::Int(black_box(*v)));
        }
        match vm.run() {
            fusevm::VMResult::Ok(v) => ours(v),
            fusevm::VMResult::Halted => Value::str("halted"),
            fusevm::VMResult::Error(e) => Value::str(format!("error: {e}")),
        }
    }))
}

/// Runs `k` through fusevm's block JIT on raw `i64` slots (compiled on the
/// first call), like our block tier's raw entry.
pub fn block_runner(chunk: &Arc<Chunk>, k: &'static Kernel) -> Result<super::Runner, String> {
    let theirs = translate(chunk)?;
    let jit = fusevm::JitCompiler::new();
    if !jit.is_block_eligible(&theirs) {
        return Err("not eligible for fusevm's block JIT".into());
    }
    // Its raw entry needs a slot for every slot the chunk touches.
    let mut slots = super::slots_of(k);
    slots.resize(slots.len().max(touched_slots(chunk)), 0);
    let run = move || {
        let mut s = black_box(slots.clone());
        let kinds = vec![fusevm::SlotKind::Int; s.len()];
        match jit.try_run_block_eager_typed_kinded(&theirs, &mut s, &kinds) {
            Some(fusevm::BlockNum::Int(i)) => Some(Value::Int(i)),
            Some(fusevm::BlockNum::Float(f)) => Some(Value::Float(f)),
            Some(fusevm::BlockNum::Bool(b)) => Some(Value::Bool(b)),
            _ => None,
        }
    };
    if run().is_none() {
        return Err("declined by fusevm's block JIT (no result from its raw entry)".into());
    }
    Ok(Box::new(move || run().unwrap_or(Value::Undef)))
}

/// Slots the chunk's ops name (one past the highest).
fn touched_slots(chunk: &Chunk) -> usize {
    chunk
        .ops()
        .iter()
        .filter_map(|o| match *o {
            Op::GetSlot(s) | Op::SetSlot(s) | Op::PreIncSlotVoid(s) => Some(s as usize + 1),
            _ => None,
        })
        .max()
        .unwrap_or(0)
}
