//! The block tier against the interpreter and hand-written Rust, side by
//! side in one run, plus what compiling each kernel cost.
//!
//! Each kernel (`benches/kernels/*.fasm`) takes its sizes from slots the
//! embedder sets, so LLVM can't specialise on them; the Rust baselines
//! (`tests/common/kernels.rs`) are the same loops with their inputs through
//! `black_box`. Neither side can fold a kernel into a closed form (the sum
//! kernel's xor is there for that). Results are checked before timing.
//!
//! Run: `cargo bench --bench kernels`; the ratios print at the end of each
//! group (medians of this run).

use criterion::{Criterion, criterion_group, criterion_main};
use fusevm_llvm::{BlockNum, Chunk, JitCompiler, SlotKind, VM, VMResult, Value, assemble};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

#[path = "../tests/common/kernels.rs"]
mod kernels;
#[path = "common/medians.rs"]
mod medians;

struct Kernel {
    name: &'static str,
    file: &'static str,
    /// Slots the embedder sets: (slot, value).
    params: &'static [(u16, i64)],
    native: fn() -> Value,
}

const KERNELS: &[Kernel] = &[
    Kernel {
        name: "sum_loop",
        file: "sum",
        params: &[(0, 10_000_000)],
        native: || Value::Int(kernels::sum_xor(black_box(10_000_000))),
    },
    Kernel {
        name: "float_recurrence",
        file: "float_recurrence",
        params: &[(2, 1_000_000)],
        native: || Value::Float(kernels::float_recurrence(black_box(1_000_000))),
    },
    Kernel {
        name: "branch",
        file: "branch",
        params: &[(2, 3_000_000)],
        native: || Value::Int(kernels::branch_plain(black_box(3_000_000))),
    },
    Kernel {
        name: "nested",
        file: "nested",
        params: &[(3, 1000)],
        native: || Value::Int(kernels::nested(black_box(1000))),
    },
    Kernel {
        name: "fib27",
        file: "fib",
        params: &[(0, 27)],
        native: || Value::Int(kernels::fib(black_box(27))),
    },
    Kernel {
        name: "mandelbrot",
        file: "mandelbrot",
        params: &[(9, 200), (10, 50)],
        native: || Value::Int(kernels::mandelbrot(black_box(200), black_box(50))),
    },
];

fn load(file: &str) -> Arc<Chunk> {
    let path = format!("{}/benches/kernels/{file}.fasm", env!("CARGO_MANIFEST_DIR"));
    let src = std::fs::read_to_string(&path).expect("kernel exists");
    Arc::new(assemble(&src).expect("kernel assembles"))
}

fn slots_of(k: &Kernel) -> Vec<i64> {
    let n = k
        .params
        .iter()
        .map(|(s, _)| *s as usize + 1)
        .max()
        .unwrap_or(0);
    let mut slots = vec![0; n];
    for (s, v) in k.params {
        slots[*s as usize] = *v;
    }
    slots
}

fn interpret(chunk: &Arc<Chunk>, k: &Kernel) -> Value {
    let mut vm = VM::with_shared_chunk(Arc::clone(chunk));
    for (s, v) in k.params {
        vm.set_slot(*s, Value::Int(black_box(*v)));
    }
    match vm.run() {
        VMResult::Ok(v) => v,
        other => panic!("{}: {other}", k.name),
    }
}

/// The kernel with its result printed too: no longer block-eligible, so
/// only the tracing tier can make its loops native.
fn printing(chunk: &Chunk) -> Arc<Chunk> {
    let src = fusevm_llvm::disassemble(chunk).expect("disassembles");
    Arc::new(assemble(&format!("{src}\n        Dup\n        PrintLn 1\n")).expect("assembles"))
}

fn traced(chunk: &Arc<Chunk>, k: &Kernel) -> Value {
    let mut vm = VM::with_shared_chunk(Arc::clone(chunk));
    vm.set_output(Box::new(std::io::sink()));
    vm.enable_tracing_jit();
    for (s, v) in k.params {
        vm.set_slot(*s, Value::Int(black_box(*v)));
    }
    match vm.run() {
        VMResult::Ok(v) => v,
        other => panic!("{}: {other}", k.name),
    }
}

