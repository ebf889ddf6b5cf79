//! The interpreter against hand-written Rust, side by side in one run.
//!
//! The example programs (`examples/`, constant sizes), then every suite
//! kernel in its plain forms (`benches/kernels/plain/`: what a simple
//! frontend emits, loops top-tested and do-while; sizes from slots).
//!
//! `sum_loop` is the target kernel: 1e7 iterations of the unfused
//! `sum = sum + i; i = i + 1` loop (GetSlot/Add/SetSlot/NumLt/JumpIfFalse/
//! Jump). The native baseline feeds `i` through `black_box` so LLVM can not
//! replace the loop by its closed form. Compare the medians of
//! `sum_loop/interpreter` and `sum_loop/native_rust`.

use criterion::{Criterion, criterion_group, criterion_main};
use fusevm_llvm::{Chunk, VM, VMResult, Value, assemble};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

#[path = "common/medians.rs"]
mod medians;
#[path = "suite/table.rs"]
#[allow(dead_code)]
mod table;
use table::native as kernels;

fn example(name: &str) -> Arc<Chunk> {
    let path = format!("{}/examples/{name}.fasm", env!("CARGO_MANIFEST_DIR"));
    let src = std::fs::read_to_string(&path).expect("example exists");
    Arc::new(assemble(&src).expect("example assembles"))
}

fn run(chunk: &Arc<Chunk>) -> Value {
    match VM::with_shared_chunk(Arc::clone(chunk)).run() {
        VMResult::Ok(v) => v,
        other => panic!("kernel failed: {other}"),
    }
}

fn bench_kernel(c: &mut Criterion, name: &str, chunk: Arc<Chunk>, native: impl Fn() -> Value) {
    let expected = native();
    assert!(
        run(&chunk).same_as(&expected),
        "{name}: interpreter disagrees with native"
    );
    let started = std::time::SystemTime::now();
    let mut g = c.benchmark_group(name);
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    g.bench_function("interpreter", |b| b.iter(|| run(black_box(&chunk))));
    g.bench_function("native_rust", |b| b.iter(&native));
    g.finish();
    report_ratio(name, started);
}

/// Prints `interpreter / native_rust` from the medians criterion just
/// measured, read back from its estimates files. Files older than `since`
/// belong to an earlier run (of a group this run filtered out): skipped.
fn report_ratio(group: &str, since: std::time::SystemTime) {
    let median = |f: &str| medians::median(group, f, since);
    if let (Some(interp), Some(native)) = (median("interpreter"), median("native_rust")) {
        println!(
            "{group}: interpreter / native Rust = {:.1}x (medians {:.2} ms / {:.3} ms)",
            interp / native,
            interp / 1e6,
            native / 1e6
        );
    }
}

/// A plain kernel's chunk, run with its sizes in its slots.
fn plain_runner(k: &table::Kernel) -> impl Fn() -> Value {
    let path = format!(
        "{}/benches/kernels/{}.fasm",
        env!("CARGO_MANIFEST_DIR"),
        k.file
    );
    let src = std::fs::read_to_string(&path).expect("kernel exists");
    let chunk = Arc::new(assemble(&src).expect("kernel assembles"));
    let params = k.params;
    move || {
        let mut vm = VM::with_shared_chunk(Arc::clone(&chunk));
        for (s, v) in params {
            vm.set_slot(*s, Value::Int(black_box(*v)));
        }
        match vm.run() {
            VMResult::Ok(v) => v,
            other => panic!("kernel failed: {other}"),
        }
    }
}

fn plain_benches(c: &mut Criterion) {
    for k in table::PLAIN_KERNELS {
        let run = plain_runner(k);
        let expected = (k.native)();
        assert!(
            run().same_as(&expected),
            "{}: interpreter disagrees with native",
            k.name
        );
        let started = std::time::SystemTime::now();
        // Criterion names directories after groups: no slashes.
        let group = format!("plain_{}", k.name.replace('/', "_"));
        let mut g = c.benchmark_group(&group);
        g.sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(3));
        g.bench_function("interpreter", |b| b.iter(&run));
        g.bench_function("native_rust", |b| b.iter(k.native));
        g.finish();
        report_ratio(&group, started);
    }
}

fn benches(c: &mut Criterion) {
    bench_kernel(c, "sum_loop", example("sum"), || {
        Value::Int(kernels::sum(black_box(10_000_000)))
    });
    bench_kernel(c, "float_recurrence", example("float_recurrence"), || {
        Value::Float(kernels::float_recurrence(black_box(1_000_000)))
    });
    bench_kernel(c, "branch", example("branch"), || {
        Value::Int(kernels::branch(black_box(3_000_000)))
    });
    bench_kernel(c, "nested", example("nested"), || {
        Value::Int(kernels::nested(black_box(1000)))
    });
    bench_kernel(c, "fib27", example("fib"), || {
        Value::Int(kernels::fib(black_box(27)))
    });
    bench_kernel(c, "mandelbrot", example("mandelbrot"), || {
        Value::Int(kernels::mandelbrot(black_box(200), black_box(50)))
    });
}

criterion_group!(interp, benches, plain_benches);
criterion_main!(interp);
