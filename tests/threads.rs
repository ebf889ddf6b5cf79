//! Many threads running VMs over shared and distinct chunks at once, with
//! the JIT (block tier on some threads, tracing on others: the
//! configuration is per thread; the code cache and trace registry are
//! shared), give exactly the single-threaded interpreter's results.
#![cfg(feature = "jit")]

mod common;
use common::outcome::Outcome;
use common::*;
use fusevm_llvm::{Chunk, JitCompiler, Value};
use std::sync::Arc;

#[test]
fn many_threads_over_shared_and_distinct_chunks_agree_with_one_interpreter() {
    // Shared: the same 60 programs on every thread; distinct: 40 per thread.
    let shared: Vec<(Chunk, Vec<Value>)> = (0..60)
        .map(|s| programs::program_with(s, s % 2 == 0, s % 3 == 0))
        .collect();
    let shared = Arc::new(shared);
    let threads = 8;
    let expected_shared: Arc<Vec<Outcome>> = Arc::new(
        shared
            .iter()
            .map(|(c, p)| Outcome::of(c, p, false, None))
            .collect(),
    );
    let handles: Vec<_> = (0..threads)
        .map(|t: u64| {
            let shared = Arc::clone(&shared);
            let expected_shared = Arc::clone(&expected_shared);
            std::thread::Builder::new()
                .stack_size(8 << 20)
                .spawn(move || {
                    // Per-thread configuration: half the threads compile
                    // whole chunks, half trace loops.
                    let mut cfg = JitCompiler::new().get_config();
                    if t % 2 == 0 {
                        cfg.block_threshold = 0;
                        cfg.trace_threshold = u32::MAX;
                    } else {
                        cfg.block_threshold = u32::MAX;
                        cfg.trace_threshold = 1;
                    }
                    JitCompiler::new().set_config(cfg);
                    let mut checked = 0;
                    for round in 0..2 {
                        for (i, (c, p)) in shared.iter().enumerate() {
                            let got = Outcome::of(c, p, true, None);
                            if let Some(d) = got.differs(&expected_shared[i]) {
                                panic!("thread {t} round {round} shared program {i}: {d}");
                            }
                            checked += 1;
                        }
                    }
                    for s in 0..40 {
                        let seed = 10_000 + t * 1000 + s;
                        let (c, p) = programs::program_with(seed, seed % 2 == 0, seed % 3 == 0);
                        let want = Outcome::of(&c, &p, false, None);
                        let got = Outcome::of(&c, &p, true, None);
                        if let Some(d) = got.differs(&want) {
                            panic!("thread {t} seed {seed}: {d}");
                        }
                        checked += 1;
                    }
                    checked
                })
                .unwrap()
        })
        .collect();
    let total: usize = handles.into_iter().map(|h| h.join().expect("thread")).sum();
    assert_eq!(total, threads as usize * (2 * 60 + 40));
    // The tracing half compiled in the background (the default): let the
    // queue drain before counting.
    JitCompiler::wait_for_compiles();
    let s = JitCompiler::stats();
    assert!(s.block_runs > 0 && s.trace_compiled > 0, "{s:?}");
}
