//! Where execution may change tiers: the interpreter's one view of a JIT.
//!
//! The interpreter defines what programs mean and knows nothing of native
//! code. A VM may hold a [`Tiers`] (the crate's `jit` module installs one
//! with `VM::enable_tracing_jit`); the dispatch loop hands it control at
//! exactly four points, and whatever it does must leave the VM in the state
//! the interpreter itself would have reached:
//!
//! - a fresh run about to start at op 0 ([`Tiers::enter_run`]);
//! - a taken backward jump, or any op while recording
//!   ([`Tiers::after_op`]);
//! - an interpreted `Call` ([`Tiers::call`]);
//! - a new chunk loaded into the VM ([`Tiers::chunk_changed`]).

use super::vm::VM;
use crate::bytecode::chunk::Chunk;
use crate::bytecode::op::Op;

/// A VM's connection to native tiers. Implemented by the `jit` module;
/// the interpreter only calls it.
pub trait Tiers: Send {
    /// A fresh run (ip 0, root frame only) is about to start: run natively
    /// from op 0 if possible, leaving the VM exactly as the interpreter
    /// would be where native code stopped (ip included). `true` if native
    /// code ran.
    fn enter_run(&mut self, vm: &mut VM) -> bool;

    /// After op `ip` ran and chose `next`: called for every taken backward
    /// jump, and for every op while [`Tiers::recording`]. `Some(resume)`:
    /// native code ran from `next` and the interpreter resumes at `resume`.
    fn after_op(&mut self, vm: &mut VM, ip: usize, op: &Op, next: usize) -> Option<usize>;

    /// An interpreted `Call name argc` is about to run: `true` if it ran
    /// natively (its arguments replaced by the result, the interpreter goes
    /// on after the call); `false` leaves everything as it was.
    fn call(&mut self, vm: &mut VM, name: u16, argc: u8) -> bool;

    /// Whether every op must reach [`Tiers::after_op`].
    fn recording(&self) -> bool;

    /// The VM now runs `chunk` (its counters and recordings start over).
    fn chunk_changed(&mut self, chunk: &Chunk);
}
