//! The VM beyond single ops: calls and frames, containers, I/O, builtins and
//! extensions, limits, pooling and reset.

mod common;
use common::{assert_same, eval_with};
use fusevm_llvm::{FrameKind, Limits, Op::*, SharedBuffer, VM, VMPool, VMResult, Value, assemble};

fn run_src(src: &str) -> VMResult {
    VM::new(assemble(src).unwrap()).run()
}

fn ok(r: VMResult) -> Value {
    match r {
        VMResult::Ok(v) => v,
        other => panic!("expected a value, got {other}"),
    }
}

fn err(r: VMResult) -> fusevm_llvm::VmError {
    match r {
        VMResult::Error(e) => e,
        other => panic!("expected an error, got {other}"),
    }
}

// ── calls and frames ─────────────────────────────────────────────────────────

const TWICE: &str = "
        LoadInt 20
        LoadFloat 1.5
        Call add 2
        ReturnValue
sub add:
        SetSlot 1
        SetSlot 0
        GetSlot 0
        GetSlot 1
        Add
        ReturnValue
";

#[test]
fn call_passes_arguments_and_keeps_float_kinds() {
    assert_same(&ok(run_src(TWICE)), &Value::Float(21.5));
}

#[test]
fn call_frames_are_popped_and_caller_slots_are_untouched() {
    let src = "
        LoadInt 7
        SetSlot 0
        LoadInt 1
        Call f 1
        Pop
        GetSlot 0
        Jump end
sub f:  SetSlot 0        ; the callee's slot 0 is its own
        LoadInt 99
        SetSlot 0
        LoadInt 0
        ReturnValue
end:    Nop
";
    let mut vm = VM::new(assemble(src).unwrap());
    assert_same(&ok(vm.run()), &Value::Int(7));
    assert_eq!(vm.frames.len(), 1);
    assert_eq!(vm.frames[0].kind, FrameKind::Root);
    assert_eq!(vm.stack.len(), 1, "only the result is left");
}

#[test]
fn return_drops_the_frames_values_and_pushes_nothing() {
    let src = "
        LoadInt 5
        LoadInt 1
        LoadInt 2
        Call f 2
        Jump end
sub f:  LoadInt 3        ; extra junk on the callee's stack
        Return
end:    Nop
";
    let mut vm = VM::new(assemble(src).unwrap());
    assert_same(&ok(vm.run()), &Value::Int(5));
    assert_eq!(vm.stack.len(), 1);
}

#[test]
fn top_level_return_value_ends_the_run_with_its_value() {
    let r = run_src("LoadInt 1\nLoadInt 2\nReturnValue\nLoadInt 3");
    assert_same(&ok(r), &Value::Int(2));
}

#[test]
fn top_level_return_halts_instead_of_restarting() {
    let mut vm = VM::new(assemble("LoadInt 1\nReturn\nLoadInt 2").unwrap());
    assert!(matches!(vm.run(), VMResult::Halted));
    assert!(
        matches!(vm.run(), VMResult::Halted),
        "running again does not restart"
    );
}

#[test]
fn recursion_computes_fib() {
    assert_same(
        &ok(VM::new(common::example("fib")).run()),
        &Value::Int(196_418),
    );
}

#[test]
fn deep_recursion_is_a_clean_error() {
    let src = "
        LoadInt 0
        Call down 1
        ReturnValue
sub down:
        SetSlot 0
        GetSlot 0
        LoadInt 1
        Add
        Call down 1
        ReturnValue
";
    let mut vm = VM::new(assemble(src).unwrap());
    vm.set_limits(Limits {
        max_frames: 1000,
        ..Limits::default()
    });
    let e = err(vm.run());
    assert!(e.message.contains("call depth limit"), "{e}");
    assert_eq!(e.ip, Some(7), "the recursive Call");
    // The default limit holds too, without exhausting the Rust stack.
    let e = err(VM::new(assemble(src).unwrap()).run());
    assert!(e.message.contains("100000"), "{e}");
}

