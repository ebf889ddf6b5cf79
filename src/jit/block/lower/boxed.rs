//! Boxed values in a trace's root function: the values native code can't
//! hold in registers (strings, containers) live in *boxes*, one per
//! position; a native value tagged `OPAQUE` holds its own position's box
//! index, and storing it elsewhere copies the box. Ops on boxed values go to
//! the runtime's value helper.

use super::arrays::Holder;
use super::*;

/// Where a boxed root keeps values it can't hold in registers: one box per
/// slot (`0..slots`), stack position and global, then [`SCRATCH`] more for
/// ops that permute the stack. A native value tagged `OPAQUE` holds the
/// index of its position's own box.
#[derive(Debug, Clone, Copy)]
pub struct BoxLayout {
    /// Physical slots.
    pub slots: usize,
    /// Stack positions.
    pub depth: usize,
    /// Globals.
    pub globals: usize,
}

/// Scratch boxes after the positions' own.
const SCRATCH: usize = 4;

impl BoxLayout {
    /// Box of stack position `k`.
    pub fn stack(&self, k: usize) -> usize {
        self.slots + k
    }
    /// Box of global `n`.
    pub fn global(&self, n: usize) -> usize {
        self.slots + self.depth + n
    }
    /// Scratch box `k`.
    pub fn scratch(&self, k: usize) -> usize {
        self.global(self.globals) + k
    }
    /// Boxes in all.
    pub fn count(&self) -> usize {
        self.scratch(SCRATCH)
    }
}

impl<'c> FnBuilder<'_, 'c, '_> {
    /// `v` as held by the position with box `bx`: a boxed value elsewhere
    /// is copied into `bx` (nothing is emitted for a tag known unboxed).
    pub(super) fn rebox(&self, v: V<'c>, bx: usize) -> L<V<'c>> {
        let e = self.e;
        if v.tag
            .get_zero_extended_constant()
            .is_some_and(|t| t != TAG_OPAQUE as u64)
        {
            return Ok(v);
        }
        let here = e.int(bx as i64);
        let boxed = e.is(v, TAG_OPAQUE)?;
        let elsewhere =
            e.b.build_int_compare(IntPredicate::NE, v.i, here, "elsewhere")?;
        let copy = e.b.build_and(boxed, elsewhere, "copy")?;
        if copy.get_zero_extended_constant() != Some(0) {
            let (mv, done) = (self.new_block("box_move"), self.new_block("boxed"));
            e.b.build_conditional_branch(copy, mv, done)?;
            e.b.position_at_end(mv);
            self.sync_views()?;
            e.call_helper(crate::jit::helpers::BOX_MOVE, &[v.i.into(), here.into()])?;
            self.after_box_move(bx)?; // the copy shares an array; the target's was dropped
            e.b.build_unconditional_branch(done)?;
            e.b.position_at_end(done);
        }
        Ok(V {
            i: e.sel_i(boxed, here, v.i)?,
            ..v
        })
    }

    /// Whether any of the `n` values under the top of the stack may be
    /// boxed (statically).
    pub(super) fn may_be_boxed(&self, st: &State, n: usize) -> bool {
        self.boxed
            && st.stack[st.stack.len() - n..]
                .iter()
                .any(|k| k.has(TAG_OPAQUE))
    }

    /// 1 when one of the `n` values under the top of the stack is boxed.
    pub(super) fn any_boxed(&self, st: &State, n: usize) -> L<IntValue<'c>> {
        let e = self.e;
        let d = st.stack.len();
        let mut any = e.ctx.bool_type().const_zero();
        for k in d - n..d {
            if st.stack[k].has(TAG_OPAQUE) {
                let v = self.load(self.stack_cell(k)?, None)?;
                any = e.b.build_or(any, e.is(v, TAG_OPAQUE)?, "boxed")?;
            }
        }
        Ok(any)
    }

    /// A pure op applied by the value helper to the top `pops` values
    /// (boxed or not); native code exits before `ip` if the helper fails.
    pub(super) fn apply_in_helper(&self, st: &State, ip: usize, pops: usize) -> L<()> {
        self.apply_in_helper_then(st, ip, pops, false)
    }

