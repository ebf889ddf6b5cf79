//! Loop versioning in the block tier: a loop that works on arrays is built
//! twice. The *general copy* is the lowering every op always had: a slow
//! path (an index out of range, an element of another kind, a forgotten
//! view) calls a helper and merges back, so the views it carries may change
//! anywhere in the loop and LLVM re-checks them at every element. The
//! *fast copy* starts only once every view the loop uses is fetched (made
//! unique where the loop writes, without copying) and holds the strategy
//! guessed from the analysis; inside it no op calls a helper that could
//! change a view: any slow path *bails* to the general copy at the same
//! op, with the state the op would have had (every position lives in the
//! same allocas). The views are then invariant in the fast copy, so LLVM
//! keeps their checks at its entry and each element costs a bounds check
//! and a load.
//!
//! The general copy's loop header tries the fast copy again on every
//! arrival (from before the loop and from its own back-edges), so a loop
//! that bailed once returns to the fast copy at its next iteration; after
//! `GIVE_UP` failed tries in a row the native call stops trying.

use super::arrays::{Fetch, Holder, READABLE, WRITABLE, fast_path_holder};
use super::*;
use crate::jit::block::analysis::{Tier, successors};

/// One versioned loop.
pub(super) struct Version<'c> {
    /// The loop header (the target of its back-edges).
    head: usize,
    /// Its last op (the furthest back-edge).
    end: usize,
    /// The views the fast copy starts with: index in `views`, whether the
    /// loop writes through it, the strategy guessed for it (see `version_views`).
    views: Vec<(usize, bool, Option<u64>)>,
    /// The fast copy's block per op `head..=end`.
    fast: Vec<Option<BasicBlock<'c>>>,
    /// The general copy's op `head` past the try to enter the fast copy:
    /// where a bail at `head` goes (else it would enter again at once).
    body: Option<BasicBlock<'c>>,
    /// `i64` alloca: tries to enter the fast copy that failed in a row;
    /// at [`GIVE_UP`] this native call stops trying (a view that can't be
    /// had unique would otherwise cost a runtime call per iteration).
    misses: PointerValue<'c>,
}

/// Failed tries in a row after which a loop stays in its general copy
/// for the rest of the native call.
const GIVE_UP: i64 = 4;

impl<'c> FnBuilder<'_, 'c, '_> {
    /// Picks the loops of a boxed block-tier root to version: the
    /// outermost single-entry loops that use an array view and call no
    /// helper on their usual path (an op that always needs the value
    /// helper would bail at every iteration). Creates their fast blocks.
    pub(super) fn plan_versions(&mut self) {
        if !self.root || !self.boxed || self.plan.tier != Tier::Block || self.views.is_empty() {
            return;
        }
        let ops = self.chunk.ops();
        let n = ops.len();
        let live = |ip: usize| self.fun.states.get(ip).and_then(|s| s.as_ref());
        // Header -> furthest back-edge.
        let mut loops: Vec<(usize, usize)> = Vec::new();
        for ip in (0..n).filter(|&ip| live(ip).is_some()) {
            for t in successors(&ops[ip], ip).into_iter().filter(|&t| t <= ip) {
                match loops.iter_mut().find(|l| l.0 == t) {
                    Some(l) => l.1 = l.1.max(ip),
                    None => loops.push((t, ip)),
                }
            }
        }
        loops.sort_unstable();
        let mut taken_end = None;
        for (head, end) in loops {
            if taken_end.is_some_and(|e| head <= e) {
                continue; // inside (or across) a loop already versioned
            }
            if let Some(views) = self.version_views(head, end)
                && let Ok(misses) = self.e.b.build_alloca(self.e.i64t, "fast_misses")
                && self.e.b.build_store(misses, self.e.int(0)).is_ok()
            {
                let fast = (head..=end)
                    .map(|ip| {
                        live(ip).map(|_| {
                            (self.e.ctx).append_basic_block(self.func, &format!("fast{ip}"))
                        })
                    })
                    .collect();
                self.versions.push(Version {
                    head,
                    end,
                    views,
                    fast,
                    body: None,
                    misses,
                });
                taken_end = Some(end);
            }
        }
    }

