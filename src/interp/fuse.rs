//! Superinstructions: a pre-pass that lets the interpreter execute common op
//! sequences in one dispatch.
//!
//! For each op index the pass may record a [`Fused`] instruction covering a
//! group of ops that starts there:
//!
//! ```text
//! GetSlot a                                            operand a
//! GetSlot b | LoadInt k | LoadFloat k | LoadConst c    operand b
//! Add | Sub | Mul | … | NumLt | …                      a binary op
//! SetSlot d | JumpIfFalse t | JumpIfTrue t | (nothing: push)
//! ```
//!
//! or, with the value on top of the stack as the first operand,
//! `LoadInt k | LoadFloat k | GetSlot b; op; then`, or with both operands on
//! the stack `op; then`; and a `Jump` whose target starts a
//! compare-and-branch group is threaded: it evaluates the group in place
//! (loop inversion), saving a dispatch per loop iteration. A float
//! immediate branches fused only when it is exact as an `f32` (so every
//! group fits 16 bytes). Between groups, the plain moves (`GetSlot`,
//! `LoadInt`, `LoadFloat`, `LoadConst`, `SetSlot`, `GetSlot; SetSlot`) are
//! groups of their own where they lead into another group, so a run of
//! plain arithmetic stays in this loop instead of returning to the
//! single-op dispatch for each push.
//!
//! A `Call` of a named subroutine, `Return` and `ReturnValue` out of a call
//! frame (and `GetSlot s; ReturnValue`) are groups too, entering and leaving
//! frames in place ([`Frames`]), so a program that calls does not leave
//! this loop at every call. So are the array reads, writes and pushes that
//! can't fail (`ArrayGet`, `ArraySet` of an element that exists, `ArrayPush`
//! under the limit, with the index on the stack or from a slot; the same
//! for an array in a slot), the reads and writes of a global hash that
//! can't fail (`HashGet`, `HashSet` into a hash with room or of a key it
//! has, the key on the stack or from a slot), `LoadTrue`, `LoadFalse` and
//! `PreIncSlotVoid`, which keeps array and hash loops here too.
//!
//! Results are stored into their place variant by variant ([`Out`]), and
//! operands are read in place: a `Value` copied whole right after being
//! stored piecewise stalls the CPU's store forwarding, which used to cost
//! more than the dispatch.
//!
//! The array is parallel to the ops and indexed by the original ip, so jump
//! targets, error positions and every other ip keep their meaning. A group
//! never spans a jump target (control can't land inside it), and its result
//! is computed with the same [`super::semantics`] functions as the single
//! ops, so executing a group is exactly executing its ops in order. None of
//! the grouped ops can fail, except where a limit is reached (the slot
//! area's, the frame count's) or a return is not out of a call frame: the
//! fused path leaves those to the single-op path, which reports the error
//! at the same op.

use super::calls::Frames;
use super::containers::{
    can_insert, can_push, element_of, existing_position, hash_get, hash_insert,
    push_element_unchecked, set_existing,
};
use super::semantics::{self as sem, Bits, Cmp};
use super::vm::MAX_STACK;
use crate::bytecode::op::Op;
use crate::bytecode::value::Value;

/// The second operand of a fused group (the first is always a slot).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Rhs {
    Slot(u16),
    Int(i32),
    Const(u16),
    Float(f64),
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

    /// Writes `a op b` to `out`, by the single-op semantics. Int/Int and
    /// Float/Float operands of the common ops are computed here, straight
    /// into `out` (the same rules as `semantics`, which the generated
    /// differential tests hold them to); everything else goes through
    /// `semantics`. Writing in place, rather than returning a `Value`, keeps
    /// the result in registers until the final store.
    #[inline(always)]
    pub(crate) fn write(self, a: &Value, b: &Value, out: impl Out) {
        match (a, b) {
            (&Value::Int(x), &Value::Int(y)) => self.write_ints(x, y, out),
            (&Value::Float(x), &Value::Float(y)) => self.write_floats(x, y, out),
            _ => out.value(self.apply(a, b)),
        }
    }

    // Each result kind gets its own store of one fixed variant: a `match`
    // yielding different variants would assemble the value in memory.
    #[inline(always)]
    fn write_ints(self, x: i64, y: i64, out: impl Out) {
        let r = match self {
            Bin::Add => x.wrapping_add(y),
            Bin::Sub => x.wrapping_sub(y),
            Bin::Mul => x.wrapping_mul(y),
            Bin::And => x & y,
            Bin::Or => x | y,
            Bin::Xor => x ^ y,
            Bin::Mod => sem::int_rem(x, y),
            _ => {
                match self.cmp() {
                    Some(c) => out.bool(sem::compare_ints(c, x, y)),
                    None => out.value(self.apply(&Value::Int(x), &Value::Int(y))),
                }
                return;
            }
        };
        out.int(r);
    }

    #[inline(always)]
    fn write_floats(self, x: f64, y: f64, out: impl Out) {
        let r = match self {
            Bin::Add => x + y,
            Bin::Sub => x - y,
            Bin::Mul => x * y,
            _ => {
                match self.cmp() {
                    Some(c) => out.bool(sem::compare_floats(c, x, y)),
                    None => out.value(self.apply(&Value::Float(x), &Value::Float(y))),
                }
                return;
            }
        };
        out.float(r);
    }

    /// The comparison this op is, if it is one.
    #[inline(always)]
    fn cmp(self) -> Option<Cmp> {
        Some(match self {
            Bin::Eq => Cmp::Eq,
            Bin::Ne => Cmp::Ne,
            Bin::Lt => Cmp::Lt,
            Bin::Gt => Cmp::Gt,
            Bin::Le => Cmp::Le,
            Bin::Ge => Cmp::Ge,
            _ => return None,
        })
    }

    /// The op's value, by the single-op semantics.
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
        let Some(cmp) = self.cmp() else {
            return self.apply(a, b).is_truthy();
        };
        match (a, b) {
            (&Value::Int(x), &Value::Int(y)) => sem::compare_ints(cmp, x, y),
            (&Value::Float(x), &Value::Float(y)) => sem::compare_floats(cmp, x, y),
            _ => sem::compare(cmp, a, b),
        }
    }

    /// The truthiness of `a op k` for an integer immediate `k`.
    #[inline(always)]
    pub(crate) fn test_int(self, a: &Value, k: i64) -> bool {
        match (self.cmp(), a) {
            (Some(c), &Value::Int(x)) => sem::compare_ints(c, x, k),
            _ => self.test(a, &Value::Int(k)),
        }
    }
}

