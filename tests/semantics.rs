//! The exact semantics of every op (SPEC §2 and every row of §2.1), asserted
//! on value *and* kind, floats by bits.

mod common;
use common::{assert_same, eval, eval_with, run};
use fusevm_llvm::{Op, Op::*, VMResult, Value};

fn int(n: i64) -> Value {
    Value::Int(n)
}
fn float(x: f64) -> Value {
    Value::Float(x)
}
fn binop(a: Op, b: Op, op: Op) -> Value {
    eval(&[a, b, op])
}

// ── SPEC §2.1: integer arithmetic wraps ──────────────────────────────────────

#[test]
fn add_sub_mul_wrap_on_int() {
    assert_same(&binop(LoadInt(i64::MAX), LoadInt(1), Add), &int(i64::MIN));
    assert_same(&binop(LoadInt(i64::MIN), LoadInt(1), Sub), &int(i64::MAX));
    assert_same(&binop(LoadInt(i64::MAX), LoadInt(2), Mul), &int(-2));
    assert_same(&eval(&[LoadInt(i64::MIN), Negate]), &int(i64::MIN));
    assert_same(&eval(&[LoadInt(i64::MAX), Inc]), &int(i64::MIN));
    assert_same(&eval(&[LoadInt(i64::MIN), Dec]), &int(i64::MAX));
}

#[test]
fn fused_slot_ops_wrap_on_int() {
    let max = [LoadInt(i64::MAX), SetSlot(0)];
    assert_same(
        &eval(&[&max[..], &[PreIncSlot(0)]].concat()),
        &int(i64::MIN),
    );
    assert_same(
        &eval(&[&max[..], &[PreIncSlotVoid(0), GetSlot(0)]].concat()),
        &int(i64::MIN),
    );
    assert_same(
        &eval(&[&max[..], &[PostIncSlot(0), Pop, GetSlot(0)]].concat()),
        &int(i64::MIN),
    );
    let min = [LoadInt(i64::MIN), SetSlot(0)];
    assert_same(
        &eval(&[&min[..], &[PreDecSlot(0)]].concat()),
        &int(i64::MAX),
    );
    assert_same(
        &eval(&[&min[..], &[PostDecSlot(0), Pop, GetSlot(0)]].concat()),
        &int(i64::MAX),
    );
    let ops = [
        LoadInt(i64::MAX),
        SetSlot(0),
        LoadInt(1),
        SetSlot(1),
        AddAssignSlotVoid(0, 1),
        GetSlot(0),
    ];
    assert_same(&eval(&ops), &int(i64::MIN));
}

#[test]
fn mixed_operands_take_the_float_path() {
    assert_same(&binop(LoadInt(1), LoadFloat(0.5), Add), &float(1.5));
    assert_same(&binop(LoadFloat(2.0), LoadInt(3), Mul), &float(6.0));
    // Bool, Undef and Str coerce through to_float: the result is a Float.
    assert_same(&binop(LoadTrue, LoadInt(1), Add), &float(2.0));
    assert_same(&binop(LoadUndef, LoadInt(1), Sub), &float(-1.0));
    assert_same(
        &eval_with(&[Value::str("2.5")], &[LoadConst(0), LoadInt(2), Mul]),
        &float(5.0),
    );
}

// ── SPEC §2.1: Div ───────────────────────────────────────────────────────────

#[test]
fn div_is_always_float() {
    assert_same(&binop(LoadInt(7), LoadInt(2), Div), &float(3.5));
    assert_same(&binop(LoadInt(6), LoadInt(3), Div), &float(2.0));
    assert_same(&binop(LoadInt(-7), LoadFloat(2.0), Div), &float(-3.5));
}

#[test]
fn div_by_zero_of_either_sign_is_undef() {
    assert_same(&binop(LoadInt(1), LoadInt(0), Div), &Value::Undef);
    assert_same(&binop(LoadFloat(1.0), LoadFloat(0.0), Div), &Value::Undef);
    assert_same(&binop(LoadFloat(1.0), LoadFloat(-0.0), Div), &Value::Undef);
    assert_same(&binop(LoadInt(0), LoadFalse, Div), &Value::Undef);
}

