//! The benchmark suite, shared by `benches/kernels.rs` (criterion) and the
//! `bench-report` binary: the kernels, the engines that run them, and the
//! check every (kernel, engine) pair passes before it is timed.
//!
//! Kernels (`benches/kernels/*.fasm`) take their sizes from slots the
//! embedder sets, so no compiler can specialise on them; the native-Rust
//! baselines (`tests/common/kernels.rs`) are the same loops with their
//! inputs through `black_box`, and no kernel folds into a closed form (the
//! sum and calls kernels' xor is there for that).
#![allow(dead_code)]

pub mod table;

#[cfg(feature = "peer-bench")]
pub mod peer;

use fusevm_llvm::{BlockNum, Chunk, JitCompiler, SlotKind, VM, VMResult, Value, assemble};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};
pub use table::{KERNELS, Kernel};

/// What runs a kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// Our interpreter.
    Interpreter,
    /// Our block tier (the whole chunk native), through the raw slot API.
    BlockTier,
    /// Our tracing tier: the kernel with its result also printed, which the
    /// block tier refuses, so only traces make its loops native.
    TracingTier,
    /// Hand-written Rust.
    NativeRust,
    /// The fusevm crate's interpreter.
    FusevmInterp,
    /// The fusevm crate's block JIT through its raw slot API (like
    /// [`Engine::BlockTier`]), for chunks it takes whole.
    FusevmBlock,
    /// The fusevm crate's VM with its JIT enabled (`enable_tracing_jit`:
    /// block and tracing tiers, as an embedder runs it).
    FusevmJit,
    /// Lua 5.4 (`lua5.4` on PATH) running `benches/lua/{kernel}.lua`, timed
    /// inside its own process.
    Lua54,
    /// LuaJIT 2.1 (`luajit` on PATH), likewise.
    LuaJit,
}

impl Engine {
    /// Column name.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Interpreter => "interpreter",
            Engine::BlockTier => "block_tier",
            Engine::TracingTier => "tracing_tier",
            Engine::NativeRust => "native_rust",
            Engine::FusevmInterp => "fusevm_interp",
            Engine::FusevmBlock => "fusevm_block",
            Engine::FusevmJit => "fusevm_vm_jit",
            Engine::Lua54 => "lua5.4",
            Engine::LuaJit => "luajit",
        }
    }

    /// The engine named `name`.
    pub fn named(name: &str) -> Option<Engine> {
        Engine::ALL.iter().copied().find(|e| e.name() == name)
    }

    /// Every engine, ours first.
    pub const ALL: &[Engine] = &[
        Engine::Interpreter,
        Engine::BlockTier,
        Engine::TracingTier,
        Engine::NativeRust,
        Engine::FusevmInterp,
        Engine::FusevmBlock,
        Engine::FusevmJit,
        Engine::Lua54,
        Engine::LuaJit,
    ];

    /// The engines this build has in this process (the fusevm ones need
    /// `peer-bench`; the Lua ones run in processes of their own: see
    /// [`lua_median`]).
    pub fn available() -> Vec<Engine> {
        Engine::ALL
            .iter()
            .copied()
            .filter(|e| cfg!(feature = "peer-bench") || !e.is_peer())
            .filter(|e| !e.is_lua())
            .collect()
    }

    /// The Lua engines whose interpreter is on PATH (`ci/setup-bench.sh`
    /// installs both).
    pub fn lua_available() -> Vec<Engine> {
        [Engine::Lua54, Engine::LuaJit]
            .into_iter()
            .filter(|e| {
                std::process::Command::new(e.name())
                    .arg("-v")
                    .output()
                    .is_ok_and(|o| o.status.success())
            })
            .collect()
    }

    /// Whether this engine is a Lua interpreter (timed in its own process).
    pub fn is_lua(self) -> bool {
        matches!(self, Engine::Lua54 | Engine::LuaJit)
    }

    /// Whether this is another project's engine (checked in a child
    /// process first: a crash there must not take the suite down).
    pub fn is_peer(self) -> bool {
        matches!(
            self,
            Engine::FusevmInterp | Engine::FusevmBlock | Engine::FusevmJit
        )
    }
}

/// The kernel (suite or plain form) called `name`.
pub fn kernel_named(name: &str) -> Option<&'static Kernel> {
    KERNELS
        .iter()
        .chain(table::PLAIN_KERNELS)
        .find(|k| k.name == name)
}

