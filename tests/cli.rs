//! The `fusevm-llvm` binary: results, errors and exit codes.
#![cfg(feature = "jit")] // the CLI is built with the native tiers

use std::process::{Command, Output};

fn cli(args: &[&str]) -> Output {
    cli_env(args, &[])
}

fn cli_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fusevm-llvm"))
        .args(args)
        .env_remove("FUSEVM_JIT_BLOCK_THRESHOLD")
        .env_remove("FUSEVM_JIT_TRACE_THRESHOLD")
        .env_remove("FUSEVM_JIT_LOG")
        .envs(env.iter().copied())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the binary runs")
}

/// The sieve example with its count printed at the end: whole-chunk code
/// never prints, so the block tier refuses it and its loops trace. The
/// file lives as long as the returned guard.
struct PrintingSieve(std::path::PathBuf);

impl PrintingSieve {
    fn new(tag: &str) -> PrintingSieve {
        let src = std::fs::read_to_string("examples/sieve.fasm").unwrap();
        // The count is on the stack at the end: print it too.
        let src = src + "\n        Dup\n        PrintLn 1\n";
        let path =
            std::env::temp_dir().join(format!("fusevm-cli-{tag}-{}.fasm", std::process::id()));
        std::fs::write(&path, src).unwrap();
        PrintingSieve(path)
    }
    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for PrintingSieve {
    fn drop(&mut self) {
        std::fs::remove_file(&self.0).ok();
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn run_prints_output_then_the_result() {
    let out = cli(&["run", "examples/strings.fasm"]);
    assert!(out.status.success());
    assert!(
        text(&out.stdout).ends_with("ababab has 6 chars\nInt(385)\n"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn run_with_time_reports_to_stderr_and_accepts_jit_flags() {
    let out = cli(&[
        "run",
        "--time",
        "--no-jit",
        "--trace-threshold",
        "5",
        "--block-threshold",
        "0",
        "--max-side-exits",
        "3",
        "--max-inline-recursion",
        "2",
        "--max-trace-chain",
        "1",
        "--max-trace-len",
        "64",
        "examples/fib.fasm",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "Int(196418)\n");
    assert!(
        text(&out.stderr).starts_with("time: "),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn runtime_errors_exit_1_with_the_op_index() {
    let dir = std::env::temp_dir().join(format!("fusevm-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("bad.fasm");
    std::fs::write(&f, "LoadInt 1\nCallBuiltin 4 0\n").unwrap();
    let out = cli(&["run", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("op 1: `CallBuiltin 4 0`: builtin 4 is not registered"),
        "{}",
        text(&out.stderr)
    );
    std::fs::write(&f, "LoadInt 1\n  Frob\n").unwrap();
    let out = cli(&["run", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("bad.fasm:2:3: unknown op `Frob`"),
        "{}",
        text(&out.stderr)
    );
    std::fs::write(&f, "Call nowhere 0\n").unwrap();
    let out = cli(&["check", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("op 0"), "{}", text(&out.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn missing_file_and_bad_usage_fail_cleanly() {
    let out = cli(&["run", "no/such/file.fasm"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot read"));
    let out = cli(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
    let out = cli(&["--help"]);
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("disasm"));
}

#[test]
fn disasm_output_reassembles_to_the_same_result() {
    let out = cli(&["disasm", "examples/fib.fasm"]);
    assert!(out.status.success());
    let chunk = fusevm_llvm::assemble(&text(&out.stdout)).unwrap();
    let r = fusevm_llvm::VM::new(chunk).run();
    assert_eq!(r.to_string(), "Int(196418)");
    let out = cli(&["check", "examples/mandelbrot.fasm"]);
    assert!(out.status.success());
}

#[test]
fn config_comes_from_defaults_then_environment_then_flags() {
    let out = cli(&["config"]);
    assert!(out.status.success());
    let text_out = text(&out.stdout);
    assert!(text_out.contains("trace_threshold = 50\n"), "{text_out}");
    assert!(text_out.contains("block_threshold = 1\n"), "{text_out}");
    assert!(text_out.contains("max_trace_len = 256\n"), "{text_out}");

    let env = [
        ("FUSEVM_JIT_TRACE_THRESHOLD", "7"),
        ("FUSEVM_JIT_BLOCK_THRESHOLD", "0"),
    ];
    let out = cli_env(&["config"], &env);
    assert!(text(&out.stdout).contains("trace_threshold = 7\n"));
    assert!(text(&out.stdout).contains("block_threshold = 0\n"));
    let out = cli_env(&["config", "--trace-threshold", "9"], &env);
    assert!(text(&out.stdout).contains("trace_threshold = 9\n"));

    let out = cli_env(&["config"], &[("FUSEVM_JIT_BLOCK_THRESHOLD", "soon")]);
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("block_threshold = 1\n"));
    let err = text(&out.stderr);
    assert_eq!(
        err.matches("ignoring FUSEVM_JIT_BLOCK_THRESHOLD").count(),
        1,
        "{err}"
    );
}

#[test]
fn run_uses_the_block_tier_by_default() {
    let out = cli(&["run", "--time", "examples/nested.fasm"]);
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), "Int(-2020867944400851456)\n");
    assert!(
        text(&out.stderr).contains("(block tier, of which compiling"),
        "{}",
        text(&out.stderr)
    );
    let out = cli(&["run", "--time", "--no-jit", "examples/nested.fasm"]);
    assert_eq!(text(&out.stdout), "Int(-2020867944400851456)\n");
    assert!(
        text(&out.stderr).contains("(interpreter, --no-jit)"),
        "{}",
        text(&out.stderr)
    );
    // A block threshold from the environment applies: one run stays interpreted.
    let out = cli_env(
        &["run", "--time", "examples/nested.fasm"],
        &[("FUSEVM_JIT_BLOCK_THRESHOLD", "1")],
    );
    assert!(
        text(&out.stderr).contains("(interpreter)"),
        "{}",
        text(&out.stderr)
    );
    let out = cli(&["run", "--time", "examples/strings.fasm"]);
    assert!(
        text(&out.stderr).contains("not block-eligible"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn dump_ir_and_dump_asm_show_what_llvm_produced() {
    let out = cli(&["run", "--dump-ir", "--dump-asm", "examples/fib.fasm"]);
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), "Int(196418)\n");
    let err = text(&out.stderr);
    assert!(
        err.contains("LLVM IR after O2") && err.contains("define "),
        "{err}"
    );
    assert!(err.contains("machine code") && err.contains("ret"), "{err}");
}

/// Runs the nested example with its result printed (so the block tier
/// refuses it and its loops trace) with `flags`; checks its output and
/// returns its standard error.
fn run_printing_nested(tag: &str, flags: &[&str]) -> String {
    let src = std::fs::read_to_string("examples/nested.fasm").unwrap()
        + "\n        Dup\n        PrintLn 1\n";
    let path = std::env::temp_dir().join(format!("fusevm-cli-{tag}-{}.fasm", std::process::id()));
    std::fs::write(&path, src).unwrap();
    let mut args = vec!["run"];
    args.extend(flags);
    args.push(path.to_str().unwrap());
    let out = cli(&args);
    std::fs::remove_file(&path).ok();
    assert!(out.status.success());
    assert_eq!(
        text(&out.stdout),
        "-2020867944400851456\nInt(-2020867944400851456)\n"
    );
    text(&out.stderr)
}

#[test]
fn stats_report_traced_loops_of_a_chunk_the_block_tier_refuses() {
    let err = run_printing_nested("trace", &["--time", "--stats"]);
    // The inner loop, then the outer one (with the inner kept as a loop).
    assert!(err.contains("not block-eligible; 2 loops traced"), "{err}");
    assert!(err.contains("jit: traces: 2 recorded, 2 compiled"), "{err}");
    assert!(
        err.contains("jit: block tier: 0 compiled, 1 refused"),
        "{err}"
    );
}

#[test]
fn jit_verbose_and_jit_dump_tell_what_the_tracing_tier_did() {
    // This sieve is not block-eligible: its loops trace.
    let sieve = PrintingSieve::new("verbose");
    let out = cli(&["run", "--jit-verbose", sieve.path()]);
    assert!(out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("stays interpreted: op ") && err.contains("`PrintLn 1"),
        "{err}"
    );
    assert!(err.contains("recording"), "{err}");
    assert!(err.contains("compiled in"), "{err}");
    assert!(!err.contains("trace ops"), "no dump unless asked: {err}");
    let out = cli(&["run", "--jit-dump=ops,ir", sieve.path()]);
    let err = text(&out.stderr);
    assert!(err.contains("; ── trace ops"), "{err}");
    assert!(err.contains("exit -> op"), "{err}");
    assert!(err.contains("; ── LLVM IR after O2 ──"), "{err}");
    assert!(!err.contains("# ── machine code ──"), "{err}");
    let bad = cli(&["run", "--jit-dump=bytes", "examples/sieve.fasm"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn fusevm_jit_log_prints_events_without_flags() {
    let sieve = PrintingSieve::new("log");
    let out = cli_env(&["run", sieve.path()], &[("FUSEVM_JIT_LOG", "1")]);
    assert!(out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("[jit] trace") && err.contains("compiled in"),
        "{err}"
    );
    let quiet = cli_env(&["run", sieve.path()], &[("FUSEVM_JIT_LOG", "0")]);
    assert!(!text(&quiet.stderr).contains("[jit]"));
}

#[test]
fn stats_report_the_compiler_thread_and_the_wait_for_llvm() {
    let err = run_printing_nested("bg", &["--stats", "--background-compile"]);
    // Traces went to the compiler thread: at least the first one was queued
    // (the interpreter's wait is only setting LLVM up).
    let line = err
        .lines()
        .find(|l| l.starts_with("jit: waited for LLVM"))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(line.contains("compiler thread:"), "{line}");
    assert!(!line.contains(" 0 queued"), "{line}");
    // By default nothing is queued.
    let out = cli(&["run", "--stats", "examples/nested.fasm"]);
    assert!(text(&out.stderr).contains("compiler thread: 0 queued"));
}