#[test]
fn div_of_min_by_minus_one_does_not_trap() {
    assert_same(
        &binop(LoadInt(i64::MIN), LoadInt(-1), Div),
        &float(-(i64::MIN as f64)),
    );
}

// ── SPEC §2.1: Mod ───────────────────────────────────────────────────────────

#[test]
fn mod_on_int_truncates_toward_zero() {
    assert_same(&binop(LoadInt(-7), LoadInt(3), Mod), &int(-1));
    assert_same(&binop(LoadInt(7), LoadInt(-3), Mod), &int(1));
    assert_same(&binop(LoadInt(-7), LoadInt(-3), Mod), &int(-1));
}

#[test]
fn mod_on_int_by_zero_is_zero() {
    assert_same(&binop(LoadInt(7), LoadInt(0), Mod), &int(0));
    assert_same(&binop(LoadInt(i64::MIN), LoadInt(0), Mod), &int(0));
}

#[test]
fn mod_of_min_by_minus_one_is_zero() {
    assert_same(&binop(LoadInt(i64::MIN), LoadInt(-1), Mod), &int(0));
}

#[test]
fn mod_on_float_is_fmod() {
    assert_same(&binop(LoadFloat(-7.5), LoadFloat(2.0), Mod), &float(-1.5));
    assert_same(&binop(LoadInt(7), LoadFloat(2.5), Mod), &float(2.0));
    let Value::Float(x) = binop(LoadFloat(5.0), LoadFloat(0.0), Mod) else {
        panic!()
    };
    assert!(x.is_nan());
    assert_same(&binop(LoadFloat(-0.0), LoadFloat(3.0), Mod), &float(-0.0));
}

// ── SPEC §2.1: Pow, shifts, comparisons ─────────────────────────────────────

#[test]
fn pow_is_always_float() {
    assert_same(&binop(LoadInt(2), LoadInt(10), Pow), &float(1024.0));
    assert_same(&binop(LoadInt(2), LoadInt(-1), Pow), &float(0.5));
    assert_same(&binop(LoadInt(0), LoadInt(0), Pow), &float(1.0));
    assert_same(&binop(LoadInt(3), LoadInt(2), PowFloat), &float(9.0));
}

#[test]
fn shift_counts_are_masked_to_six_bits() {
    assert_same(&binop(LoadInt(1), LoadInt(64), Shl), &int(1));
    assert_same(&binop(LoadInt(1), LoadInt(65), Shl), &int(2));
    assert_same(&binop(LoadInt(1), LoadInt(-1), Shl), &int(i64::MIN));
    assert_same(&binop(LoadInt(256), LoadInt(68), Shr), &int(16));
}

#[test]
fn shr_is_arithmetic() {
    assert_same(&binop(LoadInt(-8), LoadInt(1), Shr), &int(-4));
    assert_same(&binop(LoadInt(-1), LoadInt(63), Shr), &int(-1));
    assert_same(&binop(LoadInt(i64::MIN), LoadInt(63), Shr), &int(-1));
}

#[test]
fn int_comparisons_are_exact_beyond_float_precision() {
    // As f64 these two are equal; as i64 they are not.
    assert_same(
        &binop(LoadInt(i64::MAX - 1), LoadInt(i64::MAX), NumLt),
        &Value::Bool(true),
    );
    assert_same(
        &binop(LoadInt(i64::MAX - 1), LoadInt(i64::MAX), NumEq),
        &Value::Bool(false),
    );
    assert_same(
        &binop(LoadInt((1 << 53) + 1), LoadInt(1 << 53), NumGt),
        &Value::Bool(true),
    );
}

#[test]
fn nan_compares_false_and_unequal() {
    let nan = LoadFloat(f64::NAN);
    for op in [NumEq, NumLt, NumGt, NumLe, NumGe] {
        assert_same(&binop(nan, LoadInt(1), op), &Value::Bool(false));
        assert_same(&binop(LoadInt(1), nan, op), &Value::Bool(false));
    }
    assert_same(&binop(nan, nan, NumNe), &Value::Bool(true));
}

