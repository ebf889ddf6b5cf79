//! `TraceJitConfig`: the thresholds and limits that steer the native tiers,
//! and the per-thread setting every tier reads.
//!
//! Each thread has its own configuration. It starts as
//! [`TraceJitConfig::defaults`] with two environment overrides, read when the
//! thread first touches it: `FUSEVM_JIT_BLOCK_THRESHOLD` and
//! `FUSEVM_JIT_TRACE_THRESHOLD` (unsigned integers). A value that does not
//! parse is reported once per process on stderr and ignored.

use std::cell::Cell;
use std::sync::Mutex;

/// Thresholds and limits for the block and tracing tiers (SPEC §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceJitConfig {
    /// Back-edges through a loop header before the trace recorder arms.
    pub trace_threshold: u32,
    /// Whole-chunk invocations served by the interpreter before the block
    /// tier compiles (0 compiles on the first call).
    pub block_threshold: u32,
    /// Side exits a trace may take before it is blacklisted.
    pub max_side_exits: u32,
    /// Live activations of one function a trace inlines: a call making one
    /// more aborts the recording (and a trace built from metadata with one
    /// more is refused).
    pub max_inline_recursion: usize,
    /// Side traces chained per back-edge hop: a hot exit of a side path this
    /// many links from the main path stays an exit.
    pub max_trace_chain: usize,
    /// Recorded ops before a recording aborts.
    pub max_trace_len: usize,
    /// Compile on the compiler thread while the interpreter goes on
    /// (`true`): traces, and a chunk's block code once it passes a
    /// `block_threshold` of 1 or more (its next run uses it; a threshold of
    /// 0 asks for native code on the first run, so that compilation waits).
    /// The interpreter then never waits for LLVM and a spare core does the
    /// work. Off by default (`false`: compiled on the interpreter's thread
    /// before it goes on): a process must not exit while LLVM is compiling
    /// on another thread, so an embedder who turns it on calls
    /// [`JitCompiler::stop_background_compiles`] (or
    /// [`JitCompiler::wait_for_compiles`]) before exiting. Results are the
    /// same either way; only when native code starts to serve differs.
    pub background_compile: bool,
}

impl TraceJitConfig {
    /// The defaults: 50, 1, 50, 4, 4, 256, compiled in the foreground.
    pub const fn defaults() -> TraceJitConfig {
        TraceJitConfig {
            trace_threshold: 50,
            block_threshold: 1,
            max_side_exits: 50,
            max_inline_recursion: 4,
            max_trace_chain: 4,
            max_trace_len: 256,
            background_compile: false,
        }
    }
}

impl Default for TraceJitConfig {
    fn default() -> Self {
        Self::defaults()
    }
}

/// The environment variable overriding `block_threshold`.
pub const BLOCK_THRESHOLD_ENV: &str = "FUSEVM_JIT_BLOCK_THRESHOLD";
/// The environment variable overriding `trace_threshold`.
pub const TRACE_THRESHOLD_ENV: &str = "FUSEVM_JIT_TRACE_THRESHOLD";

impl TraceJitConfig {
    /// The defaults with the environment overrides applied; `lookup` reads
    /// a variable (`std::env::var` in practice). Returns the configuration
    /// and a warning for each variable that is set but does not parse.
    pub fn from_env_with(lookup: impl Fn(&str) -> Option<String>) -> (TraceJitConfig, Vec<String>) {
        let mut cfg = TraceJitConfig::defaults();
        let mut warnings = Vec::new();
        for (name, field) in [
            (BLOCK_THRESHOLD_ENV, &mut cfg.block_threshold),
            (TRACE_THRESHOLD_ENV, &mut cfg.trace_threshold),
        ] {
            if let Some(raw) = lookup(name) {
                match raw.trim().parse::<u32>() {
                    Ok(v) => *field = v,
                    Err(e) => warnings.push(format!(
                        "fusevm-llvm: ignoring {name}={raw:?}: {e} (expected an unsigned integer)"
                    )),
                }
            }
        }
        (cfg, warnings)
    }
}

pub use super::compiler::JitCompiler;

thread_local! {
    static CONFIG: Cell<Option<TraceJitConfig>> = const { Cell::new(None) };
}

/// Warnings already printed (each once per process).
static REPORTED: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn initial_config() -> TraceJitConfig {
    let (cfg, warnings) = TraceJitConfig::from_env_with(|name| {
        std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
    });
    let mut reported = REPORTED.lock().unwrap_or_else(|e| e.into_inner());
    for w in warnings {
        if !reported.contains(&w) {
            eprintln!("{w}");
            reported.push(w);
        }
    }
    cfg
}

/// The calling thread's configuration (defaults plus environment overrides
/// until one is set).
pub(crate) fn current() -> TraceJitConfig {
    CONFIG.with(|c| match c.get() {
        Some(cfg) => cfg,
        None => {
            let cfg = initial_config();
            c.set(Some(cfg));
            cfg
        }
    })
}

/// Sets the calling thread's configuration.
pub(crate) fn set_current(cfg: TraceJitConfig) {
    CONFIG.with(|c| c.set(Some(cfg)));
}

/// Configuration is per thread: `set_config` and `get_config` affect only
/// the calling thread's subsequent decisions (whichever handle they are
/// called on: a `JitCompiler` is a handle on the one JIT).
///
/// ```
/// use fusevm_llvm::{JitCompiler, TraceJitConfig};
/// let jit = JitCompiler::new();
/// let mut cfg = jit.get_config();
/// cfg.block_threshold = u32::MAX; // never compile whole chunks on this thread
/// jit.set_config(cfg);
/// assert_eq!(JitCompiler::new().get_config().block_threshold, u32::MAX);
/// std::thread::spawn(|| {
///     // Another thread starts from the defaults (and the environment).
///     assert_ne!(JitCompiler::new().get_config().block_threshold, u32::MAX);
/// })
/// .join()
/// .unwrap();
/// ```
impl JitCompiler {
    /// Sets the calling thread's configuration.
    pub fn set_config(&self, cfg: TraceJitConfig) {
        set_current(cfg);
    }

    /// The calling thread's configuration (defaults plus environment
    /// overrides until `set_config` is called).
    pub fn get_config(&self) -> TraceJitConfig {
        current()
    }
}
