//! The dispatch loop.
//!
//! One `match` over `Op` (16-byte ops, borrowed from a shared chunk, never
//! cloned), with the ip and the current frame's slot base in locals. Values
//! computed by ops come from [`super::semantics`]; this file only moves them
//! between the stack, slots, globals and frames. Failures inside an op are a
//! small [`Fault`], turned into a [`VmError`] naming the op index once the
//! loop has stopped.

use super::calls::{Frames, Returned};
use super::containers::{self, build, element_of};
use super::fuse::{self, Fused};
use super::semantics::{self as sem, Bits, Cmp, Unary};
use super::vm::{Frame, FrameKind, MAX_STACK, VM, VmError};
use crate::bytecode::op::Op;
use crate::bytecode::value::Value;
use std::io::Write;
use std::sync::Arc;

/// The error of a run that ran out of its step budget.
pub(crate) const STEP_BUDGET_EXHAUSTED: &str = "step budget exhausted";

/// Why an op failed.
pub(crate) enum Fault {
    /// The op needed more operands than the stack holds.
    Underflow,
    /// A host handler asked the VM to stop after its op ([`VM::request_halt`]).
    Halt,
    /// Anything else.
    Msg(String),
}

impl Fault {
    pub(crate) fn msg(m: impl Into<String>) -> Fault {
        Fault::Msg(m.into())
    }
}

impl VM {
    /// Runs from `self.ip` until the end of the chunk or a top-level return.
    /// On error `self.ip` is left at the failing op.
    pub(crate) fn execute(&mut self) -> Result<(), VmError> {
        match (self.has_tiers(), self.fuel.is_some()) {
            (true, true) => self.execute_ops::<true, true>(),
            (true, false) => self.execute_ops::<true, false>(),
            (false, true) => self.execute_ops::<false, true>(),
            (false, false) => self.execute_ops::<false, false>(),
        }
    }

