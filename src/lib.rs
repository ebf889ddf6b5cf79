//! # fusevm-llvm
//!
//! A language-agnostic bytecode VM whose hot loops and hot chunks are
//! compiled through LLVM. A language frontend compiles its programs to the
//! [`Op`] set and runs them on a [`VM`]; the interpreter defines the
//! semantics, and every native tier must return exactly what it returns.
//!
//! The pipeline, and where each stage lives:
//!
//! 1. **bytecode** ([`bytecode`]): [`Op`], [`Value`], [`Chunk`] and
//!    [`ChunkBuilder`], the [`verify`]er, and the `.fasm` text format
//!    ([`assemble`] / [`disassemble`]);
//! 2. **interpreter** ([`interp`]): [`VM`], with [`interp::semantics`] as the
//!    single definition of what each op computes;
//! 3. **native tiers** (`jit`, the default cargo feature `jit`): configured
//!    by `TraceJitConfig`, entered through `JitCompiler` or
//!    [`VM::enable_tracing_jit`], compiled by the `fusevm-llvm-backend`
//!    crate (LLVM 19, O2, ORC LLJIT). The interpreter reaches them only
//!    through [`interp::tiers::Tiers`]; without the feature the crate is the
//!    interpreter alone and links no LLVM.
//!
//! ## Example
//!
//! A frontend building `sum = 0; for i in 0..10 { sum += i }` by hand:
//!
//! ```
//! use fusevm_llvm::{ChunkBuilder, Op, VM, VMResult, Value};
//!
//! let mut b = ChunkBuilder::new();
//! // slot 0 = i, slot 1 = sum
//! b.emit(Op::LoadInt(0), 1);
//! b.emit(Op::SetSlot(0), 1);
//! b.emit(Op::LoadInt(0), 1);
//! b.emit(Op::SetSlot(1), 1);
//! let head = b.current_pos();
//! b.emit(Op::GetSlot(0), 2);
//! b.emit(Op::LoadInt(10), 2);
//! b.emit(Op::NumLt, 2);
//! let exit = b.emit(Op::JumpIfFalse(0), 2); // patched below
//! b.emit(Op::GetSlot(1), 3);
//! b.emit(Op::GetSlot(0), 3);
//! b.emit(Op::Add, 3);
//! b.emit(Op::SetSlot(1), 3);
//! b.emit(Op::PreIncSlotVoid(0), 3);
//! b.emit(Op::Jump(head), 3);
//! let done = b.emit(Op::GetSlot(1), 4);
//! b.patch_jump(exit, done);
//!
//! let mut vm = VM::new(b.build());
//! assert!(matches!(vm.run(), VMResult::Ok(Value::Int(45))));
//! ```
//!
//! The same program in the text format:
//!
//! ```
//! let chunk = fusevm_llvm::assemble(r#"
//!         LoadInt 0
//!         SetSlot 0
//!         LoadInt 0
//!         SetSlot 1
//! head:   GetSlot 0
//!         LoadInt 10
//!         NumLt
//!         JumpIfFalse done
//!         GetSlot 1
//!         GetSlot 0
//!         Add
//!         SetSlot 1
//!         PreIncSlotVoid 0
//!         Jump head
//! done:   GetSlot 1
//! "#).unwrap();
//! let result = fusevm_llvm::VM::new(chunk).run();
//! assert_eq!(result.to_string(), "Int(45)");
//! ```
//!
//! Native code: with the JIT enabled, `run` compiles an eligible chunk
//! (here after its first invocation on this thread, the default
//! `block_threshold`) and returns exactly what the interpreter would:
//!
#![cfg_attr(feature = "jit", doc = "```")]
#![cfg_attr(not(feature = "jit"), doc = "```ignore")]
//! use fusevm_llvm::{assemble, JitCompiler, VM, Value};
//! let chunk = assemble("
//!         LoadInt 0
//!         SetSlot 0
//! head:   SlotIncLtIntJumpBack 0 1000000 head
//!         GetSlot 0
//!         LoadInt 2
//!         Div
//! ").unwrap();
//! for _ in 0..2 {
//!     let mut vm = VM::new(chunk.clone());
//!     vm.enable_tracing_jit();
//!     assert_eq!(vm.run().to_string(), "Float(500000.0)");
//! }
//! assert!(JitCompiler::new().block_jit_is_compiled(&chunk));
//! ```
//!
//! A chunk that fails verification, or a run-time failure, is a
//! [`VMResult::Error`] naming the op index — never a panic:
//!
//! ```
//! use fusevm_llvm::{ChunkBuilder, Op, VM, VMResult};
//! let mut b = ChunkBuilder::new();
//! b.emit(Op::Jump(7), 1);
//! let VMResult::Error(e) = VM::new(b.build()).run() else { panic!() };
//! assert_eq!(e.ip, Some(0));
//! ```
#![deny(missing_docs)]
#![deny(unsafe_code)] // audited exception: `jit::entry`

pub mod bytecode;
pub mod interp;
#[cfg(feature = "jit")]
pub mod jit;

// fusevm's module paths too, so a port is a rename (`fusevm::op::Op`).
pub use bytecode::{chunk, op, value};
pub use interp::vm;

pub use bytecode::asm::{AsmError, assemble};
pub use bytecode::chunk::{BuildError, Chunk, ChunkBuilder};
pub use bytecode::disasm::{DisasmError, disassemble};
pub use bytecode::op::{Op, Operand, OperandKind};
pub use bytecode::value::{Kind, Value};
pub use bytecode::verify::{VerifyError, verify};
#[cfg(feature = "jit")]
pub use fusevm_llvm_backend::{CompileTimings, DumpOptions};
pub use interp::host::{
    BuiltinHandler, ExtensionFn, ExtensionHandler, ExtensionWideHandler, SharedBuffer,
};
pub use interp::pool::VMPool;
pub use interp::vm::{Frame, FrameKind, Limits, VM, VMResult, VmError};
#[cfg(feature = "jit")]
pub use jit::compiler::{
    BlockNum, DEFAULT_CODE_CACHE_CAPACITY, DEFAULT_CODE_CACHE_PRELOAD, JitCompiler, JitStats,
    SlotKind,
};
#[cfg(feature = "jit")]
pub use jit::config::TraceJitConfig;
#[cfg(feature = "jit")]
pub use jit::trace::meta::{SidePathMeta, StepMeta, TraceMetadata};

/// The README's Rust examples, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(all(doctest, feature = "jit"))]
pub struct ReadmeDoctests;