    /// The views loop `head..=end` starts its fast copy with, or `None`
    /// when it is not worth a fast copy (or control enters it elsewhere).
    fn version_views(&self, head: usize, end: usize) -> Option<Vec<(usize, bool, Option<u64>)>> {
        let ops = self.chunk.ops();
        let inside = |t: usize| t > head && t <= end;
        if inside(self.fun.entry) {
            return None;
        }
        // Per view: whether the loop writes through it, and the strategies
        // (bit `s` for strategy `s`) its element ops can work with in place.
        let mut views: Vec<(usize, bool, u8)> = Vec::new();
        for (ip, op) in ops.iter().enumerate() {
            let Some(st) = self.fun.states.get(ip).and_then(|s| s.as_ref()) else {
                continue;
            };
            if !(head..=end).contains(&ip) {
                if successors(op, ip).into_iter().any(inside) {
                    return None; // a second entry
                }
                continue;
            }
            let holder = fast_path_holder(op, st).filter(|&h| self.holds_boxed(st, h));
            let Some(h) = holder else {
                let hashed = hashes::fast_path_global(op).is_some_and(|g| {
                    st.globals
                        .get(g as usize)
                        .is_some_and(|k| k.has(TAG_OPAQUE))
                });
                if needs_helper(op, self.chunk) && !hashed {
                    return None;
                }
                continue;
            };
            let k = self.views.iter().position(|v| v.holder == h)?;
            let write = matches!(op, Op::ArrayPush(_) | Op::ArraySet(_) | Op::SlotArraySet(_));
            let i = match views.iter().position(|v| v.0 == k) {
                Some(i) => i,
                None => {
                    views.push((k, false, 0));
                    views.len() - 1
                }
            };
            let v = &mut views[i];
            v.1 |= write;
            if !matches!(op, Op::ArrayLen(_)) {
                let after = self.fun.states.get(ip + 1).and_then(|s| s.as_ref());
                let can = strategies(op, st, after);
                if can != 0b111 {
                    v.2 |= can; // an op that can take any says nothing
                }
            }
        }
        if views.is_empty() {
            return None;
        }
        // The strategy checked at the entry, which makes it a constant in
        // the fast copy (LLVM then folds every element's kind): one the
        // element ops can work with in place, Int first. It is a guess when
        // the analysis allows several (an Int table whose reads may be
        // Undef past its end, so sums of them may be Floats; a rare store
        // of a Float): a wrong one keeps the loop in its general copy, as
        // if it had no fast copy.
        let pick = |can: u8| (0..3u64).find(|&s| can & (1 << s) != 0);
        Some(
            views
                .into_iter()
                .map(|(k, w, can)| (k, w, pick(can)))
                .collect(),
        )
    }

    /// Whether `holder`'s position may hold a boxed value before an op.
    fn holds_boxed(&self, st: &State, holder: Holder) -> bool {
        match holder {
            Holder::Global(n) => st.globals.get(n as usize),
            Holder::Slot(p) => st.slots.get(p),
        }
        .is_some_and(|k| k.has(TAG_OPAQUE))
    }

    /// The versioned loop whose header is op `ip`.
    pub(super) fn version_at(&self, ip: usize) -> Option<usize> {
        self.versions.iter().position(|v| v.head == ip)
    }

