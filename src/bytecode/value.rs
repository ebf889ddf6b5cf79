//! The dynamic value type and its coercions.
//!
//! A `Value` is 16 bytes: a tag and one word. Strings and containers sit
//! behind an `Arc`, so cloning a value never copies heap data; containers are
//! copy-on-write ([`Shared`]). This keeps the interpreter's stack traffic
//! cheap, which is why `Array`/`Hash` hold a `Shared` where fusevm holds the
//! collection inline; build them with [`Value::array`] and [`Value::hash`].
//!
//! Bytecode can nest containers arbitrarily deep, so nothing here recurses
//! on nesting: dropping (see [`Shared`]), comparing and stringifying walk
//! with explicit work lists, and `Debug` stops at a fixed depth.

use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

pub use super::array::{Array, Strategy};
pub use super::shared::Shared;

pub use super::hash::{HashEntries, Key};

/// `h`'s entries sorted by key string (see [`HashEntries::sorted`]).
pub fn sorted_entries(h: &HashEntries) -> Vec<(Cow<'_, str>, &Value)> {
    h.sorted()
}

/// A VM value.
///
/// `repr(u8)` fixes the layout native code reads in place (a hash's
/// Int-key table, [`crate::bytecode::int_keys`]): the variant's index in
/// the first byte (Undef 0, Bool 1, Int 2, Float 3: the native tags), a
/// Bool's byte at offset 1, an Int's or a Float's 64 bits at offset 8.
#[derive(Clone, Default, Serialize, Deserialize)]
#[repr(u8)]
pub enum Value {
    /// No value.
    #[default]
    Undef,
    /// A boolean.
    Bool(bool),
    /// A 64-bit signed integer (arithmetic wraps).
    Int(i64),
    /// A 64-bit float (serialized by bits, so −0.0 and NaN payloads survive).
    Float(#[serde(with = "float_bits")] f64),
    /// A reference to builtin `id` (callable with `CallDynamic`).
    NativeFn(u16),
    /// An opaque host handle; the VM only moves it around.
    Handle(u64),
    // The variants that own heap data come last, so dropping a value is
    // one range check on the tag.
    /// An immutable string.
    Str(Arc<String>),
    /// An array (copy-on-write; Int, Float and Bool elements unboxed, see
    /// [`Array`]).
    Array(Shared<Array>),
    /// A hash keyed by string (copy-on-write; see [`HashEntries`] for
    /// where its order shows).
    Hash(#[serde(serialize_with = "serialize_sorted")] Shared<HashEntries>),
}

/// Serializes a hash's entries in key order (the same value, the same
/// bytes).
fn serialize_sorted<S: serde::Serializer>(
    h: &Shared<HashEntries>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_map(sorted_entries(h))
}

mod float_bits {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(v.to_bits())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        u64::deserialize(d).map(f64::from_bits)
    }
}

/// The kind of a value, without its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `Value::Undef`
    Undef,
    /// `Value::Bool`
    Bool,
    /// `Value::Int`
    Int,
    /// `Value::Float`
    Float,
    /// `Value::Str`
    Str,
    /// `Value::Array`
    Array,
    /// `Value::Hash`
    Hash,
    /// `Value::NativeFn`
    NativeFn,
    /// `Value::Handle`
    Handle,
}

impl Value {
    // ── constructors ──

    /// An Int.
    pub fn int(n: i64) -> Self {
        Value::Int(n)
    }

    /// A Float.
    pub fn float(f: f64) -> Self {
        Value::Float(f)
    }

    /// A Bool.
    pub fn bool(b: bool) -> Self {
        Value::Bool(b)
    }

    /// A Str.
    pub fn str(s: impl Into<String>) -> Self {
        Value::Str(Arc::new(s.into()))
    }

    /// An Array.
    pub fn array(items: Vec<Value>) -> Self {
        Value::Array(Shared::new(Array::from_values(items)))
    }

