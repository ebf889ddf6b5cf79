//! Trace metadata: exported traces (main path and side paths) survive a
//! trip through JSON and are compiled again on import, in a fresh thread,
//! with their identity; metadata of another chunk or format is refused.
//! fusevm's form works too: a trace installed from its ops and ips, and
//! metadata carrying only fusevm's fields. The importing threads never
//! record (threshold `u32::MAX`), so a trace that runs there came in.
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
    assert_eq!(metas[0].anchor_ip, 4);
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
        assert_eq!(jit.trace_import_all(&chunk2, &metas), 1);
        assert!(jit.trace_is_compiled(&chunk2, 4));
        // Same identity: exporting again gives the same metadata.
        assert_eq!(jit.trace_export_all(&chunk2), metas);
        // (This thread never records: its threshold is u32::MAX.)
        let (r, _, _) = agree_with(&chunk2, &[]);
        assert_same(&value(r), &Value::Int(kernels::branch(3_000_000)));
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
    let meta = jit.trace_export(&chunk, 2).expect("a trace");
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
    let why = jit.trace_import_checked(&other, &meta).unwrap_err();
    assert!(why.contains("does not fit chunk"), "{why}");
    let mut newer = meta.clone();
    newer.format += 1;
    let why = jit.trace_import_checked(&chunk, &newer).unwrap_err();
    assert!(why.contains("format"), "{why}");
    let mut broken = meta.clone();
    broken.path[3].ip = 9;
    broken.recorded_ips.clear(); // the path alone says where it goes
    broken.ops.clear();
    let why = jit.trace_import_checked(&chunk, &broken).unwrap_err();
    assert!(why.contains("does not follow the path"), "{why}");
    let mut open = meta.clone();
    open.path.pop();
    open.recorded_ips.clear();
    open.ops.clear();
    let why = jit.trace_import_checked(&chunk, &open).unwrap_err();
    assert!(why.contains("does not close"), "{why}");
    assert_eq!(jit.trace_import_checked(&chunk, &meta), Ok(()));
}

/// A plain top-tested loop as a simple frontend emits it (`limit` makes
/// each test's chunk its own).
fn plain_sum(limit: i64) -> fusevm_llvm::Chunk {
    asm(&format!(
        "
        LoadInt 0
        SetSlot 0
        LoadInt 0
        SetSlot 1
head:   GetSlot 0
        LoadInt {limit}
        NumLt
        JumpIfFalse done
        GetSlot 1
        GetSlot 0
        Add
        SetSlot 1
        GetSlot 0
        LoadInt 1
        Add
        SetSlot 0
        Jump head
done:   GetSlot 1"
    ))
}

/// Records the trace of `chunk`'s loop at op 4, exports it and forgets it.
fn recorded_and_forgotten(chunk: &fusevm_llvm::Chunk) -> TraceMetadata {
    pin(2, |_| {});
    agree_with(chunk, &[]);
    let jit = JitCompiler::new();
    let meta = jit
        .trace_export(chunk, 4)
        .expect("a trace at the loop header");
    assert!(jit.evict(chunk));
    assert!(jit.trace_export(chunk, 4).is_none());
    meta
}

#[test]
fn exported_metadata_lists_the_main_paths_ops_ips_and_kinds_in_fusevms_shape() {
    let chunk = plain_sum(1_001);
    let meta = recorded_and_forgotten(&chunk);
    assert_eq!(meta.chunk_op_hash, chunk.op_hash);
    assert_eq!(meta.anchor_ip, 4);
    // One iteration: ops 4..=16, the back-edge `Jump head` last.
    assert_eq!(meta.recorded_ips, (4..=16).collect::<Vec<_>>());
    let expected: Vec<_> = meta.recorded_ips.iter().map(|&ip| chunk.ops[ip]).collect();
    assert_eq!(meta.ops, expected);
    assert_eq!(meta.fallthrough_ip, 17, "the op after the back-edge");
    assert_eq!(
        meta.slot_kinds_at_anchor,
        vec![fusevm_llvm::SlotKind::Int, fusevm_llvm::SlotKind::Int]
    );
    assert!(meta.global_kinds_at_anchor.is_empty());
    assert_eq!(meta.slot_tags, vec![2, 2], "exact kinds: Int, Int");
}

