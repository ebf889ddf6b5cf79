//! Hashes in native code: `HashGet`/`HashExists`/`HashSet` on a global hash
//! with an Int key and an unboxed value probe the hash's Int-key table
//! inline in both tiers (no value-helper call; a new key is one direct
//! runtime call), and everything
//! else (string keys, boxed values, a full hash) takes the interpreter's
//! own path: results, slots, globals and errors match it, and a copy of a
//! hash taken in the middle of a hot loop never sees later writes. Each
//! test pins one tier and checks it ran; tests run one at a time (the
//! helper counters are process-wide).
#![cfg(feature = "jit")]

mod common;
use common::traced::{agree_with, asm, assert_traced, pin, value};
use common::*;
use fusevm_llvm::{Chunk, JitCompiler, Limits, VM, VMResult, Value};
use std::sync::Mutex;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The anchor of the loops below (`head:`), after `LoadInt n; SetSlot 0`
/// and three more ops.
const HEAD: usize = 5;

/// `n` in slot 0, a hash `h`, `i` in slot 1 counting from 0 to `n` in a
/// top-tested loop anchored at [`HEAD`] whose body is `body` (which must
/// leave the stack as it found it); then `tail`.
fn looping(n: i64, body: &str, tail: &str) -> Chunk {
    asm(&format!(
        "       LoadInt {n}
                SetSlot 0
                DeclareHash h
                LoadInt 0
                SetSlot 1
        head:   GetSlot 1
                GetSlot 0
                NumLt
                JumpIfFalse done
{body}
                GetSlot 1
                LoadInt 1
                Add
                SetSlot 1
                Jump head
        done:   Nop
{tail}"
    ))
}

/// `h{i % 97} = h{i % 97} + i`: a missing key reads `undef`, which adds
/// as 0.0 (so the counts are Floats).
const COUNT: &str = "
                GetSlot 1
                LoadInt 97
                Mod
                HashGet h
                GetSlot 1
                Add
                GetSlot 1
                LoadInt 97
                Mod
                HashSet h";

/// Value-helper calls while `f` runs.
fn helper_calls(f: impl FnOnce()) -> u64 {
    let before = JitCompiler::stats().value_helper_calls;
    f();
    JitCompiler::stats().value_helper_calls - before
}

#[test]
fn int_keyed_reads_and_writes_skip_the_value_helper_in_the_block_tier() {
    let _one = ONE_AT_A_TIME.lock().unwrap();
    let chunk = looping(
        20_000,
        COUNT,
        "LoadInt 5\nHashExists h\nLoadInt 5\nHashGet h",
    );
    let calls = helper_calls(|| assert_block_agrees(&chunk));
    // 40,000 hash ops; the few calls left are the declaration's.
    assert!(calls < 20, "{calls} value-helper calls");
    let (r, vm) = run_vm(&chunk, true);
    let want: i64 = (0..20_000).filter(|i| i % 97 == 5).sum();
    assert!(r.same_as(&VMResult::Ok(Value::Float(want as f64))), "{r}");
    let Some(Value::Hash(h)) = vm.get_global("h") else {
        panic!("h is a hash")
    };
    assert!(h.has_int_keys(), "stored with Int keys");
}

#[test]
fn int_keyed_reads_and_writes_skip_the_value_helper_in_a_trace() {
    let _one = ONE_AT_A_TIME.lock().unwrap();
    pin(2, |_| {});
    let chunk = looping(20_000, COUNT, "LoadInt 96\nHashGet h");
    let calls = helper_calls(|| {
        let (r, _, _) = agree_with(&chunk, &[]);
        let want: i64 = (0..20_000).filter(|i| i % 97 == 96).sum();
        assert!(value(r).same_as(&Value::Float(want as f64)));
    });
    assert_traced(&chunk, HEAD);
    assert!(calls < 20, "{calls} value-helper calls");
}

