//! Bytecode: the instruction set, values, chunks and their builder, the
//! verifier, and the `.fasm` text format.

pub mod array;
pub mod asm;
pub mod chunk;
pub mod disasm;
pub mod hash;
pub mod int_keys;
pub mod op;
pub mod shared;
pub mod value;
pub mod verify;
