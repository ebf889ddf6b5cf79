//! Every kernel on every engine, side by side in one run: our interpreter,
//! block tier and tracing tier, hand-written Rust, and with
//! `--features peer-bench` the fusevm crate's interpreter, block JIT and
//! VM JIT. Each (kernel, engine) pair is checked against native Rust before
//! it is timed; a pair that can't run or gives a wrong answer is reported
//! with the reason instead (a peer engine is checked in a child process,
//! so a crash there is reported, not fatal). Also: what compiling cost.
//!
//! Kernels and engines live in `benches/suite/` (shared with the
//! `bench-report` binary, the seconds-long version of this suite).
//!
//! Run: `cargo bench --bench kernels [-- KERNEL]`; each group ends with the
//! ratios of this run's medians to native Rust, and the HTML report is at
//! `target/criterion/report/index.html`.

#[path = "common/medians.rs"]
mod medians;
#[path = "suite/mod.rs"]
mod suite;

use criterion::Criterion;
use fusevm_llvm::JitCompiler;
use std::time::{Duration, Instant, SystemTime};
use suite::{Engine, KERNELS, Kernel};

fn bench_kernel(c: &mut Criterion, k: &'static Kernel) {
    let mut prepared = Vec::new();
    let mut skipped = Vec::new();
    for &e in &Engine::available() {
        let before = JitCompiler::stats();
        let t = Instant::now();
        match suite::prepare_safely(k, e) {
            Ok(run) => {
                let first = t.elapsed();
                if matches!(e, Engine::BlockTier | Engine::TracingTier) {
                    let after = JitCompiler::stats();
                    compile_cost(k.name, e, first, &before, &after);
                }
                prepared.push((e, run));
            }
            Err(why) => skipped.push(format!("{}: {why}", e.name())),
        }
    }
    let started = SystemTime::now();
    let mut g = c.benchmark_group(k.name);
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for (e, run) in &mut prepared {
        g.bench_function(e.name(), |b| b.iter(&mut *run));
    }
    g.finish();
    ratios(k.name, started, &prepared);
    for s in skipped {
        println!("{}: not timed: {s}", k.name);
    }
}

/// Prints each engine's median over native Rust's, from this run.
fn ratios(group: &str, since: SystemTime, engines: &[(Engine, suite::Runner)]) {
    let median = |e: Engine| medians::median(group, e.name(), since);
    let Some(native) = median(Engine::NativeRust) else {
        return;
    };
    let cells: Vec<String> = engines
        .iter()
        .filter(|(e, _)| *e != Engine::NativeRust)
        .filter_map(|(e, _)| {
            let m = median(*e)?;
            Some(format!(
                "{} {:.2}x ({:.3} ms)",
                e.name(),
                m / native,
                m / 1e6
            ))
        })
        .collect();
    println!(
        "{group}: / native Rust ({:.3} ms): {}",
        native / 1e6,
        cells.join(", ")
    );
}

fn compile_cost(
    group: &str,
    e: Engine,
    first: Duration,
    before: &fusevm_llvm::JitStats,
    after: &fusevm_llvm::JitStats,
) {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let units = (after.block_compiled + after.trace_compiled)
        - (before.block_compiled + before.trace_compiled);
    let (a, b) = (after.compile_time, before.compile_time);
    let (ir, o2, cg) = (a.0 - b.0, a.1 - b.1, a.2 - b.2);
    println!(
        "{group}: {}: {units} unit(s) compiled in {:.2} ms (build IR {:.2}, O2 {:.2}, codegen {:.2}); \
         first run incl. compile {:.2} ms",
        e.name(),
        ms(ir + o2 + cg),
        ms(ir),
        ms(o2),
        ms(cg),
        ms(first)
    );
}

fn main() {
    suite::probe_main();
    suite::configure();
    let mut c = Criterion::default().configure_from_args();
    for k in KERNELS {
        bench_kernel(&mut c, k);
    }
    c.final_summary();
}
