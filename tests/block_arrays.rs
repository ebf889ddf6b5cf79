//! Containers in the block tier: a chunk whose top-level code makes and
//! uses arrays and hashes compiles whole. Unboxed array elements are read
//! and written in place; every other container op runs the interpreter's
//! own code through the value helper; a failing op leaves native code
//! before it, so the interpreter reports it at the same op. Each test pins
//! the block tier on (traces off) and checks it compiled and ran.
#![cfg(feature = "jit")]

mod common;
use common::traced::asm;
use common::*;
use fusevm_llvm::{JitCompiler, VMResult, Value};
use std::sync::Mutex;

/// The helper counters are process-wide.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

#[test]
fn the_sieve_example_compiles_whole_and_touches_elements_in_place() {
    let _one = ONE_AT_A_TIME.lock().unwrap();
    let src = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/sieve.fasm"))
        .unwrap();
    let chunk = asm(&src);
    let before = JitCompiler::stats();
    assert_block_agrees(&chunk);
    let after = JitCompiler::stats();
    let (r, _) = run_vm(&chunk, true);
    assert!(r.same_as(&VMResult::Ok(Value::Int(1229))), "{r}");
    // 10,000 pushes and ~25,000 reads and writes: a few helper calls.
    let calls = after.value_helper_calls - before.value_helper_calls;
    assert!(calls < 50, "{calls} value-helper calls");
}

#[test]
fn local_arrays_ranges_and_hashes_run_in_whole_chunk_code() {
    let _one = ONE_AT_A_TIME.lock().unwrap();
    // squares = [i*i for i in 0..50] in slot 0 (filled one past its end),
    // then copied to a global and summed by index from a Range, with a
    // hash counting odd and even squares.
    let chunk = asm(r#"
                MakeArray 0
                SetSlot 0
                LoadInt 0
                SetSlot 1
        fill:   GetSlot 1
                GetSlot 1
                Mul
                GetSlot 1
                SlotArraySet 0
                GetSlot 1
                LoadInt 1
                Add
                SetSlot 1
                GetSlot 1
                LoadInt 50
                NumLt
                JumpIfTrue fill
                GetSlot 0
                SetArray copy
                DeclareHash parity
                LoadInt 0
                LoadInt 49
                Range
                SetSlot 2
                LoadInt 0
                SetSlot 3
                LoadInt 0
                SetSlot 1
        sum:    GetSlot 1
                SlotArrayGet 2
                ArrayGet copy
                Dup
                GetSlot 3
                Add
                SetSlot 3
                LoadInt 2
                Mod
                LoadInt 0
                NumEq
                JumpIfTrue even
                LoadConst "odd"
                Jump count
        even:   LoadConst "even"
        count:  Dup
                HashGet parity
                LoadInt 1
                Add
                Swap
                HashSet parity
                GetSlot 1
                LoadInt 1
                Add
                SetSlot 1
                GetSlot 1
                LoadInt 50
                NumLt
                JumpIfTrue sum
                LoadConst "odd"
                HashGet parity
                GetSlot 3
                ArrayPop copy
                MakeArray 3"#);
    assert_block_agrees(&chunk);
    let (r, vm) = run_vm(&chunk, true);
    let sum: i64 = (0..50).map(|i| i * i).sum();
    assert!(
        r.same_as(&VMResult::Ok(Value::array(vec![
            // The first count is undef + 1.
            Value::Float(25.0),
            Value::Int(sum),
            Value::Int(49 * 49),
        ]))),
        "{r}"
    );
    // The slot's array is untouched by the pop on its copy.
    let Value::Array(squares) = vm.get_slot(0) else {
        panic!("slot 0 holds an array")
    };
    assert_eq!(squares.len(), 50);
}

#[test]
fn a_failing_container_op_is_reported_at_its_op_as_interpreted() {
    let _one = ONE_AT_A_TIME.lock().unwrap();
    for (src, ip) in [
        // A negative index before the start of the array.
        (
            "LoadInt 1\nLoadInt 2\nMakeArray 2\nSetSlot 0\nLoadInt 9\nLoadInt -3\nSlotArraySet 0",
            6,
        ),
        // SetArray of a number.
        ("DeclareArray a\nLoadInt 5\nSetArray a", 2),
        // An array op on a slot holding a hash.
        (
            "LoadConst \"k\"\nLoadInt 1\nMakeHash 2\nSetSlot 0\nLoadInt 0\nSlotArrayGet 0",
            5,
        ),
    ] {
        let chunk = asm(src);
        assert_block_agrees(&chunk);
        let (r, _) = run_vm(&chunk, true);
        let VMResult::Error(e) = &r else {
            panic!("{src}: {r}")
        };
        assert_eq!(e.ip, Some(ip), "{src}: {r}");
    }
}

#[test]
fn container_ops_in_subroutines_keep_the_chunk_interpreted() {
    // Subroutines have no boxes: the chunk is refused, naming the op.
    let chunk = asm("       DeclareArray a
                Call f 0
                Return
        sub f:  ArrayLen a
                ReturnValue");
    let why = JitCompiler::new()
        .block_ineligibility(&chunk)
        .unwrap_or_default();
    assert!(why.contains("op 3 `ArrayLen"), "{why}");
}

#[test]
fn the_histogram_kernel_runs_in_whole_chunk_code_with_direct_hash_calls() {
    let _one = ONE_AT_A_TIME.lock().unwrap();
    // The histogram kernel with n = 20,000: its Int-keyed reads and writes
    // are direct calls with the hash's address (`tests/native_hashes.rs`).
    let src = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/benches/kernels/histogram.fasm"
    ))
    .unwrap();
    let chunk = asm(&format!("        LoadInt 20000\n        SetSlot 0\n{src}"));
    let before = JitCompiler::stats();
    assert_block_agrees(&chunk);
    let after = JitCompiler::stats();
    let (r, _) = run_vm(&chunk, false);
    let mut h = [0i64; 1000];
    let mut x = 1i64;
    for _ in 0..20_000 {
        x = (x * 75 + 74) % 65537;
        h[(x % 1000) as usize] += 1;
    }
    let want: i64 = (0..1000).map(|k| h[k] * (k as i64 + 1)).sum();
    assert!(r.same_as(&VMResult::Ok(Value::Int(want))), "{r}");
    // 42,000 hash ops, none through the value helper.
    let calls = after.value_helper_calls - before.value_helper_calls;
    assert!(calls < 20, "{calls} value-helper calls");
}

