//! Entering native code: the crate's one `unsafe` call.

use super::block::lower::info;

/// Calls a root function built by `block::lower`
/// (`i64 (ptr slots, ptr stack, ptr info, ptr globals)`).
///
/// `slots`, `stack` and `globals` must be exactly the buffers the function
/// was built for (two words per slot, stack position and global); the
/// caller keeps the code alive across the call.
#[allow(unsafe_code)]
pub fn call_root(
    addr: usize,
    slots: &mut [u64],
    stack: &mut [u64],
    info: &mut [i64; info::COUNT as usize],
    globals: &mut [u64],
) -> i64 {
    // SAFETY: `addr` is the entry of a function `block::lower` built with
    // the signature `i64 (ptr, ptr, ptr, ptr)`, whose code the caller's
    // `BlockCode` keeps alive. It accesses the four buffers only through
    // `struct_gep` on struct types of exactly the sizes `BlockCode`
    // allocated (2 × slot_count, 2 × max_depth, `info::COUNT` and
    // 2 × global count words), so it stays inside them; it never traps
    // (division and remainder are guarded) and it recurses only while its
    // frame and native-stack budgets in `info` last.
    let f: extern "C" fn(*mut u64, *mut u64, *mut i64, *mut u64) -> i64 =
        unsafe { std::mem::transmute(addr) };
    f(
        slots.as_mut_ptr(),
        stack.as_mut_ptr(),
        info.as_mut_ptr(),
        globals.as_mut_ptr(),
    )
}
