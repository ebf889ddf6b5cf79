//! The tracing tier: hot loops compile and run natively, side exits resume
//! the interpreter with its exact state. Every test keeps the block tier out
//! (`block_threshold = u32::MAX`) and checks the trace compiled.
#![cfg(feature = "jit")]

mod common;
use common::traced::*;
use common::*;
use fusevm_llvm::{JitCompiler, SharedBuffer, VM, VMResult, Value};

const TOP_TESTED: &str = "
        LoadInt 0
        SetSlot 0
        LoadInt 0
        SetSlot 1
head:   GetSlot 0
        LoadInt 1000
        NumLt
        JumpIfFalse done
        GetSlot 1
        GetSlot 0
        Add
        SetSlot 1
        PreIncSlotVoid 0
        Jump head
done:   GetSlot 1
        PrintLn 1
        GetSlot 1";

#[test]
fn a_top_tested_loop_in_a_printing_chunk_traces() {
    pin(5, |_| {});
    let chunk = asm(TOP_TESTED);
    let jit = JitCompiler::new();
    assert!(!jit.is_block_eligible(&chunk));
    let (r, _, out) = agree_with(&chunk, &[]);
    assert_same(&value(r), &Value::Int(499_500));
    assert_eq!(out, "499500\n");
    assert!(
        jit.trace_is_compiled(&chunk, 4),
        "{:?}",
        jit.trace_failure(&chunk, 4)
    );
    // One exit per run: the loop's end, which is not a side exit.
    assert_eq!(jit.trace_deopt_count(&chunk, 4), 1);
    assert_eq!(jit.trace_side_exit_count(&chunk, 4), 0);
}

#[test]
fn a_do_while_loop_traces() {
    pin(1, |_| {});
    let src = "
        LoadInt 0
        SetSlot 0
        LoadFloat 1.0
        SetSlot 1
body:   GetSlot 1
        LoadFloat 1.5
        Mul
        SetSlot 1
        PreIncSlotVoid 0
        GetSlot 0
        LoadInt 300
        NumLt
        JumpIfTrue body
        GetSlot 1
        PrintLn 1
        GetSlot 1";
    let chunk = asm(src);
    agree_with(&chunk, &[]);
    assert!(JitCompiler::new().trace_is_compiled(&chunk, 4));
}

#[test]
fn a_branch_that_flips_mid_run_exits_and_resumes() {
    pin(3, |_| {});
    // if i < 500 { acc += i } else { acc -= 1 }: the trace records the
    // first arm; from i = 500 on every iteration leaves it.
    let src = "
        LoadInt 0
        SetSlot 0
        LoadInt 0
        SetSlot 1
head:   GetSlot 0
        LoadInt 1000
        NumLt
        JumpIfFalse done
        GetSlot 0
        LoadInt 500
        NumLt
        JumpIfFalse other
        GetSlot 1
        GetSlot 0
        Add
        SetSlot 1
        Jump step
other:  GetSlot 1
        LoadInt 1
        Sub
        SetSlot 1
step:   PreIncSlotVoid 0
        Jump head
done:   GetSlot 1
        PrintLn 1
        GetSlot 1";
    let chunk = asm(src);
    let (r, _, _) = agree_with(&chunk, &[]);
    assert_same(&value(r), &Value::Int(124_750 - 500));
    let jit = JitCompiler::new();
    assert!(jit.trace_is_compiled(&chunk, 4));
    assert!(jit.trace_side_exit_count(&chunk, 4) >= 1);
}

#[test]
fn exits_carry_int_and_float_values_on_the_stack() {
    pin(2, |_| {});
    // Two values stay on the stack across the loop; the loop body also
    // exits with a partial expression pending when the branch flips.
    let src = "
        LoadInt 7
        LoadFloat 2.5
        LoadInt 0
        SetSlot 0
head:   GetSlot 0
        LoadInt 100
        NumLt
        JumpIfFalse done
        LoadInt 1
        GetSlot 0
        LoadInt 50
        NumLt
        JumpIfFalseKeep flip
        Pop
        Pop
        PreIncSlotVoid 0
        Jump head
flip:   Pop
        LoadFloat 0.5
        Add
        SetSlot 1
        PreIncSlotVoid 0
        Jump head
done:   GetSlot 1
        PrintLn 1";
    let chunk = asm(src);
    agree_with(&chunk, &[]);
    assert!(JitCompiler::new().trace_is_compiled(&chunk, 4));
}

