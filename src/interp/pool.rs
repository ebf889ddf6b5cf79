//! Recycling VMs: a pool keeps finished VMs so the next run reuses their
//! stack, frame and slot allocations.

use super::vm::VM;
use crate::bytecode::chunk::Chunk;
use std::sync::Arc;

/// A pool of idle VMs.
///
/// ```
/// use fusevm_llvm::{assemble, VMPool, VMResult, Value};
/// let mut pool = VMPool::new(4);
/// let mut vm = pool.acquire(assemble("LoadInt 1").unwrap());
/// assert!(matches!(vm.run(), VMResult::Ok(Value::Int(1))));
/// pool.release(vm);
/// assert_eq!(pool.idle(), 1);
/// ```
pub struct VMPool {
    idle: Vec<VM>,
    max_idle: usize,
}

impl VMPool {
    /// A pool that keeps at most `max_idle` idle VMs.
    pub fn new(max_idle: usize) -> Self {
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

    /// Number of idle VMs held.
    pub fn idle(&self) -> usize {
        self.idle.len()
    }
}
