//! Hash entries in native code: `HashGet`, `HashExists` and `HashSet` on a
//! global hash with an Int key and an unboxed value (a histogram's counts,
//! a memo table).
//!
//! Native code keeps a *view* of each such global's hash: the address of
//! its entries, fetched from the runtime once (made unique for writing
//! then, so copy-on-write stays exact) and forgotten at the same places as
//! an array's view (any helper that may change, replace or share a box).
//! Each op is then one direct runtime call with that address
//! ([`helpers::HASH_GET`], [`helpers::HASH_EXISTS`], [`helpers::HASH_SET`]):
//! no thread-local lookup, no operand list, no op to decode. Whatever such
//! a call can't do (a key that is not an Int, a value that is boxed or of
//! a kind the analysis doesn't expect, a full hash, a global that holds no
//! hash) goes to the value helper, which runs the interpreter's own code.

use super::arrays::{FORGOTTEN, READABLE, WRITABLE};
use super::*;
use crate::jit::helpers;

/// One global's hash view, as allocas (promoted to registers by SROA).
#[derive(Clone, Copy)]
pub(super) struct HashView<'c> {
    /// The global holding the hash.
    global: u16,
    /// `i8`: [`FORGOTTEN`], [`READABLE`] or [`WRITABLE`] (fetched unique).
    ok: PointerValue<'c>,
    /// `i64`: the address of the hash's entries.
    map: PointerValue<'c>,
    /// `i64`: the running VM's collection size limit.
    limit: PointerValue<'c>,
}

/// The global a hash op with a native fast path works on.
pub(super) fn fast_path_global(op: &Op) -> Option<u16> {
    match *op {
        Op::HashGet(n) | Op::HashExists(n) | Op::HashSet(n) => Some(n),
        _ => None,
    }
}

impl<'c> FnBuilder<'_, 'c, '_> {
    /// Allocates a view for every global a hash op of the root uses (in the
    /// entry block; every view starts forgotten).
    pub(super) fn init_hash_views(&mut self) -> L<()> {
        let e = self.e;
        let ops = self.chunk.ops();
        let mut globals: Vec<u16> = (0..ops.len())
            .filter(|&ip| self.fun.states.get(ip).is_some_and(|s| s.is_some()))
            .filter_map(|ip| fast_path_global(&ops[ip]))
            .filter(|&n| (n as usize) < self.globals.len())
            .collect();
        globals.sort_unstable();
        globals.dedup();
        for global in globals {
            let v = HashView {
                global,
                ok: e.b.build_alloca(e.i8t, "hash_ok")?,
                map: e.b.build_alloca(e.i64t, "hash_map")?,
                limit: e.b.build_alloca(e.i64t, "hash_limit")?,
            };
            e.b.build_store(v.ok, e.i8t.const_int(FORGOTTEN, false))?;
            e.b.build_store(v.map, e.int(0))?;
            e.b.build_store(v.limit, e.int(0))?;
            self.hash_views.push(v);
        }
        Ok(())
    }

    /// Forgets every hash view, or (`to`: a box that got a copy of another
    /// box's value) forgets the view of box `to`'s hash and lets every
    /// other view only read (the copied value may be its hash, now shared).
    pub(super) fn forget_hash_views(&self, to: Option<usize>) -> L<()> {
        let e = self.e;
        for v in &self.hash_views {
            let level = match to {
                Some(bx) if self.layout.global(v.global as usize) != bx => {
                    self.at_most_readable(v.ok)?
                }
                _ => e.i8t.const_int(FORGOTTEN, false),
            };
            e.b.build_store(v.ok, level)?;
        }
        Ok(())
    }

    /// Global `n`'s hash view, fetched if forgotten (or, to `write`, if not
    /// unique): the entries' address and the collection limit; on to
    /// `slow` when the global holds no hash.
    fn hash_view(
        &self,
        n: u16,
        write: bool,
        slow: BasicBlock<'c>,
    ) -> L<(IntValue<'c>, IntValue<'c>)> {
        let e = self.e;
        let view = *self
            .hash_views
            .iter()
            .find(|v| v.global == n)
            .ok_or_else(|| LowerError(format!("no hash view of global {n}")))?;
        let g = self.load(self.global_cell(n)?, None)?;
        let (check, fetch, have) = (
            self.new_block("hash_check"),
            self.new_block("hash_fetch"),
            self.new_block("hash_view"),
        );
        e.b.build_conditional_branch(e.is(g, TAG_OPAQUE)?, check, slow)?;
        e.b.position_at_end(check);
        let ok = self.view_serves(view.ok, write)?;
        e.b.build_conditional_branch(ok, have, fetch)?;
        e.b.position_at_end(fetch);
        let r = e
            .call_helper(
                helpers::HASH_VIEW,
                &[g.i.into(), e.int(write as i64).into()],
            )?
            .into_struct_value();
        let map = e.b.build_extract_value(r, 0, "map")?.into_int_value();
        let limit = e.b.build_extract_value(r, 1, "limit")?.into_int_value();
        let is_hash =
            e.b.build_int_compare(IntPredicate::NE, map, e.int(0), "hash")?;
        e.b.build_store(view.map, map)?;
        e.b.build_store(view.limit, limit)?;
        let level = e
            .i8t
            .const_int(if write { WRITABLE } else { READABLE }, false);
        let level =
            e.b.build_select(is_hash, level, e.i8t.const_zero(), "level")?;
        e.b.build_store(view.ok, level)?;
        e.b.build_conditional_branch(is_hash, have, slow)?;
        e.b.position_at_end(have);
        Ok((
            e.b.build_load(e.i64t, view.map, "map")?.into_int_value(),
            e.b.build_load(e.i64t, view.limit, "limit")?
                .into_int_value(),
        ))
    }

