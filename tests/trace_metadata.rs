//! Trace metadata: exported traces (main path and side paths) survive a
//! trip through JSON and are compiled again on import, in a fresh thread,
//! with their identity; metadata of another chunk or format is refused.
#![cfg(feature = "jit")]

mod common;
use common::traced::*;
use common::*;
use fusevm_llvm::{JitCompiler, TraceMetadata, Value};

#[test]
fn exported_traces_with_side_paths_import_into_a_fresh_thread() {
    pin(2, |_| {});
    let chunk = printing_example("branch");
    let (r, _, _) = agree_with(&chunk, &[]);
    assert_same(&value(r), &Value::Int(kernels::branch(3_000_000)));
    let jit = JitCompiler::new();
    let metas = jit.trace_export_all(&chunk);
    assert_eq!(metas.len(), 1, "{metas:?}");
    assert_eq!(metas[0].anchor, 4);
    assert!(
        !metas[0].side_paths.is_empty(),
        "the hot exit grew a side path"
    );
    let json = serde_json::to_string(&metas).unwrap();

    // Forget everything, then import on a thread that never records.
    assert!(jit.evict(&chunk));
    assert!(!jit.trace_is_compiled(&chunk, 4));
    let chunk2 = chunk.clone();
    std::thread::spawn(move || {
        pin(u32::MAX, |_| {});
        let jit = JitCompiler::new();
        let metas: Vec<TraceMetadata> = serde_json::from_str(&json).unwrap();
        assert_eq!(jit.trace_import_all(&chunk2, &metas), Ok(1));
        assert!(jit.trace_is_compiled(&chunk2, 4));
        // Same identity: exporting again gives the same metadata.
        assert_eq!(jit.trace_export_all(&chunk2), metas);
        let before = JitCompiler::stats().trace_recorded;
        let (r, _, _) = agree_with(&chunk2, &[]);
        assert_same(&value(r), &Value::Int(kernels::branch(3_000_000)));
        assert_eq!(
            JitCompiler::stats().trace_recorded,
            before,
            "nothing recorded"
        );
        assert!(
            jit.trace_deopt_count(&chunk2, 4) > 0,
            "the imported trace ran"
        );
        // The side path is in: the exits it absorbs are not taken.
        let exits = jit.trace_side_exit_count(&chunk2, 4);
        assert!(exits < 5, "{exits} side exits");
    })
    .join()
    .unwrap();
}

#[test]
fn metadata_of_another_chunk_or_format_or_path_is_refused() {
    pin(2, |_| {});
    let chunk = asm("
        LoadInt 0
        SetSlot 0
head:   GetSlot 0
        LoadInt 50
        NumLt
        JumpIfFalse done
        GetSlot 0
        PrintLn 1
        PreIncSlotVoid 0
        Jump head
done:   GetSlot 0");
    agree_with(&chunk, &[]);
    let jit = JitCompiler::new();
    let meta = jit.trace_export(&chunk, 2).pop().expect("a trace");
    let other = asm("
        LoadInt 7
        SetSlot 0
head:   GetSlot 0
        LoadInt 50
        NumLt
        JumpIfFalse done
        GetSlot 0
        PrintLn 1
        PreIncSlotVoid 0
        Jump head
done:   GetSlot 0");
    let why = jit.trace_import(&other, &meta).unwrap_err();
    assert!(why.contains("does not fit chunk"), "{why}");
    let mut newer = meta.clone();
    newer.format += 1;
    let why = jit.trace_import(&chunk, &newer).unwrap_err();
    assert!(why.contains("format"), "{why}");
    let mut broken = meta.clone();
    broken.path[3].ip = 9;
    let why = jit.trace_import(&chunk, &broken).unwrap_err();
    assert!(why.contains("does not follow the path"), "{why}");
    let mut open = meta.clone();
    open.path.pop();
    let why = jit.trace_import(&chunk, &open).unwrap_err();
    assert!(why.contains("does not close"), "{why}");
    assert_eq!(jit.trace_import(&chunk, &meta), Ok(()));
}