#[test]
fn a_row_shared_with_an_array_of_rows_is_read_through_one_view_and_copied_on_write() {
    let _one = ONE_AT_A_TIME.lock().unwrap();
    // Slot 0 takes row 0 of `rows` (shared with it) and reads it 100
    // times; at i == 50 it writes its copy, which must not show in `rows`.
    let chunk = asm(r#"
                DeclareArray rows
                LoadInt 1
                LoadInt 2
                LoadInt 3
                MakeArray 3
                ArrayPush rows
                LoadInt 0
                ArrayGet rows
                SetSlot 0
                LoadInt 0
                SetSlot 2
                LoadInt 0
                SetSlot 3
        loop:   GetSlot 3
                GetSlot 2
                LoadInt 3
                Mod
                SlotArrayGet 0
                Add
                SetSlot 3
                GetSlot 2
                LoadInt 50
                NumEq
                JumpIfFalse next
                LoadInt 100
                LoadInt 0
                SlotArraySet 0
        next:   GetSlot 2
                LoadInt 1
                Add
                SetSlot 2
                GetSlot 2
                LoadInt 100
                NumLt
                JumpIfTrue loop
                LoadInt 0
                ArrayGet rows
                SetSlot 1
                LoadInt 0
                SlotArrayGet 1
                GetSlot 3
                GetSlot 0
                MakeArray 3
    "#);
    let before = JitCompiler::stats();
    assert_block_agrees(&chunk);
    let after = JitCompiler::stats();
    let (r, _) = run_vm(&chunk, false);
    // i % 3 == 0 reads 1 up to i = 48 (17 times), then 100 (17 times).
    let sum = 17 + 17 * 100 + 33 * 2 + 33 * 3;
    let row = Value::array(vec![Value::Int(100), Value::Int(2), Value::Int(3)]);
    let want = Value::array(vec![Value::Int(1), Value::Int(sum), row]);
    assert!(r.same_as(&VMResult::Ok(want)), "{r}");
    // A read-only view, then one unique (copying) view for the write: no
    // view per element read.
    let views = after.array_views - before.array_views;
    assert!(views < 10, "{views} array views fetched");
}

/// 50 rows of 20 Floats (`rows[r][c] = r * 100 + c`), then `ops` (slots:
/// 0 = the row taken, 1 = i, 2 = the sum).
fn with_rows(ops: &str) -> String {
    format!(
        "       DeclareArray rows
                LoadInt 0
                SetSlot 1
        fill:   DeclareArray row
                LoadInt 0
                SetSlot 2
        cell:   GetSlot 1
                LoadInt 100
                Mul
                GetSlot 2
                Add
                LoadFloat 0.5
                Add
                ArrayPush row
                GetSlot 2
                LoadInt 1
                Add
                SetSlot 2
                GetSlot 2
                LoadInt 20
                NumLt
                JumpIfTrue cell
                GetArray row
                ArrayPush rows
                GetSlot 1
                LoadInt 1
                Add
                SetSlot 1
                GetSlot 1
                LoadInt 50
                NumLt
                JumpIfTrue fill
                LoadInt 0
                SetSlot 1
                LoadFloat 0.0
                SetSlot 2
{ops}"
    )
}

#[test]
fn rows_of_an_array_of_rows_are_taken_from_its_row_table_without_a_call_per_row() {
    let _one = ONE_AT_A_TIME.lock().unwrap();
    // `local row = rows[i % 50]; sum += row[i % 20]`, 20,000 times; the
    // slot still holds the last row taken when native code leaves.
    let chunk = asm(&with_rows(
        "       loop:   GetSlot 1
                LoadInt 50
                Mod
                ArrayGet rows
                SetSlot 0
                GetSlot 2
                GetSlot 1
                LoadInt 20
                Mod
                SlotArrayGet 0
                Add
                SetSlot 2
                GetSlot 1
                LoadInt 1
                Add
                SetSlot 1
                GetSlot 1
                LoadInt 20000
                NumLt
                JumpIfTrue loop
                GetSlot 2",
    ));
    let before = JitCompiler::stats();
    assert_block_agrees(&chunk);
    let after = JitCompiler::stats();
    let (r, vm) = run_vm(&chunk, false);
    let want: f64 = (0..20_000)
        .map(|i| ((i % 50) * 100 + i % 20) as f64 + 0.5)
        .sum();
    assert!(r.same_as(&VMResult::Ok(Value::Float(want))), "{r}");
    let last = (0..20)
        .map(|c| Value::Float((49 * 100 + c) as f64 + 0.5))
        .collect();
    let got = &vm.frames[0].slots[0];
    assert!(got.same_as(&Value::array(last)), "{got:?}");
    let calls = after.value_helper_calls - before.value_helper_calls;
    // Filling takes ~4 calls a row; taking 20,000 rows none.
    assert!(calls < 1_000, "{calls} value-helper calls");
    let views = after.array_views - before.array_views;
    assert!(views < 1_000, "{views} array views fetched");
    // The loop runs in its fast copy, rows taken there too: never left.
    let entries = after.fast_copy_entries - before.fast_copy_entries;
    let bails = after.fast_copy_bails - before.fast_copy_bails;
    assert!(
        entries >= 1 && bails == 0,
        "{entries} entries, {bails} bails"
    );
}

#[test]
fn a_row_taken_natively_is_the_slots_value_at_every_helper_call_write_and_exit() {
    let _one = ONE_AT_A_TIME.lock().unwrap();
    // Row indices -1..=50 (from the end, in range, one past the end) and
    // an element that is no row; every fifth row taken is pushed to `seen`
    // (a helper reads the slot's box); once the slot's row is written
    // (copied: `rows` keeps its own), once `rows` gets a new row 5 (its
    // table must not be reused: row 5 is taken and read after it).
    let chunk = asm(&with_rows(
        "               LoadInt 7
                LoadInt 10
                ArraySet rows
                DeclareArray seen
        loop:   GetSlot 1
                LoadInt 52
                Mod
                LoadInt 1
                Sub
                ArrayGet rows
                SetSlot 0
                GetSlot 1
                LoadInt 110
                NumEq
                JumpIfFalse push
                GetSlot 2
                LoadInt 0
                SlotArrayGet 0
                Add
                SetSlot 2
        push:   GetSlot 1
                LoadInt 5
                Mod
                JumpIfTrue keep
                GetSlot 0
                ArrayPush seen
        keep:   GetSlot 1
                LoadInt 104
                NumEq
                JumpIfFalse swap
                LoadFloat -1.0
                LoadInt 2
                SlotArraySet 0
        swap:   GetSlot 1
                LoadInt 105
                NumEq
                JumpIfFalse next
                LoadInt 42
                MakeArray 1
                LoadInt 5
                ArraySet rows
        next:   GetSlot 1
                LoadInt 1
                Add
                SetSlot 1
                GetSlot 1
                LoadInt 160
                NumLt
                JumpIfTrue loop
                GetArray seen
                GetArray rows
                GetSlot 0
                GetSlot 2
                MakeArray 4",
    ));
    assert_block_agrees(&chunk);
    let (r, _) = run_vm(&chunk, true);
    let VMResult::Ok(Value::Array(all)) = r else {
        panic!("{r}");
    };
    // i = 104 took rows[-1 + 104 % 52] = rows[-1], the last row: written
    // in the slot's copy only.
    let Value::Array(rows) = all.get(1).unwrap() else {
        panic!("rows")
    };
    let Some(Value::Array(last)) = rows.get(49) else {
        panic!("row 49")
    };
    assert!(last.get(2).unwrap().same_as(&Value::Float(4902.5)));
    // i = 110 read row 5 after it was replaced.
    assert!(all.get(3).unwrap().same_as(&Value::Float(42.0)), "{all:?}");
}
