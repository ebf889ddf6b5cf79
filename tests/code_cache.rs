//! Bounded code memory: evicting a chunk frees its code and traces, the
//! cache keeps at most its capacity of chunks (least recently used go
//! first), and compiling thousands of distinct chunks keeps the process's
//! memory flat. One test function: the capacity is process-wide.
#![cfg(feature = "jit")]

mod common;
use common::*;
use fusevm_llvm::{Chunk, JitCompiler, VM, VMResult, Value};

/// A distinct small chunk: sums 0..n plus `k` (its own content hash).
fn chunk_number(k: i64) -> Chunk {
    traced::asm(&format!(
        "
        LoadInt {k}
        SetSlot 1
        LoadInt 0
        SetSlot 0
head:   GetSlot 0
        LoadInt 100
        NumLt
        JumpIfFalse done
        GetSlot 1
        GetSlot 0
        Add
        SetSlot 1
        PreIncSlotVoid 0
        Jump head
done:   GetSlot 1"
    ))
}

fn run_jit(chunk: &Chunk) -> Value {
    let mut vm = VM::new(chunk.clone());
    vm.enable_tracing_jit();
    match vm.run() {
        VMResult::Ok(v) => v,
        other => panic!("{other}"),
    }
}

/// Resident set size of this process, in KiB.
fn rss_kib() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4
}

#[test]
fn the_code_cache_evicts_on_request_and_least_recently_used_first_and_stays_bounded() {
    pin_block_tier(true);
    let jit = JitCompiler::new();

    // ── explicit eviction ──
    let a = chunk_number(-1);
    assert_same(&run_jit(&a), &Value::Int(4949));
    assert!(jit.block_jit_is_compiled(&a));
    assert!(jit.evict(&a));
    assert!(!jit.block_jit_is_compiled(&a));
    assert!(!jit.evict(&a), "nothing left to evict");
    assert_same(&run_jit(&a), &Value::Int(4949));
    assert!(
        jit.block_jit_is_compiled(&a),
        "compiled again after eviction"
    );
    assert_eq!(jit.block_compile_attempts(&a), 1);

    // ── LRU ──
    JitCompiler::set_code_cache_capacity(3);
    let (b, c, d) = (chunk_number(-2), chunk_number(-3), chunk_number(-4));
    for ch in [&b, &c] {
        run_jit(ch);
    }
    // a, b, c cached; touching a makes b the least recently used.
    run_jit(&a);
    run_jit(&d);
    assert!(JitCompiler::code_cache_len() <= 3);
    assert!(
        !jit.block_jit_is_compiled(&b),
        "b was the least recently used"
    );
    for ch in [&a, &c, &d] {
        assert!(jit.block_jit_is_compiled(ch));
    }

    // ── thousands of distinct chunks: memory stays flat ──
    JitCompiler::set_code_cache_capacity(fusevm_llvm::DEFAULT_CODE_CACHE_CAPACITY);
    let total: i64 = std::env::var("FUSEVM_CACHE_TEST_CHUNKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    let mut rss_after_warmup = 0;
    for k in 0..total {
        let ch = chunk_number(k);
        assert_same(&run_jit(&ch), &Value::Int(4950 + k));
        if k == 1500 {
            rss_after_warmup = rss_kib();
        }
    }
    let rss_end = rss_kib();
    assert!(JitCompiler::code_cache_len() <= fusevm_llvm::DEFAULT_CODE_CACHE_CAPACITY);
    let growth_mib = rss_end.saturating_sub(rss_after_warmup) as f64 / 1024.0;
    println!(
        "{total} chunks compiled: RSS {:.1} MiB after 1500, {:.1} MiB at the end (+{growth_mib:.1})",
        rss_after_warmup as f64 / 1024.0,
        rss_end as f64 / 1024.0
    );
    // Without eviction this grows by about 17 MiB per 1,500 chunks.
    assert!(growth_mib < 6.0, "RSS grew by {growth_mib:.1} MiB");
}
