//! `fusevm-llvm`: run, check and disassemble `.fasm` programs.

use clap::{Args, Parser, Subcommand};
use fusevm_llvm::{
    Chunk, DumpOptions, JitCompiler, TraceJitConfig, VM, VMResult, assemble, disassemble,
    jit::config::BLOCK_THRESHOLD_ENV, jit::persist, verify,
};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

#[derive(Parser)]
#[command(
    name = "fusevm-llvm",
    version,
    about = "A bytecode VM whose hot code is compiled through LLVM",
    long_about = "Runs programs written in the .fasm text format (see examples/).\n\
                  Exit status: 0 on success, 1 when the program fails at run time,\n\
                  2 when the file cannot be read, assembled or verified."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Assemble, verify and run a program; print its result.
    Run(RunArgs),
    /// Assemble and verify a program without running it.
    Check {
        /// The .fasm file.
        file: PathBuf,
    },
    /// Print a program as canonical .fasm (labels L<ip>, literals inlined).
    Disasm {
        /// The .fasm file.
        file: PathBuf,
    },
    /// Inspect or empty a persistent code cache directory (the one
    /// FUSEVM_JIT_CACHE_DIR names for `run`).
    Cache {
        #[command(subcommand)]
        action: CacheAction,
    },
    /// Print the effective JIT configuration (defaults, then the
    /// FUSEVM_JIT_BLOCK_THRESHOLD / FUSEVM_JIT_TRACE_THRESHOLD environment
    /// variables, then these flags).
    Config(JitArgs),
}

#[derive(Subcommand)]
enum CacheAction {
    /// Count the records, their size, and those that fail their checks.
    Stats {
        /// The cache directory.
        dir: PathBuf,
    },
    /// Remove every record (other files are left alone).
    Clear {
        /// The cache directory.
        dir: PathBuf,
    },
}

#[derive(Args)]
struct RunArgs {
    /// The .fasm file.
    file: PathBuf,
    /// Interpret only; never compile native code.
    #[arg(long)]
    no_jit: bool,
    /// Print the wall-clock run time (and the tier that ran) to stderr.
    #[arg(long)]
    time: bool,
    /// Print what the native tiers did (compiled, exits, traces) to stderr.
    #[arg(long)]
    stats: bool,
    /// Before the run, set up LLVM and link the persistent code cache's
    /// most recently used units (what an embedder's start-up does with
    /// `JitCompiler::warm_up`); --time reports it apart from the run.
    #[arg(long)]
    warm_up: bool,
    /// Print the LLVM IR (after O2) of the natively compiled code to stderr.
    #[arg(long)]
    dump_ir: bool,
    /// Print the machine code (assembly) of the natively compiled code to stderr.
    #[arg(long)]
    dump_asm: bool,
    /// Print one line per JIT event to stderr: traces recorded, compiled
    /// (in how long, with how many side paths and exits), aborted (why, at
    /// which op), blacklisted; chunks compiled whole or refused (why).
    #[arg(long)]
    jit_verbose: bool,
    /// With each compiled trace, print what it is made of: `ops` (the
    /// recorded ops with their original ips and exits), `ir` (LLVM IR after
    /// O2), `asm` (machine code); comma-separated. Implies --jit-verbose.
    #[arg(long, value_delimiter = ',', value_parser = ["ops", "ir", "asm"])]
    jit_dump: Vec<String>,
    #[command(flatten)]
    jit: JitArgs,
}

/// The `TraceJitConfig` fields; unset ones keep the thread's configuration
/// (defaults: 50, 1, 50, 4, 4, 256, compiled in the foreground; the two thresholds also read
/// FUSEVM_JIT_BLOCK_THRESHOLD and FUSEVM_JIT_TRACE_THRESHOLD).
#[derive(Args)]
struct JitArgs {
    /// Back-edges through a loop header before a trace is recorded.
    #[arg(long)]
    trace_threshold: Option<u32>,
    /// Chunk invocations interpreted before the block tier compiles.
    #[arg(long)]
    block_threshold: Option<u32>,
    /// Side exits before a trace is blacklisted.
    #[arg(long)]
    max_side_exits: Option<u32>,
    /// Self-recursive activations inlined into a trace.
    #[arg(long)]
    max_inline_recursion: Option<usize>,
    /// Side traces chained per back-edge hop.
    #[arg(long)]
    max_trace_chain: Option<usize>,
    /// Recorded ops before a recording aborts.
    #[arg(long)]
    max_trace_len: Option<usize>,
    /// Compile traces on a compiler thread while the interpreter goes on
    /// (default: on the interpreter's thread, which waits for each).
    #[arg(long)]
    background_compile: bool,
}

