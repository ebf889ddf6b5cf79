//! Arrays, hashes and ranges: the container side of the interpreter.
//!
//! Indices are integers (negative counts from the end, Perl-style); reading
//! out of range gives `undef`; writing past the end grows the array with
//! `undef`, up to the collection limit. An `undef` container is created on
//! first write (autovivification); any other non-container is an error.

use super::exec::Fault;
use crate::bytecode::value::{Array, HashEntries, Key, Shared, Value, sorted_entries};
use std::borrow::Cow;

/// Resolves a possibly negative index against `len`.
fn resolve(len: usize, idx: i64) -> Option<usize> {
    if idx >= 0 {
        Some(idx as usize)
    } else {
        let back = idx.unsigned_abs();
        (back <= len as u64).then(|| len - back as usize)
    }
}

/// Runs `f` on `key` as a hash key (its string form), without allocating
/// for strings and Ints (a histogram's keys).
fn with_key<R>(key: &Value, f: impl FnOnce(Key<'_>) -> R) -> R {
    match key {
        Value::Str(s) => f(Key::Str(s)),
        Value::Int(n) => f(Key::Int(*n)),
        other => f(Key::Str(&other.to_str())),
    }
}

fn not_a(what: &str, v: &Value) -> Fault {
    Fault::msg(format!("expected {what}, found {:?}", v.kind()))
}

/// `container[idx]` for an array (`undef` for a missing element or an
/// `undef` container).
#[inline(always)]
pub(crate) fn element_of(container: &Value, idx: &Value) -> Result<Value, Fault> {
    // An Int index inside an array (the usual case) reads the element;
    // the rest (negative or past the end, other kinds) is the general path.
    if let (Value::Array(a), &Value::Int(i)) = (container, idx)
        && let Some(v) = usize::try_from(i).ok().and_then(|i| a.get(i))
    {
        return Ok(v);
    }
    any_element_of(container, idx)
}

/// [`element_of`] off its fast path.
#[inline(never)]
fn any_element_of(container: &Value, idx: &Value) -> Result<Value, Fault> {
    match container {
        Value::Array(_) => Ok(element_at(container, idx)
            .map(Cow::into_owned)
            .unwrap_or_default()),
        Value::Undef => Ok(Value::Undef),
        other => Err(not_a("an array", other)),
    }
}

/// Element `idx` of an array (a negative index counts from the end),
/// borrowed where the array holds `Value`s; `None` past either end or when
/// `container` is no array.
#[inline]
pub(crate) fn element_at<'a>(container: &'a Value, idx: &Value) -> Option<Cow<'a, Value>> {
    match container {
        Value::Array(a) => resolve(a.len(), idx.to_int()).and_then(|i| a.at(i)),
        _ => None,
    }
}

/// The array in `slot`, made unique for writing; `undef` becomes `[]`.
pub(crate) fn array_mut(slot: &mut Value) -> Result<&mut Array, Fault> {
    if matches!(slot, Value::Undef) {
        *slot = Value::array(Vec::new());
    }
    match slot {
        Value::Array(a) => Ok(a.make_mut()),
        other => Err(not_a("an array", other)),
    }
}

/// Length of an array (`undef` counts as empty).
pub(crate) fn array_len(v: &Value) -> Result<usize, Fault> {
    match v {
        Value::Array(a) => Ok(a.len()),
        Value::Undef => Ok(0),
        other => Err(not_a("an array", other)),
    }
}

/// `container[idx] = v`, growing the array as needed.
pub(crate) fn set_element(
    container: &mut Value,
    idx: &Value,
    v: Value,
    limit: usize,
) -> Result<(), Fault> {
    let arr = array_mut(container)?;
    let i = idx.to_int();
    let Some(pos) = resolve(arr.len(), i) else {
        return Err(Fault::msg(format!(
            "index {i} is before the start of an array of {}",
            arr.len()
        )));
    };
    if pos >= arr.len() {
        if pos >= limit {
            return Err(Fault::msg(format!(
                "index {i} exceeds the collection size limit ({limit})"
            )));
        }
        if pos > arr.len() {
            arr.grow_with_undef(pos); // a gap: undef up to the new element
        }
        arr.push(v);
        return Ok(());
    }
    arr.set(pos, v);
    Ok(())
}

/// The position `idx` names in the array `container` if an element is
/// there (what [`set_element`] then overwrites in place, with nothing to
/// grow and no error); `None` for anything else.
#[inline(always)]
pub(crate) fn existing_position(container: &Value, idx: &Value) -> Option<usize> {
    match container {
        Value::Array(a) => {
            let i = match *idx {
                Value::Int(i) => i,
                ref other => other.to_int(),
            };
            resolve(a.len(), i).filter(|&pos| pos < a.len())
        }
        _ => None,
    }
}

/// [`set_element`] at a position [`existing_position`] gave.
#[inline(always)]
pub(crate) fn set_existing(container: &mut Value, pos: usize, v: Value) {
    if let Value::Array(a) = container {
        a.make_mut().set(pos, v);
    }
}

