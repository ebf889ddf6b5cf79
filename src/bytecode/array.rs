//! `Array`: the payload of `Value::Array`, stored by *strategy*.
//!
//! An array whose elements are all Int, all Float or all Bool keeps them
//! unboxed and contiguous (8 bytes an Int or Float, 1 a Bool) instead of as
//! 16-byte `Value`s; any other array holds `Value`s. Storing an element the
//! strategy can't hold converts the array once, to the general strategy,
//! keeping every element's value and kind; an empty array takes the
//! strategy of its first element. The strategy is never observable: every
//! read gives the `Value` that was stored.
//!
//! Native code reads and writes the unboxed strategies in place through
//! [`Array::raw`] (base pointer, length, strategy), which is why the
//! strategies are plain `Vec`s of machine words.
//!
//! **Reading as a slice.** fusevm's arrays are `Vec<Value>`s, and ports
//! index them (`a[i]`) and iterate them by reference. An `Array` derefs to
//! `[Value]` for that: a general array lends its own elements; an unboxed
//! one builds a boxed copy the first time it is read so (16 bytes an
//! element), kept until the array next changes. [`Array::get`],
//! [`Array::elements`] and [`Array::len`] read the unboxed store directly
//! and never build it; this crate's own code uses only those.

use super::shared::Children;
use super::value::Value;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;
use std::sync::OnceLock;

/// How an array stores its elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Strategy {
    /// `i64` per element: every element is an Int.
    Int = 0,
    /// `f64` per element: every element is a Float.
    Float = 1,
    /// `bool` (one byte) per element: every element is a Bool.
    Bool = 2,
    /// `Value` per element: anything.
    Any = 3,
}

/// The elements, by strategy.
#[derive(Clone)]
enum Store {
    Int(Vec<i64>),
    Float(Vec<f64>),
    Bool(Vec<bool>),
    Any(Vec<Value>),
}

/// An array of values, stored by strategy (see the module docs).
pub struct Array {
    store: Store,
    /// The elements boxed, built on the first slice read of an unboxed
    /// array and dropped by every change (see the module docs).
    view: OnceLock<Box<[Value]>>,
}

impl Clone for Array {
    /// The elements, without the boxed view.
    fn clone(&self) -> Self {
        Array::of(self.store.clone())
    }
}

/// What native code needs to read or write an unboxed array in place.
#[derive(Debug, Clone, Copy)]
pub struct RawArray {
    /// First element (`i64`, `f64` or `bool` by strategy; `Value` for Any).
    pub base: *mut u8,
    /// Elements.
    pub len: usize,
    /// The strategy.
    pub strategy: Strategy,
}

/// Runs `$body` with `$v` bound to the store's vector, whatever its type.
macro_rules! each {
    ($store:expr, $v:ident => $body:expr) => {
        match $store {
            Store::Int($v) => $body,
            Store::Float($v) => $body,
            Store::Bool($v) => $body,
            Store::Any($v) => $body,
        }
    };
}

/// The strategy that holds `v` unboxed, if any.
fn strategy_of(v: &Value) -> Strategy {
    match v {
        Value::Int(_) => Strategy::Int,
        Value::Float(_) => Strategy::Float,
        Value::Bool(_) => Strategy::Bool,
        _ => Strategy::Any,
    }
}

impl Default for Array {
    fn default() -> Self {
        Array::new()
    }
}

impl Array {
    /// An empty array.
    pub fn new() -> Self {
        Array::of(Store::Any(Vec::new()))
    }

    fn of(store: Store) -> Self {
        Array {
            store,
            view: OnceLock::new(),
        }
    }

    /// The store, to change: the boxed view goes.
    #[inline]
    fn store_mut(&mut self) -> &mut Store {
        self.view.take();
        &mut self.store
    }

    /// An array of `values`, unboxed when they are all Int, all Float or all
    /// Bool.
    pub fn from_values(values: Vec<Value>) -> Self {
        let Some(first) = values.first() else {
            return Array::new();
        };
        let s = strategy_of(first);
        if s == Strategy::Any || values.iter().any(|v| strategy_of(v) != s) {
            return Array::of(Store::Any(values));
        }
        Array::of(match s {
            Strategy::Int => Store::Int(values.iter().map(Value::to_int).collect()),
            Strategy::Float => Store::Float(values.iter().map(Value::to_float).collect()),
            _ => Store::Bool(values.iter().map(Value::is_truthy).collect()),
        })
    }

    /// An array of Ints.
    pub fn from_ints(values: Vec<i64>) -> Self {
        Array::of(Store::Int(values))
    }

