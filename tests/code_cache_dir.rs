//! The persistent code cache: a second process links stored objects and
//! runs no LLVM; every bad file on disk is rejected with its reason and
//! replaced, never linked; a directory that can't be written only costs
//! the storing.
//!
//! The cache directory and the event hook are process-wide, so the
//! in-process tests take one lock; the cross-process tests run the CLI.
#![cfg(feature = "jit")]

mod common;
use fusevm_llvm::jit::events::JitEvent;
use fusevm_llvm::jit::persist::{self, CacheRecord};
use fusevm_llvm::{Chunk, JitCompiler, TraceJitConfig, VM, VMResult, Value, assemble};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex, MutexGuard};

static LOCK: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// A fresh, empty directory of this test's own.
fn fresh_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fusevm-cache-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `fusevm-llvm run --stats --jit-verbose FILE` with the cache in `dir`.
fn run_cli(dir: &Path, file: &Path) -> Output {
    run_cli_with(dir, file, &[])
}

/// [`run_cli`] with more flags.
fn run_cli_with(dir: &Path, file: &Path, flags: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_fusevm-llvm"))
        .arg("run")
        .args(["--stats", "--jit-verbose", "--time"])
        .args(flags)
        .arg(file)
        .env_remove("FUSEVM_JIT_BLOCK_THRESHOLD")
        .env_remove("FUSEVM_JIT_TRACE_THRESHOLD")
        .env_remove("FUSEVM_JIT_LOG")
        .env(persist::DIR_ENV, dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the binary runs");
    assert!(out.status.success(), "{}", text(&out.stderr));
    out
}

/// The number after `label` in `stderr` (`hits 3`).
fn stat(stderr: &str, label: &str) -> u64 {
    let at = stderr
        .find(label)
        .unwrap_or_else(|| panic!("no `{label}` in:\n{stderr}"));
    number(
        stderr[at + label.len()..]
            .trim_start()
            .split(|c: char| !c.is_ascii_digit())
            .next(),
    )
    .unwrap_or_else(|| panic!("no number after `{label}` in:\n{stderr}"))
}

/// The number before `label` on the line of `stderr` starting with
/// `line` (`jit: traces: 3 recorded`).
fn count(stderr: &str, line: &str, label: &str) -> u64 {
    let l = stderr
        .lines()
        .find(|l| l.starts_with(line))
        .unwrap_or_else(|| panic!("no `{line}` in:\n{stderr}"));
    let at = l
        .find(label)
        .unwrap_or_else(|| panic!("no `{label}` in:\n{l}"));
    number(
        l[..at]
            .trim_end()
            .rsplit(|c: char| !c.is_ascii_digit())
            .next(),
    )
    .unwrap_or_else(|| panic!("no number before `{label}` in:\n{l}"))
}

fn number(s: Option<&str>) -> Option<u64> {
    s.and_then(|n| n.parse().ok())
}

/// Runs `file` in two processes sharing a fresh cache directory: the first
/// compiles and stores every unit, the second links every unit and runs no
/// LLVM, with the same output. Returns both runs' standard error.
fn second_process_runs_no_llvm(name: &str, file: &Path) -> (String, String) {
    let (e1, e2, dir) = two_processes(name, file);
    let _ = std::fs::remove_dir_all(&dir);
    (e1, e2)
}

/// [`second_process_runs_no_llvm`], keeping the directory.
fn two_processes(name: &str, file: &Path) -> (String, String, PathBuf) {
    let dir = fresh_dir(name);
    let first = run_cli(&dir, file);
    let second = run_cli(&dir, file);
    let (e1, e2) = (text(&first.stderr), text(&second.stderr));
    assert_eq!(text(&first.stdout), text(&second.stdout), "same output");
    let units = stat(&e1, "LLVM compilations:");
    assert!(units > 0, "{e1}");
    assert!(stat(&e1, "stored") >= units, "{e1}");
    assert_eq!(stat(&e1, "hits"), 0, "{e1}");
    assert_eq!(stat(&e2, "LLVM compilations:"), 0, "{e2}");
    // Every unit it runs is linked (a trace only in its final form).
    let hits = stat(&e2, "hits");
    assert!((1..=units).contains(&hits), "{e2}");
    assert_eq!(stat(&e2, "misses"), 0, "{e2}");
    assert!(e2.contains("[jit] cache hit"), "{e2}");
    (e1, e2, dir)
}

fn write_program(name: &str, src: &str) -> PathBuf {
    let d = fresh_dir(&format!("prog-{name}"));
    let f = d.join(format!("{name}.fasm"));
    std::fs::write(&f, src).unwrap();
    f
}

#[test]
fn a_second_process_links_a_block_tier_chunk_and_runs_no_llvm() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/mandelbrot.fasm");
    let (e1, e2) = second_process_runs_no_llvm("block", &file);
    assert!(e1.contains("compiled whole"), "{e1}");
    assert!(
        e2.contains("block tier, code from the code cache (linked in"),
        "{e2}"
    );
}

