//! Lowering a [`Plan`] to LLVM IR: one function for the chunk's top-level
//! code, one per subroutine.
//!
//! Each stack position and slot is a triple of allocas that SROA promotes
//! to SSA registers (the phis at merge points come from there); where the
//! analysis knows a position's kind, reads use a constant tag so the value
//! ops fold to their specialised form while the IR is built. Every op gets
//! its own LLVM block; O2 merges them.
//!
//! The root function `root(slots, stack, info) -> exit ip` ends through one
//! exit block that stores every slot, the operand stack, the slot-area
//! length and the stack depth into the caller's buffers, so the interpreter
//! can resume at the exit ip (the chunk's length at a normal end).
//!
//! A subroutine is `(info, frames left, arguments) -> {tag, i, f}` (LLVM
//! drops what a known kind doesn't need, down to a bare `i64` for fib). One
//! that runs out of frames or native stack sets `info.UNWINDING` and returns
//! a placeholder; every caller passes placeholders on (no check after calls,
//! so LLVM may turn recursion into loops), loops in subroutines stop at their
//! back-edges, and the root exits *before its outermost call*. Subroutines
//! touch nothing but their own frame, so the interpreter simply runs that
//! call again, and reports the frame limit exactly where it would have.

mod arrays;
mod boxed;
mod frame;
mod hashes;
mod rows;
mod versions;

pub use boxed::BoxLayout;
use boxed::needs_helper;

use super::analysis::{Function, Inline, Plan, State};
use crate::bytecode::chunk::Chunk;
use crate::bytecode::op::Op;
use crate::interp::semantics::{Bits, Cmp, Unary};
use crate::jit::kinds::*;
use crate::jit::values::{Emitter, L, LowerError, V};
use fusevm_llvm_backend::inkwell::AddressSpace;
use fusevm_llvm_backend::inkwell::IntPredicate;
use fusevm_llvm_backend::inkwell::basic_block::BasicBlock;
use fusevm_llvm_backend::inkwell::context::ContextRef;
use fusevm_llvm_backend::inkwell::module::{Linkage, Module};
use fusevm_llvm_backend::inkwell::types::{BasicMetadataTypeEnum, BasicTypeEnum, StructType};
use fusevm_llvm_backend::inkwell::values::{
    BasicMetadataValueEnum, BasicValueEnum, FunctionValue, IntValue, PhiValue, PointerValue,
};

/// Fields of the `info` buffer (all `i64`).
pub mod info {
    /// Out: length of the slot area.
    pub const LEN: u32 = 0;
    /// Out: operand stack depth.
    pub const DEPTH: u32 = 1;
    /// In: frames that may still be pushed (calls and scopes).
    pub const FRAMES_LEFT: u32 = 2;
    /// In: lowest native stack address subroutines may use (raised to the
    /// top of the address space while unwinding, so every entry check fails).
    pub const STACK_FLOOR: u32 = 3;
    /// Out: set when a subroutine ran out of frames, native stack or steps;
    /// the root then exits at its call.
    pub const UNWINDING: u32 = 4;
    /// In/out: steps left of the VM's step budget (code compiled to count
    /// steps charges one per taken backward jump and per call).
    pub const FUEL: u32 = 5;
    /// Out: set when the root stopped because the budget ran out at a
    /// backward jump (the exit ip is that jump, taken).
    pub const FUEL_OUT: u32 = 6;
    /// Out: times a loop's fast copy was entered (see `versions`).
    pub const FAST_ENTRIES: u32 = 7;
    /// Out: times a fast copy left for its loop's general copy.
    pub const FAST_BAILS: u32 = 8;
    /// Number of fields.
    pub const COUNT: u32 = 9;
}

/// The kinds the root is compiled for: its slots' and the globals'.
#[derive(Clone, Copy)]
pub struct EntryTags<'a> {
    /// One tag per slot of the frame at entry.
    pub slots: &'a [u8],
    /// One tag per global (name index).
    pub globals: &'a [u8],
    /// Count steps against `info.FUEL` (a VM with a step budget).
    pub fuel: bool,
}

/// Builds every function of `plan` into `module`, the root under the
/// (process-unique) name `root`, compiled for the entry kinds `entry_tags`.
pub fn build<'c>(
    ctx: ContextRef<'c>,
    module: &Module<'c>,
    root: &str,
    chunk: &Chunk,
    plan: &Plan,
    entry_tags: EntryTags<'_>,
) -> L<()> {
    let e = Emitter::new(ctx, module);
    let ptr = ctx.ptr_type(AddressSpace::default());
    let ret = ctx.struct_type(&[e.i8t.into(), e.i64t.into(), e.f64t.into()], false);
    // Declare every function first: calls may go forward or recurse.
    let mut decls = Vec::new();
    for (k, f) in plan.functions.iter().enumerate() {
        let decl = if k == 0 {
            let ty = e
                .i64t
                .fn_type(&[ptr.into(), ptr.into(), ptr.into(), ptr.into()], false);
            module.add_function(root, ty, None)
        } else {
            // (info, frames left, arguments as triples)
            let mut params: Vec<BasicMetadataTypeEnum<'c>> = vec![ptr.into(), e.i64t.into()];
            for _ in 0..f.argc {
                params.extend::<[BasicMetadataTypeEnum<'c>; 3]>([
                    e.i8t.into(),
                    e.i64t.into(),
                    e.f64t.into(),
                ]);
            }
            let ty = ret.fn_type(&params, false);
            module.add_function(&format!("sub_{k}"), ty, Some(Linkage::Internal))
        };
        decls.push(decl);
    }
    for (k, f) in plan.functions.iter().enumerate() {
        FnBuilder::new(&e, chunk, plan, f, k, decls[k], &decls, entry_tags)?.build()?;
    }
    Ok(())
}

