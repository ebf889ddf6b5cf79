//! The semantics of the value-computing ops, defined once.
//!
//! The interpreter calls these; the native tiers lower the same rules (and
//! call these functions as runtime helpers where they do not specialise), so
//! this file *is* the reference every tier is tested against (SPEC §2.1).
//!
//! Promotion: Int ⊕ Int takes the integer path (wrapping); anything else goes
//! through `to_float`. The Int/Int case of the hot binary ops is
//! `#[inline(always)]` and the rest lives in a cold function, so the
//! interpreter's fast path stays a couple of instructions.

use crate::bytecode::value::Value;
use std::cmp::Ordering;

macro_rules! int_or_float {
    ($(#[$doc:meta])* $name:ident, $slow:ident, $int:expr, $float:expr) => {
        $(#[$doc])*
        #[inline(always)]
        pub fn $name(a: &Value, b: &Value) -> Value {
            match (a, b) {
                (Value::Int(x), Value::Int(y)) => Value::Int($int(*x, *y)),
                _ => $slow(a, b),
            }
        }
        #[cold]
        #[inline(never)]
        fn $slow(a: &Value, b: &Value) -> Value {
            Value::Float($float(a.to_float(), b.to_float()))
        }
    };
}

int_or_float!(
    /// `a + b`: wrapping on ints, else f64.
    add, add_slow, i64::wrapping_add, |x: f64, y: f64| x + y
);
int_or_float!(
    /// `a - b`: wrapping on ints, else f64.
    sub, sub_slow, i64::wrapping_sub, |x: f64, y: f64| x - y
);
int_or_float!(
    /// `a * b`: wrapping on ints, else f64.
    mul, mul_slow, i64::wrapping_mul, |x: f64, y: f64| x * y
);
int_or_float!(
    /// `a % b`: truncated on ints (zero divisor → 0, `MIN % -1` → 0), fmod
    /// otherwise (`% 0.0` → NaN).
    modulo, modulo_slow, int_rem, |x: f64, y: f64| x % y
);

/// Integer remainder that never traps.
#[inline(always)]
pub fn int_rem(x: i64, y: i64) -> i64 {
    if y == 0 { 0 } else { x.wrapping_rem(y) }
}

/// `a / b`: always a float; a divisor equal to zero (either sign) → `Undef`.
#[inline]
pub fn div(a: &Value, b: &Value) -> Value {
    let d = b.to_float();
    if d == 0.0 {
        Value::Undef
    } else {
        Value::Float(a.to_float() / d)
    }
}

/// `a ** b`: always a float.
#[inline]
pub fn pow(a: &Value, b: &Value) -> Value {
    Value::Float(a.to_float().powf(b.to_float()))
}

/// `-a`: wrapping on ints, else f64 (−0.0 preserved).
#[inline]
pub fn negate(a: &Value) -> Value {
    match a {
        Value::Int(x) => Value::Int(x.wrapping_neg()),
        _ => Value::Float(-a.to_float()),
    }
}

/// `a + delta` for the increment family (`Inc`, `Dec` and the fused slot
/// ops): ints wrap, floats stay floats, anything else counts from its
/// integer form (so an unset slot becomes `Int 1`).
#[inline(always)]
pub fn step(a: &Value, delta: i64) -> Value {
    match a {
        Value::Int(x) => Value::Int(x.wrapping_add(delta)),
        Value::Float(x) => Value::Float(x + delta as f64),
        _ => Value::Int(a.to_int().wrapping_add(delta)),
    }
}

/// A numeric comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `>`
    Gt,
    /// `<=`
    Le,
    /// `>=`
    Ge,
}

/// Numeric comparison: i64 when both are Int, else IEEE f64 (NaN compares
/// false, and `!=` true).
#[inline(always)]
pub fn compare(op: Cmp, a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => compare_ints(op, *x, *y),
        _ => compare_coerced(op, a, b),
    }
}

#[cold]
#[inline(never)]
fn compare_coerced(op: Cmp, a: &Value, b: &Value) -> bool {
    compare_floats(op, a.to_float(), b.to_float())
}

/// The i64 half of [`compare`].
#[inline(always)]
pub fn compare_ints(op: Cmp, x: i64, y: i64) -> bool {
    compare_ordered(op, x, y)
}

/// The IEEE f64 half of [`compare`] (NaN compares false, `!=` true).
#[inline(always)]
pub fn compare_floats(op: Cmp, x: f64, y: f64) -> bool {
    compare_ordered(op, x, y)
}

