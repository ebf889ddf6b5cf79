//! fusevm's core API, as a port uses it: public chunk fields (and a content
//! hash that never goes stale when they are edited), frames that hold their
//! slots between runs, public globals, `request_halt`, ops that hash and
//! serialize, arrays read as slices, a running frame's slots by name.
#![cfg(feature = "jit")]

mod common;
use common::{assert_same, pin_block_tier};
use fusevm_llvm::{JitCompiler, Op, VM, VMResult, Value, assemble};

fn ok(r: VMResult) -> Value {
    match r {
        VMResult::Ok(v) => v,
        other => panic!("{other:?}"),
    }
}

// ── chunks: public fields, sealed derived state ──

#[test]
fn an_edited_chunk_runs_its_new_content_in_the_vm_and_the_block_tier() {
    pin_block_tier(true);
    let jit = JitCompiler::new();
    let mut chunk = assemble("GetSlot 0\nLoadInt 10\nMul\nLoadInt 1\nAdd").unwrap();
    let before = chunk.content_hash();
    assert_eq!(chunk.op_hash, before as u64, "the builder sets op_hash");
    assert_eq!(jit.try_run_block_eager(&chunk, &mut [4]), Some(41));
    // Edit the public field: the same chunk value, new content.
    chunk.ops[3] = Op::LoadInt(2);
    assert_ne!(chunk.content_hash(), before);
    assert_eq!(
        jit.try_run_block_eager(&chunk, &mut [4]),
        Some(42),
        "the block tier must not run the code compiled for the old content"
    );
    let mut vm = VM::new(chunk.clone());
    vm.set_slot(0, Value::Int(4));
    assert_same(&ok(vm.run()), &Value::Int(42));
    assert_eq!(vm.chunk().op_hash, chunk.content_hash() as u64);
}

#[test]
fn an_edited_sub_entry_is_the_one_a_call_enters() {
    let mut chunk = assemble(
        "
        Call f 0
        Jump end
sub f:  LoadInt 1
        ReturnValue
g:      LoadInt 2
        ReturnValue
end:    Nop",
    )
    .unwrap();
    assert_same(&ok(VM::new(chunk.clone()).run()), &Value::Int(1));
    chunk.sub_entries[0].1 = 4; // `f` now starts at `g`
    assert_eq!(chunk.find_sub(chunk.sub_entries[0].0), Some(4));
    assert_same(&ok(VM::new(chunk.clone()).run()), &Value::Int(2));
    // The same through a shared chunk and a pooled VM.
    let shared = std::sync::Arc::new(chunk);
    assert_same(&ok(VM::with_shared_chunk(shared).run()), &Value::Int(2));
}

#[test]
fn builder_records_a_frontends_own_data_outside_the_ops() {
    let mut b = fusevm_llvm::ChunkBuilder::new();
    b.emit(Op::LoadInt(1), 1);
    assert_eq!(b.add_block_range(0, 1), 0);
    assert_eq!(b.add_block_range(1, 1), 1);
    b.set_source("main.src");
    b.set_sub_slot_names(0, vec!["x".into()]);
    let inner = fusevm_llvm::ChunkBuilder::new().build();
    assert_eq!(b.add_sub_chunk(inner), 0);
    let c = b.build();
    assert_eq!(c.block_ranges, vec![(0, 1), (1, 1)]);
    assert_eq!(c.source, "main.src");
    assert_eq!(c.sub_slot_names_at(0), ["x".to_string()]);
    assert_eq!(c.sub_chunks.len(), 1);
    // Debug data does not change the identity; block ranges do.
    let mut d = c.clone();
    d.source = "other".into();
    d.lines[0] = 99;
    assert_eq!(d.content_hash(), c.content_hash());
    d.block_ranges.pop();
    assert_ne!(d.content_hash(), c.content_hash());
    assert_eq!(fusevm_llvm::Chunk::default().op_hash, 0, "as in fusevm");
    // Round trip, frontend data included.
    let back: fusevm_llvm::Chunk =
        serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
    assert_eq!(back.block_ranges, c.block_ranges);
    assert_eq!(back.source, c.source);
    assert_eq!(back.content_hash(), c.content_hash());
}

// ── frames hold their slots between runs ──

#[test]
fn a_host_seeds_and_reads_slots_through_the_frames() {
    for jit in [false, true] {
        pin_block_tier(jit);
        let chunk = assemble("GetSlot 0\nGetSlot 1\nAdd\nSetSlot 2\nGetSlot 2").unwrap();
        let mut vm = VM::new(chunk.clone());
        if jit {
            vm.enable_tracing_jit();
        }
        vm.frames[0].slots = vec![Value::Int(3), Value::Int(4)];
        let runs = JitCompiler::new().block_run_count(&chunk);
        assert_same(&ok(vm.run()), &Value::Int(7));
        assert_eq!(
            JitCompiler::new().block_run_count(&chunk) > runs,
            jit,
            "the block tier ran exactly when pinned on"
        );
        assert_eq!(vm.frames[0].slots.len(), 3);
        assert_same(&vm.frames[0].slots[2], &Value::Int(7));
        assert_same(&vm.get_slot(2), &Value::Int(7));
        vm.set_slot(5, Value::Int(1));
        assert_eq!(vm.frames[0].slots.len(), 6, "set_slot grows the frame");
    }
}