/// The three allocas of one position, and its box (boxed roots only).
#[derive(Clone, Copy)]
struct Cell<'c> {
    tag: PointerValue<'c>,
    i: PointerValue<'c>,
    f: PointerValue<'c>,
    bx: Option<u32>,
}

/// Builds one function.
struct FnBuilder<'a, 'c, 'm> {
    e: &'a Emitter<'c, 'm>,
    chunk: &'a Chunk,
    plan: &'a Plan,
    fun: &'a Function,
    root: bool,
    func: FunctionValue<'c>,
    decls: &'a [FunctionValue<'c>],
    entry_tags: EntryTags<'a>,
    /// Root: one cell per global.
    globals: Vec<Cell<'c>>,
    blocks: Vec<Option<BasicBlock<'c>>>,
    stack: Vec<Cell<'c>>,
    slots: Vec<Cell<'c>>,
    len: Option<PointerValue<'c>>,
    /// The `info` buffer.
    info: PointerValue<'c>,
    info_ty: StructType<'c>,
    /// Root: the exit block and its phis (ip, depth).
    exit: Option<(BasicBlock<'c>, PhiValue<'c>, PhiValue<'c>)>,
    /// Frames callees may still push (an alloca: scopes change it).
    frames: Option<PointerValue<'c>>,
    /// The op being lowered.
    cur: usize,
    /// Boxed values flow here (the root of a boxed plan).
    boxed: bool,
    layout: BoxLayout,
    /// Boxed root: views of the global arrays its array ops use.
    views: Vec<arrays::View<'c>>,
    /// Boxed root: per op, the views to sync before it (see
    /// `arrays::plan_syncs`).
    sync_at: Vec<u64>,
    /// Per op, the views that may owe their array a length while it runs
    /// (see `plan_syncs`); empty when not planned (every view may).
    may_owe: Vec<u64>,
    /// Boxed root: per op, whether control can reach it other than from
    /// the op before (a jump's target, the entry): such an op can't be
    /// fused into the op before it.
    joins: Vec<bool>,
    /// Boxed root: row tables of the globals fused row reads take rows
    /// from (see `rows`).
    rows: Vec<rows::RowsView<'c>>,
    /// Boxed root: the slots fused row reads store rows into.
    lazies: Vec<rows::Lazy<'c>>,
    /// Boxed root: views of the global hashes its hash ops use.
    hash_views: Vec<hashes::HashView<'c>>,
    /// Boxed block-tier root: the loops built twice (see `versions`).
    versions: Vec<versions::Version<'c>>,
    /// The version whose fast copy is being lowered.
    fast: Option<usize>,
}

