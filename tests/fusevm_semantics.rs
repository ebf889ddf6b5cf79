//! Where fusevm's behaviour on valid programs is ours too, in every tier
//! that runs the op: `MakeHash k` takes `k` stack values (k/2 pairs),
//! `StringLen` counts bytes (and elements of a container), `PopFrame`
//! drops the values its scope left on the stack.
#![cfg(feature = "jit")]

mod common;
use common::traced::{agree_with, asm, pin};
use common::{assert_block_agrees, assert_same, run_vm};
use fusevm_llvm::{JitCompiler, Value, assemble};

fn int(n: i64) -> Value {
    Value::Int(n)
}

/// The interpreter's result for `src`.
fn interpreted(src: &str) -> Value {
    match run_vm(&assemble(src).unwrap(), false).0 {
        fusevm_llvm::VMResult::Ok(v) => v,
        other => panic!("{other:?}\n{src}"),
    }
}

// ── MakeHash ──

#[test]
fn make_hash_takes_k_values_as_key_value_pairs() {
    let h = interpreted(
        r#"LoadConst "a"
        LoadInt 1
        LoadConst "b"
        LoadFloat 2.5
        MakeHash 4"#,
    );
    assert_same(&h, &Value::hash([("a", int(1)), ("b", Value::Float(2.5))]));
    // An odd count: the last key has no value and is dropped; the value
    // below the k taken stays.
    let v = interpreted(
        r#"LoadInt 7
        LoadConst "a"
        LoadInt 1
        LoadConst "lone"
        MakeHash 3
        Pop"#,
    );
    assert_same(&v, &int(7));
    let one = interpreted("LoadConst \"a\"\nLoadInt 1\nLoadConst \"z\"\nMakeHash 3");
    assert_same(&one, &Value::hash([("a", int(1))]));
}

#[test]
fn make_hash_in_a_traced_loop_agrees() {
    pin(2, |_| {});
    let chunk = asm(r#"
        LoadInt 0
        SetSlot 0
        LoadInt 0
        SetSlot 1
head:   GetSlot 0
        LoadInt 200
        NumLt
        JumpIfFalse done
        LoadConst "k"
        GetSlot 0
        LoadConst "j"
        LoadInt 2
        MakeHash 4
        StringLen
        GetSlot 1
        Add
        SetSlot 1
        PreIncSlotVoid 0
        Jump head
done:   GetSlot 1
        PrintLn 1
        GetSlot 1"#);
    let (r, _, out) = agree_with(&chunk, &[]);
    assert_same(&value(r), &int(400));
    assert_eq!(out, "400\n");
}

// ── StringLen ──

#[test]
fn string_len_counts_bytes_and_container_elements() {
    assert_same(&interpreted("LoadConst \"héllo\"\nStringLen"), &int(6));
    assert_same(&interpreted("LoadConst \"\"\nStringLen"), &int(0));
    assert_same(&interpreted("LoadInt -42\nStringLen"), &int(3));
    assert_same(&interpreted("LoadFloat 0.5\nStringLen"), &int(3));
    assert_same(
        &interpreted("LoadInt 1\nLoadInt 2\nLoadInt 3\nMakeArray 3\nStringLen"),
        &int(3),
    );
}

#[test]
fn the_block_tier_leaves_string_len_to_the_interpreter() {
    // No native lowering of its own: the chunk runs interpreted, with the
    // interpreter's answer (traces run it through the value helper, below).
    common::pin_block_tier(true);
    let chunk = asm("LoadInt -4200\nStringLen");
    let (got, _) = run_vm(&chunk, true);
    assert!(got.same_as(&fusevm_llvm::VMResult::Ok(int(5))), "{got:?}");
    let why = JitCompiler::new().block_failure(&chunk).unwrap_or_default();
    assert!(why.contains("StringLen"), "{why}");
}

#[test]
fn string_len_in_a_traced_loop_counts_bytes() {
    pin(2, |_| {});
    let chunk = asm(r#"
        LoadInt 0
        SetSlot 0
        LoadInt 0
        SetSlot 1
head:   GetSlot 0
        LoadInt 300
        NumLt
        JumpIfFalse done
        LoadConst "héllo"
        StringLen
        GetSlot 1
        Add
        SetSlot 1
        PreIncSlotVoid 0
        Jump head
done:   GetSlot 1
        PrintLn 1
        GetSlot 1"#);
    let (r, _, _) = agree_with(&chunk, &[]);
    assert_same(&value(r), &int(1800));
    assert!(JitCompiler::new().trace_is_compiled(&chunk, 4));
}

// ── PopFrame ──

#[test]
fn pop_frame_drops_what_its_scope_left_on_the_stack() {
    let v = interpreted("LoadInt 100\nPushFrame\nLoadInt 50\nPopFrame");
    assert_same(&v, &int(100));
    let (_, vm) = run_vm(
        &asm("LoadInt 100\nPushFrame\nLoadInt 50\nLoadInt 60\nPopFrame"),
        false,
    );
    assert_eq!(vm.stack.len(), 1);
    // The stack is cut at the depth the scope opened with, even if the
    // scope popped below it meanwhile: [1, 2] → [1] → [1, 9, 8] → [1, 9].
    let v = interpreted("LoadInt 1\nLoadInt 2\nPushFrame\nPop\nLoadInt 9\nLoadInt 8\nPopFrame");
    assert_same(&v, &int(9));
}

#[test]
fn pop_frame_drops_the_scopes_values_in_the_block_tier() {
    assert_block_agrees(&asm(
        "LoadInt 100\nPushFrame\nLoadInt 50\nLoadInt 60\nPopFrame",
    ));
    assert_block_agrees(&asm(
        "LoadInt 1\nLoadInt 2\nPushFrame\nPop\nLoadInt 9\nLoadInt 8\nPopFrame",
    ));
    assert_block_agrees(&asm(
        "LoadInt 3\nSetSlot 0\nLoadInt 7\nPushFrame\nGetSlot 0\nLoadInt 1\nSetSlot 0\nPopFrame\nGetSlot 0\nAdd",
    ));
}

#[test]
fn pop_frame_in_a_traced_loop_drops_the_scopes_values() {
    pin(2, |_| {});
    // Each iteration pushes i, opens a scope, leaves i*i in it, closes it:
    // only i stays, and is added.
    let chunk = asm("
        LoadInt 0
        SetSlot 0
        LoadInt 0
        SetSlot 1
head:   GetSlot 0
        LoadInt 500
        NumLt
        JumpIfFalse done
        GetSlot 0
        PushFrame
        LoadInt 3
        SetSlot 0
        GetSlot 0
        GetSlot 0
        Mul
        PopFrame
        GetSlot 1
        Add
        SetSlot 1
        PreIncSlotVoid 0
        Jump head
done:   GetSlot 1
        PrintLn 1
        GetSlot 1");
    let (r, vm, _) = agree_with(&chunk, &[]);
    let want: i64 = (0..500).sum();
    assert_same(&value(r), &int(want));
    assert_eq!(vm.frames.len(), 1);
    assert!(JitCompiler::new().trace_is_compiled(&chunk, 4));
}

fn value(r: fusevm_llvm::VMResult) -> Value {
    match r {
        fusevm_llvm::VMResult::Ok(v) => v,
        other => panic!("{other:?}"),
    }
}
