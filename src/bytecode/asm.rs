//! The `.fasm` assembler: text → [`Chunk`].
//!
//! ```text
//! ; comments start with `;` or `#`
//!         LoadInt 0
//!         SetSlot 0            ; i = 0
//! loop:   GetSlot 0            ; a label names the next op
//!         LoadInt 10_000
//!         NumLt
//!         JumpIfFalse done     ; jump targets are labels
//!         PreIncSlotVoid 0
//!         Jump loop
//! done:   GetSlot 0
//!         Return
//! sub twice:                   ; a subroutine entry (the name goes to the name pool)
//!         LoadConst 2.0        ; constants are literals: 1, -0.0, nan, inf, "text", true, false, undef
//!         Mul
//!         ReturnValue
//! ```
//!
//! One instruction per line: the mnemonic is the op's variant name, followed
//! by its operands separated by spaces. Names (`GetVar`, `Call`, …) are
//! identifiers or quoted strings. Integers may use `_` separators and `0x`.
//! Constants are interned in order of first use (equal literals share an
//! entry), names likewise, so disassembling and re-assembling a chunk made
//! by this assembler gives back the same chunk.

use super::chunk::{Chunk, ChunkBuilder};
use super::op::{Op, Operand, OperandKind};
use super::value::Value;
use rustc_hash::FxHashMap;
use std::fmt;

/// An assembly error with its 1-based source position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsmError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for AsmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.col, self.message)
    }
}

impl std::error::Error for AsmError {}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Colon,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    col: usize,
}

/// One source line after lexing: label and sub definitions, then an
/// optional instruction.
struct Line {
    number: usize,
    labels: Vec<(String, usize)>,
    subs: Vec<(String, usize)>,
    instr: Option<(Token, Vec<Token>)>,
}

fn err(line: usize, col: usize, message: impl Into<String>) -> AsmError {
    AsmError {
        line,
        col,
        message: message.into(),
    }
}

fn lex(src: &str, line_no: usize) -> Result<Vec<Token>, AsmError> {
    let chars: Vec<char> = src.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let col = i + 1;
        if c.is_whitespace() {
            i += 1;
        } else if c == ';' || c == '#' {
            break;
        } else if c == '"' {
            let mut s = String::new();
            i += 1;
            loop {
                let Some(&c) = chars.get(i) else {
                    return Err(err(line_no, col, "unterminated string"));
                };
                i += 1;
                match c {
                    '"' => break,
                    '\\' => {
                        let Some(&e) = chars.get(i) else {
                            return Err(err(line_no, col, "unterminated string"));
                        };
                        i += 1;
                        match e {
                            'n' => s.push('\n'),
                            't' => s.push('\t'),
                            'r' => s.push('\r'),
                            '0' => s.push('\0'),
                            '\\' => s.push('\\'),
                            '"' => s.push('"'),
                            'u' => {
                                // \u{XXXX}
                                let rest: String = chars[i..].iter().collect();
                                let close = rest.find('}').filter(|_| rest.starts_with('{'));
                                let Some(close) = close else {
                                    return Err(err(
                                        line_no,
                                        i,
                                        "bad \\u escape, expected \\u{HEX}",
                                    ));
                                };
                                let hex = &rest[1..close];
                                let ch = u32::from_str_radix(hex, 16).ok().and_then(char::from_u32);
                                let Some(ch) = ch else {
                                    return Err(err(line_no, i, format!("bad code point `{hex}`")));
                                };
                                s.push(ch);
                                i += rest[..=close].chars().count();
                            }
                            other => {
                                return Err(err(line_no, i, format!("unknown escape `\\{other}`")));
                            }
                        }
                    }
                    c => s.push(c),
                }
            }
            toks.push(Token {
                tok: Tok::Str(s),
                col,
            });
            if chars.get(i) == Some(&':') {
                toks.push(Token {
                    tok: Tok::Colon,
                    col: i + 1,
                });
                i += 1;
            }
        } else {
            let start = i;
            while i < chars.len()
                && !chars[i].is_whitespace()
                && !matches!(chars[i], ';' | '#' | '"')
            {
                i += 1;
            }
            let mut word: String = chars[start..i].iter().collect();
            let colon = word.len() > 1 && word.ends_with(':');
            if colon {
                word.pop();
            }
            toks.push(Token {
                tok: Tok::Word(word),
                col,
            });
            if colon {
                toks.push(Token {
                    tok: Tok::Colon,
                    col: i,
                });
            }
        }
    }
    Ok(toks)
}