/// The comparison table, for any `PartialOrd` (IEEE rules for floats).
#[inline(always)]
fn compare_ordered<T: PartialOrd>(op: Cmp, x: T, y: T) -> bool {
    match op {
        Cmp::Eq => x == y,
        Cmp::Ne => x != y,
        Cmp::Lt => x < y,
        Cmp::Gt => x > y,
        Cmp::Le => x <= y,
        Cmp::Ge => x >= y,
    }
}

fn ordering_int(o: Option<Ordering>) -> i64 {
    match o {
        Some(Ordering::Less) => -1,
        Some(Ordering::Greater) => 1,
        _ => 0,
    }
}

/// `a <=> b` → −1/0/1; NaN → 0.
pub fn spaceship(a: &Value, b: &Value) -> Value {
    Value::Int(match (a, b) {
        (Value::Int(x), Value::Int(y)) => ordering_int(Some(x.cmp(y))),
        _ => ordering_int(a.to_float().partial_cmp(&b.to_float())),
    })
}

/// String comparison of the string forms; `None` means `cmp` (→ −1/0/1).
pub fn str_compare(op: Option<Cmp>, a: &Value, b: &Value) -> Value {
    let (sa, sb);
    let (x, y): (&str, &str) = match (a, b) {
        (Value::Str(x), Value::Str(y)) => (x, y),
        _ => {
            sa = a.to_str();
            sb = b.to_str();
            (&sa, &sb)
        }
    };
    match op {
        None => Value::Int(ordering_int(Some(x.cmp(y)))),
        Some(Cmp::Eq) => Value::Bool(x == y),
        Some(Cmp::Ne) => Value::Bool(x != y),
        Some(Cmp::Lt) => Value::Bool(x < y),
        Some(Cmp::Gt) => Value::Bool(x > y),
        Some(Cmp::Le) => Value::Bool(x <= y),
        Some(Cmp::Ge) => Value::Bool(x >= y),
    }
}

/// A bitwise or shift op on the integer forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bits {
    /// `&`
    And,
    /// `|`
    Or,
    /// `^`
    Xor,
    /// `<<` (count `& 63`)
    Shl,
    /// `>>`, arithmetic (count `& 63`)
    Shr,
}

/// Bitwise ops and shifts; shift counts are masked with `& 63`.
#[inline]
pub fn bits(op: Bits, a: &Value, b: &Value) -> Value {
    let (x, y) = (a.to_int(), b.to_int());
    Value::Int(match op {
        Bits::And => x & y,
        Bits::Or => x | y,
        Bits::Xor => x ^ y,
        Bits::Shl => x.wrapping_shl((y & 63) as u32),
        Bits::Shr => x.wrapping_shr((y & 63) as u32),
    })
}

/// `a . b`: concatenation of the string forms.
pub fn concat(a: &Value, b: &Value) -> Value {
    let mut s = match a {
        Value::Str(x) => String::with_capacity(x.len() + 8),
        _ => String::new(),
    };
    a.write_str(&mut s);
    b.write_str(&mut s);
    Value::str(s)
}

/// A one-operand float function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unary {
    /// sqrt
    Sqrt,
    /// sin
    Sin,
    /// cos
    Cos,
    /// tan
    Tan,
    /// e^x
    Exp,
    /// ln
    Ln,
    /// log2
    Log2,
    /// log10
    Log10,
    /// |x|
    Abs,
    /// floor
    Floor,
    /// ceil
    Ceil,
    /// trunc
    Trunc,
    /// round half away from zero
    Round,
    /// asin
    Asin,
    /// acos
    Acos,
    /// atan
    Atan,
    /// sinh
    Sinh,
    /// cosh
    Cosh,
    /// tanh
    Tanh,
}

/// Applies a float function to the float form.
pub fn unary_float(f: Unary, a: &Value) -> Value {
    Value::Float(unary_f64(f, a.to_float()))
}

/// A float function on an `f64`.
pub fn unary_f64(f: Unary, x: f64) -> f64 {
    match f {
        Unary::Sqrt => x.sqrt(),
        Unary::Sin => x.sin(),
        Unary::Cos => x.cos(),
        Unary::Tan => x.tan(),
        Unary::Asin => x.asin(),
        Unary::Acos => x.acos(),
        Unary::Atan => x.atan(),
        Unary::Sinh => x.sinh(),
        Unary::Cosh => x.cosh(),
        Unary::Tanh => x.tanh(),
        Unary::Exp => x.exp(),
        Unary::Ln => x.ln(),
        Unary::Log2 => x.log2(),
        Unary::Log10 => x.log10(),
        Unary::Abs => x.abs(),
        Unary::Floor => x.floor(),
        Unary::Ceil => x.ceil(),
        Unary::Trunc => x.trunc(),
        Unary::Round => x.round(),
    }
}