#[test]
fn a_trace_entered_with_a_non_numeric_slot_lists_its_exact_kinds_only() {
    // Slot 2 holds a string at the loop header: fusevm's kinds (Int,
    // Float) can't say so, the native tags can, and they are what an
    // import keys the trace by.
    let chunk = asm("
        LoadInt 0
        SetSlot 0
        LoadConst \"x\"
        SetSlot 2
head:   GetSlot 0
        LoadInt 1004
        NumLt
        JumpIfFalse done
        PreIncSlotVoid 0
        Jump head
done:   GetSlot 0");
    pin(2, |_| {});
    agree_with(&chunk, &[]);
    let jit = JitCompiler::new();
    let meta = jit.trace_export(&chunk, 4).expect("a trace");
    assert!(meta.slot_kinds_at_anchor.is_empty());
    assert_eq!(meta.slot_tags, vec![2, 0, 4], "Int, Undef, boxed");
    assert!(jit.evict(&chunk));
    assert!(jit.trace_import(&chunk, &meta));
    assert_eq!(jit.trace_exports_at(&chunk, 4), vec![meta]);
}

#[test]
fn a_trace_installed_from_its_ops_and_ips_runs_the_loop_without_recording() {
    let chunk = plain_sum(1_002);
    let meta = recorded_and_forgotten(&chunk);
    std::thread::spawn(move || {
        pin(u32::MAX, |_| {});
        let jit = JitCompiler::new();
        assert!(jit.is_trace_eligible(&meta.ops, meta.anchor_ip));
        assert!(jit.trace_install(
            &chunk,
            meta.anchor_ip,
            meta.fallthrough_ip,
            &meta.ops,
            &meta.recorded_ips,
            &meta.slot_kinds_at_anchor,
            &meta.global_kinds_at_anchor,
            &[],
        ));
        assert!(jit.trace_is_compiled(&chunk, 4));
        assert_eq!(jit.trace_loop_anchors(&chunk, 4), Some((4, 17)));
        let (r, _, _) = agree_with(&chunk, &[]);
        assert_same(&value(r), &Value::Int((0..1_002).sum()));
        assert!(
            jit.trace_deopt_count(&chunk, 4) > 0,
            "the installed trace ran"
        );
        // A side trace keyed away from its loop header is not a shape
        // this tier installs.
        assert!(!jit.trace_install_with_kind(
            &chunk,
            1_000,
            meta.anchor_ip,
            meta.fallthrough_ip,
            &meta.ops,
            &meta.recorded_ips,
            &meta.slot_kinds_at_anchor,
            &meta.global_kinds_at_anchor,
            &[],
        ));
    })
    .join()
    .unwrap();
}

#[test]
fn metadata_with_only_fusevms_fields_imports_and_wrong_ops_are_refused() {
    let chunk = plain_sum(1_003);
    let meta = recorded_and_forgotten(&chunk);
    // What fusevm writes: no path, format or side paths.
    let mut json = serde_json::to_value(&meta).unwrap();
    for ours in ["path", "side_paths", "format", "step_budget"] {
        json.as_object_mut().unwrap().remove(ours);
    }
    let bare: TraceMetadata = serde_json::from_value(json).unwrap();
    assert!(bare.path.is_empty());
    std::thread::spawn(move || {
        pin(u32::MAX, |_| {});
        let jit = JitCompiler::new();
        let mut wrong = bare.clone();
        wrong.ops[2] = fusevm_llvm::Op::NumGt;
        let why = jit.trace_import_checked(&chunk, &wrong).unwrap_err();
        assert!(why.contains("is not the chunk's op 6"), "{why}");
        let mut short = bare.clone();
        short.recorded_ips.pop();
        assert!(!jit.trace_import(&chunk, &short));
        let mut stale = bare.clone();
        stale.chunk_op_hash ^= 1;
        assert!(!jit.trace_import(&chunk, &stale));
        assert!(!jit.trace_is_compiled(&chunk, 4));
        assert_eq!(jit.trace_import_all(&chunk, &[stale, bare.clone()]), 1);
        assert!(jit.trace_is_compiled(&chunk, 4));
        let (r, _, _) = agree_with(&chunk, &[]);
        assert_same(&value(r), &Value::Int((0..1_003).sum()));
        assert!(
            jit.trace_deopt_count(&chunk, 4) > 0,
            "the imported trace ran"
        );
    })
    .join()
    .unwrap();
}

#[test]
fn is_trace_eligible_wants_one_close_at_the_anchor_and_balanced_calls() {
    use fusevm_llvm::Op::*;
    let jit = JitCompiler::new();
    let body = [GetSlot(0), LoadInt(1), Add, SetSlot(0)];
    let closed = [&body[..], &[Jump(3)]].concat();
    assert!(jit.is_trace_eligible(&closed, 3));
    assert!(!jit.is_trace_eligible(&closed, 2), "closes elsewhere");
    assert!(!jit.is_trace_eligible(&body, 3), "never closes");
    assert!(!jit.is_trace_eligible(&[], 3));
    let twice = [&[JumpIfTrue(3)][..], &closed].concat();
    assert!(!jit.is_trace_eligible(&twice, 3), "closes before its end");
    let called = [
        &[Call(0, 0), GetSlot(0), JumpIfTrue(3), ReturnValue][..],
        &closed,
    ]
    .concat();
    assert!(
        jit.is_trace_eligible(&called, 3),
        "a branch inside a call is not a close"
    );
    let unreturned = [&[Call(0, 0)][..], &closed].concat();
    assert!(!jit.is_trace_eligible(&unreturned, 3));
    let returns = [&[ReturnValue][..], &closed].concat();
    assert!(
        !jit.is_trace_eligible(&returns, 3),
        "returns from the anchor's frame"
    );
    let unsupported = [&[CallBuiltin(0, 0)][..], &closed].concat();
    assert!(!jit.is_trace_eligible(&unsupported, 3));
}