    /// The dispatch loop. With `TRACE`, every op takes the single-op path
    /// (the trace recorder must see each one) and each op ends with the
    /// tracing hook, which counts back-edges, records, and enters compiled
    /// traces; without it both vanish at compile time.
    fn execute_ops<const TRACE: bool, const FUEL: bool>(&mut self) -> Result<(), VmError> {
        let chunk = Arc::clone(&self.chunk);
        let ops = chunk.ops();
        let consts = chunk.constants();
        // Tracing runs groups that never branch backward (so back-edges
        // reach the hook), and none at all while recording; so does a step
        // budget (so back-edges are charged).
        let fused = if TRACE || FUEL {
            Arc::clone(
                self.fused_forward
                    .get_or_insert_with(|| Arc::from(fuse::forward_only(&self.fused))),
            )
        } else {
            Arc::clone(&self.fused)
        };
        let mut ip = self.ip;
        // An error raised before the run (a native tier ran out of steps
        // where the interpreter would have) is reported at once.
        if let Some(m) = self.raised.take() {
            return Err(self.error_at(ip, Fault::Msg(m)));
        }
        let mut base = self.frames.last().map_or(0, |f| f.slot_base);

        // Evaluate a fallible step; on fault leave the loop with it.
        macro_rules! t {
            ($e:expr) => {
                match $e {
                    Ok(v) => v,
                    Err(f) => break Err(f),
                }
            };
        }
        macro_rules! pop {
            () => {
                match self.stack.pop() {
                    Some(v) => v,
                    None => break Err(Fault::Underflow),
                }
            };
        }
        macro_rules! top {
            () => {
                match self.stack.last_mut() {
                    Some(v) => v,
                    None => break Err(Fault::Underflow),
                }
            };
        }

        let outcome: Result<(), Fault> = loop {
            let Some(&group) = fused.get(ip) else {
                break Ok(());
            };
            // Fused groups run in their own loop; it hands back the first op
            // that needs the single-op path (possibly this one).
            if group != Fused::None && !(TRACE && self.recording) {
                let mut fr = Frames {
                    area: &mut self.slots,
                    frames: &mut self.frames,
                    base,
                    max_frames: self.limits.max_frames,
                };
                let mut data = fuse::Data {
                    globals: &mut self.globals,
                    max_len: self.limits.max_collection_len,
                };
                let to = fuse::run(&fused, &mut fr, &mut data, &mut self.stack, consts, ip);
                base = fr.base;
                if to != ip {
                    ip = to;
                    continue;
                }
            }
            let op = ops[ip];
            let mut next = ip + 1;
            // A call is charged before it is made.
            if FUEL && matches!(op, Op::Call(..) | Op::CallDynamic(_)) {
                t!(self.charge_step());
            }
            match op {
                // ── constants and stack ──
                Op::Nop
                | Op::MapBlock(_)
                | Op::GrepBlock(_)
                | Op::SortBlock(_)
                | Op::SortDefault
                | Op::ForEachBlock(_) => {}
                Op::LoadInt(v) => self.stack.push(Value::Int(v)),
                Op::LoadFloat(v) => self.stack.push(Value::Float(v)),
                Op::LoadConst(c) => self.stack.push(consts[c as usize].clone()),
                Op::LoadTrue => self.stack.push(Value::Bool(true)),
                Op::LoadFalse => self.stack.push(Value::Bool(false)),
                Op::LoadUndef => self.stack.push(Value::Undef),
                Op::Pop => {
                    pop!();
                }
                Op::Dup => {
                    let v = top!().clone();
                    self.stack.push(v);
                }
                Op::Dup2 => {
                    let n = self.stack.len();
                    if n < 2 {
                        break Err(Fault::Underflow);
                    }
                    self.stack.extend_from_within(n - 2..);
                }
                Op::Swap => {
                    let n = self.stack.len();
                    if n < 2 {
                        break Err(Fault::Underflow);
                    }
                    self.stack.swap(n - 1, n - 2);
                }
                Op::Rot => {
                    let n = self.stack.len();
                    if n < 3 {
                        break Err(Fault::Underflow);
                    }
                    self.stack[n - 3..].rotate_left(1);
                }

                // ── variables ──
                Op::GetVar(n) => {
                    let v = self.globals[n as usize].clone();
                    self.stack.push(v);
                }
                Op::SetVar(n) | Op::DeclareVar(n) => {
                    self.globals[n as usize] = pop!();
                }
                Op::GetSlot(s) => {
                    let v = match self.slots.get(base + s as usize) {
                        Some(v) => v.clone(),
                        None => Value::Undef,
                    };
                    self.stack.push(v);
                }
                Op::SetSlot(s) => {
                    let v = pop!();
                    *t!(self.slot_mut(base, s)) = v;
                }
                Op::SlotArrayGet(s) => {
                    let idx = pop!();
                    let v = t!(element_of(&self.get_slot_at(base, s), &idx));
                    self.stack.push(v);
                }
                Op::SlotArraySet(s) => {
                    let idx = pop!();
                    let v = pop!();
                    let limit = self.limits.max_collection_len;
                    let slot = t!(self.slot_mut(base, s));
                    t!(containers::set_element(slot, &idx, v, limit));
                }

                // ── global containers ──
                Op::GetArray(n) | Op::GetHash(n) => {
                    let v = self.globals[n as usize].clone();
                    self.stack.push(v);
                }
                Op::SetArray(n) | Op::SetHash(n) => {
                    let v = pop!();
                    self.globals[n as usize] = t!(build(&op, vec![v], 0));
                }
                Op::DeclareArray(n) | Op::DeclareHash(n) => {
                    self.globals[n as usize] = t!(build(&op, Vec::new(), 0));
                }
                Op::ArrayGet(n) => {
                    let idx = pop!();
                    let v = t!(element_of(&self.globals[n as usize], &idx));
                    self.stack.push(v);
                }
                Op::ArraySet(n) => {
                    let idx = pop!();
                    let v = pop!();
                    let limit = self.limits.max_collection_len;
                    t!(containers::set_element(
                        &mut self.globals[n as usize],
                        &idx,
                        v,
                        limit
                    ));
                }
                Op::ArrayPush(n) => {
                    let v = pop!();
                    let limit = self.limits.max_collection_len;
                    t!(containers::push_element(
                        &mut self.globals[n as usize],
                        v,
                        limit
                    ));
                }
                Op::ArrayPop(n) => {
                    let v = t!(containers::pop_element(&mut self.globals[n as usize]));
                    self.stack.push(v);
                }
                Op::ArrayShift(n) => {
                    let v = t!(containers::shift_element(&mut self.globals[n as usize]));
                    self.stack.push(v);
                }
                Op::ArrayLen(n) => {
                    let len = t!(containers::array_len(&self.globals[n as usize]));
                    self.stack.push(Value::Int(len as i64));
                }
                Op::MakeArray(k) | Op::MakeHash(k) => {
                    let n = self.stack.len();
                    let k = k as usize;
                    if n < k {
                        break Err(Fault::Underflow);
                    }
                    let items = self.stack.split_off(n - k);
                    let v = t!(build(&op, items, 0));
                    self.stack.push(v);
                }
                Op::HashGet(n) => {
                    let key = pop!();
                    let v = t!(containers::hash_get(&self.globals[n as usize], &key));
                    self.stack.push(v);
                }
                Op::HashSet(n) => {
                    let key = pop!();
                    let v = pop!();
                    let limit = self.limits.max_collection_len;
                    t!(containers::hash_insert(
                        &mut self.globals[n as usize],
                        &key,
                        v,
                        limit
                    ));
                }
                Op::HashDelete(n) => {
                    let key = pop!();
                    let v = t!(containers::hash_delete(&mut self.globals[n as usize], &key));
                    self.stack.push(v);
                }
                Op::HashExists(n) => {
                    let key = pop!();
                    let v = t!(containers::hash_get_opt(&self.globals[n as usize], &key));
                    self.stack.push(Value::Bool(v.is_some()));
                }
                Op::HashKeys(n) => {
                    let v = t!(containers::hash_keys(&self.globals[n as usize]));
                    self.stack.push(v);
                }
                Op::HashValues(n) => {
                    let v = t!(containers::hash_values(&self.globals[n as usize]));
                    self.stack.push(v);
                }

                // ── arithmetic ──
                Op::Add => t!(self.binary(sem::add)),
                Op::Sub => t!(self.binary(sem::sub)),
                Op::Mul => t!(self.binary(sem::mul)),
                Op::Div => t!(self.binary(sem::div)),
                Op::Mod => t!(self.binary(sem::modulo)),
                Op::Pow => t!(self.binary(sem::pow)),
                Op::Negate => {
                    let v = top!();
                    *v = sem::negate(v);
                }
                Op::Inc => {
                    let v = top!();
                    *v = sem::step(v, 1);
                }
                Op::Dec => {
                    let v = top!();
                    *v = sem::step(v, -1);
                }

                // ── strings ──
                Op::Concat => {
                    let n = self.stack.len();
                    if n < 2 {
                        break Err(Fault::Underflow);
                    }
                    let v = sem::concat(&self.stack[n - 2], &self.stack[n - 1]);
                    t!(self.check_str(&v));
                    self.stack.truncate(n - 1);
                    self.stack[n - 2] = v;
                }
                Op::StringRepeat => {
                    let count = pop!();
                    let s = top!();
                    *s = t!(sem::repeat(s, &count, self.limits.max_string_len).map_err(Fault::msg));
                }
                Op::StringLen => {
                    let v = top!();
                    *v = sem::string_len(v);
                }

                // ── comparison ──
                Op::NumEq => t!(self.binary(|a, b| Value::Bool(sem::compare(Cmp::Eq, a, b)))),
                Op::NumNe => t!(self.binary(|a, b| Value::Bool(sem::compare(Cmp::Ne, a, b)))),
                Op::NumLt => t!(self.binary(|a, b| Value::Bool(sem::compare(Cmp::Lt, a, b)))),
                Op::NumGt => t!(self.binary(|a, b| Value::Bool(sem::compare(Cmp::Gt, a, b)))),
                Op::NumLe => t!(self.binary(|a, b| Value::Bool(sem::compare(Cmp::Le, a, b)))),
                Op::NumGe => t!(self.binary(|a, b| Value::Bool(sem::compare(Cmp::Ge, a, b)))),
                Op::Spaceship => t!(self.binary(sem::spaceship)),
                Op::StrEq => t!(self.binary(|a, b| sem::str_compare(Some(Cmp::Eq), a, b))),
                Op::StrNe => t!(self.binary(|a, b| sem::str_compare(Some(Cmp::Ne), a, b))),
                Op::StrLt => t!(self.binary(|a, b| sem::str_compare(Some(Cmp::Lt), a, b))),
                Op::StrGt => t!(self.binary(|a, b| sem::str_compare(Some(Cmp::Gt), a, b))),
                Op::StrLe => t!(self.binary(|a, b| sem::str_compare(Some(Cmp::Le), a, b))),
                Op::StrGe => t!(self.binary(|a, b| sem::str_compare(Some(Cmp::Ge), a, b))),
                Op::StrCmp => t!(self.binary(|a, b| sem::str_compare(None, a, b))),

                // ── logic and bits ──
                Op::LogNot => {
                    let v = top!();
                    *v = Value::Bool(!v.is_truthy());
                }
                Op::LogAnd => t!(self.binary(|a, b| Value::Bool(a.is_truthy() && b.is_truthy()))),
                Op::LogOr => t!(self.binary(|a, b| Value::Bool(a.is_truthy() || b.is_truthy()))),
                Op::BitAnd => t!(self.binary(|a, b| sem::bits(Bits::And, a, b))),
                Op::BitOr => t!(self.binary(|a, b| sem::bits(Bits::Or, a, b))),
                Op::BitXor => t!(self.binary(|a, b| sem::bits(Bits::Xor, a, b))),
                Op::Shl => t!(self.binary(|a, b| sem::bits(Bits::Shl, a, b))),
                Op::Shr => t!(self.binary(|a, b| sem::bits(Bits::Shr, a, b))),
                Op::BitNot => {
                    let v = top!();
                    *v = Value::Int(!v.to_int());
                }

                // ── control flow ──
                Op::Jump(t) => next = t!(self.jump(ip, t)),
                Op::JumpIfTrue(t) => {
                    if pop!().is_truthy() {
                        next = t!(self.jump(ip, t));
                    }
                }
                Op::JumpIfFalse(t) => {
                    if !pop!().is_truthy() {
                        next = t!(self.jump(ip, t));
                    }
                }
                Op::JumpIfTrueKeep(t) => {
                    if top!().is_truthy() {
                        next = t!(self.jump(ip, t));
                    }
                }
                Op::JumpIfFalseKeep(t) => {
                    if !top!().is_truthy() {
                        next = t!(self.jump(ip, t));
                    }
                }

                // ── calls and frames ──
                // A hot subroutine may run natively (the result replaces
                // the arguments, and the interpreter goes on after the call).
                Op::Call(n, argc) if TRACE && self.tiers_call(n, argc) => {}
                Op::Call(n, argc) => {
                    let entry = chunk
                        .sealed_sub_entry(n)
                        .expect("verifier checked Call targets");
                    base = t!(self.push_call(argc, next, entry));
                    next = entry;
                }
                Op::CallDynamic(argc) => {
                    let callee = pop!();
                    match callee {
                        Value::NativeFn(id) => t!(self.call_builtin(id, argc)),
                        _ => {
                            let entry = t!(self.dynamic_entry(&callee));
                            base = t!(self.push_call(argc, next, entry));
                            next = entry;
                        }
                    }
                }
                Op::Return | Op::ReturnValue => {
                    let value = if matches!(op, Op::ReturnValue) {
                        Some(pop!())
                    } else {
                        None
                    };
                    match self.unwind_call(value) {
                        Returned::Resume(to, b) => {
                            next = to;
                            base = b;
                        }
                        Returned::EndOfRun => {
                            ip = ops.len();
                            break Ok(());
                        }
                    }
                }
                Op::PushFrame => {
                    if self.frames.len() >= self.limits.max_frames {
                        break Err(Fault::msg(format!(
                            "frame limit reached ({} frames)",
                            self.limits.max_frames
                        )));
                    }
                    base = self.slots.len();
                    self.frames.push(Frame {
                        kind: FrameKind::Scope,
                        stack_base: self.stack.len(),
                        slot_base: base,
                        slots: Vec::new(),
                    });
                }
                Op::PopFrame => {
                    match self.frames.last() {
                        Some(f) if f.kind == FrameKind::Scope => {
                            // The scope's slots and the values it left go.
                            self.slots.truncate(f.slot_base);
                            self.stack.truncate(f.stack_base);
                            self.frames.pop();
                        }
                        _ => break Err(Fault::msg("PopFrame without a matching PushFrame")),
                    }
                    base = self.frames.last().map_or(0, |f| f.slot_base);
                }

                // ── I/O ──
                Op::Print(k) => t!(self.print(k as usize, false)),
                Op::PrintLn(k) => t!(self.print(k as usize, true)),
                Op::ReadLine => {
                    let _ = self.host.output.flush();
                    let line = t!(self
                        .host
                        .read_line()
                        .map_err(|e| Fault::msg(format!("input error: {e}"))));
                    self.stack.push(line.map_or(Value::Undef, Value::str));
                }

                // ── ranges ──
                Op::Range | Op::RangeStep => {
                    let k = if matches!(op, Op::Range) { 2 } else { 3 };
                    let n = self.stack.len();
                    if n < k {
                        break Err(Fault::Underflow);
                    }
                    let args = self.stack.split_off(n - k);
                    let v = t!(build(&op, args, self.limits.max_collection_len));
                    self.stack.push(v);
                }

                // ── fused superinstructions ──
                Op::PreIncSlot(s) | Op::PreDecSlot(s) => {
                    let delta = if matches!(op, Op::PreIncSlot(_)) {
                        1
                    } else {
                        -1
                    };
                    let slot = t!(self.slot_mut(base, s));
                    *slot = sem::step(slot, delta);
                    let v = slot.clone();
                    self.stack.push(v);
                }
                Op::PreIncSlotVoid(s) => {
                    let slot = t!(self.slot_mut(base, s));
                    *slot = sem::step(slot, 1);
                }
                Op::PostIncSlot(s) | Op::PostDecSlot(s) => {
                    let delta = if matches!(op, Op::PostIncSlot(_)) {
                        1
                    } else {
                        -1
                    };
                    let slot = t!(self.slot_mut(base, s));
                    let new = sem::step(slot, delta);
                    let old = std::mem::replace(slot, new);
                    self.stack.push(old);
                }
                Op::AddAssignSlotVoid(a, b) => {
                    let rhs = self.get_slot_at(base, b);
                    let slot = t!(self.slot_mut(base, a));
                    *slot = sem::add(slot, &rhs);
                }
                Op::SlotLtIntJumpIfFalse(s, lim, t) => {
                    let v = self.get_slot_at(base, s);
                    if !sem::compare(Cmp::Lt, &v, &Value::Int(lim as i64)) {
                        next = t;
                    }
                }
                Op::SlotIncLtIntJumpBack(s, lim, t) => {
                    let slot = t!(self.slot_mut(base, s));
                    *slot = sem::step(slot, 1);
                    if sem::compare(Cmp::Lt, slot, &Value::Int(lim as i64)) {
                        next = t!(self.jump(ip, t));
                    }
                }
                Op::AccumSumLoop(sum, i, lim) => t!(self.accum_sum_loop(base, sum, i, lim)),
                Op::ConcatConstLoop(c, s, i, lim) => {
                    t!(self.concat_const_loop(base, &consts[c as usize], s, i, lim))
                }
                Op::PushIntRangeLoop(arr, i, lim) => {
                    t!(self.push_int_range_loop(base, arr, i, lim))
                }
                Op::MulModFloor => {
                    let k = pop!();
                    let b = pop!();
                    let a = top!();
                    *a = sem::mul_mod_floor(a, &b, &k);
                }
                Op::MulAddModFloor => {
                    let k = pop!();
                    let c = pop!();
                    let b = pop!();
                    let a = top!();
                    *a = sem::mul_add_mod_floor(a, &b, &c, &k);
                }

                // ── math ──
                Op::SqrtFloat => t!(self.unary(|v| sem::unary_float(Unary::Sqrt, v))),
                Op::SinFloat => t!(self.unary(|v| sem::unary_float(Unary::Sin, v))),
                Op::CosFloat => t!(self.unary(|v| sem::unary_float(Unary::Cos, v))),
                Op::TanFloat => t!(self.unary(|v| sem::unary_float(Unary::Tan, v))),
                Op::AsinFloat => t!(self.unary(|v| sem::unary_float(Unary::Asin, v))),
                Op::AcosFloat => t!(self.unary(|v| sem::unary_float(Unary::Acos, v))),
                Op::AtanFloat => t!(self.unary(|v| sem::unary_float(Unary::Atan, v))),
                Op::SinhFloat => t!(self.unary(|v| sem::unary_float(Unary::Sinh, v))),
                Op::CoshFloat => t!(self.unary(|v| sem::unary_float(Unary::Cosh, v))),
                Op::TanhFloat => t!(self.unary(|v| sem::unary_float(Unary::Tanh, v))),
                Op::ExpFloat => t!(self.unary(|v| sem::unary_float(Unary::Exp, v))),
                Op::LogFloat => t!(self.unary(|v| sem::unary_float(Unary::Ln, v))),
                Op::Log2Float => t!(self.unary(|v| sem::unary_float(Unary::Log2, v))),
                Op::Log10Float => t!(self.unary(|v| sem::unary_float(Unary::Log10, v))),
                Op::AbsFloat => t!(self.unary(|v| sem::unary_float(Unary::Abs, v))),
                Op::FloorFloat => t!(self.unary(|v| sem::unary_float(Unary::Floor, v))),
                Op::CeilFloat => t!(self.unary(|v| sem::unary_float(Unary::Ceil, v))),
                Op::TruncFloat => t!(self.unary(|v| sem::unary_float(Unary::Trunc, v))),
                Op::RoundFloat => t!(self.unary(|v| sem::unary_float(Unary::Round, v))),
                Op::PowFloat => t!(self.binary(sem::pow)),
                Op::Atan2Float => t!(self.binary(sem::atan2)),
                Op::AbsInt => t!(self.unary(|v| Value::Int(v.to_int().wrapping_abs()))),
                Op::TruncInt => t!(self.unary(|v| Value::Int(v.to_int()))),
                Op::GcdInt => t!(self.binary(sem::gcd)),
                Op::LcmInt => t!(self.binary(sem::lcm)),

                // ── host extension points ──
                Op::CallBuiltin(id, argc) => t!(self.call_builtin(id, argc)),
                Op::Extended(id, arg) => t!(self.extended(id, arg)),
                Op::ExtendedWide(id, payload) => t!(self.extended_wide(id, payload)),
            }
            // A backward jump is charged once taken.
            if FUEL && next <= ip && op.jump_target() == Some(next) {
                t!(self.charge_step());
            }
            if TRACE
                && (next <= ip || self.recording)
                && let Some(resume) = self.tiers_after_op(ip, &op, next)
            {
                // Native code ran: it may have pushed scope frames, or
                // failed to write output.
                next = resume;
                base = self.frames.last().map_or(0, |f| f.slot_base);
                if self.raised.is_some() {
                    ip = next;
                    t!(self.take_raised());
                }
            }
            ip = next;
        };

        self.ip = ip;
        match outcome {
            // Host calls never jump: the run resumes after the halting op.
            Err(Fault::Halt) => {
                self.ip = ip + 1;
                Ok(())
            }
            o => o.map_err(|fault| self.error_at(ip, fault)),
        }
    }

