//! Kinds as native code sees them: the tag numbers stored next to a value's
//! bits, and the sets of kinds the block tier's analysis tracks.
//!
//! A native value is a triple `(tag, i, f)`: `tag` says which field holds it
//! (`i` for Int and Bool (0/1), `f` for Float; Undef keeps `i = 0`). A
//! [`KindSet`] is what the analysis knows statically about a position: when
//! it holds one kind the lowering uses a constant tag and LLVM's IR builder
//! folds every kind test away; several kinds become a runtime tag.

use crate::bytecode::value::Value;

/// Tag of `Undef` (also of an unset slot).
pub const TAG_UNDEF: u8 = 0;
/// Tag of `Bool` (`i` is 0 or 1).
pub const TAG_BOOL: u8 = 1;
/// Tag of `Int`.
pub const TAG_INT: u8 = 2;
/// Tag of `Float`.
pub const TAG_FLOAT: u8 = 3;
/// A slot holding a value native code can't represent (a string, an array,
/// …): reading it exits to the interpreter; writing back leaves it alone.
pub const TAG_OPAQUE: u8 = 4;

/// Whether `tag` is the kind of an unboxed array strategy's elements
/// (Int, Float, Bool): what a trace may specialise an `ArrayGet` to.
pub fn is_element_kind(tag: u8) -> bool {
    matches!(tag, TAG_INT | TAG_FLOAT | TAG_BOOL)
}

/// The tag native code uses for a value at entry.
pub fn tag_of(v: &Value) -> u8 {
    match v {
        Value::Undef => TAG_UNDEF,
        Value::Bool(_) => TAG_BOOL,
        Value::Int(_) => TAG_INT,
        Value::Float(_) => TAG_FLOAT,
        _ => TAG_OPAQUE,
    }
}

/// The 64 bits native code keeps for a value (`f64` bits for Float).
pub fn bits_of(v: &Value) -> u64 {
    match v {
        Value::Bool(b) => *b as u64,
        Value::Int(i) => *i as u64,
        Value::Float(f) => f.to_bits(),
        _ => 0,
    }
}

/// The value a native `(tag, bits)` pair stands for; `None` for
/// [`TAG_OPAQUE`] (the caller keeps what it had).
#[inline(always)]
pub fn value_of(tag: u64, bits: u64) -> Option<Value> {
    match tag as u8 {
        TAG_UNDEF => Some(Value::Undef),
        TAG_BOOL => Some(Value::Bool(bits != 0)),
        TAG_INT => Some(Value::Int(bits as i64)),
        TAG_FLOAT => Some(Value::Float(f64::from_bits(bits))),
        _ => None,
    }
}

/// A set of tags a position may hold (bit `t` set = tag `t` possible).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct KindSet(pub u8);

impl KindSet {
    /// No kind: the position is unreachable.
    pub const NONE: KindSet = KindSet(0);
    /// Only `Undef`.
    pub const UNDEF: KindSet = KindSet::of(TAG_UNDEF);
    /// Only `Bool`.
    pub const BOOL: KindSet = KindSet::of(TAG_BOOL);
    /// Only `Int`.
    pub const INT: KindSet = KindSet::of(TAG_INT);
    /// Only `Float`.
    pub const FLOAT: KindSet = KindSet::of(TAG_FLOAT);
    /// Any kind at all (a value read out of a container).
    pub const ANY: KindSet = KindSet(0b1_1111);

    /// The set holding just `tag`.
    pub const fn of(tag: u8) -> KindSet {
        KindSet(1 << tag)
    }

    /// Union.
    pub fn join(self, o: KindSet) -> KindSet {
        KindSet(self.0 | o.0)
    }

    /// Whether `tag` is possible.
    pub fn has(self, tag: u8) -> bool {
        tag < 8 && self.0 & (1 << tag) != 0
    }

    /// The one possible tag, if there is exactly one.
    pub fn single(self) -> Option<u8> {
        (self.0.count_ones() == 1).then(|| self.0.trailing_zeros() as u8)
    }

    /// The set without `tag`.
    pub fn without(self, tag: u8) -> KindSet {
        KindSet(self.0 & !(1 << tag))
    }

    /// Whether the set contains a kind other than `tag`.
    pub fn has_other_than(self, tag: u8) -> bool {
        self.without(tag).0 != 0
    }
}
