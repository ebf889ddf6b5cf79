//! Native-Rust reference kernels: the expected results of the example
//! programs (tests) and the native baselines (benchmarks).
//!
//! Each takes its size through `black_box` in the benchmarks, and feeds a
//! per-iteration value through `black_box` where LLVM could otherwise turn
//! the loop into a closed form (so the baseline measures a loop).
#![allow(dead_code)]

use std::hint::black_box;

/// `sum += i` for `i in 0..n` (wrapping).
pub fn sum(n: i64) -> i64 {
    let mut sum = 0i64;
    let mut i = 0i64;
    while i < n {
        sum = sum.wrapping_add(black_box(i));
        i += 1;
    }
    sum
}

/// `x = x * 0.999 + 1.5`, `n` times from 0.0.
pub fn float_recurrence(n: i64) -> f64 {
    let mut x = 0.0f64;
    for _ in 0..n {
        x = x * 0.999 + 1.5;
    }
    x
}

/// `if i % 3 == 0 { acc += i } else { acc -= 1 }` for `i in 0..n`.
pub fn branch(n: i64) -> i64 {
    let mut acc = 0i64;
    let mut i = 0i64;
    while i < n {
        let k = black_box(i);
        if k % 3 == 0 {
            acc = acc.wrapping_add(k);
        } else {
            acc = acc.wrapping_sub(1);
        }
        i += 1;
    }
    acc
}

/// `s = s * 31 + (i ^ j)` over an `n × n` grid (wrapping).
pub fn nested(n: i64) -> i64 {
    let mut s = 0i64;
    for i in 0..n {
        for j in 0..n {
            s = s.wrapping_mul(31).wrapping_add(i ^ j);
        }
    }
    s
}

/// Recursive Fibonacci.
pub fn fib(n: i64) -> i64 {
    if n < 2 { n } else { fib(n - 1) + fib(n - 2) }
}

/// Points of a `size × size` grid over [-2, 1) × [-1, 1) that stay bounded
/// for `max_iter` iterations, computed in the same operation order as
/// `examples/mandelbrot.fasm`.
pub fn mandelbrot(size: i64, max_iter: i64) -> i64 {
    let mut count = 0;
    for py in 0..size {
        let y0 = py as f64 * 0.01 - 1.0;
        for px in 0..size {
            let x0 = px as f64 * 0.015 - 2.0;
            let (mut x, mut y) = (0.0f64, 0.0f64);
            let mut iter = 0;
            while iter < max_iter && x * x + y * y <= 4.0 {
                let xt = x * x - y * y + x0;
                y = 2.0 * x * y + y0;
                x = xt;
                iter += 1;
            }
            if iter == max_iter {
                count += 1;
            }
        }
    }
    count
}

/// `benches/kernels/sum.fasm`: `s = (s + i) ^ 1` for `i in 0..n` (the xor
/// keeps LLVM from folding the loop into a closed form, here and in the
/// JIT alike; no per-iteration `black_box`, so both compile the same loop).
pub fn sum_xor(n: i64) -> i64 {
    let (mut s, mut i) = (0i64, 0i64);
    while i < n {
        s = s.wrapping_add(i) ^ 1;
        i += 1;
    }
    s
}

/// `benches/kernels/branch.fasm`: [`branch`] without the per-iteration
/// `black_box` (the loop is not foldable as it is).
pub fn branch_plain(n: i64) -> i64 {
    let mut acc = 0i64;
    let mut i = 0i64;
    while i < n {
        if i % 3 == 0 {
            acc = acc.wrapping_add(i);
        } else {
            acc = acc.wrapping_sub(1);
        }
        i += 1;
    }
    acc
}

/// `examples/sieve.fasm`: primes below `n` by the Sieve of Eratosthenes.
pub fn sieve(n: i64) -> i64 {
    let n = black_box(n).max(0) as usize;
    let mut composite = vec![false; n];
    let mut count = 0;
    for i in 2..n {
        if !composite[i] {
            count += 1;
            let mut j = i * i;
            while j < n {
                composite[j] = true;
                j += i;
            }
        }
    }
    count
}

/// `benches/kernels/matmul.fasm`: `c = a * b` for `n x n` Float matrices
/// stored flat, row-major; the sum of `c`'s elements plus its last one.
pub fn matmul(n: i64) -> f64 {
    let n = black_box(n).max(1);
    let nn = n * n;
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for i in 0..nn {
        a.push((i % 7) as f64 * 0.37 + -1.1);
        b.push((i % 5) as f64 * 0.23 + 0.51);
    }
    let mut c = Vec::new();
    let mut total = 0.0;
    for i in 0..n {
        for j in 0..n {
            let mut s = 0.0;
            for k in 0..n {
                s += a[(i * n + k) as usize] * b[(k * n + j) as usize];
            }
            c.push(s);
            total += s;
        }
    }
    total + c[(nn - 1) as usize]
}

/// `benches/kernels/calls.fasm`: `s = mix(s, i)` for `i in 0..n`, with
/// `mix(s, i) = (s + i * i) ^ 1` (wrapping).
pub fn calls(n: i64) -> i64 {
    fn mix(s: i64, i: i64) -> i64 {
        s.wrapping_add(i.wrapping_mul(i)) ^ 1
    }
    let (mut s, mut i) = (0i64, 0i64);
    let n = black_box(n);
    while i < n {
        s = mix(s, i);
        i += 1;
    }
    s
}