    /// The error a fault at `ip` reports.
    fn error_at(&self, ip: usize, fault: Fault) -> VmError {
        let message = match fault {
            Fault::Underflow => "stack underflow".to_string(),
            Fault::Halt => "halted".to_string(),
            Fault::Msg(m) => m,
        };
        let op = self
            .chunk
            .ops()
            .get(ip)
            .map_or(String::new(), |op| format!("`{op}`: "));
        VmError {
            ip: Some(ip),
            message: format!("{op}{message}"),
        }
    }

    /// Takes one step from the budget.
    fn charge_step(&mut self) -> Result<(), Fault> {
        match &mut self.fuel {
            Some(0) => Err(Fault::msg(STEP_BUDGET_EXHAUSTED)),
            Some(f) => {
                *f -= 1;
                Ok(())
            }
            None => Ok(()),
        }
    }

    // ── helpers used by the loop ──

    /// Replaces the top two values `a b` with `f(a, b)`.
    #[inline(always)]
    fn binary(&mut self, f: impl FnOnce(&Value, &Value) -> Value) -> Result<(), Fault> {
        let b = self.stack.pop().ok_or(Fault::Underflow)?;
        let a = self.stack.last_mut().ok_or(Fault::Underflow)?;
        *a = f(a, &b);
        Ok(())
    }