impl<'a, 'c, 'm> FnBuilder<'a, 'c, 'm> {
    #[allow(clippy::too_many_arguments)]
    fn new(
        e: &'a Emitter<'c, 'm>,
        chunk: &'a Chunk,
        plan: &'a Plan,
        fun: &'a Function,
        k: usize,
        func: FunctionValue<'c>,
        decls: &'a [FunctionValue<'c>],
        entry_tags: EntryTags<'a>,
    ) -> L<Self> {
        let info_ty = struct_of(e, info::COUNT as usize);
        let layout = BoxLayout {
            slots: fun.slot_count,
            depth: fun.max_depth,
            globals: entry_tags.globals.len(),
        };
        let info = func
            .get_nth_param(if k == 0 { 2 } else { 0 })
            .ok_or_else(|| LowerError("missing info parameter".into()))?
            .into_pointer_value();
        Ok(FnBuilder {
            e,
            chunk,
            plan,
            fun,
            root: k == 0,
            func,
            decls,
            entry_tags,
            globals: Vec::new(),
            blocks: Vec::new(),
            stack: Vec::new(),
            slots: Vec::new(),
            len: None,
            info,
            info_ty,
            exit: None,
            frames: None,
            cur: 0,
            boxed: k == 0 && plan.boxed,
            layout,
            views: Vec::new(),
            sync_at: Vec::new(),
            may_owe: Vec::new(),
            joins: Vec::new(),
            rows: Vec::new(),
            lazies: Vec::new(),
            hash_views: Vec::new(),
            versions: Vec::new(),
            fast: None,
        })
    }

    fn build(mut self) -> L<()> {
        let e = self.e;
        let entry = e.ctx.append_basic_block(self.func, "entry");
        e.b.position_at_end(entry);
        if !self.root
            && self
                .fun
                .states
                .get(self.fun.entry)
                .is_none_or(|s| s.is_none())
        {
            // Never called with known arguments (its callers are unreachable).
            return self.ret_unwinding();
        }
        // Allocas and their initial values.
        for k in 0..self.fun.max_depth {
            let c = self.cell(self.layout.stack(k))?;
            self.stack.push(c);
            self.store(c, e.undef_value())?;
        }
        for p in 0..self.fun.slot_count {
            let c = self.cell(p)?;
            self.slots.push(c);
            self.store(c, e.undef_value())?;
        }
        if self.root {
            self.init_root()?;
            if self.boxed {
                self.init_views()?;
                self.plan_syncs();
                self.init_rows()?;
                self.init_hash_views()?;
                self.plan_versions();
            }
        } else {
            self.init_sub()?;
        }
        let ops = self.chunk.ops();
        self.blocks = (0..=ops.len())
            .map(|ip| {
                self.fun
                    .states
                    .get(ip)
                    .and_then(|s| s.as_ref())
                    .map(|_| e.ctx.append_basic_block(self.func, &format!("op{ip}")))
            })
            .collect();
        let first = self.block(self.fun.entry)?;
        e.b.build_unconditional_branch(first)?;
        for ip in 0..ops.len() {
            if let Some(bb) = self.blocks[ip] {
                e.b.position_at_end(bb);
                self.lower_op(ip)?;
            }
        }
        self.lower_fast_copies()?;
        if let Some(bb) = self.blocks[ops.len()] {
            e.b.position_at_end(bb);
            let depth = self.state(ops.len())?.stack.len();
            self.exit_at(ops.len(), depth)?;
        }
        if self.root {
            self.finish_exit()?;
        }
        Ok(())
    }

    // ── ops ──

    fn lower_op(&mut self, ip: usize) -> L<()> {
        self.cur = ip;
        if self.root {
            self.sync_where_planned(ip)?;
        }
        if self.fast.is_none()
            && let Some(k) = self.version_at(ip)
        {
            self.try_fast_copy(k)?;
        }
        let st = self.state(ip)?.clone();
        self.lower_op_in(ip, st)
    }

    /// Lowers op `ip` for the state `st` (the analysis's, or one narrowed
    /// to unboxed operands).
    fn lower_op_in(&mut self, ip: usize, st: State) -> L<()> {
        use Op::*;
        let e = self.e;
        let op = self.chunk.ops()[ip];
        let d = st.stack.len();
        let pops = match op {
            Call(_, argc) => argc as usize,
            ReturnValue => 1,
            _ => crate::jit::support::stack_effect(&op).0,
        };
        if d < pops {
            return self.exit_at(ip, d); // the interpreter reports the underflow
        }
        let only_opaque = |s: u16| st.slots.get(st.phys(s)) == Some(&KindSet::of(TAG_OPAQUE));
        let reads_boxed = !(self.boxed && matches!(op, GetSlot(_)));
        if reads_boxed && slots_read(&op).into_iter().any(only_opaque) {
            return self.exit_at(ip, d); // the interpreter reads it
        }
        if let Some(h) = arrays::fast_path_holder(&op, &st).filter(|_| self.boxed)
            && match h {
                arrays::Holder::Global(n) => st.globals.get(n as usize),
                arrays::Holder::Slot(p) => st.slots.get(p),
            }
            .is_some_and(|k| k.has(TAG_OPAQUE))
        {
            return self.array_op(&st, ip, pops, h);
        }
        if let Some(n) = hashes::fast_path_global(&op).filter(|_| self.boxed)
            && st
                .globals
                .get(n as usize)
                .is_some_and(|k| k.has(TAG_OPAQUE))
        {
            return self.hash_op(&st, ip, pops, n);
        }
        if self.boxed && needs_helper(&op, self.chunk) {
            return self.apply_in_helper(&st, ip, pops);
        }
        if crate::jit::support::applies(&op) && self.may_be_boxed(&st, pops) {
            // A boxed operand goes to the value helper; the rest is native.
            let any = self.any_boxed(&st, pops)?;
            if any.get_zero_extended_constant() == Some(1) {
                return self.apply_in_helper(&st, ip, pops);
            }
            let (slow, fast) = (self.new_block("boxed_operand"), self.new_block("unboxed"));
            e.b.build_conditional_branch(any, slow, fast)?;
            e.b.position_at_end(slow);
            self.apply_in_helper(&st, ip, pops)?;
            e.b.position_at_end(fast);
            let mut narrowed = st;
            for k in d - pops..d {
                narrowed.stack[k] = narrowed.stack[k].without(TAG_OPAQUE);
            }
            return self.lower_op_in(ip, narrowed);
        }
        let arg = |k: usize| self.read_stack(&st, d - pops + k);
        // Binary ops replace two values with one.
        macro_rules! binary {
            ($f:expr) => {{
                let (a, b) = (arg(0)?, arg(1)?);
                let r = $f(a, b)?;
                self.write_stack(d - 2, r)?;
                self.goto(ip + 1)
            }};
        }
        macro_rules! unary {
            ($f:expr) => {{
                let a = arg(0)?;
                let r = $f(a)?;
                self.write_stack(d - 1, r)?;
                self.goto(ip + 1)
            }};
        }
        macro_rules! push {
            ($v:expr) => {{
                let v = $v;
                self.write_stack(d, v)?;
                self.goto(ip + 1)
            }};
        }
        match op {
            Nop | MapBlock(_) | GrepBlock(_) | SortBlock(_) | SortDefault | ForEachBlock(_) => {
                self.goto(ip + 1)
            }
            LoadInt(v) => push!(e.int_value(v)),
            LoadFloat(v) => push!(e.float_value(v)),
            LoadConst(c) => push!(match &self.chunk.constants()[c as usize] {
                crate::Value::Int(v) => e.int_value(*v),
                crate::Value::Float(v) => e.float_value(*v),
                crate::Value::Bool(v) => e.bool_value(*v),
                _ => e.undef_value(),
            }),
            LoadTrue => push!(e.bool_value(true)),
            LoadFalse => push!(e.bool_value(false)),
            LoadUndef => push!(e.undef_value()),
            Pop => self.goto(ip + 1),
            Dup => push!(arg(0)?),
            Dup2 => {
                let (a, b) = (arg(0)?, arg(1)?);
                self.write_stack(d, a)?;
                self.write_stack(d + 1, b)?;
                self.goto(ip + 1)
            }
            Swap => {
                let (a, b) = (
                    self.to_scratch(&st, d - 2, 0)?,
                    self.to_scratch(&st, d - 1, 1)?,
                );
                self.write_stack(d - 2, b)?;
                self.write_stack(d - 1, a)?;
                self.goto(ip + 1)
            }
            Rot => {
                let (a, b, c) = (
                    self.to_scratch(&st, d - 3, 0)?,
                    self.to_scratch(&st, d - 2, 1)?,
                    self.to_scratch(&st, d - 1, 2)?,
                );
                self.write_stack(d - 3, b)?;
                self.write_stack(d - 2, c)?;
                self.write_stack(d - 1, a)?;
                self.goto(ip + 1)
            }
            GetSlot(s) if self.boxed => {
                let p = st.phys(s);
                let kinds = st.slots.get(p).copied().unwrap_or(KindSet::UNDEF);
                push!(self.load(self.slot_cell(p)?, Some(kinds))?)
            }
            GetSlot(s) => {
                let v = self.read_slot(&st, ip, s)?;
                push!(v)
            }
            Print(k) | PrintLn(k) => {
                self.sync_views()?; // printing may read an array
                let mut failed = e.int(0);
                for j in 0..k as usize {
                    let v = arg(j)?;
                    let isf = e.is(v, TAG_FLOAT)?;
                    let fbits = e.b.build_bit_cast(v.f, e.i64t, "fbits")?.into_int_value();
                    let bits = e.sel_i(isf, fbits, v.i)?;
                    let tag = e.b.build_int_z_extend(v.tag, e.i64t, "tag")?;
                    let r = e.call_helper(
                        crate::jit::helpers::PRINT_VALUE,
                        &[tag.into(), bits.into()],
                    )?;
                    failed = e.b.build_or(failed, r.into_int_value(), "failed")?;
                }
                if matches!(op, PrintLn(_)) {
                    let r = e.call_helper(crate::jit::helpers::PRINT_NEWLINE, &[])?;
                    failed = e.b.build_or(failed, r.into_int_value(), "failed")?;
                }
                // A failed write ends native execution right after this op;
                // the interpreter reports it at this op, as it would have.
                let stop =
                    e.b.build_int_compare(IntPredicate::NE, failed, e.int(0), "stop")?;
                let (out, go) = (self.new_block("write_failed"), self.new_block("printed"));
                e.b.build_conditional_branch(stop, out, go)?;
                e.b.position_at_end(out);
                self.exit_at(ip + 1, d - k as usize)?;
                e.b.position_at_end(go);
                self.goto(ip + 1)
            }
            GetVar(n) if self.boxed => {
                let kinds = st.globals[n as usize];
                push!(self.load(self.global_cell(n)?, Some(kinds))?)
            }
            GetVar(n) => {
                let kinds = st.globals[n as usize];
                let c = self.global_cell(n)?;
                if kinds == KindSet::of(TAG_OPAQUE) {
                    return self.exit_at(ip, d); // the interpreter reads it
                }
                self.guard_opaque_cell(c, kinds, ip, d)?;
                push!(self.load(c, Some(kinds.without(TAG_OPAQUE)))?)
            }
            SetVar(n) | DeclareVar(n) => {
                let v = arg(0)?;
                self.store(self.global_cell(n)?, v)?;
                self.goto(ip + 1)
            }
            SetSlot(s) => {
                let v = arg(0)?;
                self.write_slot(&st, s, v)?;
                self.goto(ip + 1)
            }
            Add => binary!(|a, b| e.add(a, b)),
            Sub => binary!(|a, b| e.sub(a, b)),
            Mul => binary!(|a, b| e.mul(a, b)),
            Div => binary!(|a, b| e.div(a, b)),
            Mod => binary!(|a, b| e.modulo(a, b)),
            Pow | PowFloat => binary!(|a, b| e.pow(a, b)),
            Atan2Float => binary!(|a, b| e.atan2(a, b)),
            Negate => unary!(|a| e.negate(a)),
            Inc => unary!(|a| e.step(a, 1)),
            Dec => unary!(|a| e.step(a, -1)),
            NumEq => binary!(|a, b| e.bool_of(e.compare(Cmp::Eq, a, b)?)),
            NumNe => binary!(|a, b| e.bool_of(e.compare(Cmp::Ne, a, b)?)),
            NumLt => binary!(|a, b| e.bool_of(e.compare(Cmp::Lt, a, b)?)),
            NumGt => binary!(|a, b| e.bool_of(e.compare(Cmp::Gt, a, b)?)),
            NumLe => binary!(|a, b| e.bool_of(e.compare(Cmp::Le, a, b)?)),
            NumGe => binary!(|a, b| e.bool_of(e.compare(Cmp::Ge, a, b)?)),
            Spaceship => binary!(|a, b| e.spaceship(a, b)),
            LogNot => unary!(|a| {
                let t = e.truthy(a)?;
                e.bool_of(e.b.build_not(t, "not")?)
            }),
            LogAnd => binary!(|a, b| {
                let (x, y) = (e.truthy(a)?, e.truthy(b)?);
                e.bool_of(e.b.build_and(x, y, "and")?)
            }),
            LogOr => binary!(|a, b| {
                let (x, y) = (e.truthy(a)?, e.truthy(b)?);
                e.bool_of(e.b.build_or(x, y, "or")?)
            }),
            BitAnd => binary!(|a, b| e.bits(Bits::And, a, b)),
            BitOr => binary!(|a, b| e.bits(Bits::Or, a, b)),
            BitXor => binary!(|a, b| e.bits(Bits::Xor, a, b)),
            Shl => binary!(|a, b| e.bits(Bits::Shl, a, b)),
            Shr => binary!(|a, b| e.bits(Bits::Shr, a, b)),
            BitNot => unary!(|a| e.bit_not(a)),
            AbsInt => unary!(|a| e.abs_int(a)),
            TruncInt => unary!(|a| Ok::<_, LowerError>(e.int_of(e.to_i(a)?))),
            GcdInt => binary!(|a, b| e.int_helper(crate::jit::helpers::GCD, &[a, b])),
            LcmInt => binary!(|a, b| e.int_helper(crate::jit::helpers::LCM, &[a, b])),
            MulModFloor => {
                let args = [arg(0)?, arg(1)?, arg(2)?];
                let r = e.mul_mod_floor(&args)?;
                self.write_stack(d - 3, r)?;
                self.goto(ip + 1)
            }
            MulAddModFloor => {
                let args = [arg(0)?, arg(1)?, arg(2)?, arg(3)?];
                let r = e.mul_mod_floor(&args)?;
                self.write_stack(d - 4, r)?;
                self.goto(ip + 1)
            }
            SqrtFloat => unary!(|a| e.unary(Unary::Sqrt, a)),
            SinFloat => unary!(|a| e.unary(Unary::Sin, a)),
            CosFloat => unary!(|a| e.unary(Unary::Cos, a)),
            TanFloat => unary!(|a| e.unary(Unary::Tan, a)),
            AsinFloat => unary!(|a| e.unary(Unary::Asin, a)),
            AcosFloat => unary!(|a| e.unary(Unary::Acos, a)),
            AtanFloat => unary!(|a| e.unary(Unary::Atan, a)),
            SinhFloat => unary!(|a| e.unary(Unary::Sinh, a)),
            CoshFloat => unary!(|a| e.unary(Unary::Cosh, a)),
            TanhFloat => unary!(|a| e.unary(Unary::Tanh, a)),
            ExpFloat => unary!(|a| e.unary(Unary::Exp, a)),
            LogFloat => unary!(|a| e.unary(Unary::Ln, a)),
            Log2Float => unary!(|a| e.unary(Unary::Log2, a)),
            Log10Float => unary!(|a| e.unary(Unary::Log10, a)),
            AbsFloat => unary!(|a| e.unary(Unary::Abs, a)),
            FloorFloat => unary!(|a| e.unary(Unary::Floor, a)),
            CeilFloat => unary!(|a| e.unary(Unary::Ceil, a)),
            TruncFloat => unary!(|a| e.unary(Unary::Trunc, a)),
            RoundFloat => unary!(|a| e.unary(Unary::Round, a)),

            Jump(t) => self.goto(t),
            JumpIfTrue(t) | JumpIfFalse(t) | JumpIfTrueKeep(t) | JumpIfFalseKeep(t) => {
                let c = self.truthy_boxed(arg(0)?, st.stack[d - 1])?;
                let (on_true, on_false) = match op {
                    JumpIfTrue(_) | JumpIfTrueKeep(_) => (t, ip + 1),
                    _ => (ip + 1, t),
                };
                self.branch(c, on_true, on_false)
            }

            PreIncSlot(s) | PreDecSlot(s) | PreIncSlotVoid(s) => {
                let delta = if matches!(op, PreDecSlot(_)) { -1 } else { 1 };
                let v = e.step(self.read_slot(&st, ip, s)?, delta)?;
                self.write_slot(&st, s, v)?;
                if !matches!(op, PreIncSlotVoid(_)) {
                    self.write_stack(d, v)?;
                }
                self.goto(ip + 1)
            }
            PostIncSlot(s) | PostDecSlot(s) => {
                let delta = if matches!(op, PostDecSlot(_)) { -1 } else { 1 };
                let old = self.read_slot(&st, ip, s)?;
                self.write_slot(&st, s, e.step(old, delta)?)?;
                self.write_stack(d, old)?;
                self.goto(ip + 1)
            }
            AddAssignSlotVoid(a, b) => {
                let rhs = self.read_slot(&st, ip, b)?;
                let lhs = self.read_slot(&st, ip, a)?;
                self.write_slot(&st, a, e.add(lhs, rhs)?)?;
                self.goto(ip + 1)
            }
            SlotLtIntJumpIfFalse(s, lim, t) => {
                let v = self.read_slot(&st, ip, s)?;
                let c = e.compare(Cmp::Lt, v, e.int_value(lim as i64))?;
                self.branch(c, ip + 1, t)
            }
            SlotIncLtIntJumpBack(s, lim, t) => {
                let v = e.step(self.read_slot(&st, ip, s)?, 1)?;
                self.write_slot(&st, s, v)?;
                let c = e.compare(Cmp::Lt, v, e.int_value(lim as i64))?;
                self.branch(c, t, ip + 1)
            }
            AccumSumLoop(sum, i, lim) => self.accum_sum_loop(&st, ip, sum, i, lim),

            Call(..) if self.inlined(ip).is_some() => self.inline_call(&st, ip),
            Call(..) => self.call(&st, ip),
            Return | ReturnValue if self.inlined(ip) == Some(Inline::Return) => {
                self.inline_return(&st, ip)
            }
            Return | ReturnValue if self.root => self.exit_at(ip, d),
            Return => self.ret_value(e.undef_value()),
            ReturnValue => {
                let v = arg(0)?;
                self.ret_value(v)
            }
            PushFrame => {
                self.take_frame(ip, d)?;
                self.goto(ip + 1)
            }
            PopFrame => {
                let Some(scope) = st.scopes.last().filter(|sc| sc.call.is_none()) else {
                    return self.exit_at(ip, d); // the interpreter reports it
                };
                self.close_frames(1, scope.slot_base)?;
                self.goto(ip + 1)
            }
            _ => Err(LowerError(format!("op {ip} `{op}` has no lowering"))),
        }
    }

    /// `AccumSumLoop`: `while i < lim { sum += i; i += 1 }` on the slots.
    fn accum_sum_loop(&mut self, st: &State, ip: usize, sum: u16, i: u16, lim: i32) -> L<()> {
        let e = self.e;
        let (head, body) = (self.new_block("accum_head"), self.new_block("accum_body"));
        e.b.build_unconditional_branch(head)?;
        e.b.position_at_end(head);
        // Kinds change inside the loop: read the tags at run time.
        let iv = self.read_slot_dynamic(st, ip, i)?;
        let c = e.compare(Cmp::Lt, iv, e.int_value(lim as i64))?;
        let done = self.block(ip + 1)?;
        e.b.build_conditional_branch(c, body, done)?;
        e.b.position_at_end(body);
        // Read (and guard) the sum first: a slot native code can't read
        // exits before the op, which must not have taken a step.
        let sum_v = self.read_slot_dynamic(st, ip, sum)?;
        if self.entry_tags.fuel {
            // Each iteration is a step (as in the interpreter); out of
            // steps, leave at this op with the iterations done so far.
            self.take_step(ip, st.stack.len())?;
        }
        let acc = e.add(sum_v, iv)?;
        self.write_slot(st, sum, acc)?;
        let next = e.step(self.read_slot_dynamic(st, ip, i)?, 1)?;
        self.write_slot(st, i, next)?;
        e.b.build_unconditional_branch(head)?;
        Ok(())
    }

    /// A native call; a bailing callee makes the root exit at this call.
    fn call(&mut self, st: &State, ip: usize) -> L<()> {
        let e = self.e;
        let callee_idx = self.fun.callees[&ip];
        let callee = &self.plan.functions[callee_idx];
        let d = st.stack.len();
        let argc = callee.argc;
        if self.may_be_boxed(st, argc) {
            // Subroutines have no boxes: the interpreter makes this call.
            if st.stack[d - argc..].contains(&KindSet::of(TAG_OPAQUE)) {
                return self.exit_at(ip, d); // as the analysis expects
            }
            let any = self.any_boxed(st, argc)?;
            let (stop, go) = (self.new_block("boxed_argument"), self.new_block("call"));
            e.b.build_conditional_branch(any, stop, go)?;
            e.b.position_at_end(stop);
            self.exit_at(ip, d)?;
            e.b.position_at_end(go);
        }
        let fl =
            e.b.build_load(e.i64t, self.frames.expect("set at entry"), "fl")?;
        // Steps before the call: an unwinding call is run again by the
        // interpreter, which charges them again.
        let fuel_before = match self.root && self.entry_tags.fuel {
            true => Some(self.info_load(info::FUEL)?),
            false => None,
        };
        let mut args: Vec<BasicMetadataValueEnum<'c>> = vec![self.info.into(), fl.into()];
        for k in 0..argc {
            let v = e.canonical(self.read_stack(st, d - argc + k)?);
            args.extend::<[BasicMetadataValueEnum<'c>; 3]>([v.tag.into(), v.i.into(), v.f.into()]);
        }
        let r = e.b.build_call(self.decls[callee_idx], &args, "call")?;
        let r = r
            .try_as_basic_value()
            .basic()
            .ok_or_else(|| LowerError("call without value".into()))?
            .into_struct_value();
        let field = |n: u32| e.b.build_extract_value(r, n, "r");
        let v = V {
            tag: field(0)?.into_int_value(),
            i: field(1)?.into_int_value(),
            f: field(2)?.into_float_value(),
        };
        // A subroutine that ran out of frames or stack returns a placeholder
        // and leaves the unwinding flag set. Subroutines pass placeholders on
        // (they change nothing outside their frames; their loops check the
        // flag); the root exits here, before the call, and the interpreter
        // runs the call again.
        if self.root {
            let unwinding = self.info_load(info::UNWINDING)?;
            let stop =
                e.b.build_int_compare(IntPredicate::NE, unwinding, e.int(0), "unwinding")?;
            let (bail, ok) = (self.new_block("unwound"), self.new_block("returned"));
            e.b.build_conditional_branch(stop, bail, ok)?;
            e.b.position_at_end(bail);
            if let Some(f) = fuel_before {
                self.info_store(info::FUEL, f)?;
            }
            self.exit_at(ip, d)?;
            e.b.position_at_end(ok);
        }
        match callee.returns_value {
            // It never returns normally: only an unwinding call gets here.
            None if self.root => {
                e.b.build_unreachable()?;
                Ok(())
            }
            None => self.ret_unwinding(),
            Some(with_value) => {
                if with_value {
                    let v = self.narrow(v, callee.returns);
                    self.write_stack(d - argc, v)?;
                }
                self.goto(ip + 1)
            }
        }
    }

    /// What op `ip` of a trace's top-level code stands for, if it belongs
    /// to an inlined call.
    fn inlined(&self, ip: usize) -> Option<Inline> {
        match self.root {
            true => self.plan.inlined.get(&ip).copied(),
            false => None,
        }
    }

    // ── control flow ──

    fn block(&self, ip: usize) -> L<BasicBlock<'c>> {
        if let Some(fast) = self.fast_block(ip) {
            return fast;
        }
        self.blocks
            .get(ip)
            .copied()
            .flatten()
            .ok_or_else(|| LowerError(format!("no block for op {ip}")))
    }

    fn new_block(&self, name: &str) -> BasicBlock<'c> {
        self.e.ctx.append_basic_block(self.func, name)
    }

    fn goto(&self, ip: usize) -> L<()> {
        self.check_unwinding(ip)?;
        self.e.b.build_unconditional_branch(self.edge(ip)?)?;
        Ok(())
    }

    fn branch(&self, c: IntValue<'c>, on_true: usize, on_false: usize) -> L<()> {
        self.check_unwinding(on_true.min(on_false))?;
        self.e
            .b
            .build_conditional_branch(c, self.edge(on_true)?, self.edge(on_false)?)?;
        Ok(())
    }

    /// Where a jump from the op being lowered to `target` goes: straight
    /// there, or, for a backward jump in code that counts steps, through a
    /// block taking one step from `info.FUEL`. Out of steps, the root exits
    /// at the jump (taken: the state is the target's) flagging
    /// `info.FUEL_OUT`, and the interpreter reports it there; a subroutine
    /// unwinds, and its outermost call is run again by the interpreter with
    /// the steps it had before it.
    fn edge(&self, target: usize) -> L<BasicBlock<'c>> {
        let to = self.block(target)?;
        if !self.entry_tags.fuel || target > self.cur {
            return Ok(to);
        }
        let e = self.e;
        let here = e.b.get_insert_block().expect("positioned");
        let charge = self.new_block("charge_step");
        e.b.position_at_end(charge);
        self.take_step(self.cur, self.state(target)?.stack.len())?;
        e.b.build_unconditional_branch(to)?;
        e.b.position_at_end(here);
        Ok(charge)
    }

    /// On a subroutine's back-edge: stop looping once unwinding (a loop
    /// over a callee's placeholder result might not end).
    fn check_unwinding(&self, target: usize) -> L<()> {
        if self.root || target > self.cur {
            return Ok(());
        }
        let e = self.e;
        let unwinding = self.info_load(info::UNWINDING)?;
        let stop =
            e.b.build_int_compare(IntPredicate::NE, unwinding, e.int(0), "unwinding")?;
        let (out, go) = (self.new_block("unwind"), self.new_block("loop"));
        e.b.build_conditional_branch(stop, out, go)?;
        e.b.position_at_end(out);
        self.ret_unwinding()?;
        e.b.position_at_end(go);
        Ok(())
    }

    /// Takes one step from `info.FUEL`, continuing in a fresh block; out of
    /// steps, the root exits at op `ip` with `depth` values on the stack and
    /// `info.FUEL_OUT` set (the VM reports it there), a subroutine unwinds.
    fn take_step(&self, ip: usize, depth: usize) -> L<()> {
        let e = self.e;
        let fuel = self.info_load(info::FUEL)?;
        let empty =
            e.b.build_int_compare(IntPredicate::SLE, fuel, e.int(0), "no_steps")?;
        let (out, go) = (self.new_block("out_of_steps"), self.new_block("step"));
        e.b.build_conditional_branch(empty, out, go)?;
        e.b.position_at_end(out);
        if self.root {
            self.info_store(info::FUEL_OUT, e.int(1))?;
            self.exit_at(ip, depth)?;
        } else {
            self.info_store(info::STACK_FLOOR, e.int(-1))?;
            self.info_store(info::UNWINDING, e.int(1))?;
            self.ret_unwinding()?;
        }
        e.b.position_at_end(go);
        self.info_store(info::FUEL, e.b.build_int_sub(fuel, e.int(1), "fuel")?)?;
        Ok(())
    }

    // ── positions ──

    fn state(&self, ip: usize) -> L<&'a State> {
        self.fun
            .states
            .get(ip)
            .and_then(|s| s.as_ref())
            .ok_or_else(|| LowerError(format!("op {ip} unreachable")))
    }

    /// A new position whose box (if boxed values flow here) is `bx`.
    fn cell(&self, bx: usize) -> L<Cell<'c>> {
        let e = self.e;
        Ok(Cell {
            tag: e.b.build_alloca(e.i8t, "tag")?,
            i: e.b.build_alloca(e.i64t, "i")?,
            f: e.b.build_alloca(e.f64t, "f")?,
            bx: self.boxed.then_some(bx as u32),
        })
    }

    /// Stores `v` into a position; a boxed value is first copied into the
    /// position's own box.
    fn store(&self, c: Cell<'c>, v: V<'c>) -> L<()> {
        let v = match c.bx {
            Some(bx) => self.rebox(v, bx as usize)?,
            None => v,
        };
        self.store_unboxed(c, v)
    }

    /// Stores `v`, known not to be boxed (its tag may still be a runtime
    /// one), into a position.
    fn store_unboxed(&self, c: Cell<'c>, v: V<'c>) -> L<()> {
        let b = &self.e.b;
        b.build_store(c.tag, v.tag)?;
        b.build_store(c.i, v.i)?;
        b.build_store(c.f, v.f)?;
        Ok(())
    }

    /// Loads a position; a known kind gives a constant tag.
    fn load(&self, c: Cell<'c>, kinds: Option<KindSet>) -> L<V<'c>> {
        let e = self.e;
        let tag = match kinds.and_then(KindSet::single) {
            Some(t) => e.tag(t),
            None => e.b.build_load(e.i8t, c.tag, "tag")?.into_int_value(),
        };
        // A known number loads only the field its kind uses (the other is
        // dead: `Emitter::canonical`), so O2 has less to clean up.
        let single = kinds.and_then(KindSet::single);
        let i = match single {
            Some(TAG_FLOAT) => e.int(0),
            _ => e.b.build_load(e.i64t, c.i, "i")?.into_int_value(),
        };
        let f = match single {
            Some(TAG_INT | TAG_BOOL | TAG_UNDEF) => e.float(0.0),
            _ => e.b.build_load(e.f64t, c.f, "f")?.into_float_value(),
        };
        Ok(V { tag, i, f })
    }

    /// A value known to be of one kind gets a constant tag.
    fn narrow(&self, v: V<'c>, kinds: KindSet) -> V<'c> {
        match kinds.single() {
            Some(t) => V {
                tag: self.e.tag(t),
                ..v
            },
            None => v,
        }
    }

    fn read_stack(&self, st: &State, k: usize) -> L<V<'c>> {
        self.load(self.stack_cell(k)?, Some(st.stack[k]))
    }

    fn write_stack(&self, k: usize, v: V<'c>) -> L<()> {
        self.store(self.stack_cell(k)?, v)
    }

    fn stack_cell(&self, k: usize) -> L<Cell<'c>> {
        self.stack
            .get(k)
            .copied()
            .ok_or_else(|| LowerError(format!("stack position {k} out of range")))
    }

    fn slot_cell(&self, p: usize) -> L<Cell<'c>> {
        self.slots
            .get(p)
            .copied()
            .ok_or_else(|| LowerError(format!("slot {p} out of range")))
    }

    /// Reads slot `s`; a value native code can't represent exits before `ip`.
    fn read_slot(&self, st: &State, ip: usize, s: u16) -> L<V<'c>> {
        let p = st.phys(s);
        let kinds = st.slots.get(p).copied().unwrap_or(KindSet::UNDEF);
        if kinds == KindSet::of(TAG_OPAQUE) {
            return Err(LowerError(format!("op {ip} always reads an opaque slot")));
        }
        self.guard_opaque(p, kinds, ip, st.stack.len())?;
        self.load(self.slot_cell(p)?, Some(kinds.without(TAG_OPAQUE)))
    }

    /// Like [`Self::read_slot`] with the tag read at run time.
    fn read_slot_dynamic(&self, st: &State, ip: usize, s: u16) -> L<V<'c>> {
        let p = st.phys(s);
        let kinds = st.slots.get(p).copied().unwrap_or(KindSet::UNDEF);
        self.guard_opaque(p, kinds, ip, st.stack.len())?;
        self.load(self.slot_cell(p)?, None)
    }

    fn guard_opaque(&self, p: usize, kinds: KindSet, ip: usize, depth: usize) -> L<()> {
        self.guard_opaque_cell(self.slot_cell(p)?, kinds, ip, depth)
    }

    fn global_cell(&self, n: u16) -> L<Cell<'c>> {
        self.globals
            .get(n as usize)
            .copied()
            .ok_or_else(|| LowerError(format!("global {n} out of range")))
    }

    /// Exits before `ip` if the cell holds a value native code can't read.
    fn guard_opaque_cell(&self, c: Cell<'c>, kinds: KindSet, ip: usize, depth: usize) -> L<()> {
        if !kinds.has(TAG_OPAQUE) {
            return Ok(());
        }
        let e = self.e;
        let v = self.load(c, None)?;
        let opaque = e.is(v, TAG_OPAQUE)?;
        let (stop, go) = (self.new_block("opaque"), self.new_block("numeric"));
        e.b.build_conditional_branch(opaque, stop, go)?;
        e.b.position_at_end(stop);
        self.exit_at(ip, depth)?;
        e.b.position_at_end(go);
        Ok(())
    }

    fn write_slot(&self, st: &State, s: u16, v: V<'c>) -> L<()> {
        let p = st.phys(s);
        self.store(self.slot_cell(p)?, v)?;
        if let Some(len) = self.len {
            let e = self.e;
            let cur = e.b.build_load(e.i64t, len, "len")?.into_int_value();
            let want = e.int(p as i64 + 1);
            let grow =
                e.b.build_int_compare(IntPredicate::ULT, cur, want, "grow")?;
            e.b.build_store(len, e.sel_i(grow, want, cur)?)?;
        }
        Ok(())
    }

    // ── parameters and the info buffer ──

    fn param(&self, n: usize) -> L<BasicValueEnum<'c>> {
        self.func
            .get_nth_param(n as u32)
            .ok_or_else(|| LowerError(format!("missing parameter {n}")))
    }

    fn info_load(&self, field: u32) -> L<IntValue<'c>> {
        let e = self.e;
        let p =
            e.b.build_struct_gep(self.info_ty, self.info, field, "info")?;
        Ok(e.b.build_load(e.i64t, p, "info")?.into_int_value())
    }

    fn info_store(&self, field: u32, v: IntValue<'c>) -> L<()> {
        let e = self.e;
        let p =
            e.b.build_struct_gep(self.info_ty, self.info, field, "info")?;
        e.b.build_store(p, v)?;
        Ok(())
    }
}

/// Slots an op reads.
fn slots_read(op: &Op) -> Vec<u16> {
    use Op::*;
    match *op {
        GetSlot(s)
        | PreIncSlot(s)
        | PreDecSlot(s)
        | PreIncSlotVoid(s)
        | PostIncSlot(s)
        | PostDecSlot(s)
        | SlotLtIntJumpIfFalse(s, _, _)
        | SlotIncLtIntJumpBack(s, _, _) => vec![s],
        AddAssignSlotVoid(a, b) => vec![a, b],
        AccumSumLoop(sum, i, _) => vec![i, sum],
        _ => vec![],
    }
}

/// A struct of `n` `i64`s: the shape of each buffer native code is given, so
/// every access is a bounds-checked `struct_gep` at build time.
fn struct_of<'c>(e: &Emitter<'c, '_>, n: usize) -> StructType<'c> {
    let fields: Vec<BasicTypeEnum<'c>> = vec![e.i64t.into(); n];
    e.ctx.struct_type(&fields, false)
}
