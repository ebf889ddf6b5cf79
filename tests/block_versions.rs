//! Loop versioning in the block tier: a loop that works on arrays runs in a
//! *fast copy* whose array checks are made once at its entry; whatever the
//! fast copy can't do (an index out of range, an element of another kind,
//! an array shared with another place) finishes in the loop's general copy,
//! with the state the interpreter would have had. Each test pins the block
//! tier on (traces off), checks it ran and agrees with the interpreter, and
//! reads the fast-copy counters to prove which copy ran.
#![cfg(feature = "jit")]

mod common;
use common::traced::asm;
use common::*;
use fusevm_llvm::{JitCompiler, JitStats, VMResult, Value};
use std::sync::Mutex;

/// The counters are process-wide.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs `src` in the block tier against the interpreter; returns the JIT
/// run's result and the counters' change over both runs.
fn run_both(src: &str) -> (VMResult, Counts) {
    let chunk = asm(src);
    let before = JitCompiler::stats();
    assert_block_agrees(&chunk);
    let after = JitCompiler::stats();
    let (r, _) = run_vm(&chunk, true);
    (r, Counts::between(&before, &after))
}

/// What changed in the counters.
#[derive(Debug)]
struct Counts {
    entries: u64,
    bails: u64,
    views: u64,
    helper_calls: u64,
}

impl Counts {
    fn between(before: &JitStats, after: &JitStats) -> Counts {
        Counts {
            entries: after.fast_copy_entries - before.fast_copy_entries,
            bails: after.fast_copy_bails - before.fast_copy_bails,
            views: after.array_views - before.array_views,
            helper_calls: after.value_helper_calls - before.value_helper_calls,
        }
    }
}

/// `a` = [0, 2, 4, …] (1,000 Ints, pushed in a top-tested loop), then
/// `BODY` in a do-while loop over i = slot 0 from 0 while i < `END`;
/// slot 1 is an accumulator.
fn program(body: &str, end: i64, tail: &str) -> String {
    format!(
        r#"
                DeclareArray a
                LoadInt 0
                SetSlot 0
        fill:   GetSlot 0
                LoadInt 1000
                NumLt
                JumpIfFalse filled
                GetSlot 0
                LoadInt 2
                Mul
                ArrayPush a
                GetSlot 0
                LoadInt 1
                Add
                SetSlot 0
                Jump fill
        filled: LoadInt 0
                SetSlot 0
                LoadInt 0
                SetSlot 1
        body:   {body}
                GetSlot 0
                LoadInt 1
                Add
                SetSlot 0
                GetSlot 0
                LoadInt {end}
                NumLt
                JumpIfTrue body
                {tail}
    "#
    )
}

/// s += a[i]; a[i] = a[i] + 1 (plain bytecode).
const SUM_AND_BUMP: &str = "
                GetSlot 0
                ArrayGet a
                GetSlot 1
                Add
                SetSlot 1
                GetSlot 0
                ArrayGet a
                LoadInt 1
                Add
                GetSlot 0
                ArraySet a";

#[test]
fn loops_over_an_int_array_run_in_their_fast_copies_with_one_view_each() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let src = program(
        SUM_AND_BUMP,
        1000,
        "GetSlot 1\nLoadInt 999\nArrayGet a\nAdd",
    );
    let (r, c) = run_both(&src);
    // 2 (0 + 1 + … + 999) + a[999] bumped once.
    assert!(r.same_as(&VMResult::Ok(Value::Int(999_000 + 1999))), "{r}");
    // The fill loop and the do-while loop, each entered once, never left.
    assert!(c.entries >= 2, "{c:?}");
    assert_eq!(c.bails, 0, "{c:?}");
    assert!(c.views < 10, "{c:?}");
    assert!(c.helper_calls < 10, "{c:?}");
}

#[test]
fn an_index_past_the_end_leaves_the_fast_copy_and_reads_as_interpreted() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // Sums a[0..1010]: the last ten are out of range (Undef, which makes
    // the sum a Float).
    let body = "
                GetSlot 0
                ArrayGet a
                GetSlot 1
                Add
                SetSlot 1";
    let (r, c) = run_both(&program(body, 1010, "GetSlot 1"));
    assert!(r.same_as(&VMResult::Ok(Value::Float(999_000.0))), "{r}");
    // Each out-of-range read leaves the fast copy; the loop's next
    // iteration enters it again.
    assert!(c.bails >= 10, "{c:?}");
    assert!(c.entries >= 10, "{c:?}");
}

