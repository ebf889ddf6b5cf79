//! Background compilation (`TraceJitConfig::background_compile`): traces
//! compiled on the compiler thread while interpreters go on give the
//! interpreter's results whenever their code arrives, are installed for the
//! next back-edge, and are discarded when their chunk is evicted first.
#![cfg(feature = "jit")]

use fusevm_llvm::vm::{VM, VMResult};
use fusevm_llvm::{Chunk, JitCompiler, Value, assemble};

/// The plain bytecode of `sum = 0; i = 0; while i < n { sum = sum + i * k; i = i + 1 }`
/// with `extra` more `sum = sum + i` statements in the body (a bigger trace
/// takes longer to compile).
fn summing_loop(n: i64, k: i64, extra: usize) -> Chunk {
    let mut body = String::new();
    for _ in 0..extra {
        body.push_str("        GetSlot 0\n        GetSlot 1\n        Add\n        SetSlot 0\n");
    }
    let src = format!(
        "        LoadInt 0
        SetSlot 0
        LoadInt 0
        SetSlot 1
top:    GetSlot 1
        LoadInt {n}
        NumLt
        JumpIfFalse done
        GetSlot 0
        GetSlot 1
        LoadInt {k}
        Mul
        Add
        SetSlot 0
{body}        GetSlot 1
        LoadInt 1
        Add
        SetSlot 1
        Jump top
done:   GetSlot 0
        ReturnValue
"
    );
    assemble(&src).expect("assembles")
}

/// The loop header of `summing_loop`.
const ANCHOR: usize = 4;

/// Traces only, recorded at the second back-edge, compiled in the
/// background (or not).
fn configure(background: bool) {
    let mut cfg = JitCompiler::new().get_config();
    cfg.block_threshold = u32::MAX;
    cfg.trace_threshold = 2;
    cfg.background_compile = background;
    JitCompiler::new().set_config(cfg);
}

/// A run's result, value and kind (`VMResult`'s `Debug` form).
fn interpreted(chunk: &Chunk) -> String {
    format!("{:?}", VM::new(chunk.clone()).run())
}

fn jitted(chunk: &Chunk) -> String {
    let mut vm = VM::new(chunk.clone());
    vm.enable_tracing_jit();
    format!("{:?}", vm.run())
}

#[test]
fn a_trace_compiled_in_the_background_arrives_for_the_next_run_with_the_same_result() {
    configure(true);
    let jit = JitCompiler::new();
    let chunk = summing_loop(20_000, 3, 0);
    let want = interpreted(&chunk);
    let queued = JitCompiler::stats().compiles_queued;
    assert_eq!(jitted(&chunk), want);
    assert!(JitCompiler::stats().compiles_queued > queued);
    JitCompiler::wait_for_compiles();
    assert!(jit.trace_is_compiled(&chunk, ANCHOR));
    let deopts = jit.trace_deopt_count(&chunk, ANCHOR);
    assert_eq!(jitted(&chunk), want);
    assert!(
        jit.trace_deopt_count(&chunk, ANCHOR) > deopts,
        "the second run entered the trace"
    );
    let sum = 3 * (20_000 * 19_999 / 2);
    assert_eq!(want, format!("{:?}", VMResult::Ok(Value::Int(sum))));
    // Nothing may compile when the test binary exits.
    JitCompiler::wait_for_compiles();
}

#[test]
fn a_chunk_evicted_while_its_trace_waits_to_compile_has_it_discarded() {
    configure(true);
    let jit = JitCompiler::new();
    // A long compilation first occupies the compiler thread...
    let big = summing_loop(200, 5, 55);
    assert_eq!(jitted(&big), interpreted(&big));
    // ...so this loop's trace is still queued when its chunk is evicted.
    let chunk = summing_loop(1_000, 7, 0);
    let discarded = JitCompiler::stats().compiles_discarded;
    assert_eq!(jitted(&chunk), interpreted(&chunk));
    assert!(jit.evict(&chunk));
    JitCompiler::wait_for_compiles();
    assert!(JitCompiler::stats().compiles_discarded > discarded);
    assert!(!jit.trace_is_compiled(&chunk, ANCHOR));
    // Run again, it records and compiles afresh.
    assert_eq!(jitted(&chunk), interpreted(&chunk));
    JitCompiler::wait_for_compiles();
    assert!(jit.trace_is_compiled(&chunk, ANCHOR));
    // Nothing may compile when the test binary exits.
    JitCompiler::wait_for_compiles();
}

#[test]
fn eight_threads_running_one_chunk_while_its_trace_compiles_agree() {
    let chunk = summing_loop(30_000, 11, 4);
    let want = interpreted(&chunk);
    let runs: Vec<_> = (0..8)
        .map(|_| {
            let chunk = chunk.clone();
            std::thread::spawn(move || {
                configure(true);
                (0..5).map(|_| jitted(&chunk)).collect::<Vec<_>>()
            })
        })
        .collect();
    for r in runs {
        for got in r.join().expect("thread") {
            assert_eq!(got, want);
        }
    }
    JitCompiler::wait_for_compiles();
    assert!(JitCompiler::new().trace_is_compiled(&chunk, ANCHOR));
    // Nothing may compile when the test binary exits.
    JitCompiler::wait_for_compiles();
}

#[test]
fn a_foreground_compilation_counts_as_the_interpreters_wait() {
    configure(false);
    let jit = JitCompiler::new();
    let chunk = summing_loop(5_000, 13, 2);
    let waited = JitCompiler::stats().compile_wait.0;
    assert_eq!(jitted(&chunk), interpreted(&chunk));
    assert!(
        jit.trace_is_compiled(&chunk, ANCHOR),
        "compiled before the run went on"
    );
    let s = JitCompiler::stats();
    assert!(s.compile_wait.0 > waited);
    assert!(s.compile_wait.1 > std::time::Duration::ZERO);
    // Nothing may compile when the test binary exits.
    JitCompiler::wait_for_compiles();
}

#[test]
fn a_chunk_past_its_block_threshold_compiles_in_the_background_for_its_next_run() {
    let mut cfg = JitCompiler::new().get_config();
    cfg.block_threshold = 1;
    cfg.trace_threshold = u32::MAX;
    cfg.background_compile = true;
    JitCompiler::new().set_config(cfg);
    let jit = JitCompiler::new();
    let chunk = summing_loop(10_000, 17, 1);
    let want = interpreted(&chunk);
    // The first run is below the threshold, the second queues the
    // compilation and is interpreted too: neither waits for LLVM.
    assert_eq!(jitted(&chunk), want);
    assert_eq!(jitted(&chunk), want);
    assert_eq!(jit.block_run_count(&chunk), 0);
    JitCompiler::wait_for_compiles();
    assert!(jit.block_jit_is_compiled(&chunk));
    assert_eq!(jitted(&chunk), want);
    assert_eq!(jit.block_run_count(&chunk), 1, "the third run was native");
    JitCompiler::wait_for_compiles();
}