fn is_ident(s: &str) -> bool {
    let mut cs = s.chars();
    matches!(cs.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && cs.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
}

/// Parses the lines into labels, sub headers and instructions, assigning ips.
fn parse_lines(src: &str) -> Result<Vec<Line>, AsmError> {
    let mut lines = Vec::new();
    let mut ip = 0usize;
    for (idx, text) in src.lines().enumerate() {
        let number = idx + 1;
        let mut toks = lex(text, number)?.into_iter().peekable();
        let mut line = Line {
            number,
            labels: Vec::new(),
            subs: Vec::new(),
            instr: None,
        };
        while let Some(first) = toks.next() {
            let is_sub = first.tok == Tok::Word("sub".into());
            if is_sub {
                let name = toks.next();
                let colon = toks.next();
                match (name, colon) {
                    (
                        Some(Token {
                            tok: Tok::Word(n) | Tok::Str(n),
                            ..
                        }),
                        Some(Token {
                            tok: Tok::Colon, ..
                        }),
                    ) => {
                        line.subs.push((n, ip));
                        continue;
                    }
                    _ => return Err(err(number, first.col, "expected `sub NAME:`")),
                }
            }
            if let Tok::Word(w) = &first.tok
                && toks.peek().map(|t| &t.tok) == Some(&Tok::Colon)
            {
                toks.next();
                if !is_ident(w) {
                    return Err(err(number, first.col, format!("bad label name `{w}`")));
                }
                line.labels.push((w.clone(), ip));
                continue;
            }
            let rest: Vec<Token> = toks.by_ref().collect();
            if let Some(t) = rest.iter().find(|t| t.tok == Tok::Colon) {
                return Err(err(number, t.col, "unexpected `:`"));
            }
            line.instr = Some((first, rest));
            ip += 1;
            break;
        }
        lines.push(line);
    }
    Ok(lines)
}

fn parse_int(w: &str) -> Option<i64> {
    let clean: String = w.chars().filter(|&c| c != '_').collect();
    let (neg, body) = match clean.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, clean.strip_prefix('+').unwrap_or(&clean)),
    };
    if let Some(hex) = body.strip_prefix("0x") {
        let v = u64::from_str_radix(hex, 16).ok()? as i64;
        return Some(if neg { v.wrapping_neg() } else { v });
    }
    clean.parse::<i64>().ok()
}