    /// Replaces the top value `a` with `f(a)`.
    #[inline(always)]
    fn unary(&mut self, f: impl FnOnce(&Value) -> Value) -> Result<(), Fault> {
        let v = self.stack.last_mut().ok_or(Fault::Underflow)?;
        *v = f(v);
        Ok(())
    }

    /// Slot `s` of the frame at `base`, by value.
    #[inline(always)]
    fn get_slot_at(&self, base: usize, s: u16) -> Value {
        match self.slots.get(base + s as usize) {
            Some(v) => v.clone(),
            None => Value::Undef,
        }
    }

    /// Slot `s` of the frame at `base`, growing the slot area to reach it.
    #[inline(always)]
    fn slot_mut(&mut self, base: usize, s: u16) -> Result<&mut Value, Fault> {
        let idx = base + s as usize;
        if idx >= self.slots.len() {
            self.grow_slots(idx)?;
        }
        Ok(&mut self.slots[idx])
    }

    #[cold]
    #[inline(never)]
    fn grow_slots(&mut self, idx: usize) -> Result<(), Fault> {
        if idx >= MAX_STACK {
            return Err(Fault::msg("slot area exceeds its size limit"));
        }
        self.slots.resize(idx + 1, Value::Undef);
        Ok(())
    }

    /// A taken jump from `ip` to `t`: a back-edge first checks the operand
    /// stack (a loop that leaks values must stop, not exhaust memory).
    #[inline(always)]
    fn jump(&self, ip: usize, t: usize) -> Result<usize, Fault> {
        if t <= ip {
            self.check_stack()?;
        }
        Ok(t)
    }