#[test]
fn comparisons_on_every_pair_of_int_and_float() {
    let cases = [(1, 2), (2, 2), (3, 2)];
    for (a, b) in cases {
        let want = [a == b, a != b, a < b, a > b, a <= b, a >= b];
        for (op, w) in [NumEq, NumNe, NumLt, NumGt, NumLe, NumGe]
            .into_iter()
            .zip(want)
        {
            assert_same(&binop(LoadInt(a), LoadInt(b), op), &Value::Bool(w));
            assert_same(&binop(LoadInt(a), LoadFloat(b as f64), op), &Value::Bool(w));
            assert_same(&binop(LoadFloat(a as f64), LoadInt(b), op), &Value::Bool(w));
        }
    }
}

#[test]
fn spaceship_orders_and_maps_nan_to_zero() {
    assert_same(&binop(LoadInt(1), LoadInt(2), Spaceship), &int(-1));
    assert_same(&binop(LoadInt(2), LoadInt(2), Spaceship), &int(0));
    assert_same(&binop(LoadFloat(2.5), LoadInt(2), Spaceship), &int(1));
    assert_same(&binop(LoadFloat(f64::NAN), LoadInt(2), Spaceship), &int(0));
}

// ── SPEC §2.1: −0.0, NaN truthiness, Ok/Halted ───────────────────────────────

#[test]
fn negative_zero_is_preserved_bit_exactly() {
    assert_same(&eval(&[LoadFloat(-0.0)]), &float(-0.0));
    assert_same(&eval(&[LoadFloat(0.0), Negate]), &float(-0.0));
    assert_same(&binop(LoadFloat(-0.0), LoadFloat(-0.0), Add), &float(-0.0));
    assert_same(&binop(LoadFloat(0.0), LoadInt(-1), Mul), &float(-0.0));
    assert_same(
        &eval(&[LoadFloat(-0.0), SetSlot(0), GetSlot(0)]),
        &float(-0.0),
    );
}

#[test]
fn nan_is_truthy_and_negative_zero_falsy() {
    // JumpIfFalse skips LoadInt(1) only when the condition is falsy.
    let branch = |cond: Op| eval(&[LoadInt(0), cond, JumpIfFalse(4), LoadInt(1)]);
    assert_same(&branch(LoadFloat(f64::NAN)), &int(1));
    assert_same(&branch(LoadFloat(-0.0)), &int(0));
    assert_same(&eval(&[LoadFloat(f64::NAN), LogNot]), &Value::Bool(false));
}

#[test]
fn result_is_top_of_stack_or_halted() {
    assert_same(&eval(&[LoadInt(1), LoadInt(2)]), &int(2));
    assert!(matches!(run(&[]), VMResult::Halted));
    assert!(matches!(run(&[LoadInt(1), Pop]), VMResult::Halted));
}

// ── stack and constants ──────────────────────────────────────────────────────

#[test]
fn stack_shuffles() {
    assert_same(&eval(&[LoadInt(1), LoadInt(2), Swap, Pop]), &int(2));
    assert_same(&eval(&[LoadInt(1), Dup, Add]), &int(2));
    // Dup2: 1 2 → 1 2 1 2; then 1-2, 2-(-1), 1-3.
    assert_same(
        &eval(&[LoadInt(1), LoadInt(2), Dup2, Sub, Sub, Sub]),
        &int(-2),
    );
    // Rot: a b c → b c a
    let top = |n: usize| {
        let mut ops = vec![LoadInt(1), LoadInt(2), LoadInt(3), Rot];
        ops.extend(std::iter::repeat_n(Pop, n));
        eval(&ops)
    };
    assert_same(&top(0), &int(1));
    assert_same(&top(1), &int(3));
    assert_same(&top(2), &int(2));
}

