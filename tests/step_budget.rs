//! The step budget: runs stop with "step budget exhausted" at the same op,
//! in the same state, with the same steps left, in the interpreter, the
//! block tier and the tracing tier; runaway loops and recursion end.
#![cfg(feature = "jit")]

mod common;
use common::outcome::Outcome;
use common::traced::*;
use common::*;
use fusevm_llvm::{JitCompiler, VM, VMResult, Value};

fn budgeted(
    chunk: &fusevm_llvm::Chunk,
    presets: &[Value],
    jit: bool,
    steps: u64,
) -> (VMResult, VM) {
    let (mut vm, _) = programs::vm_for(chunk, presets, jit);
    vm.set_step_budget(Some(steps));
    let r = vm.run();
    (r, vm)
}

#[track_caller]
fn assert_exhausted_at(r: &VMResult, ip: usize) {
    let VMResult::Error(e) = r else {
        panic!("expected an error, got {r}")
    };
    assert_eq!(e.ip, Some(ip), "{e}");
    assert!(e.message.contains("step budget exhausted"), "{e}");
}

#[test]
fn an_endless_loop_stops_when_its_budget_runs_out() {
    let chunk = asm("
        LoadInt 0
        SetSlot 0
head:   PreIncSlotVoid 0
        Jump head");
    pin_block_tier(false);
    let (r, vm) = budgeted(&chunk, &[], false, 1000);
    assert_exhausted_at(&r, 3);
    // 1000 back-edges taken, the 1001st refused after the jump.
    assert_same(&vm.frames[0].slots[0], &Value::Int(1001));
    assert_eq!(vm.step_budget(), Some(0));
    assert_eq!(vm.ip, 3);
}

#[test]
fn runaway_recursion_stops_at_the_call_that_has_no_step_left() {
    // f() { f(); f() } never returns nor runs out of frames quickly.
    let chunk = asm("
        Call f 0
        Jump end
sub f:  Call f 0
        Call f 0
        Return
end:");
    pin_block_tier(false);
    let (r, vm) = budgeted(&chunk, &[], false, 500);
    assert_exhausted_at(&r, 2);
    assert_eq!(vm.frames.len(), 501);
    assert_eq!(vm.step_budget(), Some(0));
}

#[test]
fn no_budget_means_no_limit_and_a_budget_carries_over_runs() {
    let chunk = example("sum");
    pin_block_tier(false);
    let mut vm = VM::new(chunk.clone());
    assert_eq!(vm.step_budget(), None);
    assert!(matches!(vm.run(), VMResult::Ok(_)));
    let mut vm = VM::new(chunk);
    vm.set_step_budget(Some(15_000_000));
    assert!(matches!(vm.run(), VMResult::Ok(_)));
    let left = vm.step_budget().unwrap();
    assert!(left < 15_000_000 && left > 0, "{left}");
    vm.reset(example("sum"));
    let r = vm.run();
    assert!(matches!(r, VMResult::Error(_)), "{r}");
    assert_eq!(vm.step_budget(), Some(0));
}

/// Runs `chunk` with `steps` in the interpreter and with the JIT (the
/// tier this thread's configuration allows); `Err` says how they differ.
fn tiers_agree(chunk: &fusevm_llvm::Chunk, presets: &[Value], steps: u64) -> Result<(), String> {
    let want = Outcome::of(chunk, presets, false, Some(steps));
    match Outcome::of(chunk, presets, true, Some(steps)).differs(&want) {
        Some(d) => Err(d),
        None => Ok(()),
    }
}

#[test]
fn the_block_tier_counts_steps_like_the_interpreter() {
    pin_block_tier(true);
    // fib(12) in every budget around the point where it runs out.
    let chunk = example("fib");
    let jit = JitCompiler::new();
    for steps in [0, 1, 2, 100, 1000, 400_000, 10_000_000] {
        tiers_agree(&chunk, &[], steps).unwrap_or_else(|e| panic!("{steps} steps: {e}"));
    }
    assert!(jit.block_run_count(&chunk) > 0);
    let chunk = example("nested");
    for steps in [0, 5, 999, 1000, 1001, 123_456] {
        tiers_agree(&chunk, &[], steps).unwrap_or_else(|e| panic!("{steps} steps: {e}"));
    }
    assert!(jit.block_run_count(&chunk) > 0);
}

#[test]
fn the_tracing_tier_counts_steps_like_the_interpreter() {
    pin(2, |_| {});
    let chunk = printing_example("branch");
    for steps in [3, 50, 1000, 2_999_999, 3_000_000, 3_000_001] {
        tiers_agree(&chunk, &[], steps).unwrap_or_else(|e| panic!("{steps} steps: {e}"));
    }
    assert!(JitCompiler::new().trace_is_compiled(&chunk, 4));
}

#[test]
fn random_programs_with_random_budgets_agree_in_every_tier() {
    // Block tier first, then the tracing tier; budgets from none left to
    // plenty, so runs stop in loops, in calls, in recursion, or not at all.
    // 500 a tier by default (FUSEVM_DIFFERENTIAL_PROGRAMS=N for N a tier).
    let n = differential_count() as u64;
    for (tier, seeds) in [("block", 0..n), ("trace", n..2 * n)] {
        match tier {
            "block" => pin_block_tier(true),
            _ => pin(1, |_| {}),
        }
        for seed in seeds {
            let (chunk, presets) =
                programs::program_with(seed, tier == "trace" && seed % 2 == 0, seed % 3 == 0);
            let steps = [0, 1, 3, 10, 40, 200, 5000][(seed % 7) as usize];
            if let Err(e) = tiers_agree(&chunk, &presets, steps) {
                panic!(
                    "{tier} tier, seed {seed}, {steps} steps: {e}\n{}",
                    fusevm_llvm::disassemble(&chunk).unwrap_or_default()
                );
            }
        }
    }
}

#[test]
fn a_fused_loop_op_counts_each_iteration_as_a_step() {
    // Found by the `ops` fuzz target: an `AccumSumLoop` over unset slots
    // up to 2^31 ran for minutes under a budget of 5,000 steps.
    let chunk = asm("
        AccumSumLoop 30728 23048 2139183706
        Dec");
    for jit in [false, true] {
        pin_block_tier(jit);
        let (r, vm) = budgeted(&chunk, &[], jit, 5_000);
        assert_exhausted_at(&r, 0);
        assert_eq!(vm.step_budget(), Some(0));
        assert_same(&vm.frames[0].slots[23048], &Value::Int(5_000));
    }
    // Int slots take the fast path: the same count.
    let chunk = asm("
        LoadInt 0
        SetSlot 0
        LoadInt 0
        SetSlot 1
        AccumSumLoop 1 0 1000000");
    for jit in [false, true] {
        pin_block_tier(jit);
        let (r, vm) = budgeted(&chunk, &[], jit, 700);
        assert_exhausted_at(&r, 4);
        assert_same(&vm.frames[0].slots[0], &Value::Int(700));
        assert_same(&vm.frames[0].slots[1], &Value::Int(699 * 700 / 2));
        let (r, vm) = budgeted(&chunk, &[], jit, 1_000_000);
        assert!(matches!(r, VMResult::Halted), "{r}");
        assert_eq!(vm.step_budget(), Some(0));
    }
}
