//! Running chunks through the tracing tier with the block tier kept out.

use super::assert_same_vm_state;
use fusevm_llvm::{
    Chunk, JitCompiler, SharedBuffer, TraceJitConfig, VM, VMResult, Value, assemble,
};

/// Assembles `src`, panicking with the source on an error.
pub fn asm(src: &str) -> Chunk {
    assemble(src).unwrap_or_else(|e| panic!("{e}\n{src}"))
}

/// `examples/{name}.fasm` with its result also printed: the block tier
/// refuses it, so only traces make its loops native.
pub fn printing_example(name: &str) -> Chunk {
    let path = format!("{}/examples/{name}.fasm", env!("CARGO_MANIFEST_DIR"));
    let src = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    asm(&format!("{src}\n        Dup\n        PrintLn 1\n"))
}

/// Pins this thread's config: block tier off, `trace_threshold`, traces
/// compiled in the foreground, then `f`.
pub fn pin(trace_threshold: u32, f: impl FnOnce(&mut TraceJitConfig)) {
    let mut cfg = TraceJitConfig::defaults();
    cfg.block_threshold = u32::MAX;
    cfg.trace_threshold = trace_threshold;
    // Compiled before the run goes on: tests look at the tiers right after.
    cfg.background_compile = false;
    f(&mut cfg);
    JitCompiler::new().set_config(cfg);
}

/// Runs `chunk` interpreted and with the JIT, slots preset; asserts equal
/// results, slots, stack, frames and output. Returns the JIT's VM.
#[track_caller]
pub fn agree_with(chunk: &Chunk, presets: &[Value]) -> (VMResult, VM, String) {
    let run = |jit: bool| {
        let mut vm = VM::new(chunk.clone());
        let out = SharedBuffer::new();
        vm.set_output(Box::new(out.clone()));
        for (i, v) in presets.iter().enumerate() {
            vm.set_slot(i as u16, v.clone());
        }
        if jit {
            vm.enable_tracing_jit();
        }
        let r = vm.run();
        (r, vm, out.contents())
    };
    let (want, ivm, iout) = run(false);
    let (got, nvm, nout) = run(true);
    assert!(got.same_as(&want), "traced {got} vs interpreted {want}");
    assert_same_vm_state(&nvm, &ivm);
    assert_eq!(nout, iout);
    (got, nvm, nout)
}

/// The value of an `Ok` result.
#[track_caller]
pub fn value(r: VMResult) -> Value {
    match r {
        VMResult::Ok(v) => v,
        other => panic!("expected a value, got {other}"),
    }
}

/// The trace at `anchor` of `chunk` is compiled and native code ran it
/// (left it at least once).
#[track_caller]
pub fn assert_traced(chunk: &Chunk, anchor: usize) {
    let jit = JitCompiler::new();
    assert!(
        jit.trace_is_compiled(chunk, anchor),
        "{:?}",
        jit.trace_failure(chunk, anchor)
    );
    assert!(
        jit.trace_deopt_count(chunk, anchor) > 0,
        "the trace never ran"
    );
}