#[test]
fn nan_is_a_truthy_branch_condition_in_traces() {
    pin(1, |_| {});
    let src = "
        LoadInt 0
        SetSlot 0
        LoadInt 0
        SetSlot 2
head:   GetSlot 0
        LoadInt 50
        NumLt
        JumpIfFalse done
        GetSlot 1
        JumpIfFalse skip
        PreIncSlotVoid 2
skip:   PreIncSlotVoid 0
        Jump head
done:   GetSlot 2
        PrintLn 1
        GetSlot 2";
    let chunk = asm(src);
    let (r, _, _) = agree_with(&chunk, &[Value::Undef, Value::Float(f64::NAN)]);
    assert_same(&value(r), &Value::Int(50));
}

#[test]
fn a_slot_changing_from_int_to_float_mid_loop_stays_exact() {
    pin(2, |_| {});
    let src = "
        LoadInt 0
        SetSlot 0
        LoadInt 1
        SetSlot 1
head:   GetSlot 0
        LoadInt 200
        NumLt
        JumpIfFalse done
        GetSlot 0
        LoadInt 100
        NumEq
        JumpIfFalse go
        LoadFloat 0.5
        SetSlot 1
go:     GetSlot 1
        LoadInt 3
        Mul
        LoadInt 1000003
        Mod
        SetSlot 1
        PreIncSlotVoid 0
        Jump head
done:   GetSlot 1
        PrintLn 1
        GetSlot 1";
    let chunk = asm(src);
    let (r, _, _) = agree_with(&chunk, &[]);
    assert!(matches!(value(r), Value::Float(_)));
    assert!(JitCompiler::new().trace_is_compiled(&chunk, 4));
}

#[test]
fn untouched_str_and_bool_slots_survive_a_traced_loop() {
    pin(1, |_| {});
    let src = "
        LoadInt 0
        SetSlot 2
head:   SlotIncLtIntJumpBack 2 5000 head
        GetSlot 0
        PrintLn 1
        GetSlot 2";
    let chunk = asm(src);
    let (_, vm, out) = agree_with(&chunk, &[Value::str("text"), Value::Bool(false)]);
    assert_eq!(out, "text\n");
    assert_same(&vm.get_slot(0), &Value::str("text"));
    assert_same(&vm.get_slot(1), &Value::Bool(false));
    assert!(JitCompiler::new().trace_is_compiled(&chunk, 2));
}

#[test]
fn max_trace_len_aborts_the_recording_with_its_reason() {
    pin(1, |c| c.max_trace_len = 4);
    let chunk = asm(&format!("{TOP_TESTED}\nNop"));
    agree_with(&chunk, &[]);
    let jit = JitCompiler::new();
    assert!(!jit.trace_is_compiled(&chunk, 4));
    let why = jit.trace_failure(&chunk, 4).unwrap();
    assert!(why.contains("max_trace_len"), "{why}");
    // Counted with its kind of reason, numbers elided.
    let reasons = JitCompiler::trace_abort_reasons();
    assert!(
        reasons
            .iter()
            .any(|(r, n)| r == "longer than max_trace_len (N ops)" && *n > 0),
        "{reasons:?}"
    );
}

#[test]
fn a_scope_opened_and_closed_in_the_loop_body_traces() {
    pin(2, |_| {});
    // Each iteration opens a scope with its own slot 0 (not the counter).
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
    let (r, vm, out) = agree_with(&chunk, &[]);
    let want: i64 = (0..500).map(|i| i * i).sum();
    assert_same(&value(r), &Value::Int(want));
    assert_eq!(out, format!("{want}\n"));
    assert_eq!(vm.frames.len(), 1);
    let jit = JitCompiler::new();
    assert!(
        jit.trace_is_compiled(&chunk, 4),
        "{:?}",
        jit.trace_failure(&chunk, 4)
    );
    assert_eq!(jit.trace_side_exit_count(&chunk, 4), 0);
}