    /// The fast copy's block of op `ip` while a fast copy is lowered and
    /// `ip` belongs to it.
    pub(super) fn fast_block(&self, ip: usize) -> Option<L<BasicBlock<'c>>> {
        let v = &self.versions[self.fast?];
        (v.head..=v.end).contains(&ip).then(|| {
            v.fast[ip - v.head].ok_or_else(|| LowerError(format!("no fast block for op {ip}")))
        })
    }

    /// In a fast copy: ends the block with a jump to the general copy at op
    /// `ip` (true); elsewhere does nothing (false).
    pub(super) fn bail(&self, ip: usize) -> L<bool> {
        let Some(k) = self.fast else {
            return Ok(false);
        };
        let v = &self.versions[k];
        let to = match (ip == v.head, v.body) {
            (true, Some(body)) => body,
            (true, None) => return Err(LowerError(format!("op {ip}: no general body"))),
            (false, _) => self
                .blocks
                .get(ip)
                .copied()
                .flatten()
                .ok_or_else(|| LowerError(format!("no block for op {ip}")))?,
        };
        self.count(info::FAST_BAILS)?;
        self.e.b.build_unconditional_branch(to)?;
        Ok(true)
    }

    /// At the general copy's header of version `k`: enters the fast copy
    /// when every view it starts with serves (fetched if need be, never
    /// copying an array) with the strategy guessed; ends positioned in the
    /// general copy's body.
    pub(super) fn try_fast_copy(&mut self, k: usize) -> L<()> {
        let e = self.e;
        let head = self.versions[k].head;
        let misses = self.versions[k].misses;
        let (body, miss) = (
            self.new_block(&format!("op{head}_general")),
            self.new_block("fast_missed"),
        );
        let tries = e.b.build_load(e.i64t, misses, "misses")?.into_int_value();
        let trying =
            e.b.build_int_compare(IntPredicate::SLT, tries, e.int(GIVE_UP), "trying")?;
        let start = self.new_block("fast_try");
        e.b.build_conditional_branch(trying, start, body)?;
        e.b.position_at_end(start);
        for (vi, write, strat) in self.versions[k].views.clone() {
            let view = self.views[vi];
            let g = self.load(self.holder_cell(view.holder)?, None)?;
            let (check, fetch, have) = (
                self.new_block("fast_check"),
                self.new_block("fast_fetch"),
                self.new_block("fast_view"),
            );
            e.b.build_conditional_branch(e.is(g, TAG_OPAQUE)?, check, miss)?;
            e.b.position_at_end(check);
            let serves = self.view_serves(view.ok, write)?;
            e.b.build_conditional_branch(serves, have, fetch)?;
            e.b.position_at_end(fetch);
            let mode = if write {
                Fetch::WriteIfUnique
            } else {
                Fetch::Read
            };
            let is_array = self.fetch_view(view, g, mode)?;
            e.b.build_conditional_branch(is_array, have, miss)?;
            e.b.position_at_end(have);
            if !write {
                // A constant level for the copy: a read-only view owes no
                // length once synced, so it may drop to readable.
                let bit = self.views.iter().position(|v| v.holder == view.holder);
                self.sync_only(bit.map_or(0, |b| 1 << (b % 64)))?;
            }
            let level = if write { WRITABLE } else { READABLE };
            e.b.build_store(view.ok, e.i8t.const_int(level, false))?;
            if let Some(s) = strat {
                let now = e.b.build_load(e.i64t, view.strat, "strategy")?;
                let same = e.b.build_int_compare(
                    IntPredicate::EQ,
                    now.into_int_value(),
                    e.int(s as i64),
                    "expected_strategy",
                )?;
                let next = self.new_block("fast_strategy");
                e.b.build_conditional_branch(same, next, miss)?;
                e.b.position_at_end(next);
            }
        }
        let first = self.versions[k].fast[0]
            .ok_or_else(|| LowerError("no fast block for a loop header".into()))?;
        e.b.build_store(misses, e.int(0))?;
        self.count(info::FAST_ENTRIES)?;
        e.b.build_unconditional_branch(first)?;
        e.b.position_at_end(miss);
        let tries = e.b.build_int_add(tries, e.int(1), "missed")?;
        e.b.build_store(misses, tries)?;
        e.b.build_unconditional_branch(body)?;
        e.b.position_at_end(body);
        self.versions[k].body = Some(body);
        Ok(())
    }

    /// Adds one to `info` field `field` (a counter for `JitStats`).
    fn count(&self, field: u32) -> L<()> {
        let n = self.info_load(field)?;
        self.info_store(field, self.e.b.build_int_add(n, self.e.int(1), "count")?)
    }

    /// Lowers every version's fast copy (after the general code, whose
    /// blocks the bails jump to).
    pub(super) fn lower_fast_copies(&mut self) -> L<()> {
        for k in 0..self.versions.len() {
            self.fast = Some(k);
            let (head, end) = (self.versions[k].head, self.versions[k].end);
            for ip in head..=end {
                if let Some(bb) = self.versions[k].fast[ip - head] {
                    self.e.b.position_at_end(bb);
                    self.lower_op(ip)?;
                }
            }
        }
        self.fast = None;
        Ok(())
    }
}

/// The strategies (bit 0 Int, 1 Float, 2 Bool) whose elements array op
/// `op` can work with in place, by the kinds the analysis gives its
/// result (a read) or its stored value (a write); `st`/`after`: the states
/// before and after it.
fn strategies(op: &Op, st: &State, after: Option<&State>) -> u8 {
    let d = st.stack.len();
    let kinds = match op {
        Op::ArrayGet(_) | Op::SlotArrayGet(_) => after.and_then(|a| a.stack.get(d.checked_sub(1)?)),
        Op::ArrayPush(_) => st.stack.get(d.wrapping_sub(1)),
        Op::ArraySet(_) | Op::SlotArraySet(_) => st.stack.get(d.wrapping_sub(2)),
        _ => None,
    };
    let Some(kinds) = kinds else {
        return 0;
    };
    [TAG_INT, TAG_FLOAT, TAG_BOOL]
        .into_iter()
        .enumerate()
        .filter(|&(_, t)| kinds.has(t))
        .fold(0, |m, (s, _)| m | 1 << s)
}