#[test]
fn constants_and_literals_load_with_their_kinds() {
    assert_same(&eval(&[LoadTrue]), &Value::Bool(true));
    assert_same(&eval(&[LoadFalse]), &Value::Bool(false));
    assert_same(&eval(&[LoadUndef]), &Value::Undef);
    assert_same(&eval(&[Nop, LoadInt(-3)]), &int(-3));
    assert_same(
        &eval_with(&[Value::str("hi")], &[LoadConst(0)]),
        &Value::str("hi"),
    );
}

#[test]
fn stack_underflow_is_an_error_naming_the_op() {
    for ops in [
        vec![Pop],
        vec![LoadInt(1), Add],
        vec![Swap],
        vec![Rot],
        vec![Dup],
        vec![Print(2)],
    ] {
        let VMResult::Error(e) = run(&ops) else {
            panic!("{ops:?} must fail")
        };
        assert_eq!(e.ip, Some(ops.len() - 1), "{ops:?}: {e}");
        assert!(e.message.contains("underflow"), "{e}");
    }
}

// ── logic, bits, inc/dec on other kinds ─────────────────────────────────────

#[test]
fn logic_ops_are_eager_and_boolean() {
    assert_same(
        &binop(LoadInt(2), LoadFloat(0.5), LogAnd),
        &Value::Bool(true),
    );
    assert_same(&binop(LoadInt(2), LoadInt(0), LogAnd), &Value::Bool(false));
    assert_same(&binop(LoadUndef, LoadInt(0), LogOr), &Value::Bool(false));
    assert_same(
        &binop(LoadUndef, LoadFloat(f64::NAN), LogOr),
        &Value::Bool(true),
    );
    assert_same(&eval(&[LoadInt(0), LogNot]), &Value::Bool(true));
}

#[test]
fn bitwise_ops_use_integer_forms() {
    assert_same(
        &binop(LoadInt(0b1100), LoadInt(0b1010), BitAnd),
        &int(0b1000),
    );
    assert_same(
        &binop(LoadInt(0b1100), LoadInt(0b1010), BitOr),
        &int(0b1110),
    );
    assert_same(
        &binop(LoadInt(0b1100), LoadInt(0b1010), BitXor),
        &int(0b0110),
    );
    assert_same(&binop(LoadFloat(6.9), LoadInt(3), BitAnd), &int(2));
    assert_same(&eval(&[LoadInt(0), BitNot]), &int(-1));
}

#[test]
fn inc_dec_keep_floats_and_count_others_from_their_int_form() {
    assert_same(&eval(&[LoadFloat(1.5), Inc]), &float(2.5));
    assert_same(&eval(&[LoadFloat(1.5), Dec]), &float(0.5));
    assert_same(&eval(&[LoadUndef, Inc]), &int(1));
    assert_same(&eval(&[LoadTrue, Dec]), &int(0));
    assert_same(&eval(&[PreIncSlot(3)]), &int(1));
}

#[test]
fn keep_jumps_peek_and_never_pop() {
    // JumpIfTrueKeep taken: the condition stays as the result.
    assert_same(&eval(&[LoadInt(5), JumpIfTrueKeep(3), LoadInt(9)]), &int(5));
    assert_same(
        &eval(&[LoadInt(0), JumpIfFalseKeep(3), LoadInt(9)]),
        &int(0),
    );
    // Not taken: still not popped.
    assert!(matches!(
        run(&[LoadInt(0), JumpIfTrueKeep(3), Pop]),
        VMResult::Halted
    ));
    assert!(matches!(
        run(&[LoadInt(7), JumpIfFalseKeep(3), Pop]),
        VMResult::Halted
    ));
}

// ── globals and slots ────────────────────────────────────────────────────────

#[test]
fn slots_read_undef_until_written_and_grow_on_write() {
    assert_same(&eval(&[GetSlot(40)]), &Value::Undef);
    assert_same(&eval(&[LoadInt(3), SetSlot(200), GetSlot(200)]), &int(3));
}