#[test]
fn a_trace_is_blacklisted_after_max_side_exits() {
    pin(1, |c| c.max_side_exits = 5);
    // The branch alternates every iteration: each entry side-exits.
    let src = "
        LoadInt 0
        SetSlot 0
        LoadInt 0
        SetSlot 1
head:   GetSlot 0
        LoadInt 2000
        NumLt
        JumpIfFalse done
        GetSlot 0
        LoadInt 2
        Mod
        JumpIfFalse even
        PreIncSlotVoid 1
even:   PreIncSlotVoid 0
        Jump head
done:   GetSlot 1
        PrintLn 1
        GetSlot 1";
    let chunk = asm(src);
    let (r, _, _) = agree_with(&chunk, &[]);
    assert_same(&value(r), &Value::Int(1000));
    let jit = JitCompiler::new();
    assert!(jit.trace_is_compiled(&chunk, 4));
    assert!(jit.trace_is_blacklisted(&chunk, 4));
    assert_eq!(jit.trace_side_exit_count(&chunk, 4), 5);
}

#[test]
fn trace_threshold_decides_when_recording_arms() {
    for (threshold, compiled) in [(0, true), (5, true), (1_000_000, false)] {
        pin(threshold, |_| {});
        // A distinct chunk per case (the registry is process-wide).
        let chunk = asm(&format!("{TOP_TESTED}\nLoadInt {threshold}\nPop"));
        agree_with(&chunk, &[]);
        assert_eq!(
            JitCompiler::new().trace_is_compiled(&chunk, 4),
            compiled,
            "{threshold}"
        );
    }
}

#[test]
fn an_inner_loop_with_a_trace_stays_a_loop_inside_the_outer_trace() {
    pin(2, |_| {});
    let chunk = printing_example("nested");
    let (r, _, out) = agree_with(&chunk, &[]);
    assert_same(&value(r), &Value::Int(kernels::nested(1000)));
    assert_eq!(out, format!("{}\n", kernels::nested(1000)));
    let jit = JitCompiler::new();
    // outer: the loop test at op 4; inner: at op 10.
    assert!(
        jit.trace_is_compiled(&chunk, 10),
        "{:?}",
        jit.trace_failure(&chunk, 10)
    );
    assert!(
        jit.trace_is_compiled(&chunk, 4),
        "{:?}",
        jit.trace_failure(&chunk, 4)
    );
    // The outer trace ran the whole nest: one entry, left once at its end.
    assert_eq!(jit.trace_deopt_count(&chunk, 4), 1);
    assert_eq!(jit.trace_side_exit_count(&chunk, 4), 0);
}

#[test]
fn a_loop_over_numeric_globals_traces_and_leaves_other_globals_alone() {
    pin(3, |_| {});
    let src = "
        LoadInt 0
        SetVar i
        LoadFloat 0.0
        SetVar total
head:   GetVar i
        LoadInt 500
        NumLt
        JumpIfFalse done
        GetVar total
        GetVar i
        LoadFloat 0.5
        Mul
        Add
        SetVar total
        GetVar i
        LoadInt 1
        Add
        SetVar i
        Jump head
done:   GetVar total
        PrintLn 1
        Jump end
        GetVar label            ; names a global the loop never touches
end:    GetVar total";
    let chunk = asm(src);
    let run = |jit: bool| {
        let mut vm = VM::new(chunk.clone());
        vm.set_output(Box::new(SharedBuffer::new()));
        assert!(vm.set_global("label", Value::str("untouched")));
        if jit {
            vm.enable_tracing_jit();
        }
        let r = vm.run();
        (r, vm)
    };
    let (want, ivm) = run(false);
    let (got, nvm) = run(true);
    assert!(got.same_as(&want), "{got} vs {want}");
    assert_same(&value(got), &Value::Float(62_375.0));
    for name in ["i", "total", "label"] {
        assert_same(nvm.get_global(name).unwrap(), ivm.get_global(name).unwrap());
    }
    assert_same(nvm.get_global("label").unwrap(), &Value::str("untouched"));
    assert!(JitCompiler::new().trace_is_compiled(&chunk, 4));
}