/// Whether [`push_element`] on `slot` appends without an error or turning
/// `undef` into an array.
#[inline(always)]
pub(crate) fn can_push(slot: &Value, limit: usize) -> bool {
    matches!(slot, Value::Array(a) if a.len() < limit)
}

/// [`push_element`] where [`can_push`] said yes.
#[inline(always)]
pub(crate) fn push_element_unchecked(slot: &mut Value, v: Value) {
    if let Value::Array(a) = slot {
        a.make_mut().push(v);
    }
}

/// Appends `v` to the array in `slot`, within `limit` elements.
pub(crate) fn push_element(slot: &mut Value, v: Value, limit: usize) -> Result<(), Fault> {
    let arr = array_mut(slot)?;
    if arr.len() >= limit {
        return Err(Fault::msg("array would exceed the collection size limit"));
    }
    arr.push(v);
    Ok(())
}

/// `hash{key} = v`, within `limit` entries.
pub(crate) fn hash_insert(
    slot: &mut Value,
    key: &Value,
    v: Value,
    limit: usize,
) -> Result<(), Fault> {
    insert_entry(hash_mut(slot)?, key, v, limit)
}

/// The error of a new key in a full hash.
fn full_hash() -> Fault {
    Fault::msg("hash would exceed the collection size limit")
}

/// Whether [`hash_insert`] into `slot` succeeds without turning `undef`
/// into a hash: a hash with room, or with `key` already.
#[inline(always)]
pub(crate) fn can_insert(slot: &Value, key: &Value, limit: usize) -> bool {
    matches!(slot, Value::Hash(m) if m.len() < limit || entry(m, key).is_some())
}

/// `map{key} = v` on a hash's entries, within `limit` entries.
pub(crate) fn insert_entry(
    map: &mut HashEntries,
    key: &Value,
    v: Value,
    limit: usize,
) -> Result<(), Fault> {
    // An Int key under Int keys (a histogram, a memo table): straight to
    // the table.
    if let (Some(t), &Value::Int(n)) = (map.int_keys_mut(), key) {
        let full = t.len() >= limit;
        match t.get_mut(n) {
            Some(old) => *old = v,
            None if full => return Err(full_hash()),
            None => {
                t.insert(n, v);
            }
        }
        return Ok(());
    }
    let full = map.len() >= limit;
    with_key(key, |k| {
        if let Some(old) = map.get_key_mut(k) {
            *old = v;
        } else if full {
            return Err(full_hash());
        } else {
            map.insert_key(k, v);
        }
        Ok(())
    })
}

/// Removes and returns the last element of the array in `slot` (`undef`
/// when empty).
pub(crate) fn pop_element(slot: &mut Value) -> Result<Value, Fault> {
    Ok(array_mut(slot)?.pop().unwrap_or_default())
}

/// Removes and returns the first element of the array in `slot` (`undef`
/// when empty).
pub(crate) fn shift_element(slot: &mut Value) -> Result<Value, Fault> {
    Ok(array_mut(slot)?.shift().unwrap_or_default())
}

/// Removes `hash{key}` and returns it (`undef` when absent).
pub(crate) fn hash_delete(slot: &mut Value, key: &Value) -> Result<Value, Fault> {
    let map = hash_mut(slot)?;
    Ok(with_key(key, |k| map.remove_key(k)).unwrap_or_default())
}

/// A container op on the container `holder` (a global for the global ops,
/// the frame's slot for `SlotArrayGet`/`SlotArraySet`) with its operands
/// `args` (in stack order): what it pushes, if anything. `None` for other
/// ops. The dispatch loop runs the same functions; native tiers call this
/// for container ops on a boxed container.
#[inline]
#[cfg_attr(not(feature = "jit"), allow(dead_code))] // the native tiers call it
pub(crate) fn apply_to_global(
    op: &crate::bytecode::op::Op,
    holder: &mut Value,
    args: &[Value],
    limit: usize,
) -> Option<Result<Option<Value>, Fault>> {
    use crate::bytecode::op::Op::*;
    let a = |k: usize| args.get(k).cloned().unwrap_or_default();
    Some(match *op {
        GetArray(_) | GetHash(_) => Ok(Some(holder.clone())),
        ArrayGet(_) | SlotArrayGet(_) => element_of(holder, &a(0)).map(Some),
        ArrayLen(_) => array_len(holder).map(|n| Some(Value::Int(n as i64))),
        ArraySet(_) | SlotArraySet(_) => set_element(holder, &a(1), a(0), limit).map(|_| None),
        ArrayPush(_) => push_element(holder, a(0), limit).map(|_| None),
        ArrayPop(_) => pop_element(holder).map(Some),
        ArrayShift(_) => shift_element(holder).map(Some),
        HashGet(_) => hash_get(holder, &a(0)).map(Some),
        HashExists(_) => hash_get_opt(holder, &a(0)).map(|v| Some(Value::Bool(v.is_some()))),
        HashSet(_) => hash_insert(holder, &a(1), a(0), limit).map(|_| None),
        HashDelete(_) => hash_delete(holder, &a(0)).map(Some),
        _ => return None,
    })
}