    /// An array of Floats.
    pub fn from_floats(values: Vec<f64>) -> Self {
        Array::of(Store::Float(values))
    }

    /// The current strategy.
    pub fn strategy(&self) -> Strategy {
        match self.store {
            Store::Int(_) => Strategy::Int,
            Store::Float(_) => Strategy::Float,
            Store::Bool(_) => Strategy::Bool,
            Store::Any(_) => Strategy::Any,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        each!(&self.store, v => v.len())
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Element `i` (`None` past the end).
    #[inline]
    pub fn get(&self, i: usize) -> Option<Value> {
        match &self.store {
            Store::Int(v) => v.get(i).map(|&n| Value::Int(n)),
            Store::Float(v) => v.get(i).map(|&x| Value::Float(x)),
            Store::Bool(v) => v.get(i).map(|&b| Value::Bool(b)),
            Store::Any(v) => v.get(i).cloned(),
        }
    }

    /// Element `i`, borrowed when the array holds `Value`s.
    #[inline]
    pub fn at(&self, i: usize) -> Option<Cow<'_, Value>> {
        match &self.store {
            Store::Any(v) => v.get(i).map(Cow::Borrowed),
            _ => self.get(i).map(Cow::Owned),
        }
    }

    /// The elements in order, borrowed where the array holds `Value`s
    /// (never builds the boxed view; `iter()`, through `Deref`, lends
    /// `&Value`s and does).
    pub fn elements(
        &self,
    ) -> impl DoubleEndedIterator<Item = Cow<'_, Value>> + ExactSizeIterator + '_ {
        (0..self.len()).map(|i| self.at(i).expect("in range"))
    }

    /// The elements as `Value`s, borrowed when the array already holds
    /// them.
    pub fn values(&self) -> Cow<'_, [Value]> {
        match &self.store {
            Store::Any(v) => Cow::Borrowed(v),
            _ => Cow::Owned(self.elements().map(Cow::into_owned).collect()),
        }
    }

    /// The elements as a vector of `Value`s to change freely (the array
    /// switches to the general strategy).
    pub fn values_mut(&mut self) -> &mut Vec<Value> {
        self.generalise();
        match self.store_mut() {
            Store::Any(v) => v,
            _ => unreachable!("generalised"),
        }
    }

    /// The elements, owned.
    pub fn into_values(mut self) -> Vec<Value> {
        std::mem::take(self.values_mut())
    }

    /// Switches to the general strategy (O(n), once; the boxed view
    /// becomes the store when it was built).
    fn generalise(&mut self) {
        if let Some(view) = self.view.take() {
            self.store = Store::Any(view.into_vec());
            return;
        }
        let values: Vec<Value> = match self.store_mut() {
            Store::Any(_) => return,
            Store::Int(v) => v.drain(..).map(Value::Int).collect(),
            Store::Float(v) => v.drain(..).map(Value::Float).collect(),
            Store::Bool(v) => v.drain(..).map(Value::Bool).collect(),
        };
        self.store = Store::Any(values);
    }

    /// Makes the store able to hold `v`: an empty array takes `v`'s
    /// strategy, a non-empty one of another strategy generalises.
    #[inline]
    fn admit(&mut self, v: &Value) {
        let (mine, theirs) = (self.strategy(), strategy_of(v));
        if mine == theirs {
            return;
        }
        if self.is_empty() {
            *self.store_mut() = match theirs {
                Strategy::Int => Store::Int(Vec::new()),
                Strategy::Float => Store::Float(Vec::new()),
                Strategy::Bool => Store::Bool(Vec::new()),
                Strategy::Any => Store::Any(Vec::new()),
            };
        } else if mine != Strategy::Any {
            self.generalise();
        }
    }

    /// Sets element `i` (which must exist) to `v`.
    #[inline]
    pub fn set(&mut self, i: usize, v: Value) {
        // A value of the store's own kind (the usual case) goes straight in.
        self.view.take();
        let v = match (&mut self.store, v) {
            (Store::Int(a), Value::Int(n)) => return a[i] = n,
            (Store::Float(a), Value::Float(x)) => return a[i] = x,
            (Store::Bool(a), Value::Bool(b)) => return a[i] = b,
            (Store::Any(a), v) => return a[i] = v,
            (_, v) => v,
        };
        self.admit(&v);
        match (self.store_mut(), v) {
            (Store::Int(a), Value::Int(n)) => a[i] = n,
            (Store::Float(a), Value::Float(x)) => a[i] = x,
            (Store::Bool(a), Value::Bool(b)) => a[i] = b,
            (Store::Any(a), v) => a[i] = v,
            _ => unreachable!("admitted"),
        }
    }