    /// A Hash from any key/value pairs.
    pub fn hash<K: Into<String>>(pairs: impl IntoIterator<Item = (K, Value)>) -> Self {
        Value::Hash(Shared::new(
            pairs.into_iter().map(|(k, v)| (k.into(), v)).collect(),
        ))
    }

    /// The value's kind.
    pub fn kind(&self) -> Kind {
        match self {
            Value::Undef => Kind::Undef,
            Value::Bool(_) => Kind::Bool,
            Value::Int(_) => Kind::Int,
            Value::Float(_) => Kind::Float,
            Value::Str(_) => Kind::Str,
            Value::Array(_) => Kind::Array,
            Value::Hash(_) => Kind::Hash,
            Value::NativeFn(_) => Kind::NativeFn,
            Value::Handle(_) => Kind::Handle,
        }
    }

    /// Whether dropping the value frees or releases anything (a string or
    /// container); the interpreter forgets the others without the drop glue.
    #[inline(always)]
    pub(crate) fn owns_heap(&self) -> bool {
        matches!(self, Value::Str(_) | Value::Array(_) | Value::Hash(_))
    }

    // ── coercions (SPEC §1.1) ──

    /// Truthiness: NaN is truthy, −0.0 falsy, `"0"` and `""` falsy, empty
    /// containers falsy.
    #[inline]
    pub fn is_truthy(&self) -> bool {
        match self {
            Value::Undef => false,
            Value::Bool(b) => *b,
            Value::Int(n) => *n != 0,
            Value::Float(f) => *f != 0.0 || f.is_nan(),
            Value::Str(s) => !s.is_empty() && s.as_str() != "0",
            Value::Array(a) => !a.is_empty(),
            Value::Hash(h) => !h.is_empty(),
            Value::NativeFn(_) | Value::Handle(_) => true,
        }
    }

    /// Integer form: floats truncate and saturate (NaN → 0); strings parse
    /// strictly as an integer, else 0.
    #[inline]
    pub fn to_int(&self) -> i64 {
        match self {
            Value::Int(n) => *n,
            Value::Float(f) => *f as i64,
            Value::Bool(b) => *b as i64,
            Value::Str(s) => s.parse().unwrap_or(0),
            _ => 0,
        }
    }

    /// Float form: strings parse as a float, else 0.0.
    #[inline]
    pub fn to_float(&self) -> f64 {
        match self {
            Value::Float(f) => *f,
            Value::Int(n) => *n as f64,
            Value::Bool(b) => *b as i64 as f64,
            Value::Str(s) => s.parse().unwrap_or(0.0),
            _ => 0.0,
        }
    }

    /// String form: numbers as Rust's `Display` (`1.0` → `"1"`), true → `"1"`,
    /// false and undef → `""`, arrays joined by one space.
    pub fn to_str(&self) -> String {
        let mut out = String::new();
        self.write_str(&mut out);
        out
    }

