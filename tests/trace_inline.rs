//! Calls inside traces: inlined with their own slot scope, exits inside
//! them rebuild the callee's frames, recursion is bounded by
//! `max_inline_recursion`, side paths chain up to `max_trace_chain`. Every
//! test keeps the block tier out (`pin`) and checks the trace compiled.
#![cfg(feature = "jit")]

mod common;
use common::traced::*;
use common::*;
use fusevm_llvm::{Chunk, JitCompiler, TraceMetadata, VMResult, Value};

/// `src` assembled with `salt` trailing `Nop`s: tests run in parallel and
/// traces are shared per chunk, so each test gets a chunk of its own.
fn salted(src: &str, salt: usize) -> Chunk {
    asm(&format!("{src}{}", "\n        Nop".repeat(salt)))
}

/// A loop calling an Int helper and a Float helper, each with two
/// arguments; the callees write their own slots 0 and 1, which must not be
/// the caller's. Loop header: op 6.
const HELPERS: &str = "
        LoadInt 0
        SetSlot 0               ; i
        LoadInt 0
        SetSlot 1               ; s (Int)
        LoadFloat 0.0
        SetSlot 2               ; x (Float)
head:   GetSlot 0
        LoadInt 2000
        NumLt
        JumpIfFalse done
        GetSlot 1
        GetSlot 0
        Call mixi 2
        SetSlot 1
        GetSlot 2
        GetSlot 0
        Call mixf 2
        SetSlot 2
        PreIncSlotVoid 0
        Jump head
done:   GetSlot 1
        GetSlot 2
        PrintLn 2
        GetSlot 2
        Jump end

sub mixi:                       ; (s + i * i) ^ 1
        SetSlot 1
        SetSlot 0
        GetSlot 0
        GetSlot 1
        GetSlot 1
        Mul
        Add
        LoadInt 1
        BitXor
        ReturnValue
sub mixf:                       ; x * 0.5 + i (Float)
        SetSlot 1
        SetSlot 0
        GetSlot 0
        LoadFloat 0.5
        Mul
        GetSlot 1
        Add
        ReturnValue
end:";

#[test]
fn a_loop_calling_helpers_with_int_and_float_arguments_runs_them_inlined() {
    pin(5, |_| {});
    let chunk = salted(HELPERS, 1);
    let (r, vm, out) = agree_with(&chunk, &[]);
    let (mut s, mut x) = (0i64, 0.0f64);
    for i in 0..2000i64 {
        s = (s + i * i) ^ 1;
        x = x * 0.5 + i as f64;
    }
    assert_same(&value(r), &Value::Float(x));
    assert!(out.starts_with(&s.to_string()), "{out}");
    assert_same(&vm.get_slot(1), &Value::Int(s));
    let jit = JitCompiler::new();
    assert!(
        jit.trace_is_compiled(&chunk, 6),
        "{:?}",
        jit.trace_failure(&chunk, 6)
    );
    // The recorded path runs through both callees' bodies (ops 25..=42):
    // they are part of the trace, not calls out of it.
    let meta = &jit.trace_export(&chunk, 6).unwrap();
    let callee_ops = meta
        .path
        .iter()
        .filter(|s| (25..=42).contains(&s.ip))
        .count();
    assert_eq!(callee_ops, 18, "{meta:?}");
    assert_eq!(jit.trace_side_exit_count(&chunk, 6), 0);
    assert_eq!(jit.trace_callee_exit_count(&chunk, 6), 0);
}

/// `s = outer(s, i)` for i in 0..1000, where `outer(s, i) = s + pick(i) * 2`
/// and `pick(i) = i < 300 ? i + 1 : i * 3`: a trace recorded early takes
/// pick's first arm, and from i = 300 on pick's branch leaves it, two
/// inlined frames deep, with `s` pending on outer's stack. Loop header: 4;
/// pick's second arm starts at op 36.
const FLIPPING_CALLEE: &str = "
        LoadInt 0
        SetSlot 0               ; i
        LoadInt 0
        SetSlot 1               ; s
head:   GetSlot 0
        LoadInt 1000
        NumLt
        JumpIfFalse done
        GetSlot 1
        GetSlot 0
        Call outer 2
        SetSlot 1
        PreIncSlotVoid 0
        Jump head
