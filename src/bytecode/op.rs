//! The instruction set.
//!
//! Every op is declared once, in the table at the bottom of this file. The
//! table generates the `Op` enum, each op's mnemonic (the text format uses the
//! variant name), its **stable opcode byte** (the content hash and the binary
//! encoding depend on it: codes are never reused or renumbered), and the kinds
//! of its operands, which tell the assembler and disassembler how to spell
//! them (labels for jump targets, identifiers for names, literals for
//! constants).
//!
//! Binary ops pop `b` (top) then `a` and push `a OP b`. The semantics of each
//! op live in [`crate::interp`]; the docs here say what it does to the stack.

use std::fmt;

/// How an operand is spelled and checked; one kind per operand position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OperandKind {
    /// An `i64` immediate.
    Int,
    /// An `f64` immediate.
    Float,
    /// An `i32` loop limit of a fused op.
    Lim,
    /// A frame slot index (`u16`).
    Slot,
    /// A name-pool index (`u16`): globals, subroutines, global containers.
    Name,
    /// A constant-pool index (`u16`).
    Const,
    /// A jump target: an op index in `0..=ops.len()`.
    Target,
    /// A small count (`u8`): arguments, printed values.
    Count,
    /// A 16-bit count of stack values (`MakeArray`, `MakeHash`).
    Count16,
    /// A builtin or extension id (`u16`).
    Id,
    /// An inline byte operand of `Extended`.
    Byte,
    /// A wide (`usize`) payload of `ExtendedWide`.
    Wide,
}

/// One operand value, as the assembler builds it and the disassembler reads it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Operand {
    /// Any integral operand (indices, counts, immediates, targets).
    Int(i64),
    /// A float immediate.
    Float(f64),
}

/// The operands of one op, in order (no op has more than four).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Operands {
    items: [Option<(OperandKind, Operand)>; 4],
    len: usize,
}

/// Consistent with `==`: the opcode and each operand, a float immediate by
/// value (`0.0` and `-0.0` hash alike, as they compare equal).
impl std::hash::Hash for Op {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.code().hash(state);
        for (_, value) in self.operands().iter() {
            match value {
                Operand::Int(v) => v.hash(state),
                Operand::Float(x) => (if x == 0.0 { 0 } else { x.to_bits() }).hash(state),
            }
        }
    }
}

impl Operands {
    fn push(&mut self, kind: OperandKind, value: Operand) {
        self.items[self.len] = Some((kind, value));
        self.len += 1;
    }

    /// Iterates over `(kind, value)` pairs in operand order.
    pub fn iter(&self) -> impl Iterator<Item = (OperandKind, Operand)> + '_ {
        self.items[..self.len].iter().flatten().copied()
    }

    /// Number of operands.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for ops without operands.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Why a byte sequence is not a valid op encoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad op encoding at byte {at}: {reason}")]
pub struct DecodeError {
    /// Byte offset where decoding failed.
    pub at: usize,
    /// What was wrong.
    pub reason: String,
}

// ── operand plumbing used by the generated code ──────────────────────────────

/// An operand field's Rust type: converts to/from [`Operand`] and bytes.
trait Field: Sized + Copy {
    fn to_operand(self) -> Operand;
    fn from_operand(o: Operand) -> Option<Self>;
    fn encode(self, out: &mut Vec<u8>);
    fn decode(bytes: &[u8], pos: &mut usize) -> Result<Self, DecodeError>;
}

fn take<const N: usize>(bytes: &[u8], pos: &mut usize) -> Result<[u8; N], DecodeError> {
    let end = pos.checked_add(N).filter(|&e| e <= bytes.len());
    let Some(end) = end else {
        return Err(DecodeError {
            at: *pos,
            reason: "truncated operand".into(),
        });
    };
    let mut buf = [0u8; N];
    buf.copy_from_slice(&bytes[*pos..end]);
    *pos = end;
    Ok(buf)
}

