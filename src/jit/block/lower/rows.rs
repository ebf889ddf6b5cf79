//! Rows of an array of rows in native code: `local row = rows[i]` (an
//! `ArrayGet` of a global whose elements are arrays, its result stored in
//! a slot at once) followed by reads of `row[j]`.
//!
//! Apart, the two ops cost a runtime call for the element, a move between
//! boxes and a view fetch for every row taken. Here native code keeps a
//! *row table* of the global (each element's buffer, length and strategy,
//! built by the runtime once and reused until a helper may have changed
//! that array, like a view) and takes a row from it with a bounds check
//! and a load: the slot's view becomes the row's, and the slot *owes* its
//! box the row (a *lazy* slot): the runtime's copy of the value is made
//! only where something may read that box (any helper call, a fetch of
//! the slot's own view, the exit), so a loop that only reads rows touches
//! no reference count. Whatever the table can't serve (an index out of
//! range or not an Int, a table refused) takes the row with one runtime
//! call ([`helpers::ELEMENT_INTO_BOX`]); an element that is no array (a
//! string), and anything else, goes to the value helper as before.
//!
//! Why owing is safe: the row stays alive while its global's array holds
//! it, and that array changes only in a helper (all sync first) or by a
//! move into its box (which syncs first too). No view can write to the
//! row while it is owed: a writable view is fetched unique, and the
//! slot's own fetch syncs (the row is then shared, so it is copied).

use super::arrays::{Holder, READABLE};
use super::*;
use crate::jit::helpers;

/// A native view of a global's row table, as allocas.
#[derive(Clone, Copy)]
pub(super) struct RowsView<'c> {
    /// The global holding the array of rows.
    global: u16,
    /// `i1`: the fields below describe the array now.
    ok: PointerValue<'c>,
    /// First `[base, meta]` entry.
    table: PointerValue<'c>,
    /// Entries.
    len: PointerValue<'c>,
}

/// A slot that may owe its box a row, as allocas.
#[derive(Clone, Copy)]
pub(super) struct Lazy<'c> {
    /// Physical slot.
    slot: usize,
    /// `i1`: the box does not hold the row yet.
    owed: PointerValue<'c>,
    /// The box of the array the row is taken from.
    from: PointerValue<'c>,
    /// Its index there.
    idx: PointerValue<'c>,
}

impl<'c> FnBuilder<'_, 'c, '_> {
    /// Allocates a row table view for every global a fused row read takes
    /// rows from, and a lazy slot for every slot it stores them into (in
    /// the entry block; after [`Self::plan_syncs`], which finds the joins).
    pub(super) fn init_rows(&mut self) -> L<()> {
        let e = self.e;
        let ops = self.chunk.ops();
        let (mut globals, mut slots) = (Vec::new(), Vec::new());
        for (ip, op) in ops.iter().enumerate() {
            if let (Op::ArrayGet(n), Some(s)) = (*op, self.stored_in_slot(ip))
                && (n as usize) < self.globals.len()
                && let Some(next) = self.fun.states.get(ip + 1).and_then(|s| s.as_ref())
                && next.phys(s) < self.slots.len()
            {
                globals.push(n);
                slots.push(next.phys(s));
            }
        }
        globals.sort_unstable();
        globals.dedup();
        slots.sort_unstable();
        slots.dedup();
        let (ptr, flag) = (e.ctx.ptr_type(AddressSpace::default()), e.ctx.bool_type());
        for global in globals {
            let v = RowsView {
                global,
                ok: e.b.build_alloca(flag, "rows_ok")?,
                table: e.b.build_alloca(ptr, "rows_table")?,
                len: e.b.build_alloca(e.i64t, "rows_len")?,
            };
            e.b.build_store(v.ok, flag.const_zero())?;
            e.b.build_store(v.table, ptr.const_null())?;
            e.b.build_store(v.len, e.int(0))?;
            self.rows.push(v);
        }
        for slot in slots {
            let l = Lazy {
                slot,
                owed: e.b.build_alloca(flag, "row_owed")?,
                from: e.b.build_alloca(e.i64t, "row_from")?,
                idx: e.b.build_alloca(e.i64t, "row_idx")?,
            };
            e.b.build_store(l.owed, flag.const_zero())?;
            e.b.build_store(l.from, e.int(0))?;
            e.b.build_store(l.idx, e.int(0))?;
            self.lazies.push(l);
        }
        Ok(())
    }

    /// Forgets the row tables: every one, or (`only`) the one of the
    /// global whose box is that.
    pub(super) fn forget_rows(&self, only: Option<usize>) -> L<()> {
        let e = self.e;
        for v in &self.rows {
            if only.is_none_or(|bx| self.layout.global(v.global as usize) == bx) {
                e.b.build_store(v.ok, e.ctx.bool_type().const_zero())?;
            }
        }
        Ok(())
    }