done:   GetSlot 1
        PrintLn 1
        GetSlot 1
        Jump end

sub outer:
        SetSlot 1
        SetSlot 0
        GetSlot 0
        GetSlot 1
        Call pick 1
        LoadInt 2
        Mul
        Add
        ReturnValue
sub pick:
        SetSlot 0
        GetSlot 0
        LoadInt 300
        NumLt
        JumpIfFalse big
        GetSlot 0
        LoadInt 1
        Add
        ReturnValue
big:    GetSlot 0
        LoadInt 3
        Mul
        ReturnValue
end:";

fn flipping_callee_result() -> i64 {
    (0..1000i64)
        .map(|i| if i < 300 { i + 1 } else { i * 3 } * 2)
        .sum()
}

#[track_caller]
fn assert_one_frame_and_the_result(vm: &fusevm_llvm::VM, r: VMResult) {
    assert_same(&value(r), &Value::Int(flipping_callee_result()));
    assert_eq!(vm.frames.len(), 1, "no inlined frame left behind");
    assert_eq!(vm.stack.len(), 1, "only the result on the stack");
}

#[test]
fn a_branch_flipping_inside_an_inlined_callee_exits_mid_callee_and_returns_to_the_caller() {
    // No side paths: every iteration from i = 300 on exits inside pick.
    pin(5, |c| {
        c.max_trace_chain = 0;
        c.max_side_exits = u32::MAX;
    });
    let chunk = salted(FLIPPING_CALLEE, 2);
    let (r, vm, _) = agree_with(&chunk, &[]);
    assert_one_frame_and_the_result(&vm, r);
    let jit = JitCompiler::new();
    assert!(
        jit.trace_is_compiled(&chunk, 4),
        "{:?}",
        jit.trace_failure(&chunk, 4)
    );
    assert_eq!(jit.trace_callee_exit_count(&chunk, 4), 700);
    assert_eq!(jit.trace_side_exit_count(&chunk, 4), 700);
    assert!(jit.trace_export(&chunk, 4).unwrap().side_paths.is_empty());
}

#[test]
fn a_hot_exit_inside_an_inlined_callee_grows_a_side_path_starting_there() {
    pin(5, |c| c.max_side_exits = u32::MAX);
    let chunk = salted(FLIPPING_CALLEE, 3);
    let (r, vm, _) = agree_with(&chunk, &[]);
    assert_one_frame_and_the_result(&vm, r);
    let jit = JitCompiler::new();
    assert!(jit.trace_is_compiled(&chunk, 4));
    // Ten exits make the path hot; once it is linked no more are taken.
    assert_eq!(jit.trace_callee_exit_count(&chunk, 4), 10);
    assert_eq!(jit.trace_side_exit_count(&chunk, 4), 10);
    let meta = &jit.trace_export(&chunk, 4).unwrap();
    assert_eq!(meta.side_paths.len(), 1, "{meta:?}");
    let side = &meta.side_paths[0];
    assert_eq!(side.exit.2, 36, "it resumes at pick's second arm");
    assert_eq!(side.path[0].ip, 36, "and the side path starts there");
}

#[test]
fn inlined_traces_with_a_side_path_from_a_callee_survive_export_and_import() {
    pin(5, |c| c.max_side_exits = u32::MAX);
    let chunk = salted(FLIPPING_CALLEE, 4);
    agree_with(&chunk, &[]);
    let jit = JitCompiler::new();
    let json = serde_json::to_string(&jit.trace_export_all(&chunk)).unwrap();
    assert!(jit.evict(&chunk));
    let chunk2 = chunk.clone();
    std::thread::spawn(move || {
        pin(u32::MAX, |c| c.max_side_exits = u32::MAX);
        let jit = JitCompiler::new();
        let metas: Vec<TraceMetadata> = serde_json::from_str(&json).unwrap();
        assert_eq!(jit.trace_import_all(&chunk2, &metas), 1);
        assert_eq!(jit.trace_export_all(&chunk2), metas, "same identity");
        let (r, vm, _) = agree_with(&chunk2, &[]);
        assert_one_frame_and_the_result(&vm, r);
        assert!(
            jit.trace_deopt_count(&chunk2, 4) > 0,
            "the imported trace ran"
        );
        // Main path and side path are both in: nothing exits mid-callee.
        assert_eq!(jit.trace_callee_exit_count(&chunk2, 4), 0);
        assert_eq!(jit.trace_side_exit_count(&chunk2, 4), 0);
    })
    .join()
    .unwrap();
}