macro_rules! int_field {
    ($($t:ty),*) => {$(
        impl Field for $t {
            fn to_operand(self) -> Operand {
                Operand::Int(self as i64)
            }
            fn from_operand(o: Operand) -> Option<Self> {
                match o {
                    Operand::Int(v) => <$t>::try_from(v).ok(),
                    Operand::Float(_) => None,
                }
            }
            fn encode(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            fn decode(bytes: &[u8], pos: &mut usize) -> Result<Self, DecodeError> {
                Ok(<$t>::from_le_bytes(take(bytes, pos)?))
            }
        }
    )*};
}
int_field!(i64, i32, u16, u8);

impl Field for usize {
    fn to_operand(self) -> Operand {
        Operand::Int(self as i64)
    }
    fn from_operand(o: Operand) -> Option<Self> {
        match o {
            Operand::Int(v) => usize::try_from(v).ok(),
            Operand::Float(_) => None,
        }
    }
    // Always eight bytes, so encodings (and hashes) agree across pointer widths.
    fn encode(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&(self as u64).to_le_bytes());
    }
    fn decode(bytes: &[u8], pos: &mut usize) -> Result<Self, DecodeError> {
        let at = *pos;
        let v = u64::from_le_bytes(take(bytes, pos)?);
        usize::try_from(v).map_err(|_| DecodeError {
            at,
            reason: "payload does not fit usize".into(),
        })
    }
}

impl Field for f64 {
    fn to_operand(self) -> Operand {
        Operand::Float(self)
    }
    fn from_operand(o: Operand) -> Option<Self> {
        match o {
            Operand::Float(v) => Some(v),
            Operand::Int(v) => Some(v as f64),
        }
    }
    // Bits, not value: -0.0 and every NaN payload survive.
    fn encode(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_bits().to_le_bytes());
    }
    fn decode(bytes: &[u8], pos: &mut usize) -> Result<Self, DecodeError> {
        Ok(f64::from_bits(u64::from_le_bytes(take(bytes, pos)?)))
    }
}

macro_rules! operand_ty {
    (Int) => {
        i64
    };
    (Float) => {
        f64
    };
    (Lim) => {
        i32
    };
    (Slot) => {
        u16
    };
    (Name) => {
        u16
    };
    (Const) => {
        u16
    };
    (Target) => {
        usize
    };
    (Count) => {
        u8
    };
    (Count16) => {
        u16
    };
    (Id) => {
        u16
    };
    (Byte) => {
        u8
    };
    (Wide) => {
        usize
    };
}

macro_rules! define_ops {
    ( $(
        $(#[$doc:meta])*
        $name:ident $( ( $( $f:ident : $k:ident ),+ ) )? = $code:literal ;
    )* ) => {
        /// One bytecode instruction. Variant names and operand types follow
        /// fusevm's `Op` for the core set; see the module docs for encoding.
        ///
        /// Serde gives each op as its variant with its operands (as fusevm's
        /// derived form does); a chunk serializes its ops in the compact
        /// binary encoding instead.
        #[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
        pub enum Op {
            $( $(#[$doc])* $name $( ( $( operand_ty!($k) ),+ ) )?, )*
        }

        impl Op {
            /// Every mnemonic, in opcode order.
            pub const MNEMONICS: &'static [&'static str] = &[ $( stringify!($name) ),* ];

            /// The op's mnemonic (its variant name), as used by the text format.
            pub fn mnemonic(&self) -> &'static str {
                match self { $( Op::$name { .. } => stringify!($name), )* }
            }

            /// The op's stable opcode byte.
            pub fn code(&self) -> u8 {
                match self { $( Op::$name { .. } => $code, )* }
            }

            /// The operand kinds an op with this mnemonic takes, or `None` for
            /// an unknown mnemonic.
            pub fn operand_kinds(mnemonic: &str) -> Option<&'static [OperandKind]> {
                match mnemonic {
                    $( stringify!($name) => Some(&[ $( $( OperandKind::$k ),+ )? ]), )*
                    _ => None,
                }
            }

            /// The op's operands with their kinds.
            #[allow(unused_mut)]
            pub fn operands(&self) -> Operands {
                let mut o = Operands::default();
                match *self {
                    $( Op::$name $( ( $( $f ),+ ) )? => {
                        $( $( o.push(OperandKind::$k, Field::to_operand($f)); )+ )?
                    } )*
                }
                o
            }

            /// Builds an op from its mnemonic and operands, checking count and range.
            #[allow(unused_mut, unused_variables)]
            pub fn from_operands(mnemonic: &str, operands: &[Operand]) -> Result<Op, String> {
                let kinds = Op::operand_kinds(mnemonic)
                    .ok_or_else(|| format!("unknown op `{mnemonic}`"))?;
                if kinds.len() != operands.len() {
                    return Err(format!(
                        "`{mnemonic}` takes {} operand(s), got {}",
                        kinds.len(),
                        operands.len()
                    ));
                }
                let mut it = operands.iter().copied().zip(kinds.iter().copied());
                fn conv<T: Field>(pair: Option<(Operand, OperandKind)>) -> Result<T, String> {
                    let (v, k) = pair.expect("operand count checked above");
                    T::from_operand(v).ok_or_else(|| format!("operand {v:?} out of range for {k:?}"))
                }
                Ok(match mnemonic {
                    $( stringify!($name) => Op::$name $( ( $( conv::<operand_ty!($k)>(it.next())? ),+ ) )?, )*
                    _ => unreachable!("mnemonic checked above"),
                })
            }

            /// Appends the op's stable binary encoding: opcode byte, then each
            /// operand little-endian (floats by bits, `usize` as eight bytes).
            pub fn encode(&self, out: &mut Vec<u8>) {
                out.push(self.code());
                match *self {
                    $( Op::$name $( ( $( $f ),+ ) )? => {
                        $( $( Field::encode($f, out); )+ )?
                    } )*
                }
            }

            /// Decodes one op at `*pos`, advancing it.
            pub fn decode(bytes: &[u8], pos: &mut usize) -> Result<Op, DecodeError> {
                let at = *pos;
                let code = *bytes.get(at).ok_or(DecodeError { at, reason: "truncated op".into() })?;
                *pos += 1;
                Ok(match code {
                    $( $code => Op::$name $( ( $( <operand_ty!($k) as Field>::decode(bytes, pos)? ),+ ) )?, )*
                    other => return Err(DecodeError { at, reason: format!("unknown opcode {other}") }),
                })
            }
        }
    };
}

