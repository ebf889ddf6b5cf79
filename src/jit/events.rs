//! Diagnostics: one event per thing the JIT does, worded for a person
//! wondering where the speed went (in the spirit of LuaJIT's `-jv`).
//!
//! Events go to a process-wide hook: [`JitCompiler::set_event_hook`], or
//! standard error when the environment variable [`LOG_ENV`] is set (to
//! anything but `0`). Nothing is built while no hook is listening.
//!
//! [`JitCompiler::set_event_hook`]: super::compiler::JitCompiler::set_event_hook

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Once, RwLock};

/// The environment variable that sends events to standard error.
pub const LOG_ENV: &str = "FUSEVM_JIT_LOG";

/// Something the JIT did. `chunk` is a chunk's content hash; `anchor` the
/// ip of a loop header (a trace's identity, with `chunk`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum JitEvent {
    /// The block tier compiled a whole chunk (for one set of entry kinds).
    BlockCompiled {
        /// The chunk.
        chunk: u128,
        /// Build IR + O2 + code generation, in milliseconds.
        millis: f64,
    },
    /// The block tier refused or failed to compile a chunk.
    BlockRefused {
        /// The chunk.
        chunk: u128,
        /// Why (names the op).
        reason: String,
    },
    /// A loop got hot: recording its path starts (`side`: recording from a
    /// hot exit, `(path, step)` of the branch it leaves from).
    TraceStarted {
        /// The chunk.
        chunk: u128,
        /// The loop header.
        anchor: usize,
        /// The exit a side path grows from.
        side: Option<(usize, usize)>,
    },
    /// A trace was compiled (or recompiled with a new side path).
    TraceCompiled {
        /// The chunk.
        chunk: u128,
        /// The loop header.
        anchor: usize,
        /// Build IR + O2 + code generation, in milliseconds.
        millis: f64,
        /// Side paths linked into it.
        side_paths: usize,
        /// Exits left (stubs back to the interpreter).
        exits: usize,
        /// Calls inlined into it (main and side paths).
        inlined_calls: usize,
        /// What [`JitCompiler::set_dump_options`] and the trace dump asked
        /// for: the trace's ops with their exits, LLVM IR, machine code.
        ///
        /// [`JitCompiler::set_dump_options`]: super::compiler::JitCompiler::set_dump_options
        dump: Option<String>,
    },
    /// A recording or compilation was abandoned.
    TraceAborted {
        /// The chunk.
        chunk: u128,
        /// The loop header.
        anchor: usize,
        /// Why (names the op).
        reason: String,
    },
    /// A side path recorded from a hot exit was compiled into its trace:
    /// the exit's branch now jumps straight into it.
    SideLinked {
        /// The chunk.
        chunk: u128,
        /// The loop header.
        anchor: usize,
        /// The exit it continues: (path, step) of the branch it leaves from
        /// (path 0: the main path, `k + 1`: side path `k`).
        exit: (usize, usize),
        /// The original ip the exit resumed at (where the side path starts).
        resume: usize,
        /// Side paths between it and the main path, itself included.
        chain: usize,
    },
    /// A loop header stopped recording and running traces.
    TraceBlacklisted {
        /// The chunk.
        chunk: u128,
        /// The loop header.
        anchor: usize,
        /// Why.
        reason: String,
    },
    /// A chunk's code and traces were evicted from the cache.
    Evicted {
        /// The chunk.
        chunk: u128,
    },
    /// A unit's code was linked from a persistent cache record (no LLVM).
    CacheHit {
        /// The chunk the unit belongs to.
        chunk: u128,
        /// The record's file name (or "imported trace code").
        file: String,
        /// Reading, checking and linking it, in milliseconds.
        millis: f64,
    },
    /// A unit was linked from the cache directory at start-up
    /// ([`JitCompiler::warm_up`]), before any run asked for it.
    ///
    /// [`JitCompiler::warm_up`]: crate::jit::compiler::JitCompiler::warm_up
    CachePreloaded {
        /// The record's file name.
        file: String,
        /// Linking it, in milliseconds.
        millis: f64,
    },
    /// A unit was looked up in the cache directory, not found, and compiled.
    CacheMiss {
        /// The chunk the unit belongs to.
        chunk: u128,
        /// The record's file name.
        file: String,
    },
    /// A compiled unit was written to the cache directory.
    CacheStored {
        /// The chunk the unit belongs to.
        chunk: u128,
        /// The record's file name.
        file: String,
        /// Its size.
        bytes: usize,
    },
    /// A record was refused (and will be replaced): truncated, corrupted,
    /// foreign (another CPU, LLVM or version), unreadable.
    CacheRejected {
        /// The chunk the unit belongs to.
        chunk: u128,
        /// The record's file name (or "imported trace code").
        file: String,
        /// Why.
        reason: String,
    },
    /// The cache directory can't be written (read-only, full, not a
    /// directory): units are compiled and not stored. Once per directory.
    CacheUnwritable {
        /// The directory.
        dir: String,
        /// What the system said.
        reason: String,
    },
}