/// At `i == n / 2` the loop copies `h` into global `g`; every later write
/// to `h` must stay out of `g`.
fn copied_midway(n: i64) -> Chunk {
    let body = format!(
        "               GetSlot 1
                LoadInt {}
                NumEq
                JumpIfFalse write
                GetHash h
                SetHash g
        write:  Nop
{COUNT}",
        n / 2
    );
    looping(n, &body, "LoadInt 3\nHashGet g\nLoadInt 3\nHashGet h\nAdd")
}

#[test]
fn a_hash_copied_in_a_hot_loop_keeps_its_entries_when_the_original_is_written() {
    let _one = ONE_AT_A_TIME.lock().unwrap();
    let n = 4_000;
    let want: i64 = (0..n / 2).filter(|i| i % 97 == 3).sum::<i64>()
        + (0..n).filter(|i| i % 97 == 3).sum::<i64>();
    let chunk = copied_midway(n);
    // Block tier.
    assert_block_agrees(&chunk);
    let (r, vm) = run_vm(&chunk, true);
    assert!(r.same_as(&VMResult::Ok(Value::Float(want as f64))), "{r}");
    let Some(Value::Hash(g)) = vm.get_global("g") else {
        panic!("g is a hash")
    };
    assert_eq!(g.len(), 97);
    // Tracing tier.
    pin(2, |_| {});
    let chunk = copied_midway(n + 2); // another chunk: not the block tier's
    let want: i64 = (0..(n + 2) / 2).filter(|i| i % 97 == 3).sum::<i64>()
        + (0..n + 2).filter(|i| i % 97 == 3).sum::<i64>();
    let (r, _, _) = agree_with(&chunk, &[]);
    assert!(value(r).same_as(&Value::Float(want as f64)));
    assert_traced(&chunk, HEAD);
}

/// Runs `chunk` with at most 50 entries a hash, interpreted or with the
/// JIT; the error must name the same op either way.
fn with_limit(chunk: &Chunk) {
    let run = |jit: bool| {
        let mut vm = VM::new(chunk.clone());
        vm.set_limits(Limits {
            max_collection_len: 50,
            ..Limits::default()
        });
        if jit {
            vm.enable_tracing_jit();
        }
        (vm.run(), vm)
    };
    let (want, ivm) = run(false);
    let (got, nvm) = run(true);
    let VMResult::Error(e) = &got else {
        panic!("{got}")
    };
    assert!(got.same_as(&want), "JIT {got} vs interpreted {want}");
    assert_eq!(e.ip, Some(HEAD + 6), "the HashSet");
    assert_same_vm_state(&nvm, &ivm);
    let Some(Value::Hash(h)) = nvm.get_global("h") else {
        panic!("h is a hash")
    };
    assert_eq!(h.len(), 50);
}

#[test]
fn a_new_key_in_a_full_hash_fails_at_the_same_op_as_interpreted_in_both_tiers() {
    let _one = ONE_AT_A_TIME.lock().unwrap();
    // h{i} = i: the 51st key is one too many.
    let body = "               GetSlot 1\n GetSlot 1\n HashSet h";
    let chunk = looping(200, body, "");
    pin_block_tier(true);
    let runs = JitCompiler::new().block_run_count(&chunk);
    with_limit(&chunk);
    assert!(JitCompiler::new().block_run_count(&chunk) > runs);
    pin(2, |_| {});
    let chunk = looping(201, body, "");
    with_limit(&chunk);
    assert_traced(&chunk, HEAD);
}

