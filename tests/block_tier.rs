//! The block tier: agreement with the interpreter (examples, SPEC §2.1
//! rows, the SPEC §4 defects), thresholds, failures, subroutines, the raw
//! API. Every test pins the block threshold and checks the tier ran.
#![cfg(feature = "jit")]

mod common;
use common::*;
use fusevm_llvm::{
    BlockNum, Chunk, JitCompiler, Limits, Op, SlotKind, VM, VMResult, Value, assemble,
};

/// Assembles `src`, asserting it assembles.
fn asm(src: &str) -> Chunk {
    assemble(src).unwrap_or_else(|e| panic!("{e}\n{src}"))
}

/// Runs `chunk` with slots preset, interpreted and in the block tier;
/// asserts they agree (result, slots, stack, frames) and the tier ran.
/// Returns the block tier's result.
#[track_caller]
fn agree_with(chunk: &Chunk, presets: &[Value]) -> VMResult {
    pin_block_tier(true);
    let jit = JitCompiler::new();
    let run = |native: bool| {
        let mut vm = VM::new(chunk.clone());
        for (i, v) in presets.iter().enumerate() {
            vm.set_slot(i as u16, v.clone());
        }
        if native {
            vm.enable_tracing_jit();
        }
        let r = vm.run();
        (r, vm)
    };
    let before = jit.block_run_count(chunk);
    let (want, ivm) = run(false);
    let (got, nvm) = run(true);
    assert!(
        jit.block_run_count(chunk) > before,
        "block tier did not run: {:?}",
        jit.block_failure(chunk)
    );
    assert!(got.same_as(&want), "block tier {got} vs interpreter {want}");
    assert_same_vm_state(&nvm, &ivm);
    got
}

#[track_caller]
fn agree(src: &str) -> VMResult {
    agree_with(&asm(src), &[])
}

#[track_caller]
fn value(r: VMResult) -> Value {
    match r {
        VMResult::Ok(v) => v,
        other => panic!("expected a value, got {other}"),
    }
}

// ── programs ──

#[test]
fn every_example_agrees_with_the_interpreter_and_runs_native() {
    for name in EXAMPLES {
        let chunk = example(name);
        let jit = JitCompiler::new();
        if !jit.is_block_eligible(&chunk) {
            let why = jit.block_ineligibility(&chunk).unwrap();
            assert_eq!(*name, "strings", "{name}: {why}");
            assert!(why.contains("no native lowering"), "{why}");
            continue;
        }
        assert_block_agrees(&chunk);
    }
}

#[test]
fn benchmark_kernels_agree_with_native_rust() {
    let kernel = |file: &str| {
        let path = format!("{}/benches/kernels/{file}.fasm", env!("CARGO_MANIFEST_DIR"));
        asm(&std::fs::read_to_string(path).unwrap())
    };
    let cases: [(&str, Vec<Value>, Value); 6] = [
        (
            "sum",
            vec![Value::Int(1000)],
            Value::Int(kernels::sum_xor(1000)),
        ),
        (
            "float_recurrence",
            vec![Value::Undef, Value::Undef, Value::Int(500)],
            Value::Float(kernels::float_recurrence(500)),
        ),
        (
            "branch",
            vec![Value::Undef, Value::Undef, Value::Int(999)],
            Value::Int(kernels::branch_plain(999)),
        ),
        (
            "nested",
            vec![Value::Undef, Value::Undef, Value::Undef, Value::Int(40)],
            Value::Int(kernels::nested(40)),
        ),
        ("fib", vec![Value::Int(15)], Value::Int(kernels::fib(15))),
        (
            "mandelbrot",
            [vec![Value::Undef; 9], vec![Value::Int(30), Value::Int(20)]].concat(),
            Value::Int(kernels::mandelbrot(30, 20)),
        ),
    ];
    for (file, presets, want) in cases {
        let got = value(agree_with(&kernel(file), &presets));
        assert_same(&got, &want);
    }
}

#[test]
fn presets_survive_a_chunk_of_nops() {
    let presets = [
        Value::Int(3),
        Value::Float(-0.0),
        Value::Undef,
        Value::str("7"),
        Value::Bool(true),
    ];
    assert!(matches!(
        agree_with(&asm("Nop\nNop"), &presets),
        VMResult::Halted
    ));
}

// ── SPEC §2.1, row by row (operands from constants and from slots) ──

