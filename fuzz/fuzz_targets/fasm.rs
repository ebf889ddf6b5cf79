//! Arbitrary bytes as `.fasm` text: assemble, verify, run. The first byte
//! picks interpreter or JIT.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, text)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    if let Ok(chunk) = fusevm_llvm::assemble(text) {
        common::run(chunk, mode & 1 == 1);
    }
});