    /// A hash op on global `n`'s hash: one direct runtime call with the
    /// hash's address when the key is an Int (and a stored value unboxed),
    /// everything else through the value helper.
    pub(super) fn hash_op(&self, st: &State, ip: usize, pops: usize, n: u16) -> L<()> {
        let e = self.e;
        let op = self.chunk.ops()[ip];
        let d = st.stack.len();
        let slow = self.new_block("hash_slow");
        let key = self.read_stack(st, d - 1)?;
        let int_key = self.new_block("int_key");
        e.b.build_conditional_branch(e.is(key, TAG_INT)?, int_key, slow)?;
        e.b.position_at_end(int_key);
        let write = matches!(op, Op::HashSet(_));
        let (map, limit) = self.hash_view(n, write, slow)?;
        match op {
            Op::HashGet(_) => {
                // Kinds the value may have: the analysis's, as for the
                // value helper (which enforces them the same way).
                let kinds = self
                    .fun
                    .states
                    .get(ip + 1)
                    .and_then(|s| s.as_ref())
                    .and_then(|s| s.stack.get(d - 1).copied())
                    .unwrap_or(KindSet::NONE)
                    .without(TAG_OPAQUE);
                let r = e
                    .call_helper(
                        helpers::HASH_GET,
                        &[map.into(), key.i.into(), e.int(kinds.0 as i64).into()],
                    )?
                    .into_struct_value();
                let tag = e.b.build_extract_value(r, 0, "tag")?.into_int_value();
                let bits = e.b.build_extract_value(r, 1, "bits")?.into_int_value();
                let failed = e.b.build_int_compare(
                    IntPredicate::EQ,
                    tag,
                    e.int(helpers::FAILED as i64),
                    "failed",
                )?;
                let got = self.new_block("hash_got");
                e.b.build_conditional_branch(failed, slow, got)?;
                e.b.position_at_end(got);
                let tag = match kinds.single() {
                    Some(t) => e.tag(t),
                    None => e.b.build_int_truncate(tag, e.i8t, "tag")?,
                };
                let f = e.b.build_bit_cast(bits, e.f64t, "f")?.into_float_value();
                // Never boxed: the helper refuses a boxed value.
                self.store_unboxed(self.stack_cell(d - 1)?, V { tag, i: bits, f })?;
            }
            Op::HashExists(_) => {
                let r = e
                    .call_helper(helpers::HASH_EXISTS, &[map.into(), key.i.into()])?
                    .into_int_value();
                let found =
                    e.b.build_int_compare(IntPredicate::NE, r, e.int(0), "found")?;
                self.write_stack(d - 1, e.bool_of(found)?)?;
            }
            Op::HashSet(_) => {
                let v = self.read_stack(st, d - 2)?;
                let unboxed = self.new_block("unboxed_value");
                let boxed = e.is(v, TAG_OPAQUE)?;
                e.b.build_conditional_branch(boxed, slow, unboxed)?;
                e.b.position_at_end(unboxed);
                let isf = e.is(v, TAG_FLOAT)?;
                let fbits = e.b.build_bit_cast(v.f, e.i64t, "fbits")?.into_int_value();
                let tag = e.b.build_int_z_extend(v.tag, e.i64t, "tag")?;
                let args = [
                    map.into(),
                    key.i.into(),
                    tag.into(),
                    e.sel_i(isf, fbits, v.i)?.into(),
                    limit.into(),
                ];
                let r = e.call_helper(helpers::HASH_SET, &args)?.into_int_value();
                let set =
                    e.b.build_int_compare(IntPredicate::NE, r, e.int(0), "set")?;
                let done = self.new_block("hash_set");
                e.b.build_conditional_branch(set, done, slow)?;
                e.b.position_at_end(done);
            }
            _ => return Err(LowerError(format!("op {ip} has no hash fast path"))),
        }
        self.goto(ip + 1)?;
        e.b.position_at_end(slow);
        self.apply_in_helper_then(st, ip, pops, false)
    }
}