/// Checks `a OP b` with the operands loaded as immediates and from slots.
#[track_caller]
fn binary(a: Value, b: Value, op: &str) -> Value {
    let lit = |v: &Value| match v {
        Value::Int(i) => format!("LoadInt {i}"),
        Value::Float(f) => format!("LoadFloat {}", float_literal(*f)),
        Value::Bool(true) => "LoadTrue".into(),
        Value::Bool(false) => "LoadFalse".into(),
        _ => "LoadUndef".into(),
    };
    let from_consts = value(agree(&format!("{}\n{}\n{op}", lit(&a), lit(&b))));
    let from_slots = value(agree_with(
        &asm(&format!("GetSlot 0\nGetSlot 1\n{op}")),
        &[a.clone(), b.clone()],
    ));
    assert_same(&from_slots, &from_consts);
    from_slots
}

fn float_literal(f: f64) -> String {
    if f.is_nan() {
        "nan".into()
    } else if f.is_infinite() {
        if f > 0.0 { "inf".into() } else { "-inf".into() }
    } else {
        format!("{f:?}")
    }
}

#[test]
fn int_arithmetic_wraps_in_native_code() {
    use Value::Int;
    assert_same(&binary(Int(i64::MAX), Int(1), "Add"), &Int(i64::MIN));
    assert_same(&binary(Int(i64::MIN), Int(1), "Sub"), &Int(i64::MAX));
    assert_same(&binary(Int(i64::MIN), Int(-1), "Mul"), &Int(i64::MIN));
    let neg = value(agree_with(
        &asm("GetSlot 0\nNegate\nGetSlot 0\nInc\nGetSlot 0\nDec"),
        &[Int(i64::MIN)],
    ));
    assert_same(&neg, &Int(i64::MAX));
    let fused = agree_with(
        &asm("PreIncSlot 0\nPostDecSlot 1"),
        &[Int(i64::MAX), Int(i64::MIN)],
    );
    assert_same(&value(fused), &Int(i64::MIN));
}

#[test]
fn div_is_always_float_and_undef_for_a_zero_divisor() {
    use Value::{Float, Int, Undef};
    assert_same(&binary(Int(7), Int(2), "Div"), &Float(3.5));
    assert_same(&binary(Int(7), Int(0), "Div"), &Undef);
    assert_same(&binary(Float(7.0), Float(-0.0), "Div"), &Undef);
    assert_same(
        &binary(Int(i64::MIN), Int(-1), "Div"),
        &Float(-(i64::MIN as f64)),
    );
}

#[test]
fn int_mod_truncates_and_never_traps() {
    use Value::Int;
    assert_same(&binary(Int(-7), Int(3), "Mod"), &Int(-1));
    assert_same(&binary(Int(7), Int(0), "Mod"), &Int(0));
    assert_same(&binary(Int(i64::MIN), Int(-1), "Mod"), &Int(0));
}

#[test]
fn float_mod_is_fmod_and_nan_for_zero() {
    use Value::{Float, Int};
    assert_same(&binary(Float(-7.5), Int(2), "Mod"), &Float(-1.5));
    assert!(matches!(binary(Float(1.0), Float(0.0), "Mod"), Float(f) if f.is_nan()));
}

#[test]
fn pow_is_always_float() {
    use Value::{Float, Int};
    assert_same(&binary(Int(2), Int(10), "Pow"), &Float(1024.0));
    assert_same(&binary(Int(2), Int(-1), "Pow"), &Float(0.5));
}

#[test]
fn shift_counts_are_masked_and_shr_is_arithmetic() {
    use Value::Int;
    assert_same(&binary(Int(1), Int(64), "Shl"), &Int(1));
    assert_same(&binary(Int(1), Int(65), "Shl"), &Int(2));
    assert_same(&binary(Int(-8), Int(1), "Shr"), &Int(-4));
}

#[test]
fn comparisons_are_exact_on_ints_and_ieee_otherwise() {
    use Value::{Bool, Float, Int};
    // Equal as f64, different as i64.
    assert_same(
        &binary(Int(i64::MAX), Int(i64::MAX - 1), "NumGt"),
        &Bool(true),
    );
    assert_same(
        &binary(Float(f64::NAN), Float(f64::NAN), "NumEq"),
        &Bool(false),
    );
    assert_same(
        &binary(Float(f64::NAN), Float(f64::NAN), "NumNe"),
        &Bool(true),
    );
    assert_same(&binary(Float(f64::NAN), Int(1), "NumLt"), &Bool(false));
    assert_same(&binary(Float(f64::NAN), Int(1), "Spaceship"), &Int(0));
    assert_same(&binary(Float(-0.0), Int(0), "NumEq"), &Bool(true));
}

