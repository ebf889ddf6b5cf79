//! Ordering our shutdown before LLVM's: a thread still inside LLVM when the
//! process exits would run into LLVM's static destructors.

use std::ffi::c_int;

unsafe extern "C" {
    /// C's `atexit`: handlers run in reverse order of registration, so one
    /// registered after LLVM was loaded runs before LLVM's destructors.
    fn atexit(hook: extern "C" fn()) -> c_int;
}

/// Runs `hook` when the process exits (`exit` or a return from `main`),
/// before LLVM's static destructors: the place to let a compiler thread
/// finish the compilation it is in. `false` if it could not be registered.
pub fn before_llvm_teardown(hook: extern "C" fn()) -> bool {
    // SAFETY: `atexit` only stores the function pointer; `hook` is a plain
    // `extern "C" fn()` with no captured state, valid for the whole process.
    unsafe { atexit(hook) == 0 }
}
