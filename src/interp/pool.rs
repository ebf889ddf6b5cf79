//! Recycling VMs: a pool keeps finished VMs so the next run reuses their
//! stack, frame and slot allocations.

use super::vm::VM;
use crate::bytecode::chunk::Chunk;
use std::sync::Arc;

/// A pool of idle VMs.
///
/// ```
/// use fusevm_llvm::{assemble, VMPool, VMResult, Value};
/// let mut pool = VMPool::with_max_idle(4);
/// let mut vm = pool.acquire(assemble("LoadInt 1").unwrap());
/// assert!(matches!(vm.run(), VMResult::Ok(Value::Int(1))));
/// pool.release(vm);
/// assert_eq!(pool.len(), 1);
/// // Or scoped: the VM goes back to the pool when the closure returns.
/// let r = pool.with(assemble("LoadInt 2").unwrap(), |vm| vm.run());
/// assert!(matches!(r, VMResult::Ok(Value::Int(2))));
/// ```
pub struct VMPool {
    idle: Vec<VM>,
    max_idle: usize,
}

impl VMPool {
    /// A pool that keeps every VM released to it (as fusevm's does).
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// [`VMPool::new`] with room for `cap` idle VMs reserved.
    pub fn with_capacity(cap: usize) -> Self {
        VMPool {
            idle: Vec::with_capacity(cap),
            max_idle: usize::MAX,
        }
    }

    /// A pool that keeps at most `max_idle` idle VMs (more are dropped).
    pub fn with_max_idle(max_idle: usize) -> Self {
        VMPool {
            idle: Vec::with_capacity(max_idle),
            max_idle,
        }
    }

    /// A VM loaded with `chunk`: a recycled one when available (its run state
    /// cleared, its host hooks kept), else a new one.
    pub fn acquire(&mut self, chunk: Chunk) -> VM {
        self.acquire_shared(Arc::new(chunk))
    }

    /// Like [`VMPool::acquire`] for a shared chunk.
    pub fn acquire_shared(&mut self, chunk: Arc<Chunk>) -> VM {
        match self.idle.pop() {
            Some(mut vm) => {
                vm.reset_shared(chunk);
                vm
            }
            None => VM::with_shared_chunk(chunk),
        }
    }

    /// Returns a VM to the pool (dropped if the pool is full).
    pub fn release(&mut self, vm: VM) {
        if self.idle.len() < self.max_idle {
            self.idle.push(vm);
        }
    }

    /// Runs `f` on a VM acquired for `chunk`, then releases it.
    pub fn with<T>(&mut self, chunk: Chunk, f: impl FnOnce(&mut VM) -> T) -> T {
        let mut vm = self.acquire(chunk);
        let out = f(&mut vm);
        self.release(vm);
        out
    }

    /// Number of idle VMs held.
    pub fn idle(&self) -> usize {
        self.idle.len()
    }

    /// Number of idle VMs held (fusevm's name for [`VMPool::idle`]).
    pub fn len(&self) -> usize {
        self.idle.len()
    }

    /// True when no idle VM is held.
    pub fn is_empty(&self) -> bool {
        self.idle.is_empty()
    }
}

impl Default for VMPool {
    fn default() -> Self {
        Self::new()
    }
}