#[test]
fn negative_zero_is_preserved() {
    use Value::Float;
    assert_same(&binary(Float(0.0), Float(-1.0), "Mul"), &Float(-0.0));
    let v = value(agree_with(&asm("GetSlot 0\nNegate"), &[Float(0.0)]));
    assert_same(&v, &Float(-0.0));
    let v = value(agree_with(
        &asm("GetSlot 0\nSetSlot 1\nGetSlot 1"),
        &[Float(-0.0)],
    ));
    assert_same(&v, &Float(-0.0));
}

#[test]
fn mixed_kinds_promote_like_the_interpreter() {
    use Value::{Bool, Float, Int, Undef};
    assert_same(&binary(Int(1), Float(0.5), "Add"), &Float(1.5));
    assert_same(&binary(Bool(true), Int(1), "Add"), &Float(2.0));
    assert_same(&binary(Undef, Int(1), "Sub"), &Float(-1.0));
    assert_same(&binary(Float(2.9), Int(1), "BitOr"), &Int(3));
    assert_same(&binary(Float(f64::NAN), Int(5), "BitXor"), &Int(5));
}

#[test]
fn the_result_is_the_top_of_the_stack_or_halted() {
    assert_same(&value(agree("LoadInt 1\nLoadInt 2")), &Value::Int(2));
    assert!(matches!(agree("LoadInt 1\nPop"), VMResult::Halted));
}

#[test]
fn math_ops_match_the_interpreter_bit_for_bit() {
    for op in [
        "SqrtFloat",
        "SinFloat",
        "CosFloat",
        "TanFloat",
        "ExpFloat",
        "LogFloat",
        "Log2Float",
        "Log10Float",
        "AbsFloat",
        "FloorFloat",
        "CeilFloat",
        "TruncFloat",
        "RoundFloat",
        "AbsInt",
        "TruncInt",
        "AsinFloat",
        "AcosFloat",
        "AtanFloat",
        "SinhFloat",
        "CoshFloat",
        "TanhFloat",
    ] {
        for x in [
            Value::Float(2.5),
            Value::Float(-0.5),
            Value::Int(-3),
            Value::Float(f64::NAN),
        ] {
            agree_with(&asm(&format!("GetSlot 0\n{op}")), &[x]);
        }
    }
    for op in ["Atan2Float", "PowFloat", "GcdInt", "LcmInt"] {
        binary(Value::Float(-3.5), Value::Int(12), op);
        binary(Value::Int(i64::MIN), Value::Int(6), op);
    }
}

// ── SPEC §4: the reference design's defects ──

#[test]
fn native_slot_access_past_the_frames_slots_stays_in_bounds() {
    let v = value(agree(
        "GetSlot 900\nLoadInt 5\nSetSlot 1000\nGetSlot 1000\nAdd",
    ));
    assert_same(&v, &Value::Float(5.0));
}

#[test]
fn native_int_division_and_remainder_by_zero_never_trap() {
    let src = "GetSlot 0\nGetSlot 1\nMod\nGetSlot 2\nGetSlot 3\nMod\nGetSlot 0\nGetSlot 1\nDiv";
    let presets = [
        Value::Int(5),
        Value::Int(0),
        Value::Int(i64::MIN),
        Value::Int(-1),
    ];
    let r = agree_with(&asm(src), &presets);
    assert_same(&value(r), &Value::Undef);
}

#[test]
fn block_tier_returns_float_for_7_div_2_and_for_pow() {
    assert_same(
        &value(agree("LoadInt 7\nLoadInt 2\nDiv")),
        &Value::Float(3.5),
    );
    assert_same(
        &value(agree("LoadInt 3\nLoadInt 2\nPow")),
        &Value::Float(9.0),
    );
}

#[test]
fn block_tier_returns_halted_for_an_empty_stack() {
    assert!(matches!(agree("LoadInt 0\nSetSlot 0"), VMResult::Halted));
}

