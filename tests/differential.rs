//! The differential runner: random programs (`common/programs.rs`: nested
//! loops of every shape, data-dependent and flipping branches, calls and
//! recursion, globals, strings, containers (a third of them Int arrays in
//! globals: copied, changing strategy, indexed out of range), every numeric
//! corner case),
//! each run by the interpreter, the block tier and the tracing tier (side
//! paths included, `max_inline_recursion` and `max_trace_chain` varied by
//! seed; a quarter of the programs compile their traces on the compiler
//! thread, so code arrives early, late or never), some under a step
//! budget, compared bit for bit:
//! result or error, slots, stack, frames, globals, printed output, steps
//! left. Then every reproducer in `tests/regressions/`.
//!
//! Every eighth program (`--cache-every N`) also runs with the persistent
//! code cache: stored, forgotten, run again from disk (every other time
//! after a warm-up has preloaded the directory), compared again.
//!
//! `cargo test --test differential` runs the fixed budget CI runs (600
//! programs from seed 0). Longer:
//!
//! ```text
//! cargo test --release --test differential -- --long 3600 [--seed S]
//! cargo test --release --test differential -- --count 100000 [--seed S]
//! ```
//!
//! `--background` checks the compiler thread instead: every program runs
//! three times in a row with both native tiers on, compiling in the
//! background, with block and trace thresholds of `seed % 4` (0 to 3), so
//! each run may find its code ready, arrive mid-run or never; every run
//! must agree with the interpreter.
//!
//! A mismatch prints the program minimised as `.fasm` and writes it to
//! `target/differential/`; copy it into `tests/regressions/` (header lines
//! `; presets: ...` and `; budget: N` say how it is run) to keep it.
#![cfg(feature = "jit")]

mod common;
use common::outcome::Outcome;
use common::*;
use fusevm_llvm::{Chunk, JitCompiler, Value};
use std::cell::Cell;
use std::time::{Duration, Instant};

thread_local! {
    /// `(max_inline_recursion, max_trace_chain)` for the tracing tier runs
    /// of the program being checked (varied by seed around the limits).
    static TRACE_LIMITS: Cell<(usize, usize)> = const { Cell::new((4, 4)) };
    /// Whether the tracing tier runs of that program compile on the
    /// compiler thread (code arrives late, or after the run: never).
    static BACKGROUND: Cell<bool> = const { Cell::new(false) };
    /// In `--background` mode, the block and trace thresholds of the
    /// program being checked (`None`: the per-tier checks).
    static THRESHOLDS: Cell<Option<u32>> = const { Cell::new(None) };
}

/// The trace limits seed `seed` runs with.
fn limits_for(seed: u64) -> (usize, usize) {
    let recursion = [4, 1, 2, 3][(seed / 3 % 4) as usize];
    let chain = [4, 0, 1, 2][(seed / 7 % 4) as usize];
    (recursion, chain)
}

#[derive(Clone, Copy, Debug)]
enum Tier {
    Interpreter,
    Block,
    Trace,
    /// Both native tiers at once, compiling on the compiler thread.
    Background,
}

fn run(tier: Tier, chunk: &Chunk, presets: &[Value], budget: Option<u64>) -> Outcome {
    let mut cfg = JitCompiler::new().get_config();
    (cfg.block_threshold, cfg.trace_threshold) = match tier {
        Tier::Interpreter | Tier::Block => (0, u32::MAX),
        Tier::Trace => (u32::MAX, 1),
        Tier::Background => {
            let t = THRESHOLDS.get().unwrap_or(1);
            (t, t)
        }
    };
    (cfg.max_inline_recursion, cfg.max_trace_chain) = TRACE_LIMITS.get();
    cfg.background_compile = match tier {
        Tier::Trace => BACKGROUND.get(),
        Tier::Background => true,
        _ => false,
    };
    JitCompiler::new().set_config(cfg);
    Outcome::of(chunk, presets, !matches!(tier, Tier::Interpreter), budget)
}

/// Runs one program in every tier; `Err` names the tier and difference.
fn check(chunk: &Chunk, presets: &[Value], budget: Option<u64>) -> Result<(), (Tier, String)> {
    let want = run(Tier::Interpreter, chunk, presets, budget);
    let tiers: &[Tier] = match THRESHOLDS.get() {
        None => &[Tier::Block, Tier::Trace],
        Some(_) => &[Tier::Background; 3],
    };
    for &tier in tiers {
        if let Some(d) = run(tier, chunk, presets, budget).differs(&want) {
            return Err((tier, d));
        }
    }
    Ok(())
}