impl JitArgs {
    /// The thread's configuration with the given flags applied.
    fn config(&self) -> TraceJitConfig {
        let mut c = JitCompiler::new().get_config();
        let set = |field: &mut u32, v: Option<u32>| *field = v.unwrap_or(*field);
        set(&mut c.trace_threshold, self.trace_threshold);
        set(&mut c.block_threshold, self.block_threshold);
        set(&mut c.max_side_exits, self.max_side_exits);
        c.max_inline_recursion = self.max_inline_recursion.unwrap_or(c.max_inline_recursion);
        c.max_trace_chain = self.max_trace_chain.unwrap_or(c.max_trace_chain);
        c.max_trace_len = self.max_trace_len.unwrap_or(c.max_trace_len);
        if self.background_compile {
            c.background_compile = true;
        }
        c
    }
}

/// Reads, assembles and verifies a file; errors are printed as `file:line:col: …`.
fn load(path: &Path) -> Result<Chunk, String> {
    let src = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let chunk = assemble(&src).map_err(|e| format!("{}:{e}", path.display()))?;
    verify(&chunk).map_err(|e| format!("{}: invalid program: {e}", path.display()))?;
    Ok(chunk)
}

fn run(args: &RunArgs) -> Result<ExitCode, String> {
    let chunk = load(&args.file)?;
    let mut cfg = args.jit.config();
    // A program runs once here: unless told otherwise, the block tier
    // compiles it on that first (only) invocation.
    if args.jit.block_threshold.is_none() && std::env::var_os(BLOCK_THRESHOLD_ENV).is_none() {
        cfg.block_threshold = 0;
    }
    JitCompiler::new().set_config(cfg);
    let dump = |what: &str| args.jit_dump.iter().any(|d| d == what);
    JitCompiler::set_dump_options(DumpOptions {
        ir_after: args.dump_ir || dump("ir"),
        asm: args.dump_asm || dump("asm"),
        ..DumpOptions::default()
    });
    JitCompiler::set_trace_op_dump(dump("ops"));
    if args.jit_verbose || !args.jit_dump.is_empty() {
        JitCompiler::set_event_hook(Some(std::sync::Arc::new(|e| eprintln!("{e}"))));
    }
    let warm_up = args.warm_up.then(|| {
        let t = Instant::now();
        JitCompiler::warm_up();
        t.elapsed()
    });
    let jit = JitCompiler::new();
    let runs_before = jit.block_run_count(&chunk);
    let mut vm = VM::new(chunk.clone());
    if !args.no_jit {
        vm.enable_tracing_jit();
    }
    let start = Instant::now();
    let result = vm.run();
    let elapsed = start.elapsed();
    // Nothing may compile while the process exits.
    JitCompiler::stop_background_compiles();
    for (ir, asm) in jit.block_dumps(&chunk) {
        if let Some(ir) = ir {
            eprintln!("; ── LLVM IR after O2 ──\n{ir}");
        }
        if let Some(asm) = asm {
            eprintln!("# ── machine code ──\n{asm}");
        }
    }
    let tier = if jit.block_run_count(&chunk) > runs_before {
        match jit.block_compile_timings(&chunk) {
            // Linked from the persistent cache (by the run, or at warm-up):
            // no optimiser ran.
            Some(t) if t.optimize.is_zero() && !t.link.is_zero() => format!(
                "block tier, code from the code cache (linked in {:.3} ms)",
                t.link.as_secs_f64() * 1e3
            ),
            Some(t) => format!(
                "block tier, of which compiling {:.3} ms",
                (t.build_ir + t.optimize + t.codegen + t.link).as_secs_f64() * 1e3
            ),
            None => "block tier".to_string(),
        }
    } else if args.no_jit {
        "interpreter".to_string()
    } else {
        let traces = JitCompiler::stats().trace_compiled;
        match (jit.block_ineligibility(&chunk), traces) {
            (Some(_), 0) => "interpreter: not block-eligible".to_string(),
            (Some(_), n) => format!("interpreter: not block-eligible; {n} loops traced"),
            (None, _) => "interpreter".to_string(),
        }
    };
    if args.stats {
        let s = JitCompiler::stats();
        let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
        let (ir, o2, cg) = s.compile_time;
        eprintln!(
            "jit: block tier: {} compiled, {} refused, {} runs ({} left native code early)\n\
             jit: traces: {} recorded, {} compiled, {} aborted, {} side exits, {} loops blacklisted\n\
             jit: inlined calls: {} compiled into traces, {} exits inside them; {} interpreted calls run natively\n\
             jit: runtime calls: {} value-helper calls, {} array views fetched; loops' fast copies: {} entered, {} left early\n\
             jit: compile time {:.3} ms (build IR {:.3}, O2 {:.3}, codegen {:.3}; traces {:.3})",
            s.block_compiled,
            s.block_failed,
            s.block_runs,
            s.block_early_exits,
            s.trace_recorded,
            s.trace_compiled,
            s.trace_aborted,
            s.trace_side_exits,
            s.trace_blacklisted,
            s.trace_inlined_calls,
            s.trace_callee_exits,
            s.native_calls,
            s.value_helper_calls,
            s.array_views,
            s.fast_copy_entries,
            s.fast_copy_bails,
            ms(ir + o2 + cg),
            ms(ir),
            ms(o2),
            ms(cg),
            ms(s.trace_compile_time)
        );
        let d = s.disk;
        eprintln!(
            "jit: LLVM compilations: {}; code cache {}: hits {}, misses {}, stored {}, rejected {}, not stored {}, loading {:.3} ms; preloaded {} in {:.3} ms",
            d.llvm_compilations,
            JitCompiler::code_cache_dir().map_or("off".to_string(), |p| p.display().to_string()),
            d.hits,
            d.misses,
            d.stores,
            d.rejected,
            d.store_failures,
            ms(d.load_time),
            d.preloaded,
            ms(d.preload_time)
        );
        eprintln!(
            "jit: waited for LLVM {:.3} ms (longest {:.3} ms); compiler thread: {} queued, {} finished, {} discarded",
            ms(s.compile_wait.0),
            ms(s.compile_wait.1),
            s.compiles_queued,
            s.compiles_finished,
            s.compiles_discarded
        );
        for (reason, n) in JitCompiler::trace_abort_reasons() {
            eprintln!("jit: aborted {n}×: {reason}");
        }
    }
    if args.time {
        eprintln!(
            "time: {:.3} ms ({tier}{})",
            elapsed.as_secs_f64() * 1e3,
            if args.no_jit { ", --no-jit" } else { "" }
        );
        if let Some(w) = warm_up {
            eprintln!(
                "time: warm-up {:.3} ms before the run",
                w.as_secs_f64() * 1e3
            );
        }
    }
    match result {
        VMResult::Error(e) => {
            eprintln!("{}: runtime error: {e}", args.file.display());
            Ok(ExitCode::from(1))
        }
        ok => {
            println!("{ok}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn cache(action: &CacheAction) -> Result<ExitCode, String> {
    match action {
        CacheAction::Stats { dir } => {
            let s = persist::dir::stats(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            println!(
                "{}: {} records, {} bytes ({:.1} MiB), {} unreadable",
                dir.display(),
                s.records,
                s.bytes,
                s.bytes as f64 / (1 << 20) as f64,
                s.unreadable
            );
        }
        CacheAction::Clear { dir } => {
            let n = persist::dir::clear(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            println!("{}: {n} records removed", dir.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match &cli.command {
        Command::Run(args) => run(args),
        Command::Check { file } => load(file).map(|c| {
            println!("{}: ok ({} ops)", file.display(), c.len());
            ExitCode::SUCCESS
        }),
        Command::Config(jit) => {
            let c = jit.config();
            println!("trace_threshold = {}", c.trace_threshold);
            println!("block_threshold = {}", c.block_threshold);
            println!("max_side_exits = {}", c.max_side_exits);
            println!("max_inline_recursion = {}", c.max_inline_recursion);
            println!("max_trace_chain = {}", c.max_trace_chain);
            println!("max_trace_len = {}", c.max_trace_len);
            println!("background_compile = {}", c.background_compile);
            Ok(ExitCode::SUCCESS)
        }
        Command::Cache { action } => cache(action),
        Command::Disasm { file } => load(file).and_then(|c| {
            let text = disassemble(&c).map_err(|e| format!("{}: {e}", file.display()))?;
            print!("{text}");
            Ok(ExitCode::SUCCESS)
        }),
    };
    outcome.unwrap_or_else(|msg| {
        eprintln!("error: {msg}");
        ExitCode::from(2)
    })
}
