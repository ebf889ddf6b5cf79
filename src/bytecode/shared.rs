//! `Shared<T>`: the payload of `Value::Array` and `Value::Hash`.
//!
//! An `Arc` with copy-on-write ([`Shared::make_mut`]) and one extra duty:
//! bytecode can nest containers as deep as it likes (`[[[…]]]` a million
//! levels down), and the drop glue Rust generates would recurse once per
//! level and overflow the native stack. `Shared`'s `Drop` takes nested
//! containers apart with an explicit work list instead, so dropping any
//! value uses constant native stack.

use super::value::Value;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// A shared, copy-on-write container (see the module docs).
#[derive(Serialize, Deserialize)]
#[serde(transparent)]
pub struct Shared<T: Children>(Arc<T>);

/// A container whose nested containers `Shared` can move out before it is
/// dropped.
pub trait Children {
    /// Moves every child that is itself a non-empty container into `out`.
    fn take_nested(&mut self, out: &mut Vec<Value>);
}

fn nested(v: &Value) -> bool {
    match v {
        Value::Array(a) => !a.is_empty(),
        Value::Hash(h) => !h.is_empty(),
        _ => false,
    }
}

impl Children for Vec<Value> {
    fn take_nested(&mut self, out: &mut Vec<Value>) {
        out.extend(self.iter_mut().filter(|v| nested(v)).map(std::mem::take));
    }
}

impl Children for super::value::HashEntries {
    fn take_nested(&mut self, out: &mut Vec<Value>) {
        out.extend(self.values_mut().filter(|v| nested(v)).map(std::mem::take));
    }
}

impl<T: Children> Shared<T> {
    /// Wraps a container.
    pub fn new(inner: T) -> Self {
        Shared(Arc::new(inner))
    }

    /// The container, made unique (cloned if shared) for writing.
    pub fn make_mut(&mut self) -> &mut T
    where
        T: Clone,
    {
        Arc::make_mut(&mut self.0)
    }

    /// The container for writing if no other place holds it (no copy).
    pub fn get_mut(&mut self) -> Option<&mut T> {
        Arc::get_mut(&mut self.0)
    }

    /// True if both point at the same container.
    pub fn ptr_eq(a: &Self, b: &Self) -> bool {
        Arc::ptr_eq(&a.0, &b.0)
    }
}

impl<T: Children> Drop for Shared<T> {
    fn drop(&mut self) {
        // Only the last owner tears down; children are moved to a work
        // list, so each container dropped below has no nested children left.
        // A plain load first: `get_mut` is an atomic compare-exchange, and
        // most drops (a row leaving a slot) are not the last owner's. Should
        // another thread drop its owner at the same time, neither may tear
        // down and `Arc` drops the value as usual: only the recursion guard
        // is skipped, never a drop.
        if Arc::strong_count(&self.0) != 1 {
            return;
        }
        let Some(inner) = Arc::get_mut(&mut self.0) else {
            return;
        };
        let mut work = Vec::new();
        inner.take_nested(&mut work);
        while let Some(mut v) = work.pop() {
            match &mut v {
                Value::Array(a) => {
                    if let Some(items) = Arc::get_mut(&mut a.0) {
                        items.take_nested(&mut work);
                    }
                }
                Value::Hash(h) => {
                    if let Some(map) = Arc::get_mut(&mut h.0) {
                        map.take_nested(&mut work);
                    }
                }
                _ => {}
            }
        }
    }
}

impl<T: Children> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared(Arc::clone(&self.0))
    }
}

impl<T: Children> Deref for Shared<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Children + PartialEq> PartialEq for Shared<T> {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || *self.0 == *other.0
    }
}

impl<T: Children + fmt::Debug> fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
