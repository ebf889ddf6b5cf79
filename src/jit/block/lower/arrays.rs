//! Array elements in native code: `ArrayGet`, `ArraySet`, `ArrayLen` and
//! `ArrayPush` on a global array, and `SlotArrayGet`/`SlotArraySet` on the
//! array a slot holds, whose elements are stored unboxed (Int, Float or
//! Bool strategy) read and write the element buffer in place.
//!
//! Native code keeps a *view* of each such *holder* (global or slot): the
//! buffer's base, the
//! length, the room left for pushes and the strategy, fetched from the
//! runtime once (made unique for writing then, so copy-on-write stays
//! exact) and reused until something may change the array behind it: any
//! helper that can touch boxes *forgets* every view. A push within capacity
//! writes the element and bumps the view's length; the length is handed
//! back to the array (*synced*) before any helper reads boxes and when
//! native code exits. Whatever the fast path can't do (a boxed operand, an
//! index out of range or not an Int, an element of another kind, a general
//! array, a full buffer) goes to the value helper, which runs the
//! interpreter's own container code.

use super::*;
use crate::jit::helpers;
use fusevm_llvm_backend::inkwell::values::BasicMetadataValueEnum;
use fusevm_llvm_backend::ir::element_ptr;

/// Where an array op finds its array.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(super) enum Holder {
    /// Global `n`.
    Global(u16),
    /// Physical slot `p` of the root's slot area.
    Slot(usize),
}

/// One holder's view, as allocas (promoted to registers by SROA).
#[derive(Clone, Copy)]
pub(super) struct View<'c> {
    /// The global or slot holding the array.
    pub(super) holder: Holder,
    /// `i8`: whether the fields below describe the array now: [`FORGOTTEN`],
    /// [`READABLE`] or [`WRITABLE`] (fetched unique: writing through the
    /// view can't show through a copy; a read-only view of a shared array,
    /// a row also held elsewhere, costs no copy).
    pub(super) ok: PointerValue<'c>,
    /// First element.
    pub(super) base: PointerValue<'c>,
    /// Elements (as native code sees them).
    pub(super) len: PointerValue<'c>,
    /// The buffer's length as Rust sees it: room opened for pushes, which
    /// write in place below it.
    pub(super) cap: PointerValue<'c>,
    /// [`crate::bytecode::value::Strategy`] as `i64`.
    pub(super) strat: PointerValue<'c>,
    /// `i1`: room was opened, so the array's length must be set back to
    /// `len` before Rust reads it.
    pub(super) dirty: PointerValue<'c>,
}

/// A view's `ok` levels.
pub(super) const FORGOTTEN: u64 = 0;
pub(super) const READABLE: u64 = 1;
pub(super) const WRITABLE: u64 = 2;

/// How [`FnBuilder::fetch_view`] asks for an array (the value is
/// [`helpers::ARRAY_VIEW`]'s `write` argument).
#[derive(Clone, Copy)]
pub(super) enum Fetch {
    /// To read: a shared array stays shared.
    Read = 0,
    /// To write: made unique (copied if shared).
    Write = 1,
    /// To write if no other place holds it, else no view (no copy).
    WriteIfUnique = 2,
}

/// The view's fields loaded for one op.
struct Loaded<'c> {
    base: PointerValue<'c>,
    len: IntValue<'c>,
    strat: IntValue<'c>,
}

/// The holder of the array `op` works on in place, when it has a native
/// fast path (`st`: the state before it, which places its slot).
pub(super) fn fast_path_holder(op: &Op, st: &State) -> Option<Holder> {
    match *op {
        Op::ArrayGet(n) | Op::ArraySet(n) | Op::ArrayLen(n) | Op::ArrayPush(n) => {
            Some(Holder::Global(n))
        }
        Op::SlotArrayGet(s) | Op::SlotArraySet(s) => Some(Holder::Slot(st.phys(s))),
        _ => None,
    }
}