/// Greatest common divisor of the integer forms (non-negative; `gcd(MIN, 0)`
/// wraps to `MIN`, the only value whose magnitude does not fit).
pub fn gcd(a: &Value, b: &Value) -> Value {
    Value::Int(gcd_i64(a.to_int(), b.to_int()))
}

/// [`gcd`] on integers.
pub fn gcd_i64(a: i64, b: i64) -> i64 {
    gcd_u64(a.unsigned_abs(), b.unsigned_abs()) as i64
}

fn gcd_u64(mut x: u64, mut y: u64) -> u64 {
    while y != 0 {
        (x, y) = (y, x % y);
    }
    x
}

/// Least common multiple of the integer forms (wrapping; 0 if either is 0).
pub fn lcm(a: &Value, b: &Value) -> Value {
    Value::Int(lcm_i64(a.to_int(), b.to_int()))
}

/// [`lcm`] on integers.
pub fn lcm_i64(a: i64, b: i64) -> i64 {
    let (x, y) = (a.unsigned_abs(), b.unsigned_abs());
    if x == 0 || y == 0 {
        return 0;
    }
    ((x / gcd_u64(x, y)).wrapping_mul(y)) as i64
}

/// Floored remainder of an exact `i128` by `k` (sign of the divisor); 0 for
/// `k == 0`. Always fits i64 because `|r| < |k|`.
pub fn floor_rem_i128(n: i128, k: i64) -> i64 {
    if k == 0 {
        return 0;
    }
    let k = k as i128;
    let r = n % k;
    (if r != 0 && ((r < 0) != (k < 0)) {
        r + k
    } else {
        r
    }) as i64
}

/// `(a * b) mod k`, exact and floored when all are Int; otherwise the
/// unfused `Mod(Mul(a, b), k)`.
pub fn mul_mod_floor(a: &Value, b: &Value, k: &Value) -> Value {
    match (a, b, k) {
        (Value::Int(x), Value::Int(y), Value::Int(k)) => {
            Value::Int(floor_rem_i128(*x as i128 * *y as i128, *k))
        }
        _ => modulo(&mul(a, b), k),
    }
}

/// `(a * b + c) mod k`, exact and floored when all are Int; otherwise the
/// unfused `Mod(Add(Mul(a, b), c), k)`.
pub fn mul_add_mod_floor(a: &Value, b: &Value, c: &Value, k: &Value) -> Value {
    match (a, b, c, k) {
        (Value::Int(x), Value::Int(y), Value::Int(z), Value::Int(k)) => {
            Value::Int(floor_rem_i128(*x as i128 * *y as i128 + *z as i128, *k))
        }
        _ => modulo(&add(&mul(a, b), c), k),
    }
}

// ── strings ──

/// The string-length limit was exceeded.
pub const STRING_TOO_LONG: &str = "string would exceed the string size limit";

/// `a x count`: the string form of `a` repeated (a negative count gives the
/// empty string); `Err` past `max_len` bytes.
pub fn repeat(a: &Value, count: &Value, max_len: usize) -> Result<Value, &'static str> {
    let s = a.to_str();
    let count = count.to_int().max(0) as u128;
    if s.len() as u128 * count > max_len as u128 {
        return Err(STRING_TOO_LONG);
    }
    Ok(Value::str(s.repeat(count as usize)))
}

/// `StringLen`: a string's length in bytes (UTF-8, as in fusevm: 6 for
/// "héllo"), an array's or hash's number of elements, else the byte length
/// of the value's string form.
pub fn string_len(a: &Value) -> Value {
    Value::Int(a.len() as i64)
}

/// `atan2(a, b)` on the float forms.
pub fn atan2(a: &Value, b: &Value) -> Value {
    Value::Float(a.to_float().atan2(b.to_float()))
}

// ── ops as functions of their operands ──

