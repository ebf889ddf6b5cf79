//! What each native tier supports, op by op: the one table to read when a
//! chunk is refused.
//!
//! The block tier compiles a chunk only when every reachable op is
//! [`Support::Native`] (or, in the chunk's top-level code, an op that ends
//! native execution there, [`Support::ExitAtTop`]: native code stops before
//! it and the interpreter carries on). Everything else keeps the chunk in
//! the interpreter, with the op named in the reason.

use crate::bytecode::op::Op;
use crate::bytecode::value::Value;

/// How the block tier handles an op.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Lowered to native code.
    Native,
    /// In top-level code, native execution ends *before* this op and the
    /// interpreter runs it (a top-level return, which ends the run; an
    /// unmatched `PopFrame`, which is an error). Not supported in subroutines.
    ExitAtTop,
    /// No native lowering.
    No,
}

/// The block tier's support for `op`; `consts` is the chunk's constant pool
/// (only numeric constants are native).
pub fn block(op: &Op, consts: &[Value]) -> Support {
    use Op::*;
    match op {
        LoadConst(c) => match consts.get(*c as usize) {
            Some(Value::Int(_) | Value::Float(_) | Value::Bool(_) | Value::Undef) => {
                Support::Native
            }
            _ => Support::No,
        },
        Return | ReturnValue | PopFrame => Support::ExitAtTop,
        Nop
        | MapBlock(_)
        | GrepBlock(_)
        | SortBlock(_)
        | SortDefault
        | ForEachBlock(_)
        | LoadInt(_)
        | LoadFloat(_)
        | LoadTrue
        | LoadFalse
        | LoadUndef
        | Pop
        | Dup
        | Dup2
        | Swap
        | Rot
        | GetSlot(_)
        | SetSlot(_)
        | GetVar(_)
        | SetVar(_)
        | DeclareVar(_)
        | Add
        | Sub
        | Mul
        | Div
        | Mod
        | Pow
        | Negate
        | Inc
        | Dec
        | NumEq
        | NumNe
        | NumLt
        | NumGt
        | NumLe
        | NumGe
        | Spaceship
        | LogNot
        | LogAnd
        | LogOr
        | BitAnd
        | BitOr
        | BitXor
        | BitNot
        | Shl
        | Shr
        | Jump(_)
        | JumpIfTrue(_)
        | JumpIfFalse(_)
        | JumpIfTrueKeep(_)
        | JumpIfFalseKeep(_)
        | Call(..)
        | PushFrame
        | PreIncSlot(_)
        | PreIncSlotVoid(_)
        | PreDecSlot(_)
        | PostIncSlot(_)
        | PostDecSlot(_)
        | AddAssignSlotVoid(..)
        | SlotLtIntJumpIfFalse(..)
        | SlotIncLtIntJumpBack(..)
        | AccumSumLoop(..)
        | MulModFloor
        | MulAddModFloor
        | SqrtFloat
        | SinFloat
        | CosFloat
        | TanFloat
        | AsinFloat
        | AcosFloat
        | AtanFloat
        | SinhFloat
        | CoshFloat
        | TanhFloat
        | ExpFloat
        | LogFloat
        | Log2Float
        | Log10Float
        | AbsFloat
        | FloorFloat
        | CeilFloat
        | TruncFloat
        | RoundFloat
        | PowFloat
        | Atan2Float
        | AbsInt
        | GcdInt
        | LcmInt
        | TruncInt => Support::Native,
        _ => Support::No,
    }
}

/// Support in top-level code that keeps values native code can't hold in
/// registers in *boxes* (strings, containers): the block tier's table, plus
/// any constant, string ops, container ops on globals and on slots, and
/// the ops that make containers (`MakeArray`/`MakeHash` of at most four
/// values), through runtime helpers, plus every numeric op when an operand
/// is boxed. The block tier uses it for a chunk's top-level code when that
/// code has such ops; subroutines keep the block tier's table (they have no
/// boxes).
pub fn boxed(op: &Op, consts: &[Value]) -> Support {
    use Op::*;
    match op {
        LoadConst(_) | Concat | StringRepeat | StringLen | StrEq | StrNe | StrLt | StrGt
        | StrLe | StrGe | StrCmp | GetArray(_) | GetHash(_) | SetArray(_) | SetHash(_)
        | DeclareArray(_) | DeclareHash(_) | ArrayGet(_) | ArraySet(_) | ArrayPush(_)
        | ArrayPop(_) | ArrayShift(_) | ArrayLen(_) | SlotArrayGet(_) | SlotArraySet(_)
        | HashGet(_) | HashSet(_) | HashExists(_) | HashDelete(_) | Range | RangeStep => {
            Support::Native
        }
        MakeArray(k) | MakeHash(k) if *k <= 4 => Support::Native,
        _ => block(op, consts),
    }
}

