//! `bench-report`: runs the benchmark suite quickly and prints one Markdown
//! table — every kernel on every engine, median time and ratio to native
//! Rust, all measured in this run — then what compiling cost.
//!
//! `cargo run --release --bin bench-report` (add `--features peer-bench` for
//! the fusevm columns). Options: `--runs N` (timed runs per cell, default
//! 7), `--budget-ms M` (time per cell before it stops at 3 runs, default
//! 1500), `--kernel NAME` (only that kernel, and its plain forms),
//! `--no-plain` (leave out the plain forms: `benches/kernels/plain/`).
//!
//! With `lua5.4` and `luajit` on PATH (`ci/setup-bench.sh`), each kernel's
//! Lua version (`benches/lua/`) runs too, timed inside its own process, and
//! a second table sets our interpreter against Lua 5.4 and our fastest
//! native tier against LuaJIT.
//!
//! Then, for every kernel (and plain form), a fresh process's first run
//! with the default configuration and no code cache, beside its steady
//! state and what compiling cost.
//!
//! Then, for every kernel on each native tier, a second process's first run
//! with a warm persistent code cache (a first process filled it) beside the
//! steady state, and what linking the stored code cost per unit.
//!
//! The criterion suite (`cargo bench --bench kernels`) measures the same
//! pairs with more care; this is the seconds-long version for a README.

#[path = "../../benches/suite/mod.rs"]
mod suite;

use fusevm_llvm::JitCompiler;
use std::time::Duration;
use suite::table::PLAIN_KERNELS;
use suite::{Engine, KERNELS};

struct Options {
    runs: usize,
    budget: Duration,
    only: Option<String>,
    /// Also the plain forms (`--no-plain` leaves them out).
    plain: bool,
}

fn options() -> Options {
    let mut o = Options {
        runs: 7,
        budget: Duration::from_millis(1500),
        only: None,
        plain: true,
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
            "--no-plain" => o.plain = false,
            _ => usage(&a),
        }
    }
    o
}