    /// Appends `v`.
    #[inline]
    pub fn push(&mut self, v: Value) {
        // A value of the store's own kind goes straight in (an empty
        // general store may still take the value's strategy).
        self.view.take();
        let v = match (&mut self.store, v) {
            (Store::Int(a), Value::Int(n)) => return a.push(n),
            (Store::Float(a), Value::Float(x)) => return a.push(x),
            (Store::Bool(a), Value::Bool(b)) => return a.push(b),
            (Store::Any(a), v) if !a.is_empty() => return a.push(v),
            (_, v) => v,
        };
        self.admit(&v);
        match (self.store_mut(), v) {
            (Store::Int(a), Value::Int(n)) => a.push(n),
            (Store::Float(a), Value::Float(x)) => a.push(x),
            (Store::Bool(a), Value::Bool(b)) => a.push(b),
            (Store::Any(a), v) => a.push(v),
            _ => unreachable!("admitted"),
        }
    }

    /// Removes and returns the last element.
    pub fn pop(&mut self) -> Option<Value> {
        match self.store_mut() {
            Store::Int(v) => v.pop().map(Value::Int),
            Store::Float(v) => v.pop().map(Value::Float),
            Store::Bool(v) => v.pop().map(Value::Bool),
            Store::Any(v) => v.pop(),
        }
    }

    /// Removes and returns the first element.
    pub fn shift(&mut self) -> Option<Value> {
        if self.is_empty() {
            return None;
        }
        Some(match self.store_mut() {
            Store::Int(v) => Value::Int(v.remove(0)),
            Store::Float(v) => Value::Float(v.remove(0)),
            Store::Bool(v) => Value::Bool(v.remove(0)),
            Store::Any(v) => v.remove(0),
        })
    }

    /// Grows to `len` elements, the new ones `undef`.
    pub fn grow_with_undef(&mut self, len: usize) {
        if len > self.len() {
            self.admit(&Value::Undef);
            self.values_mut().resize(len, Value::Undef);
        }
    }

    /// Lengthens an unboxed array to `len` elements (at most `len - 1` more
    /// than now, so pushes amortise), the new ones zero (Int 0, Float 0.0,
    /// false), so native code can push by writing them in place; false for
    /// the general strategy. [`Array::truncate`] gives back the ones not
    /// written.
    pub fn open_room(&mut self, len: usize) -> bool {
        fn grow<T: Clone + Default>(v: &mut Vec<T>, len: usize) {
            if len > v.len() {
                v.reserve(len - v.len());
                v.resize(len, T::default());
            }
        }
        match self.store_mut() {
            Store::Int(v) => grow(v, len),
            Store::Float(v) => grow(v, len),
            Store::Bool(v) => grow(v, len),
            Store::Any(_) => return false,
        }
        true
    }

    /// Shortens the array to `len` elements (nothing if it is not longer).
    pub fn truncate(&mut self, len: usize) {
        each!(self.store_mut(), v => v.truncate(len))
    }

    /// Base pointer, length and strategy, for native code that reads or
    /// writes elements in place. Valid until the array is next changed by
    /// Rust code (a push may move the buffer) or dropped.
    pub fn raw(&mut self) -> RawArray {
        let shared = self.raw_shared();
        // From `&mut`: the one base pointer native code may write through.
        let base = each!(self.store_mut(), v => v.as_mut_ptr() as *mut u8);
        RawArray { base, ..shared }
    }

    /// [`Array::raw`] for reading only: the same fields from a shared
    /// array (its buffer must not be written through `base`).
    pub fn raw_shared(&self) -> RawArray {
        let strategy = self.strategy();
        let (base, len) = each!(&self.store, v => (v.as_ptr() as *mut u8, v.len()));
        RawArray {
            base,
            len,
            strategy,
        }
    }
}

impl Children for Array {
    fn take_nested(&mut self, out: &mut Vec<Value>) {
        if let Store::Any(v) = self.store_mut() {
            v.take_nested(out);
        }
    }
}

/// The elements as a slice of `Value`s (see the module docs: an unboxed
/// array builds its boxed view once, until it next changes).
impl std::ops::Deref for Array {
    type Target = [Value];
    fn deref(&self) -> &[Value] {
        match &self.store {
            Store::Any(v) => v,
            _ => self
                .view
                .get_or_init(|| self.elements().map(Cow::into_owned).collect()),
        }
    }
}

impl std::fmt::Debug for Array {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.elements()).finish()
    }
}

/// Element by element, as `Value`s (whatever the strategies).
impl PartialEq for Array {
    fn eq(&self, other: &Array) -> bool {
        self.len() == other.len() && self.elements().zip(other.elements()).all(|(a, b)| a == b)
    }
}