#[test]
fn a_hot_loop_keeps_an_untouched_str_slot_and_bool_slot() {
    let src = "
        LoadInt 0
        SetSlot 2
head:   GetSlot 2
        LoadInt 1000
        NumLt
        JumpIfFalse done
        PreIncSlotVoid 2
        Jump head
done:   GetSlot 2";
    let presets = [Value::str("keep me"), Value::Bool(true)];
    agree_with(&asm(src), &presets);
    let mut vm = VM::new(asm(src));
    vm.set_slot(0, presets[0].clone());
    vm.set_slot(1, presets[1].clone());
    vm.enable_tracing_jit();
    vm.run();
    assert_same(&vm.get_slot(0), &Value::str("keep me"));
    assert_same(&vm.get_slot(1), &Value::Bool(true));
}

#[test]
fn reading_a_str_slot_hands_over_to_the_interpreter_at_that_op() {
    // Native code runs the loop, then exits at `GetSlot 0` (a string).
    let src = "
        LoadInt 0
        SetSlot 1
head:   SlotIncLtIntJumpBack 1 100 head
        GetSlot 0
        GetSlot 1";
    let r = agree_with(&asm(src), &[Value::str("s")]);
    assert_same(&value(r), &Value::Int(100));
}

#[test]
fn a_top_level_return_ends_the_run_instead_of_restarting_it() {
    let r = agree("PreIncSlotVoid 0\nGetSlot 0\nReturnValue\nLoadInt 99");
    assert_same(&value(r), &Value::Int(1));
    assert!(matches!(
        agree("PushFrame\nLoadInt 1\nReturn\nLoadInt 2"),
        VMResult::Halted
    ));
}

#[test]
fn nan_is_truthy_in_native_branches() {
    let src = "GetSlot 0\nJumpIfFalse no\nLoadInt 1\nJump end\nno: LoadInt 0\nend:";
    let r = agree_with(&asm(src), &[Value::Float(f64::NAN)]);
    assert_same(&value(r), &Value::Int(1));
    let r = agree_with(&asm(src), &[Value::Float(-0.0)]);
    assert_same(&value(r), &Value::Int(0));
}

#[test]
fn kind_changing_stores_and_float_arguments_keep_their_kinds() {
    // x starts Int, becomes Float inside the loop; a callee gets a Float.
    let src = "
        LoadInt 0
        SetSlot 0
        LoadInt 0
        SetSlot 1
head:   GetSlot 1
        LoadInt 3
        NumLt
        JumpIfFalse done
        GetSlot 0
        LoadFloat 0.5
        Add
        Call half 1
        SetSlot 0
        PreIncSlotVoid 1
        Jump head
done:   GetSlot 0
        Jump end
sub half:
        LoadInt 2
        Div
        ReturnValue
end:";
    let r = agree(src);
    assert_same(&value(r), &Value::Float(0.4375));
}

#[test]
fn deserialized_chunks_get_their_own_cache_entries() {
    let jit = JitCompiler::new();
    let through_serde =
        |c: Chunk| -> Chunk { serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap() };
    let a = through_serde(asm("LoadInt 40\nLoadInt 1\nAdd"));
    let b = through_serde(asm("LoadInt 40\nLoadInt 2\nAdd"));
    assert_ne!(a.content_hash(), b.content_hash());
    assert_same(&value(agree_with(&a, &[])), &Value::Int(41));
    assert_same(&value(agree_with(&b, &[])), &Value::Int(42));
    assert!(jit.block_jit_is_compiled(&a) && jit.block_jit_is_compiled(&b));
}

#[test]
fn numeric_globals_run_natively_and_others_stay_exact() {
    // g0 counts, g1 accumulates Floats, g2 holds a string nobody reads.
    let src = "
        LoadInt 0
        SetVar g0
        LoadFloat 0.5
        SetVar g1
head:   GetVar g0
        LoadInt 100
        NumLt
        JumpIfFalse done
        GetVar g1
        GetVar g0
        Add
        SetVar g1
        GetVar g0
        LoadInt 1
        Add
        SetVar g0
        Jump head
done:   Jump end
        GetVar g2               ; names g2; never runs
end:    GetVar g1";
    let chunk = asm(src);
    let jit = JitCompiler::new();
    assert!(
        jit.is_block_eligible(&chunk),
        "{:?}",
        jit.block_ineligibility(&chunk)
    );
    let r = agree_with(&chunk, &[]);
    assert_same(&value(r), &Value::Float(4950.5));
    pin_block_tier(true);
    let mut vm = VM::new(chunk.clone());
    assert!(vm.set_global("g2", Value::str("keep")));
    vm.enable_tracing_jit();
    vm.run();
    assert_same(vm.get_global("g0").unwrap(), &Value::Int(100));
    assert_same(vm.get_global("g2").unwrap(), &Value::str("keep"));
    // A string global that is read hands over to the interpreter.
    let reads_str = asm("GetVar s\nLoadInt 1\nAdd");
    let mut vm = VM::new(reads_str.clone());
    vm.set_global("s", Value::str("41"));
    vm.enable_tracing_jit();
    assert_same(&value(vm.run()), &Value::Float(42.0));
    assert_eq!(jit.block_early_exit_count(&reads_str), 1);
}

