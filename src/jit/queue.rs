//! The compiler thread: compilations asked for with
//! `TraceJitConfig::background_compile` run here, one after another, while
//! the interpreters that asked go on.
//!
//! One thread per process, started by the first request. A job compiles one
//! unit and installs it where the interpreter looks for it (an anchor's
//! traces, the code cache), so a VM picks it up at its next back-edge or
//! chunk entry. Traces go first: they serve the run in progress, a chunk's
//! block code only its next run. A job says whether its
//! result was kept or *discarded* (its chunk was evicted meanwhile).
//!
//! A process must not exit while LLVM compiles on this thread: exit runs
//! LLVM's static destructors under it. [`shut_down`] (what
//! `JitCompiler::stop_background_compiles` does) discards the jobs not yet
//! started and waits for the one running. As a fallback the same runs from
//! an `atexit` handler, registered again before each job: handlers run in
//! reverse order, so it comes before the destructors of every static LLVM
//! had created by then (not one a compilation running at exit creates for
//! the first time, hence the explicit call).
//!
//! The counters here also hold how long interpreter threads waited for LLVM
//! (a synchronous compilation), which `JitStats` reports.

use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::Duration;

/// One compilation: `true` if its result was installed, `false` if it was
/// discarded.
pub(crate) type Job = Box<dyn FnOnce() -> bool + Send>;

/// Jobs handed to the compiler thread.
static QUEUED: AtomicU64 = AtomicU64::new(0);
/// Jobs whose result was installed.
static FINISHED: AtomicU64 = AtomicU64::new(0);
/// Jobs dropped: their unit was evicted, they failed hard, or the process
/// was exiting.
static DISCARDED: AtomicU64 = AtomicU64::new(0);
/// Nanoseconds interpreter threads spent waiting for LLVM, in all and the
/// longest single wait.
static WAIT_NANOS: AtomicU64 = AtomicU64::new(0);
static WAIT_MAX_NANOS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Set on the compiler thread (its compilations are nobody's wait).
    static ON_COMPILER_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// Which queue a job joins.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Priority {
    /// A trace: the loop waiting for it is running now.
    Trace,
    /// A chunk's block code: its next run uses it.
    Block,
}

struct Queue {
    state: Mutex<State>,
    /// Signalled when a job arrives.
    work: Condvar,
    /// Signalled when nothing is pending.
    idle: Condvar,
}

#[derive(Default)]
struct State {
    traces: VecDeque<Job>,
    blocks: VecDeque<Job>,
    /// Jobs submitted and not yet finished or discarded.
    pending: usize,
    /// The process is exiting: start nothing more.
    closing: bool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The process's queue, its thread started on first use; `None` if the
/// thread could not be started (callers then compile in place).
fn queue() -> Option<&'static Queue> {
    static QUEUE: OnceLock<Option<Queue>> = OnceLock::new();
    QUEUE
        .get_or_init(|| {
            std::thread::Builder::new()
                .name("fusevm-llvm-compiler".into())
                .spawn(work)
                .ok()?;
            fusevm_llvm_backend::before_llvm_teardown(at_exit);
            Some(Queue {
                state: Mutex::new(State::default()),
                work: Condvar::new(),
                idle: Condvar::new(),
            })
        })
        .as_ref()
}

/// The compiler thread's loop: traces first, then block code, each counted
/// as kept or discarded; a panicking job is discarded, not fatal to the
/// thread.
fn work() {
    ON_COMPILER_THREAD.with(|c| c.set(true));
    let Some(q) = queue() else { return };
    loop {
        let (job, closing) = {
            let mut s = lock(&q.state);
            loop {
                if let Some(job) = s.traces.pop_front().or_else(|| s.blocks.pop_front()) {
                    break (job, s.closing);
                }
                s = q.work.wait(s).unwrap_or_else(|e| e.into_inner());
            }
        };
        if !closing {
            fusevm_llvm_backend::before_llvm_teardown(at_exit);
        }
        let kept = !closing
            && std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).unwrap_or(false);
        if kept {
            FINISHED.fetch_add(1, Relaxed);
        } else {
            DISCARDED.fetch_add(1, Relaxed);
        }
        let mut s = lock(&q.state);
        s.pending -= 1;
        if s.pending == 0 {
            q.idle.notify_all();
        }
    }
}

/// Queues `job` for the compiler thread, or gives it back when there is
/// none (or the process is exiting): the caller runs it in place.
pub(crate) fn submit(job: Job, priority: Priority) -> Result<(), Job> {
    let Some(q) = queue() else { return Err(job) };
    let mut s = lock(&q.state);
    if s.closing {
        return Err(job);
    }
    s.pending += 1;
    match priority {
        Priority::Trace => s.traces.push_back(job),
        Priority::Block => s.blocks.push_back(job),
    }
    QUEUED.fetch_add(1, Relaxed);
    q.work.notify_one();
    Ok(())
}

/// Blocks until every queued compilation has finished or been discarded.
pub(crate) fn wait_idle() {
    let Some(q) = queue() else { return };
    let mut s = lock(&q.state);
    while s.pending > 0 {
        s = q.idle.wait(s).unwrap_or_else(|e| e.into_inner());
    }
}

/// Stops background compilation for good: jobs not yet started are
/// discarded, the one running is waited for, and later compilations run
/// on the thread that asks for them.
pub(crate) fn shut_down() {
    if let Some(q) = queue() {
        lock(&q.state).closing = true;
        wait_idle();
    }
}

/// At process exit: [`shut_down`].
extern "C" fn at_exit() {
    shut_down();
}

/// Whether the calling thread is the compiler thread.
pub(crate) fn on_compiler_thread() -> bool {
    ON_COMPILER_THREAD.with(|c| c.get())
}

/// Counts `d` as an interpreter thread's wait for LLVM.
pub(crate) fn note_wait(d: Duration) {
    let n = d.as_nanos().min(u64::MAX as u128) as u64;
    WAIT_NANOS.fetch_add(n, Relaxed);
    WAIT_MAX_NANOS.fetch_max(n, Relaxed);
}

/// What the queue has done: (queued, finished, discarded, total wait,
/// longest wait).
pub(crate) fn counters() -> (u64, u64, u64, Duration, Duration) {
    (
        QUEUED.load(Relaxed),
        FINISHED.load(Relaxed),
        DISCARDED.load(Relaxed),
        Duration::from_nanos(WAIT_NANOS.load(Relaxed)),
        Duration::from_nanos(WAIT_MAX_NANOS.load(Relaxed)),
    )
}
