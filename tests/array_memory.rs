//! Arrays of Ints and Floats are stored unboxed: 8 bytes an element, not a
//! 16-byte `Value` each. Measured on the process's resident memory, so this
//! file holds one test (its own process, nothing else allocating).

use fusevm_llvm::{VM, Value, assemble};

/// `VmRSS` of this process, in bytes.
fn resident() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("procfs");
    let kb: usize = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|l| l.trim().strip_suffix("kB"))
        .and_then(|n| n.trim().parse().ok())
        .expect("VmRSS line");
    kb * 1024
}

/// Fills global `a` with `n` elements, `i` (Int) or `i * 0.5` (Float),
/// pushed one by one as plain bytecode does; the array stays alive in the VM.
fn filled(n: i64, float: bool) -> VM {
    let value = if float { "LoadFloat 0.5\n Mul" } else { "" };
    let src = format!(
        "       DeclareArray a
                LoadInt 0
                SetSlot 0
        top:    GetSlot 0
                LoadInt {n}
                NumLt
                JumpIfFalse done
                GetSlot 0
                {value}
                ArrayPush a
                PreIncSlotVoid 0
                Jump top
        done:   ArrayLen a
                ReturnValue"
    );
    let mut vm = VM::new(assemble(&src).unwrap());
    let r = vm.run();
    assert!(
        matches!(r, fusevm_llvm::VMResult::Ok(Value::Int(len)) if len == n),
        "{r}"
    );
    vm
}

#[test]
fn int_and_float_arrays_of_ten_million_take_eight_bytes_an_element() {
    const N: i64 = 10_000_000;
    // Slack for the VM, its chunk and allocator bookkeeping.
    const CONSTANT: usize = 8 << 20;
    for float in [false, true] {
        let before = resident();
        let vm = filled(N, float);
        let grown = resident().saturating_sub(before);
        let Some(Value::Array(a)) = vm.get_global("a") else {
            panic!("a is an array")
        };
        assert_eq!(a.len(), N as usize);
        let per_element = grown as f64 / N as f64;
        assert!(
            grown <= 8 * N as usize + CONSTANT,
            "{} array: {grown} bytes resident for {N} elements ({per_element:.2} per element)",
            if float { "Float" } else { "Int" }
        );
        // A boxed array of 1e7 would take 160 MB: the measure can tell.
        assert!(grown >= 4 * N as usize, "{grown} bytes: nothing measured?");
        drop(vm);
    }
}