#[test]
fn globals_in_subroutines_keep_the_chunk_in_the_interpreter() {
    let chunk = asm("Call f 0\nJump end\nsub f:\nGetVar g\nReturnValue\nend:");
    let why = JitCompiler::new().block_ineligibility(&chunk).unwrap();
    assert!(why.contains("in a subroutine"), "{why}");
}

// ── subroutines ──

#[test]
fn fib_and_ackermann_run_as_native_code() {
    let ack = "
        GetSlot 0
        GetSlot 1
        Call ack 2
        Jump end
; ack(m, n) = n + 1 if m == 0; ack(m - 1, 1) if n == 0; else ack(m - 1, ack(m, n - 1))
sub ack:
        SetSlot 1
        SetSlot 0
        GetSlot 0
        LoadInt 0
        NumEq
        JumpIfFalse m_pos
        GetSlot 1
        LoadInt 1
        Add
        ReturnValue
m_pos:  GetSlot 1
        LoadInt 0
        NumEq
        JumpIfFalse both
        GetSlot 0
        LoadInt 1
        Sub
        LoadInt 1
        Call ack 2
        ReturnValue
both:   GetSlot 0
        LoadInt 1
        Sub
        GetSlot 0
        GetSlot 1
        LoadInt 1
        Sub
        Call ack 2
        Call ack 2
        ReturnValue
end:";
    let r = agree_with(&asm(ack), &[Value::Int(2), Value::Int(3)]);
    assert_same(&value(r), &Value::Int(9));
    let r = agree_with(&asm(ack), &[Value::Int(3), Value::Int(4)]);
    assert_same(&value(r), &Value::Int(125));
    let r = agree(
        &std::fs::read_to_string(format!("{}/examples/fib.fasm", env!("CARGO_MANIFEST_DIR")))
            .unwrap(),
    );
    assert_same(&value(r), &Value::Int(196_418));
}

/// `down(n) = n == 0 ? 0 : n - down(n - 1)` (= ceil(n / 2)): the
/// subtraction keeps LLVM from turning the recursion into a loop.
const DEEP: &str = "
        GetSlot 0
        Call down 1
        Jump end
sub down:
        SetSlot 0
        GetSlot 0
        LoadInt 0
        NumEq
        JumpIfFalse more
        LoadInt 0
        ReturnValue
more:   GetSlot 0
        GetSlot 0
        LoadInt 1
        Sub
        Call down 1
        Sub
        ReturnValue
end:";

/// `count(n) = n == 0 ? 0 : count(n - 1) + 1`: LLVM turns this recursion
/// into a loop, yet the frame limit must still hold.
const DEEP_LOOPED: &str = "
        GetSlot 0
        Call count 1
        Jump end
sub count:
        SetSlot 0
        GetSlot 0
        LoadInt 0
        NumEq
        JumpIfFalse more
        LoadInt 0
        ReturnValue
more:   GetSlot 0
        LoadInt 1
        Sub
        Call count 1
        LoadInt 1
        Add
        ReturnValue
end:";

#[test]
fn deep_recursion_gives_the_vms_frame_limit_error_not_a_crash() {
    for src in [DEEP, DEEP_LOOPED] {
        let chunk = asm(src);
        let r = agree_with(&chunk, &[Value::Int(150_000)]);
        assert!(JitCompiler::new().block_early_exit_count(&chunk) >= 1);
        match r {
            VMResult::Error(e) => {
                assert!(
                    e.message
                        .contains("call depth limit reached (100000 frames)"),
                    "{e}"
                )
            }
            other => panic!("{other}"),
        }
    }
}

