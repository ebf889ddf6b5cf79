//! A hash's entries, with a storage strategy for Int keys.
//!
//! Keys are strings as far as any program can tell: `h{7}`, `h{"7"}` and
//! `h{7.0}` name one entry, and everything that shows an order (printing,
//! `HashKeys`, `HashValues`, hashing, serializing, `Debug`) takes the
//! entries sorted by their key strings ([`HashEntries::sorted`]). Stored,
//! though, a hash whose every key is the decimal form of an Int (no sign
//! but `-`, no leading zero, not `-0`: the string `Value::Int(n)` prints
//! as) keeps its keys as `i64`s, so `h{n}` with an Int `n` (a histogram, a
//! memo table) neither formats nor compares a string. The first key that
//! is not such a form switches the hash to string keys, once, keeping
//! every entry.

use super::int_keys::IntKeys;
use super::value::Value;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;

/// A key as a program gives it: an Int or a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key<'a> {
    /// An Int key (the string it names is its decimal form).
    Int(i64),
    /// A string key.
    Str(&'a str),
}

impl Key<'_> {
    /// The Int a key stands for under Int keys: an Int, or a string that
    /// is exactly an Int's decimal form.
    fn as_int(self) -> Option<i64> {
        match self {
            Key::Int(n) => Some(n),
            Key::Str(s) => int_form(s),
        }
    }

    /// Runs `f` on the key's string without allocating.
    fn with_text<R>(self, f: impl FnOnce(&str) -> R) -> R {
        match self {
            Key::Int(n) => f(itoa::Buffer::new().format(n)),
            Key::Str(s) => f(s),
        }
    }
}

/// `n`'s decimal form: the key string an Int key stands for.
fn decimal(n: i64) -> String {
    itoa::Buffer::new().format(n).to_owned()
}

/// The Int whose decimal form is exactly `s`.
fn int_form(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let canonical = match digits.as_bytes() {
        [b'0'] => digits.len() == s.len(), // "0", not "-0"
        [b'1'..=b'9', rest @ ..] => rest.iter().all(u8::is_ascii_digit),
        _ => false,
    };
    if canonical { s.parse().ok() } else { None }
}

/// A hash's entries (see the module docs).
#[derive(Clone)]
pub struct HashEntries(Keys);

#[derive(Clone)]
enum Keys {
    /// Every key is an Int's decimal form, stored as that Int (in a table
    /// native code probes).
    Ints(IntKeys),
    /// Any string keys.
    Strs(FxHashMap<String, Value>),
}

impl Default for HashEntries {
    fn default() -> Self {
        HashEntries(Keys::Ints(IntKeys::default()))
    }
}

impl HashEntries {
    /// No entries.
    pub fn new() -> Self {
        Self::default()
    }

    /// Entries.
    #[inline]
    pub fn len(&self) -> usize {
        match &self.0 {
            Keys::Ints(m) => m.len(),
            Keys::Strs(m) => m.len(),
        }
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether every key is stored as an Int (the Int-key strategy).
    pub fn has_int_keys(&self) -> bool {
        matches!(self.0, Keys::Ints(_))
    }

    /// The entry `key` names.
    pub fn get_key(&self, key: Key<'_>) -> Option<&Value> {
        match &self.0 {
            Keys::Ints(m) => m.get(key.as_int()?),
            Keys::Strs(m) => key.with_text(|k| m.get(k)),
        }
    }

    /// The entry `key` names, to change.
    pub fn get_key_mut(&mut self, key: Key<'_>) -> Option<&mut Value> {
        match &mut self.0 {
            Keys::Ints(m) => m.get_mut(key.as_int()?),
            Keys::Strs(m) => key.with_text(|k| m.get_mut(k)),
        }
    }

    /// The entry string `key` names.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.get_key(Key::Str(key))
    }

    /// Whether string `key` names an entry.
    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Stores `v` under `key`; returns the value it replaced. A key that is
    /// not an Int's form switches Int keys to string keys.
    pub fn insert_key(&mut self, key: Key<'_>, v: Value) -> Option<Value> {
        if let Keys::Ints(m) = &mut self.0 {
            match key.as_int() {
                Some(n) => return m.insert(n, v),
                None => self.switch_to_string_keys(),
            }
        }
        match &mut self.0 {
            Keys::Strs(m) => key.with_text(|k| match m.get_mut(k) {
                Some(old) => Some(std::mem::replace(old, v)),
                None => m.insert(k.to_owned(), v),
            }),
            Keys::Ints(_) => unreachable!("switched to string keys above"),
        }
    }

    /// Stores `v` under string `key`; returns the value it replaced.
    pub fn insert(&mut self, key: impl Into<String>, v: Value) -> Option<Value> {
        let key: String = key.into();
        if let Keys::Strs(m) = &mut self.0 {
            return m.insert(key, v); // no copy of the key
        }
        self.insert_key(Key::Str(&key), v)
    }

    /// Removes the entry `key` names and returns it.
    pub fn remove_key(&mut self, key: Key<'_>) -> Option<Value> {
        match &mut self.0 {
            Keys::Ints(m) => m.remove(key.as_int()?),
            Keys::Strs(m) => key.with_text(|k| m.remove(k)),
        }
    }