    /// Appends the string form to `out` (no intermediate allocation for
    /// strings and numbers; containers are walked without recursion).
    pub fn write_str(&self, out: &mut String) {
        enum Piece<'a> {
            Val(&'a Value),
            Scalar(Value),
            Key(Cow<'a, str>),
            Space,
        }
        // What is still to be written, last piece first.
        let mut work = vec![Piece::Val(self)];
        while let Some(piece) = work.pop() {
            match piece {
                Piece::Space => out.push(' '),
                Piece::Key(k) => out.push_str(&k),
                Piece::Val(Value::Array(a)) => {
                    for (i, x) in a.elements().enumerate().rev() {
                        work.push(match x {
                            Cow::Borrowed(x) => Piece::Val(x),
                            Cow::Owned(x) => Piece::Scalar(x),
                        });
                        if i > 0 {
                            work.push(Piece::Space);
                        }
                    }
                }
                Piece::Val(Value::Hash(h)) => {
                    for (i, (k, x)) in sorted_entries(h).into_iter().enumerate().rev() {
                        work.extend([Piece::Val(x), Piece::Space, Piece::Key(k)]);
                        if i > 0 {
                            work.push(Piece::Space);
                        }
                    }
                }
                Piece::Val(scalar) => scalar.write_scalar(out),
                Piece::Scalar(scalar) => scalar.write_scalar(out),
            }
        }
    }

    /// `write_str` for the non-container kinds.
    fn write_scalar(&self, out: &mut String) {
        use std::fmt::Write;
        match self {
            Value::Undef | Value::Bool(false) => {}
            Value::Bool(true) => out.push('1'),
            Value::Int(n) => {
                let _ = write!(out, "{n}");
            }
            Value::Float(f) => {
                let _ = write!(out, "{f}");
            }
            Value::Str(s) => out.push_str(s),
            Value::NativeFn(id) => {
                let _ = write!(out, "builtin#{id}");
            }
            Value::Handle(h) => {
                let _ = write!(out, "handle#{h}");
            }
            Value::Array(_) | Value::Hash(_) => unreachable!("containers are walked"),
        }
    }

    /// The string payload, if this is a `Str`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Strict identity: same kind and same payload, floats compared by bits
    /// (so `-0.0` differs from `0.0`), except that any NaN equals any NaN.
    /// This is the equality tier-agreement tests use. NaNs are one value
    /// because the sign and payload of a *computed* NaN are unspecified
    /// (IEEE 754 leaves them open, x86 produces a negative NaN where LLVM's
    /// constant folder produces a positive one) and no op can observe them.
    pub fn same_as(&self, other: &Value) -> bool {
        structurally_equal(self, other, |a, b| {
            a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
        })
    }
}

/// Compares two values, containers element by element, with an explicit
/// work list (no recursion on nesting); floats compare with `float_eq`.
fn structurally_equal(a: &Value, b: &Value, float_eq: fn(f64, f64) -> bool) -> bool {
    let mut work = vec![(a, b)];
    while let Some(pair) = work.pop() {
        match pair {
            (Value::Undef, Value::Undef) => {}
            (Value::Bool(x), Value::Bool(y)) if x == y => {}
            (Value::Int(x), Value::Int(y)) if x == y => {}
            (Value::Float(x), Value::Float(y)) if float_eq(*x, *y) => {}
            (Value::Str(x), Value::Str(y)) if x == y => {}
            (Value::NativeFn(x), Value::NativeFn(y)) if x == y => {}
            (Value::Handle(x), Value::Handle(y)) if x == y => {}
            (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
                for (p, q) in x.elements().zip(y.elements()) {
                    match (p, q) {
                        (Cow::Borrowed(p), Cow::Borrowed(q)) => work.push((p, q)),
                        // One side is an unboxed scalar: nothing nested.
                        (p, q) => {
                            if !structurally_equal(&p, &q, float_eq) {
                                return false;
                            }
                        }
                    }
                }
            }
            (Value::Hash(x), Value::Hash(y)) if x.len() == y.len() => {
                for (k, vx) in x.iter() {
                    match y.get(&k) {
                        Some(vy) => work.push((vx, vy)),
                        None => return false,
                    }
                }
            }
            _ => return false,
        }
    }
    true
}

// ── fusevm's accessors, so a port compiles unchanged ──

impl Value {
    /// A string's length in bytes, an array's or hash's number of elements,
    /// else the byte length of the string form (what `StringLen` gives).
    pub fn len(&self) -> usize {
        match self {
            Value::Str(s) => s.len(),
            Value::Array(a) => a.len(),
            Value::Hash(h) => h.len(),
            other => other.to_str().len(),
        }
    }

    /// `len() == 0`.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The string form, borrowed when the value is a string.
    pub fn as_str_cow(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Value::Str(s) => std::borrow::Cow::Borrowed(s.as_str()),
            other => std::borrow::Cow::Owned(other.to_str()),
        }
    }

