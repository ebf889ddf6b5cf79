//! The LLVM backend of fusevm-llvm: the one crate in the workspace that
//! calls LLVM's C API.
//!
//! It gives the native tiers a small safe API over ORC LLJIT:
//!
//! - [`Jit::new`] creates an LLJIT generating code for the host CPU;
//! - [`Jit::define_symbol`] makes a Rust `extern "C"` helper callable from
//!   JIT code (absolute symbols: the process's own symbols are not searched);
//! - [`Jit::compile`] builds a module with [inkwell], verifies it, runs
//!   `default<O2>` with a host-CPU target machine, generates an object file,
//!   links it under its own resource tracker and returns the entry
//!   addresses, with the object's bytes;
//! - [`Jit::load_object`] links such bytes again (another process's, read
//!   back from a cache) without running LLVM's optimiser or code generator;
//!   [`Jit::target_identity`] says what they depend on besides the IR;
//! - dropping the [`Compiled`] frees its machine code;
//! - [`ir`] has safe forms of the IR-building calls inkwell marks `unsafe`;
//! - [`before_llvm_teardown`] runs a hook at process exit before LLVM's
//!   static destructors (a compiler thread finishes its compilation).
//!
//! ORC's asynchronous error reports are routed into [`Error`] instead of
//! stderr. IR before and after O2 and assembly can be kept for debugging
//! ([`DumpOptions`]).
//!
//! ```
//! use fusevm_llvm_backend::{DumpOptions, Jit};
//!
//! let jit = Jit::new().unwrap();
//! let code = jit
//!     .compile("demo", &["twice"], DumpOptions::default(), |ctx, module| {
//!         let i64t = ctx.i64_type();
//!         let f = module.add_function("twice", i64t.fn_type(&[i64t.into()], false), None);
//!         let b = ctx.create_builder();
//!         b.position_at_end(ctx.append_basic_block(f, "entry"));
//!         let x = f.get_nth_param(0).unwrap().into_int_value();
//!         let r = b.build_int_add(x, x, "r").map_err(|e| e.to_string())?;
//!         b.build_return(Some(&r)).map_err(|e| e.to_string())?;
//!         Ok(())
//!     })
//!     .unwrap();
//! let addr = code.addresses()[0];
//! // SAFETY: `twice` was compiled above with exactly this signature, and
//! // `code` (which owns the machine code) outlives the call.
//! let twice: extern "C" fn(i64) -> i64 = unsafe { std::mem::transmute(addr) };
//! assert_eq!(twice(21), 42);
//! ```
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

mod error;
pub mod ir;
mod jit;
mod teardown;

pub use error::Error;
pub use inkwell;
pub use jit::{CompileTimings, Compiled, DumpOptions, Jit, TargetIdentity};
pub use teardown::before_llvm_teardown;

/// The LLVM major version this backend is written against.
pub const LLVM_MAJOR: u32 = 19;