/// Where a group's result goes: a value in place (a slot, the stack top)
/// or a new stack cell. Each method stores one fixed variant straight to
/// its place; a value assembled in a local and copied whole would be
/// stored piecewise and reloaded as one, which stalls store forwarding.
pub(crate) trait Out {
    fn int(self, r: i64);
    fn float(self, r: f64);
    fn bool(self, b: bool);
    fn value(self, v: Value);
}

impl Out for &mut Value {
    // A place that already holds an Int (the loop counter case) only needs
    // its payload replaced: no drop check, one store.
    #[inline(always)]
    fn int(self, r: i64) {
        match self {
            Value::Int(p) => *p = r,
            other => *other = Value::Int(r),
        }
    }
    #[inline(always)]
    fn float(self, r: f64) {
        match self {
            Value::Float(p) => *p = r,
            other => *other = Value::Float(r),
        }
    }
    #[inline(always)]
    fn bool(self, b: bool) {
        *self = Value::Bool(b);
    }
    #[inline(always)]
    fn value(self, v: Value) {
        *self = v;
    }
}

/// A place that holds a scalar (such as a slot just grown): written
/// without the drop glue.
struct Fresh<'a>(&'a mut Value);

impl Out for Fresh<'_> {
    #[inline(always)]
    fn int(self, r: i64) {
        self.value(Value::Int(r));
    }
    #[inline(always)]
    fn float(self, r: f64) {
        self.value(Value::Float(r));
    }
    #[inline(always)]
    fn bool(self, b: bool) {
        self.value(Value::Bool(b));
    }
    #[inline(always)]
    fn value(self, v: Value) {
        std::mem::forget(std::mem::replace(self.0, v));
    }
}

impl Out for &mut Vec<Value> {
    #[inline(always)]
    fn int(self, r: i64) {
        self.push(Value::Int(r));
    }
    #[inline(always)]
    fn float(self, r: f64) {
        self.push(Value::Float(r));
    }
    #[inline(always)]
    fn bool(self, b: bool) {
        self.push(Value::Bool(b));
    }
    #[inline(always)]
    fn value(self, v: Value) {
        self.push(v);
    }
}

/// A branch at the end of a group: where to go when the result is truthy
/// and when it is not (a `JumpIfFalse` and a `JumpIfTrue` differ only in
/// which of the two is the jump target).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Branch {
    pub on_true: u32,
    pub on_false: u32,
}

impl Branch {
    /// The ip control goes to, given whether the result was truthy.
    #[inline(always)]
    fn to(self, truthy: bool) -> usize {
        (if truthy { self.on_true } else { self.on_false }) as usize
    }
}

/// A fused instruction starting at some ip. The prefix says where the
/// operands come from (`Slot`/`Int`/`Const`: slot `a` and a slot, integer
/// immediate or constant; `Top`: the stack top and an integer immediate), the
/// suffix what happens to the result (`Push` it, `Store` it in slot `d`, or
/// `Branch` on it; a threaded `Jump` is a branch group of its own).
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
    /// The first operand is the value on top of the stack (popped), the
    /// second an integer immediate: `LoadInt k; op` then push (2 ops),
    /// store or branch (3 ops).
    TopPush {
        k: i32,
        op: Bin,
    },
    TopStore {
        k: i32,
        op: Bin,
        d: u16,
    },
    TopBranch {
        k: i32,
        op: Bin,
        br: Branch,
    },
    /// The stack top (popped) and slot `b`: `GetSlot b; op` then push,
    /// store or branch.
    TopSlotPush {
        b: u16,
        op: Bin,
    },
    TopSlotStore {
        b: u16,
        op: Bin,
        d: u16,
    },
    TopSlotBranch {
        b: u16,
        op: Bin,
        br: Branch,
    },
    /// A float immediate (`LoadFloat k`) as the second operand, pushed or
    /// stored (see `FloatBranch` for branches).
    FloatPush {
        a: u16,
        k: f64,
        op: Bin,
    },
    FloatStore {
        a: u16,
        k: f64,
        op: Bin,
        d: u16,
    },
    TopFloatPush {
        k: f64,
        op: Bin,
    },
    TopFloatStore {
        k: f64,
        op: Bin,
        d: u16,
    },
    /// Branches on a float immediate that is exact as an `f32` (so the
    /// group still fits 16 bytes).
    FloatBranch {
        a: u16,
        k: f32,
        op: Bin,
        br: Branch,
    },
    TopFloatBranch {
        k: f32,
        op: Bin,
        br: Branch,
    },
    /// The two top stack values (both popped): `op; SetSlot d` or
    /// `op; JumpIf…`.
    StackStore {
        op: Bin,
        d: u16,
    },
    StackBranch {
        op: Bin,
        br: Branch,
    },
    /// The two top stack values replaced by `a op b` (a lone binary op).
    StackPush {
        op: Bin,
    },
    /// Single moves, so that a run of groups need not leave this loop for
    /// the plain pushes and stores between them: `GetSlot s`, `LoadInt k`,
    /// `LoadFloat k`, `LoadConst c`, `SetSlot d`, and `GetSlot s; SetSlot d`.
    PushSlot {
        s: u16,
    },
    PushInt {
        k: i64,
    },
    PushFloat {
        k: f64,
    },
    PushConst {
        c: u16,
    },
    StoreTop {
        d: u16,
    },
    Move {
        s: u16,
        d: u16,
    },
    /// A `Jump` to a group that is not a compare-and-branch.
    Goto {
        to: u32,
    },
    /// `Call` of the subroutine entered at `entry` (resolved when fused),
    /// owning the top `argc` values.
    Call {
        entry: u32,
        argc: u8,
    },
    /// `ReturnValue` (`value`) or `Return` from a call frame.
    Ret {
        value: bool,
    },
    /// `GetSlot s; ReturnValue`.
    RetSlot {
        s: u16,
    },
    /// `PreIncSlotVoid s`.
    IncSlot {
        s: u16,
    },
    /// `LoadTrue` / `LoadFalse`.
    PushBool {
        b: bool,
    },
    /// Global array `g`'s element: `ArrayGet g` (the index on the stack
    /// top, replaced by the element) and `GetSlot i; ArrayGet g`.
    ArrayGet {
        g: u16,
    },
    ArrayGetSlot {
        g: u16,
        i: u16,
    },
    /// `ArraySet g` (value and index on the stack) and `GetSlot i;
    /// ArraySet g` (the value on the stack), over an element that exists;
    /// anything else (growing, an error) takes the single-op path.
    ArraySet {
        g: u16,
    },
    ArraySetSlot {
        g: u16,
        i: u16,
    },
    /// `ArrayPush g` onto an array under the collection limit.
    ArrayPush {
        g: u16,
    },
    /// Global hash `g`'s entry: `HashGet g` (the key on the stack top,
    /// replaced by the value) and `GetSlot i; HashGet g`.
    HashGet {
        g: u16,
    },
    HashGetSlot {
        g: u16,
        i: u16,
    },
    /// `HashSet g` (value and key on the stack) and `GetSlot i; HashSet g`
    /// (the value on the stack), into a hash with room or of a key it has;
    /// anything else (a full hash, a global that holds no hash) takes the
    /// single-op path.
    HashSet {
        g: u16,
    },
    HashSetSlot {
        g: u16,
        i: u16,
    },
    /// The same reads and writes of an array in slot `s` of the frame:
    /// `SlotArrayGet s`, `GetSlot i; SlotArrayGet s`, `SlotArraySet s`.
    SlotArrayGet {
        s: u16,
    },
    SlotArrayGetSlot {
        s: u16,
        i: u16,
    },
    SlotArraySet {
        s: u16,
    },
    /// Two lone moves in a row: `GetSlot a; GetSlot b` (as before a call)
    /// and `SetSlot a; SetSlot b` (as where a subroutine takes two
    /// arguments).
    PushSlot2 {
        a: u16,
        b: u16,
    },
    StoreTop2 {
        a: u16,
        b: u16,
    },
}