#[test]
fn call_dynamic_by_name_index_name_and_builtin() {
    let src = "
        LoadInt 4
        LoadConst \"sq\"
        CallDynamic 1
        LoadInt 3
        LoadInt 0          ; name index 0 is `sq`
        CallDynamic 1
        Add
        ReturnValue
sub sq: SetSlot 0
        GetSlot 0
        GetSlot 0
        Mul
        ReturnValue
";
    assert_same(&ok(run_src(src)), &Value::Int(25));
    let mut vm = VM::new(common::chunk_with(
        &[Value::NativeFn(3)],
        &[LoadInt(2), LoadInt(5), LoadConst(0), CallDynamic(2)],
    ));
    vm.register_builtin(3, |vm, argc| {
        assert_eq!(argc, 2);
        let b = vm.pop();
        let a = vm.pop();
        Value::Int(a.to_int() - b.to_int())
    });
    assert_same(&ok(vm.run()), &Value::Int(-3));
}

#[test]
fn call_dynamic_to_an_unknown_callee_is_an_error() {
    let e = err(run_src("LoadConst \"nope\"\nCallDynamic 0"));
    assert_eq!(e.ip, Some(1));
    assert!(e.message.contains("names no subroutine"), "{e}");
    let e = err(run_src("LoadFloat 1.0\nCallDynamic 0"));
    assert_eq!(e.ip, Some(1));
}

#[test]
fn scope_frames_have_fresh_slots() {
    let src = "
        LoadInt 1
        SetSlot 0
        LoadInt 10         ; below the scope's stack base: stays
        PushFrame
        GetSlot 0          ; undef in the new scope
        JumpIfTrue bad
        LoadInt 2
        SetSlot 0
        PopFrame
        GetSlot 0          ; back to the outer slot
        Add
        Jump end
bad:    LoadInt -1
end:    Nop
";
    assert_same(&ok(run_src(src)), &Value::Int(11));
}

#[test]
fn return_inside_a_scope_unwinds_to_the_call_frame() {
    let src = "
        Call f 0
        ReturnValue
sub f:  PushFrame
        LoadInt 9
        ReturnValue
";
    let mut vm = VM::new(assemble(src).unwrap());
    assert_same(&ok(vm.run()), &Value::Int(9));
    assert_eq!(vm.frames.len(), 1);
}

#[test]
fn a_return_drops_what_the_callee_left_of_its_arguments_and_stack() {
    // `f` owns the two arguments, takes one into a slot and leaves the
    // other and a spare value behind: the return drops both.
    let src = "
        LoadInt 5
        LoadInt 1
        LoadInt 2
        Call f 2
        Add
        Jump end
sub f:  SetSlot 0
        LoadInt 100
        GetSlot 0
        LoadInt 5
        Add
        ReturnValue
end:    Nop
";
    for fused in [true, false] {
        let mut vm = VM::new(assemble(src).unwrap());
        vm.set_superinstructions(fused);
        assert_same(&ok(vm.run()), &Value::Int(12));
        assert_eq!(vm.frames.len(), 1, "superinstructions: {fused}");
    }
}

#[test]
fn unmatched_pop_frame_is_an_error() {
    let e = err(run_src("Nop\nPopFrame"));
    assert_eq!(e.ip, Some(1));
    let e = err(run_src("Call f 0\nsub f: PopFrame"));
    assert_eq!(e.ip, Some(1));
}

// ── containers ───────────────────────────────────────────────────────────────

#[test]
fn global_arrays_push_pop_shift_index_and_grow() {
    let src = "
        DeclareArray a
        LoadInt 1
        ArrayPush a
        LoadInt 2
        ArrayPush a
        LoadInt 3
        ArrayPush a
        ArrayShift a       ; 1
        ArrayPop a         ; 3
        Add                ; 4
        LoadInt 7
        LoadInt 4
        ArraySet a         ; a = [2, undef, undef, undef, 7]
        LoadInt -1
        ArrayGet a         ; 7
        Add                ; 11
        LoadInt 2
        ArrayGet a         ; undef → Float path
        Add
        ArrayLen a
        MakeArray 2
";
    let v = ok(run_src(src));
    assert_same(&v, &Value::array(vec![Value::Float(11.0), Value::Int(5)]));
}