    /// Gives the lazy slots their rows (every one, or only physical slot
    /// `only`'s): before anything may read their boxes.
    pub(super) fn sync_rows(&self, only: Option<usize>) -> L<()> {
        let e = self.e;
        for l in self
            .lazies
            .iter()
            .filter(|l| only.is_none_or(|p| l.slot == p))
        {
            let owed =
                e.b.build_load(e.ctx.bool_type(), l.owed, "owed")?
                    .into_int_value();
            let (give, given) = (self.new_block("give_row"), self.new_block("row_given"));
            e.b.build_conditional_branch(owed, give, given)?;
            e.b.position_at_end(give);
            let from = e.b.build_load(e.i64t, l.from, "from")?;
            let idx = e.b.build_load(e.i64t, l.idx, "idx")?;
            // The same row as when it was taken: its array hasn't changed.
            e.call_helper(
                helpers::ELEMENT_INTO_BOX,
                &[
                    from.into(),
                    e.int(TAG_INT as i64).into(),
                    idx.into(),
                    e.int(l.slot as i64).into(),
                ],
            )?;
            e.b.build_unconditional_branch(given)?;
            e.b.position_at_end(given);
            // False on both paths: LLVM can drop later checks.
            e.b.build_store(l.owed, e.ctx.bool_type().const_zero())?;
        }
        Ok(())
    }

    /// The slot the element `ArrayGet` at `ip` reads is stored into at
    /// once (`ArrayGet g; SetSlot s`, nothing jumping in between), when the
    /// element may be boxed: `local row = rows[i]`.
    pub(super) fn stored_in_slot(&self, ip: usize) -> Option<u16> {
        let Some(&Op::SetSlot(s)) = self.chunk.ops().get(ip + 1) else {
            return None;
        };
        let next = self.fun.states.get(ip + 1)?.as_ref()?;
        let boxed = next.stack.last().is_some_and(|k| k.has(TAG_OPAQUE));
        (boxed && !self.joins.get(ip + 1).copied().unwrap_or(true)).then_some(s)
    }

    /// `ArrayGet` at `ip` of global `n` and the `SetSlot s` after it, when
    /// the element is an array: from the row table, else with one runtime
    /// call (see the module docs). Ends positioned where anything else (not
    /// a row, the index boxed, the global not an array) goes on to the
    /// general path.
    pub(super) fn row_into_slot(&self, st: &State, ip: usize, n: u16, s: u16) -> L<()> {
        let e = self.e;
        let d = st.stack.len();
        let next = self.state(ip + 1)?;
        let p = next.phys(s);
        let general = self.new_block("general");
        // The box is the global's value only while its cell says boxed.
        let g = self.load(self.global_cell(n)?, None)?;
        let (boxed, one_call) = (self.new_block("rows"), self.new_block("row_by_call"));
        e.b.build_conditional_branch(e.is(g, TAG_OPAQUE)?, boxed, general)?;
        e.b.position_at_end(boxed);
        let idx = self.read_stack(st, d - 1)?;
        let from = self.layout.global(n as usize);
        if let Some(view) = self.rows.iter().find(|v| v.global == n).copied()
            && let Some(lazy) = self.lazies.iter().find(|l| l.slot == p).copied()
        {
            let (table, len) = self.rows_table(view, one_call)?;
            let ok = e.is(idx, TAG_INT)?;
            // Unsigned: a negative index (from the end) takes the call.
            let below =
                e.b.build_int_compare(IntPredicate::ULT, idx.i, len, "in_range")?;
            let (load, hit) = (self.new_block("row_entry"), self.new_block("row_hit"));
            e.b.build_conditional_branch(e.b.build_and(ok, below, "ok")?, load, one_call)?;
            e.b.position_at_end(load);
            let pair = e.ctx.struct_type(&[e.i64t.into(), e.i64t.into()], false);
            // In range: idx < len checked above.
            let at = fusevm_llvm_backend::ir::element_ptr(&e.b, pair, table, idx.i, "entry")?;
            let base_at = e.b.build_struct_gep(pair, at, 0, "base_at")?;
            let meta_at = e.b.build_struct_gep(pair, at, 1, "meta_at")?;
            let base = e.b.build_load(e.i64t, base_at, "base")?.into_int_value();
            let meta = e.b.build_load(e.i64t, meta_at, "meta")?.into_int_value();
            // An element that is no array (a string): the value helper.
            let is_row =
                e.b.build_int_compare(IntPredicate::NE, base, e.int(0), "row")?;
            e.b.build_conditional_branch(is_row, hit, general)?;
            e.b.position_at_end(hit);
            // The slot's view may owe its old array a length.
            if let Some(k) = self.views.iter().position(|v| v.holder == Holder::Slot(p)) {
                let mask = self.may_owe.get(self.cur).copied().unwrap_or(u64::MAX);
                self.sync_only(mask & (1 << (k % 64)))?;
            }
            e.b.build_store(lazy.owed, e.ctx.bool_type().const_all_ones())?;
            e.b.build_store(lazy.from, e.int(from as i64))?;
            e.b.build_store(lazy.idx, idx.i)?;
            self.took_row(next, s, (base, meta))?;
        } else {
            e.b.build_unconditional_branch(one_call)?;
        }
        e.b.position_at_end(one_call);
        let isf = e.is(idx, TAG_FLOAT)?;
        let fbits = e.b.build_bit_cast(idx.f, e.i64t, "fbits")?.into_int_value();
        let tag = e.b.build_int_z_extend(idx.tag, e.i64t, "tag")?;
        self.sync_views()?; // lengths and owed rows: the helper reads boxes
        let r = e
            .call_helper(
                helpers::ELEMENT_INTO_BOX,
                &[
                    e.int(from as i64).into(),
                    tag.into(),
                    e.sel_i(isf, fbits, idx.i)?.into(),
                    e.int(p as i64).into(),
                ],
            )?
            .into_struct_value();
        let base = e.b.build_extract_value(r, 0, "base")?.into_int_value();
        let meta = e.b.build_extract_value(r, 1, "meta")?.into_int_value();
        let is_row =
            e.b.build_int_compare(IntPredicate::NE, base, e.int(0), "row")?;
        let taken = self.new_block("row_taken");
        e.b.build_conditional_branch(is_row, taken, general)?;
        e.b.position_at_end(taken);
        self.took_row(next, s, (base, meta))?;
        e.b.position_at_end(general);
        Ok(())
    }