fn usage(at: &str) -> ! {
    eprintln!(
        "bench-report: bad argument {at:?}\nusage: bench-report [--runs N] [--budget-ms M] [--kernel NAME] [--no-plain]"
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
    first_run_child();
    cold_run_child();
    let o = options();
    suite::configure();
    let mut engines = Engine::available();
    engines.extend(Engine::lua_available());
    let mut costs = Vec::new();
    let rows = measure(KERNELS, &engines, &o, &mut costs);
    print_table(&engines, &rows);
    print_against_lua(&engines, &rows);
    let mut all_rows = rows.clone();
    if o.plain {
        let plain = measure(PLAIN_KERNELS, &engines, &o, &mut costs);
        all_rows.extend(plain.iter().cloned());
        println!(
            "\n### Plain forms\n\nThe same kernels as a plain frontend emits them (`benches/kernels/plain/`: \
             no fused ops, loops top-tested or do-while), same sizes and baselines.\n"
        );
        print_table(&engines, &plain);
        print_against_lua(&engines, &plain);
    }

    print_costs(&costs);
    print_cold_runs(&o, &all_rows, o.plain.then_some(PLAIN_KERNELS));
    print_warm_cache(&engines, &rows);
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

/// Every kernel of `kernels` (those `--kernel` picks) on every engine: a
/// row of cells each; what compiling cost is added to `costs`.
fn measure(
    kernels: &'static [suite::Kernel],
    engines: &[Engine],
    o: &Options,
    costs: &mut Vec<Cost>,
) -> Vec<(&'static str, Vec<Cell>)> {
    let mut rows = Vec::new();
    for k in kernels {
        let picked = |n: &str| k.name == n || k.name.split('/').next() == Some(n);
        if o.only.as_deref().is_some_and(|n| !picked(n)) {
            continue;
        }
        eprint!("{}:", k.name);
        let mut cells = Vec::new();
        for &e in engines {
            eprint!(" {}", e.name());
            if e.is_lua() {
                cells.push(suite::lua_median(k, e, o.runs));
                continue;
            }
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
    rows
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

/// Our interpreter against Lua 5.4's, our fastest native tier against
/// LuaJIT's, from the cells just measured (when those columns exist).
fn print_against_lua(engines: &[Engine], rows: &[(&str, Vec<Cell>)]) {
    let col = |e: Engine| engines.iter().position(|x| *x == e);
    let (Some(lua), jit) = (col(Engine::Lua54), col(Engine::LuaJit)) else {
        return;
    };
    let interp = col(Engine::Interpreter);
    let tiers = [col(Engine::BlockTier), col(Engine::TracingTier)];
    println!("\n| kernel | interpreter / lua5.4 | our best native tier / luajit |");
    println!("|---|---:|---:|");
    let ratio = |a: Option<&Cell>, b: Option<&Cell>| match (a, b) {
        (Some(Ok(a)), Some(Ok(b))) => format!("{:.2}×", ms(*a) / ms(*b)),
        _ => "—".into(),
    };
    for (name, cells) in rows {
        let best = tiers
            .iter()
            .flatten()
            .filter_map(|&c| cells[c].as_ref().ok())
            .min()
            .map(|d| Ok(*d));
        println!(
            "| {name} | {} | {} |",
            ratio(interp.map(|i| &cells[i]), Some(&cells[lua])),
            ratio(best.as_ref(), jit.map(|j| &cells[j]))
        );
    }
    println!("\nLower is faster for us; — where a side has no time (see the notes above).");
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

/// In a child process: times `run`'s first call and checks its result
/// against native Rust's (a wrong one ends the child, saying why).
fn timed_first_run(run: &mut suite::Runner, k: &suite::Kernel) -> Duration {
    let t = std::time::Instant::now();
    let got = run();
    let first = t.elapsed();
    if let Err(why) = suite::check(k, got, &(k.native)()) {
        println!("{why}");
        std::process::exit(3)
    }
    first
}

// ── a fresh process's first run, default configuration ──

/// Asks this binary to run one kernel as an embedder with default settings
/// would (a VM with the JIT enabled, no code cache), report, and exit;
/// `name+bg` turns background compilation on.
const COLD_RUN_ENV: &str = "FUSEVM_BENCH_COLD_RUN";

/// In a cold-run child: the kernel's first run (timed, result checked),
/// then the queue drained and the steady state of later runs; prints
/// `first_ns steady_ns compile_ns wait_ns longest_wait_ns queued`.
fn cold_run_child() {
    let Ok(what) = std::env::var(COLD_RUN_ENV) else {
        return;
    };
    let (name, background) = match what.strip_suffix("+bg") {
        Some(name) => (name, true),
        None => (what.as_str(), false),
    };
    let mut cfg = JitCompiler::new().get_config();
    cfg.background_compile = background;
    JitCompiler::new().set_config(cfg);
    let k = suite::kernel_named(name).expect("kernel");
    let chunk = suite::load(k);
    let mut run: suite::Runner = Box::new(move || suite::run_vm(&chunk, k, true));
    let first = timed_first_run(&mut run, k);
    JitCompiler::wait_for_compiles();
    let steady = suite::median_time(&mut run, 7, Duration::from_millis(1500));
    JitCompiler::stop_background_compiles();
    let s = JitCompiler::stats();
    let (ir, o2, cg) = s.compile_time;
    println!(
        "{} {} {} {} {} {}",
        first.as_nanos(),
        steady.as_nanos(),
        (ir + o2 + cg).as_nanos(),
        s.compile_wait.0.as_nanos(),
        s.compile_wait.1.as_nanos(),
        s.compiles_queued
    );
    std::process::exit(0)
}

/// Fresh processes per kernel (the median first run is reported).
const COLD_PROCESSES: usize = 3;

/// The first-run table: per kernel, the median over [`COLD_PROCESSES`]
/// fresh processes of the first run, beside the interpreter's time from
/// the table above, the steady state and the compile time.
fn print_cold_runs(
    o: &Options,
    rows: &[(&str, Vec<Cell>)],
    plain: Option<&'static [suite::Kernel]>,
) {
    println!(
        "\n### First run\n\nA fresh process per run, default configuration (`block_threshold` 1), \
         no code cache: the kernel's first `run()`, then the steady state of later runs in that \
         process and the compile time they all took (median of {COLD_PROCESSES} processes); \
         the last columns again with `background_compile` on.\n"
    );
    println!(
        "| kernel | first run | interpreted (above) | first / interpreted | steady state | compile | first / (steady + compile) | interpreter waited for LLVM (longest) | background: first run | first / interpreted | waited (longest) | compilations queued |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let exe = std::env::current_exe().expect("own path");
    let kernels = KERNELS.iter().chain(plain.unwrap_or(&[]));
    for k in kernels {
        let picked = |n: &str| k.name == n || k.name.split('/').next() == Some(n);
        if o.only.as_deref().is_some_and(|n| !picked(n)) {
            continue;
        }
        eprint!("first run {}:", k.name);
        let fg = cold_runs(&exe, k.name);
        let bg = cold_runs(&exe, &format!("{}+bg", k.name));
        eprintln!();
        let (Some(r), Some(b)) = (fg, bg) else {
            println!("| {} | failed | | | | | | | | | | |", k.name);
            continue;
        };
        let d = |n: u64| ms(Duration::from_nanos(n));
        let interp = rows
            .iter()
            .find(|(n, _)| *n == k.name)
            .and_then(|(_, cells)| cells.first())
            .and_then(|c| c.as_ref().ok())
            .map(|t| ms(*t));
        let of_interp =
            |first: u64| interp.map_or("—".into(), |i| format!("{:.2}", d(first) / i));
        println!(
            "| {} | {:.2} ms | {} | {} | {:.2} ms | {:.2} ms | {:.2} | {:.2} ms ({:.2}) | {:.2} ms | {} | {:.2} ms ({:.2}) | {} |",
            k.name,
            d(r[0]),
            interp.map_or("—".into(), |i| format!("{i:.2} ms")),
            of_interp(r[0]),
            d(r[1]),
            d(r[2]),
            d(r[0]) / (d(r[1]) + d(r[2])),
            d(r[3]),
            d(r[4]),
            d(b[0]),
            of_interp(b[0]),
            d(b[3]),
            d(b[4]),
            b[5]
        );
    }
}

/// [`COLD_PROCESSES`] cold-run children for `what`: the report with the
/// median first run, or `None` if none reported.
fn cold_runs(exe: &std::path::Path, what: &str) -> Option<[u64; 6]> {
    let mut reports: Vec<[u64; 6]> = Vec::new();
    for _ in 0..COLD_PROCESSES {
        eprint!(".");
        let out = std::process::Command::new(exe)
            .env(COLD_RUN_ENV, what)
            .env_remove(fusevm_llvm::jit::persist::DIR_ENV)
            .env_remove("FUSEVM_JIT_BLOCK_THRESHOLD")
            .env_remove("FUSEVM_JIT_TRACE_THRESHOLD")
            .stdin(std::process::Stdio::null())
            .output();
        let said = out.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
        let nums: Vec<u64> = said
            .as_deref()
            .unwrap_or("")
            .split(' ')
            .filter_map(|x| x.parse().ok())
            .collect();
        if let Ok(r) = <[u64; 6]>::try_from(nums) {
            reports.push(r);
        }
    }
    reports.sort_by_key(|r| r[0]);
    reports.get(reports.len() / 2).copied()
}

// ── a second process's first run, warm persistent cache ──

/// Asks this binary to run one (kernel, engine) pair once, timed, and exit.
const FIRST_RUN_ENV: &str = "FUSEVM_BENCH_FIRST_RUN";

/// In a first-run child: runs the pair once with the persistent cache the
/// environment names, checks the result, prints `first_ns hits compiles`
/// and each linked unit's milliseconds, and exits.
fn first_run_child() {
    use fusevm_llvm::jit::events::JitEvent;
    use std::sync::{Arc, Mutex};
    let Ok(what) = std::env::var(FIRST_RUN_ENV) else {
        return;
    };
    let (kernel, engine) = what.rsplit_once('/').expect("kernel/engine");
    let k = suite::kernel_named(kernel).expect("kernel");
    let e = Engine::named(engine).expect("engine");
    suite::configure();
    // Each unit's linking: at start-up (preloaded), or by the run.
    let loads = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&loads);
    JitCompiler::set_event_hook(Some(Arc::new(move |ev: &JitEvent| match ev {
        JitEvent::CachePreloaded { millis, .. } => sink.lock().unwrap().push(*millis),
        JitEvent::CacheHit { millis, file, .. } if !file.ends_with("(preloaded)") => {
            sink.lock().unwrap().push(*millis)
        }
        _ => {}
    })));
    // Process start-up (the LLVM session, preloading), reported on its own.
    let t = std::time::Instant::now();
    JitCompiler::warm_up();
    let startup = t.elapsed();
    let mut run = suite::runner(k, e).unwrap_or_else(|why| {
        println!("{why}");
        std::process::exit(3)
    });
    let first = timed_first_run(&mut run, k);
    let d = JitCompiler::stats().disk;
    // The steady state of this same process (code placement, caches and
    // clock as the first run had them).
    let steady = suite::median_time(&mut run, 7, Duration::from_millis(1500));
    let loads: Vec<String> = loads
        .lock()
        .unwrap()
        .iter()
        .map(|m| m.to_string())
        .collect();
    println!(
        "{} {} {} {} {} {}",
        first.as_nanos(),
        startup.as_nanos(),
        steady.as_nanos(),
        d.hits,
        d.llvm_compilations,
        loads.join(",")
    );
    std::process::exit(0)
}

/// One first-run child's report.
struct FirstRun {
    first: Duration,
    startup: Duration,
    /// The median of the runs after it, in the same process.
    steady: Duration,
    hits: u64,
    compiles: u64,
    loads: Vec<f64>,
}

fn first_run(k: &str, e: Engine, dir: &std::path::Path) -> Result<FirstRun, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = std::process::Command::new(exe)
        .env(FIRST_RUN_ENV, format!("{k}/{}", e.name()))
        .env(fusevm_llvm::jit::persist::DIR_ENV, dir)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| e.to_string())?;
    let said = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() {
        return Err(format!("first run failed: {said}"));
    }
    let mut f = said.split(' ');
    let mut num = || {
        f.next()
            .and_then(|x| x.parse::<u64>().ok())
            .ok_or("bad report")
    };
    let first = Duration::from_nanos(num()?);
    let startup = Duration::from_nanos(num()?);
    let steady = Duration::from_nanos(num()?);
    let (hits, compiles) = (num()?, num()?);
    let loads = said
        .split(' ')
        .nth(5)
        .unwrap_or("")
        .split(',')
        .filter_map(|m| m.parse().ok())
        .collect();
    Ok(FirstRun {
        first,
        startup,
        steady,
        hits,
        compiles,
        loads,
    })
}

/// Second processes run one after another: a first run is one sample, and
/// samples of fresh processes scatter (by ±10% on sub-millisecond kernels:
/// nine keep the median steady).
const WARM_PROCESSES: usize = 9;

/// [`first_run`] in [`WARM_PROCESSES`] processes: the median first run and
/// steady state, every unit's linking time, the last one's counts.
fn warm_runs(k: &str, e: Engine, dir: &std::path::Path) -> Result<FirstRun, String> {
    let runs = (0..WARM_PROCESSES)
        .map(|_| first_run(k, e, dir))
        .collect::<Result<Vec<_>, _>>()?;
    let med = |f: fn(&FirstRun) -> Duration| {
        let mut v: Vec<Duration> = runs.iter().map(f).collect();
        v.sort();
        v[v.len() / 2]
    };
    let (first, steady, startup) = (med(|r| r.first), med(|r| r.steady), med(|r| r.startup));
    let loads = runs.iter().flat_map(|r| r.loads.iter().copied()).collect();
    let last = runs.last().expect("WARM_PROCESSES > 0");
    Ok(FirstRun {
        first,
        startup,
        steady,
        hits: last.hits,
        compiles: runs.iter().map(|r| r.compiles).max().unwrap_or(0),
        loads,
    })
}

fn median(mut xs: Vec<f64>) -> Option<f64> {
    xs.sort_by(f64::total_cmp);
    xs.get(xs.len() / 2).copied()
}

fn print_warm_cache(engines: &[Engine], rows: &[(&str, Vec<Cell>)]) {
    println!(
        "\n| kernel | tier | steady state (above) | 2nd process: first run, warm cache | its steady state | ratio | units linked | LLVM compilations | linking ms per unit (median) | process start-up (LLVM session, preloading) | native Rust: first run / steady, same process |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut all_loads = Vec::new();
    for (name, cells) in rows {
        // What a fresh process costs native code itself: cold caches,
        // first-touch pages. The same measure as ours, for reference.
        let scratch =
            std::env::temp_dir().join(format!("fusevm-bench-native-{}", std::process::id()));
        let native = warm_runs(name, Engine::NativeRust, &scratch)
            .map(|n| format!("{:.2}×", ms(n.first) / ms(n.steady)))
            .unwrap_or_else(|_| "—".into());
        for (e, cell) in engines.iter().zip(cells) {
            let Ok(steady) = cell else { continue };
            if !matches!(e, Engine::BlockTier | Engine::TracingTier) {
                continue;
            }
            let dir = std::env::temp_dir().join(format!(
                "fusevm-bench-cache-{}-{name}-{}",
                std::process::id(),
                e.name()
            ));
            let _ = std::fs::remove_dir_all(&dir);
            let cold = first_run(name, *e, &dir);
            let warm = cold.and_then(|_| warm_runs(name, *e, &dir));
            let _ = std::fs::remove_dir_all(&dir);
            match warm {
                Ok(w) => {
                    all_loads.extend(w.loads.iter().copied());
                    println!(
                        "| {name} | {} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2}× | {} | {} | {} | {:.2} ms | {native} |",
                        e.name(),
                        ms(*steady),
                        ms(w.first),
                        ms(w.steady),
                        ms(w.first) / ms(w.steady),
                        w.hits,
                        w.compiles,
                        median(w.loads).map_or("—".into(), |m| format!("{m:.3}")),
                        ms(w.startup)
                    );
                }
                Err(why) => println!(
                    "| {name} | {} | {:.2} ms | {why} | | | | | | | |",
                    e.name(),
                    ms(*steady)
                ),
            }
        }
    }
    if let Some(m) = median(all_loads) {
        println!(
            "\nLinking a stored unit: {m:.3} ms median over every unit above (at start-up: the first link in a \
                  process costs several times the next). The first run is timed after `JitCompiler::warm_up` \
                  (the process's LLVM session and the cache's units linked ahead, once per process: the \
                  start-up column); \
                  first runs and steady states are medians over {WARM_PROCESSES} second processes, the \
                  steady state measured in the same process after its first run (code placement and caches \
                  as the first run had them)."
        );
    }
}
