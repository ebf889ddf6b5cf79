//! The backend's error type, and turning LLVM's errors into it.

use llvm_sys::error::{LLVMDisposeErrorMessage, LLVMErrorRef, LLVMGetErrorMessage};
use std::ffi::CStr;

/// Everything that can go wrong between IR and a callable address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// LLVM could not be initialised for the host, or the JIT not created.
    #[error("cannot create the JIT: {0}")]
    Setup(String),
    /// The caller's IR builder gave up.
    #[error("building IR failed: {0}")]
    Build(String),
    /// The module failed LLVM's verifier (a bug in the IR builder).
    #[error("invalid IR: {0}")]
    Verify(String),
    /// The optimisation pipeline failed.
    #[error("optimisation failed: {0}")]
    Optimize(String),
    /// Adding the module, defining a symbol, or code generation failed.
    #[error("code generation failed: {0}")]
    Codegen(String),
    /// A symbol could not be found or materialised.
    #[error("lookup of `{name}` failed: {message}")]
    Lookup {
        /// The symbol looked up.
        name: String,
        /// LLVM's explanation.
        message: String,
    },
}

/// Consumes an `LLVMErrorRef`: `None` for success, else its message.
pub(crate) fn take_error(err: LLVMErrorRef) -> Option<String> {
    if err.is_null() {
        return None;
    }
    // SAFETY: `err` is a non-null error LLVM handed us and nobody else owns;
    // LLVMGetErrorMessage consumes it and returns a string we must dispose.
    unsafe {
        let msg = LLVMGetErrorMessage(err);
        let text = CStr::from_ptr(msg).to_string_lossy().into_owned();
        LLVMDisposeErrorMessage(msg);
        Some(text)
    }
}
