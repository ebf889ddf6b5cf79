//! What the host plugs into a VM: builtins, extension handlers, the output
//! sink and the input source.

use super::exec::Fault;
use super::vm::VM;
use crate::bytecode::value::Value;
use std::io::{self, BufRead, Write};
use std::sync::{Arc, Mutex};

/// A builtin called by `CallBuiltin(id, argc)`: it pops its `argc` arguments
/// (last argument on top) and returns the result, which the VM pushes. Any
/// arguments it leaves are dropped. Report failure with [`VM::raise_error`].
pub type BuiltinHandler = fn(&mut VM, u8) -> Value;

/// The catch-all handler for `Extended(id, arg)` ops without a handler of
/// their own (see [`VM::register_extension`]).
pub type ExtensionHandler = Box<dyn FnMut(&mut VM, u16, u8) + Send>;

/// The handler for `ExtendedWide(id, payload)` ops.
pub type ExtensionWideHandler = Box<dyn FnMut(&mut VM, u16, usize) + Send>;

/// A handler for one `Extended` id.
pub type ExtensionFn = Box<dyn FnMut(&mut VM, u8) + Send>;

/// A cloneable in-memory output sink, for capturing what a program prints.
///
/// ```
/// use fusevm_llvm::{ChunkBuilder, Op, SharedBuffer, VM, Value};
/// let mut b = ChunkBuilder::new();
/// let c = b.add_constant(Value::str("hi"));
/// b.emit(Op::LoadConst(c), 1);
/// b.emit(Op::PrintLn(1), 1);
/// let out = SharedBuffer::new();
/// let mut vm = VM::new(b.build());
/// vm.set_output(Box::new(out.clone()));
/// vm.run();
/// assert_eq!(out.contents(), "hi\n");
/// ```
#[derive(Debug, Clone, Default)]
pub struct SharedBuffer(Arc<Mutex<Vec<u8>>>);

impl SharedBuffer {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything written so far, as (lossy) UTF-8.
    pub fn contents(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(|e| e.into_inner());
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl Write for SharedBuffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut bytes = self.0.lock().unwrap_or_else(|e| e.into_inner());
        bytes.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The host side of a VM.
pub(crate) struct Host {
    pub builtins: Vec<Option<BuiltinHandler>>,
    pub extensions: Vec<Option<ExtensionFn>>,
    pub ext_handler: Option<ExtensionHandler>,
    pub ext_wide_handler: Option<ExtensionWideHandler>,
    pub output: Box<dyn Write + Send>,
    /// Created on first `ReadLine` when the host set none (stdin).
    pub input: Option<Box<dyn BufRead + Send>>,
}

impl Default for Host {
    fn default() -> Self {
        Host {
            builtins: Vec::new(),
            extensions: Vec::new(),
            ext_handler: None,
            ext_wide_handler: None,
            output: Box::new(io::BufWriter::new(io::stdout())),
            input: None,
        }
    }
}

impl Host {
    /// Reads one line without its line ending; `None` at end of input.
    pub fn read_line(&mut self) -> io::Result<Option<String>> {
        let input = self
            .input
            .get_or_insert_with(|| Box::new(io::BufReader::new(io::stdin())));
        let mut line = String::new();
        if input.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        if line.ends_with('\n') {
            line.pop();
            if line.ends_with('\r') {
                line.pop();
            }
        }
        Ok(Some(line))
    }
}

// ── dispatching host calls from the interpreter ──

impl VM {
    pub(super) fn print(&mut self, k: usize, newline: bool) -> Result<(), Fault> {
        let n = self.stack.len();
        if n < k {
            return Err(Fault::Underflow);
        }
        let mut text = String::new();
        for v in &self.stack[n - k..] {
            v.write_str(&mut text);
        }
        if newline {
            text.push('\n');
        }
        self.stack.truncate(n - k);
        self.host
            .output
            .write_all(text.as_bytes())
            .map_err(|e| Fault::msg(format!("output error: {e}")))
    }

    /// After a host handler ran: the error it raised, if any. Handlers see
    /// the VM's public fields; the globals table is grown back to the
    /// chunk's count, which the ops index by.
    pub(super) fn after_host(&mut self) -> Result<(), Fault> {
        self.fit_globals();
        self.take_raised()
    }

    /// The end of a host call's op: where a [`VM::request_halt`] made by
    /// the handler stops the run.
    fn halt_point(&self) -> Result<(), Fault> {
        if self.halt_requested {
            return Err(Fault::Halt);
        }
        Ok(())
    }

    pub(super) fn take_raised(&mut self) -> Result<(), Fault> {
        match self.raised.take() {
            Some(m) => Err(Fault::Msg(m)),
            None => Ok(()),
        }
    }

    pub(super) fn call_builtin(&mut self, id: u16, argc: u8) -> Result<(), Fault> {
        let handler = self
            .host
            .builtins
            .get(id as usize)
            .copied()
            .flatten()
            .ok_or_else(|| Fault::msg(format!("builtin {id} is not registered")))?;
        let n = self.stack.len();
        if n < argc as usize {
            return Err(Fault::Underflow);
        }
        let keep = n - argc as usize;
        let result = handler(self, argc);
        self.after_host()?;
        self.stack.truncate(keep);
        self.stack.push(result);
        self.halt_point()
    }

    pub(super) fn extended(&mut self, id: u16, arg: u8) -> Result<(), Fault> {
        if let Some(slot) = self.host.extensions.get_mut(id as usize)
            && let Some(mut h) = slot.take()
        {
            h(self, arg);
            self.host.extensions[id as usize] = Some(h);
            self.after_host()?;
            return self.halt_point();
        }
        let Some(mut h) = self.host.ext_handler.take() else {
            return Err(Fault::msg(format!(
                "extension op {id} has no registered handler"
            )));
        };
        h(self, id, arg);
        self.host.ext_handler = Some(h);
        self.after_host()?;
        self.halt_point()
    }

    pub(super) fn extended_wide(&mut self, id: u16, payload: usize) -> Result<(), Fault> {
        let Some(mut h) = self.host.ext_wide_handler.take() else {
            return Err(Fault::msg(format!(
                "wide extension op {id} has no registered handler"
            )));
        };
        h(self, id, payload);
        self.host.ext_wide_handler = Some(h);
        self.after_host()?;
        self.halt_point()
    }
}