impl<'c> FnBuilder<'_, 'c, '_> {
    /// Allocates a view for every holder an array op of the root uses (in
    /// the entry block; every view starts forgotten).
    pub(super) fn init_views(&mut self) -> L<()> {
        let e = self.e;
        let ops = self.chunk.ops();
        let mut holders: Vec<Holder> = (0..ops.len())
            .filter_map(|ip| {
                let st = self.fun.states.get(ip)?.as_ref()?;
                fast_path_holder(&ops[ip], st)
            })
            .collect();
        holders.sort_unstable();
        holders.dedup();
        let ptr = e.ctx.ptr_type(AddressSpace::default());
        for holder in holders {
            let known = match holder {
                Holder::Global(n) => (n as usize) < self.globals.len(),
                Holder::Slot(p) => p < self.slots.len(),
            };
            if !known {
                continue;
            }
            let v = View {
                holder,
                ok: e.b.build_alloca(e.i8t, "view_ok")?,
                base: e.b.build_alloca(ptr, "view_base")?,
                len: e.b.build_alloca(e.i64t, "view_len")?,
                cap: e.b.build_alloca(e.i64t, "view_cap")?,
                strat: e.b.build_alloca(e.i64t, "view_strategy")?,
                dirty: e.b.build_alloca(e.ctx.bool_type(), "view_dirty")?,
            };
            e.b.build_store(v.ok, e.i8t.const_int(FORGOTTEN, false))?;
            e.b.build_store(v.dirty, e.ctx.bool_type().const_zero())?;
            e.b.build_store(v.base, ptr.const_null())?;
            for p in [v.len, v.cap, v.strat] {
                e.b.build_store(p, e.int(0))?;
            }
            self.views.push(v);
        }
        Ok(())
    }

    /// Where views stop owing lengths: for each op, the views (bit `k %
    /// 64` for view `k`) that a predecessor may still push to in place but
    /// that no path from the op pushes to any more: the exits of the loops
    /// that fill arrays. Syncing those views there makes their `dirty`
    /// flags constant false in the code after, which is most of a chunk
    /// that fills arrays first and then works on them: every later exit
    /// and helper call then syncs nothing, and LLVM drops the flags.
    pub(super) fn plan_syncs(&mut self) {
        let ops = self.chunk.ops();
        let n = ops.len();
        let mut pushes = vec![0u64; n];
        let mut succ: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (ip, op) in ops.iter().enumerate() {
            let Some(st) = self.fun.states.get(ip).and_then(|s| s.as_ref()) else {
                continue;
            };
            if matches!(op, Op::ArrayPush(_) | Op::ArraySet(_) | Op::SlotArraySet(_))
                && let Some(h) = fast_path_holder(op, st)
                && let Some(k) = self.views.iter().position(|v| v.holder == h)
            {
                pushes[ip] = 1 << (k % 64);
            }
            succ[ip] = crate::jit::block::analysis::successors(op, ip)
                .into_iter()
                .filter(|&t| t < n)
                .collect();
        }
        self.joins = vec![false; n + 1];
        self.joins[self.fun.entry.min(n)] = true;
        for (ip, ts) in succ.iter().enumerate() {
            for &t in ts.iter().filter(|&&t| t != ip + 1) {
                self.joins[t] = true;
            }
        }
        // Backward: the views a push in place may still reach from each op.
        let mut reach = pushes.clone();
        let mut changed = true;
        while changed {
            changed = false;
            for ip in (0..n).rev() {
                let r = succ[ip].iter().fold(reach[ip], |r, &t| r | reach[t]);
                if r != reach[ip] {
                    reach[ip] = r;
                    changed = true;
                }
            }
        }
        let mut owed = vec![0u64; n];
        for ip in 0..n {
            for &t in &succ[ip] {
                owed[t] |= reach[ip];
            }
        }
        self.sync_at = (0..n).map(|ip| owed[ip] & !reach[ip]).collect();
        // Forward: the views that may owe a length while each op runs (a
        // push since the last planned sync). A helper call syncs only
        // those, so code after the loops that fill arrays builds no sync
        // at all (less IR for LLVM: n-body's chunk has 58 helper calls).
        let mut owing = vec![0u64; n];
        let mut changed = true;
        while changed {
            changed = false;
            for ip in 0..n {
                let during = (owing[ip] & !self.sync_at[ip]) | pushes[ip];
                for &t in &succ[ip] {
                    if owing[t] | during != owing[t] {
                        owing[t] |= during;
                        changed = true;
                    }
                }
            }
        }
        self.may_owe = (0..n)
            .map(|ip| (owing[ip] & !self.sync_at[ip]) | pushes[ip])
            .collect();
    }

