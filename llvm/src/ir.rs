//! Safe forms of the IR-building calls inkwell marks `unsafe`.

use inkwell::builder::{Builder, BuilderError};
use inkwell::types::BasicType;
use inkwell::values::{IntValue, PointerValue};

/// `getelementptr inbounds ty, base, index`: the address of element
/// `index` of an array of `ty` at `base`.
///
/// The caller must branch around it unless `index` is inside the buffer:
/// the *generated* code is undefined otherwise.
pub fn element_ptr<'c, T: BasicType<'c>>(
    b: &Builder<'c>,
    ty: T,
    base: PointerValue<'c>,
    index: IntValue<'c>,
    name: &str,
) -> Result<PointerValue<'c>, BuilderError> {
    // SAFETY: emitting a GEP touches no memory of this process; inkwell
    // marks it unsafe only because of what the emitted code may do, which
    // the documented contract puts on the caller's bounds check.
    unsafe { b.build_in_bounds_gep(ty, base, &[index], name) }
}