#[test]
fn a_loop_whose_body_prints_still_traces_and_prints_the_same_text() {
    pin(2, |_| {});
    let src = "
        LoadInt 0
        SetSlot 0
head:   GetSlot 0
        LoadInt 300
        NumLt
        JumpIfFalse done
        GetSlot 0
        GetSlot 0
        LoadFloat 0.5
        Mul
        LoadTrue
        PrintLn 3
        PreIncSlotVoid 0
        Jump head
done:   GetSlot 0";
    let chunk = asm(src);
    let (r, _, out) = agree_with(&chunk, &[]);
    assert_same(&value(r), &Value::Int(300));
    assert!(out.starts_with("001\n10.51\n211\n"), "{}", &out[..40]);
    assert!(out.ends_with("299149.51\n"));
    let jit = JitCompiler::new();
    assert!(
        jit.trace_is_compiled(&chunk, 2),
        "{:?}",
        jit.trace_failure(&chunk, 2)
    );
}

#[test]
fn a_failing_output_inside_a_trace_is_the_vms_output_error() {
    /// Accepts `n` writes, then fails.
    struct FailsAfter(usize);
    impl std::io::Write for FailsAfter {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            if self.0 == 0 {
                return Err(std::io::Error::other("disk full"));
            }
            self.0 -= 1;
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    pin(1, |_| {});
    let chunk = asm("
        LoadInt 0
        SetSlot 1
loop:   GetSlot 1
        PrintLn 1
        SlotIncLtIntJumpBack 1 100 loop
        GetSlot 1");
    let run = |jit: bool| {
        let mut vm = VM::new(chunk.clone());
        // The interpreter writes a line at once, native code a value and
        // a newline: fail in the middle of the loop either way.
        vm.set_output(Box::new(FailsAfter(if jit { 2 + 2 * 40 } else { 42 })));
        if jit {
            vm.enable_tracing_jit();
        }
        (vm.run(), vm)
    };
    let (want, ivm) = run(false);
    let (got, nvm) = run(true);
    match (&got, &want) {
        (VMResult::Error(g), VMResult::Error(w)) => {
            assert_eq!((g.ip, &g.message), (w.ip, &w.message));
            assert!(g.message.contains("output error: disk full"), "{g}");
        }
        other => panic!("{other:?}"),
    }
    assert_same(&nvm.get_slot(1), &ivm.get_slot(1));
    assert_eq!(nvm.stack.len(), ivm.stack.len());
    assert!(JitCompiler::new().trace_is_compiled(&chunk, 2));
}

#[test]
fn a_hot_side_exit_grows_a_side_path_and_stops_exiting() {
    pin(2, |_| {});
    // i % 3 == 0 picks the first arm once in three: the trace records one
    // arm, the other exits until its path is recorded into the trace.
    let chunk = printing_example("branch");
    let (r, _, _) = agree_with(&chunk, &[]);
    assert_same(&value(r), &Value::Int(kernels::branch(3_000_000)));
    let jit = JitCompiler::new();
    assert!(jit.trace_is_compiled(&chunk, 4));
    assert!(!jit.trace_is_blacklisted(&chunk, 4));
    // Exits stopped once the side path was in: far fewer than iterations,
    // and below the blacklisting bound.
    let exits = jit.trace_side_exit_count(&chunk, 4);
    assert!((10..50).contains(&exits), "{exits} side exits");
}

/// The plain do-while mandelbrot: the inner loop's trace gets side paths
/// that run on around the column loop and back through its header; a
/// side path of the column loop's trace may still keep that inner loop
/// whole. Refusing it (as a root recording is refused) left that exit
/// without a side path until both loops were blacklisted, and the kernel
/// ran interpreted.
#[test]
fn an_outer_side_path_keeps_an_inner_loop_whose_trace_runs_through_its_header() {
    pin(50, |_| {});
    let path = format!(
        "{}/benches/kernels/plain/mandelbrot_dowhile.fasm",
        env!("CARGO_MANIFEST_DIR")
    );
    let src = std::fs::read_to_string(&path).expect("the plain kernel");
    let chunk = asm(&format!(
        "        LoadInt 60\n        SetSlot 9\n        LoadInt 50\n        SetSlot 10\n{src}"
    ));
    let (r, _, _) = agree_with(&chunk, &[]);
    assert_same(&value(r), &Value::Int(kernels::mandelbrot(60, 50)));
    // Per loop of this chunk (the process-wide counters also count the
    // tests running beside this one).
    let jit = JitCompiler::new();
    let headers: Vec<usize> = (chunk.ops().iter().enumerate())
        .filter_map(|(ip, op)| op.jump_target().filter(|&t| t <= ip))
        .collect();
    assert!(headers.len() >= 3, "{headers:?}");
    assert!(headers.iter().any(|&h| jit.trace_is_compiled(&chunk, h)));
    for h in headers {
        assert!(
            !jit.trace_is_blacklisted(&chunk, h),
            "loop {h} was blacklisted"
        );
    }
}

#[test]
fn mandelbrot_with_its_count_printed_traces_and_agrees() {
    pin(50, |_| {});
    let chunk = printing_example("mandelbrot");
    let (r, _, out) = agree_with(&chunk, &[]);
    assert_same(&value(r), &Value::Int(kernels::mandelbrot(200, 50)));
    assert_eq!(out, format!("{}\n", kernels::mandelbrot(200, 50)));
    assert!(JitCompiler::stats().trace_compiled > 0);
}

/// An outer loop that gets hot before its do-while inner loop (which
/// iterates only on even trips of the outer one) used to be traced with
/// the inner loop unrolled, exiting whenever the trip count differed: now
/// its recording gives way when it sees the inner loop iterate, and the
/// inner loop is traced first (here its trace takes the whole nest).
#[test]
fn an_outer_loop_hot_before_its_inner_loop_lets_the_inner_loop_trace_first() {
    pin(50, |_| {});
    // for i in 0..3000 { j = 0; do { s += i + j; j += 1 } while j < 2 - i % 2 }
    let chunk = asm("
        LoadInt 0
        SetSlot 0
        LoadInt 0
        SetSlot 2
outer:  GetSlot 0
        LoadInt 3000
        NumLt
        JumpIfFalse done
        LoadInt 0
        SetSlot 1
inner:  GetSlot 2
        GetSlot 0
        Add
        GetSlot 1
        Add
        SetSlot 2
        GetSlot 1
        LoadInt 1
        Add
        SetSlot 1
        GetSlot 1
        LoadInt 2
        GetSlot 0
        LoadInt 2
        Mod
        Sub
        NumLt
        JumpIfTrue inner
        GetSlot 0
        LoadInt 1
        Add
        SetSlot 0
        Jump outer
done:   GetSlot 2
        Dup
        PrintLn 1");
    let (r, _, _) = agree_with(&chunk, &[]);
    let want: i64 = (0..3000i64)
        .map(|i| (0..2 - i % 2).map(|j| i + j).sum::<i64>())
        .sum();
    assert_same(&value(r), &Value::Int(want));
    let jit = JitCompiler::new();
    let (outer, inner) = (4, 10);
    assert!(
        jit.trace_is_compiled(&chunk, inner),
        "{:?}",
        jit.trace_failure(&chunk, inner)
    );
    for ip in [inner, outer] {
        assert!(!jit.trace_is_blacklisted(&chunk, ip), "{ip} blacklisted");
    }
    // The nest runs natively to its end: hardly any exit back to the
    // interpreter (unrolled, the inner loop exited every other trip).
    let exits = jit.trace_deopt_count(&chunk, inner) + jit.trace_deopt_count(&chunk, outer);
    assert!(exits <= 5, "{exits} exits");
    let gave_way = JitCompiler::trace_abort_reasons()
        .iter()
        .any(|(why, _)| why.contains("starts an inner loop with no trace yet"));
    assert!(gave_way, "{:?}", JitCompiler::trace_abort_reasons());
}
