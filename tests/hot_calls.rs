//! Hot subroutines of chunks the block tier can't take whole run as native
//! code from an interpreted call on. One test function: it reads the
//! process-wide count of native calls, which other tests would move.
#![cfg(feature = "jit")]

mod common;
use common::traced::*;
use common::*;
use fusevm_llvm::{JitCompiler, VMResult, Value};

fn native_calls() -> u64 {
    JitCompiler::stats().native_calls
}

#[test]
fn hot_subroutines_of_printing_chunks_run_natively_and_agree() {
    // fib(27) with its result printed: the chunk stays interpreted, fib
    // goes native once it has been called 4 × 50 times.
    pin(50, |_| {});
    let fib = asm(&printing_fib(27));
    let before = native_calls();
    let (r, vm, out) = agree_with(&fib, &[]);
    assert_same(&value(r), &Value::Int(kernels::fib(27)));
    assert_eq!(out, "196418\n");
    assert_eq!(vm.frames.len(), 1);
    let native = native_calls() - before;
    assert!((1..200).contains(&native), "{native} native calls");

    // Below the threshold nothing runs natively.
    pin(u32::MAX, |_| {});
    let before = native_calls();
    agree_with(&fib, &[]);
    assert_eq!(native_calls(), before);

    // The same function with an Int and then a Float argument: each kind
    // gets its own code, and a Float stays a Float.
    pin(3, |_| {});
    let halves = asm("
        LoadInt 1000
        Call h 1
        LoadFloat 1000.0
        Call h 1
        PrintLn 2
        LoadInt 7
        Call h 1
sub h:                          ; h(x) = x < 1 ? x : h(x / 2) + 1
        SetSlot 0
        GetSlot 0
        LoadInt 1
        NumLt
        JumpIfFalse more
        GetSlot 0
        ReturnValue
more:   GetSlot 0
        LoadInt 2
        Div
        Call h 1
        LoadInt 1
        Add
        ReturnValue");
    let before = native_calls();
    let (r, _, _) = agree_with(&halves, &[]);
    assert!(native_calls() > before);
    assert!(matches!(r, VMResult::Ok(Value::Float(_))), "{r}");

    // Runaway recursion: native code runs out of frames, the interpreter
    // makes the call and reports the limit at the same op.
    pin(3, |_| {});
    let runaway = asm("
        LoadInt 0
        Call down 1
        PrintLn 1
sub down:
        LoadInt 1
        Add
        Call down 1
        ReturnValue");
    let (r, vm, _) = agree_with(&runaway, &[]);
    match r {
        VMResult::Error(e) => assert!(e.message.contains("call depth limit"), "{e}"),
        other => panic!("{other}"),
    }
    assert!(vm.frames.len() > 1);

    // A subroutine that prints stays interpreted (the block tier refuses
    // it) and still agrees.
    let printing = asm("
        LoadInt 3
        Call p 1
        LoadInt 4
        Call p 1
        Add
        ReturnValue
sub p:
        Dup
        PrintLn 1
        LoadInt 1
        Add
        ReturnValue");
    let before = native_calls();
    let (r, _, out) = agree_with(&printing, &[]);
    assert_same(&value(r), &Value::Int(9));
    assert_eq!(out, "3\n4\n");
    assert_eq!(native_calls(), before);
}