#[test]
fn array_reads_out_of_range_are_undef_and_bad_writes_are_errors() {
    let src = "DeclareArray a\nLoadInt 5\nArrayGet a";
    assert_same(&ok(run_src(src)), &Value::Undef);
    let e = err(run_src("DeclareArray a\nLoadInt 1\nLoadInt -3\nArraySet a"));
    assert_eq!(e.ip, Some(3));
    let e = err(run_src("LoadInt 1\nSetVar a\nLoadInt 0\nArrayGet a"));
    assert!(e.message.contains("expected an array"), "{e}");
    let e = err(run_src(
        "DeclareArray a\nLoadInt 0\nLoadInt 1_000_000_000_000\nArraySet a",
    ));
    assert!(e.message.contains("limit"), "{e}");
}

#[test]
fn hashes_store_delete_and_list_keys_in_order() {
    let src = "
        DeclareHash h
        LoadInt 1
        LoadConst \"b\"
        HashSet h
        LoadInt 2
        LoadConst \"a\"
        HashSet h
        LoadInt 3
        LoadConst \"c\"
        HashSet h
        LoadConst \"c\"
        HashDelete h       ; 3
        Pop
        LoadConst \"c\"
        HashExists h       ; false
        LoadConst \"a\"
        HashExists h       ; true
        HashKeys h
        HashValues h
        MakeArray 4
";
    let v = ok(run_src(src));
    let want = Value::array(vec![
        Value::Bool(false),
        Value::Bool(true),
        Value::array(vec![Value::str("a"), Value::str("b")]),
        Value::array(vec![Value::Int(2), Value::Int(1)]),
    ]);
    assert_same(&v, &want);
}

#[test]
fn int_keys_are_their_decimal_strings_and_order_shows_sorted() {
    // Keys 0..40 stored in a scrambled order; key 7 stored as Int, then
    // updated through the string "7".
    let mut src = String::from("DeclareHash h\n");
    for k in (0..40).map(|i| i * 17 % 40) {
        src.push_str(&format!("LoadInt {}\nLoadInt {k}\nHashSet h\n", k * 10));
    }
    src.push_str("LoadInt -1\nLoadConst \"7\"\nHashSet h\n");
    src.push_str("LoadInt 7\nHashGet h\nLoadInt -3\nHashExists h\nHashKeys h\nHashValues h\nGetHash h\nMakeArray 5");
    let v = ok(run_src(&src));
    let mut keys: Vec<String> = (0..40).map(|k: i64| k.to_string()).collect();
    keys.sort();
    let values = keys
        .iter()
        .map(|k| match k.as_str() {
            "7" => Value::Int(-1),
            k => Value::Int(k.parse::<i64>().unwrap() * 10),
        })
        .collect::<Vec<_>>();
    let Value::Array(parts) = &v else {
        panic!("{v:?}")
    };
    let parts: Vec<Value> = parts.elements().map(|p| p.into_owned()).collect();
    assert_same(&parts[0], &Value::Int(-1));
    assert_same(&parts[1], &Value::Bool(false));
    let key_values = keys.iter().map(|k| Value::str(k.clone())).collect();
    assert_same(&parts[2], &Value::array(key_values));
    assert_same(&parts[3], &Value::array(values.clone()));
    // Printed (and compared, hashed, encoded) in key order, whatever order
    // the entries were stored in.
    let printed: Vec<String> = keys
        .iter()
        .zip(&values)
        .map(|(k, v)| format!("{k} {}", v.to_str()))
        .collect();
    assert_eq!(parts[4].to_str(), printed.join(" "));
    let same = Value::hash(keys.iter().rev().cloned().zip(values.iter().rev().cloned()));
    assert_same(&parts[4], &same);
}

#[test]
fn a_full_hash_takes_new_values_for_its_keys_but_no_new_keys() {
    let src = "
        DeclareHash h
        LoadInt 1
        LoadInt 10
        HashSet h
        LoadInt 2
        LoadInt 20
        HashSet h
        LoadInt 3
        LoadConst \"10\"
        HashSet h          ; full: an existing key takes a new value
        LoadInt 10
        HashGet h
        LoadInt 4
        LoadInt 30
        HashSet h          ; a third key fails here (op 14)
";
    for fused in [true, false] {
        let mut vm = VM::new(assemble(src).unwrap());
        vm.set_superinstructions(fused);
        vm.set_limits(Limits {
            max_collection_len: 2,
            ..Limits::default()
        });
        let e = err(vm.run());
        assert!(e.message.contains("collection size limit"), "{e}");
        assert_eq!(e.ip, Some(14), "superinstructions: {fused}");
        let want = Value::hash([("10", Value::Int(3)), ("20", Value::Int(2))]);
        assert_same(&vm.globals()[0], &want);
    }
}