/// Element by element, as `Value`s (a port from fusevm compares an array
/// with `vec![…]`).
impl PartialEq<Vec<Value>> for Array {
    fn eq(&self, other: &Vec<Value>) -> bool {
        self.len() == other.len() && self.elements().zip(other).all(|(a, b)| a.as_ref() == b)
    }
}

/// See `PartialEq<Vec<Value>> for Array`.
impl PartialEq<Array> for Vec<Value> {
    fn eq(&self, other: &Array) -> bool {
        other == self
    }
}

impl From<Vec<Value>> for Array {
    fn from(values: Vec<Value>) -> Self {
        Array::from_values(values)
    }
}

/// A sequence of values (the strategy is chosen again when read back).
impl Serialize for Array {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.elements())
    }
}

impl<'de> Deserialize<'de> for Array {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Vec::<Value>::deserialize(d).map(Array::from_values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_array_equals_a_vec_of_the_same_values_whatever_its_strategy() {
        let ints = Array::from_values(vec![Value::Int(1), Value::Int(2)]);
        assert_eq!(ints, vec![Value::Int(1), Value::Int(2)]);
        assert_eq!(vec![Value::Int(1), Value::Int(2)], ints);
        assert_ne!(ints, vec![Value::Int(1)]);
        assert_ne!(ints, vec![Value::Int(1), Value::Int(3)]);
        let mixed = Array::from_values(vec![Value::Int(1), Value::str("a")]);
        assert_eq!(mixed, vec![Value::Int(1), Value::str("a")]);
        assert_ne!(mixed, vec![Value::Int(1), Value::str("b")]);
    }

    #[test]
    fn slice_reads_see_every_change_of_an_unboxed_array() {
        let mut a = Array::from_ints(vec![1, 2, 3]);
        assert_eq!(a[1], Value::Int(2));
        let sum: i64 = a.iter().map(Value::to_int).sum();
        assert_eq!(sum, 6);
        a.set(1, Value::Int(20));
        assert_eq!(a[1], Value::Int(20), "a change drops the stale view");
        a.push(Value::Int(4));
        assert_eq!(a.len(), 4);
        assert_eq!(&a[..], &[1, 20, 3, 4].map(Value::Int)[..]);
        assert_eq!(a.strategy(), Strategy::Int, "reading never generalises");
        a.raw();
        assert!(a.view.get().is_none(), "native access drops the view");
        let b = a.clone();
        assert_eq!(b[3], Value::Int(4));
    }

    #[test]
    fn uniform_arrays_are_unboxed_and_mixed_ones_general() {
        let ints = Array::from_values(vec![Value::Int(1), Value::Int(2)]);
        assert_eq!(ints.strategy(), Strategy::Int);
        let floats = Array::from_values(vec![Value::Float(-0.0)]);
        assert_eq!(floats.strategy(), Strategy::Float);
        let mixed = Array::from_values(vec![Value::Int(1), Value::Float(1.0)]);
        assert_eq!(mixed.strategy(), Strategy::Any);
        assert!(mixed.get(1).unwrap().same_as(&Value::Float(1.0)));
    }

    #[test]
    fn a_foreign_element_generalises_once_keeping_every_value() {
        let mut a = Array::new();
        a.push(Value::Int(3));
        assert_eq!(a.strategy(), Strategy::Int, "empty takes the first kind");
        a.push(Value::Int(4));
        a.set(0, Value::Float(-0.0));
        assert_eq!(a.strategy(), Strategy::Any);
        assert!(a.get(0).unwrap().same_as(&Value::Float(-0.0)));
        assert!(a.get(1).unwrap().same_as(&Value::Int(4)));
        a.grow_with_undef(4);
        assert!(a.get(3).unwrap().same_as(&Value::Undef));
    }

    #[test]
    fn pop_and_shift_give_the_stored_kind() {
        let mut a = Array::from_values(vec![Value::Bool(true), Value::Bool(false)]);
        assert!(a.shift().unwrap().same_as(&Value::Bool(true)));
        assert!(a.pop().unwrap().same_as(&Value::Bool(false)));
        assert_eq!(a.pop(), None);
    }

    #[test]
    fn equality_ignores_the_strategy() {
        let mut general = Array::from_values(vec![Value::str("x"), Value::Int(2)]);
        general.set(0, Value::Int(1));
        assert_eq!(general.strategy(), Strategy::Any);
        assert_eq!(general, Array::from_ints(vec![1, 2]));
        assert_ne!(Array::from_ints(vec![1]), Array::from_floats(vec![1.0]));
    }
}