#[test]
fn globals_are_set_declared_and_read_by_name() {
    let mut b = fusevm_llvm::ChunkBuilder::new();
    let x = b.add_name("x");
    let y = b.add_name("y");
    b.emit(LoadInt(4), 1);
    b.emit(SetVar(x), 1);
    b.emit(LoadFloat(0.5), 1);
    b.emit(DeclareVar(y), 1);
    b.emit(GetVar(x), 1);
    b.emit(GetVar(y), 1);
    b.emit(Add, 1);
    let mut vm = fusevm_llvm::VM::new(b.build());
    let VMResult::Ok(v) = vm.run() else { panic!() };
    assert_same(&v, &float(4.5));
    assert_same(vm.get_global("x").unwrap(), &int(4));
    assert!(vm.get_global("nope").is_none());
    assert!(vm.set_global("y", Value::str("s")));
    assert!(!vm.set_global("nope", Value::Undef));
}

// ── fused superinstructions ──────────────────────────────────────────────────

#[test]
fn post_inc_pushes_the_old_value_pre_inc_the_new() {
    assert_same(&eval(&[LoadInt(41), SetSlot(0), PostIncSlot(0)]), &int(41));
    assert_same(&eval(&[LoadInt(41), SetSlot(0), PreIncSlot(0)]), &int(42));
    assert_same(&eval(&[LoadInt(41), SetSlot(0), PostDecSlot(0)]), &int(41));
    assert_same(&eval(&[LoadInt(41), SetSlot(0), PreDecSlot(0)]), &int(40));
    assert_same(
        &eval(&[LoadFloat(0.5), SetSlot(0), PostIncSlot(0), Pop, GetSlot(0)]),
        &float(1.5),
    );
}

#[test]
fn slot_lt_int_jump_if_false_branches_on_slot_below_limit() {
    // slot0 = 5: 5 < 10 → fall through to LoadInt(1).
    let ops = |v: i64| {
        eval(&[
            LoadInt(v),
            SetSlot(0),
            LoadInt(0),
            SlotLtIntJumpIfFalse(0, 10, 5),
            LoadInt(1),
        ])
    };
    assert_same(&ops(5), &int(1));
    assert_same(&ops(10), &int(0));
}

#[test]
fn slot_inc_lt_int_jump_back_counts_a_loop() {
    // count = 0; i = 0; do { count += 2 } while (++i < 7)
    let ops = [
        LoadInt(0),
        SetSlot(0),
        LoadInt(0),
        SetSlot(1),
        GetSlot(1), // 4: body
        LoadInt(2),
        Add,
        SetSlot(1),
        SlotIncLtIntJumpBack(0, 7, 4),
        GetSlot(1),
    ];
    assert_same(&eval(&ops), &int(14));
}

#[test]
fn accum_sum_loop_sums_and_leaves_the_counter_at_the_limit() {
    let ops = [
        LoadInt(0),
        SetSlot(0),
        LoadInt(0),
        SetSlot(1),
        AccumSumLoop(1, 0, 100),
        GetSlot(1),
    ];
    assert_same(&eval(&ops), &int(4950));
    let ops = [
        LoadInt(0),
        SetSlot(0),
        LoadInt(0),
        SetSlot(1),
        AccumSumLoop(1, 0, 100),
        GetSlot(0),
    ];
    assert_same(&eval(&ops), &int(100));
    // A float accumulator stays float; a float counter works too.
    let ops = [
        LoadFloat(0.5),
        SetSlot(1),
        LoadFloat(0.0),
        SetSlot(0),
        AccumSumLoop(1, 0, 3),
        GetSlot(1),
    ];
    assert_same(&eval(&ops), &float(3.5));
    // Aliased slots: s += s; s += 1, while s < 10 (0 → 1 → 3 → 7 → 15).
    let ops = [LoadInt(0), SetSlot(0), AccumSumLoop(0, 0, 10), GetSlot(0)];
    assert_same(&eval(&ops), &int(15));
}

