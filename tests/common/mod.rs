//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod kernels;
pub mod outcome;
pub mod programs;
#[cfg(feature = "jit")]
pub mod traced;

use fusevm_llvm::{Chunk, ChunkBuilder, Op, VM, VMResult, Value, assemble};

/// A chunk of `ops` with the given constants.
pub fn chunk_with(consts: &[Value], ops: &[Op]) -> Chunk {
    let mut b = ChunkBuilder::new();
    for c in consts {
        b.add_constant(c.clone());
    }
    for op in ops {
        b.emit(*op, 1);
    }
    b.build()
}

/// Runs `ops` (no constants) and returns the result.
pub fn run(ops: &[Op]) -> VMResult {
    VM::new(chunk_with(&[], ops)).run()
}

/// Runs `ops` and returns the value on top of the stack; panics otherwise.
pub fn eval(ops: &[Op]) -> Value {
    match run(ops) {
        VMResult::Ok(v) => v,
        other => panic!("expected a value from {ops:?}, got {other}"),
    }
}

/// Runs `ops` with constants and returns the top value.
pub fn eval_with(consts: &[Value], ops: &[Op]) -> Value {
    match VM::new(chunk_with(consts, ops)).run() {
        VMResult::Ok(v) => v,
        other => panic!("expected a value from {ops:?}, got {other}"),
    }
}

/// Asserts strict identity (kind and float bits) of two values.
#[track_caller]
pub fn assert_same(got: &Value, want: &Value) {
    assert!(got.same_as(want), "got {got:?}, want {want:?}");
}

/// Runs an example program from `examples/`.
pub fn example(name: &str) -> Chunk {
    let path = format!("{}/examples/{name}.fasm", env!("CARGO_MANIFEST_DIR"));
    let src = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    assemble(&src).unwrap_or_else(|e| panic!("{path}:{e}"))
}

/// Every example program's name.
pub const EXAMPLES: &[&str] = &[
    "sum",
    "float_recurrence",
    "branch",
    "nested",
    "fib",
    "mandelbrot",
    "strings",
];

/// A small deterministic PRNG (xorshift64*), so generated tests replay.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// `fib(n)` with its result printed (so the block tier refuses the chunk
/// and fib runs as a hot subroutine), as `.fasm` text.
pub fn printing_fib(n: i64) -> String {
    format!(
        "
        LoadInt {n}
        Call fib 1
        Dup
        PrintLn 1
        ReturnValue
sub fib:
        SetSlot 0
        GetSlot 0
        LoadInt 2
        NumLt
        JumpIfFalse recurse
        GetSlot 0
        ReturnValue
recurse:
        GetSlot 0
        LoadInt 1
        Sub
        Call fib 1
        GetSlot 0
        LoadInt 2
        Sub
        Call fib 1
        Add
        ReturnValue"
    )
}

/// Programs each half of a tier's differential test checks: 500 (1,000 a
/// tier in the default test run, which must stay short);
/// `FUSEVM_DIFFERENTIAL_PROGRAMS=N` for a longer run
/// (`tests/differential.rs --long` for the longest).
pub fn differential_count() -> usize {
    std::env::var("FUSEVM_DIFFERENTIAL_PROGRAMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500)
}

/// Pins the thread's JIT thresholds: the block tier compiles on the first
/// run (`block`) or never, and tracing never arms.
#[cfg(feature = "jit")]
pub fn pin_block_tier(block: bool) {
    let mut cfg = fusevm_llvm::JitCompiler::new().get_config();
    cfg.block_threshold = if block { 0 } else { u32::MAX };
    cfg.trace_threshold = u32::MAX;
    cfg.background_compile = false;
    fusevm_llvm::JitCompiler::new().set_config(cfg);
}

/// Runs `chunk` in a fresh VM, interpreted (`jit == false`) or with the
/// JIT enabled; returns the result and the VM for inspection.
pub fn run_vm(chunk: &Chunk, jit: bool) -> (VMResult, VM) {
    let mut vm = VM::new(chunk.clone());
    if jit {
        vm.enable_tracing_jit();
    }
    let r = vm.run();
    (r, vm)
}

/// Asserts the interpreter and the block tier agree on `chunk` (result,
/// slots, stack) and that the block tier really ran it.
#[cfg(feature = "jit")]
#[track_caller]
pub fn assert_block_agrees(chunk: &Chunk) {
    pin_block_tier(true);
    let jit = fusevm_llvm::JitCompiler::new();
    let before = jit.block_run_count(chunk);
    let (want, ivm) = run_vm(chunk, false);
    let (got, nvm) = run_vm(chunk, true);
    assert!(
        jit.block_jit_is_compiled(chunk),
        "not compiled: {:?}",
        jit.block_failure(chunk)
    );
    assert!(
        jit.block_run_count(chunk) > before,
        "block tier did not run"
    );
    assert!(got.same_as(&want), "block tier {got} vs interpreter {want}");
    assert_same_vm_state(&nvm, &ivm);
}

/// Asserts two VMs ended in the same state: slots, stack, frames and
/// globals, values compared with `same_as`.
#[track_caller]
pub fn assert_same_vm_state(got: &VM, want: &VM) {
    let same =
        |a: &[Value], b: &[Value]| a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same_as(y));
    let slots = |vm: &VM| {
        vm.frames
            .iter()
            .map(|f| f.slots.clone())
            .collect::<Vec<_>>()
    };
    let (gs, ws) = (slots(got), slots(want));
    assert!(
        gs.len() == ws.len() && gs.iter().zip(&ws).all(|(a, b)| same(a, b)),
        "slots {gs:?} vs {ws:?}"
    );
    assert!(
        same(&got.stack, &want.stack),
        "stack {:?} vs {:?}",
        got.stack,
        want.stack
    );
    assert_eq!(got.frames.len(), want.frames.len(), "frames");
    assert!(
        same(got.globals(), want.globals()),
        "globals {:?} vs {:?}",
        got.globals(),
        want.globals()
    );
}