#[test]
fn a_loop_filling_a_hash_stops_at_the_same_set_with_superinstructions_or_not() {
    // h{i} = h{i - 1} + i, keys from a slot, until the limit of 50 keys:
    // the 51st `GetSlot 0; HashSet h` fails at the `HashSet` (op 10).
    let src = "
        DeclareHash h
        LoadInt 0
        SetSlot 0
loop:   GetSlot 0
        LoadInt 1
        Sub
        HashGet h
        GetSlot 0
        Add
        GetSlot 0
        HashSet h
        GetSlot 0
        LoadInt 1
        Add
        SetSlot 0
        Jump loop
";
    let mut states = Vec::new();
    for fused in [true, false] {
        let mut vm = VM::new(assemble(src).unwrap());
        vm.set_superinstructions(fused);
        vm.set_limits(Limits {
            max_collection_len: 50,
            ..Limits::default()
        });
        let e = err(vm.run());
        assert!(e.message.contains("collection size limit"), "{e}");
        assert_eq!(e.ip, Some(10), "superinstructions: {fused}");
        states.push((vm.globals()[0].clone(), vm.stack.clone()));
    }
    let Value::Hash(h) = &states[0].0 else {
        panic!("h is a hash")
    };
    assert_eq!(h.len(), 50);
    assert!(matches!(h.get("49"), Some(Value::Float(x)) if *x == (0..50).sum::<i64>() as f64));
    assert_same(&states[0].0, &states[1].0);
    assert_eq!(states[0].1.len(), states[1].1.len());
}

#[test]
fn make_hash_pairs_keys_with_values() {
    let v = ok(run_src(
        "LoadConst \"k\"\nLoadInt 1\nLoadInt 2\nLoadFloat 0.5\nMakeHash 4",
    ));
    assert_same(
        &v,
        &Value::hash([("k", Value::Int(1)), ("2", Value::Float(0.5))]),
    );
}

#[test]
fn slot_arrays_autovivify_and_index() {
    let v = ok(run_src(
        "LoadInt 5\nLoadInt 2\nSlotArraySet 0\nLoadInt 2\nSlotArrayGet 0\nLoadInt 0\nSlotArrayGet 0\nMakeArray 2",
    ));
    assert_same(&v, &Value::array(vec![Value::Int(5), Value::Undef]));
}

#[test]
fn ranges_are_inclusive_and_step_in_either_direction() {
    let r = |src: &str| ok(run_src(src));
    let ints = |v: &[i64]| Value::array(v.iter().map(|&n| Value::Int(n)).collect());
    assert_same(&r("LoadInt 1\nLoadInt 4\nRange"), &ints(&[1, 2, 3, 4]));
    assert_same(&r("LoadInt 4\nLoadInt 1\nRange"), &ints(&[]));
    assert_same(
        &r("LoadInt 10\nLoadInt 1\nLoadInt -4\nRangeStep"),
        &ints(&[10, 6, 2]),
    );
    assert_same(
        &r("LoadInt 0\nLoadInt 9\nLoadInt 3\nRangeStep"),
        &ints(&[0, 3, 6, 9]),
    );
    let e = err(run_src("LoadInt 0\nLoadInt 9\nLoadInt 0\nRangeStep"));
    assert!(e.message.contains("step"), "{e}");
    let e = err(run_src("LoadInt 0\nLoadInt 9_000_000_000_000\nRange"));
    assert!(e.message.contains("limit"), "{e}");
}

#[test]
fn containers_are_values_copy_on_write() {
    // b = a; push onto a; b is unchanged.
    let src = "
        DeclareArray a
        LoadInt 1
        ArrayPush a
        GetArray a
        SetArray b
        LoadInt 2
        ArrayPush a
        ArrayLen b
        ArrayLen a
        MakeArray 2
";
    assert_same(
        &ok(run_src(src)),
        &Value::array(vec![Value::Int(1), Value::Int(2)]),
    );
}

