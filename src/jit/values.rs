//! Native values and the lowering of the value-computing ops, once for all
//! tiers.
//!
//! A value is an SSA triple `(tag, i, f)` (see [`super::kinds`]). Every op
//! is lowered for *any* kinds, as selects on the tags, following
//! `interp::semantics` rule by rule. When the analysis knows a kind the tag
//! is a constant, LLVM's IR builder folds each select as it is built and
//! only the specialised instruction remains (an `add` for Int + Int).
//! Transcendental functions call the Rust helpers in [`super::helpers`], so
//! their results are bit-identical to the interpreter's.

use super::helpers;
use super::kinds::*;
use crate::interp::semantics::{Bits, Cmp, Unary};
use fusevm_llvm_backend::inkwell::builder::{Builder, BuilderError};
use fusevm_llvm_backend::inkwell::context::ContextRef;
use fusevm_llvm_backend::inkwell::intrinsics::Intrinsic;
use fusevm_llvm_backend::inkwell::module::Module;
use fusevm_llvm_backend::inkwell::types::{BasicTypeEnum, FloatType, IntType};
use fusevm_llvm_backend::inkwell::values::{BasicValueEnum, FloatValue, FunctionValue, IntValue};
use fusevm_llvm_backend::inkwell::{FloatPredicate, IntPredicate};

/// A failure while building IR (a bug, reported as a compile failure).
#[derive(Debug)]
pub struct LowerError(pub String);

impl From<BuilderError> for LowerError {
    fn from(e: BuilderError) -> Self {
        LowerError(e.to_string())
    }
}

/// Shorthand for lowering results.
pub type L<T> = Result<T, LowerError>;

/// One native value.
#[derive(Debug, Clone, Copy)]
pub struct V<'c> {
    /// Kind tag (`i8`).
    pub tag: IntValue<'c>,
    /// Int and Bool payload (`i64`; 0 for Undef).
    pub i: IntValue<'c>,
    /// Float payload (`f64`).
    pub f: FloatValue<'c>,
}

/// Builds values and ops into one module.
pub struct Emitter<'c, 'm> {
    /// The module's context.
    pub ctx: ContextRef<'c>,
    /// The module being built.
    pub module: &'m Module<'c>,
    /// The builder, positioned by the caller.
    pub b: Builder<'c>,
    /// `i8`
    pub i8t: IntType<'c>,
    /// `i64`
    pub i64t: IntType<'c>,
    /// `f64`
    pub f64t: FloatType<'c>,
}

impl<'c, 'm> Emitter<'c, 'm> {
    /// An emitter for `module`.
    pub fn new(ctx: ContextRef<'c>, module: &'m Module<'c>) -> Self {
        Emitter {
            ctx,
            module,
            b: ctx.create_builder(),
            i8t: ctx.i8_type(),
            i64t: ctx.i64_type(),
            f64t: ctx.f64_type(),
        }
    }

    // ── constants ──

