//! Arbitrary bytes as an op vector (the stable binary encoding), with a few
//! constants, names and subroutine entries: build, verify, run. The first
//! byte picks interpreter or JIT.
#![no_main]

use fusevm_llvm::{ChunkBuilder, Op, Value};
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, bytes)) = data.split_first() else {
        return;
    };
    let mut b = ChunkBuilder::new();
    for v in [
        Value::Int(0),
        Value::Int(i64::MIN),
        Value::Float(f64::NAN),
        Value::Float(-0.0),
        Value::str("7"),
        Value::Bool(true),
        Value::Undef,
    ] {
        b.add_constant(v);
    }
    for n in ["a", "b", "c", "f"] {
        b.add_name(n);
    }
    let mut pos = 0;
    while pos < bytes.len() {
        match Op::decode(bytes, &mut pos) {
            Ok(op) => {
                b.emit(op, 1);
            }
            Err(_) => break,
        }
    }
    // A subroutine entry for every name, spread over the ops.
    let len = b.current_pos();
    if len > 0 {
        for n in 0..4u16 {
            b.add_sub_entry(n, (n as usize * 7) % len);
        }
    }
    if let Ok(chunk) = b.try_build() {
        common::run(chunk, mode & 1 == 1);
    }
});