fn parse_float(w: &str) -> Option<f64> {
    match w {
        "nan" => return Some(f64::NAN),
        "inf" | "+inf" => return Some(f64::INFINITY),
        "-inf" => return Some(f64::NEG_INFINITY),
        _ => {}
    }
    if let Some(bits) = w.strip_prefix("nan_0x") {
        return u64::from_str_radix(bits, 16).ok().map(f64::from_bits);
    }
    let first = w.chars().next()?;
    if !(first.is_ascii_digit() || matches!(first, '-' | '+' | '.')) {
        return None;
    }
    let clean: String = w.chars().filter(|&c| c != '_').collect();
    // Rust's parser also takes "infinity"/"NaN"; only plain decimal forms here.
    if clean
        .chars()
        .any(|c| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
    {
        return None;
    }
    clean.parse::<f64>().ok()
}

/// Parses a constant literal: int, float, string, `true`, `false`, `undef`.
fn parse_const(tok: &Tok) -> Option<Value> {
    match tok {
        Tok::Str(s) => Some(Value::str(s.clone())),
        Tok::Word(w) => match w.as_str() {
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            "undef" => Some(Value::Undef),
            _ => parse_int(w)
                .map(Value::Int)
                .or_else(|| parse_float(w).map(Value::Float)),
        },
        Tok::Colon => None,
    }
}

#[derive(Hash, PartialEq, Eq)]
enum ConstKey {
    Undef,
    Bool(bool),
    Int(i64),
    Float(u64),
    Str(String),
}

struct Assembler {
    b: ChunkBuilder,
    labels: FxHashMap<String, usize>,
    consts: FxHashMap<ConstKey, u16>,
}

impl Assembler {
    fn constant(&mut self, v: Value) -> Result<u16, String> {
        let key = match &v {
            Value::Undef => ConstKey::Undef,
            Value::Bool(b) => ConstKey::Bool(*b),
            Value::Int(n) => ConstKey::Int(*n),
            Value::Float(x) => ConstKey::Float(x.to_bits()),
            Value::Str(s) => ConstKey::Str(s.to_string()),
            _ => unreachable!("literals are scalars or strings"),
        };
        if let Some(&i) = self.consts.get(&key) {
            return Ok(i);
        }
        let i = self.b.try_add_constant(v).map_err(|e| e.to_string())?;
        self.consts.insert(key, i);
        Ok(i)
    }

    fn operand(&mut self, kind: OperandKind, t: &Token) -> Result<Operand, String> {
        let word = match &t.tok {
            Tok::Word(w) => Some(w.as_str()),
            _ => None,
        };
        let int = |what: &str| {
            let v = word
                .and_then(parse_int)
                .ok_or_else(|| format!("expected {what}, found {}", show(&t.tok)))?;
            let (lo, hi) = kind_range(kind);
            if (v as i128) < lo || (v as i128) > hi {
                return Err(format!(
                    "operand {v} out of range for {kind:?} ({lo}..={hi})"
                ));
            }
            Ok(Operand::Int(v))
        };
        match kind {
            OperandKind::Int => int("an integer"),
            OperandKind::Lim => int("an integer limit"),
            OperandKind::Slot => int("a slot number"),
            OperandKind::Count | OperandKind::Count16 => int("a count"),
            OperandKind::Id => int("an id"),
            OperandKind::Byte => int("a byte"),
            OperandKind::Wide => int("an integer payload"),
            OperandKind::Float => word
                .and_then(|w| parse_int(w).map(|i| i as f64).or_else(|| parse_float(w)))
                .map(Operand::Float)
                .ok_or_else(|| format!("expected a float, found {}", show(&t.tok))),
            OperandKind::Target => match word {
                Some(w) if is_ident(w) => self
                    .labels
                    .get(w)
                    .map(|&ip| Operand::Int(ip as i64))
                    .ok_or_else(|| format!("undefined label `{w}`")),
                _ => Err(format!("expected a label, found {}", show(&t.tok))),
            },
            OperandKind::Name => match &t.tok {
                Tok::Word(w) if is_ident(w) => Ok(Operand::Int(
                    self.b.try_add_name(w).map_err(|e| e.to_string())? as i64,
                )),
                Tok::Str(s) => Ok(Operand::Int(
                    self.b.try_add_name(s).map_err(|e| e.to_string())? as i64,
                )),
                other => Err(format!("expected a name, found {}", show(other))),
            },
            OperandKind::Const => {
                let v = parse_const(&t.tok).ok_or_else(|| {
                    format!("expected a constant literal, found {}", show(&t.tok))
                })?;
                Ok(Operand::Int(self.constant(v)? as i64))
            }
        }
    }
}

/// The values an integral operand kind accepts.
fn kind_range(kind: OperandKind) -> (i128, i128) {
    match kind {
        OperandKind::Int => (i64::MIN as i128, i64::MAX as i128),
        OperandKind::Lim => (i32::MIN as i128, i32::MAX as i128),
        OperandKind::Count | OperandKind::Byte => (0, u8::MAX as i128),
        OperandKind::Slot
        | OperandKind::Name
        | OperandKind::Const
        | OperandKind::Count16
        | OperandKind::Id => (0, u16::MAX as i128),
        OperandKind::Target | OperandKind::Wide | OperandKind::Float => (0, i64::MAX as i128),
    }
}

fn show(t: &Tok) -> String {
    match t {
        Tok::Word(w) => format!("`{w}`"),
        Tok::Str(s) => format!("{s:?}"),
        Tok::Colon => "`:`".into(),
    }
}

/// Assembles `.fasm` source into a chunk (not yet verified: running it does
/// that, and [`crate::verify`] does it on request).
pub fn assemble(src: &str) -> Result<Chunk, AsmError> {
    let lines = parse_lines(src)?;
    let mut asm = Assembler {
        b: ChunkBuilder::new(),
        labels: FxHashMap::default(),
        consts: FxHashMap::default(),
    };
    for line in &lines {
        for (name, ip) in &line.labels {
            if asm.labels.insert(name.clone(), *ip).is_some() {
                return Err(err(line.number, 1, format!("label `{name}` defined twice")));
            }
        }
    }
    let mut sub_names = FxHashMap::default();
    for line in &lines {
        for (name, ip) in &line.subs {
            if sub_names.insert(name.clone(), ()).is_some() {
                return Err(err(line.number, 1, format!("sub `{name}` defined twice")));
            }
            let idx = asm
                .b
                .try_add_name(name)
                .map_err(|e| err(line.number, 1, e.to_string()))?;
            asm.b.add_sub_entry(idx, *ip);
        }
        let Some((mnemonic, args)) = &line.instr else {
            continue;
        };
        let Tok::Word(m) = &mnemonic.tok else {
            return Err(err(line.number, mnemonic.col, "expected an op mnemonic"));
        };
        let Some(kinds) = Op::operand_kinds(m) else {
            return Err(err(line.number, mnemonic.col, format!("unknown op `{m}`")));
        };
        if kinds.len() != args.len() {
            let col = args.get(kinds.len()).map_or(mnemonic.col, |t| t.col);
            return Err(err(
                line.number,
                col,
                format!(
                    "`{m}` takes {} operand(s), found {}",
                    kinds.len(),
                    args.len()
                ),
            ));
        }
        let mut operands = Vec::with_capacity(args.len());
        for (kind, tok) in kinds.iter().zip(args) {
            operands.push(
                asm.operand(*kind, tok)
                    .map_err(|m| err(line.number, tok.col, m))?,
            );
        }
        let op = Op::from_operands(m, &operands).map_err(|m| err(line.number, mnemonic.col, m))?;
        asm.b.emit(op, line.number as u32);
    }
    asm.b
        .try_build()
        .map_err(|e| err(lines.len().max(1), 1, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assembles_labels_subs_and_literals() {
        let c = assemble(
            "start: LoadConst -0.0 ; c0\n\
             LoadConst \"a b\\n\"\n\
             LoadConst -0.0\n\
             Jump start\n\
             sub \"my sub\": Call \"my sub\" 0\n\
             sub g: GetVar x\n",
        )
        .unwrap();
        assert_eq!(c.ops()[0], Op::LoadConst(0));
        assert_eq!(c.ops()[1], Op::LoadConst(1));
        assert_eq!(c.ops()[2], Op::LoadConst(0));
        assert_eq!(c.ops()[3], Op::Jump(0));
        assert_eq!(c.ops()[4], Op::Call(0, 0));
        assert_eq!(c.sub_entry(0), Some(4));
        assert_eq!(c.names(), &["my sub", "g", "x"]);
        assert!(c.constants()[0].same_as(&Value::Float(-0.0)));
        assert_eq!(c.constants()[1], Value::str("a b\n"));
        assert_eq!(c.lines()[1], 2);
    }

    #[test]
    fn errors_point_at_line_and_column() {
        let e = assemble("  Nop\n  LoadInt x\n").unwrap_err();
        assert_eq!((e.line, e.col), (2, 11));
        let e = assemble("Frob").unwrap_err();
        assert_eq!((e.line, e.col), (1, 1));
        assert!(e.message.contains("unknown op"));
        let e = assemble("Jump nowhere").unwrap_err();
        assert_eq!((e.line, e.col), (1, 6));
        let e = assemble("GetSlot 1 2").unwrap_err();
        assert_eq!((e.line, e.col), (1, 11));
        let e = assemble("   LoadConst \"abc").unwrap_err();
        assert_eq!((e.line, e.col), (1, 14));
        let e = assemble("GetSlot 70000").unwrap_err();
        assert!(e.message.contains("out of range"), "{e}");
        let e = assemble("a: Nop\na: Nop").unwrap_err();
        assert_eq!(e.line, 2);
    }

    #[test]
    fn numbers_accept_separators_hex_and_special_floats() {
        let c = assemble("LoadInt 10_000\nLoadInt -0x10\nLoadFloat inf\nLoadFloat nan_0x7ff8000000000001\nLoadFloat 3").unwrap();
        assert_eq!(c.ops()[0], Op::LoadInt(10_000));
        assert_eq!(c.ops()[1], Op::LoadInt(-16));
        assert_eq!(c.ops()[2], Op::LoadFloat(f64::INFINITY));
        let Op::LoadFloat(x) = c.ops()[3] else {
            panic!()
        };
        assert_eq!(x.to_bits(), 0x7ff8000000000001);
        assert_eq!(c.ops()[4], Op::LoadFloat(3.0));
    }
}