#[test]
fn recursion_deeper_than_the_native_stack_budget_finishes_in_the_interpreter() {
    // 90,000 frames fit the frame limit but not 256 KiB of native stack:
    // native code unwinds, the interpreter finishes. On a small thread too.
    let worker = std::thread::Builder::new().stack_size(512 * 1024);
    let chunk = asm(&format!("{DEEP}\nNop"));
    let c = chunk.clone();
    let r = worker
        .spawn(move || agree_with(&c, &[Value::Int(90_000)]))
        .unwrap()
        .join()
        .unwrap();
    assert_same(&value(r), &Value::Int(45_000));
    assert_eq!(JitCompiler::new().block_early_exit_count(&chunk), 1);
}

#[test]
fn a_lower_native_stack_limit_is_respected() {
    pin_block_tier(true);
    let chunk = asm(&format!("{DEEP}\nNop\nNop"));
    let mut vm = VM::new(chunk.clone());
    vm.set_limits(Limits {
        native_stack: 4096,
        ..Limits::default()
    });
    vm.set_slot(0, Value::Int(5_000));
    vm.enable_tracing_jit();
    assert_same(&value(vm.run()), &Value::Int(2_500));
    assert_eq!(JitCompiler::new().block_early_exit_count(&chunk), 1);
}

// ── thresholds, cache, failures ──

#[test]
fn block_threshold_n_interprets_n_invocations_then_compiles() {
    let mut cfg = JitCompiler::new().get_config();
    cfg.block_threshold = 3;
    JitCompiler::new().set_config(cfg);
    let jit = JitCompiler::new();
    let chunk = asm("GetSlot 0\nLoadInt 77001\nAdd");
    for _ in 0..3 {
        assert_eq!(jit.try_run_block(&chunk, &mut [1]), None);
        assert!(!jit.block_jit_is_compiled(&chunk));
    }
    assert_eq!(jit.try_run_block(&chunk, &mut [1]), Some(77002));
    assert!(jit.block_jit_is_compiled(&chunk));
    // Through the VM: the threshold counts `run`s the same way.
    let chunk = asm("LoadInt 77002");
    for n in 1..=4u64 {
        let mut vm = VM::new(chunk.clone());
        vm.enable_tracing_jit();
        assert_same(&value(vm.run()), &Value::Int(77002));
        assert_eq!(jit.block_run_count(&chunk), n.saturating_sub(3));
    }
    // 0: compiles on the first invocation.
    cfg.block_threshold = 0;
    JitCompiler::new().set_config(cfg);
    let chunk = asm("LoadInt 77003");
    assert_eq!(jit.try_run_block(&chunk, &mut []), Some(77003));
}

#[test]
fn block_threshold_max_keeps_every_run_in_the_interpreter() {
    pin_block_tier(false);
    let jit = JitCompiler::new();
    let chunk = asm("LoadInt 77004");
    for _ in 0..5 {
        let mut vm = VM::new(chunk.clone());
        vm.enable_tracing_jit();
        vm.run();
    }
    assert!(!jit.block_jit_is_compiled(&chunk));
    assert_eq!(jit.block_run_count(&chunk), 0);
}

#[test]
fn a_chunk_that_fails_to_compile_is_remembered_with_its_reason() {
    pin_block_tier(true);
    let jit = JitCompiler::new();
    let chunk = asm("LoadInt 77005\nPrintLn 1\nLoadInt 1");
    assert!(!jit.is_block_eligible(&chunk));
    let why = jit.block_ineligibility(&chunk).unwrap();
    assert!(why.contains("op 1 `PrintLn 1`"), "{why}");
    for _ in 0..5 {
        let mut vm = VM::new(chunk.clone());
        vm.set_output(Box::new(fusevm_llvm::SharedBuffer::new()));
        vm.enable_tracing_jit();
        assert_same(&value(vm.run()), &Value::Int(1));
    }
    assert_eq!(jit.block_compile_attempts(&chunk), 1);
    assert!(jit.block_failure(&chunk).unwrap().contains("PrintLn"));
}

#[test]
fn entry_slot_kinds_are_part_of_the_cache_key() {
    let chunk = asm("GetSlot 0\nLoadInt 1\nAdd\nSetSlot 0\nGetSlot 0");
    assert_same(&value(agree_with(&chunk, &[Value::Int(1)])), &Value::Int(2));
    assert_same(
        &value(agree_with(&chunk, &[Value::Float(1.5)])),
        &Value::Float(2.5),
    );
    assert_same(
        &value(agree_with(&chunk, &[Value::Bool(true)])),
        &Value::Float(2.0),
    );
    assert_same(
        &value(agree_with(&chunk, &[Value::str("4")])),
        &Value::Float(5.0),
    );
    assert_eq!(JitCompiler::new().block_compile_attempts(&chunk), 4);
}

