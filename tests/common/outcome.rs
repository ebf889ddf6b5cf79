//! What a run leaves behind, and how two runs differ: the comparison the
//! differential, step-budget and thread tests share.

use super::programs;
use fusevm_llvm::{Chunk, VMResult, Value};

/// Everything a run leaves behind.
pub struct Outcome {
    pub result: VMResult,
    pub slots: Vec<Value>,
    pub stack: Vec<Value>,
    pub frames: usize,
    pub globals: Vec<Value>,
    pub output: String,
    pub steps_left: Option<u64>,
    pub ip: usize,
}

impl Outcome {
    /// Runs `chunk` (slots preset, the JIT on or off, an optional step
    /// budget) in a fresh VM under this thread's JIT configuration.
    pub fn of(chunk: &Chunk, presets: &[Value], jit: bool, budget: Option<u64>) -> Outcome {
        let (mut vm, out) = programs::vm_for(chunk, presets, jit);
        vm.set_step_budget(budget);
        let result = vm.run();
        Outcome {
            result,
            slots: vm
                .frames
                .iter()
                .flat_map(|f| f.slots.iter().cloned())
                .collect(),
            stack: vm.stack.clone(),
            frames: vm.frames.len(),
            globals: vm.globals().to_vec(),
            output: out.contents(),
            steps_left: vm.step_budget(),
            ip: vm.ip,
        }
    }

    /// How `self` differs from `want`, if it does (values by `same_as`).
    pub fn differs(&self, want: &Outcome) -> Option<String> {
        let list = |a: &[Value], b: &[Value]| {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same_as(y))
        };
        let what = [
            (!self.result.same_as(&want.result), "result"),
            (!list(&self.slots, &want.slots), "slots"),
            (!list(&self.stack, &want.stack), "stack"),
            (self.frames != want.frames, "frames"),
            (!list(&self.globals, &want.globals), "globals"),
            (self.output != want.output, "output"),
            (self.steps_left != want.steps_left, "steps left"),
            (self.ip != want.ip, "ip"),
        ];
        let bad: Vec<&str> = what.iter().filter(|(d, _)| *d).map(|(_, w)| *w).collect();
        (!bad.is_empty()).then(|| {
            format!(
                "{} differ: {} (ip {}, {:?} steps left) vs {} (ip {}, {:?} steps left)",
                bad.join(", "),
                self.result,
                self.ip,
                self.steps_left,
                want.result,
                want.ip,
                want.steps_left
            )
        })
    }
}
