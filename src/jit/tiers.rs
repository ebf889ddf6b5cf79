//! The native tiers behind the interpreter's `Tiers` interface: a fresh
//! run goes to the block tier, back-edges and recordings to the tracing
//! tier, interpreted calls to hot subroutines.

use super::trace::Tracer;
use crate::bytecode::chunk::Chunk;
use crate::bytecode::op::Op;
use crate::interp::tiers::Tiers;
use crate::interp::vm::VM;

/// One VM's native tiers: its back-edge counters, recording and hot calls.
pub struct JitTiers {
    tracer: Tracer,
}

impl Tiers for JitTiers {
    fn enter_run(&mut self, vm: &mut VM) -> bool {
        super::compiler::enter_block(vm)
    }

    fn after_op(&mut self, vm: &mut VM, ip: usize, op: &Op, next: usize) -> Option<usize> {
        vm.trace_step(&mut self.tracer, ip, op, next)
    }

    fn call(&mut self, vm: &mut VM, name: u16, argc: u8) -> bool {
        vm.hot_call(&mut self.tracer.calls, name, argc)
    }

    fn recording(&self) -> bool {
        self.tracer.is_recording()
    }

    fn chunk_changed(&mut self, chunk: &Chunk) {
        self.tracer = Tracer::new(chunk.len());
    }
}

impl VM {
    /// Lets [`VM::run`] use the native tiers (off by default): an eligible
    /// chunk runs through the block tier once past `block_threshold`
    /// invocations on this thread; in other chunks hot loops are traced and
    /// hot subroutines run natively. Results never depend on it.
    pub fn enable_tracing_jit(&mut self) {
        if !self.tracing_jit_enabled() {
            let tracer = Tracer::new(self.chunk().len());
            self.set_tiers(Some(Box::new(JitTiers { tracer })));
        }
    }
}
