//! Hash entries in native code: `HashGet`, `HashExists` and `HashSet` on a
//! global hash with an Int key and an unboxed value (a histogram's counts,
//! a memo table).
//!
//! A hash whose keys are all Ints keeps them in a table native code can
//! probe ([`crate::bytecode::int_keys`]). Native code keeps a *view* of
//! each such global's table: its first entry's address and its hash's
//! shift, fetched from the runtime once (made unique for writing then, so
//! copy-on-write stays exact) and forgotten at the same places as an
//! array's view (any helper that may change, replace or share a box). Each
//! op is then an inline probe: hash the key, walk the run of entries to the
//! key or to an unused entry, and read or write the value in place. Only a
//! new key calls the runtime ([`helpers::HASH_INSERT`], which may move the
//! table, so the view is forgotten after it). Whatever else the probe
//! can't do (a key that is not an Int, or is the unused entries' key; a
//! value that is boxed or of a kind the analysis doesn't expect; a hash
//! with string keys; a global that holds no hash; a full hash) goes to the
//! value helper, which runs the interpreter's own code.
//!
//! Why writing in place is sound: the view's table was made unique when
//! fetched and stays so until the view is forgotten, no Rust reference to
//! it is live while native code runs, and a write replaces only a value
//! that owns no heap data with the bytes of another such value (the
//! layout `Value`'s `repr(u8)` fixes).

use super::arrays::{FORGOTTEN, READABLE, WRITABLE};
use super::*;
use crate::bytecode::int_keys::{EMPTY, MULTIPLIER};
use crate::jit::helpers;
use fusevm_llvm_backend::inkwell::types::StructType;
use fusevm_llvm_backend::ir::element_ptr;

/// One global's hash view, as allocas (promoted to registers by SROA).
#[derive(Clone, Copy)]
pub(super) struct HashView<'c> {
    /// The global holding the hash.
    global: u16,
    /// `i8`: [`FORGOTTEN`], [`READABLE`] or [`WRITABLE`] (fetched unique).
    ok: PointerValue<'c>,
    /// `ptr`: the table's first entry.
    table: PointerValue<'c>,
    /// `i64`: the shift that turns a key's product into its home index.
    shift: PointerValue<'c>,
}

/// The fields of an entry as native code sees them, in the order of
/// [`entry_type`] (offsets 0, 8, 9, 10 and 16: `int_keys`' constants).
const KEY: u32 = 0;
const TAG: u32 = 1;
const BOOL: u32 = 2;
const BITS: u32 = 4;