    /// [`Self::apply_in_helper`], then, when `leave`, an exit after the op
    /// (the interpreter goes on at `ip + 1`) instead of native code going
    /// on: a trace's slow path that must not merge back into its loop.
    pub(super) fn apply_in_helper_then(
        &self,
        st: &State,
        ip: usize,
        pops: usize,
        leave: bool,
    ) -> L<()> {
        if self.bail(ip)? {
            return Ok(()); // a loop's fast copy calls no value helper
        }
        let e = self.e;
        let op = self.chunk.ops()[ip];
        let d = st.stack.len();
        let out = d - pops;
        let pushes = crate::jit::support::stack_effect(&op).1;
        // Kinds the result may have: what the analysis expects after the op.
        let kinds = match pushes {
            0 if stores_global(&op).is_some() => KindSet::of(TAG_OPAQUE),
            0 => KindSet::UNDEF,
            _ => self
                .fun
                .states
                .get(ip + 1)
                .and_then(|s| s.as_ref())
                .and_then(|s| s.stack.get(out).copied())
                .unwrap_or(KindSet::NONE),
        };
        let holder_box = match holder_of(&op, st) {
            Some(h) => {
                // The holder must hold a container: its cell is boxed.
                let kinds = match h {
                    Holder::Global(n) => st.globals[n as usize],
                    Holder::Slot(p) => st.slots.get(p).copied().unwrap_or(KindSet::UNDEF),
                };
                if !kinds.has(TAG_OPAQUE) {
                    return self.exit_at(ip, d); // the interpreter runs it
                }
                self.guard_boxed(self.holder_cell(h)?, kinds, ip, d)?;
                self.box_of(h) as i64
            }
            None => -1,
        };
        // The result's box: the position it is pushed to, or the global a
        // declaration or a `SetArray`/`SetHash` stores it into.
        let stored = stores_global(&op);
        let out_box = match stored {
            Some(n) => self.layout.global(n as usize),
            None => self.layout.stack(out),
        };
        let mut args: Vec<BasicMetadataValueEnum<'c>> = vec![
            e.int(ip as i64).into(),
            e.int(out_box as i64).into(),
            e.int(kinds.0 as i64).into(),
            e.int(holder_box).into(),
        ];
        for k in 0..4 {
            if k < pops {
                let v = self.read_stack(st, out + k)?;
                let isf = e.is(v, TAG_FLOAT)?;
                let fbits = e.b.build_bit_cast(v.f, e.i64t, "fbits")?.into_int_value();
                let tag = e.b.build_int_z_extend(v.tag, e.i64t, "tag")?;
                args.extend::<[BasicMetadataValueEnum<'c>; 2]>([
                    tag.into(),
                    e.sel_i(isf, fbits, v.i)?.into(),
                ]);
            } else {
                args.extend::<[BasicMetadataValueEnum<'c>; 2]>([e.int(0).into(), e.int(0).into()]);
            }
        }
        self.sync_views()?;
        let r = e
            .call_helper(crate::jit::helpers::VALUE_OP, &args)?
            .into_struct_value();
        if !keeps_views(&op) {
            self.forget_views()?; // the op may have changed or shared any array
        }
        let tag = e.b.build_extract_value(r, 0, "tag")?.into_int_value();
        let bits = e.b.build_extract_value(r, 1, "bits")?.into_int_value();
        let failed = e.b.build_int_compare(
            IntPredicate::EQ,
            tag,
            e.int(crate::jit::helpers::FAILED as i64),
            "failed",
        )?;
        let (stop, go) = (self.new_block("helper_failed"), self.new_block("applied"));
        e.b.build_conditional_branch(failed, stop, go)?;
        e.b.position_at_end(stop);
        self.exit_at(ip, d)?;
        e.b.position_at_end(go);
        let tag = match kinds.single() {
            Some(t) => e.tag(t),
            None => e.b.build_int_truncate(tag, e.i8t, "tag")?,
        };
        let f = e.b.build_bit_cast(bits, e.f64t, "f")?.into_float_value();
        if pushes == 1 && !kinds.has(TAG_OPAQUE) {
            // The helper refused any other kind: never a box to move.
            self.store_unboxed(self.stack_cell(out)?, V { tag, i: bits, f })?;
        } else if pushes == 1 {
            self.write_stack(out, V { tag, i: bits, f })?;
        }
        if let Some(n) = stored {
            // Already in the global's own box: no copy.
            self.store(self.global_cell(n)?, V { tag, i: bits, f })?;
        }
        if leave {
            return self.exit_at(ip + 1, out + pushes);
        }
        self.goto(ip + 1)
    }

    /// Exits before `ip` unless the cell holds a boxed value.
    pub(super) fn guard_boxed(
        &self,
        c: Cell<'c>,
        kinds: KindSet,
        ip: usize,
        depth: usize,
    ) -> L<()> {
        if kinds.single() == Some(TAG_OPAQUE) {
            return Ok(());
        }
        let e = self.e;
        let v = self.load(c, None)?;
        let boxed = e.is(v, TAG_OPAQUE)?;
        let (go, stop) = (self.new_block("boxed"), self.new_block("not_boxed"));
        e.b.build_conditional_branch(boxed, go, stop)?;
        e.b.position_at_end(stop);
        self.exit_at(ip, depth)?;
        e.b.position_at_end(go);
        Ok(())
    }

    /// Stack position `k`'s value, moved to scratch box `n` if boxed (for
    /// ops that permute the stack: their sources are overwritten).
    pub(super) fn to_scratch(&self, st: &State, k: usize, n: usize) -> L<V<'c>> {
        let v = self.read_stack(st, k)?;
        if !self.boxed || !st.stack[k].has(TAG_OPAQUE) {
            return Ok(v);
        }
        self.rebox(v, self.layout.scratch(n))
    }

    /// Truthiness of `v`, asking the box helper when it is boxed.
    pub(super) fn truthy_boxed(&self, v: V<'c>, kinds: KindSet) -> L<IntValue<'c>> {
        let e = self.e;
        if !self.boxed || !kinds.has(TAG_OPAQUE) {
            return e.truthy(v);
        }
        let boxed = e.is(v, TAG_OPAQUE)?;
        let here = e.b.get_insert_block().expect("positioned");
        let (ask, done) = (self.new_block("box_truthy"), self.new_block("truth"));
        let plain = e.truthy(v)?;
        e.b.build_conditional_branch(boxed, ask, done)?;
        e.b.position_at_end(ask);
        self.sync_views()?;
        let r = e
            .call_helper(crate::jit::helpers::BOX_TRUTHY, &[v.i.into()])?
            .into_int_value();
        let r = e.b.build_int_compare(IntPredicate::NE, r, e.int(0), "t")?;
        let asked = e.b.get_insert_block().expect("positioned");
        e.b.build_unconditional_branch(done)?;
        e.b.position_at_end(done);
        let phi = e.b.build_phi(e.ctx.bool_type(), "truthy")?;
        phi.add_incoming(&[(&plain, here), (&r, asked)]);
        Ok(phi.as_basic_value().into_int_value())
    }
}