/// `k` as an `f32` if that loses nothing (every bit survives the round trip).
fn narrow(k: f64) -> Option<f32> {
    let n = k as f32;
    (f64::from(n).to_bits() == k.to_bits()).then_some(n)
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
        (Rhs::Float(k), Then::Store(d)) => Fused::FloatStore { a, k, op, d },
        (Rhs::Float(k), Then::Branch(br)) => match narrow(k) {
            Some(k) => Fused::FloatBranch { a, k, op, br },
            None => Fused::FloatPush { a, k, op },
        },
        (Rhs::Float(k), Then::Push) => Fused::FloatPush { a, k, op },
    }
}

fn rhs(op: &Op) -> Option<Rhs> {
    match *op {
        Op::GetSlot(s) => Some(Rhs::Slot(s)),
        Op::LoadInt(k) => i32::try_from(k).ok().map(Rhs::Int),
        Op::LoadConst(c) => Some(Rhs::Const(c)),
        Op::LoadFloat(k) => Some(Rhs::Float(k)),
        _ => None,
    }
}

impl Fused {
    /// Where the group may branch, if it ends in a branch.
    fn branch(&self) -> Option<Branch> {
        match *self {
            Fused::SlotBranch { br, .. }
            | Fused::IntBranch { br, .. }
            | Fused::ConstBranch { br, .. }
            | Fused::TopBranch { br, .. }
            | Fused::TopSlotBranch { br, .. }
            | Fused::FloatBranch { br, .. }
            | Fused::TopFloatBranch { br, .. }
            | Fused::StackBranch { br, .. } => Some(br),
            _ => None,
        }
    }

    /// The same group with its branch taken from another place (for
    /// threading a `Jump` into it), if it ends in a branch.
    fn threaded(self) -> Option<Fused> {
        match self {
            Fused::SlotBranch { .. }
            | Fused::IntBranch { .. }
            | Fused::ConstBranch { .. }
            | Fused::TopBranch { .. }
            | Fused::TopSlotBranch { .. }
            | Fused::FloatBranch { .. }
            | Fused::TopFloatBranch { .. }
            | Fused::StackBranch { .. } => Some(self),
            _ => None,
        }
    }
}

/// What the array groups reach besides the frame.
pub(crate) struct Data<'a> {
    /// The globals (where `ArrayGet` and friends find their arrays).
    pub globals: &'a mut [Value],
    /// [`super::vm::Limits::max_collection_len`].
    pub max_len: usize,
}