    /// The elements as a slice, if this is an array (an unboxed array
    /// builds its boxed view; see [`Array`]).
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The elements for writing (copied first if the array is shared), if
    /// this is an array. The array keeps `Value`s from then on.
    pub fn array_mut(&mut self) -> Option<&mut Vec<Value>> {
        match self {
            Value::Array(a) => Some(a.make_mut().values_mut()),
            _ => None,
        }
    }

    /// The elements, owned, if this is an array.
    pub fn into_array(self) -> Option<Vec<Value>> {
        match self {
            Value::Array(mut a) => Some(std::mem::take(a.make_mut()).into_values()),
            _ => None,
        }
    }
}

/// Consistent with `==`: kind and payload (floats by value, so `0.0` and
/// `-0.0` hash alike), containers element by element, without recursion.
impl std::hash::Hash for Value {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let mut work = vec![self];
        while let Some(v) = work.pop() {
            std::mem::discriminant(v).hash(state);
            match v {
                Value::Undef => {}
                Value::Bool(b) => b.hash(state),
                Value::Int(n) => n.hash(state),
                Value::Float(f) => (if *f == 0.0 { 0 } else { f.to_bits() }).hash(state),
                Value::NativeFn(id) => id.hash(state),
                Value::Handle(h) => h.hash(state),
                Value::Str(s) => s.hash(state),
                Value::Array(a) => {
                    a.len().hash(state);
                    match a.values() {
                        Cow::Borrowed(items) => work.extend(items.iter().rev()),
                        // Unboxed: scalars, hashed in order right away.
                        Cow::Owned(items) => items.iter().for_each(|x| x.hash(state)),
                    }
                }
                Value::Hash(h) => {
                    h.len().hash(state);
                    for (k, x) in sorted_entries(h).into_iter().rev() {
                        k.hash(state);
                        work.push(x);
                    }
                }
            }
        }
    }
}

/// IEEE equality for floats (NaN ≠ NaN); structural otherwise.
impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        structurally_equal(self, other, |a, b| a == b)
    }
}

/// How deep `Debug` prints nested containers before writing `…`.
const DEBUG_DEPTH: usize = 32;

/// `Debug` for a value seen `depth` containers down.
struct DebugAt<'a>(&'a Value, usize);

impl fmt::Debug for DebugAt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let DebugAt(v, depth) = *self;
        match v {
            Value::Array(_) | Value::Hash(_) if depth >= DEBUG_DEPTH => f.write_str("…"),
            Value::Array(a) => f
                .debug_tuple("Array")
                .field(&DebugList(a, depth + 1))
                .finish(),
            Value::Hash(h) => f
                .debug_tuple("Hash")
                .field(&DebugMap(h, depth + 1))
                .finish(),
            Value::Undef => f.write_str("Undef"),
            Value::Bool(b) => write!(f, "Bool({b})"),
            Value::Int(n) => write!(f, "Int({n})"),
            Value::Float(x) => write!(f, "Float({x:?})"),
            Value::Str(s) => write!(f, "Str({:?})", s.as_str()),
            Value::NativeFn(id) => write!(f, "NativeFn({id})"),
            Value::Handle(h) => write!(f, "Handle({h})"),
        }
    }
}

struct DebugList<'a>(&'a Array, usize);

impl fmt::Debug for DebugList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for v in self.0.elements() {
            list.entry(&DebugAt(&v, self.1));
        }
        list.finish()
    }
}

struct DebugMap<'a>(&'a HashEntries, usize);

impl fmt::Debug for DebugMap<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(
                sorted_entries(self.0)
                    .into_iter()
                    .map(|(k, v)| (k, DebugAt(v, self.1))),
            )
            .finish()
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        DebugAt(self, 0).fmt(f)
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Self {
        Value::Int(n)
    }
}