/// A loop whose `i % 3` branch makes exits, then side paths; it prints, so
/// the block tier refuses the chunk and the tracing tier serves it.
const BRANCHY: &str = "
        LoadInt 0
        SetSlot 0
        LoadInt 0
        SetSlot 1
head:   GetSlot 0
        LoadInt 30000
        NumLt
        JumpIfFalse done
        GetSlot 0
        LoadInt 3
        Mod
        LoadInt 0
        NumEq
        JumpIfFalse other
        GetSlot 1
        LoadInt 7
        Add
        SetSlot 1
        Jump next
other:  GetSlot 1
        LoadInt 1
        Sub
        SetSlot 1
next:   GetSlot 0
        LoadInt 1
        Add
        SetSlot 0
        Jump head
done:   LoadConst \"acc \"
        GetSlot 1
        PrintLn 2
        GetSlot 1
";

#[test]
fn a_second_process_links_a_trace_with_side_paths_and_runs_no_llvm() {
    let file = write_program("branchy", BRANCHY);
    let (e1, e2, dir) = two_processes("trace", &file);
    assert!(
        e1.contains("side path from op"),
        "a side path is linked: {e1}"
    );
    let compiled = count(&e1, "jit: traces:", "compiled,");
    assert!(compiled >= 2, "main path, then with side paths: {e1}");
    // The second process imports the stored trace (side path included) at
    // the loop's first back-edge: nothing recorded, no exit to grow from.
    assert!(e2.contains("stays interpreted"), "{e2}");
    assert_eq!(count(&e2, "jit: traces:", "recorded,"), 0, "{e2}");
    assert!(e2.contains("(1 side paths linked"), "{e2}");
    assert_eq!(count(&e2, "jit: traces:", "side exits"), 0, "{e2}");

    // A spoilt traces record is rejected: the loop records and links again.
    let traces = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            std::fs::read(p)
                .ok()
                .and_then(|b| CacheRecord::decode(&b).ok())
                .is_some_and(|r| r.entry == "traces")
        })
        .expect("a traces record");
    let mut bytes = std::fs::read(&traces).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    std::fs::write(&traces, bytes).unwrap();
    let third = run_cli(&dir, &file);
    let e3 = text(&third.stderr);
    assert_eq!(text(&third.stdout), text(&run_cli(&dir, &file).stdout));
    assert!(
        e3.contains("cache rejected") && e3.contains("checksum mismatch"),
        "{e3}"
    );
    assert!(count(&e3, "jit: traces:", "recorded,") > 0, "{e3}");
    assert_eq!(
        stat(&e3, "LLVM compilations:"),
        0,
        "its units are still on disk: {e3}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_second_process_links_a_hot_subroutine_and_runs_no_llvm() {
    let file = write_program("fib", &common::printing_fib(24));
    let (e1, e2) = second_process_runs_no_llvm("hot-call", &file);
    for e in [&e1, &e2] {
        assert!(e.contains("stays interpreted"), "{e}");
        let native = count(e, "jit: inlined calls:", "interpreted calls run natively");
        assert!(native > 0, "{e}");
    }
}

