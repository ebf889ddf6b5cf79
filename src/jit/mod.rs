//! The JIT tiers' configuration. The tiers themselves (block tier, tracing
//! tier) are compiled through the `fusevm-llvm-backend` crate.

pub mod config;