#[test]
fn threads_compile_and_run_the_same_chunk_at_once() {
    let chunk = asm("GetSlot 0\nLoadInt 77006\nMul");
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let chunk = chunk.clone();
            std::thread::spawn(move || {
                pin_block_tier(true);
                let jit = JitCompiler::new();
                (0..50).all(|k| {
                    jit.try_run_block(&chunk, &mut [t * 100 + k]) == Some((t * 100 + k) * 77006)
                })
            })
        })
        .collect();
    assert!(handles.into_iter().all(|h| h.join().unwrap()));
    assert_eq!(JitCompiler::new().block_compile_attempts(&chunk), 1);
}

// ── the raw API ──

#[test]
fn try_run_block_writes_int_slots_back() {
    pin_block_tier(true);
    let jit = JitCompiler::new();
    let chunk = asm("GetSlot 0\nGetSlot 1\nAdd\nSetSlot 2\nGetSlot 2\nLoadInt 2\nMul");
    let mut slots = [20, 1, 0];
    assert_eq!(jit.try_run_block(&chunk, &mut slots), Some(42));
    assert_eq!(slots, [20, 1, 21]);
}

#[test]
fn try_run_block_returns_none_and_leaves_slots_alone_when_a_result_is_not_int() {
    pin_block_tier(true);
    let jit = JitCompiler::new();
    let chunk = asm("GetSlot 0\nLoadInt 2\nDiv\nSetSlot 0\nLoadInt 1");
    let mut slots = [7];
    assert_eq!(jit.try_run_block(&chunk, &mut slots), None);
    assert_eq!(slots, [7]);
    // The kinded variant carries it.
    let mut kinds = [SlotKind::Int];
    assert_eq!(
        jit.try_run_block_kinded(&chunk, &mut slots, &mut kinds),
        Some(1)
    );
    assert_eq!(kinds, [SlotKind::Float]);
    assert_eq!(f64::from_bits(slots[0] as u64), 3.5);
}

#[test]
fn typed_kinded_returns_results_of_every_kind() {
    pin_block_tier(true);
    let jit = JitCompiler::new();
    let run = |src: &str, slots: &mut [i64], kinds: &mut [SlotKind]| {
        jit.try_run_block_typed_kinded(&asm(src), slots, kinds)
    };
    let mut s = [1.5f64.to_bits() as i64];
    let mut k = [SlotKind::Float];
    assert_eq!(
        run("GetSlot 0\nLoadInt 2\nMul", &mut s, &mut k),
        Some(BlockNum::Float(3.0))
    );
    // Undef and an empty stack have no BlockNum (fusevm's three kinds).
    assert_eq!(run("LoadInt 1\nLoadInt 0\nDiv", &mut [], &mut []), None);
    assert_eq!(
        run("LoadInt 1\nLoadInt 2\nNumLt", &mut [], &mut []),
        Some(BlockNum::Bool(true))
    );
    assert_eq!(run("LoadInt 1\nPop", &mut [], &mut []), None);
    // A top-level return: native code stops there, the interpreter finishes.
    assert_eq!(
        run("LoadInt 5\nReturnValue\nLoadInt 6", &mut [], &mut []),
        Some(BlockNum::Int(5))
    );
}

#[test]
fn kinded_entry_refuses_a_run_that_leaves_a_slot_or_result_it_cannot_carry() {
    pin_block_tier(true);
    let jit = JitCompiler::new();
    // fusevm's kinds are Int and Float: a slot left holding a string (or
    // a Bool) is refused, and the caller's slots are left as they were.
    let mut slots = [4, 9];
    let mut kinds = [SlotKind::Int, SlotKind::Int];
    for src in [
        "LoadConst \"s\"\nSetSlot 1\nGetSlot 0",
        "LoadTrue\nSetSlot 1\nGetSlot 0",
    ] {
        assert_eq!(
            jit.try_run_block_typed_kinded(&asm(src), &mut slots, &mut kinds),
            None,
            "{src}"
        );
        assert_eq!((slots, kinds), ([4, 9], [SlotKind::Int, SlotKind::Int]));
    }
    // The same for a result: a string is not Undef.
    assert_eq!(
        jit.try_run_block_typed_kinded(&asm("LoadConst \"s\""), &mut [], &mut []),
        None
    );
    // A slot left a Float is carried.
    let chunk = asm("LoadFloat 0.5\nSetSlot 1\nGetSlot 0");
    assert_eq!(
        jit.try_run_block_typed_kinded(&chunk, &mut slots, &mut kinds),
        Some(BlockNum::Int(4))
    );
    assert_eq!(kinds, [SlotKind::Int, SlotKind::Float]);
    assert_eq!(f64::from_bits(slots[1] as u64), 0.5);
}