/// Runs one program in every tier with the persistent code cache in
/// `dir`, forgets its code, and runs it again: the second time its units
/// are linked from the records the first time stored (the traces from its
/// traces record; with `warm`, linked and parsed ahead by a warm-up), and
/// it must still agree. A key that missed something code depends on would
/// serve one unit's code to another here.
fn check_cached(
    chunk: &Chunk,
    presets: &[Value],
    budget: Option<u64>,
    dir: &std::path::Path,
    warm: bool,
) -> Result<(), (Tier, String)> {
    JitCompiler::set_code_cache_dir(Some(dir));
    let before = JitCompiler::stats().disk;
    let first = check(chunk, presets, budget);
    let stored = JitCompiler::stats().disk;
    JitCompiler::new().evict(chunk);
    if warm {
        JitCompiler::warm_up();
    }
    let second = first.and_then(|()| check(chunk, presets, budget));
    let linked = JitCompiler::stats().disk;
    JitCompiler::set_code_cache_dir(None);
    second?;
    // Code linked from disk runs from the start, so later tiering decisions
    // (which kinds a loop is hot with) may differ and compile new units;
    // but whatever the first run stored, the second linked some of it.
    let first_stored = stored.stores > before.stores;
    assert!(
        !first_stored || linked.hits > stored.hits,
        "the second run linked nothing the first stored"
    );
    Ok(())
}

/// The program, presets and budget of `seed`.
fn case(seed: u64) -> (Chunk, Vec<Value>, Option<u64>) {
    let (prints, strings) = match seed % 8 / 2 {
        0 => (true, false),
        1 => (true, true),
        2 => (false, true),
        _ => (false, false),
    };
    // A third keep Int arrays in globals (in and out of range, copied,
    // changing strategy).
    let arrays = seed % 3 == 1;
    let (chunk, presets) = programs::program_with_arrays(seed, prints, strings, arrays);
    let budget = match seed % 5 {
        0 => Some([0, 1, 2, 5, 17, 60, 250, 2_000][(seed / 5 % 8) as usize]),
        _ => None,
    };
    (chunk, presets, budget)
}

fn report(
    name: &str,
    chunk: &Chunk,
    presets: &[Value],
    budget: Option<u64>,
    tier: Tier,
    why: &str,
) -> ! {
    let small = programs::minimise_by(chunk, |c| {
        check(c, presets, budget).is_err_and(|(t, _)| {
            matches!(
                (t, tier),
                (Tier::Block, Tier::Block)
                    | (Tier::Trace, Tier::Trace)
                    | (Tier::Background, Tier::Background)
            )
        })
    });
    let mut text = format!("; {name}: {tier:?} tier: {why}\n");
    if !presets.is_empty() {
        text += &format!("; presets: {presets:?}\n");
    }
    if let Some(b) = budget {
        text += &format!("; budget: {b}\n");
    }
    let (recursion, chain) = TRACE_LIMITS.get();
    text += &format!("; limits: {recursion} {chain}\n");
    if let Some(t) = THRESHOLDS.get() {
        // Not read back: whether code arrived in time varies run to run.
        text += &format!("; found with --background, thresholds {t}\n");
    }
    text += &fusevm_llvm::disassemble(&small).unwrap_or_default();
    let dir = format!("{}/target/differential", env!("CARGO_MANIFEST_DIR"));
    let _ = std::fs::create_dir_all(&dir);
    let path = format!("{dir}/{name}.fasm");
    let _ = std::fs::write(&path, &text);
    eprintln!("{text}\n(written to {path})");
    std::process::exit(1)
}

