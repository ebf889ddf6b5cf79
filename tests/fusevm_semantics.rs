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
fn make_hash_in_a_traced_loop_runs_through_the_value_helper() {
    pin(2, |_| {});
    let chunk = summing_loop(
        200,
        "LoadConst \"k\"\nGetSlot 0\nLoadConst \"j\"\nLoadInt 2\nMakeHash 4\nStringLen",
    );
    let (r, _, out) = agree_with(&chunk, &[]);
    assert_same(&value(r), &int(400));
    assert_eq!(out, "400\n");
    // The trace makes the hash through the interpreter's own code.
    assert!(JitCompiler::new().trace_is_compiled(&chunk, HEAD));
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
fn the_block_tier_runs_string_len_through_the_value_helper() {
    // No native lowering of its own: whole-chunk code hands it to the
    // interpreter's code, with the interpreter's answer.
    common::pin_block_tier(true);
    let chunk = asm("LoadInt -4200\nStringLen");
    let (got, _) = run_vm(&chunk, true);
    assert!(got.same_as(&fusevm_llvm::VMResult::Ok(int(5))), "{got:?}");
    assert!(JitCompiler::new().block_jit_is_compiled(&chunk));
}

#[test]
fn string_len_in_a_traced_loop_counts_bytes() {
    pin(2, |_| {});
    let chunk = summing_loop(300, "LoadConst \"héllo\"\nStringLen");
    let (r, _, _) = agree_with(&chunk, &[]);
    assert_same(&value(r), &int(1800));
    assert!(JitCompiler::new().trace_is_compiled(&chunk, HEAD));
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
    // Each iteration pushes i, opens a scope, leaves 3*3 in it and closes
    // it: only i stays, and is added.
    let chunk = summing_loop(
        500,
        "GetSlot 0\nPushFrame\nLoadInt 3\nSetSlot 0\nGetSlot 0\nGetSlot 0\nMul\nPopFrame",
    );
    let (r, vm, _) = agree_with(&chunk, &[]);
    assert_same(&value(r), &int((0..500).sum()));
    assert_eq!(vm.frames.len(), 1);
    assert!(JitCompiler::new().trace_is_compiled(&chunk, HEAD));
}

/// The loop header of [`summing_loop`].
const HEAD: usize = 4;

/// `for i in 0..n { acc += body }` (`body` leaves one value; slot 0 is i,
/// slot 1 the sum), then prints and returns the sum. It prints, so the
/// block tier refuses it and only traces make it native.
fn summing_loop(n: i64, body: &str) -> fusevm_llvm::Chunk {
    asm(&format!(
        "
        LoadInt 0
        SetSlot 0
        LoadInt 0
        SetSlot 1
head:   GetSlot 0
        LoadInt {n}
        NumLt
        JumpIfFalse done
{body}
        GetSlot 1
        Add
        SetSlot 1
        PreIncSlotVoid 0
        Jump head
done:   GetSlot 1
        PrintLn 1
        GetSlot 1"
    ))
}

fn value(r: fusevm_llvm::VMResult) -> Value {
    match r {
        fusevm_llvm::VMResult::Ok(v) => v,
        other => panic!("{other:?}"),
    }
}

// ── reserved higher-order ops ──

#[test]
fn fusevms_higher_order_block_ops_do_nothing_in_every_tier() {
    let ops = "MapBlock 0\nGrepBlock 1\nSortBlock 2\nSortDefault\nForEachBlock 3";
    assert_eq!(interpreted(&format!("LoadInt 42\n{ops}")), int(42));
    assert_block_agrees(&asm(&format!("GetSlot 0\nLoadInt 42\nAdd\n{ops}")));
    pin(2, |_| {});
    let chunk = summing_loop(300, &format!("GetSlot 0\n{ops}"));
    let (r, _, _) = agree_with(&chunk, &[]);
    assert_same(&value(r), &int((0..300).sum()));
    assert!(JitCompiler::new().trace_is_compiled(&chunk, HEAD));
}

// ── fusevm's API names ──

#[test]
fn fusevm_module_paths_and_accessors_work_as_there() {
    use fusevm_llvm::chunk::{Chunk, ChunkBuilder};
    use fusevm_llvm::jit::{JitCompiler as Jit, TraceJitConfig as Config};
    use fusevm_llvm::op::Op;
    use fusevm_llvm::value::Value as V;
    use fusevm_llvm::vm::{VM, VMResult};
    let _ = (Jit::new(), Config::defaults());
    assert_eq!(Chunk::new().len(), 0);
    assert_eq!(Chunk::default().content_hash(), Chunk::new().content_hash());
    let mut b = ChunkBuilder::new();
    let f = b.add_name("f");
    b.emit(Op::Call(f, 0), 1);
    b.emit(Op::Jump(3), 1);
    b.add_sub_entry(f, 2);
    b.emit(Op::ReturnValue, 1);
    let c = b.build();
    assert_eq!(c.find_sub(f), Some(2));
    assert_eq!(c.find_sub(f + 1), None);
    // Errors read as their message.
    let mut b = ChunkBuilder::new();
    b.emit(Op::LoadInt(1), 1);
    b.emit(Op::Jump(9), 1);
    let VMResult::Error(e) = VM::new(b.build()).run() else {
        panic!("a jump past the end is an error");
    };
    assert!(e.contains("past the end"), "{e}");
    assert!(e == *e.message.as_str());
    assert_eq!(e.ip, Some(1));
    // Values.
    assert_eq!(V::str("héllo").len(), 6);
    assert!(V::str("").is_empty() && V::Undef.is_empty());
    assert_eq!(V::Int(-12).len(), 3);
    assert_eq!(V::str("x").as_str_cow(), "x");
    assert_eq!(V::Float(0.5).as_str_cow(), "0.5");
    let mut a = V::array(vec![V::Int(1), V::Int(2)]);
    let shared = a.clone();
    a.array_mut().unwrap().push(V::Int(3));
    assert_eq!(a.as_array().map(|a| a.len()), Some(3));
    assert_eq!(shared.as_array().map(|a| a.len()), Some(2), "copy on write");
    assert_eq!(shared.into_array(), Some(vec![V::Int(1), V::Int(2)]));
    assert_eq!(V::Int(1).as_array(), None);
}

#[test]
fn equal_values_hash_alike_and_deep_ones_hash_without_recursion() {
    use std::hash::{BuildHasher, RandomState};
    let s = RandomState::new();
    let h = |v: &Value| s.hash_one(v);
    assert_eq!(h(&Value::Float(0.0)), h(&Value::Float(-0.0)));
    assert_eq!(Value::Float(0.0), Value::Float(-0.0));
    let a = Value::array(vec![Value::str("k"), Value::hash([("x", int(1))])]);
    assert_eq!(h(&a), h(&a.clone()));
    assert_ne!(h(&Value::Int(1)), h(&Value::Int(2)));
    let mut deep = Value::Int(0);
    for _ in 0..200_000 {
        deep = Value::array(vec![deep]);
    }
    let _ = h(&deep);
}

// ── globals past the name pool ──

#[test]
fn globals_may_be_numbered_past_the_name_pool_in_every_tier() {
    use fusevm_llvm::{ChunkBuilder, Op};
    // fusevm frontends may number globals without naming them: GetVar 3
    // with an empty pool is global 3.
    let mut b = ChunkBuilder::new();
    b.emit(Op::LoadInt(0), 1);
    b.emit(Op::SetVar(3), 1);
    b.emit(Op::LoadInt(0), 1);
    b.emit(Op::SetSlot(0), 1);
    let head = b.emit(Op::GetSlot(0), 1);
    b.emit(Op::LoadInt(300), 1);
    b.emit(Op::NumLt, 1);
    let exit = b.emit(Op::JumpIfFalse(0), 1);
    b.emit(Op::GetVar(3), 1);
    b.emit(Op::GetSlot(0), 1);
    b.emit(Op::Add, 1);
    b.emit(Op::SetVar(3), 1);
    b.emit(Op::PreIncSlotVoid(0), 1);
    b.emit(Op::Jump(head), 1);
    let done = b.emit(Op::GetVar(3), 1);
    b.patch_jump(exit, done);
    let chunk = b.build();
    assert_eq!(chunk.names().len(), 0);
    assert_eq!(chunk.global_count(), 4);
    let (r, vm) = run_vm(&chunk, false);
    assert!(
        r.same_as(&fusevm_llvm::VMResult::Ok(int((0..300).sum()))),
        "{r:?}"
    );
    assert_eq!(vm.globals().len(), 4);
    assert_block_agrees(&chunk);
    pin(2, |_| {});
    let (r, _, _) = agree_with(&chunk, &[]);
    assert_same(&value(r), &int((0..300).sum()));
    assert!(JitCompiler::new().trace_is_compiled(&chunk, head));
    // A call still needs a named sub entry.
    let mut b = ChunkBuilder::new();
    b.emit(Op::Call(5, 0), 1);
    assert!(fusevm_llvm::verify(&b.build()).is_err());
}