    pub(super) fn check_stack(&self) -> Result<(), Fault> {
        if self.stack.len() > MAX_STACK {
            return Err(Fault::msg(format!(
                "operand stack exceeds its size limit ({MAX_STACK} values)"
            )));
        }
        Ok(())
    }

    fn check_str(&self, v: &Value) -> Result<(), Fault> {
        match v {
            Value::Str(s) if s.len() > self.limits.max_string_len => {
                Err(Fault::msg("string would exceed the string size limit"))
            }
            _ => Ok(()),
        }
    }

    fn accum_sum_loop(&mut self, base: usize, sum: u16, i: u16, lim: i32) -> Result<(), Fault> {
        let lim_v = Value::Int(lim as i64);
        // Fast path: distinct Int slots (i < lim <= i32::MAX, so i + 1 never overflows).
        if sum != i
            && let (Value::Int(mut s), Value::Int(mut k)) =
                (self.get_slot_at(base, sum), self.get_slot_at(base, i))
        {
            // Under a step budget each iteration is a step, as in the slow
            // path (and in native code): run as many as are left.
            let mut lim = lim as i64;
            let mut out_of_steps = false;
            if let Some(f) = &mut self.fuel {
                let want = lim.saturating_sub(k).max(0) as u64;
                if want > *f {
                    lim = k + *f as i64;
                    out_of_steps = true;
                }
                *f -= want.min(*f);
            }
            while k < lim {
                s = s.wrapping_add(k);
                k += 1;
            }
            *self.slot_mut(base, sum)? = Value::Int(s);
            *self.slot_mut(base, i)? = Value::Int(k);
            if out_of_steps {
                return Err(Fault::msg(STEP_BUDGET_EXHAUSTED));
            }
            return Ok(());
        }
        loop {
            let iv = self.get_slot_at(base, i);
            if !sem::compare(Cmp::Lt, &iv, &lim_v) {
                return Ok(());
            }
            self.charge_step()?;
            let acc = sem::add(&self.get_slot_at(base, sum), &iv);
            *self.slot_mut(base, sum)? = acc;
            let slot = self.slot_mut(base, i)?;
            *slot = sem::step(slot, 1);
        }
    }