#[test]
fn concat_const_loop_appends_the_constant() {
    let ops = [
        LoadInt(0),
        SetSlot(0),
        LoadConst(0),
        SetSlot(1),
        ConcatConstLoop(1, 1, 0, 3),
        GetSlot(1),
    ];
    assert_same(
        &eval_with(&[Value::str(">"), Value::str("ab")], &ops),
        &Value::str(">ababab"),
    );
}

#[test]
fn push_int_range_loop_fills_a_global_array() {
    let mut b = fusevm_llvm::ChunkBuilder::new();
    let a = b.add_name("a");
    for op in [
        LoadInt(2),
        SetSlot(0),
        PushIntRangeLoop(a, 0, 5),
        GetArray(a),
    ] {
        b.emit(op, 1);
    }
    let VMResult::Ok(v) = fusevm_llvm::VM::new(b.build()).run() else {
        panic!()
    };
    assert_same(&v, &Value::array(vec![int(2), int(3), int(4)]));
}

#[test]
fn mul_mod_floor_is_exact_and_floored() {
    let mmf = |a: i64, b: i64, k: i64| eval(&[LoadInt(a), LoadInt(b), LoadInt(k), MulModFloor]);
    // The product overflows i64; the answer is the exact i128 residue.
    let (a, b, k) = (6_364_136_223_846_793_005i64, 1_000_003, 1_000_000_007);
    assert_same(
        &mmf(a, b, k),
        &int(((a as i128 * b as i128) % k as i128) as i64),
    );
    assert_same(&mmf(-7, 1, 3), &int(2));
    assert_same(&mmf(7, 1, -3), &int(-2));
    assert_same(&mmf(7, 1, 0), &int(0));
    let mamf = eval(&[
        LoadInt(i64::MAX),
        LoadInt(i64::MAX),
        LoadInt(5),
        LoadInt(97),
        MulAddModFloor,
    ]);
    let want = ((i64::MAX as i128 * i64::MAX as i128 + 5) % 97) as i64;
    assert_same(&mamf, &int(want));
    // A float operand falls back to the unfused Mul then Mod (fmod).
    let v = eval(&[LoadFloat(2.5), LoadInt(3), LoadInt(4), MulModFloor]);
    assert_same(&v, &float(3.5));
}

// ── math ─────────────────────────────────────────────────────────────────────

#[test]
fn float_math_ops_apply_to_the_float_form() {
    let f = |x: f64, op: Op| eval(&[LoadFloat(x), op]);
    assert_same(&f(2.25, SqrtFloat), &float(1.5));
    assert_same(&eval(&[LoadInt(9), SqrtFloat]), &float(3.0));
    assert_same(&f(0.0, SinFloat), &float(0.0));
    assert_same(&f(0.0, CosFloat), &float(1.0));
    assert_same(&f(0.5, TanFloat), &float(0.5f64.tan()));
    assert_same(&f(0.5, AsinFloat), &float(0.5f64.asin()));
    assert_same(&f(0.5, AcosFloat), &float(0.5f64.acos()));
    assert_same(
        &eval(&[LoadInt(1), AtanFloat]),
        &float(std::f64::consts::FRAC_PI_4),
    );
    assert_same(&f(0.5, SinhFloat), &float(0.5f64.sinh()));
    assert_same(&f(0.5, CoshFloat), &float(0.5f64.cosh()));
    assert_same(&f(-0.0, TanhFloat), &float(-0.0));
    assert!(
        f(2.0, AsinFloat).to_float().is_nan(),
        "outside [-1, 1]: NaN"
    );
    assert_same(&f(1.0, ExpFloat), &float(std::f64::consts::E));
    assert_same(&f(std::f64::consts::E, LogFloat), &float(1.0));
    assert_same(&f(8.0, Log2Float), &float(3.0));
    assert_same(&f(1000.0, Log10Float), &float(3.0));
    assert_same(&f(-2.5, AbsFloat), &float(2.5));
    assert_same(&f(-2.5, FloorFloat), &float(-3.0));
    assert_same(&f(-2.5, CeilFloat), &float(-2.0));
    assert_same(&f(-2.5, TruncFloat), &float(-2.0));
    assert_same(&f(-2.5, RoundFloat), &float(-3.0));
    assert_same(&f(-0.4, RoundFloat), &float(-0.0));
    assert_same(
        &binop(LoadFloat(1.0), LoadFloat(1.0), Atan2Float),
        &float(std::f64::consts::FRAC_PI_4),
    );
    let Value::Float(x) = f(-1.0, SqrtFloat) else {
        panic!()
    };
    assert!(x.is_nan());
}

