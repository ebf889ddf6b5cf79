//! The interpreter: the reference semantics every native tier must match.
//!
//! - [`semantics`]: what each value-computing op computes, defined once;
//! - `vm`: VM state and the embedding API;
//! - `exec`: the dispatch loop;
//! - `calls`: entering and leaving subroutines and scopes;
//! - `fuse`: superinstructions the dispatch loop runs in one step;
//! - `containers`: arrays, hashes, ranges;
//! - `host`: builtins, extension handlers, output and input;
//! - `pool`: recycling VMs;
//! - [`tiers`]: the few points where a run may change tiers, as a trait
//!   native tiers implement (the interpreter imports nothing of them).

mod calls;
pub(crate) mod containers;
pub(crate) mod exec;
pub(crate) mod fuse;
pub mod host;
pub mod pool;
pub mod semantics;
pub mod tiers;
pub mod vm;
