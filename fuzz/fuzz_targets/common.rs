//! What both targets do with a chunk: verify it, then run it under a step
//! budget and small limits in the interpreter, and (when `jit`) with the
//! native tiers eager. Nothing may panic, hang or crash; errors are fine.

use fusevm_llvm::{Chunk, JitCompiler, Limits, VM};
pub fn run(chunk: Chunk, jit: bool) {
    if fusevm_llvm::verify(&chunk).is_err() {
        return;
    }
    let mut cfg = JitCompiler::new().get_config();
    cfg.block_threshold = 0;
    cfg.trace_threshold = 2;
    JitCompiler::new().set_config(cfg);
    let mut vm = VM::new(chunk);
    vm.set_output(Box::new(std::io::sink()));
    vm.set_input(Box::new(std::io::empty()));
    vm.set_limits(Limits {
        max_frames: 500,
        max_collection_len: 1 << 12,
        max_string_len: 1 << 14,
        ..Limits::default()
    });
    vm.set_step_budget(Some(5_000));
    if jit {
        vm.enable_tracing_jit();
    }
    let _ = vm.run();
}
