//! The process's one LLVM JIT session, with the runtime helpers defined.

use super::helpers;
use fusevm_llvm_backend::Jit;
use std::sync::OnceLock;

static ENGINE: OnceLock<Result<Jit, String>> = OnceLock::new();

/// The shared JIT, created on first use; `Err` if LLVM can't be set up
/// (then every tier stays in the interpreter).
pub fn jit() -> Result<&'static Jit, &'static str> {
    ENGINE
        .get_or_init(|| {
            let jit = Jit::new().map_err(|e| e.to_string())?;
            helpers::register(&jit).map_err(|e| e.to_string())?;
            Ok(jit)
        })
        .as_ref()
        .map_err(|e| e.as_str())
}