    /// A constant tag.
    pub fn tag(&self, t: u8) -> IntValue<'c> {
        self.i8t.const_int(t as u64, false)
    }

    /// A constant `i64`.
    pub fn int(&self, v: i64) -> IntValue<'c> {
        self.i64t.const_int(v as u64, true)
    }

    /// A constant `f64`.
    pub fn float(&self, v: f64) -> FloatValue<'c> {
        self.f64t.const_float(v)
    }

    /// `Int v`.
    pub fn int_value(&self, v: i64) -> V<'c> {
        V {
            tag: self.tag(TAG_INT),
            i: self.int(v),
            f: self.float(0.0),
        }
    }

    /// `Float v` (the bits of `v` kept exactly, −0.0 and NaN payloads too).
    pub fn float_value(&self, v: f64) -> V<'c> {
        let f = self.f64t.const_float(v);
        V {
            tag: self.tag(TAG_FLOAT),
            i: self.int(0),
            f,
        }
    }

    /// `Bool v`.
    pub fn bool_value(&self, v: bool) -> V<'c> {
        V {
            tag: self.tag(TAG_BOOL),
            i: self.int(v as i64),
            f: self.float(0.0),
        }
    }

    /// `Undef`.
    pub fn undef_value(&self) -> V<'c> {
        V {
            tag: self.tag(TAG_UNDEF),
            i: self.int(0),
            f: self.float(0.0),
        }
    }

    /// `v` with the field its (constant) kind doesn't use set to zero: for
    /// values crossing a call, and for every arithmetic result, so a Float
    /// computed in a loop carries no integer shadow through its phis (and
    /// an Int no float one) and LLVM drops the dead field entirely.
    pub fn canonical(&self, v: V<'c>) -> V<'c> {
        match v.tag.get_zero_extended_constant().map(|t| t as u8) {
            Some(TAG_FLOAT) => V {
                i: self.int(0),
                ..v
            },
            Some(TAG_INT | TAG_BOOL | TAG_UNDEF) => V {
                f: self.float(0.0),
                ..v
            },
            _ => v,
        }
    }

    // ── kind tests and conversions ──

    /// `tag == t`
    pub fn is(&self, v: V<'c>, t: u8) -> L<IntValue<'c>> {
        Ok(self
            .b
            .build_int_compare(IntPredicate::EQ, v.tag, self.tag(t), "is")?)
    }

    /// Both are Int.
    pub fn both_int(&self, a: V<'c>, b: V<'c>) -> L<IntValue<'c>> {
        let (x, y) = (self.is(a, TAG_INT)?, self.is(b, TAG_INT)?);
        Ok(self.b.build_and(x, y, "both_int")?)
    }

    /// The value of an `i1` known when building (a kind test on a constant
    /// tag): the lowering then builds only the side it selects, so O2 gets
    /// no dead code to clean up (compile time is proportional to IR).
    pub fn known(c: IntValue<'c>) -> Option<bool> {
        c.get_zero_extended_constant().map(|v| v != 0)
    }

    /// `select` on ints (folded when `c` is known).
    pub fn sel_i(&self, c: IntValue<'c>, a: IntValue<'c>, b: IntValue<'c>) -> L<IntValue<'c>> {
        match Self::known(c) {
            Some(true) => Ok(a),
            Some(false) => Ok(b),
            None => Ok(self.b.build_select(c, a, b, "sel")?.into_int_value()),
        }
    }

    /// `select` on floats.
    pub fn sel_f(
        &self,
        c: IntValue<'c>,
        a: FloatValue<'c>,
        b: FloatValue<'c>,
    ) -> L<FloatValue<'c>> {
        match Self::known(c) {
            Some(true) => Ok(a),
            Some(false) => Ok(b),
            None => Ok(self.b.build_select(c, a, b, "self")?.into_float_value()),
        }
    }

    /// `select` on whole values.
    pub fn sel(&self, c: IntValue<'c>, a: V<'c>, b: V<'c>) -> L<V<'c>> {
        Ok(V {
            tag: self.sel_i(c, a.tag, b.tag)?,
            i: self.sel_i(c, a.i, b.i)?,
            f: self.sel_f(c, a.f, b.f)?,
        })
    }

    /// `Value::to_float`: Float as is, Int/Bool converted, Undef 0.0.
    pub fn to_f(&self, v: V<'c>) -> L<FloatValue<'c>> {
        let isf = self.is(v, TAG_FLOAT)?;
        if Self::known(isf) == Some(true) {
            return Ok(v.f);
        }
        let conv = self.b.build_signed_int_to_float(v.i, self.f64t, "i2f")?;
        self.sel_f(isf, v.f, conv)
    }

    /// `Value::to_int`: Float truncates and saturates (NaN → 0).
    pub fn to_i(&self, v: V<'c>) -> L<IntValue<'c>> {
        let isf = self.is(v, TAG_FLOAT)?;
        if Self::known(isf) == Some(false) {
            return Ok(v.i);
        }
        let sat = self.call_intrinsic(
            "llvm.fptosi.sat",
            &[self.i64t.into(), self.f64t.into()],
            &[v.f.into()],
        )?;
        self.sel_i(isf, sat.into_int_value(), v.i)
    }

    /// `Value::is_truthy` (NaN is truthy, ±0.0 is not).
    pub fn truthy(&self, v: V<'c>) -> L<IntValue<'c>> {
        let isf = self.is(v, TAG_FLOAT)?;
        if Self::known(isf) == Some(false) {
            return Ok(self
                .b
                .build_int_compare(IntPredicate::NE, v.i, self.int(0), "itruth")?);
        }
        let f = self
            .b
            .build_float_compare(FloatPredicate::UNE, v.f, self.float(0.0), "ftruth")?;
        if Self::known(isf) == Some(true) {
            return Ok(f);
        }
        let i = self
            .b
            .build_int_compare(IntPredicate::NE, v.i, self.int(0), "itruth")?;
        self.sel_i(isf, f, i)
    }

    /// A `Bool` from an `i1`.
    pub fn bool_of(&self, c: IntValue<'c>) -> L<V<'c>> {
        Ok(V {
            tag: self.tag(TAG_BOOL),
            i: self.b.build_int_z_extend(c, self.i64t, "b")?,
            f: self.float(0.0),
        })
    }

    /// An `Int` from an `i64`.
    pub fn int_of(&self, i: IntValue<'c>) -> V<'c> {
        V {
            tag: self.tag(TAG_INT),
            i,
            f: self.float(0.0),
        }
    }

    /// A `Float` from an `f64`.
    pub fn float_of(&self, f: FloatValue<'c>) -> V<'c> {
        V {
            tag: self.tag(TAG_FLOAT),
            i: self.int(0),
            f,
        }
    }

    // ── arithmetic ──

    /// Int/Int on the integer path, else f64 (`add`, `sub`, `mul`, `modulo`).
    fn promote(
        &self,
        a: V<'c>,
        b: V<'c>,
        int: impl FnOnce(&Self, IntValue<'c>, IntValue<'c>) -> L<IntValue<'c>>,
        float: impl FnOnce(&Self, FloatValue<'c>, FloatValue<'c>) -> L<FloatValue<'c>>,
    ) -> L<V<'c>> {
        let c = self.both_int(a, b)?;
        match Self::known(c) {
            Some(true) => return Ok(self.int_of(int(self, a.i, b.i)?)),
            Some(false) => {
                let (fa, fb) = (self.to_f(a)?, self.to_f(b)?);
                return Ok(self.float_of(float(self, fa, fb)?));
            }
            None => {}
        }
        let ri = int(self, a.i, b.i)?;
        let (fa, fb) = (self.to_f(a)?, self.to_f(b)?);
        let rf = float(self, fa, fb)?;
        Ok(self.canonical(V {
            tag: self.sel_i(c, self.tag(TAG_INT), self.tag(TAG_FLOAT))?,
            i: ri,
            f: rf,
        }))
    }

    /// `a + b` (wrapping on ints).
    pub fn add(&self, a: V<'c>, b: V<'c>) -> L<V<'c>> {
        self.promote(
            a,
            b,
            |e, x, y| Ok(e.b.build_int_add(x, y, "add")?),
            |e, x, y| Ok(e.b.build_float_add(x, y, "fadd")?),
        )
    }

    /// `a - b`
    pub fn sub(&self, a: V<'c>, b: V<'c>) -> L<V<'c>> {
        self.promote(
            a,
            b,
            |e, x, y| Ok(e.b.build_int_sub(x, y, "sub")?),
            |e, x, y| Ok(e.b.build_float_sub(x, y, "fsub")?),
        )
    }

    /// `a * b`
    pub fn mul(&self, a: V<'c>, b: V<'c>) -> L<V<'c>> {
        self.promote(
            a,
            b,
            |e, x, y| Ok(e.b.build_int_mul(x, y, "mul")?),
            |e, x, y| Ok(e.b.build_float_mul(x, y, "fmul")?),
        )
    }

    /// `a % b`: ints never trap (divisor 0 or −1 → 0), floats are fmod.
    pub fn modulo(&self, a: V<'c>, b: V<'c>) -> L<V<'c>> {
        self.promote(
            a,
            b,
            |e, x, y| e.int_rem(x, y),
            |e, x, y| Ok(e.b.build_float_rem(x, y, "frem")?),
        )
    }

    /// `semantics::int_rem` without a trapping `srem`.
    pub fn int_rem(&self, x: IntValue<'c>, y: IntValue<'c>) -> L<IntValue<'c>> {
        let zero = self
            .b
            .build_int_compare(IntPredicate::EQ, y, self.int(0), "y0")?;
        let minus1 = self
            .b
            .build_int_compare(IntPredicate::EQ, y, self.int(-1), "ym1")?;
        let special = self.b.build_or(zero, minus1, "special")?;
        let safe = self.sel_i(special, self.int(1), y)?;
        let r = self.b.build_int_signed_rem(x, safe, "rem")?;
        self.sel_i(special, self.int(0), r)
    }

    /// `a / b`: Float, or Undef when the divisor equals zero.
    pub fn div(&self, a: V<'c>, b: V<'c>) -> L<V<'c>> {
        let d = self.to_f(b)?;
        let n = self.to_f(a)?;
        let q = self.b.build_float_div(n, d, "div")?;
        let zero = self
            .b
            .build_float_compare(FloatPredicate::OEQ, d, self.float(0.0), "d0")?;
        let tag = self.sel_i(zero, self.tag(TAG_UNDEF), self.tag(TAG_FLOAT))?;
        let f = self.sel_f(zero, self.float(0.0), q)?;
        Ok(V {
            tag,
            i: self.int(0),
            f,
        })
    }

    /// `a ** b`: always Float.
    pub fn pow(&self, a: V<'c>, b: V<'c>) -> L<V<'c>> {
        let (x, y) = (self.to_f(a)?, self.to_f(b)?);
        let r = self.call_helper(helpers::POW, &[x.into(), y.into()])?;
        Ok(self.float_of(r.into_float_value()))
    }

    /// `atan2(a, b)`: always Float.
    pub fn atan2(&self, a: V<'c>, b: V<'c>) -> L<V<'c>> {
        let (x, y) = (self.to_f(a)?, self.to_f(b)?);
        let r = self.call_helper(helpers::ATAN2, &[x.into(), y.into()])?;
        Ok(self.float_of(r.into_float_value()))
    }

    /// `-a` (wrapping on ints; −0.0 for floats).
    pub fn negate(&self, a: V<'c>) -> L<V<'c>> {
        let isint = self.is(a, TAG_INT)?;
        match Self::known(isint) {
            Some(true) => return Ok(self.int_of(self.b.build_int_sub(self.int(0), a.i, "neg")?)),
            Some(false) => {
                let f = self.b.build_float_neg(self.to_f(a)?, "fneg")?;
                return Ok(self.float_of(f));
            }
            _ => {}
        }
        let i = self.b.build_int_sub(self.int(0), a.i, "neg")?;
        let f = self.b.build_float_neg(self.to_f(a)?, "fneg")?;
        Ok(self.canonical(V {
            tag: self.sel_i(isint, self.tag(TAG_INT), self.tag(TAG_FLOAT))?,
            i,
            f,
        }))
    }

    /// `a + delta` for the increment family: Float stays Float, anything
    /// else counts from its integer form.
    pub fn step(&self, a: V<'c>, delta: i64) -> L<V<'c>> {
        let isf = self.is(a, TAG_FLOAT)?;
        match Self::known(isf) {
            Some(true) => {
                let f = self
                    .b
                    .build_float_add(a.f, self.float(delta as f64), "fstep")?;
                return Ok(self.float_of(f));
            }
            Some(false) => {
                return Ok(self.int_of(self.b.build_int_add(a.i, self.int(delta), "step")?));
            }
            None => {}
        }
        let i = self.b.build_int_add(a.i, self.int(delta), "step")?;
        let f = self
            .b
            .build_float_add(a.f, self.float(delta as f64), "fstep")?;
        Ok(self.canonical(V {
            tag: self.sel_i(isf, self.tag(TAG_FLOAT), self.tag(TAG_INT))?,
            i,
            f,
        }))
    }

    // ── comparisons and logic ──

    /// Numeric comparison: i64 when both are Int, else IEEE (NaN false,
    /// `!=` true).
    pub fn compare(&self, op: Cmp, a: V<'c>, b: V<'c>) -> L<IntValue<'c>> {
        let (ip, fp) = match op {
            Cmp::Eq => (IntPredicate::EQ, FloatPredicate::OEQ),
            Cmp::Ne => (IntPredicate::NE, FloatPredicate::UNE),
            Cmp::Lt => (IntPredicate::SLT, FloatPredicate::OLT),
            Cmp::Gt => (IntPredicate::SGT, FloatPredicate::OGT),
            Cmp::Le => (IntPredicate::SLE, FloatPredicate::OLE),
            Cmp::Ge => (IntPredicate::SGE, FloatPredicate::OGE),
        };
        let c = self.both_int(a, b)?;
        match Self::known(c) {
            Some(true) => return Ok(self.b.build_int_compare(ip, a.i, b.i, "icmp")?),
            Some(false) => {
                let (fa, fb) = (self.to_f(a)?, self.to_f(b)?);
                return Ok(self.b.build_float_compare(fp, fa, fb, "fcmp")?);
            }
            None => {}
        }
        let ci = self.b.build_int_compare(ip, a.i, b.i, "icmp")?;
        let (fa, fb) = (self.to_f(a)?, self.to_f(b)?);
        let cf = self.b.build_float_compare(fp, fa, fb, "fcmp")?;
        self.sel_i(c, ci, cf)
    }

    /// `a <=> b` → Int −1/0/1 (NaN → 0).
    pub fn spaceship(&self, a: V<'c>, b: V<'c>) -> L<V<'c>> {
        let lt = self.compare(Cmp::Lt, a, b)?;
        let gt = self.compare(Cmp::Gt, a, b)?;
        let lt = self.b.build_int_z_extend(lt, self.i64t, "lt")?;
        let gt = self.b.build_int_z_extend(gt, self.i64t, "gt")?;
        Ok(self.int_of(self.b.build_int_sub(gt, lt, "cmp")?))
    }

    /// Bitwise ops and shifts on the integer forms (counts `& 63`).
    pub fn bits(&self, op: Bits, a: V<'c>, b: V<'c>) -> L<V<'c>> {
        let (x, y) = (self.to_i(a)?, self.to_i(b)?);
        let count = || self.b.build_and(y, self.int(63), "count");
        let r = match op {
            Bits::And => self.b.build_and(x, y, "and")?,
            Bits::Or => self.b.build_or(x, y, "or")?,
            Bits::Xor => self.b.build_xor(x, y, "xor")?,
            Bits::Shl => self.b.build_left_shift(x, count()?, "shl")?,
            Bits::Shr => self.b.build_right_shift(x, count()?, true, "shr")?,
        };
        Ok(self.int_of(r))
    }

    /// `!a` on the integer form.
    pub fn bit_not(&self, a: V<'c>) -> L<V<'c>> {
        let x = self.to_i(a)?;
        Ok(self.int_of(self.b.build_not(x, "not")?))
    }

    /// `|a|` on the integer form (wrapping: `MIN` stays `MIN`).
    pub fn abs_int(&self, a: V<'c>) -> L<V<'c>> {
        let x = self.to_i(a)?;
        let neg = self.b.build_int_sub(self.int(0), x, "neg")?;
        let lt = self
            .b
            .build_int_compare(IntPredicate::SLT, x, self.int(0), "lt0")?;
        Ok(self.int_of(self.sel_i(lt, neg, x)?))
    }

    /// `gcd`/`lcm` of the integer forms, through the shared helpers.
    pub fn int_helper(&self, name: &str, args: &[V<'c>]) -> L<V<'c>> {
        let xs = args
            .iter()
            .map(|a| self.to_i(*a).map(Into::into))
            .collect::<L<Vec<_>>>()?;
        Ok(self.int_of(self.call_helper(name, &xs)?.into_int_value()))
    }

    /// `(a * b) mod k` (and with `+ c`): exact and floored when all are Int,
    /// otherwise the unfused ops.
    pub fn mul_mod_floor(&self, args: &[V<'c>]) -> L<V<'c>> {
        let mut all_int =
            self.b
                .build_int_compare(IntPredicate::EQ, self.int(0), self.int(0), "t")?;
        for a in args {
            let isint = self.is(*a, TAG_INT)?;
            all_int = self.b.build_and(all_int, isint, "all_int")?;
        }
        let ints = args.iter().map(|a| a.i.into()).collect::<Vec<_>>();
        let name = if args.len() == 3 {
            helpers::MUL_MOD_FLOOR
        } else {
            helpers::MUL_ADD_MOD_FLOOR
        };
        let exact = self.int_of(self.call_helper(name, &ints)?.into_int_value());
        let mut v = self.mul(args[0], args[1])?;
        if args.len() == 4 {
            v = self.add(v, args[2])?;
        }
        let slow = self.modulo(v, args[args.len() - 1])?;
        self.sel(all_int, exact, slow)
    }

    /// A one-operand float function: exact IEEE ops as LLVM intrinsics, the
    /// rest through the shared helper.
    pub fn unary(&self, op: Unary, a: V<'c>) -> L<V<'c>> {
        let x = self.to_f(a)?;
        let intrinsic = match op {
            Unary::Sqrt => Some("llvm.sqrt"),
            Unary::Abs => Some("llvm.fabs"),
            Unary::Floor => Some("llvm.floor"),
            Unary::Ceil => Some("llvm.ceil"),
            Unary::Trunc => Some("llvm.trunc"),
            Unary::Round => Some("llvm.round"),
            _ => None,
        };
        let r = match intrinsic {
            Some(name) => self.call_intrinsic(name, &[self.f64t.into()], &[x.into()])?,
            None => {
                let code = self.int(helpers::unary_code(op));
                self.call_helper(helpers::UNARY, &[code.into(), x.into()])?
            }
        };
        Ok(self.float_of(r.into_float_value()))
    }

    // ── calls ──

    /// Calls an LLVM intrinsic overloaded on `types`.
    pub fn call_intrinsic(
        &self,
        name: &str,
        types: &[BasicTypeEnum<'c>],
        args: &[fusevm_llvm_backend::inkwell::values::BasicMetadataValueEnum<'c>],
    ) -> L<BasicValueEnum<'c>> {
        let f = Intrinsic::find(name)
            .and_then(|i| i.get_declaration(self.module, types))
            .ok_or_else(|| LowerError(format!("intrinsic {name} not found")))?;
        self.call_value(f, args)
    }

    /// Calls a Rust helper registered with the JIT.
    pub fn call_helper(
        &self,
        name: &str,
        args: &[fusevm_llvm_backend::inkwell::values::BasicMetadataValueEnum<'c>],
    ) -> L<BasicValueEnum<'c>> {
        let f = match self.module.get_function(name) {
            Some(f) => f,
            None => {
                let ty = helpers::signature(name, self.ctx)
                    .ok_or_else(|| LowerError(format!("no helper {name}")))?;
                self.module.add_function(name, ty, None)
            }
        };
        self.call_value(f, args)
    }

    fn call_value(
        &self,
        f: FunctionValue<'c>,
        args: &[fusevm_llvm_backend::inkwell::values::BasicMetadataValueEnum<'c>],
    ) -> L<BasicValueEnum<'c>> {
        self.b
            .build_call(f, args, "call")?
            .try_as_basic_value()
            .basic()
            .ok_or_else(|| LowerError("call returned no value".into()))
    }
}