// ── I/O ──────────────────────────────────────────────────────────────────────

#[test]
fn print_writes_string_forms_in_push_order() {
    let out = SharedBuffer::new();
    let mut vm = VM::new(
        assemble("LoadConst \"x=\"\nLoadFloat 2.0\nLoadTrue\nPrint 3\nLoadUndef\nPrintLn 1\nLoadFloat -0.0\nPrintLn 1")
            .unwrap(),
    );
    vm.set_output(Box::new(out.clone()));
    assert!(matches!(vm.run(), VMResult::Halted));
    assert_eq!(out.contents(), "x=21\n-0\n");
}

#[test]
fn read_line_reads_lines_then_undef() {
    let mut vm = VM::new(assemble("ReadLine\nReadLine\nReadLine\nMakeArray 3").unwrap());
    vm.set_input(Box::new(std::io::Cursor::new("one\r\ntwo")));
    let v = ok(vm.run());
    assert_same(
        &v,
        &Value::array(vec![Value::str("one"), Value::str("two"), Value::Undef]),
    );
}

// ── builtins and extensions ──────────────────────────────────────────────────

#[test]
fn builtins_get_their_arguments_and_push_their_result() {
    let mut vm = VM::new(assemble("LoadInt 10\nLoadInt 3\nCallBuiltin 7 2").unwrap());
    vm.register_builtin(7, |vm, _| {
        let b = vm.pop().to_int();
        let a = vm.pop().to_int();
        Value::Int(a * 100 + b)
    });
    assert_same(&ok(vm.run()), &Value::Int(1003));
}

#[test]
fn builtin_arguments_it_leaves_are_dropped() {
    let mut vm =
        VM::new(assemble("LoadInt 1\nLoadInt 2\nLoadInt 3\nCallBuiltin 0 2\nMakeArray 2").unwrap());
    vm.register_builtin(0, |_, _| Value::str("r"));
    assert_same(
        &ok(vm.run()),
        &Value::array(vec![Value::Int(1), Value::str("r")]),
    );
}

#[test]
fn unregistered_builtin_is_an_error() {
    let e = err(run_src("Nop\nCallBuiltin 9 0"));
    assert_eq!(e.ip, Some(1));
    assert!(e.message.contains("builtin 9 is not registered"), "{e}");
}

#[test]
fn a_builtin_can_fail_the_op() {
    let mut vm = VM::new(assemble("Nop\nCallBuiltin 1 0\nLoadInt 5").unwrap());
    vm.register_builtin(1, |vm, _| {
        vm.raise_error("no network here");
        Value::Undef
    });
    let e = err(vm.run());
    assert_eq!(e.ip, Some(1));
    assert!(e.message.contains("no network here"), "{e}");
}

#[test]
fn extensions_dispatch_per_id_then_catch_all() {
    let mut vm =
        VM::new(assemble("LoadInt 1\nExtended 3 10\nExtended 4 20\nExtendedWide 5 300").unwrap());
    vm.register_extension(
        3,
        Box::new(|vm, arg| {
            let v = vm.pop().to_int();
            vm.push(Value::Int(v + arg as i64));
        }),
    );
    vm.set_extension_handler(Box::new(|vm, id, arg| {
        let v = vm.pop().to_int();
        vm.push(Value::Int(v * 1000 + id as i64 * 100 + arg as i64));
    }));
    vm.set_extension_wide_handler(Box::new(|vm, _, payload| {
        let v = vm.pop().to_int();
        vm.push(Value::Int(v + payload as i64));
    }));
    assert_same(&ok(vm.run()), &Value::Int(11_420 + 300));
}

#[test]
fn unregistered_extensions_are_errors() {
    let e = err(run_src("Extended 1 0"));
    assert!(
        e.message
            .contains("extension op 1 has no registered handler"),
        "{e}"
    );
    let e = err(run_src("ExtendedWide 2 0"));
    assert!(e.message.contains("wide extension op 2"), "{e}");
}

// ── pool and reset ───────────────────────────────────────────────────────────