/// `s += depth(k)` 500 times, `depth(n) = n < 1 ? 0 : depth(n - 1) + 1`
/// (`k + 1` live activations of `depth`), k preset in slot 0. Loop header:
/// op 4; the recursive call: op 29.
const RECURSION: &str = "
        LoadInt 0
        SetSlot 1               ; i
        LoadInt 0
        SetSlot 2               ; s
head:   GetSlot 1
        LoadInt 500
        NumLt
        JumpIfFalse done
        GetSlot 2
        GetSlot 0
        Call depth 1
        Add
        SetSlot 2
        PreIncSlotVoid 1
        Jump head
done:   GetSlot 2
        PrintLn 1
        GetSlot 2
        Jump end

sub depth:
        SetSlot 0
        GetSlot 0
        LoadInt 1
        NumLt
        JumpIfFalse more
        LoadInt 0
        ReturnValue
more:   GetSlot 0
        LoadInt 1
        Sub
        Call depth 1
        LoadInt 1
        Add
        ReturnValue
end:";

#[test]
fn recursion_exactly_at_max_inline_recursion_is_inlined() {
    pin(5, |c| c.max_inline_recursion = 3);
    let chunk = salted(RECURSION, 5);
    // depth(2): three live activations.
    let (r, vm, _) = agree_with(&chunk, &[Value::Int(2)]);
    assert_same(&value(r), &Value::Int(1000));
    assert_eq!(vm.frames.len(), 1);
    let jit = JitCompiler::new();
    assert!(
        jit.trace_is_compiled(&chunk, 4),
        "{:?}",
        jit.trace_failure(&chunk, 4)
    );
    let meta = &jit.trace_export(&chunk, 4).unwrap();
    let calls = meta
        .path
        .iter()
        .filter(|s| s.ip == 10 || s.ip == 29)
        .count();
    assert_eq!(calls, 3, "three calls inlined: {meta:?}");
    assert_eq!(jit.trace_side_exit_count(&chunk, 4), 0);
}

#[test]
fn recursion_one_past_max_inline_recursion_aborts_the_recording_with_its_reason() {
    pin(5, |c| c.max_inline_recursion = 3);
    let chunk = salted(RECURSION, 6);
    // depth(3): four live activations.
    let (r, vm, _) = agree_with(&chunk, &[Value::Int(3)]);
    assert_same(&value(r), &Value::Int(1500));
    assert_eq!(vm.frames.len(), 1);
    let jit = JitCompiler::new();
    assert!(!jit.trace_is_compiled(&chunk, 4));
    let why = jit.trace_failure(&chunk, 4).expect("a recorded failure");
    assert_eq!(
        why,
        "recursion deeper than max_inline_recursion (3) at op 29"
    );
    let class = "recursion deeper than max_inline_recursion (N) at op N";
    assert!(
        JitCompiler::trace_abort_reasons()
            .iter()
            .any(|(r, n)| r == class && *n > 0),
        "{:?}",
        JitCompiler::trace_abort_reasons()
    );
}

#[test]
fn the_recursion_bound_is_enforced_when_a_trace_is_built_not_only_when_recorded() {
    pin(5, |c| c.max_inline_recursion = 3);
    let chunk = salted(RECURSION, 7);
    agree_with(&chunk, &[Value::Int(2)]);
    let jit = JitCompiler::new();
    let metas = jit.trace_export_all(&chunk);
    assert_eq!(metas.len(), 1);
    // A thread allowing two activations refuses to build the same path.
    let chunk2 = chunk.clone();
    std::thread::spawn(move || {
        pin(u32::MAX, |c| c.max_inline_recursion = 2);
        let why = JitCompiler::new()
            .trace_import_checked(&chunk2, &metas[0])
            .unwrap_err();
        assert!(
            why.contains("recursion deeper than max_inline_recursion (2)"),
            "{why}"
        );
    })
    .join()
    .unwrap();
}