/// Runs consecutive fused groups from `ip` and returns the ip of the first
/// op that needs the single-op path: one that starts no group, or a group
/// that can't run fused (a limit would be passed, an operand is missing, a
/// return is not out of a call frame). `fr.base` follows the calls and
/// returns it makes. A function of its own, so the running frame's slots
/// and the ip stay in registers.
#[inline(never)]
pub(crate) fn run(
    fused: &[Fused],
    fr: &mut Frames<'_>,
    data: &mut Data<'_>,
    stack: &mut Vec<Value>,
    consts: &[Value],
    mut ip: usize,
) -> usize {
    const UNDEF: &Value = &Value::Undef;
    // The running frame's slots (re-taken when a call or return moves
    // `fr.base`, or a store grows the frame).
    let mut slots: &mut [Value] = fr.area.get_mut(fr.base..).unwrap_or_default();
    // An immediate operand as a `&Value` that is never dropped (it owns
    // nothing; a dropped temporary costs a call to the drop glue).
    macro_rules! imm {
        ($v:expr) => {
            &*std::mem::ManuallyDrop::new($v)
        };
    }
    macro_rules! slot {
        ($s:expr) => {
            slots.get($s as usize).unwrap_or(UNDEF)
        };
    }
    // `a op b` into slot `d`. The operands may live in `slots` too, so
    // scalar operands are copied out before `d` is borrowed.
    macro_rules! store {
        ($a:expr, $b:expr, $op:expr, $d:expr, $len:expr) => {{
            let (a, b, op, d) = ($a, $b, $op, $d as usize);
            if d >= slots.len() {
                return ip;
            }
            match (a, b) {
                (&Value::Int(x), &Value::Int(y)) => op.write_ints(x, y, &mut slots[d]),
                (&Value::Float(x), &Value::Float(y)) => op.write_floats(x, y, &mut slots[d]),
                _ => slots[d] = op.apply(a, b),
            }
            ip += $len;
        }};
    }
    // A push never grows the stack here (the single-op path does): with
    // room known, the result is stored straight into its cell instead of
    // being assembled in a local around the call that grows.
    macro_rules! need_room {
        () => {
            if stack.len() == stack.capacity() {
                return ip;
            }
        };
    }
    macro_rules! push {
        ($a:expr, $b:expr, $op:expr) => {{
            need_room!();
            $op.write($a, $b, &mut *stack);
            ip += 3;
        }};
    }
    macro_rules! branch {
        ($test:expr, $br:expr) => {{
            if stack.len() > MAX_STACK {
                return ip;
            }
            let br: Branch = $br;
            ip = br.to($test);
        }};
    }
    loop {
        let Some(&group) = fused.get(ip) else {
            return ip;
        };
        match group {
            Fused::None => return ip,
            Fused::SlotPush { a, b, op } => push!(slot!(a), slot!(b), op),
            // The dominant loop shapes (`x = x + y`, `i < n`) skip the
            // second dispatch on the op.
            Fused::SlotStore {
                a,
                b,
                op: Bin::Add,
                d,
            } => store!(slot!(a), slot!(b), Bin::Add, d, 4),
            Fused::SlotStore { a, b, op, d } => store!(slot!(a), slot!(b), op, d, 4),
            Fused::SlotBranch { a, b, op, br } => branch!(op.test(slot!(a), slot!(b)), br),
            Fused::IntPush { a, k, op } => push!(slot!(a), imm!(Value::Int(k as i64)), op),
            Fused::IntStore {
                a,
                k,
                op: Bin::Add,
                d,
            } => store!(slot!(a), imm!(Value::Int(k as i64)), Bin::Add, d, 4),
            Fused::IntStore { a, k, op, d } => {
                store!(slot!(a), imm!(Value::Int(k as i64)), op, d, 4)
            }
            Fused::IntBranch {
                a,
                k,
                op: Bin::Lt,
                br,
            } => branch!(Bin::Lt.test_int(slot!(a), k as i64), br),
            Fused::IntBranch { a, k, op, br } => branch!(op.test_int(slot!(a), k as i64), br),
            Fused::ConstPush { a, c, op } => push!(slot!(a), &consts[c as usize], op),
            Fused::ConstStore { a, c, op, d } => store!(slot!(a), &consts[c as usize], op, d, 4),
            Fused::ConstBranch { a, c, op, br } => {
                branch!(op.test(slot!(a), &consts[c as usize]), br)
            }
            Fused::TopPush { k, op } => {
                let Some(top) = stack.last_mut() else {
                    return ip;
                };
                match *top {
                    Value::Int(x) => op.write_ints(x, k as i64, top),
                    Value::Float(x) => op.write_floats(x, k as f64, top),
                    _ => *top = op.apply(top, &Value::Int(k as i64)),
                }
                ip += 2;
            }
            Fused::TopStore { k, op, d } => {
                // Check the group can run fused before popping anything.
                if d as usize >= slots.len() {
                    return ip;
                }
                let Some(a) = stack.last() else { return ip };
                store!(a, imm!(Value::Int(k as i64)), op, d, 3);
                drop_top(stack, 1);
            }
            Fused::TopBranch { k, op, br } => {
                if stack.len() > MAX_STACK + 1 {
                    return ip;
                }
                let Some(a) = stack.last() else { return ip };
                ip = br.to(op.test_int(a, k as i64));
                drop_top(stack, 1);
            }
            Fused::TopSlotPush { b, op } => {
                let Some(top) = stack.last_mut() else {
                    return ip;
                };
                let y = slot!(b);
                match (&*top, y) {
                    (&Value::Int(x), &Value::Int(k)) => op.write_ints(x, k, top),
                    (&Value::Float(x), &Value::Float(k)) => op.write_floats(x, k, top),
                    _ => *top = op.apply(top, y),
                }
                ip += 2;
            }
            Fused::TopSlotStore { b, op, d } => {
                if d as usize >= slots.len() {
                    return ip;
                }
                let Some(a) = stack.last() else { return ip };
                store!(a, slot!(b), op, d, 3);
                drop_top(stack, 1);
            }
            Fused::TopSlotBranch { b, op, br } => {
                if stack.len() > MAX_STACK + 1 {
                    return ip;
                }
                let Some(a) = stack.last() else { return ip };
                ip = br.to(op.test(a, slot!(b)));
                drop_top(stack, 1);
            }
            Fused::FloatBranch { a, k, op, br } => {
                branch!(op.test(slot!(a), imm!(Value::Float(f64::from(k)))), br)
            }
            Fused::TopFloatBranch { k, op, br } => {
                if stack.len() > MAX_STACK + 1 {
                    return ip;
                }
                let Some(a) = stack.last() else { return ip };
                ip = br.to(op.test(a, imm!(Value::Float(f64::from(k)))));
                drop_top(stack, 1);
            }
            Fused::StackStore { op, d } => {
                if d as usize >= slots.len() || stack.len() < 2 {
                    return ip;
                }
                let [a, b] = top_two(stack);
                store!(a, b, op, d, 2);
                drop_top(stack, 2);
            }
            Fused::StackBranch { op, br } => {
                if stack.len() < 2 || stack.len() > MAX_STACK + 2 {
                    return ip;
                }
                let [a, b] = top_two(stack);
                ip = br.to(op.test(a, b));
                drop_top(stack, 2);
            }
            Fused::StackPush { op } => {
                let n = stack.len();
                if n < 2 {
                    return ip;
                }
                match (&stack[n - 2], &stack[n - 1]) {
                    (&Value::Int(x), &Value::Int(y)) => op.write_ints(x, y, &mut stack[n - 2]),
                    (&Value::Float(x), &Value::Float(y)) => {
                        op.write_floats(x, y, &mut stack[n - 2])
                    }
                    (a, b) => {
                        let v = op.apply(a, b);
                        stack[n - 2] = v;
                    }
                }
                drop_top(stack, 1);
                ip += 1;
            }
            Fused::PushSlot { s } => {
                need_room!();
                copy_to(slot!(s), &mut *stack);
                ip += 1;
            }
            Fused::PushInt { k } => {
                need_room!();
                stack.push(Value::Int(k));
                ip += 1;
            }
            Fused::PushFloat { k } => {
                need_room!();
                stack.push(Value::Float(k));
                ip += 1;
            }
            Fused::PushConst { c } => {
                need_room!();
                copy_to(&consts[c as usize], &mut *stack);
                ip += 1;
            }
            Fused::StoreTop { d } => {
                let d = d as usize;
                let Some(top) = stack.last() else {
                    return ip;
                };
                if d < slots.len() {
                    copy_to(top, &mut slots[d]);
                } else {
                    // A frame's first store to a slot (as where a subroutine
                    // takes its arguments) grows the frame to reach it.
                    if !fr.reach(d) {
                        return ip;
                    }
                    slots = &mut fr.area[fr.base..];
                    copy_to(top, Fresh(&mut slots[d]));
                }
                drop_top(stack, 1);
                ip += 1;
            }
            Fused::Move { s, d } => {
                let (s, d) = (s as usize, d as usize);
                if d >= slots.len() {
                    return ip;
                }
                match slots.get(s) {
                    Some(&Value::Int(x)) => (&mut slots[d]).int(x),
                    Some(&Value::Float(x)) => (&mut slots[d]).float(x),
                    v => {
                        let v = v.cloned().unwrap_or_default();
                        slots[d] = v;
                    }
                }
                ip += 2;
            }
            Fused::Goto { to } => {
                let to = to as usize;
                // A back-edge checks the stack as the single-op jump does.
                if to <= ip && stack.len() > MAX_STACK {
                    return ip;
                }
                ip = to;
            }
            Fused::Call { entry, argc } => {
                if !fr.enter(stack.len(), argc, ip + 1, entry as usize) {
                    return ip;
                }
                slots = &mut [];
                ip = entry as usize;
            }
            Fused::Ret { value } => {
                if !fr.in_call() || (value && stack.is_empty()) {
                    return ip;
                }
                let result = if value { stack.pop() } else { None };
                ip = fr.leave(stack, result);
                slots = fr.area.get_mut(fr.base..).unwrap_or_default();
            }
            Fused::RetSlot { s } => {
                let result = slot!(s).clone();
                if !fr.in_call() {
                    return ip;
                }
                ip = fr.leave(stack, Some(result));
                slots = fr.area.get_mut(fr.base..).unwrap_or_default();
            }
            Fused::IncSlot { s } => {
                let Some(place) = slots.get_mut(s as usize) else {
                    return ip;
                };
                match sem::step(place, 1) {
                    Value::Int(r) => place.int(r),
                    Value::Float(r) => place.float(r),
                    v => *place = v,
                }
                ip += 1;
            }
            Fused::PushBool { b } => {
                need_room!();
                stack.push(Value::Bool(b));
                ip += 1;
            }
            Fused::ArrayGet { g } => {
                if !index_top(&data.globals[g as usize], stack) {
                    return ip;
                }
                ip += 1;
            }
            Fused::ArrayGetSlot { g, i } => {
                need_room!();
                let Ok(v) = element_of(&data.globals[g as usize], slot!(i)) else {
                    return ip;
                };
                stack.push(v);
                ip += 2;
            }
            Fused::ArraySet { g } => {
                if !set_from_stack(&mut data.globals[g as usize], stack) {
                    return ip;
                }
                ip += 1;
            }
            Fused::ArraySetSlot { g, i } => {
                if stack.is_empty() {
                    return ip;
                }
                let array = &mut data.globals[g as usize];
                let Some(pos) = existing_position(array, slot!(i)) else {
                    return ip;
                };
                if let Some(v) = stack.pop() {
                    set_existing(array, pos, v);
                }
                ip += 2;
            }
            Fused::HashGet { g } => {
                let Some(top) = stack.last_mut() else {
                    return ip;
                };
                let Ok(v) = hash_get(&data.globals[g as usize], top) else {
                    return ip;
                };
                *top = v;
                ip += 1;
            }
            Fused::HashGetSlot { g, i } => {
                need_room!();
                let Ok(v) = hash_get(&data.globals[g as usize], slot!(i)) else {
                    return ip;
                };
                stack.push(v);
                ip += 2;
            }
            Fused::HashSet { g } => {
                let n = stack.len();
                let hash = &mut data.globals[g as usize];
                if n < 2 || !can_insert(hash, &stack[n - 1], data.max_len) {
                    return ip;
                }
                if let (Some(key), Some(v)) = (stack.pop(), stack.pop()) {
                    let inserted = hash_insert(hash, &key, v, data.max_len);
                    debug_assert!(inserted.is_ok(), "can_insert said yes");
                }
                ip += 1;
            }
            Fused::HashSetSlot { g, i } => {
                let hash = &mut data.globals[g as usize];
                if stack.is_empty() || !can_insert(hash, slot!(i), data.max_len) {
                    return ip;
                }
                if let Some(v) = stack.pop() {
                    let inserted = hash_insert(hash, slot!(i), v, data.max_len);
                    debug_assert!(inserted.is_ok(), "can_insert said yes");
                }
                ip += 2;
            }
            Fused::SlotArrayGet { s } => {
                if !index_top(slot!(s), stack) {
                    return ip;
                }
                ip += 1;
            }
            Fused::SlotArrayGetSlot { s, i } => {
                need_room!();
                let Ok(v) = element_of(slot!(s), slot!(i)) else {
                    return ip;
                };
                stack.push(v);
                ip += 2;
            }
            Fused::SlotArraySet { s } => {
                let Some(array) = slots.get_mut(s as usize) else {
                    return ip;
                };
                if !set_from_stack(array, stack) {
                    return ip;
                }
                ip += 1;
            }
            Fused::ArrayPush { g } => {
                let array = &mut data.globals[g as usize];
                if !can_push(array, data.max_len) {
                    return ip;
                }
                let Some(v) = stack.pop() else {
                    return ip;
                };
                push_element_unchecked(array, v);
                ip += 1;
            }
            Fused::PushSlot2 { a, b } => {
                if stack.capacity() - stack.len() < 2 {
                    return ip;
                }
                copy_to(slot!(a), &mut *stack);
                copy_to(slot!(b), &mut *stack);
                ip += 2;
            }
            Fused::StoreTop2 { a, b } => {
                let (a, b) = (a as usize, b as usize);
                if stack.len() < 2 {
                    return ip;
                }
                let grown = slots.len();
                if a.max(b) >= grown {
                    if !fr.reach(a.max(b)) {
                        return ip;
                    }
                    slots = &mut fr.area[fr.base..];
                }
                for d in [a, b] {
                    if let Some(top) = stack.last() {
                        if d < grown {
                            copy_to(top, &mut slots[d]);
                        } else {
                            copy_to(top, Fresh(&mut slots[d]));
                        }
                    }
                    drop_top(stack, 1);
                }
                ip += 2;
            }
            Fused::FloatPush { a, k, op } => push!(slot!(a), imm!(Value::Float(k)), op),
            Fused::FloatStore { a, k, op, d } => store!(slot!(a), imm!(Value::Float(k)), op, d, 4),
            Fused::TopFloatPush { k, op } => {
                let Some(top) = stack.last_mut() else {
                    return ip;
                };
                match *top {
                    Value::Float(x) => op.write_floats(x, k, top),
                    _ => *top = op.apply(top, &Value::Float(k)),
                }
                ip += 2;
            }
            Fused::TopFloatStore { k, op, d } => {
                if d as usize >= slots.len() {
                    return ip;
                }
                let Some(a) = stack.last() else { return ip };
                store!(a, imm!(Value::Float(k)), op, d, 3);
                drop_top(stack, 1);
            }
        }
    }
}