#[test]
fn a_warmed_up_second_process_finds_every_unit_linked_before_its_run() {
    for (name, file) in [
        (
            "warm-block",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/mandelbrot.fasm"),
        ),
        ("warm-trace", write_program("branchy-warm", BRANCHY)),
    ] {
        let (_, e2, dir) = two_processes(name, &file);
        let cold = run_cli(&dir, &file);
        let warm = run_cli_with(&dir, &file, &["--warm-up"]);
        let e3 = text(&warm.stderr);
        assert_eq!(text(&warm.stdout), text(&cold.stdout), "{name}");
        assert_eq!(stat(&e3, "LLVM compilations:"), 0, "{name}: {e3}");
        // The run takes what start-up linked: as many hits as without a
        // warm-up, each one preloaded.
        let hits = stat(&e3, "hits");
        assert_eq!(hits, stat(&e2, "hits"), "{name}: {e3}");
        assert!(stat(&e3, "; preloaded") >= hits, "{name}: {e3}");
        let hit_lines: Vec<_> = e3.lines().filter(|l| l.contains("cache hit")).collect();
        assert_eq!(hit_lines.len() as u64, hits, "{name}: {e3}");
        assert!(
            hit_lines.iter().all(|l| l.contains("(preloaded)")),
            "{name}: {e3}"
        );
        assert!(e3.contains("time: warm-up"), "{name}: {e3}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn processes_storing_the_same_unit_at_once_leave_one_valid_record() {
    let dir = fresh_dir("race");
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/mandelbrot.fasm");
    let children: Vec<_> = (0..4)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_fusevm-llvm"))
                .args(["run", "--stats"])
                .arg(&file)
                .env(persist::DIR_ENV, &dir)
                .env_remove("FUSEVM_JIT_BLOCK_THRESHOLD")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_eq!(text(&out.stdout), "Int(10627)\n");
    }
    let stats = persist::dir::stats(&dir).unwrap();
    assert_eq!((stats.records, stats.unreadable), (1, 0), "{stats:?}");
    let leftovers = std::fs::read_dir(&dir).unwrap().count();
    assert_eq!(leftovers, 1, "no temporary files left");
    let again = run_cli(&dir, &file);
    assert_eq!(stat(&text(&again.stderr), "LLVM compilations:"), 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn cache_stats_and_clear_report_and_empty_a_directory() {
    let dir = fresh_dir("cli");
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/mandelbrot.fasm");
    run_cli(&dir, &file);
    std::fs::write(dir.join("notes.txt"), "not ours").unwrap();
    let cli = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_fusevm-llvm"))
            .args(args)
            .arg(&dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    let stats = cli(&["cache", "stats"]);
    assert!(
        stats.contains(": 1 records,") && stats.contains(", 0 unreadable"),
        "{stats}"
    );
    assert!(cli(&["cache", "clear"]).contains(": 1 records removed"));
    assert!(cli(&["cache", "stats"]).contains(": 0 records, 0 bytes"));
    assert!(dir.join("notes.txt").exists(), "other files stay");
    let _ = std::fs::remove_dir_all(&dir);
}

// ── in-process: bad files ──

/// A block-eligible loop whose result depends on its slot (nothing to fold).
fn block_chunk() -> Chunk {
    assemble(
        "
        LoadInt 0
        SetSlot 1
head:   GetSlot 1
        GetSlot 0
        Add
        LoadInt 3
        Mul
        LoadInt 1000003
        Mod
        SetSlot 1
        SlotIncLtIntJumpBack 0 5000 head
        GetSlot 1",
    )
    .unwrap()
}

/// Collects events while alive.
struct Events(Arc<Mutex<Vec<String>>>);

impl Events {
    fn listen() -> Events {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        JitCompiler::set_event_hook(Some(Arc::new(move |e: &JitEvent| {
            sink.lock().unwrap().push(e.to_string());
        })));
        Events(seen)
    }

    fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    fn with(&self, needle: &str) -> Vec<String> {
        self.all()
            .into_iter()
            .filter(|e| e.contains(needle))
            .collect()
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        JitCompiler::set_event_hook(None);
    }
}

/// Runs `chunk` fresh (its in-memory code evicted first) with the block
/// tier compiling at once; the result must be the interpreter's.
fn run_fresh(chunk: &Chunk) -> VMResult {
    JitCompiler::new().evict(chunk);
    JitCompiler::new().set_config(TraceJitConfig {
        block_threshold: 0,
        ..TraceJitConfig::defaults()
    });
    let mut vm = VM::new(chunk.clone());
    vm.enable_tracing_jit();
    let r = vm.run();
    let want = VM::new(chunk.clone()).run();
    assert_eq!(format!("{r:?}"), format!("{want:?}"));
    assert!(JitCompiler::new().block_jit_is_compiled(chunk));
    r
}

/// The one record in `dir`.
fn the_record(dir: &Path) -> PathBuf {
    let recs: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == persist::EXTENSION))
        .collect();
    assert_eq!(recs.len(), 1, "{recs:?}");
    recs[0].clone()
}

/// Stores `chunk`'s code in a fresh directory, spoils the record with
/// `spoil`, runs again: the result is unchanged, the record rejected with
/// a reason containing `reason`, the unit compiled and the record
/// replaced by a sound one.
fn rejected_and_replaced(name: &str, spoil: impl FnOnce(&Path), reason: &str) {
    let dir = fresh_dir(name);
    JitCompiler::set_code_cache_dir(Some(&dir));
    let chunk = block_chunk();
    run_fresh(&chunk);
    let file = the_record(&dir);
    spoil(&file);
    let events = Events::listen();
    let before = JitCompiler::stats().disk;
    run_fresh(&chunk);
    let after = JitCompiler::stats().disk;
    let rejected = events.with("cache rejected");
    assert_eq!(rejected.len(), 1, "{name}: {:?}", events.all());
    assert!(rejected[0].contains(reason), "{name}: {}", rejected[0]);
    assert_eq!(after.rejected - before.rejected, 1, "{name}");
    assert_eq!(after.hits, before.hits, "{name}: nothing linked");
    assert_eq!(after.llvm_compilations - before.llvm_compilations, 1);
    let bytes = std::fs::read(&file).unwrap();
    assert!(CacheRecord::decode(&bytes).is_ok(), "{name}: replaced");
    drop(events);
    // And the replacement is used.
    let before = JitCompiler::stats().disk;
    run_fresh(&chunk);
    assert_eq!(JitCompiler::stats().disk.hits - before.hits, 1, "{name}");
    JitCompiler::set_code_cache_dir(None);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Rewrites the record at `f` through `edit`, sealed again (a sound record
/// that says something else).
fn reseal(f: &Path, edit: impl FnOnce(&mut CacheRecord)) {
    let mut rec = CacheRecord::decode(&std::fs::read(f).unwrap()).unwrap();
    edit(&mut rec);
    std::fs::write(f, rec.encode()).unwrap();
}

/// Cuts the file at `f` to `len` bytes.
fn cut(f: &Path, len: u64) {
    std::fs::File::options()
        .write(true)
        .open(f)
        .unwrap()
        .set_len(len)
        .unwrap();
}

#[test]
fn bad_records_are_rejected_with_their_reason_and_replaced() {
    let _g = serial();
    let len = |f: &Path| std::fs::metadata(f).unwrap().len();
    for at in [0u64, 7, 12, 19, 20, 64] {
        let reason = if at < 52 { "too short" } else { "truncated" };
        rejected_and_replaced(&format!("cut{at}"), |f| cut(f, at), reason);
    }
    rejected_and_replaced("cut-half", |f| cut(f, len(f) / 2), "truncated");
    rejected_and_replaced("cut-last", |f| cut(f, len(f) - 1), "truncated");
    let flip = |at: fn(usize) -> usize| {
        move |f: &Path| {
            let mut b = std::fs::read(f).unwrap();
            let k = at(b.len());
            b[k] ^= 0x10;
            std::fs::write(f, b).unwrap();
        }
    };
    rejected_and_replaced("flip-magic", flip(|_| 3), "not a fusevm-llvm cache record");
    rejected_and_replaced("flip-format", flip(|_| 9), "record format");
    rejected_and_replaced("flip-length", flip(|_| 13), "truncated or extended");
    rejected_and_replaced("flip-key", flip(|_| 30), "checksum mismatch");
    rejected_and_replaced("flip-object", flip(|n| n / 2 + 40), "checksum mismatch");
    rejected_and_replaced("flip-sum", flip(|n| n - 1), "checksum mismatch");
    rejected_and_replaced(
        "empty",
        |f| std::fs::write(f, b"").unwrap(),
        "too short to be a record (0 bytes)",
    );
    rejected_and_replaced(
        "other-cpu-features",
        |f| {
            reseal(f, |rec| {
                rec.key.features = "+a-feature-this-cpu-lacks".into()
            })
        },
        "built for another CPU features (+a-feature-this-cpu-lacks;",
    );
    rejected_and_replaced(
        "other-llvm",
        |f| reseal(f, |rec| rec.key.llvm_version = "18.1.8".into()),
        "built for another LLVM version (18.1.8;",
    );
    rejected_and_replaced(
        "other-format",
        |f| {
            let mut b = std::fs::read(f).unwrap();
            b[8..12].copy_from_slice(&(persist::FORMAT + 1).to_le_bytes());
            std::fs::write(f, b).unwrap();
        },
        &format!("record format {}", persist::FORMAT + 1),
    );
    rejected_and_replaced(
        "entry-renamed",
        |f| reseal(f, |rec| rec.entry = "someone_else".into()),
        "entry symbol `someone_else`",
    );
}

#[test]
fn a_directory_where_a_record_should_be_is_rejected_and_left_alone() {
    let _g = serial();
    let dir = fresh_dir("dir-in-place");
    JitCompiler::set_code_cache_dir(Some(&dir));
    let chunk = block_chunk();
    run_fresh(&chunk);
    let file = the_record(&dir);
    std::fs::remove_file(&file).unwrap();
    std::fs::create_dir(&file).unwrap();
    std::fs::write(file.join("inside"), "x").unwrap();
    let events = Events::listen();
    run_fresh(&chunk);
    let seen = events.all();
    assert!(
        seen.iter()
            .any(|e| e.contains("cache rejected") && e.contains("not a regular file")),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|e| e.contains("can't be written")),
        "{seen:?}"
    );
    assert!(
        file.join("inside").exists(),
        "the directory is not ours to remove"
    );
    drop(events);
    JitCompiler::set_code_cache_dir(None);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_unwritable_directory_degrades_to_compiling_with_one_warning() {
    let _g = serial();
    // A path under a regular file can't be created, by anyone.
    let base = fresh_dir("unwritable");
    let blocker = base.join("a-file");
    std::fs::write(&blocker, "x").unwrap();
    JitCompiler::set_code_cache_dir(Some(&blocker.join("cache")));
    let events = Events::listen();
    let before = JitCompiler::stats().disk;
    let a = block_chunk();
    let b = assemble("LoadInt 2\nSetSlot 0\nGetSlot 0\nGetSlot 0\nMul").unwrap();
    run_fresh(&a);
    run_fresh(&b);
    let after = JitCompiler::stats().disk;
    assert_eq!(after.store_failures - before.store_failures, 2);
    assert_eq!(
        events.with("can't be written").len(),
        1,
        "{:?}",
        events.all()
    );
    drop(events);
    JitCompiler::set_code_cache_dir(None);
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn a_read_only_directory_degrades_to_compiling_in_another_process() {
    use std::os::unix::fs::PermissionsExt;
    let dir = fresh_dir("read-only");
    let mut file = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/mandelbrot.fasm");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();
    // Root ignores permission bits: run the child as `nobody` then.
    let root = std::env::var("USER").is_ok_and(|u| u == "root")
        || std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        });
    let mut cmd = if root {
        // `nobody` may not reach the build tree: give it its own copies.
        let own = fresh_dir("read-only-bin");
        let bin = own.join("fusevm-llvm");
        std::fs::copy(env!("CARGO_BIN_EXE_fusevm-llvm"), &bin).unwrap();
        std::fs::copy(&file, own.join("mandelbrot.fasm")).unwrap();
        for p in [&own, &bin] {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::fs::set_permissions(
            own.join("mandelbrot.fasm"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        file = own.join("mandelbrot.fasm");
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(bin);
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_fusevm-llvm"))
    };
    let out = cmd
        .args(["run", "--stats", "--jit-verbose"])
        .arg(&file)
        .env(persist::DIR_ENV, &dir)
        .env_remove("FUSEVM_JIT_BLOCK_THRESHOLD")
        .output()
        .expect("the binary runs");
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert_eq!(text(&out.stdout), "Int(10627)\n");
    assert!(err.contains("can't be written"), "{err}");
    assert_eq!(stat(&err, "LLVM compilations:"), 1, "{err}");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_directory_stays_under_its_size_bound_dropping_the_least_recently_used() {
    let _g = serial();
    let dir = fresh_dir("bound");
    JitCompiler::set_code_cache_dir(Some(&dir));
    let chunks: Vec<Chunk> = (0..4)
        .map(|k| {
            assemble(&format!(
                "LoadInt {k}\nSetSlot 0\nGetSlot 0\nGetSlot 0\nMul"
            ))
            .unwrap()
        })
        .collect();
    run_fresh(&chunks[0]);
    let one = std::fs::metadata(the_record(&dir)).unwrap().len();
    JitCompiler::set_code_cache_dir_limit(2 * one + one / 2);
    for c in &chunks[1..] {
        std::thread::sleep(std::time::Duration::from_millis(20));
        run_fresh(c);
    }
    let s = persist::dir::stats(&dir).unwrap();
    JitCompiler::set_code_cache_dir_limit(persist::DEFAULT_DIR_LIMIT);
    assert_eq!(s.records, 2, "{s:?}");
    // The two newest are the ones left: both link.
    let before = JitCompiler::stats().disk.hits;
    run_fresh(&chunks[3]);
    run_fresh(&chunks[2]);
    assert_eq!(JitCompiler::stats().disk.hits - before, 2);
    JitCompiler::set_code_cache_dir(None);
    let _ = std::fs::remove_dir_all(&dir);
}

// ── trace metadata carrying code ──

#[test]
fn imported_trace_metadata_with_code_links_it_and_runs_no_llvm() {
    let _g = serial();
    JitCompiler::set_code_cache_dir(None);
    JitCompiler::new().set_config(TraceJitConfig {
        block_threshold: u32::MAX,
        trace_threshold: 5,
        background_compile: false,
        ..TraceJitConfig::defaults()
    });
    let chunk = assemble(BRANCHY).unwrap();
    let jit = JitCompiler::new();
    let mut vm = VM::new(chunk.clone());
    vm.set_output(Box::new(std::io::sink()));
    vm.enable_tracing_jit();
    let want = vm.run();
    assert!(jit.trace_is_compiled(&chunk, 4));
    drop(vm); // it holds the trace's code (and so its entry symbol)
    let metas = jit.trace_export_all_with_code(&chunk);
    assert!(!metas.is_empty() && metas.iter().all(|m| m.code.is_some()));
    assert!(metas.iter().any(|m| !m.side_paths.is_empty()));
    let json = serde_json::to_string(&metas).unwrap();
    jit.evict(&chunk);
    let back: Vec<fusevm_llvm::TraceMetadata> = serde_json::from_str(&json).unwrap();
    let before = JitCompiler::stats().disk;
    assert_eq!(jit.trace_import_all(&chunk, &back), back.len());
    let after = JitCompiler::stats().disk;
    assert_eq!(after.llvm_compilations, before.llvm_compilations, "no LLVM");
    assert_eq!(after.hits - before.hits, back.len() as u64);
    let mut vm = VM::new(chunk.clone());
    vm.set_output(Box::new(std::io::sink()));
    vm.enable_tracing_jit();
    assert_eq!(format!("{:?}", vm.run()), format!("{want:?}"));
    drop(vm);
    assert_eq!(
        format!("{want:?}"),
        format!("{:?}", VMResult::Ok(Value::Int(50000)))
    );

    // Code built for another CPU is refused and the trace compiled.
    let mut foreign = back.clone();
    for m in &mut foreign {
        let hex = m.code.take().unwrap();
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let mut rec = CacheRecord::decode(&bytes).unwrap();
        rec.key.cpu = "a-cpu-from-elsewhere".into();
        m.code = Some(rec.encode().iter().map(|b| format!("{b:02x}")).collect());
    }
    jit.evict(&chunk);
    let events = Events::listen();
    let before = JitCompiler::stats().disk;
    assert_eq!(jit.trace_import_all(&chunk, &foreign), foreign.len());
    let after = JitCompiler::stats().disk;
    assert_eq!(
        after.llvm_compilations - before.llvm_compilations,
        foreign.len() as u64
    );
    assert_eq!(after.hits, before.hits);
    assert!(
        events
            .with("built for another CPU (a-cpu-from-elsewhere")
            .len()
            == foreign.len(),
        "{:?}",
        events.all()
    );
    drop(events);
    jit.evict(&chunk);
}

#[test]
fn warm_up_preloads_stored_units_and_a_run_takes_each_once() {
    let _g = serial();
    let dir = fresh_dir("warm-up");
    JitCompiler::set_code_cache_dir(Some(&dir));
    let chunk = block_chunk();
    run_fresh(&chunk);
    JitCompiler::new().evict(&chunk);
    let events = Events::listen();
    // No preloading when the bound is 0.
    JitCompiler::set_code_cache_preload(0);
    let before = JitCompiler::stats().disk;
    assert!(JitCompiler::warm_up());
    assert_eq!(JitCompiler::stats().disk.preloaded, before.preloaded);
    JitCompiler::set_code_cache_preload(fusevm_llvm::DEFAULT_CODE_CACHE_PRELOAD);
    assert!(JitCompiler::warm_up());
    let after = JitCompiler::stats().disk;
    assert_eq!(after.preloaded - before.preloaded, 1);
    assert_eq!(after.hits, before.hits, "preloading is not a hit");
    assert_eq!(events.with("cache preload").len(), 1, "{:?}", events.all());
    // The run takes it: a hit, nothing read, linked or compiled.
    run_fresh(&chunk);
    let taken = JitCompiler::stats().disk;
    assert_eq!(taken.hits - after.hits, 1);
    assert_eq!(taken.llvm_compilations, before.llvm_compilations);
    let hits = events.with("cache hit");
    assert!(
        hits.len() == 1 && hits[0].contains("(preloaded)"),
        "{hits:?}"
    );
    // Taken once: evicted, the unit links from the directory as usual.
    JitCompiler::new().evict(&chunk);
    run_fresh(&chunk);
    let hits = events.with("cache hit");
    assert!(
        hits.len() == 2 && !hits[1].contains("(preloaded)"),
        "{hits:?}"
    );
    assert_eq!(
        JitCompiler::stats().disk.llvm_compilations,
        before.llvm_compilations
    );
    // A unit nobody takes waits until the directory changes; then it is
    // freed and its entry symbol with it (the unit links again).
    JitCompiler::new().evict(&chunk);
    assert!(JitCompiler::warm_up());
    JitCompiler::set_code_cache_dir(Some(&dir));
    let before = JitCompiler::stats().disk;
    run_fresh(&chunk);
    let after = JitCompiler::stats().disk;
    assert_eq!(after.hits - before.hits, 1);
    assert_eq!(after.llvm_compilations, before.llvm_compilations);
    let hits = events.with("cache hit");
    assert!(!hits[hits.len() - 1].contains("(preloaded)"), "{hits:?}");
    drop(events);
    JitCompiler::set_code_cache_dir(None);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn warm_up_installs_a_chunks_stored_traces_before_any_run() {
    let _g = serial();
    let dir = fresh_dir("warm-traces");
    JitCompiler::set_code_cache_dir(Some(&dir));
    JitCompiler::new().set_config(TraceJitConfig {
        block_threshold: u32::MAX,
        background_compile: false,
        ..TraceJitConfig::defaults()
    });
    let chunk = assemble(BRANCHY).unwrap();
    let head = 4; // the loop header
    let run = || {
        let mut vm = VM::new(chunk.clone());
        vm.set_output(Box::new(std::io::sink()));
        vm.enable_tracing_jit();
        vm.run()
    };
    let want = run();
    let jit = JitCompiler::new();
    assert!(jit.trace_is_compiled(&chunk, head));
    jit.evict(&chunk);
    assert!(!jit.trace_is_compiled(&chunk, head));
    // The record carries the chunk: its traces are installed at start-up,
    // their code taken from what the warm-up linked.
    let before = JitCompiler::stats();
    assert!(JitCompiler::warm_up());
    assert!(jit.trace_is_compiled(&chunk, head));
    let after = JitCompiler::stats();
    assert!(after.disk.hits > before.disk.hits);
    assert_eq!(after.disk.llvm_compilations, before.disk.llvm_compilations);
    // The run records nothing and agrees.
    let got = run();
    assert_eq!(format!("{got:?}"), format!("{want:?}"));
    let ran = JitCompiler::stats();
    assert_eq!(ran.trace_recorded, after.trace_recorded);
    assert_eq!(ran.disk.llvm_compilations, before.disk.llvm_compilations);
    // A record whose chunk does not verify or is another chunk waits for
    // the chunk's first back-edge instead.
    let file = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            CacheRecord::decode(&std::fs::read(p).unwrap()).is_ok_and(|r| r.entry == "traces")
        })
        .expect("a traces record");
    let other = serde_json::to_vec(&assemble("LoadInt 1").unwrap()).unwrap();
    reseal(&file, |r| r.meta = other);
    jit.evict(&chunk);
    JitCompiler::set_code_cache_dir(Some(&dir));
    assert!(JitCompiler::warm_up());
    assert!(!jit.trace_is_compiled(&chunk, head));
    let got = run();
    assert_eq!(format!("{got:?}"), format!("{want:?}"));
    assert!(
        jit.trace_is_compiled(&chunk, head),
        "imported at the back-edge"
    );
    assert_eq!(JitCompiler::stats().trace_recorded, after.trace_recorded);
    jit.evict(&chunk);
    JitCompiler::new().set_config(TraceJitConfig::defaults());
    JitCompiler::set_code_cache_dir(None);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_record_without_its_exit_map_still_links_and_runs_exactly() {
    let _g = serial();
    let dir = fresh_dir("no-exit-map");
    JitCompiler::set_code_cache_dir(Some(&dir));
    let chunk = block_chunk();
    let want = run_fresh(&chunk);
    let file = the_record(&dir);
    let rec = CacheRecord::decode(&std::fs::read(&file).unwrap()).unwrap();
    assert!(!rec.meta.is_empty(), "a unit's record carries its exit map");
    // An older writer's record, or a map that does not parse under a sound
    // checksum: the exits come from analysing the chunk again.
    for meta in [Vec::new(), vec![7; 13]] {
        reseal(&file, |r| r.meta = meta.clone());
        let before = JitCompiler::stats().disk;
        let got = run_fresh(&chunk);
        let after = JitCompiler::stats().disk;
        assert_eq!(format!("{got:?}"), format!("{want:?}"));
        assert_eq!(after.hits - before.hits, 1);
        assert_eq!(after.llvm_compilations, before.llvm_compilations);
        assert_eq!(after.rejected, before.rejected);
    }
    JitCompiler::set_code_cache_dir(None);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_hit_marks_its_record_used_unless_it_was_used_within_a_minute() {
    let _g = serial();
    let dir = fresh_dir("touch");
    JitCompiler::set_code_cache_dir(Some(&dir));
    let chunk = block_chunk();
    run_fresh(&chunk);
    let file = the_record(&dir);
    let set_age = |secs: u64| {
        let then = std::time::SystemTime::now() - std::time::Duration::from_secs(secs);
        let f = std::fs::File::options().append(true).open(&file).unwrap();
        f.set_modified(then).unwrap();
        then
    };
    let used = || std::fs::metadata(&file).unwrap().modified().unwrap();
    // Used two hours ago: a hit makes it the most recently used.
    let then = set_age(7200);
    run_fresh(&chunk);
    assert!(used() > then + std::time::Duration::from_secs(7000));
    // Used 20 s ago: a hit leaves it (eviction needs no finer order).
    let then = set_age(20);
    run_fresh(&chunk);
    assert!(used() < then + std::time::Duration::from_secs(1));
    JitCompiler::set_code_cache_dir(None);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_stored_chunk_runs_natively_below_block_threshold_but_not_when_it_is_max() {
    let _g = serial();
    let dir = fresh_dir("threshold");
    JitCompiler::set_code_cache_dir(Some(&dir));
    let chunk = block_chunk();
    let jit = JitCompiler::new();
    let run_with = |threshold: u32| {
        jit.evict(&chunk);
        JitCompiler::new().set_config(TraceJitConfig {
            block_threshold: threshold,
            trace_threshold: u32::MAX,
            ..TraceJitConfig::defaults()
        });
        let before = (jit.block_run_count(&chunk), JitCompiler::stats().disk);
        let mut vm = VM::new(chunk.clone());
        vm.enable_tracing_jit();
        let r = vm.run();
        assert_eq!(
            format!("{r:?}"),
            format!("{:?}", VM::new(chunk.clone()).run())
        );
        let after = (jit.block_run_count(&chunk), JitCompiler::stats().disk);
        (
            after.0 - before.0,
            after.1.hits - before.1.hits,
            after.1.llvm_compilations - before.1.llvm_compilations,
        )
    };
    // Nothing stored yet: below the threshold the first run is interpreted,
    // and nothing is compiled or refused.
    assert_eq!(run_with(5), (0, 0, 0));
    assert_eq!(jit.block_compile_attempts(&chunk), 0);
    // Stored (threshold 0 compiles at once), then linked on a first run
    // below a threshold of 5; never with the block tier off.
    assert_eq!(run_with(0), (1, 0, 1));
    assert_eq!(run_with(5), (1, 1, 0));
    assert_eq!(run_with(u32::MAX), (0, 0, 0));
    JitCompiler::set_code_cache_dir(None);
    let _ = std::fs::remove_dir_all(&dir);
}