impl Op {
    /// The global this op reads or writes, by name index, if any (every
    /// name operand but a `Call`'s, which names a subroutine).
    pub fn global(&self) -> Option<u16> {
        if matches!(self, Op::Call(..)) {
            return None;
        }
        self.operands()
            .iter()
            .find_map(|(kind, v)| match (kind, v) {
                (OperandKind::Name, Operand::Int(n)) => u16::try_from(n).ok(),
                _ => None,
            })
    }

    /// The jump target of a control-flow op, if it has one.
    pub fn jump_target(&self) -> Option<usize> {
        match *self {
            Op::Jump(t)
            | Op::JumpIfTrue(t)
            | Op::JumpIfFalse(t)
            | Op::JumpIfTrueKeep(t)
            | Op::JumpIfFalseKeep(t)
            | Op::SlotLtIntJumpIfFalse(_, _, t)
            | Op::SlotIncLtIntJumpBack(_, _, t) => Some(t),
            _ => None,
        }
    }

    /// Replaces the jump target of a control-flow op; false if it has none.
    pub fn set_jump_target(&mut self, target: usize) -> bool {
        match self {
            Op::Jump(t)
            | Op::JumpIfTrue(t)
            | Op::JumpIfFalse(t)
            | Op::JumpIfTrueKeep(t)
            | Op::JumpIfFalseKeep(t)
            | Op::SlotLtIntJumpIfFalse(_, _, t)
            | Op::SlotIncLtIntJumpBack(_, _, t) => {
                *t = target;
                true
            }
            _ => false,
        }
    }
}

impl fmt::Display for Op {
    /// Raw form: mnemonic and numeric operands (the disassembler prints labels
    /// and literals instead).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.mnemonic())?;
        for (_, v) in self.operands().iter() {
            match v {
                Operand::Int(i) => write!(f, " {i}")?,
                Operand::Float(x) => write!(f, " {x:?}")?,
            }
        }
        Ok(())
    }
}