fn block(jit: &JitCompiler, chunk: &Chunk, slots: &[i64]) -> Value {
    let mut s = black_box(slots.to_vec());
    let mut kinds = vec![SlotKind::Int; s.len()];
    match jit.try_run_block_typed_kinded(chunk, &mut s, &mut kinds) {
        Some(BlockNum::Int(i)) => Value::Int(i),
        Some(BlockNum::Float(f)) => Value::Float(f),
        other => panic!("block tier: {other:?}"),
    }
}

fn bench_kernel(c: &mut Criterion, k: &Kernel) {
    let chunk = load(k.file);
    let jit = JitCompiler::new();
    let slots = slots_of(k);
    let expected = (k.native)();
    assert!(
        interpret(&chunk, k).same_as(&expected),
        "{}: interpreter disagrees",
        k.name
    );
    let t = Instant::now();
    let first = block(&jit, &chunk, &slots);
    let first_run = t.elapsed();
    assert!(
        first.same_as(&expected),
        "{}: block tier gives {first:?}",
        k.name
    );
    assert!(
        jit.block_jit_is_compiled(&chunk),
        "{}: {:?}",
        k.name,
        jit.block_failure(&chunk)
    );
    let with_print = printing(&chunk);
    assert!(!jit.is_block_eligible(&with_print));
    assert!(
        traced(&with_print, k).same_as(&expected),
        "{}: tracing tier disagrees",
        k.name
    );
    let started = SystemTime::now();
    let mut g = c.benchmark_group(k.name);
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    g.bench_function("interpreter", |b| b.iter(|| interpret(&chunk, k)));
    g.bench_function("block_tier", |b| b.iter(|| block(&jit, &chunk, &slots)));
    g.bench_function("tracing_tier", |b| b.iter(|| traced(&with_print, k)));
    g.bench_function("native_rust", |b| b.iter(k.native));
    g.finish();
    report(k.name, started, &jit, &chunk, first_run);
}

/// Prints the ratios to native Rust from the medians criterion just
/// measured, and the compile cost.
fn report(group: &str, since: SystemTime, jit: &JitCompiler, chunk: &Chunk, first_run: Duration) {
    let median = |f: &str| medians::median(group, f, since);
    let ratio = |f: &str| Some(median(f)? / median("native_rust")?);
    if let (Some(b), Some(t), Some(i)) = (
        ratio("block_tier"),
        ratio("tracing_tier"),
        ratio("interpreter"),
    ) {
        let ms = |f: &str| median(f).map_or(f64::NAN, |m| m / 1e6);
        println!(
            "{group}: / native Rust: block tier {b:.2}x, tracing tier {t:.2}x, interpreter {i:.1}x \
             (medians ms: block {:.3}, traced {:.3}, interpreted {:.2}, native {:.3})",
            ms("block_tier"),
            ms("tracing_tier"),
            ms("interpreter"),
            ms("native_rust")
        );
    }
    if let Some(t) = jit.block_compile_timings(chunk) {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "{group}: compile {:.2} ms (build IR {:.2}, O2 {:.2}, codegen {:.2}); first native run incl. compile {:.2} ms",
            ms(t.build_ir + t.optimize + t.codegen),
            ms(t.build_ir),
            ms(t.optimize),
            ms(t.codegen),
            ms(first_run)
        );
    }
}

fn benches(c: &mut Criterion) {
    // Compile on first use: the first run above pays for compilation.
    let mut cfg = JitCompiler::get_config();
    cfg.block_threshold = 0;
    cfg.trace_threshold = 50;
    JitCompiler::set_config(cfg);
    for k in KERNELS {
        bench_kernel(c, k);
    }
}

criterion_group!(block_kernels, benches);
criterion_main!(block_kernels);
