//! The table behind a hash with Int keys, laid out so native code can
//! probe it.
//!
//! A `std` or `hashbrown` map keeps its layout to itself, so native code
//! could only reach one through a runtime call per op. This table is one
//! flat array of [`Entry`]s (an `i64` key, then the [`Value`]), a power of
//! two long and at most half full, probed linearly from the key's
//! Fibonacci hash: the block tier emits that probe inline (see
//! `jit::block::lower::hashes`), reading and writing entries in place.
//!
//! An unused entry holds the key [`EMPTY`] (`i64::MIN`) and `Undef`; the
//! entry of the key `i64::MIN` itself is kept apart, so a probe never
//! confuses the two. Removal shifts the entries after it back (no
//! tombstones), so every probe ends at the first unused entry.

use super::value::Value;

/// The key of an unused entry.
pub const EMPTY: i64 = i64::MIN;
/// Bytes from one entry to the next.
pub const ENTRY_SIZE: u64 = 24;
/// Byte offset of an entry's value tag (the [`Value`]'s discriminant:
/// `Value` is `repr(u8)`, so Undef 0, Bool 1, Int 2, Float 3).
pub const TAG_OFFSET: u64 = 8;
/// Byte offset of a Bool value's byte.
pub const BOOL_OFFSET: u64 = 9;
/// Byte offset of an Int's or a Float's 64 bits.
pub const BITS_OFFSET: u64 = 16;
/// The multiplier of the Fibonacci hash (2^64 / φ).
pub const MULTIPLIER: u64 = 0x9E37_79B9_7F4A_7C15;

/// One entry: a key and its value (see the offsets above).
#[repr(C)]
#[derive(Clone)]
pub struct Entry {
    /// The key, or [`EMPTY`].
    pub key: i64,
    /// The value (`Undef` when unused).
    pub value: Value,
}

/// An open-addressing table from Int keys to values (see the module docs).
#[derive(Clone, Default)]
pub struct IntKeys {
    /// Empty, or a power of two many entries.
    entries: Vec<Entry>,
    /// `64 - log2(entries.len())`: the hash's top bits index the entries.
    shift: u32,
    /// Entries in use, not counting [`Self::min`].
    used: usize,
    /// The entry of the key `i64::MIN`.
    min: Option<Value>,
}

/// The first index a key's probe looks at.
#[inline]
fn home(key: i64, shift: u32) -> usize {
    ((key as u64).wrapping_mul(MULTIPLIER) >> shift) as usize
}

impl IntKeys {
    /// Entries.
    #[inline]
    pub fn len(&self) -> usize {
        self.used + self.min.is_some() as usize
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Where `key`'s entry is, or `Err` with the unused index its probe
    /// ended at (`key` is not [`EMPTY`]; the table is allocated).
    #[inline]
    fn find(&self, key: i64) -> Result<usize, usize> {
        let mask = self.entries.len() - 1;
        let mut i = home(key, self.shift);
        loop {
            match self.entries[i].key {
                k if k == key => return Ok(i),
                EMPTY => return Err(i),
                _ => i = (i + 1) & mask,
            }
        }
    }

    /// The value of `key`.
    #[inline]
    pub fn get(&self, key: i64) -> Option<&Value> {
        if key == EMPTY {
            return self.min.as_ref();
        }
        if self.used == 0 {
            return None;
        }
        self.find(key).ok().map(|i| &self.entries[i].value)
    }

    /// The value of `key`, to change.
    #[inline]
    pub fn get_mut(&mut self, key: i64) -> Option<&mut Value> {
        if key == EMPTY {
            return self.min.as_mut();
        }
        if self.used == 0 {
            return None;
        }
        self.find(key).ok().map(|i| &mut self.entries[i].value)
    }

    /// Stores `value` under `key`; returns the value it replaced.
    pub fn insert(&mut self, key: i64, value: Value) -> Option<Value> {
        if key == EMPTY {
            return self.min.replace(value);
        }
        if (self.used + 1) * 2 > self.entries.len() {
            self.grow();
        }
        match self.find(key) {
            Ok(i) => Some(std::mem::replace(&mut self.entries[i].value, value)),
            Err(i) => {
                self.entries[i] = Entry { key, value };
                self.used += 1;
                None
            }
        }
    }

    /// Removes `key`'s entry and returns its value.
    pub fn remove(&mut self, key: i64) -> Option<Value> {
        if key == EMPTY {
            return self.min.take();
        }
        if self.used == 0 {
            return None;
        }
        let mut hole = self.find(key).ok()?;
        let gone = std::mem::replace(&mut self.entries[hole], unused());
        self.used -= 1;
        // Shift back every later entry of the run whose probe passes the
        // hole, so no probe stops early at it.
        let mask = self.entries.len() - 1;
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            let k = self.entries[j].key;
            if k == EMPTY {
                break;
            }
            let from_home = j.wrapping_sub(home(k, self.shift)) & mask;
            let from_hole = j.wrapping_sub(hole) & mask;
            if from_home >= from_hole {
                self.entries.swap(hole, j);
                hole = j;
            }
        }
        Some(gone.value)
    }

