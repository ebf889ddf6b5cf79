//! Hash entries for native code: one call per `HashGet`/`HashExists`/
//! `HashSet` with the entries' address (see `block::lower::hashes`), after
//! one [`HASH_VIEW`] call gave native code that address.
//!
//! The only `unsafe` here turns that address back into a reference; why it
//! is sound is said once, at [`entries`] and [`entries_mut`].

#![allow(unsafe_code)] // audited: `entries`, `entries_mut`

use super::{FAILED, Pair, lent};
use crate::bytecode::value::{HashEntries, Value};
use crate::interp::containers;
use crate::jit::kinds::{TAG_OPAQUE, bits_of, tag_of, value_of};

/// `{i64 map, i64 limit} hash_view(i64 box, i64 write)`: the hash in box
/// `box` (made unique first when `write` is 1): the address of its entries
/// and the running VM's collection size limit; map 0 if the box holds no
/// hash.
pub const HASH_VIEW: &str = "fusevm_hash_view";
/// `{i64 tag, i64 bits} hash_get(i64 map, i64 key, i64 kinds)`: the entry
/// Int `key` names in the entries at `map` (`undef` when absent); tag
/// [`FAILED`] when the value is boxed or its kind is not in the bit set
/// `kinds`.
pub const HASH_GET: &str = "fusevm_hash_get";
/// `i64 hash_exists(i64 map, i64 key)`: 1 if Int `key` names an entry.
pub const HASH_EXISTS: &str = "fusevm_hash_exists";
/// `i64 hash_set(i64 map, i64 key, i64 tag, i64 bits, i64 limit)`: stores
/// the unboxed value `(tag, bits)` under Int `key` in the entries at `map`
/// (a writable view's); 0, with nothing changed, when it can't (a new key
/// in a full hash: the value helper then reports it).
pub const HASH_SET: &str = "fusevm_hash_set";

/// The entries at `map`, to read.
fn entries<'a>(map: i64) -> Option<&'a HashEntries> {
    // SAFETY: native code passes only an address `hash_view` gave it for a
    // box holding a hash, and forgets that address at every helper call
    // that may change, replace or share that box's value (the value helper
    // for any op but a read, a move between boxes). The entries live in the
    // hash's shared allocation, which stays put while the box holds it, and
    // nothing writes to them while a helper reads: a hash shared with
    // another owner (or thread) is never written in place.
    (map != 0).then(|| unsafe { &*(map as *const HashEntries) })
}

/// The entries at `map`, to write: `map` came from a view fetched for
/// writing.
fn entries_mut<'a>(map: i64) -> Option<&'a mut HashEntries> {
    // SAFETY: as for `entries`; besides, a writable view's hash was made
    // unique when it was fetched and stays unique until native code forgets
    // the view (only a helper that may share it can share it), so this is
    // the only reference to the entries while the helper runs.
    (map != 0).then(|| unsafe { &mut *(map as *mut HashEntries) })
}

pub(super) extern "C" fn hash_view(bx: i64, write: i64) -> Pair {
    lent(|l| {
        let limit = l.max_collection_len as i64;
        let map = match l.boxes.get_mut(usize::try_from(bx).ok()?)? {
            Value::Hash(h) if write != 0 => h.make_mut() as *mut HashEntries as i64,
            Value::Hash(h) => &**h as *const HashEntries as i64,
            _ => return None,
        };
        Some(Pair {
            tag: map,
            bits: limit,
        })
    })
    .flatten()
    .unwrap_or(Pair { tag: 0, bits: 0 })
}

pub(super) extern "C" fn hash_get(map: i64, key: i64, kinds: i64) -> Pair {
    let failed = Pair {
        tag: FAILED as i64,
        bits: 0,
    };
    let Some(m) = entries(map) else {
        return failed;
    };
    let undef = Value::Undef;
    let v = containers::entry(m, &Value::Int(key)).unwrap_or(&undef);
    let tag = tag_of(v);
    if tag == TAG_OPAQUE || kinds & (1 << tag) == 0 {
        return failed;
    }
    Pair {
        tag: tag as i64,
        bits: bits_of(v) as i64,
    }
}

pub(super) extern "C" fn hash_exists(map: i64, key: i64) -> i64 {
    entries(map).is_some_and(|m| containers::entry(m, &Value::Int(key)).is_some()) as i64
}

pub(super) extern "C" fn hash_set(map: i64, key: i64, tag: i64, bits: i64, limit: i64) -> i64 {
    let (Some(m), Some(v)) = (entries_mut(map), value_of(tag as u64, bits as u64)) else {
        return 0;
    };
    let limit = usize::try_from(limit).unwrap_or(0);
    containers::insert_entry(m, &Value::Int(key), v, limit).is_ok() as i64
}