/// Four phases of 1000 iterations; phase p passes p nested tests
/// (`i >= 1000`, `i >= 2000`, `i >= 3000`), so each phase's path leaves the
/// previous phase's path one test further in: side path p continues an exit
/// of side path p - 1 (a chain p deep). Loop header: op 4.
const PHASES: &str = "
        LoadInt 0
        SetSlot 0               ; i
        LoadInt 0
        SetSlot 1               ; s
head:   GetSlot 0
        LoadInt 4000
        NumLt
        JumpIfFalse done
        GetSlot 1
        LoadInt 1
        Add
        SetSlot 1
        GetSlot 0
        LoadInt 1000
        NumGe
        JumpIfFalse next
        GetSlot 1
        LoadInt 10
        Add
        SetSlot 1
        GetSlot 0
        LoadInt 2000
        NumGe
        JumpIfFalse next
        GetSlot 1
        LoadInt 100
        Add
        SetSlot 1
        GetSlot 0
        LoadInt 3000
        NumGe
        JumpIfFalse next
        GetSlot 1
        LoadInt 1000
        Add
        SetSlot 1
next:   PreIncSlotVoid 0
        Jump head
done:   GetSlot 1
        PrintLn 1
        GetSlot 1";

/// Runs [`PHASES`] with `max_trace_chain = chain`; returns the side exits
/// taken and the deepest chain of side paths the trace holds.
fn phases_with_chain(chain: usize) -> (u64, usize) {
    pin(5, |c| {
        c.max_trace_chain = chain;
        c.max_side_exits = u32::MAX;
    });
    let chunk = salted(PHASES, 100 + chain);
    let (r, _, _) = agree_with(&chunk, &[]);
    assert_same(
        &value(r),
        &Value::Int(4000 + 10 * 3000 + 100 * 2000 + 1000 * 1000),
    );
    let jit = JitCompiler::new();
    assert!(jit.trace_is_compiled(&chunk, 4));
    let meta = &jit.trace_export(&chunk, 4).unwrap();
    let mut depth = vec![0usize];
    for s in &meta.side_paths {
        depth.push(depth[s.exit.0] + 1);
    }
    let exits = jit.trace_side_exit_count(&chunk, 4);
    jit.evict(&chunk);
    (exits, depth.into_iter().max().unwrap_or(0))
}

#[test]
fn side_paths_chain_up_to_max_trace_chain_and_absorb_every_exit() {
    // Three phases after the first, each absorbed after ten exits.
    assert_eq!(phases_with_chain(3), (30, 3));
}

#[test]
fn beyond_max_trace_chain_an_exit_keeps_returning_to_the_interpreter() {
    // The last phase's path would be a third link: its exits stay exits.
    assert_eq!(phases_with_chain(2), (10 + 10 + 1000, 2));
    assert_eq!(phases_with_chain(0), (3000, 0));
}

#[test]
fn one_helper_called_with_an_int_and_with_a_float_keeps_each_kind() {
    pin(5, |_| {});
    // a += half(i) (Int / 2: a Float); b += half(2.0) (Float); the helper's
    // slot holds an Int at one inlined call and a Float at the other.
    let chunk = salted(
        "
        LoadInt 0
        SetSlot 0               ; i
        LoadInt 0
        SetSlot 1               ; a
        LoadInt 0
        SetSlot 2               ; b
head:   GetSlot 0
        LoadInt 300
        NumLt
        JumpIfFalse done
        GetSlot 1
        GetSlot 0
        Call half 1
        Add
        SetSlot 1
        GetSlot 2
        LoadFloat 2.0
        Call half 1
        Add
        SetSlot 2
        PreIncSlotVoid 0
        Jump head
done:   GetSlot 1
        GetSlot 2
        PrintLn 2
        GetSlot 2
        Jump end

sub half:
        SetSlot 0
        GetSlot 0
        LoadInt 2
        Div
        ReturnValue
end:",
        8,
    );
    let (r, vm, _) = agree_with(&chunk, &[]);
    assert_same(&value(r), &Value::Float(300.0));
    assert_same(
        &vm.get_slot(1),
        &Value::Float((0..300).sum::<i64>() as f64 / 2.0),
    );
    let jit = JitCompiler::new();
    assert!(
        jit.trace_is_compiled(&chunk, 6),
        "{:?}",
        jit.trace_failure(&chunk, 6)
    );
    assert_eq!(jit.trace_side_exit_count(&chunk, 6), 0);
}