    /// The row table of `view`, fetched if forgotten; on to `refused` when
    /// the runtime gives none.
    fn rows_table(
        &self,
        view: RowsView<'c>,
        refused: BasicBlock<'c>,
    ) -> L<(PointerValue<'c>, IntValue<'c>)> {
        let e = self.e;
        let ptr = e.ctx.ptr_type(AddressSpace::default());
        let (fetch, have) = (self.new_block("rows_fetch"), self.new_block("rows"));
        let ok = e.b.build_load(e.ctx.bool_type(), view.ok, "rows_ok")?;
        e.b.build_conditional_branch(ok.into_int_value(), have, fetch)?;
        e.b.position_at_end(fetch);
        // The runtime reads the array's length: hand back what pushes owe.
        if let Some(k) = (self.views.iter()).position(|v| v.holder == Holder::Global(view.global)) {
            let mask = self.may_owe.get(self.cur).copied().unwrap_or(u64::MAX);
            self.sync_only(mask & (1 << (k % 64)))?;
        }
        let bx = e.int(self.layout.global(view.global as usize) as i64);
        let r = e
            .call_helper(helpers::ROWS_VIEW, &[bx.into()])?
            .into_struct_value();
        let table = e.b.build_extract_value(r, 0, "table")?.into_int_value();
        let len = e.b.build_extract_value(r, 1, "len")?.into_int_value();
        let got =
            e.b.build_int_compare(IntPredicate::NE, table, e.int(0), "got")?;
        e.b.build_store(view.table, e.b.build_int_to_ptr(table, ptr, "table")?)?;
        e.b.build_store(view.len, len)?;
        e.b.build_store(view.ok, got)?;
        e.b.build_conditional_branch(got, have, refused)?;
        e.b.position_at_end(have);
        Ok((
            e.b.build_load(ptr, view.table, "table")?
                .into_pointer_value(),
            e.b.build_load(e.i64t, view.len, "rows")?.into_int_value(),
        ))
    }

    /// Slot `s` holds the row in its own box (or owes it): its cell says
    /// so, its view is the row's (read-only: the row is shared), and
    /// native code goes on after the `SetSlot`.
    fn took_row(&self, next: &State, s: u16, (base, meta): (IntValue<'c>, IntValue<'c>)) -> L<()> {
        let e = self.e;
        let ip = self.cur;
        let p = next.phys(s);
        // Its own box: storing moves nothing.
        let row = V {
            tag: e.tag(TAG_OPAQUE),
            i: e.int(p as i64),
            f: e.float(0.0),
        };
        self.write_slot(next, s, row)?;
        if let Some(view) = self.views.iter().find(|v| v.holder == Holder::Slot(p)) {
            let ptr = e.ctx.ptr_type(AddressSpace::default());
            e.b.build_store(view.base, e.b.build_int_to_ptr(base, ptr, "base")?)?;
            let len = e.b.build_right_shift(meta, e.int(2), false, "len")?;
            e.b.build_store(view.len, len)?;
            e.b.build_store(view.cap, len)?;
            e.b.build_store(view.strat, e.b.build_and(meta, e.int(3), "strategy")?)?;
            e.b.build_store(view.dirty, e.ctx.bool_type().const_zero())?;
            e.b.build_store(view.ok, e.i8t.const_int(READABLE, false))?;
        }
        self.sync_where_planned(ip + 1)?;
        self.goto(ip + 2)
    }
}
