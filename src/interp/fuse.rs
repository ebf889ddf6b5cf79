//! Superinstructions: a pre-pass that lets the interpreter execute common op
//! sequences in one dispatch.
//!
//! For each op index the pass may record a [`Fused`] instruction covering a
//! group of ops that starts there:
//!
//! ```text
//! GetSlot a                                operand a
//! GetSlot b | LoadInt k | LoadConst c      operand b
//! Add | Sub | Mul | … | NumLt | …          a binary op
//! SetSlot d | JumpIfFalse t | JumpIfTrue t | (nothing: push)
//! ```
//!
//! and a `Jump` whose target starts a compare-and-branch group is threaded:
//! it evaluates the group in place (loop inversion), saving a dispatch per
//! loop iteration.
//!
//! The array is parallel to the ops and indexed by the original ip, so jump
//! targets, error positions and every other ip keep their meaning. A group
//! never spans a jump target (control can't land inside it), and its result
//! is computed with the same [`super::semantics`] functions as the single
//! ops, so executing a group is exactly executing its ops in order. None of
//! the grouped ops can fail, except growing the slot area, which the fused
//! path leaves to the single-op path.

use super::semantics::{self as sem, Bits, Cmp};
use crate::bytecode::op::Op;
use crate::bytecode::value::Value;

/// The second operand of a fused group (the first is always a slot).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Rhs {
    Slot(u16),
    Int(i32),
    Const(u16),
}

/// A binary op a group may end in (one flat enum: one jump table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bin {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
    And,
    Or,
    Xor,
    Shl,
    Shr,
}

impl Bin {
    fn of(op: &Op) -> Option<Bin> {
        Some(match op {
            Op::Add => Bin::Add,
            Op::Sub => Bin::Sub,
            Op::Mul => Bin::Mul,
            Op::Div => Bin::Div,
            Op::Mod => Bin::Mod,
            Op::NumEq => Bin::Eq,
            Op::NumNe => Bin::Ne,
            Op::NumLt => Bin::Lt,
            Op::NumGt => Bin::Gt,
            Op::NumLe => Bin::Le,
            Op::NumGe => Bin::Ge,
            Op::BitAnd => Bin::And,
            Op::BitOr => Bin::Or,
            Op::BitXor => Bin::Xor,
            Op::Shl => Bin::Shl,
            Op::Shr => Bin::Shr,
            _ => return None,
        })
    }

    /// The op's value, by the single-op semantics.
    #[inline(always)]
    pub(crate) fn apply(self, a: &Value, b: &Value) -> Value {
        match self {
            Bin::Add => sem::add(a, b),
            Bin::Sub => sem::sub(a, b),
            Bin::Mul => sem::mul(a, b),
            Bin::Div => sem::div(a, b),
            Bin::Mod => sem::modulo(a, b),
            Bin::Eq => Value::Bool(sem::compare(Cmp::Eq, a, b)),
            Bin::Ne => Value::Bool(sem::compare(Cmp::Ne, a, b)),
            Bin::Lt => Value::Bool(sem::compare(Cmp::Lt, a, b)),
            Bin::Gt => Value::Bool(sem::compare(Cmp::Gt, a, b)),
            Bin::Le => Value::Bool(sem::compare(Cmp::Le, a, b)),
            Bin::Ge => Value::Bool(sem::compare(Cmp::Ge, a, b)),
            Bin::And => sem::bits(Bits::And, a, b),
            Bin::Or => sem::bits(Bits::Or, a, b),
            Bin::Xor => sem::bits(Bits::Xor, a, b),
            Bin::Shl => sem::bits(Bits::Shl, a, b),
            Bin::Shr => sem::bits(Bits::Shr, a, b),
        }
    }

    /// The op's truthiness, without building a `Value` for comparisons.
    #[inline(always)]
    pub(crate) fn test(self, a: &Value, b: &Value) -> bool {
        match self {
            Bin::Eq => sem::compare(Cmp::Eq, a, b),
            Bin::Ne => sem::compare(Cmp::Ne, a, b),
            Bin::Lt => sem::compare(Cmp::Lt, a, b),
            Bin::Gt => sem::compare(Cmp::Gt, a, b),
            Bin::Le => sem::compare(Cmp::Le, a, b),
            Bin::Ge => sem::compare(Cmp::Ge, a, b),
            other => other.apply(a, b).is_truthy(),
        }
    }
}

/// A branch at the end of a group: go to `target` when the result's
/// truthiness equals `when`, else to `fallthrough`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Branch {
    pub when: bool,
    pub target: u32,
    pub fallthrough: u32,
}

/// A fused instruction starting at some ip. The first operand is always slot
/// `a`; the name says where the second comes from (`Slot`, `Int` immediate,
/// `Const` pool entry) and what happens to the result (`Push` it: 3 ops;
/// `Store` it in slot `d`: 4 ops; `Branch` on it: 4 ops, or 1 for a
/// threaded `Jump`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Fused {
    /// No group starts here: run the single op.
    None,
    SlotPush {
        a: u16,
        b: u16,
        op: Bin,
    },
    SlotStore {
        a: u16,
        b: u16,
        op: Bin,
        d: u16,
    },
    SlotBranch {
        a: u16,
        b: u16,
        op: Bin,
        br: Branch,
    },
    IntPush {
        a: u16,
        k: i32,
        op: Bin,
    },
    IntStore {
        a: u16,
        k: i32,
        op: Bin,
        d: u16,
    },
    IntBranch {
        a: u16,
        k: i32,
        op: Bin,
        br: Branch,
    },
    ConstPush {
        a: u16,
        c: u16,
        op: Bin,
    },
    ConstStore {
        a: u16,
        c: u16,
        op: Bin,
        d: u16,
    },
    ConstBranch {
        a: u16,
        c: u16,
        op: Bin,
        br: Branch,
    },
}

