//! Hash entries for native code: the view that lets it probe a hash's
//! Int-key table in place (see `block::lower::hashes`), and the insertion
//! of a key the probe did not find.

use super::{Pair, lent};
use crate::bytecode::value::Value;
use crate::interp::containers;
use crate::jit::kinds::value_of;

/// `{i64 table, i64 shift} hash_view(i64 box, i64 write)`: the Int-key
/// table of the hash in box `box` (made unique first when `write` is 1):
/// the address of its first entry and its hash's shift; table 0 if the box
/// holds no hash, or one with string keys or no entries allocated.
pub const HASH_VIEW: &str = "fusevm_hash_view";
/// `i64 hash_insert(i64 box, i64 key, i64 tag, i64 bits)`: stores the
/// unboxed value `(tag, bits)` under Int `key` in the hash in box `box`;
/// 0, with nothing changed, when it can't (a new key in a full hash, a box
/// holding no hash: the value helper then reports it).
pub const HASH_INSERT: &str = "fusevm_hash_insert";

pub(super) extern "C" fn hash_view(bx: i64, write: i64) -> Pair {
    lent(|l| {
        let (table, shift) = match l.boxes.get_mut(usize::try_from(bx).ok()?)? {
            Value::Hash(h) if write != 0 => {
                let (t, s) = h.make_mut().int_keys_mut()?.table_mut();
                (t as i64, s)
            }
            Value::Hash(h) => {
                let (t, s) = h.int_keys()?.table();
                (t as i64, s)
            }
            _ => return None,
        };
        Some(Pair {
            tag: table,
            bits: shift as i64,
        })
    })
    .flatten()
    .unwrap_or(Pair { tag: 0, bits: 0 })
}

pub(super) extern "C" fn hash_insert(bx: i64, key: i64, tag: i64, bits: i64) -> i64 {
    let Some(v) = value_of(tag as u64, bits as u64) else {
        return 0;
    };
    lent(|l| {
        let limit = l.max_collection_len;
        match l.boxes.get_mut(usize::try_from(bx).ok()?)? {
            Value::Hash(h) => {
                containers::insert_entry(h.make_mut(), &Value::Int(key), v, limit).ok()
            }
            _ => None,
        }
    })
    .flatten()
    .is_some() as i64
}