    /// Syncs the views that stop owing lengths at op `ip` (see
    /// [`Self::plan_syncs`]).
    pub(super) fn sync_where_planned(&self, ip: usize) -> L<()> {
        match self.sync_at.get(ip) {
            Some(&mask) if mask != 0 => self.sync_only(mask),
            _ => Ok(()),
        }
    }

    /// Forgets every view (after a helper that may have changed boxes).
    pub(super) fn forget_views(&self) -> L<()> {
        let f = self.e.i8t.const_int(FORGOTTEN, false);
        for v in &self.views {
            self.e.b.build_store(v.ok, f)?;
        }
        self.forget_hash_views(None)?;
        self.forget_rows(None)
    }

    /// After box `to` got a copy of another box's value: the view of the
    /// holder whose box is `to` is forgotten (its array was dropped), and
    /// every other view may only read from now on (the copied value may
    /// be its array, now shared), so its next write fetches it unique.
    pub(super) fn after_box_move(&self, to: usize) -> L<()> {
        let e = self.e;
        for v in &self.views {
            let level = if self.box_of(v.holder) == to {
                e.i8t.const_int(FORGOTTEN, false)
            } else {
                self.at_most_readable(v.ok)?
            };
            e.b.build_store(v.ok, level)?;
        }
        self.forget_hash_views(Some(to))?;
        self.forget_rows(Some(to)) // the rows of an array replaced
    }