/// What a group does with its result.
enum Then {
    Push,
    Store(u16),
    Branch(Branch),
}

fn make(a: u16, rhs: Rhs, op: Bin, then: Then) -> Fused {
    match (rhs, then) {
        (Rhs::Slot(b), Then::Push) => Fused::SlotPush { a, b, op },
        (Rhs::Slot(b), Then::Store(d)) => Fused::SlotStore { a, b, op, d },
        (Rhs::Slot(b), Then::Branch(br)) => Fused::SlotBranch { a, b, op, br },
        (Rhs::Int(k), Then::Push) => Fused::IntPush { a, k, op },
        (Rhs::Int(k), Then::Store(d)) => Fused::IntStore { a, k, op, d },
        (Rhs::Int(k), Then::Branch(br)) => Fused::IntBranch { a, k, op, br },
        (Rhs::Const(c), Then::Push) => Fused::ConstPush { a, c, op },
        (Rhs::Const(c), Then::Store(d)) => Fused::ConstStore { a, c, op, d },
        (Rhs::Const(c), Then::Branch(br)) => Fused::ConstBranch { a, c, op, br },
    }
}

fn rhs(op: &Op) -> Option<Rhs> {
    match *op {
        Op::GetSlot(s) => Some(Rhs::Slot(s)),
        Op::LoadInt(k) => i32::try_from(k).ok().map(Rhs::Int),
        Op::LoadConst(c) => Some(Rhs::Const(c)),
        _ => None,
    }
}

impl Fused {
    /// The same group with its branch taken from another place (for
    /// threading a `Jump` into it), if it ends in a branch.
    fn threaded(self) -> Option<Fused> {
        match self {
            Fused::SlotBranch { .. } | Fused::IntBranch { .. } | Fused::ConstBranch { .. } => {
                Some(self)
            }
            _ => None,
        }
    }
}

/// Builds the fused instruction array for `ops` (same length).
pub(crate) fn fuse(ops: &[Op]) -> Vec<Fused> {
    let n = ops.len();
    let mut is_target = vec![false; n + 1];
    for op in ops {
        if let Some(t) = op.jump_target() {
            is_target[t] = true;
        }
    }
    let fits = |t: usize| u32::try_from(t).ok();
    let mut out = vec![Fused::None; n];
    for ip in 0..n {
        if ip + 3 > n || (1..3).any(|k| is_target[ip + k]) {
            continue;
        }
        let (Op::GetSlot(a), Some(b), Some(op)) =
            (ops[ip], rhs(&ops[ip + 1]), Bin::of(&ops[ip + 2]))
        else {
            continue;
        };
        let after = ip + 3;
        let four = after < n && !is_target[after];
        let then = match ops.get(after) {
            Some(&Op::SetSlot(d)) if four => Then::Store(d),
            Some(&(Op::JumpIfFalse(t) | Op::JumpIfTrue(t))) if four => {
                match (fits(t), fits(after + 1)) {
                    (Some(target), Some(fallthrough)) => Then::Branch(Branch {
                        when: matches!(ops[after], Op::JumpIfTrue(_)),
                        target,
                        fallthrough,
                    }),
                    _ => Then::Push,
                }
            }
            _ => Then::Push,
        };
        out[ip] = make(a, b, op, then);
    }
    // Thread jumps into compare-and-branch groups (loop inversion).
    for ip in 0..n {
        if let Op::Jump(t) = ops[ip]
            && let Some(group) = out.get(t).and_then(|f| f.threaded())
        {
            out[ip] = group;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuses_slot_arithmetic_and_loop_heads() {
        let ops = [
            Op::GetSlot(0),     // 0  head
            Op::LoadInt(10),    // 1
            Op::NumLt,          // 2
            Op::JumpIfFalse(9), // 3
            Op::GetSlot(1),     // 4
            Op::GetSlot(0),     // 5
            Op::Add,            // 6
            Op::SetSlot(1),     // 7
            Op::Jump(0),        // 8
            Op::GetSlot(1),     // 9
        ];
        let f = fuse(&ops);
        let head = Fused::IntBranch {
            a: 0,
            k: 10,
            op: Bin::Lt,
            br: Branch {
                when: false,
                target: 9,
                fallthrough: 4,
            },
        };
        assert_eq!(f[0], head);
        assert_eq!(
            f[4],
            Fused::SlotStore {
                a: 1,
                b: 0,
                op: Bin::Add,
                d: 1
            }
        );
        assert_eq!(f[8], head, "the back-edge jump is threaded into the head");
        assert_eq!(f[9], Fused::None);
    }

    #[test]
    fn never_spans_a_jump_target() {
        let ops = [
            Op::GetSlot(0),
            Op::LoadInt(1),
            Op::Add,
            Op::SetSlot(0),
            Op::Jump(1),
        ];
        assert_eq!(fuse(&ops)[0], Fused::None);
    }

    #[test]
    fn a_store_that_is_a_jump_target_is_not_fused() {
        let ops = [
            Op::GetSlot(0),
            Op::LoadInt(1),
            Op::Add,
            Op::SetSlot(0),
            Op::Jump(3),
        ];
        assert_eq!(
            fuse(&ops)[0],
            Fused::IntPush {
                a: 0,
                k: 1,
                op: Bin::Add
            }
        );
    }

    #[test]
    fn wide_immediates_are_not_fused() {
        let ops = [Op::GetSlot(0), Op::LoadInt(1 << 40), Op::Add];
        assert_eq!(fuse(&ops)[0], Fused::None);
    }
}