    fn concat_const_loop(
        &mut self,
        base: usize,
        piece: &Value,
        s: u16,
        i: u16,
        lim: i32,
    ) -> Result<(), Fault> {
        let lim = Value::Int(lim as i64);
        loop {
            let iv = self.get_slot_at(base, i);
            if !sem::compare(Cmp::Lt, &iv, &lim) {
                return Ok(());
            }
            self.charge_step()?;
            let acc = sem::concat(&self.get_slot_at(base, s), piece);
            self.check_str(&acc)?;
            *self.slot_mut(base, s)? = acc;
            let slot = self.slot_mut(base, i)?;
            *slot = sem::step(slot, 1);
        }
    }

    fn push_int_range_loop(
        &mut self,
        base: usize,
        arr: u16,
        i: u16,
        lim: i32,
    ) -> Result<(), Fault> {
        let lim = Value::Int(lim as i64);
        loop {
            let iv = self.get_slot_at(base, i);
            if !sem::compare(Cmp::Lt, &iv, &lim) {
                return Ok(());
            }
            self.charge_step()?;
            let a = containers::array_mut(&mut self.globals[arr as usize])?;
            if a.len() >= self.limits.max_collection_len {
                return Err(Fault::msg("array would exceed the collection size limit"));
            }
            a.push(iv.clone());
            *self.slot_mut(base, i)? = sem::step(&iv, 1);
        }
    }
}
