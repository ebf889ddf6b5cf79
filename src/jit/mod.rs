//! The JIT: its per-thread configuration and entry points. The tiers
//! themselves (block tier, tracing tier) compile through the
//! `fusevm-llvm-backend` crate.

pub mod config;