define_ops! {
    // ── constants and stack ──
    /// Does nothing.
    Nop = 0;
    /// Push an integer.
    LoadInt(v: Int) = 1;
    /// Push a float.
    LoadFloat(v: Float) = 2;
    /// Push constant-pool entry `c`.
    LoadConst(c: Const) = 3;
    /// Push `true`.
    LoadTrue = 4;
    /// Push `false`.
    LoadFalse = 5;
    /// Push `undef`.
    LoadUndef = 6;
    /// Discard the top value.
    Pop = 7;
    /// Duplicate the top value.
    Dup = 8;
    /// Duplicate the top two values: `a b → a b a b`.
    Dup2 = 9;
    /// Swap the top two values.
    Swap = 10;
    /// Rotate the top three: `a b c → b c a`.
    Rot = 11;

    // ── variables ──
    /// Push global `n`.
    GetVar(n: Name) = 12;
    /// Pop into global `n`.
    SetVar(n: Name) = 13;
    /// Pop into global `n` (declaration; same effect as `SetVar`).
    DeclareVar(n: Name) = 14;
    /// Push slot `s` of the current frame (`undef` if never written).
    GetSlot(s: Slot) = 15;
    /// Pop into slot `s` of the current frame (the frame grows to fit).
    SetSlot(s: Slot) = 16;
    /// `[index] → element` of the array held in slot `s`.
    SlotArrayGet(s: Slot) = 17;
    /// `[value, index] →` sets an element of the array held in slot `s`.
    SlotArraySet(s: Slot) = 18;

    // ── global arrays (by name) ──
    /// Push the whole array global `n`.
    GetArray(n: Name) = 20;
    /// Pop an array into global `n`.
    SetArray(n: Name) = 21;
    /// Make global `n` an empty array.
    DeclareArray(n: Name) = 22;
    /// `[index] → element` of array global `n`.
    ArrayGet(n: Name) = 23;
    /// `[value, index] →` sets an element of array global `n`.
    ArraySet(n: Name) = 24;
    /// `[value] →` appends to array global `n`.
    ArrayPush(n: Name) = 25;
    /// Removes and pushes the last element (`undef` when empty).
    ArrayPop(n: Name) = 26;
    /// Removes and pushes the first element (`undef` when empty).
    ArrayShift(n: Name) = 27;
    /// Pushes the length of array global `n`.
    ArrayLen(n: Name) = 28;
    /// Pops `k` values and pushes them as an array (first pushed is element 0).
    MakeArray(k: Count16) = 29;

    // ── global hashes (by name) ──
    /// Push the whole hash global `n`.
    GetHash(n: Name) = 30;
    /// Pop a hash into global `n`.
    SetHash(n: Name) = 31;
    /// Make global `n` an empty hash.
    DeclareHash(n: Name) = 32;
    /// `[key] → value` of hash global `n` (`undef` when absent).
    HashGet(n: Name) = 33;
    /// `[value, key] →` stores into hash global `n`.
    HashSet(n: Name) = 34;
    /// `[key] → removed value` (`undef` when absent).
    HashDelete(n: Name) = 35;
    /// `[key] → Bool`.
    HashExists(n: Name) = 36;
    /// Pushes the keys of hash global `n` as an array, in sorted order.
    HashKeys(n: Name) = 37;
    /// Pushes the values of hash global `n` as an array, in key order.
    HashValues(n: Name) = 38;
    /// Pops `k` values, key/value pairs (`k1 v1 k2 v2 …`; an odd last key
    /// has no value and is dropped), and pushes a hash.
    MakeHash(k: Count16) = 39;

    // ── arithmetic ──
    /// `a + b`.
    Add = 40;
    /// `a - b`.
    Sub = 41;
    /// `a * b`.
    Mul = 42;
    /// `a / b`, always a float; `undef` for a zero divisor.
    Div = 43;
    /// `a % b`: truncated on ints (zero divisor → 0), fmod on floats.
    Mod = 44;
    /// `a ** b`, always a float.
    Pow = 45;
    /// `-a`.
    Negate = 46;
    /// `a + 1` (see the interpreter for non-numeric operands).
    Inc = 47;
    /// `a - 1`.
    Dec = 48;

    // ── strings ──
    /// String concatenation.
    Concat = 50;
    /// `[string, count] →` the string repeated `count` times.
    StringRepeat = 51;
    /// A string's length in bytes (UTF-8), an array's or hash's number of
    /// elements, else the byte length of the value's string form.
    StringLen = 52;

    // ── numeric comparison (→ Bool) ──
    /// `a == b`.
    NumEq = 55;
    /// `a != b`.
    NumNe = 56;
    /// `a < b`.
    NumLt = 57;
    /// `a > b`.
    NumGt = 58;
    /// `a <= b`.
    NumLe = 59;
    /// `a >= b`.
    NumGe = 60;
    /// `a <=> b` → Int −1, 0 or 1 (NaN → 0).
    Spaceship = 61;

    // ── string comparison ──
    /// String `eq`.
    StrEq = 65;
    /// String `ne`.
    StrNe = 66;
    /// String `lt`.
    StrLt = 67;
    /// String `gt`.
    StrGt = 68;
    /// String `le`.
    StrLe = 69;
    /// String `ge`.
    StrGe = 70;
    /// String `cmp` → Int −1, 0 or 1.
    StrCmp = 71;

    // ── logic and bits ──
    /// `!a` → Bool.
    LogNot = 75;
    /// `a && b` (both evaluated) → Bool.
    LogAnd = 76;
    /// `a || b` (both evaluated) → Bool.
    LogOr = 77;
    /// Bitwise and.
    BitAnd = 78;
    /// Bitwise or.
    BitOr = 79;
    /// Bitwise xor.
    BitXor = 80;
    /// Bitwise not.
    BitNot = 81;
    /// `a << (b & 63)`.
    Shl = 82;
    /// `a >> (b & 63)`, arithmetic.
    Shr = 83;

    // ── control flow ──
    /// Jump to op `t`.
    Jump(t: Target) = 90;
    /// Pop; jump if truthy.
    JumpIfTrue(t: Target) = 91;
    /// Pop; jump if falsy.
    JumpIfFalse(t: Target) = 92;
    /// Peek (never pop); jump if truthy.
    JumpIfTrueKeep(t: Target) = 93;
    /// Peek (never pop); jump if falsy.
    JumpIfFalseKeep(t: Target) = 94;

    // ── calls and frames ──
    /// Call the subroutine named `n`; its `argc` arguments stay on the stack
    /// and belong to the callee's frame.
    Call(n: Name, argc: Count) = 100;
    /// Pop a callee (Int name index, Str name, or NativeFn builtin id) and
    /// call it with the `argc` values below it.
    CallDynamic(argc: Count) = 101;
    /// Return: drop the frame's stack values, push nothing.
    Return = 102;
    /// Return the top value: drop the frame's stack values, push the result.
    ReturnValue = 103;
    /// Open a scope frame with fresh slots.
    PushFrame = 104;
    /// Close the innermost scope frame: its slots go, and the stack is cut
    /// back to the depth it had when the scope opened.
    PopFrame = 105;

    // ── I/O ──
    /// Pop `k` values and write them (first pushed first) to the output.
    Print(k: Count) = 110;
    /// Like `Print`, then a newline.
    PrintLn(k: Count) = 111;
    /// Push the next input line without its newline (`undef` at end of input).
    ReadLine = 112;

    // ── ranges ──
    /// `[from, to] →` array of the integers `from..=to`.
    Range = 115;
    /// `[from, to, step] →` array of `from, from+step, …` up to `to`.
    RangeStep = 116;

    // ── fused superinstructions ──
    /// `++slot`, pushes the new value.
    PreIncSlot(s: Slot) = 120;
    /// `++slot`, pushes nothing.
    PreIncSlotVoid(s: Slot) = 121;
    /// `--slot`, pushes the new value.
    PreDecSlot(s: Slot) = 122;
    /// `slot++`, pushes the old value.
    PostIncSlot(s: Slot) = 123;
    /// `slot--`, pushes the old value.
    PostDecSlot(s: Slot) = 124;
    /// `slot a += slot b`, pushes nothing.
    AddAssignSlotVoid(a: Slot, b: Slot) = 125;
    /// `if !(slot s < lim) goto t`.
    SlotLtIntJumpIfFalse(s: Slot, lim: Lim, t: Target) = 126;
    /// `++slot s; if slot s < lim goto t` (a loop back-edge).
    SlotIncLtIntJumpBack(s: Slot, lim: Lim, t: Target) = 127;
    /// `while slot i < lim { slot sum += slot i; ++slot i }`.
    AccumSumLoop(sum: Slot, i: Slot, lim: Lim) = 128;
    /// `while slot i < lim { slot s .= constant c; ++slot i }`.
    ConcatConstLoop(c: Const, s: Slot, i: Slot, lim: Lim) = 129;
    /// `while slot i < lim { push slot i onto array global arr; ++slot i }`.
    PushIntRangeLoop(arr: Name, i: Slot, lim: Lim) = 130;
    /// `[a, b, k] → (a * b) mod k`, exact (i128) and floored on ints.
    MulModFloor = 131;
    /// `[a, b, c, k] → (a * b + c) mod k`, exact (i128) and floored on ints.
    MulAddModFloor = 132;

    // ── math ──
    /// Square root.
    SqrtFloat = 140;
    /// Sine.
    SinFloat = 141;
    /// Cosine.
    CosFloat = 142;
    /// Tangent.
    TanFloat = 143;
    /// `e^a`.
    ExpFloat = 144;
    /// Natural logarithm.
    LogFloat = 145;
    /// Base-2 logarithm.
    Log2Float = 146;
    /// Base-10 logarithm.
    Log10Float = 147;
    /// Absolute value (float).
    AbsFloat = 148;
    /// Round toward −∞ (float).
    FloorFloat = 149;
    /// Round toward +∞ (float).
    CeilFloat = 150;
    /// Round toward zero (float).
    TruncFloat = 151;
    /// Round half away from zero (float).
    RoundFloat = 152;
    /// `a.powf(b)`.
    PowFloat = 153;
    /// `atan2(a, b)`.
    Atan2Float = 154;
    /// Absolute value (int, wrapping).
    AbsInt = 155;
    /// Greatest common divisor (int).
    GcdInt = 156;
    /// Least common multiple (int, wrapping).
    LcmInt = 157;
    /// Convert to Int (truncating, saturating, NaN → 0).
    TruncInt = 158;
    /// Arcsine.
    AsinFloat = 159;
    /// Arccosine.
    AcosFloat = 160;
    /// Arctangent (one argument).
    AtanFloat = 161;
    /// Hyperbolic sine.
    SinhFloat = 162;
    /// Hyperbolic cosine.
    CoshFloat = 163;
    /// Hyperbolic tangent.
    TanhFloat = 164;

    // ── reserved for a frontend's higher-order blocks ──
    /// fusevm's `map` over a block (an index into `block_ranges`): does
    /// nothing here, as in fusevm's VM; a frontend lowers map itself.
    MapBlock(block: Id) = 165;
    /// fusevm's `grep` over a block: does nothing (see `MapBlock`).
    GrepBlock(block: Id) = 166;
    /// fusevm's `sort` with a block: does nothing (see `MapBlock`).
    SortBlock(block: Id) = 167;
    /// fusevm's default `sort`: does nothing (see `MapBlock`).
    SortDefault = 168;
    /// fusevm's `foreach` over a block: does nothing (see `MapBlock`).
    ForEachBlock(block: Id) = 169;

    // ── host extension points ──
    /// Call builtin `id` with `argc` arguments; pushes its result.
    CallBuiltin(id: Id, argc: Count) = 170;
    /// Frontend-defined op `id` with an inline byte operand.
    Extended(id: Id, arg: Byte) = 171;
    /// Frontend-defined op `id` with a wide payload.
    ExtendedWide(id: Id, payload: Wide) = 172;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn op_is_sixteen_bytes() {
        assert_eq!(std::mem::size_of::<Op>(), 16);
    }

    #[test]
    fn opcodes_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for m in Op::MNEMONICS {
            let kinds = Op::operand_kinds(m).unwrap();
            let zeros: Vec<Operand> = kinds.iter().map(|_| Operand::Int(0)).collect();
            let op = Op::from_operands(m, &zeros).unwrap();
            assert!(seen.insert(op.code()), "duplicate opcode for {m}");
        }
    }

    #[test]
    fn encode_decode_round_trips_every_op() {
        for m in Op::MNEMONICS {
            let kinds = Op::operand_kinds(m).unwrap();
            let vals: Vec<Operand> = kinds
                .iter()
                .map(|k| match k {
                    OperandKind::Float => Operand::Float(-0.0),
                    _ => Operand::Int(7),
                })
                .collect();
            let op = Op::from_operands(m, &vals).unwrap();
            let mut bytes = Vec::new();
            op.encode(&mut bytes);
            let mut pos = 0;
            let back = Op::decode(&bytes, &mut pos).unwrap();
            assert_eq!(pos, bytes.len());
            let mut again = Vec::new();
            back.encode(&mut again);
            assert_eq!(bytes, again, "{m}");
        }
    }

    #[test]
    fn decode_rejects_truncation_and_unknown_codes() {
        let mut bytes = Vec::new();
        Op::LoadInt(5).encode(&mut bytes);
        bytes.pop();
        assert!(Op::decode(&bytes, &mut 0).is_err());
        assert!(Op::decode(&[255], &mut 0).is_err());
        assert!(Op::decode(&[], &mut 0).is_err());
    }

    #[test]
    fn from_operands_checks_range_and_count() {
        assert!(Op::from_operands("GetSlot", &[Operand::Int(70_000)]).is_err());
        assert!(Op::from_operands("GetSlot", &[]).is_err());
        assert!(Op::from_operands("Frobnicate", &[]).is_err());
        assert_eq!(
            Op::from_operands("Call", &[Operand::Int(3), Operand::Int(2)]),
            Ok(Op::Call(3, 2))
        );
    }
}