/// A chunk hash as people read it: its first 8 hex digits.
struct Short(u128);

impl fmt::Display for Short {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}", (self.0 >> 96) as u32)
    }
}

impl fmt::Display for JitEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JitEvent::BlockCompiled { chunk, millis } => {
                write!(
                    f,
                    "[jit] chunk {} compiled whole in {millis:.2} ms",
                    Short(*chunk)
                )
            }
            JitEvent::BlockRefused { chunk, reason } => {
                write!(
                    f,
                    "[jit] chunk {} stays interpreted: {reason}",
                    Short(*chunk)
                )
            }
            JitEvent::TraceStarted {
                chunk,
                anchor,
                side: None,
            } => {
                write!(f, "[jit] trace {}@{anchor} recording", Short(*chunk))
            }
            JitEvent::TraceStarted {
                chunk,
                anchor,
                side: Some((path, step)),
            } => write!(
                f,
                "[jit] trace {}@{anchor} recording a side path from exit {path}.{step}",
                Short(*chunk)
            ),
            JitEvent::TraceCompiled {
                chunk,
                anchor,
                millis,
                side_paths,
                exits,
                inlined_calls,
                dump,
            } => {
                write!(
                    f,
                    "[jit] trace {}@{anchor} compiled in {millis:.2} ms ({side_paths} side paths linked, {exits} exits, {inlined_calls} calls inlined)",
                    Short(*chunk)
                )?;
                if let Some(d) = dump {
                    write!(f, "\n{d}")?;
                }
                Ok(())
            }
            JitEvent::TraceAborted {
                chunk,
                anchor,
                reason,
            } => {
                write!(
                    f,
                    "[jit] trace {}@{anchor} aborted: {reason}",
                    Short(*chunk)
                )
            }
            JitEvent::SideLinked {
                chunk,
                anchor,
                exit: (path, step),
                resume,
                chain,
            } => write!(
                f,
                "[jit] trace {}@{anchor}: side path from op {resume} linked to exit {path}.{step} (chain {chain})",
                Short(*chunk)
            ),
            JitEvent::TraceBlacklisted {
                chunk,
                anchor,
                reason,
            } => {
                write!(
                    f,
                    "[jit] trace {}@{anchor} blacklisted: {reason}",
                    Short(*chunk)
                )
            }
            JitEvent::Evicted { chunk } => write!(f, "[jit] chunk {} evicted", Short(*chunk)),
            JitEvent::CacheHit {
                chunk,
                file,
                millis,
            } => write!(
                f,
                "[jit] cache hit: chunk {} code linked from {file} in {millis:.2} ms",
                Short(*chunk)
            ),
            JitEvent::CachePreloaded { file, millis } => write!(
                f,
                "[jit] cache preload: {file} linked at start-up in {millis:.2} ms"
            ),
            JitEvent::CacheMiss { chunk, file } => write!(
                f,
                "[jit] cache miss: chunk {} has no {file}; compiling",
                Short(*chunk)
            ),
            JitEvent::CacheStored { chunk, file, bytes } => write!(
                f,
                "[jit] cache store: chunk {} code written to {file} ({bytes} bytes)",
                Short(*chunk)
            ),
            JitEvent::CacheRejected {
                chunk,
                file,
                reason,
            } => write!(
                f,
                "[jit] cache rejected {file} (chunk {}): {reason}; compiling",
                Short(*chunk)
            ),
            JitEvent::CacheUnwritable { dir, reason } => write!(
                f,
                "[jit] warning: cache directory {dir} can't be written ({reason}); compiling without storing"
            ),
        }
    }
}

/// What receives events.
pub type EventHook = Arc<dyn Fn(&JitEvent) + Send + Sync>;

static HOOK: RwLock<Option<EventHook>> = RwLock::new(None);
static LISTENING: AtomicBool = AtomicBool::new(false);
static FROM_ENV: Once = Once::new();

/// Installs `hook` (replacing any), or removes it with `None`.
pub fn set_hook(hook: Option<EventHook>) {
    FROM_ENV.call_once(|| {});
    LISTENING.store(hook.is_some(), Relaxed);
    *HOOK.write().unwrap_or_else(|e| e.into_inner()) = hook;
}

/// Whether anyone listens (reads the environment once).
pub fn listening() -> bool {
    FROM_ENV.call_once(|| {
        if std::env::var_os(LOG_ENV).is_some_and(|v| v != "0") {
            LISTENING.store(true, Relaxed);
            *HOOK.write().unwrap_or_else(|e| e.into_inner()) =
                Some(Arc::new(|e: &JitEvent| eprintln!("{e}")));
        }
    });
    LISTENING.load(Relaxed)
}

/// Sends the event `make` builds, if anyone listens.
pub fn emit(make: impl FnOnce() -> JitEvent) {
    if !listening() {
        return;
    }
    let hook = HOOK.read().unwrap_or_else(|e| e.into_inner()).clone();
    if let Some(h) = hook {
        h(&make());
    }
}
