//! The native tiers: configuration, the block tier, and the runtime pieces
//! they share, compiled through the `fusevm-llvm-backend` crate.
//!
//! Flow: [`compiler`] (public entry points, code cache, counters) →
//! [`block::analysis`] (stack shapes and kinds) → [`block::lower`] (LLVM IR,
//! with the value ops of [`values`] and the Rust [`helpers`]) → the LLVM
//! session in [`engine`] → [`entry`] (the call into native code) →
//! [`block`] (materialising the exit state into the VM).
//! [`support`] is the table of which ops each tier lowers.

pub(crate) mod block;
pub mod compiler;
pub mod config;
pub(crate) mod engine;
pub(crate) mod entry;
pub(crate) mod helpers;
pub(crate) mod kinds;
pub(crate) mod support;
pub(crate) mod values;