#[test]
fn string_keys_boxed_values_and_float_keys_take_the_interpreters_path() {
    let _one = ONE_AT_A_TIME.lock().unwrap();
    // Int keys counted as before; at i == 40 entry 40 becomes a string (a
    // boxed value under an Int key, read back by the next HashGet of that
    // key) and key "07" (no Int's form) switches the hash from Int keys to
    // string keys in the middle of the loop; after it a Float key 2.0 and
    // a string key "7" name the Int keys' entries.
    let body = format!(
        "               GetSlot 1
                LoadInt 40
                NumEq
                JumpIfFalse count
                LoadConst \"s\"
                LoadInt 40
                HashSet h
                LoadInt 1
                LoadConst \"07\"
                HashSet h
        count:  Nop
{COUNT}"
    );
    let tail =
        "LoadFloat 2.0\nHashGet h\nLoadConst \"7\"\nHashGet h\nAdd\nLoadInt 40\nHashGet h\nConcat";
    let int_keys = |vm: &VM| match vm.get_global("h") {
        Some(Value::Hash(h)) => h.has_int_keys(),
        other => panic!("h is {other:?}"),
    };
    let chunk = looping(1_000, &body, tail);
    assert_block_agrees(&chunk);
    let (_, vm) = run_vm(&chunk, true);
    assert!(!int_keys(&vm), "switched to string keys");
    pin(2, |_| {});
    let chunk = looping(1_001, &body, tail);
    let (r, vm, _) = agree_with(&chunk, &[]);
    let Value::Str(_) = value(r) else {
        panic!("a string")
    };
    assert!(!int_keys(&vm), "switched to string keys");
    assert_traced(&chunk, HEAD);
}

/// `h{k} = i` for `k = i * 7919 - 50000` (every key new, half of them
/// negative, so the table grows eight times inside the loop), then
/// `HashExists` and `HashGet` of the same key read it back; at `i == 3`
/// the unused entries' own key, `i64::MIN`, gets an entry too.
fn inserting(n: i64) -> Chunk {
    let body = "               GetSlot 1
                LoadInt 3
                NumEq
                JumpIfFalse fill
                LoadInt 1
                LoadInt -9223372036854775808
                HashSet h
        fill:   GetSlot 1
                GetSlot 1
                LoadInt 7919
                Mul
                LoadInt 50000
                Sub
                HashSet h
                GetSlot 1
                LoadInt 7919
                Mul
                LoadInt 50000
                Sub
                HashExists h
                JumpIfFalse lost
                GetSlot 1
                LoadInt 7919
                Mul
                LoadInt 50000
                Sub
                HashGet h
                GetSlot 1
                NumEq
                JumpIfTrue found
        lost:   LoadConst \"lost\"
                SetVar err
        found:  Nop";
    // The sum of every value read back, plus the value of the unused
    // entries' key when key 1 (never set) is absent, as it must be.
    let tail = "LoadInt 0
                SetSlot 2
                LoadInt 0
                SetSlot 1
        sum:    GetSlot 1
                GetSlot 0
                NumLt
                JumpIfFalse total
                GetSlot 2
                GetSlot 1
                LoadInt 7919
                Mul
                LoadInt 50000
                Sub
                HashGet h
                Add
                SetSlot 2
                GetSlot 1
                LoadInt 1
                Add
                SetSlot 1
                Jump sum
        total:  GetSlot 2
                LoadInt 1
                HashExists h
                JumpIfTrue odd
                LoadInt -9223372036854775808
                HashGet h
                Add
        odd:    Nop";
    looping(n, body, tail)
}

#[test]
fn new_keys_grow_the_table_in_a_hot_loop_and_every_probe_finds_them_again() {
    let _one = ONE_AT_A_TIME.lock().unwrap();
    let n = 3_000;
    let want = (0..n).sum::<i64>() + 1;
    let chunk = inserting(n);
    let calls = helper_calls(|| assert_block_agrees(&chunk));
    assert!(calls < 20, "{calls} value-helper calls");
    let (r, vm) = run_vm(&chunk, true);
    assert!(r.same_as(&VMResult::Ok(Value::Int(want))), "{r}");
    assert!(
        vm.get_global("err")
            .is_none_or(|v| matches!(v, Value::Undef))
    );
    let Some(Value::Hash(h)) = vm.get_global("h") else {
        panic!("h is a hash")
    };
    assert_eq!(h.len() as i64, n + 1);
    assert!(h.has_int_keys(), "stored with Int keys");
    pin(2, |_| {});
    let chunk = inserting(n + 1);
    let (r, _, _) = agree_with(&chunk, &[]);
    assert!(value(r).same_as(&Value::Int(want + n)));
    assert_traced(&chunk, HEAD);
}