#[test]
fn a_run_that_fails_inside_a_call_leaves_each_frame_its_own_slots() {
    let chunk = assemble(
        "
        LoadInt 9
        SetSlot 0
        Call f 0
sub f:  LoadInt 5
        SetSlot 0
        Pop",
    )
    .unwrap();
    let mut vm = VM::new(chunk);
    assert!(matches!(vm.run(), VMResult::Error(_)));
    assert_eq!(vm.frames.len(), 2);
    assert_eq!(vm.frames[0].slots, vec![Value::Int(9)]);
    assert_eq!(vm.frames[1].slots, vec![Value::Int(5)]);
    // The current frame's.
    assert_same(&vm.get_slot(0), &Value::Int(5));
}

// ── globals ──

#[test]
fn public_globals_are_seeded_by_the_host_and_grown_back_before_a_run() {
    let chunk = assemble("GetVar g\nLoadInt 1\nAdd\nSetVar g\nGetVar g").unwrap();
    let mut vm = VM::new(chunk.clone());
    vm.globals[0] = Value::Int(41);
    assert_same(&ok(vm.run()), &Value::Int(42));
    assert_same(&vm.globals[0], &Value::Int(42));
    let fresh = ok(VM::new(chunk.clone()).run());
    let mut vm = VM::new(chunk);
    vm.globals.clear(); // what the ops index must be there again
    assert_same(&ok(vm.run()), &fresh);
    assert_eq!(vm.globals.len(), 1);
}

// ── request_halt ──

fn halting_builtin(vm: &mut VM, _argc: u8) -> Value {
    vm.request_halt();
    Value::Int(7)
}

#[test]
fn a_builtin_that_requests_a_halt_ends_the_run_after_its_op() {
    let chunk = assemble("LoadInt 1\nCallBuiltin 0 0\nLoadInt 2").unwrap();
    let mut vm = VM::new(chunk.clone());
    vm.register_builtin(0, halting_builtin);
    assert_same(&ok(vm.run()), &Value::Int(7));
    assert_eq!(vm.ip, 2, "stopped right after the builtin");
    // The request stands until withdrawn; then the run resumes after the
    // builtin.
    assert_same(&ok(vm.run()), &Value::Int(7));
    vm.clear_halt();
    assert_same(&ok(vm.run()), &Value::Int(2));

    let mut vm = VM::new(chunk);
    vm.request_halt();
    assert!(matches!(vm.run(), VMResult::Halted), "halted before any op");
}

#[test]
fn a_run_halted_inside_a_call_resumes_with_every_frames_slots() {
    // main: slot 0 = 10; r = f(); return r + slot 0
    // f:    slot 0 = 5; halt (builtin); return slot 0 * 2
    let chunk = assemble(
        "
        LoadInt 10
        SetSlot 0
        Call f 0
        GetSlot 0
        Add
        Jump end
sub f:  LoadInt 5
        SetSlot 0
        CallBuiltin 0 0
        Pop
        GetSlot 0
        LoadInt 2
        Mul
        ReturnValue
end:    Nop",
    )
    .unwrap();
    let mut vm = VM::new(chunk);
    vm.register_builtin(0, halting_builtin);
    assert_same(&ok(vm.run()), &Value::Int(7));
    assert_eq!(vm.frames.len(), 2, "halted inside the call");
    assert_eq!(vm.frames[0].slots, vec![Value::Int(10)]);
    assert_eq!(vm.frames[1].slots, vec![Value::Int(5)]);
    vm.frames[1].slots[0] = Value::Int(6); // a host may change them
    vm.clear_halt();
    assert_same(&ok(vm.run()), &Value::Int(22));
    assert_eq!(vm.frames.len(), 1);
}

// ── ops: hash and serde ──

