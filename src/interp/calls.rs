//! Calls and frames: entering a subroutine, resolving a dynamic callee,
//! and unwinding frames on return.

use super::exec::Fault;
use super::vm::{Frame, FrameKind, VM};
use crate::bytecode::value::Value;

/// Where control goes after a return.
pub(super) enum Returned {
    /// Resume at this ip with this slot base.
    Resume(usize, usize),
    /// The root frame returned: the run is over.
    EndOfRun,
}

impl VM {
    /// Pushes a call frame into the subroutine at `entry_ip`, owning the top
    /// `argc` values; returns its slot base.
    pub(super) fn push_call(
        &mut self,
        argc: u8,
        return_ip: usize,
        entry_ip: usize,
    ) -> Result<usize, Fault> {
        if self.frames.len() >= self.limits.max_frames {
            return Err(Fault::msg(format!(
                "call depth limit reached ({} frames)",
                self.limits.max_frames
            )));
        }
        self.check_stack()?;
        let argc = argc as usize;
        let n = self.stack.len();
        if n < argc {
            return Err(Fault::Underflow);
        }
        let slot_base = self.slots.len();
        self.frames.push(Frame {
            kind: FrameKind::Call {
                return_ip,
                entry_ip,
            },
            stack_base: n - argc,
            slot_base,
            slots: Vec::new(),
        });
        Ok(slot_base)
    }

    /// Entry ip of a `CallDynamic` callee given by name index or name.
    pub(super) fn dynamic_entry(&self, callee: &Value) -> Result<usize, Fault> {
        let name = match callee {
            Value::Int(i) => u16::try_from(*i).ok(),
            Value::Str(s) => self.chunk.name_index(s),
            _ => None,
        };
        name.and_then(|n| self.chunk.sealed_sub_entry(n))
            .ok_or_else(|| Fault::msg(format!("CallDynamic: {callee:?} names no subroutine")))
    }

    /// Pops frames up to and including the innermost call frame, dropping
    /// their stack values and slots, and pushes `value` if any.
    pub(super) fn unwind_call(&mut self, value: Option<Value>) -> Returned {
        loop {
            // An embedder may have emptied `frames`; treat that as the root.
            let Some(f) = self.frames.last() else {
                self.stack.extend(value);
                return Returned::EndOfRun;
            };
            let (kind, slot_base, stack_base) = (f.kind, f.slot_base, f.stack_base);
            self.slots.truncate(slot_base);
            self.stack.truncate(stack_base);
            match kind {
                FrameKind::Root => {
                    self.frames.truncate(1);
                    self.stack.extend(value);
                    return Returned::EndOfRun;
                }
                FrameKind::Scope => {
                    self.frames.pop();
                }
                FrameKind::Call { return_ip, .. } => {
                    self.frames.pop();
                    self.stack.extend(value);
                    let base = self.frames.last().map_or(0, |f| f.slot_base);
                    return Returned::Resume(return_ip, base);
                }
            }
        }
    }
}