#[test]
fn eager_variants_ignore_the_threshold() {
    pin_block_tier(false);
    let jit = JitCompiler::new();
    let chunk = asm("GetSlot 0\nLoadInt 77007\nSub");
    assert_eq!(jit.try_run_block(&chunk, &mut [77010]), None);
    assert_eq!(jit.try_run_block_eager(&chunk, &mut [77010]), Some(3));
    let mut k = [SlotKind::Int];
    assert_eq!(
        jit.try_run_block_eager_kinded(&chunk, &mut [77011], &mut k),
        Some(4)
    );
}

#[test]
fn linear_chunks_are_recognised_and_run() {
    let jit = JitCompiler::new();
    let linear = asm("GetSlot 0\nGetSlot 1\nMul\nLoadInt 1\nAdd");
    assert!(jit.is_linear_eligible(&linear));
    assert_eq!(jit.try_run_linear(&linear, &[6, 7]), Some(Value::Int(43)));
    let looping = asm("head: SlotIncLtIntJumpBack 0 10 head\nGetSlot 0");
    assert!(!jit.is_linear_eligible(&looping));
    assert_eq!(jit.try_run_linear(&looping, &[0]), None);
    assert!(jit.is_block_eligible(&looping));
    // fusevm's shape: the result keeps its kind.
    let float = asm("GetSlot 0\nLoadFloat 0.5\nAdd");
    assert_eq!(jit.try_run_linear(&float, &[2]), Some(Value::Float(2.5)));
}

#[test]
fn a_global_numbered_far_past_the_pool_keeps_the_chunk_out_of_native_code() {
    // Found by the `ops` fuzz target: `ArrayPop 35469` alone made the block
    // tier load and store 35,470 globals, minutes in LLVM's instruction
    // selection. Such a chunk runs interpreted, in either tier's hands.
    let mut b = fusevm_llvm::ChunkBuilder::new();
    b.emit(Op::LoadInt(0), 1);
    b.emit(Op::SetSlot(0), 1);
    b.emit(Op::LoadInt(3), 1); // head
    b.emit(Op::SetVar(30_000), 1);
    b.emit(Op::SlotIncLtIntJumpBack(0, 1000, 2), 1);
    b.emit(Op::GetVar(30_000), 1);
    let chunk = b.build();
    let jit = JitCompiler::new();
    let why = jit.block_ineligibility(&chunk).expect("refused");
    assert!(why.contains("too many globals"), "{why}");
    pin_block_tier(true);
    let runs = jit.block_run_count(&chunk);
    let (r, _) = run_vm(&chunk, true);
    assert_same(&value(r), &Value::Int(3));
    assert_eq!(jit.block_run_count(&chunk), runs);
    let mut cfg = jit.get_config();
    cfg.block_threshold = u32::MAX;
    cfg.trace_threshold = 2;
    jit.set_config(cfg);
    let (r, _) = run_vm(&chunk, true);
    assert_same(&value(r), &Value::Int(3));
    assert!(!jit.trace_is_compiled(&chunk, 2));
    let why = jit.trace_failure(&chunk, 2).unwrap_or_default();
    assert!(why.contains("too many globals"), "{why}");
}

#[test]
fn ops_without_a_lowering_are_named() {
    let jit = JitCompiler::new();
    let c = fusevm_llvm::ChunkBuilder::new();
    let mut c = c;
    c.emit(Op::LoadInt(1), 1);
    // Whole-chunk code never prints (an unwinding call would print twice).
    c.emit(Op::Print(1), 1);
    let why = jit.block_ineligibility(&c.build()).unwrap();
    assert!(why.contains("op 1 `Print"), "{why}");
}
