//! Arrays in traces: loops over global arrays written as plain bytecode
//! read and write unboxed elements in place (no value-helper call per
//! element), and every result, slot, global and error matches the
//! interpreter: copies stay copies, strategy changes and out-of-range
//! accesses leave the fast path exactly. Each test keeps the block tier out
//! and checks the trace compiled and ran; tests here run one at a time (the
//! helper counters are process-wide).
#![cfg(feature = "jit")]

mod common;
use common::traced::*;
use common::*;
use fusevm_llvm::{JitCompiler, Limits, VM, VMResult, Value};
use std::sync::Mutex;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The anchor of the loops below (`head:` after two stores).
const HEAD: usize = 4;

/// A program that fills global `a` with `i * 3` for `i` in `0..n` (a
/// do-while loop anchored at op 4), then runs `rest`, which starts at op 16.
fn filled(n: i64, rest: &str) -> String {
    format!(
        "       DeclareArray a
                LoadInt 0
                SetSlot 0
                Nop
        fill:   GetSlot 0
                LoadInt 3
                Mul
                ArrayPush a
                GetSlot 0
                LoadInt 1
                Add
                SetSlot 0
                GetSlot 0
                LoadInt {n}
                NumLt
                JumpIfTrue fill
{rest}"
    )
}

#[test]
fn a_plain_sieve_traces_and_touches_elements_without_the_value_helper() {
    let _one = ONE_AT_A_TIME.lock().unwrap();
    pin(2, |_| {});
    let n = 20_000;
    let chunk = asm("       DeclareArray composite
                LoadInt 0
                SetSlot 1
                Nop
        head:   GetSlot 1
                GetSlot 0
                NumLt
                JumpIfFalse sieve
                LoadFalse
                ArrayPush composite
                GetSlot 1
                LoadInt 1
                Add
                SetSlot 1
                Jump head
        sieve:  LoadInt 2
                SetSlot 1
                LoadInt 0
                SetSlot 3
        outer:  GetSlot 1
                GetSlot 0
                NumLt
                JumpIfFalse done
                GetSlot 1
                ArrayGet composite
                JumpIfTrue skip
                GetSlot 3
                LoadInt 1
                Add
                SetSlot 3
                GetSlot 1
                GetSlot 1
                Mul
                SetSlot 2
        inner:  GetSlot 2
                GetSlot 0
                NumLt
                JumpIfFalse skip
                LoadTrue
                GetSlot 2
                ArraySet composite
                GetSlot 2
                GetSlot 1
                Add
                SetSlot 2
                Jump inner
        skip:   GetSlot 1
                LoadInt 1
                Add
                SetSlot 1
                Jump outer
        done:   GetSlot 3");
    let before = JitCompiler::stats();
    let (r, vm, _) = agree_with(&chunk, &[Value::Int(n)]);
    let after = JitCompiler::stats();
    assert_same(&value(r), &Value::Int(2262)); // primes below 20,000
    assert_traced(&chunk, HEAD);
    let Some(Value::Array(a)) = vm.get_global("composite") else {
        panic!("composite is an array")
    };
    assert_eq!(a.len(), n as usize);
    assert_eq!(a.strategy(), fusevm_llvm::value::Strategy::Bool);
    // n pushes and ~2.5n reads and writes: a handful of helper calls and
    // views, not one per element.
    let calls = after.value_helper_calls - before.value_helper_calls;
    let views = after.array_views - before.array_views;
    assert!(calls < 100, "{calls} value-helper calls");
    assert!(views > 0 && views < 2_000, "{views} views");
}

#[test]
fn a_copy_of_an_array_written_in_a_hot_loop_keeps_its_elements() {
    let _one = ONE_AT_A_TIME.lock().unwrap();
    pin(2, |_| {});
    let chunk = asm(&filled(
        300,
        "               GetArray a
                SetArray b
                LoadInt 0
                SetSlot 0
        write:  GetSlot 0
                LoadInt 300
                NumLt
                JumpIfFalse done
                LoadInt -1
                GetSlot 0
                ArraySet a
                GetSlot 0
                LoadInt 1
                Add
                SetSlot 0
                Jump write
        done:   LoadInt 299
                ArrayGet b
                LoadInt 299
                ArrayGet a
                Add",
    ));
    let (r, vm, _) = agree_with(&chunk, &[]);
    assert_same(&value(r), &Value::Int(299 * 3 - 1));
    assert_traced(&chunk, HEAD);
    assert_traced(&chunk, 20);
    let b = vm.get_global("b").unwrap();
    assert_same(
        b,
        &Value::array((0..300).map(|i| Value::Int(i * 3)).collect()),
    );
}

#[test]
fn an_array_changing_strategy_mid_loop_leaves_the_trace_and_keeps_every_value() {
    let _one = ONE_AT_A_TIME.lock().unwrap();
    pin(2, |_| {});
    // Element 150 becomes -0.0: the array turns general mid-loop; the sum
    // after it is a Float, and every element keeps its kind.
    let chunk = asm(&filled(
        300,
        "               LoadInt 0
                SetSlot 0
                LoadInt 0
                SetSlot 1
        sum:    GetSlot 0
                LoadInt 300
                NumLt
                JumpIfFalse done
                GetSlot 0
                LoadInt 150
                NumEq
                JumpIfFalse read
                LoadFloat -0.0
                GetSlot 0
                ArraySet a
        read:   GetSlot 1
                GetSlot 0
                ArrayGet a
                Add
                SetSlot 1
                GetSlot 0
                LoadInt 1
                Add
                SetSlot 0
                Jump sum
        done:   GetSlot 1",
    ));
    let (r, vm, _) = agree_with(&chunk, &[]);
    let want = (0..300).filter(|&i| i != 150).map(|i| i * 3).sum::<i64>() as f64;
    assert_same(&value(r), &Value::Float(want));
    assert_traced(&chunk, HEAD);
    assert_traced(&chunk, 20);
    let Some(Value::Array(a)) = vm.get_global("a") else {
        panic!("a is an array")
    };
    assert_eq!(a.strategy(), fusevm_llvm::value::Strategy::Any);
    assert_same(&a.get(150).unwrap(), &Value::Float(-0.0));
    assert_same(&a.get(151).unwrap(), &Value::Int(453));
}

#[test]
fn negative_and_out_of_range_indices_read_and_write_as_interpreted() {
    let _one = ONE_AT_A_TIME.lock().unwrap();
    pin(2, |_| {});
    // Indices -5..295 of a 300-element array: negative ones count from the
    // end; then writes at 300..310 grow the array (the first ones past the
    // end, then with undef gaps).
    let chunk = asm(&filled(
        300,
        "               LoadInt -5
                SetSlot 0
                LoadInt 0
                SetSlot 1
        sum:    GetSlot 0
                LoadInt 295
                NumLt
                JumpIfFalse grow
                GetSlot 1
                GetSlot 0
                ArrayGet a
                Add
                SetSlot 1
                GetSlot 0
                GetSlot 0
                ArraySet a
                GetSlot 0
                LoadInt 1
                Add
                SetSlot 0
                Jump sum
        grow:   LoadInt 300
                SetSlot 0
        more:   GetSlot 0
                GetSlot 0
                LoadInt 2
                Mul
                LoadInt 300
                Sub
                ArraySet a
                GetSlot 0
                LoadInt 4
                Add
                SetSlot 0
                GetSlot 0
                LoadInt 340
                NumLt
                JumpIfTrue more
                GetSlot 1",
    ));
    let (r, vm, _) = agree_with(&chunk, &[]);
    let Value::Int(_) = value(r) else {
        panic!("an Int sum")
    };
    assert_traced(&chunk, HEAD);
    assert_traced(&chunk, 20);
    let Some(Value::Array(a)) = vm.get_global("a") else {
        panic!("a is an array")
    };
    assert_eq!(a.len(), 373); // last write at 336 * 2 - 300
    assert_same(&a.get(301).unwrap(), &Value::Undef);
}

#[test]
fn a_push_past_the_collection_limit_fails_at_the_same_op_as_interpreted() {
    let _one = ONE_AT_A_TIME.lock().unwrap();
    pin(2, |_| {});
    let chunk = asm(&filled(5_000, "               ArrayLen a"));
    let run = |jit: bool| {
        let mut vm = VM::new(chunk.clone());
        vm.set_limits(Limits {
            max_collection_len: 3_000,
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
    assert!(got.same_as(&want), "traced {got} vs interpreted {want}");
    assert_eq!(e.ip, Some(7), "the ArrayPush");
    assert_same_vm_state(&nvm, &ivm);
    assert_traced(&chunk, HEAD);
    let Some(Value::Array(a)) = nvm.get_global("a") else {
        panic!("a is an array")
    };
    assert_eq!(a.len(), 3_000);
}

#[test]
fn float_arrays_keep_negative_zero_and_nan_through_traced_loops() {
    let _one = ONE_AT_A_TIME.lock().unwrap();
    pin(2, |_| {});
    // b[i] = a[i] * -0.0 for Floats a (so every element is ±0.0), then
    // one NaN; the result is b's last element and the NaN read back.
    let chunk = asm("
        DeclareArray a
        DeclareArray b
        LoadInt 0
        SetSlot 0
head:   GetSlot 0
        LoadInt 200
        NumLt
        JumpIfFalse done
        GetSlot 0
        LoadFloat 0.5
        Mul
        LoadFloat -1.0
        Add
        ArrayPush a
        GetSlot 0
        ArrayGet a
        LoadFloat -0.0
        Mul
        ArrayPush b
        GetSlot 0
        LoadInt 1
        Add
        SetSlot 0
        Jump head
done:   LoadFloat -1.0
        SqrtFloat
        LoadInt 7
        ArraySet b
        LoadInt 1
        ArrayGet b
        LoadInt 7
        ArrayGet b
        Add");
    let (r, vm, _) = agree_with(&chunk, &[]);
    assert!(matches!(value(r), Value::Float(x) if x.is_nan()));
    assert_traced(&chunk, 4);
    let Some(Value::Array(b)) = vm.get_global("b") else {
        panic!("b is an array")
    };
    assert_eq!(b.strategy(), fusevm_llvm::value::Strategy::Float);
    assert_same(&b.get(0).unwrap(), &Value::Float(0.0)); // -1.0 * -0.0
    assert_same(&b.get(199).unwrap(), &Value::Float(-0.0));
}

#[test]
fn the_matmul_kernels_traced_give_native_rusts_answer() {
    let _one = ONE_AT_A_TIME.lock().unwrap();
    pin(2, |_| {});
    for file in ["matmul", "plain/matmul_dowhile"] {
        let path = format!("{}/benches/kernels/{file}.fasm", env!("CARGO_MANIFEST_DIR"));
        let chunk = asm(&std::fs::read_to_string(path).unwrap());
        let before = JitCompiler::stats();
        let (r, _, _) = agree_with(&chunk, &[Value::Int(24)]);
        let after = JitCompiler::stats();
        assert_same(&value(r), &Value::Float(kernels::matmul(24)));
        assert!(after.trace_compiled > before.trace_compiled, "{file}");
        let calls = after.value_helper_calls - before.value_helper_calls;
        assert!(calls < 50, "{file}: {calls} value-helper calls");
        JitCompiler::new().evict(&chunk);
    }
}

#[test]
fn element_kinds_travel_with_exported_traces() {
    let _one = ONE_AT_A_TIME.lock().unwrap();
    pin(2, |_| {});
    let path = format!("{}/benches/kernels/matmul.fasm", env!("CARGO_MANIFEST_DIR"));
    let chunk = asm(&std::fs::read_to_string(path).unwrap());
    agree_with(&chunk, &[Value::Int(10)]);
    let jit = JitCompiler::new();
    let metas = jit.trace_export_all(&chunk);
    let float = 3; // Float's native tag, as in `slot_kinds`
    let specialised = metas
        .iter()
        .flat_map(|m| &m.path)
        .filter(|s| s.seen == Some(float))
        .count();
    assert!(specialised >= 2, "a[..] and b[..] read Floats: {metas:?}");
    let json = serde_json::to_string(&metas).unwrap();
    assert!(jit.evict(&chunk));
    let chunk2 = chunk.clone();
    std::thread::spawn(move || {
        pin(u32::MAX, |_| {});
        let jit = JitCompiler::new();
        let metas: Vec<fusevm_llvm::TraceMetadata> = serde_json::from_str(&json).unwrap();
        assert_eq!(jit.trace_import_all(&chunk2, &metas), metas.len());
        assert_eq!(jit.trace_export_all(&chunk2), metas, "same specialisation");
        let (r, _, _) = agree_with(&chunk2, &[Value::Int(10)]);
        assert_same(&value(r), &Value::Float(kernels::matmul(10)));
    })
    .join()
    .unwrap();
    JitCompiler::new().evict(&chunk); // the next test compiles afresh
}

/// A sieve of `n` over the array in slot 4 (a frontend's local), filled by
/// `SlotArraySet` one past its end; the loops are top-tested, the first
/// anchored at op 4.
fn slot_sieve(n: i64) -> String {
    format!(
        "       MakeArray 0
                SetSlot 4
                LoadInt 0
                SetSlot 1
        fill:   GetSlot 1
                LoadInt {n}
                NumLt
                JumpIfFalse sieve
                LoadFalse
                GetSlot 1
                SlotArraySet 4
                GetSlot 1
                LoadInt 1
                Add
                SetSlot 1
                Jump fill
        sieve:  LoadInt 2
                SetSlot 1
                LoadInt 0
                SetSlot 3
        outer:  GetSlot 1
                LoadInt {n}
                NumLt
                JumpIfFalse done
                GetSlot 1
                SlotArrayGet 4
                JumpIfTrue skip
                GetSlot 3
                LoadInt 1
                Add
                SetSlot 3
                GetSlot 1
                GetSlot 1
                Mul
                SetSlot 2
        inner:  GetSlot 2
                LoadInt {n}
                NumLt
                JumpIfFalse skip
                LoadTrue
                GetSlot 2
                SlotArraySet 4
                GetSlot 2
                GetSlot 1
                Add
                SetSlot 2
                Jump inner
        skip:   GetSlot 1
                LoadInt 1
                Add
                SetSlot 1
                Jump outer
        done:   GetSlot 3"
    )
}

#[test]
fn a_sieve_over_a_slot_array_traces_and_touches_elements_in_place() {
    let _one = ONE_AT_A_TIME.lock().unwrap();
    pin(2, |_| {});
    let chunk = asm(&slot_sieve(20_000));
    let before = JitCompiler::stats();
    let (r, vm, _) = agree_with(&chunk, &[]);
    let after = JitCompiler::stats();
    assert_same(&value(r), &Value::Int(2262));
    assert_traced(&chunk, HEAD);
    let Value::Array(a) = vm.get_slot(4) else {
        panic!("slot 4 holds an array")
    };
    assert_eq!(a.len(), 20_000);
    assert_eq!(a.strategy(), fusevm_llvm::value::Strategy::Bool);
    // The fill is 20,000 sets one past the end: pushes in place.
    let calls = after.value_helper_calls - before.value_helper_calls;
    let views = after.array_views - before.array_views;
    assert!(calls < 100, "{calls} value-helper calls");
    assert!(views > 0 && views < 2_000, "{views} views");
}

#[test]
fn a_slot_array_aliasing_a_global_written_in_a_hot_loop_stays_a_copy() {
    let _one = ONE_AT_A_TIME.lock().unwrap();
    pin(2, |_| {});
    // Slot 5 and global `a` share one array until the loop writes slot 5.
    let chunk = asm(&filled(
        300,
        "               GetArray a
                SetSlot 5
                LoadInt 0
                SetSlot 0
        write:  GetSlot 0
                LoadInt 300
                NumLt
                JumpIfFalse done
                GetSlot 0
                SlotArrayGet 5
                LoadFloat 0.5
                Add
                GetSlot 0
                SlotArraySet 5
                GetSlot 0
                LoadInt 1
                Add
                SetSlot 0
                Jump write
        done:   LoadInt 299
                SlotArrayGet 5
                LoadInt 299
                ArrayGet a
                Add",
    ));
    let (r, vm, _) = agree_with(&chunk, &[]);
    assert_same(&value(r), &Value::Float(299.0 * 6.0 + 0.5));
    assert_traced(&chunk, 20);
    assert_same(
        vm.get_global("a").unwrap(),
        &Value::array((0..300).map(|i| Value::Int(i * 3)).collect()),
    );
}

#[test]
fn pops_shifts_made_arrays_and_hash_deletes_run_inside_traces() {
    let _one = ONE_AT_A_TIME.lock().unwrap();
    pin(2, |_| {});
    // Each trip: pop `a`'s last and shift its first, keep them in a new
    // array in slot 6, count a hash key in and out; 150 trips empty `a`.
    let chunk = asm(&filled(
        300,
        "               DeclareHash h
                LoadInt 0
                SetSlot 1
        drain:  ArrayPop a
                ArrayShift a
                MakeArray 2
                SetSlot 6
                LoadInt 1
                SlotArrayGet 6
                GetSlot 1
                Add
                SetSlot 1
                LoadInt 1
                LoadConst \"k\"
                HashSet h
                LoadConst \"k\"
                HashDelete h
                Pop
                ArrayLen a
                LoadInt 0
                NumGt
                JumpIfTrue drain
                ArrayPop a
                GetSlot 6
                GetSlot 1
                MakeArray 3",
    ));
    let (r, _, _) = agree_with(&chunk, &[]);
    let sum: i64 = (0..150).map(|i| i * 3).sum();
    assert_same(
        &value(r),
        &Value::array(vec![
            Value::Undef,
            Value::array(vec![Value::Int(450), Value::Int(447)]),
            Value::Int(sum),
        ]),
    );
    assert_traced(&chunk, 19);
}

#[test]
fn a_specialised_read_past_the_end_leaves_the_trace_after_the_op() {
    let _one = ONE_AT_A_TIME.lock().unwrap();
    pin(2, |_| {});
    // i runs to 1000 inclusive: the last read, a[1000], is past the end
    // (undef). The trace reads Ints in place; that one read takes the slow
    // path, which leaves the trace after the op instead of merging back
    // into the loop (whose views then stay put).
    let chunk = asm(&filled(
        1000,
        "               LoadInt 0
                SetSlot 0
                LoadInt 0
                SetSlot 1
        sum:    GetSlot 0
                LoadInt 1000
                NumLe
                JumpIfFalse done
                GetSlot 1
                GetSlot 0
                ArrayGet a
                Add
                SetSlot 1
                GetSlot 0
                LoadInt 1
                Add
                SetSlot 0
                Jump sum
        done:   GetSlot 1",
    ));
    let before = JitCompiler::stats();
    let (r, _, _) = agree_with(&chunk, &[]);
    let after = JitCompiler::stats();
    // (Adding the undef read makes the sum a Float, in every tier.)
    assert_same(&value(r), &Value::Float(3.0 * 499_500.0));
    assert_traced(&chunk, 20);
    let jit = JitCompiler::new();
    assert_eq!(
        jit.trace_side_exit_count(&chunk, 20),
        1,
        "the read past the end"
    );
    let calls = after.value_helper_calls - before.value_helper_calls;
    assert!(calls < 10, "{calls} value-helper calls");
}

#[test]
fn reads_from_an_array_of_any_values_stay_inside_the_trace() {
    let _one = ONE_AT_A_TIME.lock().unwrap();
    pin(2, |_| {});
    // One string makes `a` an array of any values: its Int elements are
    // read through the helper, inside the trace (no specialisation, so no
    // exit per read).
    let chunk = asm(&filled(
        1000,
        "               LoadConst \"x\"
                LoadInt 1
                ArraySet a
                LoadInt 0
                SetSlot 0
                LoadInt 0
                SetSlot 1
        sum:    GetSlot 0
                LoadInt 1000
                NumLt
                JumpIfFalse done
                GetSlot 1
                GetSlot 0
                ArrayGet a
                Add
                SetSlot 1
                GetSlot 0
                LoadInt 2
                Add
                SetSlot 0
                Jump sum
        done:   GetSlot 1",
    ));
    let (r, vm, _) = agree_with(&chunk, &[]);
    assert_same(
        &value(r),
        &Value::Int(3 * (0..1000).step_by(2).sum::<i64>()),
    );
    let Some(Value::Array(a)) = vm.get_global("a") else {
        panic!("a is an array")
    };
    assert_eq!(a.strategy(), fusevm_llvm::value::Strategy::Any);
    assert_traced(&chunk, 23);
    assert_eq!(JitCompiler::new().trace_side_exit_count(&chunk, 23), 0);
}

#[test]
fn a_specialised_write_off_the_fast_path_leaves_the_trace_after_the_op() {
    let _one = ONE_AT_A_TIME.lock().unwrap();
    pin(2, |_| {});
    // a[(i + 1) % 1000 - 1] = i: indices 0..998, then -1 on the last trip,
    // long after the trace is in. -1 counts from the end, off the fast path
    // (the helper writes it); the trace's write is specialised to the Int
    // array it recorded, so that write leaves the trace after the op.
    let chunk = asm(&filled(
        1000,
        "               LoadInt 0
                SetSlot 0
        set:    GetSlot 0
                LoadInt 1000
                NumLt
                JumpIfFalse done
                GetSlot 0
                GetSlot 0
                LoadInt 1
                Add
                LoadInt 1000
                Mod
                LoadInt 1
                Sub
                ArraySet a
                GetSlot 0
                LoadInt 1
                Add
                SetSlot 0
                Jump set
        done:   LoadInt 999
                ArrayGet a
                LoadInt 0
                ArrayGet a
                Add",
    ));
    let before = JitCompiler::stats();
    let (r, vm, _) = agree_with(&chunk, &[]);
    let after = JitCompiler::stats();
    assert_same(&value(r), &Value::Int(999)); // a[999] = 999 (via -1), a[0] = 0
    let Some(Value::Array(a)) = vm.get_global("a") else {
        panic!("a is an array")
    };
    assert_eq!(a.strategy(), fusevm_llvm::value::Strategy::Int);
    let jit = JitCompiler::new();
    assert_traced(&chunk, 18);
    assert_eq!(jit.trace_side_exit_count(&chunk, 18), 1, "the write at -1");
    let meta = jit.trace_export(&chunk, 18).expect("a trace");
    let write = meta.path.iter().find(|s| s.ip == 30).expect("the ArraySet");
    assert_eq!(write.seen, Some(2), "specialised to the Int array");
    let calls = after.value_helper_calls - before.value_helper_calls;
    assert!(calls < 10, "{calls} value-helper calls");
}

#[test]
fn rows_of_an_array_of_rows_are_taken_inside_the_trace_without_a_call_per_row() {
    let _one = ONE_AT_A_TIME.lock().unwrap();
    pin(2, |_| {});
    // 50 rows `[i + 0.5, i + 0.5]`, then `local row = rows[i % 50]; sum +=
    // row[0]` as a top-tested loop anchored at op 21.
    let chunk = asm("       DeclareArray rows
                LoadInt 0
                SetSlot 1
        fill:   GetSlot 1
                LoadFloat 0.5
                Add
                Dup
                MakeArray 2
                ArrayPush rows
                GetSlot 1
                LoadInt 1
                Add
                SetSlot 1
                GetSlot 1
                LoadInt 50
                NumLt
                JumpIfTrue fill
                LoadInt 0
                SetSlot 1
                LoadFloat 0.0
                SetSlot 2
        loop:   GetSlot 1
                GetSlot 0
                NumLt
                JumpIfFalse done
                GetSlot 1
                LoadInt 50
                Mod
                ArrayGet rows
                SetSlot 3
                GetSlot 2
                LoadInt 0
                SlotArrayGet 3
                Add
                SetSlot 2
                GetSlot 1
                LoadInt 1
                Add
                SetSlot 1
                Jump loop
        done:   GetSlot 2");
    let n = 20_000;
    let before = JitCompiler::stats();
    let (r, vm, _) = agree_with(&chunk, &[Value::Int(n)]);
    let after = JitCompiler::stats();
    assert_traced(&chunk, 21);
    let want: f64 = (0..n).map(|i| (i % 50) as f64 + 0.5).sum();
    assert!(value(r).same_as(&Value::Float(want)));
    // The slot holds the last row taken once the trace has left.
    let last = Value::array(vec![Value::Float(49.5), Value::Float(49.5)]);
    assert!(vm.frames[0].slots[3].same_as(&last));
    let calls = after.value_helper_calls - before.value_helper_calls;
    assert!(calls < 1_000, "{calls} value-helper calls");
    let views = after.array_views - before.array_views;
    assert!(views < 1_000, "{views} array views fetched");
}
