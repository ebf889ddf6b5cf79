//! `bench-report`: runs the benchmark suite quickly and prints one Markdown
//! table — every kernel on every engine, median time and ratio to native
//! Rust, all measured in this run — then what compiling cost.
//!
//! `cargo run --release --bin bench-report` (add `--features peer-bench` for
//! the fusevm columns). Options: `--runs N` (timed runs per cell, default
//! 7), `--budget-ms M` (time per cell before it stops at 3 runs, default
//! 1500), `--kernel NAME` (only that kernel).
//!
//! The criterion suite (`cargo bench --bench kernels`) measures the same
//! pairs with more care; this is the seconds-long version for a README.

#[path = "../../benches/suite/mod.rs"]
mod suite;

use fusevm_llvm::JitCompiler;
use std::time::Duration;
use suite::{Engine, KERNELS};

struct Options {
    runs: usize,
    budget: Duration,
    only: Option<String>,
}

fn options() -> Options {
    let mut o = Options {
        runs: 7,
        budget: Duration::from_millis(1500),
        only: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage(&a));
        match a.as_str() {
            "--runs" => o.runs = value().parse().unwrap_or_else(|_| usage("--runs")),
            "--budget-ms" => {
                let ms: u64 = value().parse().unwrap_or_else(|_| usage("--budget-ms"));
                o.budget = Duration::from_millis(ms);
            }
            "--kernel" => o.only = Some(value()),
            _ => usage(&a),
        }
    }
    o
}

fn usage(at: &str) -> ! {
    eprintln!(
        "bench-report: bad argument {at:?}\nusage: bench-report [--runs N] [--budget-ms M] [--kernel NAME]"
    );
    std::process::exit(2)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// A cell: the median, or why there is none.
type Cell = Result<Duration, String>;

fn main() {
    suite::probe_main();
    let o = options();
    suite::configure();
    let engines = Engine::available();
    let mut rows: Vec<(&str, Vec<Cell>)> = Vec::new();
    let mut costs = Vec::new();
    for k in KERNELS {
        if o.only.as_deref().is_some_and(|n| n != k.name) {
            continue;
        }
        eprint!("{}:", k.name);
        let mut cells = Vec::new();
        for &e in &engines {
            eprint!(" {}", e.name());
            let before = JitCompiler::stats();
            let started = std::time::Instant::now();
            let prepared = suite::prepare_safely(k, e);
            let first = started.elapsed();
            let after = JitCompiler::stats();
            if matches!(e, Engine::BlockTier | Engine::TracingTier) && prepared.is_ok() {
                costs.push(cost(k.name, e, first, &before, &after));
            }
            cells.push(prepared.map(|mut run| suite::median_time(&mut run, o.runs, o.budget)));
        }
        eprintln!();
        rows.push((k.name, cells));
    }
    print_table(&engines, &rows);

    print_costs(&costs);
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    println!(
        "\nMeasured on {cpu} ({} threads available), {} timed runs per cell (median).",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        o.runs
    );
}

fn print_table(engines: &[Engine], rows: &[(&str, Vec<Cell>)]) {
    let native = engines.iter().position(|e| *e == Engine::NativeRust);
    print!("| kernel |");
    for e in engines {
        print!(" {} |", e.name());
    }
    println!();
    print!("|---|");
    for _ in engines {
        print!("---:|");
    }
    println!();
    let mut notes = Vec::new();
    for (name, cells) in rows {
        print!("| {name} |");
        let base = native.and_then(|n| cells[n].as_ref().ok()).copied();
        for (e, c) in engines.iter().zip(cells) {
            match c {
                Ok(t) if *e == Engine::NativeRust => print!(" {:.2} ms |", ms(*t)),
                Ok(t) => match base {
                    Some(b) => print!(" {:.2} ms ({:.2}×) |", ms(*t), ms(*t) / ms(b)),
                    None => print!(" {:.2} ms |", ms(*t)),
                },
                Err(why) => {
                    notes.push(format!("{name} / {}: {why}", e.name()));
                    print!(" — [{}] |", notes.len());
                }
            }
        }
        println!();
    }
    println!("\nRatios are to native Rust in the same run (lower is faster).");
    for (i, n) in notes.iter().enumerate() {
        println!("[{}] {n}", i + 1);
    }
}

/// What getting to native code cost one (kernel, tier) pair.
struct Cost {
    kernel: &'static str,
    engine: Engine,
    /// Wall time of the first run, compiling included.
    first: Duration,
    /// Units compiled during it, and the IR / O2 / codegen split.
    units: u64,
    split: (Duration, Duration, Duration),
}

fn cost(
    kernel: &'static str,
    engine: Engine,
    first: Duration,
    before: &fusevm_llvm::JitStats,
    after: &fusevm_llvm::JitStats,
) -> Cost {
    let units = (after.block_compiled + after.trace_compiled)
        - (before.block_compiled + before.trace_compiled);
    let (a, b) = (after.compile_time, before.compile_time);
    Cost {
        kernel,
        engine,
        first,
        units,
        split: (a.0 - b.0, a.1 - b.1, a.2 - b.2),
    }
}

fn print_costs(costs: &[Cost]) {
    println!(
        "\n| kernel | tier | units compiled | compile ms (IR / O2 / codegen) | first run incl. compile |"
    );
    println!("|---|---|---:|---:|---:|");
    for c in costs {
        let (ir, o2, cg) = c.split;
        println!(
            "| {} | {} | {} | {:.1} ({:.1} / {:.1} / {:.1}) | {:.1} ms |",
            c.kernel,
            c.engine.name(),
            c.units,
            ms(ir + o2 + cg),
            ms(ir),
            ms(o2),
            ms(cg),
            ms(c.first)
        );
    }
}