/// Ops a boxed root always applies through the value helper: string ops,
/// constants native code can't hold in registers, container ops, the ops
/// that make containers.
pub(super) fn needs_helper(op: &Op, chunk: &Chunk) -> bool {
    use Op::*;
    match *op {
        LoadConst(c) => chunk
            .constants()
            .get(c as usize)
            .is_some_and(|v| tag_of(v) == TAG_OPAQUE),
        Concat | StringRepeat | StringLen | StrEq | StrNe | StrLt | StrGt | StrLe | StrGe
        | StrCmp | MakeArray(_) | MakeHash(_) | Range | RangeStep => true,
        SlotArrayGet(_) | SlotArraySet(_) => true,
        _ => global_of(op).is_some() || stores_global(op).is_some(),
    }
}

/// Whether the value helper applying `op` leaves every array and box but
/// its result's as it was and shares no viewed array (a read: what it
/// pushes is an element, a length or a hash value, into a stack box no
/// view holds), so native code's views stay valid across the call.
fn keeps_views(op: &Op) -> bool {
    matches!(
        op,
        Op::ArrayGet(_)
            | Op::SlotArrayGet(_)
            | Op::ArrayLen(_)
            | Op::HashGet(_)
            | Op::HashExists(_)
    )
}

/// The global a container op works on.
fn global_of(op: &Op) -> Option<u16> {
    use Op::*;
    match *op {
        GetArray(n) | GetHash(n) | ArrayGet(n) | ArraySet(n) | ArrayPush(n) | ArrayPop(n)
        | ArrayShift(n) | ArrayLen(n) | HashGet(n) | HashSet(n) | HashExists(n) | HashDelete(n) => {
            Some(n)
        }
        _ => None,
    }
}

/// The holder of the container an op works on.
fn holder_of(op: &Op, st: &State) -> Option<Holder> {
    match *op {
        Op::SlotArrayGet(s) | Op::SlotArraySet(s) => Some(Holder::Slot(st.phys(s))),
        _ => global_of(op).map(Holder::Global),
    }
}

/// The global an op stores the container it makes into.
pub(super) fn stores_global(op: &Op) -> Option<u16> {
    use Op::*;
    match *op {
        DeclareArray(n) | DeclareHash(n) | SetArray(n) | SetHash(n) => Some(n),
        _ => None,
    }
}