/// The container an op makes from its operands `args` (in stack order):
/// `MakeArray`/`MakeHash`/`Range`/`RangeStep` push it, `DeclareArray`/
/// `DeclareHash` store a new empty one and `SetArray`/`SetHash` store their
/// operand once it is checked to be the right container. An error for
/// other ops.
pub(crate) fn build(
    op: &crate::bytecode::op::Op,
    args: Vec<Value>,
    limit: usize,
) -> Result<Value, Fault> {
    use crate::bytecode::op::Op::*;
    let int = |k: usize| args.get(k).map_or(0, Value::to_int);
    match *op {
        MakeArray(_) => Ok(Value::array(args)),
        MakeHash(_) => {
            // Key, value, key, value, …; an odd last key has no value and
            // is dropped (as in fusevm).
            let mut it = args.into_iter();
            let mut map = HashEntries::default();
            while let (Some(key), Some(v)) = (it.next(), it.next()) {
                with_key(&key, |k| map.insert_key(k, v));
            }
            Ok(Value::Hash(Shared::new(map)))
        }
        Range => range_values(int(0), int(1), 1, limit),
        RangeStep => range_values(int(0), int(1), int(2), limit),
        DeclareArray(_) => Ok(Value::array(Vec::new())),
        DeclareHash(_) => Ok(Value::hash(Vec::<(String, Value)>::new())),
        SetArray(_) | SetHash(_) => {
            let v = args.into_iter().next().unwrap_or_default();
            match (op, &v) {
                (SetArray(_), Value::Array(_)) | (SetHash(_), Value::Hash(_)) => Ok(v),
                (SetArray(_), _) => Err(Fault::msg(format!("SetArray needs an array, got {v:?}"))),
                _ => Err(Fault::msg(format!("SetHash needs a hash, got {v:?}"))),
            }
        }
        _ => Err(Fault::msg(format!("`{op}` makes no container"))),
    }
}

/// The hash in `slot`, made unique for writing; `undef` becomes `{}`.
pub(crate) fn hash_mut(slot: &mut Value) -> Result<&mut HashEntries, Fault> {
    if matches!(slot, Value::Undef) {
        *slot = Value::Hash(Shared::new(HashEntries::default()));
    }
    match slot {
        Value::Hash(h) => Ok(h.make_mut()),
        other => Err(not_a("a hash", other)),
    }
}

/// `hash{key}` if present.
pub(crate) fn hash_get_opt<'a>(h: &'a Value, key: &Value) -> Result<Option<&'a Value>, Fault> {
    match h {
        Value::Hash(m) => Ok(entry(m, key)),
        Value::Undef => Ok(None),
        other => Err(not_a("a hash", other)),
    }
}

/// The entry `key` names in a hash's entries.
pub(crate) fn entry<'a>(map: &'a HashEntries, key: &Value) -> Option<&'a Value> {
    with_key(key, |k| map.get_key(k))
}

/// `hash{key}` (`undef` when absent).
#[inline(always)]
pub(crate) fn hash_get(h: &Value, key: &Value) -> Result<Value, Fault> {
    if let (Value::Hash(m), &Value::Int(n)) = (h, key)
        && let Some(t) = m.int_keys()
    {
        return Ok(t.get(n).cloned().unwrap_or_default());
    }
    Ok(hash_get_opt(h, key)?.cloned().unwrap_or_default())
}

/// The keys, sorted, as an array of strings.
pub(crate) fn hash_keys(h: &Value) -> Result<Value, Fault> {
    match h {
        Value::Hash(m) => Ok(Value::array(
            sorted_entries(m)
                .into_iter()
                .map(|(k, _)| Value::str(k.into_owned()))
                .collect(),
        )),
        Value::Undef => Ok(Value::array(Vec::new())),
        other => Err(not_a("a hash", other)),
    }
}

/// The values, in key order, as an array.
pub(crate) fn hash_values(h: &Value) -> Result<Value, Fault> {
    match h {
        Value::Hash(m) => Ok(Value::array(
            sorted_entries(m)
                .into_iter()
                .map(|(_, v)| v.clone())
                .collect(),
        )),
        Value::Undef => Ok(Value::array(Vec::new())),
        other => Err(not_a("a hash", other)),
    }
}

/// `from, from+step, …` while not past `to` (inclusive); step 0 is an error.
pub(crate) fn range_values(from: i64, to: i64, step: i64, limit: usize) -> Result<Value, Fault> {
    if step == 0 {
        return Err(Fault::msg("range step must not be 0"));
    }
    let span = if step > 0 {
        (to as i128 - from as i128).max(-1)
    } else {
        (from as i128 - to as i128).max(-1)
    };
    let count = if span < 0 {
        0
    } else {
        span / (step as i128).abs() + 1
    };
    if count > limit as i128 {
        return Err(Fault::msg(format!(
            "range of {count} elements exceeds the collection size limit ({limit})"
        )));
    }
    let items = (0..count as i64)
        .map(|k| from.wrapping_add(k.wrapping_mul(step)))
        .collect();
    Ok(Value::Array(Shared::new(Array::from_ints(items))))
}