    /// A view level (`ok`, an `i8` alloca) lowered to [`READABLE`] if it
    /// was [`WRITABLE`]: after a move, its container may be shared.
    pub(super) fn at_most_readable(&self, ok: PointerValue<'c>) -> L<IntValue<'c>> {
        let e = self.e;
        let level = e.b.build_load(e.i8t, ok, "ok")?.into_int_value();
        let read = e.i8t.const_int(READABLE, false);
        let above =
            e.b.build_int_compare(IntPredicate::UGT, level, read, "writable")?;
        Ok(e.b
            .build_select(above, read, level, "readable")?
            .into_int_value())
    }

    /// Whether a view at level `ok` (an `i8` alloca) serves a read, or
    /// with `write` a write (only a view fetched unique does), unfetched.
    pub(super) fn view_serves(&self, ok: PointerValue<'c>, write: bool) -> L<IntValue<'c>> {
        let e = self.e;
        let level = e.b.build_load(e.i8t, ok, "ok")?.into_int_value();
        let (pred, want, name) = match write {
            true => (IntPredicate::EQ, WRITABLE, "writable"),
            false => (IntPredicate::NE, FORGOTTEN, "readable"),
        };
        Ok(e.b.build_int_compare(pred, level, e.i8t.const_int(want, false), name)?)
    }

    /// Hands every grown length back to its array (before a helper reads
    /// boxes, and at the exit): one branch on whether any view owes its
    /// array a length, then one [`helpers::ARRAY_SYNC`] call per four
    /// views, so a place that syncs stays small however many arrays are
    /// open.
    pub(super) fn sync_views(&self) -> L<()> {
        let mask = self.may_owe.get(self.cur).copied().unwrap_or(u64::MAX);
        self.sync_only(mask)?;
        self.sync_rows(None)
    }

    /// [`Self::sync_views`] for every view, wherever control comes from
    /// (the shared exit block).
    pub(super) fn sync_every_view(&self) -> L<()> {
        self.sync_only(u64::MAX)?;
        self.sync_rows(None)
    }

    /// [`Self::sync_views`] for the views whose bit is set in `mask` (bit
    /// `k % 64` for view `k`).
    pub(super) fn sync_only(&self, mask: u64) -> L<()> {
        let e = self.e;
        let picked: Vec<View<'c>> = (self.views.iter().enumerate())
            .filter(|(k, _)| mask & (1 << (k % 64)) != 0)
            .map(|(_, v)| *v)
            .collect();
        if picked.is_empty() {
            return Ok(());
        }
        let flag = |v: &View<'c>| -> L<IntValue<'c>> {
            Ok(e.b
                .build_load(e.ctx.bool_type(), v.dirty, "dirty")?
                .into_int_value())
        };
        let mut any = e.ctx.bool_type().const_zero();
        for v in &picked {
            any = e.b.build_or(any, flag(v)?, "any_dirty")?;
        }
        let (sync, done) = (self.new_block("sync_len"), self.new_block("synced"));
        e.b.build_conditional_branch(any, sync, done)?;
        e.b.position_at_end(sync);
        for group in picked.chunks(4) {
            let mut args: Vec<BasicMetadataValueEnum<'c>> = Vec::with_capacity(8);
            for k in 0..4 {
                let (bx, len) = match group.get(k) {
                    Some(v) => {
                        let len = e.b.build_load(e.i64t, v.len, "len")?.into_int_value();
                        let owed = e.b.build_select(flag(v)?, len, e.int(-1), "owed")?;
                        (e.int(self.box_of(v.holder) as i64), owed.into_int_value())
                    }
                    None => (e.int(0), e.int(-1)),
                };
                args.push(bx.into());
                args.push(len.into());
            }
            e.call_helper(helpers::ARRAY_SYNC, &args)?;
        }
        for v in &picked {
            // The opened room is gone: the buffer is as long as the array.
            let len = e.b.build_load(e.i64t, v.len, "len")?.into_int_value();
            let cap = e.b.build_load(e.i64t, v.cap, "cap")?.into_int_value();
            let cap = e.b.build_select(flag(v)?, len, cap, "cap")?;
            e.b.build_store(v.cap, cap)?;
        }
        e.b.build_unconditional_branch(done)?;
        e.b.position_at_end(done);
        // Stored on both paths (the other found them clean), so the flags
        // are a constant false from here: LLVM can drop the later checks.
        for v in &picked {
            e.b.build_store(v.dirty, e.ctx.bool_type().const_zero())?;
        }
        Ok(())
    }

    /// The box of `holder`'s position.
    pub(super) fn box_of(&self, holder: Holder) -> usize {
        match holder {
            Holder::Global(n) => self.layout.global(n as usize),
            Holder::Slot(p) => p, // slots' boxes come first
        }
    }

    /// The position of `holder`.
    pub(super) fn holder_cell(&self, holder: Holder) -> L<Cell<'c>> {
        match holder {
            Holder::Global(n) => self.global_cell(n),
            Holder::Slot(p) => self.slot_cell(p),
        }
    }

    /// The view of `holder`, fetched if forgotten (or, to `write`, if not
    /// unique); branches to `slow` when it holds no array. In a loop's
    /// fast copy a view that doesn't serve goes to `slow` unfetched (the
    /// copy must not change its views: see `versions`).
    fn view(&self, holder: Holder, write: bool, slow: BasicBlock<'c>) -> L<(View<'c>, Loaded<'c>)> {
        let e = self.e;
        let view = *self
            .views
            .iter()
            .find(|v| v.holder == holder)
            .ok_or_else(|| LowerError(format!("no view of {holder:?}")))?;
        let cell = self.holder_cell(holder)?;
        let g = self.load(cell, None)?;
        let boxed = e.is(g, TAG_OPAQUE)?;
        let (check, have) = (self.new_block("view_check"), self.new_block("view"));
        e.b.build_conditional_branch(boxed, check, slow)?;
        e.b.position_at_end(check);
        let ok = self.view_serves(view.ok, write)?;
        if self.fast.is_some() {
            e.b.build_conditional_branch(ok, have, slow)?;
        } else {
            let fetch = self.new_block("view_fetch");
            e.b.build_conditional_branch(ok, have, fetch)?;
            e.b.position_at_end(fetch);
            let mode = if write { Fetch::Write } else { Fetch::Read };
            let is_array = self.fetch_view(view, g, mode)?;
            e.b.build_conditional_branch(is_array, have, slow)?;
        }
        e.b.position_at_end(have);
        let ptr = e.ctx.ptr_type(AddressSpace::default());
        let loaded = Loaded {
            base: e.b.build_load(ptr, view.base, "base")?.into_pointer_value(),
            len: e.b.build_load(e.i64t, view.len, "len")?.into_int_value(),
            strat: e
                .b
                .build_load(e.i64t, view.strat, "strategy")?
                .into_int_value(),
        };
        Ok((view, loaded))
    }

    /// Fetches `view` from the runtime for the boxed value `g` its holder
    /// holds (`mode`: see [`Fetch`]): stores its fields and level; true
    /// when the box holds an array (else the level is [`FORGOTTEN`]).
    pub(super) fn fetch_view(&self, view: View<'c>, g: V<'c>, mode: Fetch) -> L<IntValue<'c>> {
        let e = self.e;
        if let Holder::Slot(p) = view.holder {
            self.sync_rows(Some(p))?; // the runtime reads the slot's box
        }
        let r = e
            .call_helper(
                helpers::ARRAY_VIEW,
                &[g.i.into(), e.int(mode as i64).into()],
            )?
            .into_struct_value();
        let base = e.b.build_extract_value(r, 0, "base")?.into_int_value();
        let meta = e.b.build_extract_value(r, 1, "meta")?.into_int_value();
        let is_array =
            e.b.build_int_compare(IntPredicate::NE, base, e.int(0), "array")?;
        let ptr = e.ctx.ptr_type(AddressSpace::default());
        let len = e.b.build_right_shift(meta, e.int(2), false, "len")?;
        let fields: [(PointerValue<'c>, BasicValueEnum<'c>); 4] = [
            (view.base, e.b.build_int_to_ptr(base, ptr, "base")?.into()),
            (view.len, len.into()),
            (
                view.strat,
                e.b.build_and(meta, e.int(3), "strategy")?.into(),
            ),
            (view.cap, len.into()), // no room opened yet
        ];
        let level = match mode {
            Fetch::Read => READABLE,
            Fetch::Write | Fetch::WriteIfUnique => WRITABLE,
        };
        let level = e.i8t.const_int(level, false);
        if let Fetch::WriteIfUnique = mode {
            // Refused for a shared array: the view stays as it was (it may
            // still serve reads).
            let ty = |p: PointerValue<'c>| -> BasicTypeEnum<'c> {
                if p == view.base {
                    ptr.into()
                } else {
                    e.i64t.into()
                }
            };
            for (p, new) in fields {
                let old = e.b.build_load(ty(p), p, "old")?;
                e.b.build_store(p, e.b.build_select(is_array, new, old, "field")?)?;
            }
            let old = e.b.build_load(e.i8t, view.ok, "old_ok")?;
            e.b.build_store(
                view.ok,
                e.b.build_select(is_array, level.into(), old, "level")?,
            )?;
            return Ok(is_array);
        }
        for (p, new) in fields {
            e.b.build_store(p, new)?;
        }
        let level =
            e.b.build_select(is_array, level, e.i8t.const_zero(), "level")?;
        e.b.build_store(view.ok, level)?;
        Ok(is_array)
    }

