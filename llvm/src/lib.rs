//! The LLVM backend of fusevm-llvm: the one crate in the workspace allowed to
//! touch LLVM's C API.
//!
//! It will own a small, safe API over ORC LLJIT (host CPU), the `default<O2>`
//! pipeline, absolute symbols for runtime helpers and per-unit resource
//! trackers. Until the block tier lands it exports nothing but the facts the
//! rest of the workspace needs to name the LLVM version it is built for.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

/// The LLVM major version this backend is written against.
pub const LLVM_MAJOR: u32 = 19;
