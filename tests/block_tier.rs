//! The block tier agrees with the interpreter.

mod common;
use common::*;

#[test]
fn every_example_agrees_with_the_interpreter_and_runs_native() {
    for name in EXAMPLES {
        let chunk = example(name);
        let jit = fusevm_llvm::JitCompiler::new();
        if !jit.is_block_eligible(&chunk) {
            assert_eq!(
                *name,
                "strings",
                "{name}: {:?}",
                jit.block_ineligibility(&chunk)
            );
            continue;
        }
        assert_block_agrees(&chunk);
    }
}

#[test]
fn presets_survive_a_chunk_of_nops() {
    use fusevm_llvm::{ChunkBuilder, Op, VM, Value};
    pin_block_tier(true);
    let mut b = ChunkBuilder::new();
    for _ in 0..3 {
        b.emit(Op::Nop, 1);
    }
    let chunk = b.build();
    let presets = [
        Value::Int(3),
        Value::Int(3),
        Value::Int(3),
        Value::str("7"),
        Value::Bool(true),
    ];
    let mut vm = VM::new(chunk.clone());
    for (i, v) in presets.iter().enumerate() {
        vm.set_slot(i as u16, v.clone());
    }
    vm.enable_tracing_jit();
    let r = vm.run();
    println!("{r} {:?} {:?}", vm.slots, vm.stack);
    assert!(fusevm_llvm::JitCompiler::new().block_jit_is_compiled(&chunk));
    assert_eq!(vm.slots.len(), 5);
    for (a, b) in vm.slots.iter().zip(&presets) {
        assert!(a.same_as(b), "{:?}", vm.slots);
    }
}
