//! The dynamic value type and its coercions.
//!
//! A `Value` is 16 bytes: a tag and one word. Strings and containers sit
//! behind an `Arc`, so cloning a value never copies heap data; containers are
//! copy-on-write (`Arc::make_mut`). This keeps the interpreter's stack traffic
//! cheap, which is why `Array`/`Hash` hold an `Arc` where fusevm holds the
//! collection inline; build them with [`Value::array`] and [`Value::hash`].

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// A VM value.
#[derive(Clone, Default, Serialize, Deserialize)]
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
    /// An array (copy-on-write).
    Array(Arc<Vec<Value>>),
    /// A hash keyed by string, iterated in key order (copy-on-write).
    Hash(Arc<BTreeMap<String, Value>>),
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
        Value::Array(Arc::new(items))
    }

    /// A Hash from any key/value pairs.
    pub fn hash<K: Into<String>>(pairs: impl IntoIterator<Item = (K, Value)>) -> Self {
        Value::Hash(Arc::new(
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
    /// strings and numbers).
    pub fn write_str(&self, out: &mut String) {
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
            Value::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    v.write_str(out);
                }
            }
            Value::Hash(h) => {
                for (i, (k, v)) in h.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    out.push_str(k);
                    out.push(' ');
                    v.write_str(out);
                }
            }
            Value::NativeFn(id) => {
                let _ = write!(out, "builtin#{id}");
            }
            Value::Handle(h) => {
                let _ = write!(out, "handle#{h}");
            }
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
    /// (so `-0.0` differs from `0.0` and a NaN equals the same NaN). This is
    /// the equality tier-agreement tests use.
    pub fn same_as(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Float(a), Value::Float(b)) => a.to_bits() == b.to_bits(),
            (Value::Array(a), Value::Array(b)) => {
                a.len() == b.len() && a.iter().zip(b.iter()).all(|(x, y)| x.same_as(y))
            }
            (Value::Hash(a), Value::Hash(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .zip(b.iter())
                        .all(|((ka, va), (kb, vb))| ka == kb && va.same_as(vb))
            }
            _ => self == other,
        }
    }
}

/// IEEE equality for floats (NaN ≠ NaN); structural otherwise.
impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Undef, Value::Undef) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Float(a), Value::Float(b)) => a == b,
            (Value::Str(a), Value::Str(b)) => a == b,
            (Value::Array(a), Value::Array(b)) => a == b,
            (Value::Hash(a), Value::Hash(b)) => a == b,
            (Value::NativeFn(a), Value::NativeFn(b)) => a == b,
            (Value::Handle(a), Value::Handle(b)) => a == b,
            _ => false,
        }
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Undef => f.write_str("Undef"),
            Value::Bool(b) => write!(f, "Bool({b})"),
            Value::Int(n) => write!(f, "Int({n})"),
            Value::Float(x) => write!(f, "Float({x:?})"),
            Value::Str(s) => write!(f, "Str({:?})", s.as_str()),
            Value::Array(a) => f.debug_tuple("Array").field(&**a).finish(),
            Value::Hash(h) => f.debug_tuple("Hash").field(&**h).finish(),
            Value::NativeFn(id) => write!(f, "NativeFn({id})"),
            Value::Handle(h) => write!(f, "Handle({h})"),
        }
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

    #[test]
    fn same_as_distinguishes_kinds_and_zero_signs() {
        assert!(!Value::Int(1).same_as(&Value::Float(1.0)));
        assert!(!Value::Float(0.0).same_as(&Value::Float(-0.0)));
        assert!(Value::Float(f64::NAN).same_as(&Value::Float(f64::NAN)));
    }
}
