//! Entering and leaving a function: the root's buffers and exit block
//! (slots, stack, globals, slot-area length written back for the
//! interpreter), a subroutine's frame and native-stack checks, returns.

use super::*;

impl<'c> FnBuilder<'_, 'c, '_> {
    pub(super) fn init_root(&mut self) -> L<()> {
        let e = self.e;
        let slots_ptr = self.param(0)?.into_pointer_value();
        let n = self.fun.slot_count;
        let slots_ty = struct_of(e, 2 * n);
        for (p, &tag) in self.entry_tags.slots.iter().enumerate() {
            let bits =
                e.b.build_load(
                    e.i64t,
                    e.b.build_struct_gep(slots_ty, slots_ptr, 2 * p as u32 + 1, "s")?,
                    "bits",
                )?
                .into_int_value();
            let f = e.b.build_bit_cast(bits, e.f64t, "f")?.into_float_value();
            let i = match tag {
                TAG_FLOAT => e.int(0),
                TAG_OPAQUE => e.int(p as i64), // `run` put it in its box
                _ => bits,
            };
            let v = V {
                tag: e.tag(tag),
                i,
                f,
            };
            self.store(self.slots[p], v)?;
        }
        let len = e.b.build_alloca(e.i64t, "len")?;
        e.b.build_store(len, e.int(self.entry_tags.slots.len() as i64))?;
        // Globals: loaded at entry like slots, from the fourth buffer.
        let globals_ptr = self.param(3)?.into_pointer_value();
        let globals_ty = struct_of(e, 2 * self.entry_tags.globals.len());
        for &tag in self.entry_tags.globals {
            let n = self.globals.len();
            let c = self.cell(self.layout.global(n))?;
            let at =
                e.b.build_struct_gep(globals_ty, globals_ptr, 2 * n as u32 + 1, "g")?;
            let bits = e.b.build_load(e.i64t, at, "bits")?.into_int_value();
            let f = e.b.build_bit_cast(bits, e.f64t, "f")?.into_float_value();
            let i = match tag {
                TAG_FLOAT => e.int(0),
                TAG_OPAQUE => e.int(self.layout.global(n) as i64),
                _ => bits,
            };
            self.store(
                c,
                V {
                    tag: e.tag(tag),
                    i,
                    f,
                },
            )?;
            self.globals.push(c);
        }
        self.len = Some(len);
        let frames = e.b.build_alloca(e.i64t, "frames")?;
        e.b.build_store(frames, self.info_load(info::FRAMES_LEFT)?)?;
        self.frames = Some(frames);
        let bb = e.ctx.append_basic_block(self.func, "exit");
        let cur = e.b.get_insert_block().expect("positioned");
        e.b.position_at_end(bb);
        let ip = e.b.build_phi(e.i64t, "exit_ip")?;
        let depth = e.b.build_phi(e.i64t, "exit_depth")?;
        e.b.position_at_end(cur);
        self.exit = Some((bb, ip, depth));
        Ok(())
    }

    pub(super) fn init_sub(&mut self) -> L<()> {
        let e = self.e;
        // Out of frames or native stack (or already unwinding): unwind.
        let fl = self.param(1)?.into_int_value();
        let floor = self.info_load(info::STACK_FLOOR)?;
        let ptr = e.ctx.ptr_type(AddressSpace::default());
        let sp = e
            .call_intrinsic("llvm.stacksave", &[ptr.into()], &[])?
            .into_pointer_value();
        let sp = e.b.build_ptr_to_int(sp, e.i64t, "sp")?;
        let no_frames =
            e.b.build_int_compare(IntPredicate::SLE, fl, e.int(0), "no_frames")?;
        let no_stack =
            e.b.build_int_compare(IntPredicate::ULT, sp, floor, "no_stack")?;
        let mut out = e.b.build_or(no_frames, no_stack, "out")?;
        // A call is a step: charged on entry.
        let fuel = match self.entry_tags.fuel {
            true => {
                let fuel = self.info_load(info::FUEL)?;
                let none =
                    e.b.build_int_compare(IntPredicate::SLE, fuel, e.int(0), "no_steps")?;
                out = e.b.build_or(out, none, "out")?;
                Some(fuel)
            }
            false => None,
        };
        let bail = e.ctx.append_basic_block(self.func, "start_unwinding");
        let go = e.ctx.append_basic_block(self.func, "go");
        e.b.build_conditional_branch(out, bail, go)?;
        e.b.position_at_end(bail);
        self.info_store(info::STACK_FLOOR, e.int(-1))?;
        self.info_store(info::UNWINDING, e.int(1))?;
        self.ret_unwinding()?;
        e.b.position_at_end(go);
        if let Some(fuel) = fuel {
            self.info_store(info::FUEL, e.b.build_int_sub(fuel, e.int(1), "fuel")?)?;
        }
        let frames = e.b.build_alloca(e.i64t, "frames")?;
        e.b.build_store(frames, e.b.build_int_sub(fl, e.int(1), "fl")?)?;
        self.frames = Some(frames);
        for a in 0..self.fun.argc {
            let p = |n: usize| self.param(2 + 3 * a + n);
            let v = V {
                tag: p(0)?.into_int_value(),
                i: p(1)?.into_int_value(),
                f: p(2)?.into_float_value(),
            };
            let v = self.narrow(v, self.fun.args[a]);
            self.store(self.stack[a], v)?;
        }
        Ok(())
    }