/// Replaces the index on top of `stack` by `container`'s element there;
/// false (nothing changed) where the single-op path must raise an error.
#[inline(always)]
fn index_top(container: &Value, stack: &mut [Value]) -> bool {
    let Some(top) = stack.last_mut() else {
        return false;
    };
    let Ok(v) = element_of(container, top) else {
        return false;
    };
    if top.owns_heap() {
        *top = v;
    } else {
        Fresh(top).value(v);
    }
    true
}

/// Pops an index and a value and stores the value at an element of
/// `array` that exists; false (nothing changed) for anything else, which
/// the single-op path handles.
#[inline(always)]
fn set_from_stack(array: &mut Value, stack: &mut Vec<Value>) -> bool {
    let n = stack.len();
    if n < 2 {
        return false;
    }
    let Some(pos) = existing_position(array, &stack[n - 1]) else {
        return false;
    };
    drop_top(stack, 1);
    if let Some(v) = stack.pop() {
        set_existing(array, pos, v);
    }
    true
}

/// Copies `v` to `out` variant by variant (a scalar without a whole-value
/// copy; see [`Out`]).
#[inline(always)]
fn copy_to(v: &Value, out: impl Out) {
    match *v {
        Value::Int(x) => out.int(x),
        Value::Float(x) => out.float(x),
        Value::Bool(b) => out.bool(b),
        _ => out.value(v.clone()),
    }
}

