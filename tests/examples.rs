//! Every example program gives the result of its native-Rust reference.

mod common;
use common::{assert_same, example, kernels};
use fusevm_llvm::{SharedBuffer, VM, VMResult, Value};

fn result(name: &str) -> Value {
    match VM::new(example(name)).run() {
        VMResult::Ok(v) => v,
        other => panic!("{name}: {other}"),
    }
}

#[test]
fn sum_example_matches_native() {
    assert_same(&result("sum"), &Value::Int(kernels::sum(10_000_000)));
}

#[test]
fn float_recurrence_example_matches_native_bit_for_bit() {
    assert_same(
        &result("float_recurrence"),
        &Value::Float(kernels::float_recurrence(1_000_000)),
    );
}

#[test]
fn branch_example_matches_native() {
    assert_same(&result("branch"), &Value::Int(kernels::branch(3_000_000)));
}

#[test]
fn nested_example_matches_native() {
    assert_same(&result("nested"), &Value::Int(kernels::nested(1000)));
}

#[test]
fn fib_example_matches_native() {
    assert_same(&result("fib"), &Value::Int(kernels::fib(27)));
}

#[test]
fn mandelbrot_example_matches_native() {
    assert_same(
        &result("mandelbrot"),
        &Value::Int(kernels::mandelbrot(200, 50)),
    );
}

#[test]
fn sieve_example_matches_native() {
    assert_same(&result("sieve"), &Value::Int(kernels::sieve(10_000)));
}

#[test]
fn strings_example_prints_and_returns_the_sum() {
    let out = SharedBuffer::new();
    let mut vm = VM::new(example("strings"));
    vm.set_output(Box::new(out.clone()));
    let VMResult::Ok(v) = vm.run() else { panic!() };
    assert_same(&v, &Value::Int((1..=10).map(|i| i * i).sum()));
    assert_eq!(
        out.contents(),
        "squares: 1 4 9 16 25 36 49 64 81 100\nsum = 385\nababab has 6 chars\n"
    );
}

#[test]
fn examples_give_the_same_result_with_and_without_superinstructions() {
    for name in common::EXAMPLES {
        let fused = VM::new(example(name)).run();
        let mut vm = VM::new(example(name));
        vm.set_output(Box::new(SharedBuffer::new()));
        vm.set_superinstructions(false);
        let plain = vm.run();
        assert!(fused.same_as(&plain), "{name}: {fused} vs {plain}");
    }
}
