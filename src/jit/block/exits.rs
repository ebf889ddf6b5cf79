//! What running a unit and leaving it need of its analysis: the root's
//! slot count and stack depth, the deepest subroutine stack, whether boxed
//! values flow through it, and the scopes open at each exit. Small enough
//! to keep with the unit's code in the persistent cache, so a unit linked
//! from a record is not analysed again.

use super::analysis::{MAX_DEPTH, MAX_SLOTS, Plan, Scope};

/// A unit's run-time shape (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitMap {
    /// Physical slots of the root.
    pub slot_count: usize,
    /// Deepest operand stack of the root.
    pub max_depth: usize,
    /// Deepest operand stack of any subroutine (bounds the frame budget).
    pub sub_depth: usize,
    /// Whether boxed values flow through the root (the tracing tier).
    pub boxed: bool,
    /// Scopes and inlined call frames open before each op that has any
    /// (outermost first), by op index, ascending.
    scopes: Vec<(usize, Vec<Scope>)>,
}

/// Bytes of one encoded scope.
const SCOPE: usize = 24;

/// `Scope::call`'s `None`.
const NO_CALL: u64 = u64::MAX;

impl ExitMap {
    /// The shape of `plan`.
    pub fn of(plan: &Plan) -> ExitMap {
        let root = &plan.functions[0];
        let scopes = root
            .states
            .iter()
            .enumerate()
            .filter_map(|(ip, s)| {
                let s = s.as_ref()?;
                (!s.scopes.is_empty()).then(|| (ip, s.scopes.clone()))
            })
            .collect();
        ExitMap {
            slot_count: root.slot_count,
            max_depth: root.max_depth,
            sub_depth: plan.functions[1..]
                .iter()
                .map(|f| f.max_depth)
                .max()
                .unwrap_or(0),
            boxed: plan.boxed,
            scopes,
        }
    }

    /// Scopes open before op `ip` (outermost first).
    pub fn scopes_at(&self, ip: usize) -> &[Scope] {
        self.scopes
            .binary_search_by_key(&ip, |(at, _)| *at)
            .map_or(&[], |k| self.scopes[k].1.as_slice())
    }

    /// The bytes a cache record keeps.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut word = |w: u64| out.extend_from_slice(&w.to_le_bytes());
        word(self.slot_count as u64);
        word(self.max_depth as u64);
        word(self.sub_depth as u64);
        word(self.boxed as u64);
        word(self.scopes.len() as u64);
        for (ip, open) in &self.scopes {
            word(*ip as u64);
            word(open.len() as u64);
            for sc in open {
                word(sc.slot_base as u64);
                word(sc.stack_depth as u64);
                word(sc.call.map_or(NO_CALL, |c| c as u64));
            }
        }
        out
    }

    /// Parses [`Self::encode`]'s bytes for a chunk of `ops` ops; `None` if
    /// they are not such bytes (never panics).
    pub fn decode(bytes: &[u8], ops: usize) -> Option<ExitMap> {
        let mut r = Words(bytes);
        let slot_count = r.size()?;
        let max_depth = r.size()?;
        let sub_depth = r.size()?;
        if slot_count > MAX_SLOTS || max_depth > MAX_DEPTH || sub_depth > MAX_DEPTH {
            return None;
        }
        let boxed = match r.word()? {
            0 => false,
            1 => true,
            _ => return None,
        };
        let n = r.size()?;
        let mut scopes: Vec<(usize, Vec<Scope>)> = Vec::new();
        for _ in 0..n {
            let ip = r.size()?;
            let count = r.size()?;
            let in_order = scopes.last().is_none_or(|(last, _)| *last < ip);
            if ip > ops || !in_order || count > r.0.len() / SCOPE {
                return None;
            }
            let mut open = Vec::with_capacity(count);
            for _ in 0..count {
                let slot_base = r.size()?;
                let stack_depth = r.size()?;
                let call = match r.word()? {
                    NO_CALL => None,
                    c => Some(usize::try_from(c).ok().filter(|c| *c <= ops)?),
                };
                open.push(Scope {
                    slot_base,
                    stack_depth,
                    call,
                });
            }
            scopes.push((ip, open));
        }
        if !r.0.is_empty() {
            return None;
        }
        Some(ExitMap {
            slot_count,
            max_depth,
            sub_depth,
            boxed,
            scopes,
        })
    }
}

/// A reader of little-endian words.
struct Words<'a>(&'a [u8]);

impl Words<'_> {
    fn word(&mut self) -> Option<u64> {
        let (w, tail) = self.0.split_first_chunk::<8>()?;
        self.0 = tail;
        Some(u64::from_le_bytes(*w))
    }

    /// A word that is a plausible size or index (at most 2^32).
    fn size(&mut self) -> Option<usize> {
        usize::try_from(self.word()?).ok().filter(|n| *n <= 1 << 32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ExitMap {
        let sc = |slot_base, stack_depth, call| Scope {
            slot_base,
            stack_depth,
            call,
        };
        ExitMap {
            slot_count: 7,
            max_depth: 3,
            sub_depth: 2,
            boxed: true,
            scopes: vec![
                (4, vec![sc(0, 0, None)]),
                (9, vec![sc(0, 0, None), sc(3, 1, Some(12))]),
            ],
        }
    }

    #[test]
    fn an_exit_map_survives_encoding() {
        let m = sample();
        assert_eq!(ExitMap::decode(&m.encode(), 20), Some(m.clone()));
        assert_eq!(m.scopes_at(9).len(), 2);
        assert_eq!(m.scopes_at(5), &[]);
    }

    #[test]
    fn a_damaged_exit_map_is_refused_not_trusted() {
        let bytes = sample().encode();
        for cut in 0..bytes.len() {
            assert_eq!(ExitMap::decode(&bytes[..cut], 20), None, "cut at {cut}");
        }
        // A return ip or exit ip past the chunk, and scopes out of order.
        assert_eq!(ExitMap::decode(&bytes, 10), None);
        let mut swapped = sample();
        swapped.scopes.reverse();
        assert_eq!(ExitMap::decode(&swapped.encode(), 20), None);
        let mut extra = bytes.clone();
        extra.push(0);
        assert_eq!(ExitMap::decode(&extra, 20), None);
    }
}
