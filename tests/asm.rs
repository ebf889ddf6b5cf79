//! The `.fasm` text format: every example round-trips through the
//! disassembler, and errors point at line and column.

mod common;
use common::{EXAMPLES, example};
use fusevm_llvm::{Chunk, ChunkBuilder, Op, Value, assemble, disassemble};

fn same_chunk(a: &Chunk, b: &Chunk) -> bool {
    a.ops() == b.ops()
        && a.names() == b.names()
        && a.sub_entries() == b.sub_entries()
        && a.constants().len() == b.constants().len()
        && a.constants()
            .iter()
            .zip(b.constants())
            .all(|(x, y)| x.same_as(y))
        && a.content_hash() == b.content_hash()
}

#[test]
fn every_example_round_trips_through_disasm() {
    for name in EXAMPLES {
        let chunk = example(name);
        let text = disassemble(&chunk).unwrap();
        let again = assemble(&text).unwrap_or_else(|e| panic!("{name}: {e}\n{text}"));
        assert!(same_chunk(&chunk, &again), "{name}: chunk changed\n{text}");
        assert_eq!(disassemble(&again).unwrap(), text, "{name}: text changed");
    }
}

#[test]
fn awkward_literals_and_names_round_trip() {
    let mut b = ChunkBuilder::new();
    let consts = [
        Value::Float(-0.0),
        Value::Float(f64::NAN),
        Value::Float(f64::from_bits(0x7ff8_0000_0000_0002)),
        Value::Float(f64::NEG_INFINITY),
        Value::Float(1e300),
        Value::Float(5e-324),
        Value::Int(i64::MIN),
        Value::str("quote \" backslash \\ newline \n tab \t bell \u{7} é"),
        Value::str(""),
        Value::Bool(false),
        Value::Undef,
    ];
    for c in consts {
        let i = b.add_constant(c);
        b.emit(Op::LoadConst(i), 1);
    }
    let odd = b.add_name("has space");
    let kw = b.add_name("sub");
    b.emit(Op::GetVar(odd), 1);
    b.emit(Op::SetVar(kw), 1);
    b.emit(Op::LoadFloat(-0.0), 1);
    b.emit(Op::LoadInt(i64::MIN), 1);
    b.emit(Op::SlotIncLtIntJumpBack(1, -5, 0), 1);
    b.emit(Op::ExtendedWide(3, usize::MAX >> 1), 1);
    let chunk = b.build();
    let text = disassemble(&chunk).unwrap();
    let again = assemble(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert!(same_chunk(&chunk, &again), "{text}");
}

#[test]
fn constants_without_a_literal_form_are_reported() {
    let mut b = ChunkBuilder::new();
    let c = b.add_constant(Value::array(vec![]));
    b.emit(Op::Nop, 1);
    b.emit(Op::LoadConst(c), 1);
    let e = disassemble(&b.build()).unwrap_err();
    assert_eq!(e.ip, 1);
}

#[test]
fn assembler_errors_name_line_and_column() {
    let cases: &[(&str, (usize, usize), &str)] = &[
        ("Nop\n  Bogus 1", (2, 3), "unknown op"),
        ("Jump missing", (1, 6), "undefined label"),
        ("LoadInt", (1, 1), "takes 1 operand"),
        ("LoadInt 1 2", (1, 11), "takes 1 operand"),
        ("LoadConst", (1, 1), "takes 1 operand"),
        ("GetSlot -1", (1, 9), "out of range"),
        ("LoadConst \"open", (1, 11), "unterminated"),
        ("LoadConst \"bad \\q\"", (1, 17), "unknown escape"),
        ("x: Nop\nx: Nop", (2, 1), "defined twice"),
        ("sub f: Nop\nsub f: Nop", (2, 1), "defined twice"),
        ("sub : Nop", (1, 1), "expected `sub NAME:`"),
        ("GetVar 12", (1, 8), "expected a name"),
        ("LoadFloat abc", (1, 11), "expected a float"),
        ("Call f", (1, 1), "takes 2 operand"),
    ];
    for (src, (line, col), msg) in cases {
        let e = assemble(src).unwrap_err();
        assert_eq!((e.line, e.col), (*line, *col), "{src:?}: {e}");
        assert!(e.message.contains(msg), "{src:?}: {e}");
        assert!(e.to_string().starts_with(&format!("{line}:{col}: ")));
    }
}

#[test]
fn comments_blank_lines_and_labels_on_their_own_line() {
    let chunk =
        assemble("; header\n\n# another\nstart:\n  LoadInt 1 ; trailing\n  Jump start").unwrap();
    assert_eq!(chunk.ops(), &[Op::LoadInt(1), Op::Jump(0)]);
    assert_eq!(chunk.lines(), &[5, 6]);
}