    /// Removes the entry string `key` names and returns it.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.remove_key(Key::Str(key))
    }

    /// Every entry with its key's string, in no order.
    pub fn iter(&self) -> impl Iterator<Item = (Cow<'_, str>, &Value)> {
        let (ints, strs) = match &self.0 {
            Keys::Ints(m) => (Some(m), None),
            Keys::Strs(m) => (None, Some(m)),
        };
        let ints = ints
            .into_iter()
            .flat_map(IntKeys::iter)
            .map(|(k, v)| (Cow::Owned(decimal(k)), v));
        let strs = strs
            .into_iter()
            .flatten()
            .map(|(k, v)| (Cow::Borrowed(k.as_str()), v));
        ints.chain(strs)
    }

    /// Every entry, sorted by its key's string: the order a program sees.
    pub fn sorted(&self) -> Vec<(Cow<'_, str>, &Value)> {
        let mut entries: Vec<_> = self.iter().collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        entries
    }

    /// Every value, to change, in no order.
    pub fn values_mut(&mut self) -> Box<dyn Iterator<Item = &mut Value> + '_> {
        match &mut self.0 {
            Keys::Ints(m) => Box::new(m.values_mut()),
            Keys::Strs(m) => Box::new(m.values_mut()),
        }
    }

    /// The Int-key table, to probe (`None` under string keys).
    #[inline]
    pub fn int_keys(&self) -> Option<&IntKeys> {
        match &self.0 {
            Keys::Ints(m) => Some(m),
            Keys::Strs(_) => None,
        }
    }

    /// The Int-key table, to probe or change in place (`None` under
    /// string keys).
    #[inline]
    pub fn int_keys_mut(&mut self) -> Option<&mut IntKeys> {
        match &mut self.0 {
            Keys::Ints(m) => Some(m),
            Keys::Strs(_) => None,
        }
    }

    /// Int keys become their strings (the first key that is no Int's form).
    fn switch_to_string_keys(&mut self) {
        if let Keys::Ints(m) = &mut self.0 {
            let strs = std::mem::take(m)
                .into_entries()
                .map(|(n, v)| (decimal(n), v))
                .collect();
            self.0 = Keys::Strs(strs);
        }
    }
}

impl<K: Into<String>> FromIterator<(K, Value)> for HashEntries {
    fn from_iter<I: IntoIterator<Item = (K, Value)>>(pairs: I) -> Self {
        let mut h = HashEntries::default();
        for (k, v) in pairs {
            h.insert(k, v);
        }
        h
    }
}

impl Serialize for HashEntries {
    /// A map of key strings in key order (the same entries, the same bytes).
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.sorted())
    }
}

impl<'de> Deserialize<'de> for HashEntries {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let pairs = FxHashMap::<String, Value>::deserialize(d)?;
        Ok(pairs.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_ints_exact_decimal_form_is_an_int_key() {
        for (s, n) in [("0", Some(0)), ("7", Some(7)), ("-12", Some(-12))] {
            assert_eq!(int_form(s), n, "{s}");
        }
        let max = i64::MAX.to_string();
        assert_eq!(int_form(&max), Some(i64::MAX));
        for s in [
            "",
            "-",
            "-0",
            "007",
            "+7",
            " 7",
            "7 ",
            "1e3",
            "7.0",
            "99999999999999999999",
        ] {
            assert_eq!(int_form(s), None, "{s:?}");
        }
    }

    #[test]
    fn int_keys_and_their_strings_name_one_entry_until_a_string_key_switches_strategy() {
        let mut h = HashEntries::new();
        h.insert_key(Key::Int(7), Value::Int(1));
        assert!(h.has_int_keys());
        assert!(h.get("7").is_some() && h.get("07").is_none());
        h.insert("7", Value::Int(2));
        assert_eq!(h.len(), 1);
        h.insert("07", Value::Int(3)); // no Int's form: string keys from now
        assert!(!h.has_int_keys());
        assert_eq!(h.len(), 2);
        assert!(matches!(h.get_key(Key::Int(7)), Some(Value::Int(2))));
        assert!(matches!(h.remove_key(Key::Int(7)), Some(Value::Int(2))));
        let keys: Vec<_> = h
            .sorted()
            .into_iter()
            .map(|(k, _)| k.into_owned())
            .collect();
        assert_eq!(keys, ["07"]);
    }

    #[test]
    fn entries_sort_by_key_string_whatever_the_strategy() {
        let ints: HashEntries = [
            ("10", Value::Undef),
            ("9", Value::Undef),
            ("-1", Value::Undef),
        ]
        .into_iter()
        .collect();
        assert!(ints.has_int_keys());
        let mut strs = ints.clone();
        strs.insert("x", Value::Undef);
        strs.remove("x");
        assert!(!strs.has_int_keys());
        for h in [&ints, &strs] {
            let keys: Vec<_> = h
                .sorted()
                .into_iter()
                .map(|(k, _)| k.into_owned())
                .collect();
            assert_eq!(keys, ["-1", "10", "9"]);
        }
    }
}