#[test]
fn int_math_ops_apply_to_the_int_form() {
    assert_same(&eval(&[LoadInt(-5), AbsInt]), &int(5));
    assert_same(&eval(&[LoadInt(i64::MIN), AbsInt]), &int(i64::MIN));
    assert_same(&eval(&[LoadFloat(-7.9), TruncInt]), &int(-7));
    assert_same(&eval(&[LoadFloat(f64::NAN), TruncInt]), &int(0));
    assert_same(&eval(&[LoadFloat(1e300), TruncInt]), &int(i64::MAX));
    assert_same(&binop(LoadInt(12), LoadInt(-18), GcdInt), &int(6));
    assert_same(&binop(LoadInt(0), LoadInt(0), GcdInt), &int(0));
    assert_same(&binop(LoadInt(4), LoadInt(6), LcmInt), &int(12));
    assert_same(&binop(LoadInt(0), LoadInt(6), LcmInt), &int(0));
}

// ── strings ──────────────────────────────────────────────────────────────────

#[test]
fn concat_joins_string_forms() {
    let v = eval_with(
        &[Value::str("n=")],
        &[LoadConst(0), LoadFloat(1.0), Concat, LoadTrue, Concat],
    );
    assert_same(&v, &Value::str("n=11"));
}

#[test]
fn string_repeat_and_length() {
    let c = [Value::str("héllo")];
    assert_same(&eval_with(&c, &[LoadConst(0), StringLen]), &int(6)); // bytes, as in fusevm
    assert_same(
        &eval_with(&c, &[LoadConst(0), LoadInt(2), StringRepeat]),
        &Value::str("héllohéllo"),
    );
    assert_same(
        &eval_with(&c, &[LoadConst(0), LoadInt(-3), StringRepeat]),
        &Value::str(""),
    );
    assert_same(&eval(&[LoadInt(-42), StringLen]), &int(3));
}

#[test]
fn huge_string_repeat_is_an_error_not_an_abort() {
    let VMResult::Error(e) = fusevm_llvm::VM::new(common::chunk_with(
        &[Value::str("ab")],
        &[LoadConst(0), LoadInt(i64::MAX), StringRepeat],
    ))
    .run() else {
        panic!()
    };
    assert_eq!(e.ip, Some(2));
}

#[test]
fn string_comparisons_compare_string_forms() {
    let c = [
        Value::str("apple"),
        Value::str("banana"),
        Value::str("10"),
        Value::str("9"),
    ];
    let cmp = |a: u16, b: u16, op: Op| eval_with(&c, &[LoadConst(a), LoadConst(b), op]);
    assert_same(&cmp(0, 1, StrLt), &Value::Bool(true));
    assert_same(&cmp(0, 1, StrGt), &Value::Bool(false));
    assert_same(&cmp(0, 0, StrEq), &Value::Bool(true));
    assert_same(&cmp(0, 1, StrNe), &Value::Bool(true));
    assert_same(&cmp(1, 1, StrLe), &Value::Bool(true));
    assert_same(&cmp(1, 0, StrGe), &Value::Bool(true));
    // Strings, not numbers: "10" < "9".
    assert_same(&cmp(2, 3, StrLt), &Value::Bool(true));
    assert_same(&cmp(2, 3, StrCmp), &int(-1));
    assert_same(&cmp(1, 0, StrCmp), &int(1));
    assert_same(
        &eval(&[LoadInt(1), LoadFloat(1.0), StrEq]),
        &Value::Bool(true),
    );
}