    /// An in-range Int index `idx` (0 ≤ idx < len), else on to `slow`.
    fn in_range(&self, idx: V<'c>, len: IntValue<'c>, slow: BasicBlock<'c>) -> L<()> {
        let e = self.e;
        let int = e.is(idx, TAG_INT)?;
        // Unsigned: a negative index is out of range too.
        let below =
            e.b.build_int_compare(IntPredicate::ULT, idx.i, len, "in_range")?;
        let ok = e.b.build_and(int, below, "index_ok")?;
        let go = self.new_block("index_ok");
        e.b.build_conditional_branch(ok, go, slow)?;
        e.b.position_at_end(go);
        Ok(())
    }

    /// Room for one push at `a.len`: what the view has, else opened by the
    /// runtime (the view then owes the array its length: dirty); the base
    /// to write at, or on to `slow` when the array can't take it in place.
    fn room_for_push(
        &self,
        view: View<'c>,
        a: &Loaded<'c>,
        slow: BasicBlock<'c>,
    ) -> L<PointerValue<'c>> {
        let e = self.e;
        let ptr = e.ctx.ptr_type(AddressSpace::default());
        let room = e.b.build_load(e.i64t, view.cap, "room")?.into_int_value();
        let fits =
            e.b.build_int_compare(IntPredicate::ULT, a.len, room, "fits")?;
        let (grow, go) = (self.new_block("grow"), self.new_block("push_fits"));
        e.b.build_conditional_branch(fits, go, grow)?;
        e.b.position_at_end(grow);
        let bx = e.int(self.box_of(view.holder) as i64);
        let r = e
            .call_helper(helpers::ARRAY_GROW, &[bx.into(), a.len.into()])?
            .into_struct_value();
        let base = e.b.build_extract_value(r, 0, "base")?.into_int_value();
        let room = e.b.build_extract_value(r, 1, "room")?.into_int_value();
        let opened =
            e.b.build_int_compare(IntPredicate::ULT, a.len, room, "opened")?;
        let base_ok =
            e.b.build_int_compare(IntPredicate::NE, base, e.int(0), "base_ok")?;
        let opened = e.b.build_and(opened, base_ok, "grown")?;
        e.b.build_store(view.base, e.b.build_int_to_ptr(base, ptr, "base")?)?;
        e.b.build_store(view.cap, room)?;
        e.b.build_store(view.dirty, e.ctx.bool_type().const_all_ones())?;
        e.b.build_conditional_branch(opened, go, slow)?;
        e.b.position_at_end(go);
        Ok(e.b.build_load(ptr, view.base, "base")?.into_pointer_value())
    }

    /// Stores `v` at `base[at]` when its kind is the strategy's (else on to
    /// `slow`); ends in the block after the store. The caller checked that
    /// `at` is inside the buffer. `only`: a trace's write specialised to
    /// the strategy of that element kind (any other goes to `slow`).
    fn store_element(
        &self,
        strat: IntValue<'c>,
        v: V<'c>,
        (base, at): (PointerValue<'c>, IntValue<'c>),
        only: Option<u8>,
        slow: BasicBlock<'c>,
    ) -> L<()> {
        let e = self.e;
        let (ti, tf, tb) = (e.i64t, e.f64t, e.i8t);
        let mut cases = Vec::new();
        let names = [
            (TAG_INT, "set_int"),
            (TAG_FLOAT, "set_float"),
            (TAG_BOOL, "set_bool"),
        ];
        for (s, (kind, name)) in names.into_iter().enumerate() {
            if only.is_none_or(|t| t == kind) {
                cases.push((s, self.new_block(name)));
            }
        }
        let switch: Vec<_> = cases.iter().map(|&(s, bb)| (e.int(s as i64), bb)).collect();
        e.b.build_switch(strat, slow, &switch)?;
        let done = self.new_block("stored");
        for (s, bb) in cases {
            e.b.position_at_end(bb);
            // The element's kind must be the strategy's.
            let kind = [TAG_INT, TAG_FLOAT, TAG_BOOL][s];
            let store = self.new_block("store_element");
            e.b.build_conditional_branch(e.is(v, kind)?, store, slow)?;
            e.b.position_at_end(store);
            let (ty, x): (BasicTypeEnum<'c>, BasicValueEnum<'c>) = match s {
                0 => (ti.into(), v.i.into()),
                1 => (tf.into(), v.f.into()),
                // A Rust `bool` is 0 or 1.
                _ => {
                    let b =
                        e.b.build_int_compare(IntPredicate::NE, v.i, e.int(0), "b")?;
                    (tb.into(), e.b.build_int_z_extend(b, tb, "byte")?.into())
                }
            };
            let at = element_ptr(&e.b, ty, base, at, "at")?;
            e.b.build_store(at, x)?;
            e.b.build_unconditional_branch(done)?;
        }
        e.b.position_at_end(done);
        Ok(())
    }

    /// Appends `v` in place (room permitting, else on to `slow`) and bumps
    /// the view's length (`only`: see [`Self::store_element`]).
    fn push_in_place(
        &self,
        view: View<'c>,
        a: &Loaded<'c>,
        v: V<'c>,
        only: Option<u8>,
        slow: BasicBlock<'c>,
    ) -> L<()> {
        let e = self.e;
        let base = self.room_for_push(view, a, slow)?;
        // Below the room just checked.
        self.store_element(a.strat, v, (base, a.len), only, slow)?;
        let grown = e.b.build_int_add(a.len, e.int(1), "grown")?;
        e.b.build_store(view.len, grown)?;
        Ok(())
    }

    /// An array op on `holder`'s array: the fast path in place, everything
    /// else through the value helper.
    pub(super) fn array_op(&self, st: &State, ip: usize, pops: usize, holder: Holder) -> L<()> {
        let e = self.e;
        let op = self.chunk.ops()[ip];
        let d = st.stack.len();
        let slow = self.new_block("array_slow");
        let write = matches!(op, Op::ArrayPush(_) | Op::ArraySet(_) | Op::SlotArraySet(_));
        let (view, a) = self.view(holder, write, slow)?;
        let (ti, tf, tb) = (e.i64t, e.f64t, e.i8t);
        // A trace specialised to the recorded element kind (of the element
        // read, or of the unboxed array written) handles only that
        // strategy in place.
        let only = match self.inlined(ip) {
            Some(Inline::Element(t)) => Some(t),
            _ => None,
        };
        match op {
            Op::ArrayLen(_) => {
                self.write_stack(d, e.int_of(a.len))?;
                self.goto(ip + 1)?;
            }
            Op::ArrayGet(_) | Op::SlotArrayGet(_) => {
                let idx = self.read_stack(st, d - 1)?;
                self.in_range(idx, a.len, slow)?;
                // (Specialised: the helper path then exits on another kind.)
                // Only strategies whose elements are of a kind the result
                // may have are read in place (an array the chunk filled
                // with Floats: just the Float case); any other goes through
                // the helper, which enforces those kinds.
                let kinds = match only {
                    Some(t) => KindSet::of(t),
                    None => self
                        .fun
                        .states
                        .get(ip + 1)
                        .and_then(|s| s.as_ref())
                        .and_then(|s| s.stack.get(d - 1).copied())
                        .unwrap_or(KindSet::NONE),
                };
                let mut cases = Vec::new();
                for (s, kind) in [TAG_INT, TAG_FLOAT, TAG_BOOL].into_iter().enumerate() {
                    if kinds.has(kind) {
                        cases.push((e.int(s as i64), self.new_block("get_element"), s));
                    }
                }
                let switch: Vec<_> = cases.iter().map(|&(v, bb, _)| (v, bb)).collect();
                e.b.build_switch(a.strat, slow, &switch)?;
                for (_, bb, s) in cases {
                    e.b.position_at_end(bb);
                    let ty: BasicTypeEnum<'c> = [ti.into(), tf.into(), tb.into()][s];
                    // In range: idx < len checked above.
                    let at = element_ptr(&e.b, ty, a.base, idx.i, "at")?;
                    let x = e.b.build_load(ty, at, "element")?;
                    let v = match s {
                        0 => e.int_of(x.into_int_value()),
                        1 => e.float_of(x.into_float_value()),
                        _ => e.bool_of(e.b.build_int_compare(
                            IntPredicate::NE,
                            x.into_int_value(),
                            tb.const_zero(),
                            "b",
                        )?)?,
                    };
                    self.write_stack(d - 1, v)?;
                    self.goto(ip + 1)?;
                }
            }
            Op::ArrayPush(_) => {
                let v = self.read_stack(st, d - 1)?;
                self.push_in_place(view, &a, v, None, slow)?;
                self.goto(ip + 1)?;
            }
            Op::ArraySet(_) | Op::SlotArraySet(_) => {
                // In range: stored in place; one past the end: a push (how
                // a frontend fills an array by index); else the helper.
                let idx = self.read_stack(st, d - 1)?;
                let v = self.read_stack(st, d - 2)?;
                let int = e.is(idx, TAG_INT)?;
                let below =
                    e.b.build_int_compare(IntPredicate::ULT, idx.i, a.len, "in_range")?;
                let at_end =
                    e.b.build_int_compare(IntPredicate::EQ, idx.i, a.len, "at_end")?;
                let (set, not_set, push) = (
                    self.new_block("set_in_place"),
                    self.new_block("not_in_range"),
                    self.new_block("set_at_end"),
                );
                e.b.build_conditional_branch(e.b.build_and(int, below, "set")?, set, not_set)?;
                e.b.position_at_end(not_set);
                e.b.build_conditional_branch(e.b.build_and(int, at_end, "push")?, push, slow)?;
                e.b.position_at_end(set);
                // In range: idx < len checked above.
                self.store_element(a.strat, v, (a.base, idx.i), only, slow)?;
                self.goto(ip + 1)?;
                e.b.position_at_end(push);
                self.push_in_place(view, &a, v, only, slow)?;
                self.goto(ip + 1)?;
            }
            _ => return Err(LowerError(format!("op {ip} has no array fast path"))),
        }
        e.b.position_at_end(slow);
        if let (Op::ArrayGet(n), None, Some(s)) = (op, only, self.stored_in_slot(ip)) {
            // Positioned, after it, where the general path goes on.
            self.row_into_slot(st, ip, n, s)?;
        }
        if self.bail(ip)? {
            return Ok(()); // a fast copy's slow path: the general copy runs it
        }
        // A trace's read or write specialised to an unboxed array's element
        // kind leaves after its slow path (an index out of range, the array
        // changing strategy) rather than merge back: the views its loop
        // carries then change nowhere in it, and LLVM hoists their checks
        // out of the loop. A hot slow path grows a side path like any exit.
        self.apply_in_helper_then(st, ip, pops, only.is_some())
    }
}
