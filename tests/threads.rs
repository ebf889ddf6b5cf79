//! Many threads running VMs over shared and distinct chunks at once, with
//! the JIT (block tier on some threads, tracing on others: the
//! configuration is per thread; the code cache and trace registry are
//! shared), give exactly the single-threaded interpreter's results.

mod common;
use common::*;
use fusevm_llvm::{Chunk, JitCompiler, VMResult, Value};
use std::sync::Arc;

/// What a run leaves: result, slots, globals, printed text.
type Outcome = (VMResult, Vec<Value>, Vec<Value>, String);

fn outcome(chunk: &Chunk, presets: &[Value], jit: bool) -> Outcome {
    let (mut vm, out) = programs::vm_for(chunk, presets, jit);
    let r = vm.run();
    (r, vm.slots.clone(), vm.globals().to_vec(), out.contents())
}

fn same(a: &Outcome, b: &Outcome) -> bool {
    let list =
        |x: &[Value], y: &[Value]| x.len() == y.len() && x.iter().zip(y).all(|(p, q)| p.same_as(q));
    a.0.same_as(&b.0) && list(&a.1, &b.1) && list(&a.2, &b.2) && a.3 == b.3
}

#[test]
fn many_threads_over_shared_and_distinct_chunks_agree_with_one_interpreter() {
    // Shared: the same 60 programs on every thread; distinct: 40 per thread.
    let shared: Vec<(Chunk, Vec<Value>)> = (0..60)
        .map(|s| programs::program_with(s, s % 2 == 0, s % 3 == 0))
        .collect();
    let shared = Arc::new(shared);
    let threads = 8;
    let expected_shared: Arc<Vec<Outcome>> =
        Arc::new(shared.iter().map(|(c, p)| outcome(c, p, false)).collect());
    let handles: Vec<_> = (0..threads)
        .map(|t: u64| {
            let shared = Arc::clone(&shared);
            let expected_shared = Arc::clone(&expected_shared);
            std::thread::Builder::new()
                .stack_size(8 << 20)
                .spawn(move || {
                    // Per-thread configuration: half the threads compile
                    // whole chunks, half trace loops.
                    let mut cfg = JitCompiler::get_config();
                    if t % 2 == 0 {
                        cfg.block_threshold = 0;
                        cfg.trace_threshold = u32::MAX;
                    } else {
                        cfg.block_threshold = u32::MAX;
                        cfg.trace_threshold = 1;
                    }
                    JitCompiler::set_config(cfg);
                    let mut checked = 0;
                    for round in 0..2 {
                        for (i, (c, p)) in shared.iter().enumerate() {
                            let got = outcome(c, p, true);
                            assert!(
                                same(&got, &expected_shared[i]),
                                "thread {t} round {round} shared program {i}: {} vs {}",
                                got.0,
                                expected_shared[i].0
                            );
                            checked += 1;
                        }
                    }
                    for s in 0..40 {
                        let seed = 10_000 + t * 1000 + s;
                        let (c, p) = programs::program_with(seed, seed % 2 == 0, seed % 3 == 0);
                        let want = outcome(&c, &p, false);
                        let got = outcome(&c, &p, true);
                        assert!(
                            same(&got, &want),
                            "thread {t} seed {seed}: {} vs {}",
                            got.0,
                            want.0
                        );
                        checked += 1;
                    }
                    checked
                })
                .unwrap()
        })
        .collect();
    let total: usize = handles.into_iter().map(|h| h.join().expect("thread")).sum();
    assert_eq!(total, threads as usize * (2 * 60 + 40));
    let s = JitCompiler::stats();
    assert!(s.block_runs > 0 && s.trace_compiled > 0, "{s:?}");
}