#[test]
fn reset_clears_run_state_but_keeps_host_hooks() {
    let mut vm =
        VM::new(assemble("LoadInt 1\nSetSlot 0\nLoadInt 2\nSetVar g\nCallBuiltin 0 0").unwrap());
    vm.register_builtin(0, |_, _| Value::Int(42));
    assert_same(&ok(vm.run()), &Value::Int(42));
    vm.reset(assemble("GetSlot 0\nGetVar g\nCallBuiltin 0 0\nMakeArray 3").unwrap());
    assert_eq!(vm.ip, 0);
    let v = ok(vm.run());
    assert_same(
        &v,
        &Value::array(vec![Value::Undef, Value::Undef, Value::Int(42)]),
    );
}

#[test]
fn pool_recycles_vms() {
    let mut pool = VMPool::with_max_idle(1);
    let mut vm = pool.acquire(assemble("LoadInt 1\nSetSlot 5\nLoadInt 2").unwrap());
    assert_same(&ok(vm.run()), &Value::Int(2));
    pool.release(vm);
    pool.release(VM::new(assemble("Nop").unwrap()));
    assert_eq!(pool.idle(), 1, "the pool keeps at most max_idle");
    let mut vm = pool.acquire(assemble("GetSlot 5").unwrap());
    assert_eq!(pool.idle(), 0);
    assert_same(&ok(vm.run()), &Value::Undef);
}

#[test]
fn an_unbounded_pool_keeps_every_released_vm_and_with_returns_its_vm() {
    let mut pool = VMPool::new();
    assert!(pool.is_empty());
    for _ in 0..3 {
        pool.release(VM::new(assemble("Nop").unwrap()));
    }
    assert_eq!(pool.len(), 3);
    let r = pool.with(assemble("LoadInt 4\nLoadInt 5\nMul").unwrap(), |vm| {
        vm.run()
    });
    assert_same(&ok(r), &Value::Int(20));
    assert_eq!(pool.len(), 3, "with took one VM and gave it back");
}

#[test]
fn invalid_chunks_report_the_verifier_error_from_run() {
    let mut vm = VM::new(common::chunk_with(&[], &[LoadInt(1), Jump(9)]));
    let e = err(vm.run());
    assert_eq!(e.ip, Some(1));
    assert!(e.message.starts_with("invalid chunk"), "{e}");
    // Consts are still usable once valid.
    assert_same(
        &eval_with(&[Value::Int(3)], &[LoadConst(0)]),
        &Value::Int(3),
    );
}

#[test]
fn bytecode_can_nest_containers_a_million_deep_without_crashing() {
    // v = [v] a million times, then print it, compare it and drop it.
    let src = "
        LoadInt 0
        SetSlot 1
loop:   GetSlot 1
        LoadInt 1_000_000
        NumLt
        JumpIfFalse done
        GetSlot 0
        MakeArray 1
        SetSlot 0
        PreIncSlotVoid 1
        Jump loop
done:   GetSlot 0
        Dup
        StrEq
";
    let mut vm = VM::new(assemble(src).unwrap());
    assert_same(&ok(vm.run()), &Value::Bool(true));
    drop(vm);
}

#[test]
fn embedder_edits_to_public_state_never_panic() {
    let src = "Call f 0\nReturnValue\nsub f: LoadInt 3\nReturnValue";
    // Frames cleared mid-way: a return then ends the run.
    let mut vm = VM::new(assemble(src).unwrap());
    vm.frames.clear();
    assert!(matches!(vm.run(), VMResult::Ok(_) | VMResult::Halted));
    // A bogus ip just ends the run; a bogus stack is only data.
    let mut vm = VM::new(assemble(src).unwrap());
    vm.ip = 1 << 40;
    assert!(matches!(vm.run(), VMResult::Halted));
    let mut vm = VM::new(assemble("Add").unwrap());
    vm.stack.push(Value::str("a"));
    assert!(matches!(vm.run(), VMResult::Error(_)));
    // Slots beyond the frame are fine too.
    let mut vm = VM::new(assemble("GetSlot 0").unwrap());
    vm.frames[0].slot_base = 99;
    assert_same(&ok(vm.run()), &Value::Undef);
}