    /// Every entry, in no order.
    pub fn iter(&self) -> impl Iterator<Item = (i64, &Value)> {
        let min = self.min.as_ref().map(|v| (EMPTY, v));
        let used = self.entries.iter().filter(|e| e.key != EMPTY);
        min.into_iter().chain(used.map(|e| (e.key, &e.value)))
    }

    /// Every value, to change, in no order.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut Value> {
        let used = self.entries.iter_mut().filter(|e| e.key != EMPTY);
        self.min.iter_mut().chain(used.map(|e| &mut e.value))
    }

    /// Every entry, taken out, in no order.
    pub fn into_entries(self) -> impl Iterator<Item = (i64, Value)> {
        let min = self.min.map(|v| (EMPTY, v));
        let used = self.entries.into_iter().filter(|e| e.key != EMPTY);
        min.into_iter().chain(used.map(|e| (e.key, e.value)))
    }

    /// What native code probes to read: the first entry's address (null
    /// while nothing is allocated) and the hash's shift.
    pub fn table(&self) -> (*const Entry, u32) {
        match self.entries.is_empty() {
            true => (std::ptr::null(), 0),
            false => (self.entries.as_ptr(), self.shift),
        }
    }

    /// What native code probes to read and write values in place (keys
    /// stay): as [`Self::table`].
    pub fn table_mut(&mut self) -> (*mut Entry, u32) {
        match self.entries.is_empty() {
            true => (std::ptr::null_mut(), 0),
            false => (self.entries.as_mut_ptr(), self.shift),
        }
    }

    /// Doubles the entries (8 at first) and puts every entry back.
    fn grow(&mut self) {
        let len = (self.entries.len() * 2).max(8);
        let old = std::mem::replace(&mut self.entries, (0..len).map(|_| unused()).collect());
        self.shift = 64 - len.trailing_zeros();
        for e in old.into_iter().filter(|e| e.key != EMPTY) {
            if let Err(i) = self.find(e.key) {
                self.entries[i] = e;
            }
        }
    }
}

/// An unused entry.
fn unused() -> Entry {
    Entry {
        key: EMPTY,
        value: Value::Undef,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustc_hash::FxHashMap;

    fn int(v: Option<&Value>) -> Option<i64> {
        v.map(|v| match v {
            Value::Int(n) => *n,
            _ => panic!("not an Int"),
        })
    }

    #[test]
    fn an_entry_is_a_key_then_a_sixteen_byte_value() {
        assert_eq!(std::mem::size_of::<Entry>() as u64, ENTRY_SIZE);
        assert_eq!(std::mem::align_of::<Entry>(), 8);
    }

    #[test]
    fn inserts_and_removals_agree_with_a_std_map_under_colliding_keys() {
        // Keys of one stride collide in the hash's top bits often enough to
        // make long runs; removals then shift entries across the wrap.
        let mut t = IntKeys::default();
        let mut m = FxHashMap::default();
        let mut x: u64 = 7;
        for step in 0..20_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let key = match x >> 62 {
                0 => EMPTY,
                1 => ((x >> 20) % 64) as i64 * 1024,
                _ => ((x >> 20) % 300) as i64 - 150,
            };
            if (x >> 8) % 3 == 0 {
                assert_eq!(int(t.remove(key).as_ref()), m.remove(&key), "step {step}");
            } else {
                let old = t.insert(key, Value::Int(step));
                assert_eq!(int(old.as_ref()), m.insert(key, step), "step {step}");
            }
            assert_eq!(t.len(), m.len());
        }
        for (k, v) in &m {
            assert_eq!(int(t.get(*k)), Some(*v));
        }
        let mut seen: Vec<i64> = t.iter().map(|(k, _)| k).collect();
        seen.sort_unstable();
        let mut want: Vec<i64> = m.keys().copied().collect();
        want.sort_unstable();
        assert_eq!(seen, want);
        assert!(t.get(1 << 40).is_none());
    }

    #[test]
    fn the_table_stays_at_most_half_full() {
        let mut t = IntKeys::default();
        for k in 0..1000 {
            t.insert(k, Value::Undef);
            assert!(t.used * 2 <= t.entries.len());
        }
        assert_eq!(t.entries.len(), 2048);
    }
}
