//! Differential test: random programs (`common/programs.rs`; by seed, a
//! quarter printing, a quarter printing and making strings, a quarter making
//! strings; a third of all with Int arrays in globals) give the same result, slots, stack, frames, globals and output
//! interpreted and with the tracing tier (block tier off, traces recorded
//! after one back-edge).
#![cfg(feature = "jit")]

mod common;
use common::*;
use fusevm_llvm::JitCompiler;

/// Checks `count` programs from seeds `start..` (stepping by 2).
fn check_programs(start: u64, count: usize) {
    let mut cfg = JitCompiler::new().get_config();
    cfg.block_threshold = u32::MAX;
    cfg.trace_threshold = 1;
    cfg.background_compile = false;
    JitCompiler::new().set_config(cfg);
    let before = JitCompiler::stats().trace_compiled;
    for seed in (start..).step_by(2).take(count) {
        let (prints, strings) = match seed % 8 / 2 {
            0 => (true, false),
            1 => (true, true),
            2 => (false, true),
            _ => (false, false),
        };
        // A third keep Int arrays in globals.
        let arrays = seed % 3 == 1;
        let (chunk, presets) = programs::program_with_arrays(seed, prints, strings, arrays);
        if let Err(difference) = programs::compare(&chunk, &presets) {
            let small = programs::minimise(&chunk, &presets);
            panic!(
                "seed {seed}: {difference}\npresets {presets:?}\nminimised:\n{}",
                fusevm_llvm::disassemble(&small).unwrap_or_default()
            );
        }
    }
    // The tier really ran: most programs have a loop that gets hot.
    let compiled = JitCompiler::stats().trace_compiled - before;
    assert!(
        compiled > count as u64 / 4,
        "only {compiled} traces compiled"
    );
}

#[test]
fn random_programs_agree_interpreted_and_traced_even_seeds() {
    check_programs(0, common::differential_count());
}

#[test]
fn random_programs_agree_interpreted_and_traced_odd_seeds() {
    check_programs(1, common::differential_count());
}