/// Every `tests/regressions/*.fasm` (optional headers `; budget: N` and
/// `; limits: R C`, `max_inline_recursion` and `max_trace_chain`).
fn regressions() -> usize {
    let dir = format!("{}/tests/regressions", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    let mut n = 0;
    for path in files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "fasm"))
    {
        let src = std::fs::read_to_string(path).expect("readable");
        let budget = src
            .lines()
            .find_map(|l| l.strip_prefix("; budget: "))
            .and_then(|b| b.trim().parse().ok());
        let limits = src
            .lines()
            .find_map(|l| l.strip_prefix("; limits: "))
            .and_then(|l| {
                let mut n = l.split_whitespace().map(|x| x.parse().ok());
                Some((n.next()??, n.next()??))
            });
        TRACE_LIMITS.set(limits.unwrap_or((4, 4)));
        let chunk =
            fusevm_llvm::assemble(&src).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if let Err((tier, why)) = check(&chunk, &[], budget) {
            let name = path.file_stem().unwrap().to_string_lossy().to_string();
            report(&name, &chunk, &[], budget, tier, &why);
        }
        n += 1;
    }
    n
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut seed, mut count, mut long, mut cache_every) = (0u64, 600u64, None, 8u64);
    let mut background = false;
    while let Some(a) = args.next() {
        let mut num = || {
            args.next()
                .and_then(|v| v.parse::<u64>().ok())
                .expect("a number")
        };
        match a.as_str() {
            "--seed" => seed = num(),
            "--count" => count = num(),
            "--long" => long = Some(Duration::from_secs(num())),
            "--cache-every" => cache_every = num().max(1),
            "--background" => background = true,
            _ => {} // the test harness's own flags
        }
    }
    let cache_dir =
        std::env::temp_dir().join(format!("fusevm-differential-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&cache_dir);
    let started = Instant::now();
    let (mut checked, mut cached) = (0u64, 0u64);
    loop {
        let done = match long {
            Some(limit) => started.elapsed() >= limit,
            None => checked >= count,
        };
        if done {
            break;
        }
        let s = seed + checked;
        let (chunk, presets, budget) = case(s);
        TRACE_LIMITS.set(limits_for(s));
        // A quarter compile their traces in the background.
        BACKGROUND.set(s % 4 == 3);
        THRESHOLDS.set(background.then_some((s % 4) as u32));
        let outcome = if background {
            check(&chunk, &presets, budget)
        } else if s % cache_every == 0 {
            cached += 1;
            check_cached(&chunk, &presets, budget, &cache_dir, cached % 2 == 0)
        } else {
            check(&chunk, &presets, budget)
        };
        if let Err((tier, why)) = outcome {
            report(&format!("seed-{s}"), &chunk, &presets, budget, tier, &why);
        }
        checked += 1;
        if long.is_some() && checked % 10_000 == 0 {
            eprintln!(
                "{checked} programs, {:.0} s",
                started.elapsed().as_secs_f64()
            );
        }
    }
    let _ = std::fs::remove_dir_all(&cache_dir);
    // The compiler thread may still hold the last programs' traces; the
    // process must not exit while it compiles.
    JitCompiler::stop_background_compiles();
    THRESHOLDS.set(None);
    let n = regressions();
    let s = JitCompiler::stats();
    println!(
        "differential: {checked} programs (seeds {seed}..{}) and {n} regressions agree in every tier, {:.1} s; \
         {} chunks compiled whole ({} loops' fast copies entered, {} left early), \
         {} traces ({} calls inlined, {} exits inside inlined calls); \
         {cached} programs run again from the persistent cache ({} units linked); \
         {} compilations on the compiler thread ({} discarded){}",
        seed + checked,
        started.elapsed().as_secs_f64(),
        s.block_compiled,
        s.fast_copy_entries,
        s.fast_copy_bails,
        s.trace_compiled,
        s.trace_inlined_calls,
        s.trace_callee_exits,
        s.disk.hits,
        s.compiles_queued,
        s.compiles_discarded,
        if background {
            "; --background: each program run 3 times, both tiers compiling in the background, thresholds seed % 4"
        } else {
            ""
        }
    );
    assert!(
        cached < 20 || s.disk.hits > 0,
        "no unit was linked from the cache"
    );
    assert!(
        s.block_compiled > 0 && s.trace_compiled > 0,
        "the native tiers never ran"
    );
    if background {
        // Code that arrives after its program's runs is discarded with the
        // chunk, so inlined-call exits may never run here.
        assert!(
            s.compiles_finished > 0,
            "no compilation on the compiler thread was kept"
        );
    } else {
        assert!(
            s.trace_inlined_calls > 0 && s.trace_callee_exits > 0,
            "no trace inlined a call, or none exited inside one"
        );
    }
}