    /// A trace's inlined `Call` at `ip`: a step (code counting them), a
    /// frame (out of frames, exit before the call: the interpreter reports
    /// it), then on to the callee's first recorded op. The frame itself is
    /// the analysis's: its slots start at the slot area's end, its stack
    /// at its arguments.
    pub(super) fn inline_call(&mut self, st: &State, ip: usize) -> L<()> {
        let d = st.stack.len();
        if self.entry_tags.fuel {
            self.take_step(ip, d)?;
        }
        self.take_frame(ip, d)?;
        self.goto(ip + 1)
    }

    /// Takes one frame (a scope or an inlined call) from the frames left;
    /// out of frames, exits before op `ip` with `depth` values on the stack
    /// (the interpreter then reports the limit there).
    pub(super) fn take_frame(&mut self, ip: usize, depth: usize) -> L<()> {
        let e = self.e;
        let frames = self.frames.expect("set at entry");
        let fl = e.b.build_load(e.i64t, frames, "fl")?.into_int_value();
        let none =
            e.b.build_int_compare(IntPredicate::SLE, fl, e.int(0), "no_frames")?;
        let (stop, go) = (self.new_block("frame_limit"), self.new_block("take_frame"));
        e.b.build_conditional_branch(none, stop, go)?;
        e.b.position_at_end(stop);
        self.exit_at(ip, depth)?;
        e.b.position_at_end(go);
        e.b.build_store(frames, e.b.build_int_sub(fl, e.int(1), "fl")?)?;
        Ok(())
    }

    /// Closes `n` frames (scopes or inlined calls) whose outermost starts
    /// at physical slot `slot_base`: their frames go back to the frames
    /// left, their slots become `Undef` and the slot area ends there again.
    pub(super) fn close_frames(&mut self, n: usize, slot_base: usize) -> L<()> {
        let e = self.e;
        let frames = self.frames.expect("set at entry");
        let fl = e.b.build_load(e.i64t, frames, "fl")?.into_int_value();
        e.b.build_store(frames, e.b.build_int_add(fl, e.int(n as i64), "fl")?)?;
        for cell in self.slots.clone().into_iter().skip(slot_base) {
            self.store(cell, e.undef_value())?;
        }
        e.b.build_store(self.len.expect("root"), e.int(slot_base as i64))?;
        Ok(())
    }

    /// A trace's inlined `Return`/`ReturnValue` at `ip`: unwinds as the
    /// interpreter does (the callee's frame and any scope it left open go,
    /// its slots are cleared, the value lands on its stack base), then on to
    /// the caller's next recorded op.
    pub(super) fn inline_return(&mut self, st: &State, ip: usize) -> L<()> {
        let c = st
            .innermost_call()
            .ok_or_else(|| LowerError(format!("op {ip}: an inlined return without its call")))?;
        let frame = &st.scopes[c];
        let d = st.stack.len();
        let value = match self.chunk.ops()[ip] {
            Op::ReturnValue => Some(self.read_stack(st, d - 1)?),
            _ => None,
        };
        self.close_frames(st.scopes.len() - c, frame.slot_base)?;
        if let Some(v) = value {
            // Popping below the callee's stack base leaves nothing to drop.
            self.write_stack((d - 1).min(frame.stack_depth), v)?;
        }
        self.goto(ip + 1)
    }