#[test]
fn an_array_switching_strategy_in_the_fast_copy_goes_on_in_the_general_copy() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // a[i] = a[i] + 1, but a[500] = 0.5: the Int array becomes general
    // there, and the rest of the loop runs in the general copy.
    let body = "
                GetSlot 0
                LoadInt 500
                NumEq
                JumpIfFalse int
                LoadFloat 0.5
                GetSlot 0
                ArraySet a
                Jump next
        int:    GetSlot 0
                ArrayGet a
                LoadInt 1
                Add
                GetSlot 0
                ArraySet a
                GetSlot 0
                ArrayGet a
                GetSlot 1
                Add
                SetSlot 1
        next:   Nop";
    let tail = "GetSlot 1\nLoadInt 500\nArrayGet a\nLoadInt 999\nArrayGet a\nMakeArray 3";
    let (r, c) = run_both(&program(body, 1000, tail));
    let sum: i64 = (0..1000).filter(|&i| i != 500).map(|i| 2 * i + 1).sum();
    let want = Value::array(vec![Value::Int(sum), Value::Float(0.5), Value::Int(1999)]);
    assert!(r.same_as(&VMResult::Ok(want)), "{r}");
    assert!(c.bails >= 1, "{c:?}");
}

#[test]
fn a_copy_of_the_array_keeps_its_elements_while_the_fast_copy_writes_the_original() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // b = a before the loop: the loop's writes to a must not show in b.
    let body = "
                GetSlot 0
                LoadInt 3
                Mul
                GetSlot 0
                ArraySet a";
    let src = program(
        body,
        1000,
        "LoadInt 7\nArrayGet a\nLoadInt 7\nArrayGet b\nMakeArray 2",
    )
    .replace(
        "filled: LoadInt 0",
        "filled: GetArray a\n                SetArray b\n                LoadInt 0",
    );
    let (r, c) = run_both(&src);
    let want = Value::array(vec![Value::Int(21), Value::Int(14)]);
    assert!(r.same_as(&VMResult::Ok(want)), "{r}");
    // Shared at the loop's entry: refused without a copy, copied by the
    // general copy's first write, then entered.
    assert!(c.entries >= 1, "{c:?}");
}

#[test]
fn nested_loops_over_a_flat_matrix_run_inside_one_fast_copy() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // m[i * 40 + j] = i - j (Floats) for a 40x40 matrix, then the sum of
    // m[i * 40 + j] * m[j * 40 + i], both in top-tested nested loops.
    let src = r#"
                DeclareArray m
                LoadInt 0
                SetSlot 0
        fill:   GetSlot 0
                LoadInt 1600
                NumLt
                JumpIfFalse rows
                GetSlot 0
                LoadInt 40
                Div
                FloorFloat
                GetSlot 0
                LoadInt 40
                Mod
                Sub
                ArrayPush m
                GetSlot 0
                LoadInt 1
                Add
                SetSlot 0
                Jump fill
        rows:   LoadFloat 0.0
                SetSlot 2
                LoadInt 0
                SetSlot 0
        outer:  GetSlot 0
                LoadInt 40
                NumLt
                JumpIfFalse done
                LoadInt 0
                SetSlot 1
        inner:  GetSlot 1
                LoadInt 40
                NumLt
                JumpIfFalse next
                GetSlot 0
                LoadInt 40
                Mul
                GetSlot 1
                Add
                ArrayGet m
                GetSlot 1
                LoadInt 40
                Mul
                GetSlot 0
                Add
                ArrayGet m
                Mul
                GetSlot 2
                Add
                SetSlot 2
                GetSlot 1
                LoadInt 1
                Add
                SetSlot 1
                Jump inner
        next:   GetSlot 0
                LoadInt 1
                Add
                SetSlot 0
                Jump outer
        done:   GetSlot 2
    "#;
    let (r, c) = run_both(src);
    let want: f64 = (0..40)
        .flat_map(|i| (0..40).map(move |j| -((i - j) as f64).powi(2)))
        .sum();
    assert!(r.same_as(&VMResult::Ok(Value::Float(want))), "{r}");
    // The outer loop is versioned whole: entered once, never left.
    assert!((2..=3).contains(&c.entries), "{c:?}");
    assert_eq!(c.bails, 0, "{c:?}");
}

