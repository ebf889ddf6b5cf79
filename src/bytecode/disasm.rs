//! The disassembler: [`Chunk`] → `.fasm` text the assembler accepts.
//!
//! Jump targets become labels `L<ip>`, subroutine entries become
//! `sub NAME:` headers, constant indices become literals and name indices
//! become identifiers (quoted when they are not plain identifiers). Floats
//! print in their shortest exact form, so every bit survives.

use super::chunk::Chunk;
use super::op::{Operand, OperandKind};
use super::value::Value;
use std::collections::BTreeSet;
use std::fmt::Write;

/// Why a chunk cannot be written as text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("op {ip}: {message}")]
pub struct DisasmError {
    /// The op whose operand cannot be printed.
    pub ip: usize,
    /// What is wrong.
    pub message: String,
}

/// Writes a float so that the assembler reads back the same bits.
pub fn float_literal(x: f64) -> String {
    if x.is_nan() {
        if x.to_bits() == f64::NAN.to_bits() {
            "nan".into()
        } else {
            format!("nan_0x{:016x}", x.to_bits())
        }
    } else if x.is_infinite() {
        if x > 0.0 { "inf".into() } else { "-inf".into() }
    } else {
        format!("{x:?}")
    }
}

fn is_plain_ident(s: &str) -> bool {
    let mut cs = s.chars();
    matches!(cs.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && cs.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        && s != "sub"
}

fn string_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn name_literal(s: &str) -> String {
    if is_plain_ident(s) {
        s.to_string()
    } else {
        string_literal(s)
    }
}

fn const_literal(v: &Value) -> Option<String> {
    Some(match v {
        Value::Undef => "undef".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(n) => n.to_string(),
        Value::Float(x) => float_literal(*x),
        Value::Str(s) => string_literal(s),
        _ => return None,
    })
}

/// Disassembles a verified chunk. Fails only for a constant that has no
/// literal form (an array, hash, builtin reference or handle in the pool)
/// and for a global numbered past the name pool (it has no name to write).
pub fn disassemble(chunk: &Chunk) -> Result<String, DisasmError> {
    let ops = chunk.ops();
    let targets: BTreeSet<usize> = ops.iter().filter_map(|op| op.jump_target()).collect();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "; {} ops, {} constants, {} names; content hash {:032x}",
        ops.len(),
        chunk.constants().len(),
        chunk.names().len(),
        chunk.content_hash()
    );
    for ip in 0..=ops.len() {
        for &(name, entry) in chunk.sub_entries() {
            if entry == ip {
                let label = chunk.names().get(name as usize).map_or("?", |s| s);
                let _ = writeln!(out, "sub {}:", name_literal(label));
            }
        }
        if targets.contains(&ip) {
            let _ = writeln!(out, "L{ip}:");
        }
        let Some(op) = ops.get(ip) else { break };
        out.push_str("        ");
        out.push_str(op.mnemonic());
        for (kind, value) in op.operands().iter() {
            out.push(' ');
            let text = match (kind, value) {
                (_, Operand::Float(x)) => float_literal(x),
                (OperandKind::Target, Operand::Int(t)) => format!("L{t}"),
                (OperandKind::Name, Operand::Int(n)) => {
                    let name = chunk.names().get(n as usize).ok_or_else(|| DisasmError {
                        ip,
                        message: format!("name index {n} out of range"),
                    })?;
                    name_literal(name)
                }
                (OperandKind::Const, Operand::Int(c)) => {
                    let v = chunk
                        .constants()
                        .get(c as usize)
                        .ok_or_else(|| DisasmError {
                            ip,
                            message: format!("constant index {c} out of range"),
                        })?;
                    const_literal(v).ok_or_else(|| DisasmError {
                        ip,
                        message: format!("constant {v:?} has no literal form"),
                    })?
                }
                (_, Operand::Int(n)) => n.to_string(),
            };
            out.push_str(&text);
        }
        out.push('\n');
    }
    Ok(out)
}
