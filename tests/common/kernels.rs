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

/// `benches/kernels/matmul_rows.fasm`: [`matmul`] over vectors of rows.
#[allow(clippy::needless_range_loop)] // indexed as the kernel indexes
pub fn matmul_rows(n: i64) -> f64 {
    let n = black_box(n).max(1) as usize;
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for i in 0..n {
        let (mut ra, mut rb) = (Vec::new(), Vec::new());
        for j in 0..n {
            let idx = (i * n + j) as i64;
            ra.push((idx % 7) as f64 * 0.37 + -1.1);
            rb.push((idx % 5) as f64 * 0.23 + 0.51);
        }
        a.push(ra);
        b.push(rb);
    }
    let mut c: Vec<Vec<f64>> = Vec::new();
    let mut total = 0.0;
    for ai in &a {
        let mut rc = Vec::new();
        for j in 0..n {
            let mut s = 0.0;
            for (k, aik) in ai.iter().enumerate() {
                s += aik * b[k][j];
            }
            rc.push(s);
            total += s;
        }
        c.push(rc);
    }
    total + c[n - 1][n - 1]
}

/// The pseudo-random sequence the histogram and LCS kernels draw from.
fn next_small(x: i64) -> i64 {
    (x * 75 + 74) % 65537
}

/// `benches/kernels/histogram.fasm`: `n` keys `x % 1000` counted in a hash
/// map (std's, as a Rust programmer writes it); the sum of `h[k] * (k + 1)`.
pub fn histogram(n: i64) -> i64 {
    let mut h = std::collections::HashMap::new();
    for k in 0..1000i64 {
        h.insert(k, 0i64);
    }
    let mut x = 1;
    for _ in 0..black_box(n) {
        x = next_small(x);
        *h.entry(x % 1000).or_insert(0) += 1;
    }
    (0..1000).map(|k| h[&k] * (k + 1)).sum()
}

/// `benches/kernels/lcs.fasm`: the longest common subsequence of two
/// `n`-element arrays over one flat `(n + 1) x (n + 1)` table.
pub fn lcs(n: i64) -> i64 {
    let n = black_box(n).max(0) as usize;
    let mut x = 1;
    let mut draw = || {
        x = next_small(x);
        x % 20
    };
    let a: Vec<i64> = (0..n).map(|_| draw()).collect();
    let b: Vec<i64> = (0..n).map(|_| draw()).collect();
    let w = n + 1;
    let mut dp = vec![0i64; w * w];
    for i in 1..=n {
        let (row, prev) = (i * w, (i - 1) * w);
        for j in 1..=n {
            dp[row + j] = if a[i - 1] == b[j - 1] {
                dp[prev + j - 1] + 1
            } else {
                dp[prev + j].max(dp[row + j - 1])
            };
        }
    }
    dp[n * w + n]
}

/// `benches/kernels/heapsort.fasm`: heap sort of `n` Ints (`x = x * 16807
/// % 2147483647`) with one sift-down loop for both phases, then the sum of
/// `a[i] * (i % 13 + 1)`.
pub fn heapsort(n: i64) -> i64 {
    let n = black_box(n).max(0) as usize;
    let mut x = 1i64;
    let mut a: Vec<i64> = (0..n)
        .map(|_| {
            x = x * 16807 % 2147483647;
            x
        })
        .collect();
    let (mut k, mut end) = (n, n);
    loop {
        let mut root = if k > 0 {
            k -= 1;
            k
        } else {
            if end <= 1 {
                break;
            }
            end -= 1;
            a.swap(0, end);
            0
        };
        loop {
            let mut child = 2 * root + 1;
            if child >= end {
                break;
            }
            if child + 1 < end && a[child] < a[child + 1] {
                child += 1;
            }
            if a[root] >= a[child] {
                break;
            }
            a.swap(root, child);
            root = child;
        }
    }
    a.iter()
        .enumerate()
        .map(|(i, v)| v * (i as i64 % 13 + 1))
        .sum()
}

/// `benches/kernels/nbody.fasm`: 5 bodies, `steps` steps of 0.001 with
/// pairwise gravity, then the system's energy.
#[allow(clippy::needless_range_loop)] // indexed as the kernel indexes
pub fn nbody(steps: i64) -> f64 {
    const N: usize = 5;
    const DT: f64 = 0.001;
    let (mut x, mut y, mut z) = ([0.0f64; N], [0.0f64; N], [0.0f64; N]);
    let (mut vx, mut vy, mut vz, mut m) = ([0.0f64; N], [0.0f64; N], [0.0f64; N], [0.0f64; N]);
    for i in 0..N {
        let fi = i as f64;
        x[i] = fi * 1.7 + -3.1;
        y[i] = (i % 3) as f64 * 0.9 + -0.8;
        z[i] = fi * 0.13 + (i % 2) as f64 * 0.5;
        vx[i] = (i % 2) as f64 * 0.05 + -0.02;
        vy[i] = fi * 0.011;
        vz[i] = (i % 3) as f64 * -0.007;
        m[i] = fi * 0.005 + 0.01;
    }
    for _ in 0..black_box(steps) {
        for i in 0..N {
            for j in i + 1..N {
                let (dx, dy, dz) = (x[i] - x[j], y[i] - y[j], z[i] - z[j]);
                let d2 = dx * dx + dy * dy + dz * dz;
                let mag = DT / (d2 * d2.sqrt());
                let (mi, mj) = (m[i] * mag, m[j] * mag);
                vx[i] -= dx * mj;
                vy[i] -= dy * mj;
                vz[i] -= dz * mj;
                vx[j] += dx * mi;
                vy[j] += dy * mi;
                vz[j] += dz * mi;
            }
        }
        for i in 0..N {
            x[i] += DT * vx[i];
            y[i] += DT * vy[i];
            z[i] += DT * vz[i];
        }
    }
    let mut e = 0.0;
    for i in 0..N {
        e += 0.5 * m[i] * (vx[i] * vx[i] + vy[i] * vy[i] + vz[i] * vz[i]);
        for j in i + 1..N {
            let (dx, dy, dz) = (x[i] - x[j], y[i] - y[j], z[i] - z[j]);
            e -= m[i] * m[j] / (dx * dx + dy * dy + dz * dz).sqrt();
        }
    }
    e
}