/// The two top stack values, second-from-top first (the caller checked
/// there are two).
#[inline(always)]
fn top_two(stack: &[Value]) -> [&Value; 2] {
    let n = stack.len();
    [&stack[n - 2], &stack[n - 1]]
}

/// Pops `n` values (operands a group has used in place, or a returning
/// frame's slots). Scalars (the common case) are forgotten rather than
/// passed to the out-of-line drop glue: they own nothing.
#[inline(always)]
pub(super) fn drop_top(stack: &mut Vec<Value>, n: usize) {
    for _ in 0..n {
        // The kind is read in place, so a scalar cell is never loaded whole
        // (it was just stored piecewise; see `Out`).
        let scalar = stack.last().is_some_and(|v| !v.owns_heap());
        let popped = stack.pop();
        if scalar {
            std::mem::forget(popped);
        }
    }
}

/// Where a lone move or goto leads: its one successor (`None` for any
/// other group).
fn successor(ip: usize, g: Fused) -> Option<usize> {
    match g {
        Fused::Move { .. }
        | Fused::PushSlot2 { .. }
        | Fused::StoreTop2 { .. }
        | Fused::ArrayGetSlot { .. }
        | Fused::ArraySetSlot { .. }
        | Fused::HashGetSlot { .. }
        | Fused::HashSetSlot { .. }
        | Fused::SlotArrayGetSlot { .. } => Some(ip + 2),
        Fused::PushSlot { .. }
        | Fused::PushInt { .. }
        | Fused::PushFloat { .. }
        | Fused::PushConst { .. }
        | Fused::StoreTop { .. }
        | Fused::StackPush { .. }
        | Fused::PushBool { .. }
        | Fused::IncSlot { .. }
        | Fused::ArrayGet { .. }
        | Fused::ArraySet { .. }
        | Fused::ArrayPush { .. }
        | Fused::HashGet { .. }
        | Fused::HashSet { .. }
        | Fused::SlotArrayGet { .. }
        | Fused::SlotArraySet { .. } => Some(ip + 1),
        Fused::Goto { to } => Some(to as usize),
        _ => None,
    }
}

/// Turns back into single ops the lone moves and gotos that only lead, one
/// after another, into an op outside the table: entering the fused loop
/// for one push and leaving it again costs more than the dispatch it
/// saves. Each chain is walked once (gotos may lead backward, so a pass
/// in ip order would not settle it); a chain that loops on itself stays.
fn drop_dead_moves(out: &mut [Fused]) {
    const UNSEEN: u8 = 0;
    const ON_PATH: u8 = 1;
    const LIVE: u8 = 2;
    const DEAD: u8 = 3;
    let mut state = vec![UNSEEN; out.len()];
    let mut path = Vec::new();
    for start in 0..out.len() {
        let mut ip = start;
        let live = loop {
            match state.get(ip) {
                None => break false,
                Some(&LIVE | &ON_PATH) => break true,
                Some(&DEAD) => break false,
                _ => {}
            }
            if out[ip] == Fused::None {
                break false;
            }
            let Some(next) = successor(ip, out[ip]) else {
                break true;
            };
            state[ip] = ON_PATH;
            path.push(ip);
            ip = next;
        };
        for at in path.drain(..) {
            state[at] = if live { LIVE } else { DEAD };
            if !live {
                out[at] = Fused::None;
            }
        }
    }
}

/// `fused` without the groups that can branch backward: while the tracing
/// JIT is on, every back-edge then goes through the single-op path, where
/// it is counted (and loops are recorded and entered).
pub(crate) fn forward_only(fused: &[Fused]) -> Vec<Fused> {
    fused
        .iter()
        .enumerate()
        .map(|(ip, g)| match (g, g.branch()) {
            (_, Some(br)) if br.on_true as usize <= ip || br.on_false as usize <= ip => Fused::None,
            (Fused::Goto { to }, _) if *to as usize <= ip => Fused::None,
            // Calls are charged and counted on the single-op path.
            (Fused::Call { .. } | Fused::Ret { .. }, _) => Fused::None,
            _ => *g,
        })
        .collect()
}