/// The value a pure op (one that pops `args`, pushes one value and touches
/// nothing else) leaves on the stack; `None` for every other op. Native
/// tiers call this for operands they don't specialise (a string in an
/// arithmetic op, a concatenation), so it must agree with the dispatch
/// loop, which calls the same functions.
pub fn apply(
    op: &crate::bytecode::op::Op,
    args: &[Value],
    consts: &[Value],
    max_string_len: usize,
) -> Option<Result<Value, &'static str>> {
    use crate::bytecode::op::Op::*;
    let a = |k: usize| args.get(k).unwrap_or(&Value::Undef);
    let cmp = |c: Cmp| Value::Bool(compare(c, a(0), a(1)));
    let v = match *op {
        LoadConst(c) => consts.get(c as usize)?.clone(),
        Add => add(a(0), a(1)),
        Sub => sub(a(0), a(1)),
        Mul => mul(a(0), a(1)),
        Div => div(a(0), a(1)),
        Mod => modulo(a(0), a(1)),
        Pow | PowFloat => pow(a(0), a(1)),
        Atan2Float => atan2(a(0), a(1)),
        Negate => negate(a(0)),
        Inc => step(a(0), 1),
        Dec => step(a(0), -1),
        NumEq => cmp(Cmp::Eq),
        NumNe => cmp(Cmp::Ne),
        NumLt => cmp(Cmp::Lt),
        NumGt => cmp(Cmp::Gt),
        NumLe => cmp(Cmp::Le),
        NumGe => cmp(Cmp::Ge),
        Spaceship => spaceship(a(0), a(1)),
        StrEq => str_compare(Some(Cmp::Eq), a(0), a(1)),
        StrNe => str_compare(Some(Cmp::Ne), a(0), a(1)),
        StrLt => str_compare(Some(Cmp::Lt), a(0), a(1)),
        StrGt => str_compare(Some(Cmp::Gt), a(0), a(1)),
        StrLe => str_compare(Some(Cmp::Le), a(0), a(1)),
        StrGe => str_compare(Some(Cmp::Ge), a(0), a(1)),
        StrCmp => str_compare(None, a(0), a(1)),
        LogNot => Value::Bool(!a(0).is_truthy()),
        LogAnd => Value::Bool(a(0).is_truthy() && a(1).is_truthy()),
        LogOr => Value::Bool(a(0).is_truthy() || a(1).is_truthy()),
        BitAnd => bits(Bits::And, a(0), a(1)),
        BitOr => bits(Bits::Or, a(0), a(1)),
        BitXor => bits(Bits::Xor, a(0), a(1)),
        Shl => bits(Bits::Shl, a(0), a(1)),
        Shr => bits(Bits::Shr, a(0), a(1)),
        BitNot => Value::Int(!a(0).to_int()),
        Concat => {
            let v = concat(a(0), a(1));
            if matches!(&v, Value::Str(s) if s.len() > max_string_len) {
                return Some(Err(STRING_TOO_LONG));
            }
            v
        }
        StringRepeat => return Some(repeat(a(0), a(1), max_string_len)),
        StringLen => string_len(a(0)),
        MulModFloor => mul_mod_floor(a(0), a(1), a(2)),
        MulAddModFloor => mul_add_mod_floor(a(0), a(1), a(2), a(3)),
        SqrtFloat => unary_float(Unary::Sqrt, a(0)),
        SinFloat => unary_float(Unary::Sin, a(0)),
        CosFloat => unary_float(Unary::Cos, a(0)),
        TanFloat => unary_float(Unary::Tan, a(0)),
        AsinFloat => unary_float(Unary::Asin, a(0)),
        AcosFloat => unary_float(Unary::Acos, a(0)),
        AtanFloat => unary_float(Unary::Atan, a(0)),
        SinhFloat => unary_float(Unary::Sinh, a(0)),
        CoshFloat => unary_float(Unary::Cosh, a(0)),
        TanhFloat => unary_float(Unary::Tanh, a(0)),
        ExpFloat => unary_float(Unary::Exp, a(0)),
        LogFloat => unary_float(Unary::Ln, a(0)),
        Log2Float => unary_float(Unary::Log2, a(0)),
        Log10Float => unary_float(Unary::Log10, a(0)),
        AbsFloat => unary_float(Unary::Abs, a(0)),
        FloorFloat => unary_float(Unary::Floor, a(0)),
        CeilFloat => unary_float(Unary::Ceil, a(0)),
        TruncFloat => unary_float(Unary::Trunc, a(0)),
        RoundFloat => unary_float(Unary::Round, a(0)),
        AbsInt => Value::Int(a(0).to_int().wrapping_abs()),
        TruncInt => Value::Int(a(0).to_int()),
        GcdInt => gcd(a(0), a(1)),
        LcmInt => lcm(a(0), a(1)),
        _ => return None,
    };
    Some(Ok(v))
}