impl From<f64> for Value {
    fn from(x: f64) -> Self {
        Value::Float(x)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::str(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_is_two_words() {
        assert_eq!(std::mem::size_of::<Value>(), 16);
        // The tag's unused values still make `None`.
        assert_eq!(std::mem::size_of::<Option<Value>>(), 16);
    }

    #[test]
    fn truthiness_follows_spec() {
        assert!(!Value::Undef.is_truthy());
        assert!(Value::Float(f64::NAN).is_truthy());
        assert!(!Value::Float(-0.0).is_truthy());
        assert!(!Value::str("0").is_truthy());
        assert!(Value::str("0.0").is_truthy());
        assert!(!Value::str("").is_truthy());
        assert!(!Value::array(vec![]).is_truthy());
        assert!(Value::array(vec![Value::Undef]).is_truthy());
        assert!(!Value::hash(Vec::<(String, Value)>::new()).is_truthy());
    }

    #[test]
    fn to_int_is_truncating_saturating_and_strict() {
        assert_eq!(Value::Float(-3.9).to_int(), -3);
        assert_eq!(Value::Float(f64::NAN).to_int(), 0);
        assert_eq!(Value::Float(1e300).to_int(), i64::MAX);
        assert_eq!(Value::Float(f64::NEG_INFINITY).to_int(), i64::MIN);
        assert_eq!(Value::str("42").to_int(), 42);
        assert_eq!(Value::str("4.2").to_int(), 0);
        assert_eq!(Value::str(" 42").to_int(), 0);
        assert_eq!(Value::Bool(true).to_int(), 1);
    }

    #[test]
    fn to_str_matches_display() {
        assert_eq!(Value::Float(1.0).to_str(), "1");
        assert_eq!(Value::Float(-0.0).to_str(), "-0");
        assert_eq!(Value::Float(2.5).to_str(), "2.5");
        assert_eq!(Value::Bool(true).to_str(), "1");
        assert_eq!(Value::Bool(false).to_str(), "");
        assert_eq!(
            Value::array(vec![Value::Int(1), Value::str("a"), Value::Float(0.5)]).to_str(),
            "1 a 0.5"
        );
    }

    #[test]
    fn serde_keeps_float_bits() {
        for x in [-0.0, f64::NAN, f64::from_bits(0x7ff8_0000_0000_0001), 1.5] {
            let json = serde_json::to_string(&Value::Float(x)).unwrap();
            let back: Value = serde_json::from_str(&json).unwrap();
            assert!(back.same_as(&Value::Float(x)), "{json}");
        }
    }

    /// A chain `levels` containers deep, alternating arrays and hashes.
    fn deep(levels: usize) -> Value {
        let mut v = Value::Int(7);
        for i in 0..levels {
            v = if i % 2 == 0 {
                Value::array(vec![v])
            } else {
                Value::hash([("k", v)])
            };
        }
        v
    }

    #[test]
    fn deeply_nested_values_drop_compare_and_print_without_recursion() {
        let a = deep(1_000_000);
        let b = deep(1_000_000);
        assert!(a.same_as(&b));
        assert_eq!(a, b);
        assert_eq!(
            a.to_str().len(),
            1 + 2 * 500_000,
            "`k ` per hash level, then 7"
        );
        assert!(format!("{a:?}").contains('…'));
        drop(a);
        drop(b);
    }

    #[test]
    fn same_as_distinguishes_kinds_and_zero_signs() {
        assert!(!Value::Int(1).same_as(&Value::Float(1.0)));
        assert!(!Value::Float(0.0).same_as(&Value::Float(-0.0)));
        assert!(Value::Float(f64::NAN).same_as(&Value::Float(f64::NAN)));
        assert!(Value::Float(f64::NAN).same_as(&Value::Float(-f64::NAN)));
        assert!(!Value::Float(f64::NAN).same_as(&Value::Float(f64::INFINITY)));
    }
}