    /// Writes the state back and returns the exit ip (root only).
    pub(super) fn finish_exit(&mut self) -> L<()> {
        let e = self.e;
        let (bb, ip, depth) = self.exit.expect("root has an exit block");
        e.b.position_at_end(bb);
        self.sync_every_view()?; // the arrays get the length native pushes gave them
        let slots_ptr = self.param(0)?.into_pointer_value();
        let stack_ptr = self.param(1)?.into_pointer_value();
        let slots_ty = struct_of(e, 2 * self.slots.len());
        for (p, c) in self.slots.clone().into_iter().enumerate() {
            self.write_out(slots_ty, slots_ptr, p, c)?;
        }
        let stack_ty = struct_of(e, 2 * self.stack.len());
        for (k, c) in self.stack.clone().into_iter().enumerate() {
            self.write_out(stack_ty, stack_ptr, k, c)?;
        }
        let globals_ptr = self.param(3)?.into_pointer_value();
        let globals_ty = struct_of(e, 2 * self.globals.len());
        for (n, c) in self.globals.clone().into_iter().enumerate() {
            self.write_out(globals_ty, globals_ptr, n, c)?;
        }
        let len =
            e.b.build_load(e.i64t, self.len.expect("root"), "len")?
                .into_int_value();
        self.info_store(info::LEN, len)?;
        self.info_store(info::DEPTH, depth.as_basic_value().into_int_value())?;
        e.b.build_return(Some(&ip.as_basic_value()))?;
        Ok(())
    }

    pub(super) fn write_out(
        &self,
        ty: StructType<'c>,
        base: PointerValue<'c>,
        k: usize,
        c: Cell<'c>,
    ) -> L<()> {
        let e = self.e;
        let v = self.load(c, None)?;
        let isf = e.is(v, TAG_FLOAT)?;
        let fbits = e.b.build_bit_cast(v.f, e.i64t, "fbits")?.into_int_value();
        let bits = e.sel_i(isf, fbits, v.i)?;
        let tag = e.b.build_int_z_extend(v.tag, e.i64t, "tag")?;
        e.b.build_store(e.b.build_struct_gep(ty, base, 2 * k as u32, "t")?, tag)?;
        e.b.build_store(e.b.build_struct_gep(ty, base, 2 * k as u32 + 1, "b")?, bits)?;
        Ok(())
    }

    /// Leaves native code before op `ip` with `depth` values on the stack.
    pub(super) fn exit_at(&self, ip: usize, depth: usize) -> L<()> {
        let e = self.e;
        let (bb, ip_phi, depth_phi) = self
            .exit
            .ok_or_else(|| LowerError(format!("op {ip}: a subroutine can't exit")))?;
        let here = e.b.get_insert_block().expect("positioned");
        ip_phi.add_incoming(&[(&e.int(ip as i64), here)]);
        depth_phi.add_incoming(&[(&e.int(depth as i64), here)]);
        e.b.build_unconditional_branch(bb)?;
        Ok(())
    }

    /// Returns from a subroutine that is unwinding: a placeholder of the
    /// kind it always returns (so the return's tag stays a constant), which
    /// no caller uses (the root exits at its call).
    pub(super) fn ret_unwinding(&self) -> L<()> {
        let e = self.e;
        let tag = self.fun.returns.single().unwrap_or(TAG_UNDEF);
        let v = V {
            tag: e.tag(tag),
            ..e.undef_value()
        };
        self.ret_value(v)
    }

    /// Returns a value from a subroutine (fields its kind doesn't use are
    /// zero, so LLVM can drop them from the signature).
    pub(super) fn ret_value(&self, v: V<'c>) -> L<()> {
        let v = self.e.canonical(v);
        let vals: [BasicValueEnum<'c>; 3] = [v.tag.into(), v.i.into(), v.f.into()];
        self.e.b.build_aggregate_return(&vals)?;
        Ok(())
    }
}