/// A kernel ready to run on one engine; each call runs it once.
pub type Runner = Box<dyn FnMut() -> Value>;

/// The kernel's chunk.
pub fn load(k: &Kernel) -> Arc<Chunk> {
    let path = format!(
        "{}/benches/kernels/{}.fasm",
        env!("CARGO_MANIFEST_DIR"),
        k.file
    );
    let src = std::fs::read_to_string(&path).expect("kernel exists");
    Arc::new(assemble(&src).expect("kernel assembles"))
}

/// The kernel with its result printed too (not block-eligible).
pub fn printing(chunk: &Chunk) -> Arc<Chunk> {
    let src = fusevm_llvm::disassemble(chunk).expect("disassembles");
    Arc::new(assemble(&format!("{src}\n        Dup\n        PrintLn 1\n")).expect("assembles"))
}

/// The slot vector the kernel's parameters make.
pub fn slots_of(k: &Kernel) -> Vec<i64> {
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

/// Runs `k` in a fresh VM over `chunk` (slots set), with the JIT or not.
pub fn run_vm(chunk: &Arc<Chunk>, k: &Kernel, jit: bool) -> Value {
    let mut vm = VM::with_shared_chunk(Arc::clone(chunk));
    vm.set_output(Box::new(std::io::sink()));
    if jit {
        vm.enable_tracing_jit();
    }
    for (s, v) in k.params {
        vm.set_slot(*s, Value::Int(black_box(*v)));
    }
    match vm.run() {
        VMResult::Ok(v) => v,
        other => Value::str(format!("{other}")),
    }
}

fn run_block(jit: &JitCompiler, chunk: &Chunk, slots: &[i64]) -> Value {
    let mut s = black_box(slots.to_vec());
    let mut kinds = vec![SlotKind::Int; s.len()];
    match jit.try_run_block_typed_kinded(chunk, &mut s, &mut kinds) {
        Some(BlockNum::Int(i)) => Value::Int(i),
        Some(BlockNum::Float(f)) => Value::Float(f),
        other => Value::str(format!("{other:?}")),
    }
}

/// Pins this thread's JIT config for the suite: the block tier at once,
/// traces after the default threshold.
pub fn configure() {
    let mut cfg = JitCompiler::new().get_config();
    cfg.block_threshold = 0;
    JitCompiler::new().set_config(cfg);
}

/// Prepares `k` on `e` and checks its first result against native Rust's;
/// `Err` says why this pair is not timed (not applicable, wrong result).
pub fn prepare(k: &'static Kernel, e: Engine) -> Result<Runner, String> {
    let expected = (k.native)();
    let mut run = runner(k, e)?;
    check(k, run(), &expected)?;
    Ok(run)
}

/// `Err` unless `got` is `expected` (value and kind).
pub fn check(k: &Kernel, got: Value, expected: &Value) -> Result<(), String> {
    if got.same_as(expected) {
        Ok(())
    } else {
        Err(format!(
            "{}: wrong result: {got:?} (expected {expected:?})",
            k.name
        ))
    }
}

/// `k` ready to run on `e`, not run yet.
pub fn runner(k: &'static Kernel, e: Engine) -> Result<Runner, String> {
    let chunk = load(k);
    Ok(match e {
        Engine::NativeRust => Box::new(k.native),
        Engine::Interpreter => Box::new(move || run_vm(&chunk, k, false)),
        Engine::BlockTier => {
            let jit = JitCompiler::new();
            if let Some(why) = jit.block_ineligibility(&chunk) {
                return Err(format!("not block-eligible: {why}"));
            }
            let slots = slots_of(k);
            Box::new(move || run_block(&jit, &chunk, &slots))
        }
        Engine::TracingTier => {
            let chunk = printing(&chunk);
            Box::new(move || run_vm(&chunk, k, true))
        }
        #[cfg(feature = "peer-bench")]
        Engine::FusevmInterp => peer::runner(&chunk, k, false)?,
        #[cfg(feature = "peer-bench")]
        Engine::FusevmJit => peer::runner(&chunk, k, true)?,
        #[cfg(feature = "peer-bench")]
        Engine::FusevmBlock => peer::block_runner(&chunk, k)?,
        #[cfg(not(feature = "peer-bench"))]
        Engine::FusevmInterp | Engine::FusevmBlock | Engine::FusevmJit => {
            return Err("needs --features peer-bench".into());
        }
        Engine::Lua54 | Engine::LuaJit => return Err("timed by lua_median".into()),
    })
}

/// Runs `benches/lua/{kernel}.lua` on Lua engine `e` for `runs` timed runs
/// (its own CPU-time clock around each call, in one process); checks its
/// result against native Rust's and returns the median.
pub fn lua_median(k: &Kernel, e: Engine, runs: usize) -> Result<Duration, String> {
    let script = format!("{}/benches/lua/{}.lua", env!("CARGO_MANIFEST_DIR"), k.lua());
    let mut params: Vec<(u16, i64)> = k.params.to_vec();
    params.sort_unstable();
    let out = std::process::Command::new(e.name())
        .arg(&script)
        .args(params.iter().map(|(_, v)| v.to_string()))
        .arg(runs.max(1).to_string())
        .output()
        .map_err(|err| format!("{}: {err}", e.name()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!("failed: {}", err.lines().next().unwrap_or("")));
    }
    let mut lines = text.lines();
    let got = lines.next().unwrap_or("").trim();
    let agrees = match (k.native)() {
        Value::Int(i) => got.parse::<i64>() == Ok(i),
        Value::Float(f) => got.parse::<f64>().is_ok_and(|g| g.to_bits() == f.to_bits()),
        _ => false,
    };
    if !agrees {
        return Err(format!(
            "another answer: {got} (64-bit integer semantics differ)"
        ));
    }
    let mut times: Vec<f64> = lines.filter_map(|l| l.trim().parse().ok()).collect();
    times.sort_by(f64::total_cmp);
    times
        .get(times.len() / 2)
        .map(|s| Duration::from_secs_f64(*s))
        .ok_or_else(|| "no timings".into())
}

/// Child-process check of a peer engine: the environment variable that
/// asks a suite binary to prepare one pair and exit.
pub const PROBE_ENV: &str = "FUSEVM_BENCH_PROBE";

/// Call first in a suite binary's `main`: when this process is a probe,
/// prepares the pair, prints the verdict and exits.
pub fn probe_main() {
    let Ok(what) = std::env::var(PROBE_ENV) else {
        return;
    };
    // Kernel names may hold a slash (`sum_loop/while`); engine names don't.
    let (kernel, engine) = what.rsplit_once('/').expect("kernel/engine");
    let k = kernel_named(kernel).expect("known kernel");
    let e = Engine::named(engine).expect("known engine");
    configure();
    match prepare(k, e) {
        Ok(_) => {
            println!("ok");
            std::process::exit(0)
        }
        Err(why) => {
            println!("{why}");
            std::process::exit(3)
        }
    }
}

/// Prepares a pair, checking a peer engine in a child process first (a
/// crash or hang there becomes the reason, not the suite's end).
pub fn prepare_safely(k: &'static Kernel, e: Engine) -> Result<Runner, String> {
    if e.is_peer() {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let out = std::process::Command::new(exe)
            .env(PROBE_ENV, format!("{}/{}", k.name, e.name()))
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        let said = String::from_utf8_lossy(&out.stdout).trim().to_string();
        match out.status.code() {
            Some(0) => {}
            Some(3) => return Err(said),
            Some(c) => {
                let err = String::from_utf8_lossy(&out.stderr);
                let last = err
                    .lines()
                    .rev()
                    .find(|l| l.contains("panicked"))
                    .unwrap_or("");
                return Err(format!("failed (exit {c}) {last}"));
            }
            None => return Err(format!("crashed ({})", describe_signal(&out.status))),
        }
    }
    prepare(k, e)
}

fn describe_signal(status: &std::process::ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(s) = status.signal() {
            return match s {
                11 => "SIGSEGV".into(),
                6 => "SIGABRT".into(),
                4 => "SIGILL".into(),
                8 => "SIGFPE".into(),
                n => format!("signal {n}"),
            };
        }
    }
    format!("{status}")
}

/// Median of `runs` timed calls after one untimed warm-up, or as many as
/// fit in `budget` (at least 3).
pub fn median_time(run: &mut Runner, runs: usize, budget: Duration) -> Duration {
    black_box(run());
    let started = Instant::now();
    let mut times = Vec::with_capacity(runs);
    while times.len() < 3 || (times.len() < runs && started.elapsed() < budget) {
        let t = Instant::now();
        black_box(run());
        times.push(t.elapsed());
    }
    times.sort();
    times[times.len() / 2]
}
