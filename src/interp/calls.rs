//! Calls and frames: entering a subroutine, resolving a dynamic callee,
//! and unwinding frames on return.

use super::exec::Fault;
use super::fuse::drop_top;
use super::vm::{Frame, FrameKind, MAX_STACK, VM};
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
        let mut fr = Frames {
            area: &mut self.slots,
            frames: &mut self.frames,
            base: 0,
            max_frames: self.limits.max_frames,
        };
        if fr.enter(self.stack.len(), argc, return_ip, entry_ip) {
            return Ok(fr.base);
        }
        if self.frames.len() >= self.limits.max_frames {
            return Err(Fault::msg(format!(
                "call depth limit reached ({} frames)",
                self.limits.max_frames
            )));
        }
        self.check_stack()?;
        Err(Fault::Underflow)
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
            match f.kind {
                FrameKind::Call { .. } => {
                    let mut fr = Frames {
                        area: &mut self.slots,
                        frames: &mut self.frames,
                        base: 0,
                        max_frames: self.limits.max_frames,
                    };
                    let to = fr.leave(&mut self.stack, value);
                    return Returned::Resume(to, fr.base);
                }
                FrameKind::Root => {
                    let (slot_base, stack_base) = (f.slot_base, f.stack_base);
                    self.slots.truncate(slot_base);
                    self.stack.truncate(stack_base);
                    self.frames.truncate(1);
                    self.stack.extend(value);
                    return Returned::EndOfRun;
                }
                FrameKind::Scope => {
                    let (slot_base, stack_base) = (f.slot_base, f.stack_base);
                    self.slots.truncate(slot_base);
                    self.stack.truncate(stack_base);
                    self.frames.pop();
                }
            }
        }
    }
}

/// The frame state that calls, returns and a frame's growing stores
/// change: what both the single-op path and the fused loop enter and leave
/// frames through.
pub(crate) struct Frames<'a> {
    /// The whole slot area; the running frame's slots start at `base`.
    pub area: &'a mut Vec<Value>,
    /// The frame stack (the running frame last).
    pub frames: &'a mut Vec<Frame>,
    /// The running frame's slot base (updated as calls enter and leave).
    pub base: usize,
    /// [`super::vm::Limits::max_frames`].
    pub max_frames: usize,
}

impl Frames<'_> {
    /// Pushes a call frame owning the top `argc` of `n` stack values; false
    /// (nothing changed) where the single-op path must raise an error
    /// instead.
    #[inline(always)]
    pub(super) fn enter(&mut self, n: usize, argc: u8, return_ip: usize, entry_ip: usize) -> bool {
        let argc = argc as usize;
        if self.frames.len() >= self.max_frames || n > MAX_STACK || n < argc {
            return false;
        }
        let slot_base = self.area.len();
        self.frames.push(Frame {
            kind: FrameKind::Call {
                return_ip,
                entry_ip,
            },
            stack_base: n - argc,
            slot_base,
            slots: Vec::new(),
        });
        self.base = slot_base;
        true
    }

    /// Whether the running frame is a call frame (a scope or the root
    /// frame unwinds on the single-op path).
    #[inline(always)]
    pub(super) fn in_call(&self) -> bool {
        matches!(
            self.frames.last(),
            Some(Frame {
                kind: FrameKind::Call { .. },
                ..
            })
        )
    }

    /// Pops the running call frame (the caller checked [`Self::in_call`]),
    /// dropping its slots and stack values, and pushes its `result`;
    /// returns where to resume.
    #[inline(always)]
    pub(super) fn leave(&mut self, stack: &mut Vec<Value>, result: Option<Value>) -> usize {
        let Some(Frame {
            kind: FrameKind::Call { return_ip, .. },
            stack_base,
            slot_base,
            ..
        }) = self.frames.pop()
        else {
            unreachable!("leave: the caller checked for a call frame");
        };
        drop_top(self.area, self.area.len().saturating_sub(slot_base));
        drop_top(stack, stack.len().saturating_sub(stack_base));
        stack.extend(result);
        self.base = self.frames.last().map_or(0, |f| f.slot_base);
        return_ip
    }

    /// Grows the running frame to hold slot `d`; false (nothing changed)
    /// past the area's limit, which the single-op path reports.
    #[inline(always)]
    pub(super) fn reach(&mut self, d: usize) -> bool {
        let want = self.base + d + 1;
        if want > MAX_STACK {
            return false;
        }
        while self.area.len() < want {
            self.area.push(Value::Undef);
        }
        true
    }
}