/// An entry: `{i64 key, i8 tag, i8 bool, [6 x i8], i64 bits}`, 24 bytes.
fn entry_type<'c>(e: &Emitter<'c, '_>) -> StructType<'c> {
    let pad = e.i8t.array_type(6);
    e.ctx.struct_type(
        &[
            e.i64t.into(),
            e.i8t.into(),
            e.i8t.into(),
            pad.into(),
            e.i64t.into(),
        ],
        false,
    )
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
        let ptr = e.ctx.ptr_type(AddressSpace::default());
        for global in globals {
            let v = HashView {
                global,
                ok: e.b.build_alloca(e.i8t, "hash_ok")?,
                table: e.b.build_alloca(ptr, "hash_table")?,
                shift: e.b.build_alloca(e.i64t, "hash_shift")?,
            };
            e.b.build_store(v.ok, e.i8t.const_int(FORGOTTEN, false))?;
            e.b.build_store(v.table, ptr.const_null())?;
            e.b.build_store(v.shift, e.int(0))?;
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

    /// Global `n`'s hash view.
    fn hash_view_of(&self, n: u16) -> L<HashView<'c>> {
        self.hash_views
            .iter()
            .find(|v| v.global == n)
            .copied()
            .ok_or_else(|| LowerError(format!("no hash view of global {n}")))
    }

    /// Global `n`'s table, fetched if its view is forgotten (or, to
    /// `write`, not unique): the first entry and the shift; on to `slow`
    /// when the global holds no hash with an Int-key table.
    fn hash_table(
        &self,
        n: u16,
        write: bool,
        slow: BasicBlock<'c>,
    ) -> L<(PointerValue<'c>, IntValue<'c>)> {
        let e = self.e;
        let view = self.hash_view_of(n)?;
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
        let table = e.b.build_extract_value(r, 0, "table")?.into_int_value();
        let shift = e.b.build_extract_value(r, 1, "shift")?.into_int_value();
        let is_table =
            e.b.build_int_compare(IntPredicate::NE, table, e.int(0), "has_table")?;
        let ptr = e.ctx.ptr_type(AddressSpace::default());
        e.b.build_store(view.table, e.b.build_int_to_ptr(table, ptr, "table")?)?;
        e.b.build_store(view.shift, shift)?;
        let level = e
            .i8t
            .const_int(if write { WRITABLE } else { READABLE }, false);
        let level =
            e.b.build_select(is_table, level, e.i8t.const_zero(), "level")?;
        e.b.build_store(view.ok, level)?;
        e.b.build_conditional_branch(is_table, have, slow)?;
        e.b.position_at_end(have);
        Ok((
            e.b.build_load(ptr, view.table, "table")?
                .into_pointer_value(),
            e.b.build_load(e.i64t, view.shift, "shift")?
                .into_int_value(),
        ))
    }

    /// Probes `table` for Int `key` (not [`EMPTY`]): returns its entry's
    /// address, with the builder in a block reached when the key is there,
    /// and the block reached when its run ends without it.
    fn probe(
        &self,
        table: PointerValue<'c>,
        shift: IntValue<'c>,
        key: IntValue<'c>,
    ) -> L<(PointerValue<'c>, BasicBlock<'c>)> {
        let e = self.e;
        let ty = entry_type(e);
        let pre =
            e.b.get_insert_block()
                .ok_or_else(|| LowerError("probe outside a block".into()))?;
        let product =
            e.b.build_int_mul(key, e.int(MULTIPLIER as i64), "product")?;
        let home = e.b.build_right_shift(product, shift, false, "home")?;
        let mask = e.b.build_right_shift(e.int(-1), shift, false, "mask")?;
        let (head, unmatched, step, hit, miss) = (
            self.new_block("probe"),
            self.new_block("probe_unmatched"),
            self.new_block("probe_step"),
            self.new_block("probe_hit"),
            self.new_block("probe_miss"),
        );
        e.b.build_unconditional_branch(head)?;
        e.b.position_at_end(head);
        let i = e.b.build_phi(e.i64t, "i")?;
        let at = element_ptr(
            &e.b,
            ty,
            table,
            i.as_basic_value().into_int_value(),
            "entry",
        )?;
        let k = e.b.build_struct_gep(ty, at, KEY, "key_at")?;
        let k = e.b.build_load(e.i64t, k, "entry_key")?.into_int_value();
        let same = e.b.build_int_compare(IntPredicate::EQ, k, key, "same")?;
        e.b.build_conditional_branch(same, hit, unmatched)?;
        e.b.position_at_end(unmatched);
        let unused =
            e.b.build_int_compare(IntPredicate::EQ, k, e.int(EMPTY), "unused")?;
        e.b.build_conditional_branch(unused, miss, step)?;
        e.b.position_at_end(step);
        let next =
            e.b.build_int_add(i.as_basic_value().into_int_value(), e.int(1), "next")?;
        let next = e.b.build_and(next, mask, "next")?;
        e.b.build_unconditional_branch(head)?;
        i.add_incoming(&[(&home, pre), (&next, step)]);
        e.b.position_at_end(hit);
        Ok((at, miss))
    }

    /// A hash op on global `n`'s hash: an inline probe of its Int-key table
    /// when the key is an Int (and a stored value unboxed), everything else
    /// through the value helper.
    pub(super) fn hash_op(&self, st: &State, ip: usize, pops: usize, n: u16) -> L<()> {
        let e = self.e;
        let op = self.chunk.ops()[ip];
        let ty = entry_type(e);
        let d = st.stack.len();
        let slow = self.new_block("hash_slow");
        let key = self.read_stack(st, d - 1)?;
        let int_key = self.new_block("int_key");
        let probed =
            e.b.build_int_compare(IntPredicate::NE, key.i, e.int(EMPTY), "probed")?;
        let probed = e.b.build_and(e.is(key, TAG_INT)?, probed, "int_key")?;
        e.b.build_conditional_branch(probed, int_key, slow)?;
        e.b.position_at_end(int_key);
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
                let (table, shift) = self.hash_table(n, false, slow)?;
                let (at, miss) = self.probe(table, shift, key.i)?;
                let tag_at = e.b.build_struct_gep(ty, at, TAG, "tag_at")?;
                let tag = e.b.build_load(e.i8t, tag_at, "tag")?.into_int_value();
                // A kind outside `kinds` (an owning value's tag above all)
                // goes to the value helper.
                let wide = e.b.build_int_z_extend(tag, e.i64t, "tag")?;
                let bit = e.b.build_left_shift(e.int(1), wide, "kind_bit")?;
                let bit = e.b.build_and(bit, e.int(kinds.0 as i64), "expected")?;
                let expected =
                    e.b.build_int_compare(IntPredicate::NE, bit, e.int(0), "expected")?;
                let got = self.new_block("hash_got");
                e.b.build_conditional_branch(expected, got, slow)?;
                e.b.position_at_end(got);
                let b_at = e.b.build_struct_gep(ty, at, BOOL, "bool_at")?;
                let b = e.b.build_load(e.i8t, b_at, "bool")?.into_int_value();
                let b = e.b.build_int_z_extend(b, e.i64t, "bool")?;
                let bits_at = e.b.build_struct_gep(ty, at, BITS, "bits_at")?;
                let bits = e.b.build_load(e.i64t, bits_at, "bits")?.into_int_value();
                // The bits native code keeps: as `kinds::bits_of` gives them.
                let is = |t: u8| e.b.build_int_compare(IntPredicate::EQ, tag, e.tag(t), "is");
                let numeric =
                    e.b.build_int_compare(IntPredicate::UGE, tag, e.tag(TAG_INT), "numeric")?;
                let other = e.sel_i(is(TAG_BOOL)?, b, e.int(0))?;
                let bits = e.sel_i(numeric, bits, other)?;
                let tag = match kinds.single() {
                    Some(t) => e.tag(t),
                    None => tag,
                };
                let f = e.b.build_bit_cast(bits, e.f64t, "f")?.into_float_value();
                self.store_unboxed(self.stack_cell(d - 1)?, V { tag, i: bits, f })?;
                self.goto(ip + 1)?;
                e.b.position_at_end(miss);
                if kinds.has(TAG_UNDEF) {
                    self.store_unboxed(self.stack_cell(d - 1)?, e.undef_value())?;
                    self.goto(ip + 1)?;
                } else {
                    e.b.build_unconditional_branch(slow)?;
                }
            }
            Op::HashExists(_) => {
                let (table, shift) = self.hash_table(n, false, slow)?;
                let (_, miss) = self.probe(table, shift, key.i)?;
                self.write_stack(d - 1, e.bool_value(true))?;
                self.goto(ip + 1)?;
                e.b.position_at_end(miss);
                self.write_stack(d - 1, e.bool_value(false))?;
                self.goto(ip + 1)?;
            }
            Op::HashSet(_) => {
                let v = self.read_stack(st, d - 2)?;
                let unboxed = self.new_block("unboxed_value");
                e.b.build_conditional_branch(e.is(v, TAG_OPAQUE)?, slow, unboxed)?;
                e.b.position_at_end(unboxed);
                let isf = e.is(v, TAG_FLOAT)?;
                let fbits = e.b.build_bit_cast(v.f, e.i64t, "fbits")?.into_int_value();
                let bits = e.sel_i(isf, fbits, v.i)?;
                let (table, shift) = self.hash_table(n, true, slow)?;
                let (at, miss) = self.probe(table, shift, key.i)?;
                // The old value is dropped by being overwritten: only one
                // that owns nothing may be.
                let tag_at = e.b.build_struct_gep(ty, at, TAG, "tag_at")?;
                let old = e.b.build_load(e.i8t, tag_at, "old_tag")?.into_int_value();
                let plain =
                    e.b.build_int_compare(IntPredicate::ULE, old, e.tag(TAG_FLOAT), "plain")?;
                let write = self.new_block("hash_write");
                e.b.build_conditional_branch(plain, write, slow)?;
                e.b.position_at_end(write);
                e.b.build_store(tag_at, v.tag)?;
                let b = e.b.build_int_truncate(v.i, e.i8t, "bool")?;
                e.b.build_store(e.b.build_struct_gep(ty, at, BOOL, "bool_at")?, b)?;
                e.b.build_store(e.b.build_struct_gep(ty, at, BITS, "bits_at")?, bits)?;
                self.goto(ip + 1)?;
                // A new key: the runtime inserts it (the table may move).
                e.b.position_at_end(miss);
                let g = self.load(self.global_cell(n)?, None)?;
                let tag = e.b.build_int_z_extend(v.tag, e.i64t, "tag")?;
                let args = [g.i.into(), key.i.into(), tag.into(), bits.into()];
                let r = e.call_helper(helpers::HASH_INSERT, &args)?.into_int_value();
                let view = self.hash_view_of(n)?;
                e.b.build_store(view.ok, e.i8t.const_int(FORGOTTEN, false))?;
                let done =
                    e.b.build_int_compare(IntPredicate::NE, r, e.int(0), "inserted")?;
                let inserted = self.new_block("hash_inserted");
                e.b.build_conditional_branch(done, inserted, slow)?;
                e.b.position_at_end(inserted);
                self.goto(ip + 1)?;
            }
            _ => return Err(LowerError(format!("op {ip} has no hash fast path"))),
        }
        e.b.position_at_end(slow);
        self.apply_in_helper_then(st, ip, pops, false)
    }
}