/// The tracing tier's support in a trace's top-level code: [`boxed`], plus
/// printing (a trace runs in top-level code of its own, where output can't
/// be repeated by an unwinding call; the text goes straight to the VM's
/// output). Subroutines keep the block tier's table.
pub fn trace(op: &Op, consts: &[Value]) -> Support {
    match op {
        Op::Print(_) | Op::PrintLn(_) => Support::Native,
        _ => boxed(op, consts),
    }
}

/// Whether the block tier boxes the top-level code of `chunk`: some op
/// there is outside its own table but in [`boxed`]'s (a string, a
/// container).
pub fn block_boxes(chunk: &crate::bytecode::chunk::Chunk) -> bool {
    let consts = chunk.constants();
    chunk
        .ops()
        .iter()
        .any(|op| block(op, consts) == Support::No && boxed(op, consts) == Support::Native)
}

/// Whether `op` is pure (pops its operands, pushes one value, touches
/// nothing else): exactly the ops `semantics::apply` computes, so a tier can
/// hand such an op to the value helper when an operand is boxed.
pub fn applies(op: &Op) -> bool {
    matches!(op, Op::LoadConst(_)) || crate::interp::semantics::apply(op, &[], &[], 0).is_some()
}

/// Values an op pops and pushes on the operand stack (for the ops the block
/// tier lowers; calls and returns are handled by the analysis itself).
#[inline]
pub fn stack_effect(op: &Op) -> (usize, usize) {
    use Op::*;
    match op {
        LoadInt(_) | LoadFloat(_) | LoadConst(_) | LoadTrue | LoadFalse | LoadUndef
        | GetSlot(_) | GetVar(_) | PreIncSlot(_) | PreDecSlot(_) | PostIncSlot(_)
        | PostDecSlot(_) | GetArray(_) | GetHash(_) | ArrayLen(_) | ArrayPop(_) | ArrayShift(_) => {
            (0, 1)
        }
        Pop | SetSlot(_) | SetVar(_) | DeclareVar(_) | JumpIfTrue(_) | JumpIfFalse(_)
        | ArrayPush(_) | SetArray(_) | SetHash(_) => (1, 0),
        ArraySet(_) | HashSet(_) | SlotArraySet(_) => (2, 0),
        ArrayGet(_) | HashGet(_) | HashExists(_) | HashDelete(_) | SlotArrayGet(_) => (1, 1),
        MakeArray(k) | MakeHash(k) => (*k as usize, 1),
        Range => (2, 1),
        RangeStep => (3, 1),
        Dup => (1, 2),
        Dup2 => (2, 4),
        Swap => (2, 2),
        Rot => (3, 3),
        Add | Sub | Mul | Div | Mod | Pow | NumEq | NumNe | NumLt | NumGt | NumLe | NumGe
        | Spaceship | LogAnd | LogOr | BitAnd | BitOr | BitXor | Shl | Shr | PowFloat
        | Atan2Float | GcdInt | LcmInt | Concat | StringRepeat | StrEq | StrNe | StrLt | StrGt
        | StrLe | StrGe | StrCmp => (2, 1),
        MulModFloor => (3, 1),
        Print(k) | PrintLn(k) => (*k as usize, 0),
        MulAddModFloor => (4, 1),
        Negate | Inc | Dec | LogNot | BitNot | SqrtFloat | SinFloat | CosFloat | TanFloat
        | AsinFloat | AcosFloat | AtanFloat | SinhFloat | CoshFloat | TanhFloat | ExpFloat
        | LogFloat | Log2Float | Log10Float | AbsFloat | FloorFloat | CeilFloat | TruncFloat
        | RoundFloat | AbsInt | TruncInt | StringLen | JumpIfTrueKeep(_) | JumpIfFalseKeep(_) => {
            (1, 1)
        }
        _ => (0, 0),
    }
}

/// Whether `op` makes a container from its operands (`containers::build`):
/// pushed, or stored into a global.
pub fn makes_container(op: &Op) -> bool {
    use Op::*;
    matches!(
        op,
        MakeArray(_)
            | MakeHash(_)
            | Range
            | RangeStep
            | DeclareArray(_)
            | DeclareHash(_)
            | SetArray(_)
            | SetHash(_)
    )
}