#[test]
fn a_helper_with_a_traced_loop_called_twice_keeps_its_loop_whole_at_both_calls() {
    pin(5, |_| {});
    // s = g(g(s, 3), 5) for i in 0..200, g(x, n) loops n times: g's loop
    // gets its own trace first, then the outer loop's trace keeps it whole
    // inside each inlined call. Loop header: op 4; the calls: ops 10 and 12.
    let chunk = salted(
        "
        LoadInt 0
        SetSlot 0               ; i
        LoadInt 1
        SetSlot 1               ; s
head:   GetSlot 0
        LoadInt 200
        NumLt
        JumpIfFalse done
        GetSlot 1
        LoadInt 3
        Call g 2
        LoadInt 5
        Call g 2
        SetSlot 1
        PreIncSlotVoid 0
        Jump head
done:   GetSlot 1
        PrintLn 1
        GetSlot 1
        Jump end

sub g:
        SetSlot 1               ; n
        SetSlot 0               ; x
        LoadInt 0
        SetSlot 2               ; j
loop:   GetSlot 2
        GetSlot 1
        NumLt
        JumpIfFalse out
        GetSlot 0
        LoadInt 3
        Mul
        GetSlot 2
        BitXor
        LoadInt 1000003
        Mod
        SetSlot 0
        PreIncSlotVoid 2
        Jump loop
out:    GetSlot 0
        ReturnValue
end:",
        9,
    );
    let (r, vm, _) = agree_with(&chunk, &[]);
    let g = |mut x: i64, n: i64| {
        for j in 0..n {
            x = ((x * 3) ^ j) % 1_000_003;
        }
        x
    };
    let want = (0..200).fold(1i64, |s, _| g(g(s, 3), 5));
    assert_same(&value(r), &Value::Int(want));
    assert_eq!(vm.frames.len(), 1);
    let jit = JitCompiler::new();
    assert!(
        jit.trace_is_compiled(&chunk, 4),
        "{:?}",
        jit.trace_failure(&chunk, 4)
    );
    let meta = &jit.trace_export(&chunk, 4).unwrap();
    let calls: Vec<usize> = meta
        .path
        .iter()
        .filter(|s| s.ip == 10 || s.ip == 12)
        .map(|s| s.ip)
        .collect();
    assert_eq!(calls, [10, 12], "{meta:?}");
    let kept = meta.path.iter().filter(|s| s.inner.is_some()).count();
    assert_eq!(kept, 2, "g's loop kept whole in both calls: {meta:?}");
}

#[test]
fn a_callee_returning_from_inside_its_traced_loop_does_not_confuse_the_callers_trace() {
    pin(5, |_| {});
    // find(i + 100) loops j = 0.. and returns from inside its loop when
    // j * j >= k: its loop gets a trace of its own; recording the outer loop
    // then sees the callee return while that loop is kept whole, which is
    // not a path a trace can take.
    let chunk = salted(
        "
        LoadInt 0
        SetSlot 0               ; i
        LoadInt 0
        SetSlot 1               ; s
head:   GetSlot 0
        LoadInt 300
        NumLt
        JumpIfFalse done
        GetSlot 1
        GetSlot 0
        LoadInt 100
        Add
        Call find 1
        Add
        SetSlot 1
        PreIncSlotVoid 0
        Jump head
done:   GetSlot 1
        PrintLn 1
        GetSlot 1
        Jump end

sub find:
        SetSlot 0               ; k
        LoadInt 0
        SetSlot 1               ; j
loop:   GetSlot 1
        GetSlot 1
        Mul
        GetSlot 0
        NumGe
        JumpIfFalse more
        GetSlot 1
        ReturnValue
more:   PreIncSlotVoid 1
        Jump loop
end:",
        10,
    );
    let (r, vm, _) = agree_with(&chunk, &[]);
    let want: i64 = (100..400i64)
        .map(|k| (0..).find(|j| j * j >= k).unwrap())
        .sum();
    assert_same(&value(r), &Value::Int(want));
    assert_eq!(vm.frames.len(), 1);
    let jit = JitCompiler::new();
    assert!(!jit.trace_is_compiled(&chunk, 4));
    assert_eq!(
        jit.trace_failure(&chunk, 4).as_deref(),
        Some("op 13: a call returned inside an inner loop")
    );
}
