//! The native tiers: configuration, the block tier, and the runtime pieces
//! they share, compiled through the `fusevm-llvm-backend` crate.
//!
//! The public face is [`compiler::JitCompiler`] (entry points, queries,
//! counters) and [`config::TraceJitConfig`]. Inside, a hot chunk flows:
//! `compiler` (code cache, thresholds) → `block::analysis` (stack shapes,
//! scopes, kinds) → `block::lower` (LLVM IR, with the value ops of `values`
//! and the Rust `helpers`) → the LLVM session in `engine` → `entry` (the
//! call into native code) → `block` (materialising the exit state into the
//! VM). `support` is the table of which ops each tier lowers.

pub mod compiler;
pub mod config;
pub mod events;

pub(crate) mod block;
pub(crate) mod engine;
pub(crate) mod entry;
pub(crate) mod helpers;
pub(crate) mod hot_call;
pub(crate) mod kinds;
pub mod persist;
pub(crate) mod queue;
pub(crate) mod support;
pub(crate) mod tiers;
pub(crate) mod trace;
pub(crate) mod values;

// fusevm's paths (`fusevm::jit::JitCompiler`, …).
pub use compiler::{BlockNum, JitCompiler, JitStats, SlotKind};
pub use config::TraceJitConfig;
pub use trace::meta::TraceMetadata;