/// Builds the fused instruction array for `ops` (same length); `entry`
/// gives a subroutine's entry ip by name index.
pub(crate) fn fuse(ops: &[Op], entry: impl Fn(u16) -> Option<usize>) -> Vec<Fused> {
    let n = ops.len();
    let mut is_target = vec![false; n + 1];
    for op in ops {
        if let Some(t) = op.jump_target() {
            is_target[t] = true;
        }
    }
    let fits = |t: usize| u32::try_from(t).ok();
    let mut out = vec![Fused::None; n];
    // What the op at `at` does with a group's result (a store or branch only
    // if control can't land on it from elsewhere).
    let then_at = |at: usize| {
        let joinable = at < n && !is_target[at];
        match ops.get(at) {
            Some(&Op::SetSlot(d)) if joinable => Then::Store(d),
            Some(&(Op::JumpIfFalse(t) | Op::JumpIfTrue(t))) if joinable => {
                match (fits(t), fits(at + 1)) {
                    (Some(target), Some(next)) => Then::Branch(match ops[at] {
                        Op::JumpIfTrue(_) => Branch {
                            on_true: target,
                            on_false: next,
                        },
                        _ => Branch {
                            on_true: next,
                            on_false: target,
                        },
                    }),
                    _ => Then::Push,
                }
            }
            _ => Then::Push,
        }
    };
    for ip in 0..n {
        if ip + 2 > n || is_target[ip + 1] {
            continue;
        }
        // LoadInt k; op; then   (first operand: the stack top)
        if let (Op::LoadInt(k), Some(op)) = (ops[ip], Bin::of(&ops[ip + 1]))
            && let Ok(k) = i32::try_from(k)
        {
            out[ip] = match then_at(ip + 2) {
                Then::Push => Fused::TopPush { k, op },
                Then::Store(d) => Fused::TopStore { k, op, d },
                Then::Branch(br) => Fused::TopBranch { k, op, br },
            };
            continue;
        }
        // GetSlot b; op; then   (first operand: the stack top)
        if let (Op::GetSlot(b), Some(op)) = (ops[ip], Bin::of(&ops[ip + 1])) {
            out[ip] = match then_at(ip + 2) {
                Then::Push => Fused::TopSlotPush { b, op },
                Then::Store(d) => Fused::TopSlotStore { b, op, d },
                Then::Branch(br) => Fused::TopSlotBranch { b, op, br },
            };
            continue;
        }
        // LoadFloat k; op; then   (push or store)
        if let (Op::LoadFloat(k), Some(op)) = (ops[ip], Bin::of(&ops[ip + 1])) {
            out[ip] = match (then_at(ip + 2), narrow(k)) {
                (Then::Store(d), _) => Fused::TopFloatStore { k, op, d },
                (Then::Branch(br), Some(k)) => Fused::TopFloatBranch { k, op, br },
                _ => Fused::TopFloatPush { k, op },
            };
            continue;
        }
        // op; then   (both operands on the stack: store or branch)
        if let Some(op) = Bin::of(&ops[ip]) {
            out[ip] = match then_at(ip + 1) {
                Then::Store(d) => Fused::StackStore { op, d },
                Then::Branch(br) => Fused::StackBranch { op, br },
                Then::Push => Fused::StackPush { op },
            };
            continue;
        }
        // GetSlot a; rhs; op; then
        if ip + 3 > n || is_target[ip + 2] {
            continue;
        }
        let (Op::GetSlot(a), Some(b), Some(op)) =
            (ops[ip], rhs(&ops[ip + 1]), Bin::of(&ops[ip + 2]))
        else {
            continue;
        };
        out[ip] = make(a, b, op, then_at(ip + 3));
    }
    // Single moves where no group starts.
    for ip in 0..n {
        if out[ip] != Fused::None {
            continue;
        }
        let joined = ip + 1 < n && !is_target[ip + 1];
        out[ip] = match (ops[ip], ops.get(ip + 1)) {
            (Op::GetSlot(s), Some(&Op::SetSlot(d))) if joined => Fused::Move { s, d },
            (Op::GetSlot(s), Some(&Op::ReturnValue)) if joined => Fused::RetSlot { s },
            (Op::GetSlot(i), Some(&Op::ArrayGet(g))) if joined => Fused::ArrayGetSlot { g, i },
            (Op::GetSlot(i), Some(&Op::ArraySet(g))) if joined => Fused::ArraySetSlot { g, i },
            (Op::GetSlot(i), Some(&Op::HashGet(g))) if joined => Fused::HashGetSlot { g, i },
            (Op::GetSlot(i), Some(&Op::HashSet(g))) if joined => Fused::HashSetSlot { g, i },
            (Op::GetSlot(i), Some(&Op::SlotArrayGet(s))) if joined => {
                Fused::SlotArrayGetSlot { s, i }
            }
            (Op::GetSlot(s), _) => Fused::PushSlot { s },
            (Op::LoadInt(k), _) => Fused::PushInt { k },
            (Op::LoadFloat(k), _) => Fused::PushFloat { k },
            (Op::LoadConst(c), _) => Fused::PushConst { c },
            (Op::SetSlot(d), _) => Fused::StoreTop { d },
            (Op::PreIncSlotVoid(s), _) => Fused::IncSlot { s },
            (Op::LoadTrue, _) => Fused::PushBool { b: true },
            (Op::LoadFalse, _) => Fused::PushBool { b: false },
            (Op::ArrayGet(g), _) => Fused::ArrayGet { g },
            (Op::ArraySet(g), _) => Fused::ArraySet { g },
            (Op::ArrayPush(g), _) => Fused::ArrayPush { g },
            (Op::HashGet(g), _) => Fused::HashGet { g },
            (Op::HashSet(g), _) => Fused::HashSet { g },
            (Op::SlotArrayGet(s), _) => Fused::SlotArrayGet { s },
            (Op::SlotArraySet(s), _) => Fused::SlotArraySet { s },
            (Op::Call(name, argc), _) => match entry(name).and_then(fits) {
                Some(entry) => Fused::Call { entry, argc },
                None => Fused::None,
            },
            (Op::ReturnValue, _) => Fused::Ret { value: true },
            (Op::Return, _) => Fused::Ret { value: false },
            (op, _) => Bin::of(&op).map_or(Fused::None, |op| Fused::StackPush { op }),
        };
    }
    // Thread jumps: into compare-and-branch groups (loop inversion), or,
    // as a `Goto`, into any other group.
    for ip in 0..n {
        if let Op::Jump(t) = ops[ip] {
            out[ip] = match out.get(t) {
                Some(g) if g.threaded().is_some() => *g,
                Some(g) if *g != Fused::None => {
                    fits(t).map_or(Fused::None, |to| Fused::Goto { to })
                }
                _ => Fused::None,
            };
        }
    }
    // Pairs of lone moves (each still a group of its own, for control
    // that lands on the second).
    for ip in 0..n.saturating_sub(1) {
        if is_target[ip + 1] {
            continue;
        }
        out[ip] = match (out[ip], out[ip + 1]) {
            (Fused::PushSlot { s: a }, Fused::PushSlot { s: b }) => Fused::PushSlot2 { a, b },
            (Fused::StoreTop { d: a }, Fused::StoreTop { d: b }) => Fused::StoreTop2 { a, b },
            (g, _) => g,
        };
    }
    drop_dead_moves(&mut out);
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
        let f = fuse(&ops, |_| None);
        let head = Fused::IntBranch {
            a: 0,
            k: 10,
            op: Bin::Lt,
            br: Branch {
                on_true: 4,
                on_false: 9,
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
        assert_eq!(f[9], Fused::None, "a lone push at the end runs alone");
    }

    #[test]
    fn fused_instructions_are_sixteen_bytes() {
        assert_eq!(std::mem::size_of::<Fused>(), 16);
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
        assert_eq!(
            fuse(&ops, |_| None)[0],
            Fused::PushSlot { s: 0 },
            "only the single op before the target"
        );
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
            fuse(&ops, |_| None)[0],
            Fused::IntPush {
                a: 0,
                k: 1,
                op: Bin::Add
            }
        );
    }

    #[test]
    fn fuses_stack_top_with_an_immediate() {
        let ops = [
            Op::GetSlot(0),     // 0
            Op::LoadInt(3),     // 1
            Op::Mod,            // 2
            Op::LoadInt(0),     // 3
            Op::NumEq,          // 4
            Op::JumpIfFalse(7), // 5
            Op::Nop,            // 6
        ];
        let f = fuse(&ops, |_| None);
        assert_eq!(
            f[0],
            Fused::IntPush {
                a: 0,
                k: 3,
                op: Bin::Mod
            }
        );
        assert_eq!(
            f[3],
            Fused::TopBranch {
                k: 0,
                op: Bin::Eq,
                br: Branch {
                    on_true: 6,
                    on_false: 7
                }
            }
        );
    }

    #[test]
    fn wide_immediates_are_not_fused() {
        let ops = [
            Op::GetSlot(0),
            Op::LoadInt(1 << 40),
            Op::Add,
            Op::SetSlot(1),
        ];
        let f = fuse(&ops, |_| None);
        assert_eq!(f[0], Fused::PushSlot { s: 0 });
        assert_eq!(
            f[1],
            Fused::PushInt { k: 1 << 40 },
            "a wide push moves alone"
        );
        assert_eq!(f[2], Fused::StackStore { op: Bin::Add, d: 1 });
    }

    #[test]
    fn jumps_into_other_groups_are_gotos() {
        let ops = [
            Op::Jump(3),    // 0: forward, into a store group
            Op::GetSlot(1), // 1
            Op::Pop,        // 2
            Op::GetSlot(0), // 3
            Op::LoadInt(1), // 4
            Op::Add,        // 5
            Op::SetSlot(0), // 6
            Op::Jump(3),    // 7: backward
            Op::Jump(2),    // 8: into an op outside the table
        ];
        let f = fuse(&ops, |_| None);
        assert_eq!(f[0], Fused::Goto { to: 3 });
        assert_eq!(f[7], Fused::Goto { to: 3 });
        assert_eq!(f[8], Fused::None);
        let forward = forward_only(&f);
        assert_eq!(forward[0], Fused::Goto { to: 3 });
        assert_eq!(forward[7], Fused::None, "back-edges stay countable");
    }

    #[test]
    fn gotos_chained_backward_into_a_dead_end_run_alone() {
        // Each jump targets the one before it; the first leads into `Pop`.
        let mut ops = vec![Op::Pop, Op::Jump(0)];
        for ip in 2..2_000 {
            ops.push(Op::Jump(ip - 1));
        }
        let f = fuse(&ops, |_| None);
        assert!(f.iter().all(|g| *g == Fused::None), "a goto leads nowhere");
        // Ending in a store that loops back to itself, every goto stays.
        ops[0] = Op::SetSlot(0);
        let f = fuse(&ops, |_| None);
        assert_eq!(f[0], Fused::StoreTop { d: 0 });
        assert!(f[1..].iter().all(|g| matches!(g, Fused::Goto { .. })));
    }

    #[test]
    fn lone_moves_and_stack_arithmetic_are_groups() {
        let ops = [
            Op::GetSlot(3),     // 0
            Op::SetSlot(4),     // 1
            Op::LoadFloat(0.5), // 2
            Op::LoadConst(0),   // 3
            Op::Mul,            // 4
            Op::SetSlot(5),     // 5 (a jump target: a store of its own)
            Op::GetSlot(0),     // 6
            Op::LoadInt(1),     // 7
            Op::Add,            // 8
            Op::SetSlot(0),     // 9
            Op::JumpIfFalse(5), // 10
            Op::GetSlot(1),     // 11
            Op::Pop,            // 12
        ];
        let f = fuse(&ops, |_| None);
        assert_eq!(f[0], Fused::Move { s: 3, d: 4 });
        assert_eq!(f[2], Fused::PushFloat { k: 0.5 });
        assert_eq!(f[3], Fused::PushConst { c: 0 });
        assert_eq!(f[4], Fused::StackPush { op: Bin::Mul });
        assert_eq!(f[5], Fused::StoreTop { d: 5 });
        assert_eq!(
            f[11],
            Fused::None,
            "a push leading only into Pop runs alone"
        );
        assert_eq!(f[12], Fused::None, "ops outside the table run alone");
    }

    #[test]
    fn calls_and_returns_are_groups_off_the_tracing_path() {
        let ops = [
            Op::GetSlot(0),  // 0
            Op::Call(7, 1),  // 1 (name 7 enters at 4)
            Op::Call(8, 0),  // 2 (name 8 is no subroutine)
            Op::Return,      // 3
            Op::SetSlot(0),  // 4
            Op::GetSlot(0),  // 5
            Op::ReturnValue, // 6
        ];
        let f = fuse(&ops, |n| (n == 7).then_some(4));
        assert_eq!(f[0], Fused::PushSlot { s: 0 });
        assert_eq!(f[1], Fused::Call { entry: 4, argc: 1 });
        assert_eq!(f[2], Fused::None, "an unresolved callee runs alone");
        assert_eq!(f[3], Fused::Ret { value: false });
        assert_eq!(f[4], Fused::StoreTop { d: 0 });
        assert_eq!(f[6], Fused::Ret { value: true });
        // Under the tracing JIT or a step budget calls are counted or
        // charged on the single-op path.
        let forward = forward_only(&f);
        assert_eq!(forward[1], Fused::None);
        assert_eq!(forward[6], Fused::None);
    }
}
