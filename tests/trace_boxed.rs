//! Boxed values in traces: strings flow through traced loops (built,
//! compared, measured, printed, moved between slots, the stack and
//! globals) through runtime helpers, and every result, slot, global and
//! printed byte matches the interpreter. Each test keeps the block tier out
//! and checks the trace compiled and ran.
#![cfg(feature = "jit")]

mod common;
use common::traced::*;
use common::*;
use fusevm_llvm::{JitCompiler, Limits, VM, VMResult, Value};

/// The anchor of the loops below (`head:` after two stores).
const HEAD: usize = 4;

#[test]
fn a_loop_that_concatenates_strings_traces_and_builds_the_same_string() {
    pin(2, |_| {});
    let chunk = asm("
        LoadConst \"\"
        SetSlot 1
        LoadInt 0
        SetSlot 0
head:   GetSlot 0
        LoadInt 200
        NumLt
        JumpIfFalse done
        GetSlot 1
        GetSlot 0
        Concat
        LoadConst \",\"
        Concat
        SetSlot 1
        PreIncSlotVoid 0
        Jump head
done:   GetSlot 1
        StringLen");
    let (r, vm, _) = agree_with(&chunk, &[]);
    let want: String = (0..200).map(|i| format!("{i},")).collect();
    assert_same(&value(r), &Value::Int(want.chars().count() as i64));
    assert_same(&vm.frames[0].slots[1], &Value::str(want));
    assert_traced(&chunk, HEAD);
    // One exit: the loop's end.
    assert_eq!(JitCompiler::new().trace_deopt_count(&chunk, HEAD), 1);
}

#[test]
fn a_loop_printing_concatenated_strings_prints_the_same_text() {
    pin(2, |_| {});
    let chunk = asm("
        LoadConst \"n=\"
        SetSlot 1
        LoadInt 0
        SetSlot 0
head:   GetSlot 0
        LoadInt 50
        NumLt
        JumpIfFalse done
        GetSlot 1
        GetSlot 0
        LoadFloat 0.5
        Mul
        Concat
        PrintLn 1
        PreIncSlotVoid 0
        Jump head
done:   GetSlot 0");
    let (r, _, out) = agree_with(&chunk, &[]);
    assert_same(&value(r), &Value::Int(50));
    assert!(out.starts_with("n=0\nn=0.5\nn=1\n"), "{out}");
    assert!(out.ends_with("n=24.5\n"), "{out}");
    assert_traced(&chunk, HEAD);
}

#[test]
fn string_comparisons_and_lengths_steer_a_traced_loop() {
    pin(2, |_| {});
    // Counts the i whose decimal form sorts before "5" and has length 2,
    // while repeating "ab" i % 3 times into slot 3.
    let chunk = asm("
        LoadInt 0
        SetSlot 1
        LoadInt 0
        SetSlot 0
head:   GetSlot 0
        LoadInt 300
        NumLt
        JumpIfFalse done
        GetSlot 0
        LoadConst \"\"
        Concat
        Dup
        LoadConst \"5\"
        StrLt
        Swap
        StringLen
        LoadInt 2
        NumEq
        LogAnd
        JumpIfFalse skip
        PreIncSlotVoid 1
skip:   LoadConst \"ab\"
        GetSlot 0
        LoadInt 3
        Mod
        StringRepeat
        SetSlot 3
        GetSlot 3
        LoadConst \"ab\"
        StrCmp
        SetSlot 2
        PreIncSlotVoid 0
        Jump head
done:   GetSlot 1");
    let (r, vm, _) = agree_with(&chunk, &[]);
    let want = (0..300)
        .filter(|i| {
            let s = i.to_string();
            s.as_str() < "5" && s.len() == 2
        })
        .count();
    assert_same(&value(r), &Value::Int(want as i64));
    assert_same(&vm.frames[0].slots[3], &Value::str("abab"));
    assert_traced(&chunk, HEAD);
}

#[test]
fn arithmetic_on_a_string_operand_goes_through_the_helper() {
    pin(2, |_| {});
    // "2.5" + i is a Float; the slot holding the string stays a string.
    let chunk = asm("
        LoadInt 0
        SetSlot 1
        LoadInt 0
        SetSlot 0
head:   GetSlot 0
        LoadInt 100
        NumLt
        JumpIfFalse done
        GetSlot 1
        GetSlot 2
        GetSlot 0
        Add
        Add
        SetSlot 1
        GetSlot 2
        LoadInt 1
        Mul
        SetSlot 4
        PreIncSlotVoid 0
        Jump head
done:   GetSlot 1");
    let (r, vm, _) = agree_with(&chunk, &[Value::Undef, Value::Undef, Value::str("2.5")]);
    assert_same(&value(r), &Value::Float(100.0 * 2.5 + 4950.0));
    assert_same(&vm.frames[0].slots[2], &Value::str("2.5"));
    assert_same(&vm.frames[0].slots[4], &Value::Float(2.5));
    assert_traced(&chunk, HEAD);
}

#[test]
fn a_slot_switching_between_string_and_int_keeps_each_kind() {
    pin(2, |_| {});
    // Slot 1 is a string on even iterations and an Int on odd ones; the
    // Add sees both (helper for one, native for the other).
    let chunk = asm("
        LoadInt 0
        SetSlot 2
        LoadInt 0
        SetSlot 0
head:   GetSlot 0
        LoadInt 100
        NumLt
        JumpIfFalse done
        GetSlot 0
        LoadInt 2
        Mod
        JumpIfTrue odd
        LoadConst \"7\"
        SetSlot 1
        Jump join
odd:    GetSlot 0
        SetSlot 1
join:   GetSlot 2
        GetSlot 1
        Add
        SetSlot 2
        PreIncSlotVoid 0
        Jump head
done:   GetSlot 2
        GetSlot 1");
    let (r, vm, _) = agree_with(&chunk, &[]);
    assert_same(&value(r), &Value::Int(99));
    let odd: i64 = (0..100).filter(|i| i % 2 == 1).sum();
    assert_same(
        &vm.frames[0].slots[2],
        &Value::Float(50.0 * 7.0 + odd as f64),
    );
    assert!(JitCompiler::new().trace_is_compiled(&chunk, HEAD));
}

#[test]
fn swap_and_rot_of_strings_keep_every_value_in_place() {
    pin(2, |_| {});
    let chunk = asm("
        LoadConst \"a\"
        SetSlot 1
        LoadInt 0
        SetSlot 0
head:   GetSlot 0
        LoadInt 30
        NumLt
        JumpIfFalse done
        LoadConst \"x\"
        GetSlot 1
        LoadConst \"y\"
        Rot
        Swap
        Concat
        Concat
        SetSlot 1
        PreIncSlotVoid 0
        Jump head
done:   GetSlot 1
        StringLen");
    let (r, vm, _) = agree_with(&chunk, &[]);
    // x a y → (Rot) a y x → (Swap) a x y → "a" . ("x" . "y")
    assert_same(&value(r), &Value::Int(1 + 2 * 30));
    assert_same(
        &vm.frames[0].slots[1],
        &Value::str(format!("a{}", "xy".repeat(30))),
    );
    assert_traced(&chunk, HEAD);
}

#[test]
fn string_globals_flow_through_a_traced_loop() {
    pin(2, |_| {});
    let chunk = asm("
        LoadConst \"\"
        SetVar acc
        LoadInt 0
        SetVar i
head:   GetVar i
        LoadInt 40
        NumLt
        JumpIfFalse done
        GetVar acc
        LoadConst \"-\"
        Concat
        SetVar acc
        GetVar i
        Inc
        SetVar i
        Jump head
done:   GetVar acc");
    let (r, vm, _) = agree_with(&chunk, &[]);
    assert_same(&value(r), &Value::str("-".repeat(40)));
    assert_same(vm.get_global("acc").unwrap(), &Value::str("-".repeat(40)));
    assert_traced(&chunk, HEAD);
}

#[test]
fn a_string_past_the_limit_fails_at_the_same_op_as_the_interpreter() {
    pin(2, |_| {});
    let chunk = asm("
        LoadConst \"\"
        SetSlot 1
        LoadInt 0
        SetSlot 0
head:   GetSlot 0
        LoadInt 1000
        NumLt
        JumpIfFalse done
        GetSlot 1
        LoadConst \"abcd\"
        Concat
        SetSlot 1
        PreIncSlotVoid 0
        Jump head
done:   GetSlot 1");
    let run = |jit: bool| {
        let mut vm = VM::new(chunk.clone());
        vm.set_limits(Limits {
            max_string_len: 400,
            ..Limits::default()
        });
        if jit {
            vm.enable_tracing_jit();
        }
        let r = vm.run();
        (r, vm)
    };
    let (want, ivm) = run(false);
    let (got, nvm) = run(true);
    let VMResult::Error(e) = &got else {
        panic!("{got}")
    };
    assert_eq!(e.ip, Some(10), "{e}");
    assert!(got.same_as(&want), "{got} vs {want}");
    assert_same_vm_state(&nvm, &ivm);
    assert_traced(&chunk, HEAD);
}

#[test]
fn a_string_argument_flows_into_an_inlined_callee() {
    pin(2, |_| {});
    // `twice(x)` gets a string on every third iteration: the inlined
    // callee's `Mul` takes it through the value helper ("1.5" * 2 = 3.0).
    let chunk = asm("
        LoadInt 0
        SetSlot 1
        LoadInt 0
        SetSlot 0
head:   GetSlot 0
        LoadInt 60
        NumLt
        JumpIfFalse done
        GetSlot 0
        SetSlot 2
        GetSlot 0
        LoadInt 3
        Mod
        JumpIfTrue call
        LoadConst \"1.5\"
        SetSlot 2
call:   GetSlot 1
        GetSlot 2
        Call twice 1
        Add
        SetSlot 1
        PreIncSlotVoid 0
        Jump head
done:   GetSlot 1
        ReturnValue
sub twice:
        LoadInt 2
        Mul
        ReturnValue");
    let (r, _, _) = agree_with(&chunk, &[]);
    let want: f64 = (0..60)
        .map(|i| if i % 3 == 0 { 3.0 } else { 2.0 * i as f64 })
        .sum();
    assert_same(&value(r), &Value::Float(want));
    let jit = JitCompiler::new();
    assert!(
        jit.trace_is_compiled(&chunk, HEAD),
        "{:?}",
        jit.trace_failure(&chunk, HEAD)
    );
    assert!(jit.trace_side_exit_count(&chunk, HEAD) > 0);
}

#[test]
fn a_loop_filling_and_summing_a_global_array_traces() {
    pin(2, |_| {});
    // Pushes i*i for i < 500, then sums the array by index in a second loop.
    let chunk = asm("
        DeclareArray sq
        LoadInt 0
        SetSlot 0
        Nop
head:   GetSlot 0
        LoadInt 500
        NumLt
        JumpIfFalse sum
        GetSlot 0
        GetSlot 0
        Mul
        ArrayPush sq
        PreIncSlotVoid 0
        Jump head
sum:    LoadInt 0
        SetSlot 1
        LoadInt 0
        SetSlot 0
next:   GetSlot 0
        ArrayLen sq
        NumLt
        JumpIfFalse done
        GetSlot 1
        GetSlot 0
        ArrayGet sq
        Add
        SetSlot 1
        PreIncSlotVoid 0
        Jump next
done:   GetSlot 1");
    let (r, vm, _) = agree_with(&chunk, &[]);
    let want: i64 = (0..500).map(|i| i * i).sum();
    assert_same(&value(r), &Value::Int(want));
    let Value::Array(a) = vm.get_global("sq").unwrap() else {
        panic!()
    };
    assert_eq!(a.len(), 500);
    assert_traced(&chunk, HEAD);
    assert_traced(&chunk, 18);
}

#[test]
fn a_sieve_over_a_global_array_traces_and_counts_the_primes() {
    pin(2, |_| {});
    let chunk = asm(&std::fs::read_to_string(format!(
        "{}/examples/sieve.fasm",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap());
    let (r, _, _) = agree_with(&chunk, &[]);
    assert_same(&value(r), &Value::Int(kernels::sieve(10_000)));
    // The fill loop, and the loop striking out multiples.
    assert_traced(&chunk, 5);
    assert_traced(&chunk, 29);
}

#[test]
fn hash_updates_in_a_traced_loop_match_the_interpreter() {
    pin(2, |_| {});
    // Counts i % 7 into a hash keyed by the remainder's string form.
    let chunk = asm("
        DeclareHash counts
        LoadInt 0
        SetSlot 0
        Nop
head:   GetSlot 0
        LoadInt 700
        NumLt
        JumpIfFalse done
        GetSlot 0
        LoadInt 7
        Mod
        HashGet counts
        Inc
        GetSlot 0
        LoadInt 7
        Mod
        HashSet counts
        PreIncSlotVoid 0
        Jump head
done:   LoadInt 3
        HashExists counts
        LoadInt 3
        HashGet counts
        PrintLn 2
        GetHash counts");
    let (r, _, out) = agree_with(&chunk, &[]);
    assert_eq!(out, "1100\n");
    let Value::Hash(h) = value(r) else { panic!() };
    assert_eq!(h.len(), 7);
    assert_traced(&chunk, HEAD);
}

#[test]
fn a_container_op_on_a_global_that_is_not_a_container_fails_like_the_interpreter() {
    pin(2, |_| {});
    // `sq` becomes a string on iteration 50: ArrayPush then fails there.
    let chunk = asm("
        DeclareArray sq
        LoadInt 0
        SetSlot 0
        Nop
head:   GetSlot 0
        LoadInt 100
        NumLt
        JumpIfFalse done
        GetSlot 0
        LoadInt 50
        NumEq
        JumpIfFalse push
        LoadConst \"oops\"
        SetVar sq
push:   GetSlot 0
        ArrayPush sq
        PreIncSlotVoid 0
        Jump head
done:   GetSlot 0");
    let (r, _, _) = agree_with(&chunk, &[]);
    let VMResult::Error(e) = r else { panic!("{r}") };
    assert_eq!(e.ip, Some(15), "{e}");
    assert_traced(&chunk, HEAD);
}
