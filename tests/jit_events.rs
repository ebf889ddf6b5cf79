//! The event hook: one event per thing the JIT does, for this test's
//! chunks (the hook is process-wide: one test function).
#![cfg(feature = "jit")]

mod common;
use common::traced::*;
use common::*;
use fusevm_llvm::JitCompiler;
use fusevm_llvm::jit::events::JitEvent;
use std::sync::{Arc, Mutex};

#[test]
fn the_event_hook_sees_traces_recorded_compiled_aborted_blacklisted_and_chunks_compiled() {
    let seen: Arc<Mutex<Vec<JitEvent>>> = Arc::default();
    let sink = Arc::clone(&seen);
    JitCompiler::set_event_hook(Some(Arc::new(move |e| {
        sink.lock().unwrap().push(e.clone())
    })));
    let mine = |chunk: &fusevm_llvm::Chunk| {
        let h = chunk.content_hash();
        seen.lock()
            .unwrap()
            .iter()
            .filter(|e| match e {
                JitEvent::BlockCompiled { chunk, .. }
                | JitEvent::BlockRefused { chunk, .. }
                | JitEvent::TraceStarted { chunk, .. }
                | JitEvent::TraceCompiled { chunk, .. }
                | JitEvent::TraceAborted { chunk, .. }
                | JitEvent::TraceBlacklisted { chunk, .. }
                | JitEvent::SideLinked { chunk, .. }
                | JitEvent::Evicted { chunk } => *chunk == h,
                _ => false,
            })
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
    };

    // A whole chunk compiles.
    let sum = example("sum");
    assert_block_agrees(&sum);
    let lines = mine(&sum);
    assert!(
        lines.iter().any(|l| l.contains("compiled whole in")),
        "{lines:?}"
    );

    // A printing loop traces: recording, then compiled, with its ops.
    pin(2, |_| {});
    JitCompiler::set_trace_op_dump(true);
    let chunk = asm("
        LoadInt 0
        SetSlot 0
head:   GetSlot 0
        LoadInt 100
        NumLt
        JumpIfFalse done
        GetSlot 0
        PrintLn 1
        PreIncSlotVoid 0
        Jump head
done:   GetSlot 0");
    agree_with(&chunk, &[]);
    JitCompiler::set_trace_op_dump(false);
    let lines = mine(&chunk);
    assert!(
        lines.iter().any(|l| l.ends_with("@2 recording")),
        "{lines:?}"
    );
    let compiled = lines
        .iter()
        .find(|l| l.contains("@2 compiled in"))
        .expect("compiled");
    assert!(
        compiled.contains("0 side paths linked, 1 exits"),
        "{compiled}"
    );
    assert!(
        compiled.contains("exit -> op 10 (leaves the loop)"),
        "{compiled}"
    );

    // A hot exit grows a side path, linked to the exit it continues.
    let branch = printing_example("branch");
    agree_with(&branch, &[]);
    let lines = mine(&branch);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("@4 recording a side path from exit 0.")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("@4: side path from op ") && l.ends_with("(chain 1)")),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("1 side paths linked")),
        "{lines:?}"
    );

    // A recording that is too long aborts, three times, then blacklists.
    pin(1, |c| c.max_trace_len = 3);
    let long = asm(&format!(
        "Nop\n{}",
        &std::fs::read_to_string(format!("{}/examples/sum.fasm", env!("CARGO_MANIFEST_DIR")))
            .unwrap()
    ));
    agree_with(&long, &[]);
    let lines = mine(&long);
    let aborts = lines
        .iter()
        .filter(|l| l.contains("aborted: longer than max_trace_len"))
        .count();
    assert_eq!(aborts, 3, "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("blacklisted: 3 failed attempts")),
        "{lines:?}"
    );

    // Eviction.
    JitCompiler::new().evict(&sum);
    assert!(mine(&sum).iter().any(|l| l.ends_with("evicted")));
    JitCompiler::set_event_hook(None);
}
