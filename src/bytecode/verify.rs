//! The verifier: every chunk is checked once before it runs, so the
//! interpreter and the native tiers may index pools and jump without fear.
//!
//! Checked: jump targets lie in `0..=ops.len()`; constant and name indices are
//! in range; subroutine entries name a pool entry, start inside the chunk and
//! are not declared twice; every `Call` names a declared subroutine; the
//! builder recorded no error. What can only be known at run time (stack depth,
//! the callee of `CallDynamic`, registered builtins) is checked by the
//! interpreter, which reports it the same way.

use super::chunk::Chunk;
use super::op::{Op, Operand, OperandKind};

/// Why a chunk was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", match .ip { Some(ip) => format!("op {ip}: "), None => String::new() })]
pub struct VerifyError {
    /// The offending op's index, when one op is to blame.
    pub ip: Option<usize>,
    /// What is wrong.
    pub message: String,
}

fn at(ip: usize, op: &Op, message: String) -> VerifyError {
    VerifyError {
        ip: Some(ip),
        message: format!("`{op}`: {message}"),
    }
}

/// Checks a chunk; `Ok` means every static reference in it is in range.
pub fn verify(chunk: &Chunk) -> Result<(), VerifyError> {
    if let Some(e) = chunk.build_error() {
        return Err(VerifyError {
            ip: None,
            message: format!("chunk was built with an error: {e}"),
        });
    }
    let len = chunk.len();
    let n_consts = chunk.constants().len();
    let n_names = chunk.names().len();

    let mut declared = vec![false; n_names];
    for &(name, ip) in chunk.sub_entries() {
        let Some(seen) = declared.get_mut(name as usize) else {
            return Err(VerifyError {
                ip: None,
                message: format!("sub entry names index {name}, but the name pool has {n_names}"),
            });
        };
        let label = &chunk.names()[name as usize];
        if *seen {
            return Err(VerifyError {
                ip: None,
                message: format!("sub `{label}` is declared twice"),
            });
        }
        *seen = true;
        if ip >= len {
            return Err(VerifyError {
                ip: None,
                message: format!("sub `{label}` starts at op {ip}, past the last op ({len} ops)"),
            });
        }
    }

    for (ip, op) in chunk.ops().iter().enumerate() {
        for (kind, value) in op.operands().iter() {
            let Operand::Int(v) = value else { continue };
            let v = v as usize;
            match kind {
                OperandKind::Target if v > len => {
                    return Err(at(
                        ip,
                        op,
                        format!("jump target {v} is past the end ({len} ops)"),
                    ));
                }
                OperandKind::Const if v >= n_consts => {
                    return Err(at(
                        ip,
                        op,
                        format!("constant index {v} out of range ({n_consts} constants)"),
                    ));
                }
                // A global op may use an index past the pool (its global
                // has no name); a call needs a named sub entry (below).
                OperandKind::Name if v >= n_names && matches!(op, Op::Call(..)) => {
                    return Err(at(
                        ip,
                        op,
                        format!("name index {v} out of range ({n_names} names)"),
                    ));
                }
                _ => {}
            }
        }
        if let Op::Call(name, _) = *op
            && !declared.get(name as usize).copied().unwrap_or(false)
        {
            let label = chunk.names().get(name as usize).map_or("?", |s| s);
            return Err(at(
                ip,
                op,
                format!("calls `{label}`, which has no sub entry"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bytecode::chunk::ChunkBuilder;
    use crate::bytecode::value::Value;

    fn chunk(ops: &[Op]) -> Chunk {
        let mut b = ChunkBuilder::new();
        b.add_constant(Value::Int(1));
        b.add_name("g");
        for op in ops {
            b.emit(*op, 1);
        }
        b.build()
    }

    #[test]
    fn accepts_jump_to_the_end() {
        assert_eq!(verify(&chunk(&[Op::Jump(1)])), Ok(()));
    }

    #[test]
    fn rejects_jump_past_the_end_naming_the_op() {
        let e = verify(&chunk(&[Op::Nop, Op::JumpIfFalse(3)])).unwrap_err();
        assert_eq!(e.ip, Some(1));
        assert!(e.to_string().starts_with("op 1: `JumpIfFalse 3`"), "{e}");
    }

    #[test]
    fn rejects_fused_jump_targets_too() {
        let e = verify(&chunk(&[Op::SlotIncLtIntJumpBack(0, 10, 99)])).unwrap_err();
        assert_eq!(e.ip, Some(0));
    }

    #[test]
    fn rejects_pool_indices_out_of_range() {
        assert_eq!(verify(&chunk(&[Op::LoadConst(1)])).unwrap_err().ip, Some(0));
        assert_eq!(verify(&chunk(&[Op::Call(1, 0)])).unwrap_err().ip, Some(0));
        // A global may be numbered past the name pool (it has no name).
        assert!(verify(&chunk(&[Op::GetVar(1)])).is_ok());
        assert_eq!(
            verify(&chunk(&[Op::Nop, Op::ConcatConstLoop(5, 0, 1, 3)]))
                .unwrap_err()
                .ip,
            Some(1)
        );
        assert!(verify(&chunk(&[Op::LoadConst(0), Op::GetVar(0)])).is_ok());
    }

    #[test]
    fn rejects_call_without_sub_entry() {
        let e = verify(&chunk(&[Op::Call(0, 0)])).unwrap_err();
        assert!(e.message.contains("no sub entry"), "{e}");
    }

    #[test]
    fn rejects_bad_sub_entries() {
        let mut b = ChunkBuilder::new();
        let f = b.add_name("f");
        b.emit(Op::Return, 1);
        b.add_sub_entry(f, 1);
        assert!(
            verify(&b.build())
                .unwrap_err()
                .message
                .contains("past the last op")
        );

        let mut b = ChunkBuilder::new();
        let f = b.add_name("f");
        b.emit(Op::Return, 1);
        b.add_sub_entry(f, 0);
        b.add_sub_entry(f, 0);
        assert!(verify(&b.build()).unwrap_err().message.contains("twice"));

        let mut b = ChunkBuilder::new();
        b.emit(Op::Return, 1);
        b.add_sub_entry(3, 0);
        assert!(verify(&b.build()).is_err());
    }

    #[test]
    fn rejects_chunks_with_build_errors() {
        let mut b = ChunkBuilder::new();
        b.emit(Op::Nop, 1);
        b.patch_jump(0, 0);
        assert!(
            verify(&b.build())
                .unwrap_err()
                .message
                .contains("not a jump")
        );
    }
}