#[test]
fn a_loop_that_needs_the_value_helper_every_iteration_is_not_versioned() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // A string made in the loop: a helper call per iteration would leave
    // a fast copy every time, so the loop is built once, as before.
    let body = r#"
                GetSlot 0
                ArrayGet a
                LoadConst "x"
                Concat
                Pop"#;
    let (r, c) = run_both(&program(body, 1000, "LoadInt 3\nArrayGet a"));
    assert!(r.same_as(&VMResult::Ok(Value::Int(6))), "{r}");
    assert_eq!(c.bails, 0, "{c:?}");
    // Only the fill loop has a fast copy.
    assert!(c.entries <= 2, "{c:?}");
}

#[test]
fn an_array_pushed_to_around_a_versioned_loop_keeps_every_element() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // The outer loop makes a string (no fast copy), then pushes i onto a
    // in place: a's length is owed when the inner loop, which only reads
    // a, enters its fast copy. The owed length must reach the array
    // before the push after the inner loop fetches it again.
    let src = r#"
                DeclareArray a
                LoadInt 0
                SetSlot 0
                LoadInt 0
                SetSlot 1
        outer:  LoadConst "x"
                LoadConst "y"
                Concat
                Pop
                GetSlot 0
                ArrayPush a
                LoadInt 0
                SetSlot 2
        inner:  GetSlot 2
                ArrayGet a
                GetSlot 1
                Add
                SetSlot 1
                GetSlot 2
                LoadInt 1
                Add
                SetSlot 2
                GetSlot 2
                ArrayLen a
                NumLt
                JumpIfTrue inner
                GetSlot 0
                ArrayPush a
                GetSlot 0
                LoadInt 1
                Add
                SetSlot 0
                GetSlot 0
                LoadInt 100
                NumLt
                JumpIfTrue outer
                ArrayLen a
                GetSlot 1
                MakeArray 2
    "#;
    let (r, c) = run_both(src);
    // Before the inner loop of round i, a holds 0, 0, 1, 1, …, i-1, i-1, i.
    let sum: i64 = (0..100).map(|i| i * (i - 1) + i).sum();
    let want = Value::array(vec![Value::Int(200), Value::Int(sum)]);
    assert!(r.same_as(&VMResult::Ok(want)), "{r}");
    assert!(c.entries >= 100, "{c:?}");
}

#[test]
fn the_strategy_checked_at_the_entry_is_a_guess_int_first_and_a_wrong_one_costs_only_the_fast_copy()
{
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // a[i] = a[i - 1] + a[i], after a branch never taken that would store
    // an Int: the analysis allows Int and Float elements (and reads may be
    // Undef, past the end), so the fast copy checks Int.
    let body = "
                GetSlot 0
                LoadInt 1
                Sub
                ArrayGet a
                GetSlot 0
                ArrayGet a
                Add
                GetSlot 0
                ArraySet a";
    let ints = program(body, 1000, "LoadInt 999\nArrayGet a").replace(
        "filled: LoadInt 0\n                SetSlot 0",
        "filled: LoadInt 0
                JumpIfFalse over
                LoadInt 7
                LoadInt 0
                ArraySet a
        over:   LoadInt 1
                SetSlot 0",
    );
    let (r, c) = run_both(&ints);
    let want: i64 = (0..1000).map(|i| 2 * i).sum();
    assert!(r.same_as(&VMResult::Ok(Value::Int(want))), "{r}");
    assert!(c.entries >= 1 && c.bails == 0, "{c:?}");
    // The same loop over Floats: never in its fast copy, same answer.
    let floats = ints.replace(
        "LoadInt 2\n                Mul",
        "LoadFloat 2.0\n                Mul",
    );
    let (r, c) = run_both(&floats);
    assert!(r.same_as(&VMResult::Ok(Value::Float(want as f64))), "{r}");
    assert_eq!(c.bails, 0, "{c:?}");
    assert!(c.entries <= 1, "{c:?}"); // the fill loop's, at most
}