#[test]
fn ops_hash_consistently_with_equality_and_round_trip_through_serde() {
    use std::hash::{BuildHasher, RandomState};
    let h = RandomState::new();
    assert_eq!(Op::LoadFloat(0.0), Op::LoadFloat(-0.0));
    assert_eq!(
        h.hash_one(Op::LoadFloat(0.0)),
        h.hash_one(Op::LoadFloat(-0.0))
    );
    assert_ne!(h.hash_one(Op::LoadInt(1)), h.hash_one(Op::LoadInt(2)));
    assert_ne!(h.hash_one(Op::GetSlot(1)), h.hash_one(Op::SetSlot(1)));
    let ops: Vec<Op> = assemble(
        "top: LoadFloat -0.0\nLoadInt -5\nSlotLtIntJumpIfFalse 1 100 top\nCallBuiltin 3 2\nMapBlock 4",
    )
    .unwrap()
    .ops;
    let json = serde_json::to_string(&ops).unwrap();
    assert!(json.contains(r#"{"LoadInt":-5}"#), "{json}");
    let back: Vec<Op> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, ops);
    assert!(matches!(back[0], Op::LoadFloat(x) if x.is_sign_negative()));
}

// ── arrays read as slices ──

#[test]
fn an_unboxed_array_reads_as_a_slice_shared_by_its_clones() {
    let v = Value::array(vec![Value::Int(1), Value::Int(2)]);
    let copy = v.clone();
    let a = v.as_array().unwrap();
    assert_eq!(a[1], Value::Int(2));
    assert_eq!(a.iter().map(Value::to_int).sum::<i64>(), 3);
    assert_eq!(a.as_ptr(), copy.as_array().unwrap().as_ptr(), "one view");
    let ptr = a.as_ptr();
    drop(copy);
    let owned = v.into_array().unwrap();
    assert_eq!(owned.as_ptr(), ptr, "the sole owner hands its view over");
    assert_eq!(owned, vec![Value::Int(1), Value::Int(2)]);
}

// ── frames: slot names ──

/// What a probe saw: depth, `n`'s slot, this frame's and the caller's `n`,
/// and the root frame's names.
type Probe = (usize, Option<u16>, Value, Value, usize);

fn probe(vm: &VM) -> Probe {
    let depth = vm.frames.len();
    let slot = vm.frame_slot_of("n");
    let s = slot.unwrap_or(u16::MAX);
    (
        depth,
        slot,
        vm.slot_at(0, s),
        vm.slot_at(1, s),
        vm.slot_names_at(depth - 1).len(),
    )
}

/// `chunk` with the slot names of subroutine `f` recorded.
fn named(src: &str) -> fusevm_llvm::Chunk {
    let mut chunk = assemble(src).unwrap();
    let f = chunk.name_index("f").unwrap();
    let entry = chunk.sub_entry(f).unwrap();
    chunk.sub_slot_names = vec![(entry, vec!["n".into(), "tmp".into()])];
    chunk
}

#[test]
fn each_activation_of_a_recursive_subroutine_names_its_own_slots() {
    let chunk = named(
        "
        LoadInt 2
        Call f 1
        Jump end
sub f:  SetSlot 0
        Extended 0 0
        GetSlot 0
        LoadInt 0
        NumGt
        JumpIfFalse base
        GetSlot 0
        LoadInt 1
        Sub
        Call f 1
        Pop
base:   GetSlot 0
        ReturnValue
end:    Nop",
    );
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let mut vm = VM::new(chunk);
    vm.set_extension_handler(Box::new(move |vm, _, _| {
        log.lock().unwrap().push(probe(vm));
    }));
    assert_same(&ok(vm.run()), &Value::Int(2));
    let (i, u) = (Value::Int, Value::Undef);
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            (2, Some(0), i(2), u, 0), // the caller is the root: no `n` there
            (3, Some(0), i(1), i(2), 0),
            (4, Some(0), i(0), i(1), 0),
        ]
    );
    // Between runs only the root frame is left: it entered no subroutine.
    assert_eq!(vm.frame_slot_of("n"), None);
    assert!(vm.frame_slot_names().is_empty());
    assert_eq!(vm.slot_at(5, 0), Value::Undef, "no such frame");
}

static TRACED_PROBES: std::sync::Mutex<Vec<Probe>> = std::sync::Mutex::new(Vec::new());

fn probing_builtin(vm: &mut VM, _argc: u8) -> Value {
    TRACED_PROBES.lock().unwrap().push(probe(vm));
    Value::Int(0)
}

#[test]
fn frames_rebuilt_at_an_exit_inside_an_inlined_call_keep_their_slot_names() {
    // A traced loop calls `f`, inlined in the trace; on the last trip `f`
    // calls a builtin, which traces don't run: the trace exits inside the
    // inlined call, rebuilds `f`'s frame, and the builtin finds `n` there.
    let chunk = named(
        "
        LoadInt 0
        SetSlot 0
head:   GetSlot 0
        LoadInt 300
        NumLt
        JumpIfFalse done
        GetSlot 0
        Call f 1
        Pop
        PreIncSlotVoid 0
        Jump head
done:   GetSlot 0
        Jump end
sub f:  SetSlot 0
        GetSlot 0
        LoadInt 299
        NumEq
        JumpIfFalse skip
        CallBuiltin 0 0
        Pop
skip:   GetSlot 0
        ReturnValue
end:    Nop",
    );
    let mut cfg = JitCompiler::new().get_config();
    cfg.block_threshold = u32::MAX;
    cfg.trace_threshold = 2;
    cfg.background_compile = false;
    JitCompiler::new().set_config(cfg);
    let mut vm = VM::new(chunk.clone());
    vm.register_builtin(0, probing_builtin);
    vm.enable_tracing_jit();
    assert_same(&ok(vm.run()), &Value::Int(300));
    let jit = JitCompiler::new();
    assert!(jit.trace_is_compiled(&chunk, 2));
    assert!(jit.trace_callee_exit_count(&chunk, 2) >= 1, "left inside f");
    assert_eq!(
        *TRACED_PROBES.lock().unwrap(),
        // The root's slot 0 is the loop counter, 299 too.
        vec![(2, Some(0), Value::Int(299), Value::Int(299), 0)]
    );
}
