//! The kernels: each a `.fasm` program with its sizes in slots, and the
//! native-Rust function whose result it must give. Shared by the suite
//! (`mod.rs`) and the interpreter benchmark (`benches/interp.rs`, which
//! builds without the JIT).

#[path = "../../tests/common/kernels.rs"]
pub mod native;

use fusevm_llvm::Value;
use std::hint::black_box;

/// One benchmark program.
pub struct Kernel {
    /// Group name.
    pub name: &'static str,
    /// `benches/kernels/{file}.fasm`.
    pub file: &'static str,
    /// Slots the embedder sets: (slot, value).
    pub params: &'static [(u16, i64)],
    /// The native-Rust baseline (its result is the expected one).
    pub native: fn() -> Value,
}

/// Every kernel, in report order.
pub const KERNELS: &[Kernel] = &[
    Kernel {
        name: "sum_loop",
        file: "sum",
        params: &[(0, 10_000_000)],
        native: || Value::Int(native::sum_xor(black_box(10_000_000))),
    },
    Kernel {
        name: "float_recurrence",
        file: "float_recurrence",
        params: &[(2, 1_000_000)],
        native: || Value::Float(native::float_recurrence(black_box(1_000_000))),
    },
    Kernel {
        name: "branch",
        file: "branch",
        params: &[(2, 3_000_000)],
        native: || Value::Int(native::branch_plain(black_box(3_000_000))),
    },
    Kernel {
        name: "nested",
        file: "nested",
        params: &[(3, 1000)],
        native: || Value::Int(native::nested(black_box(1000))),
    },
    Kernel {
        name: "fib27",
        file: "fib",
        params: &[(0, 27)],
        native: || Value::Int(native::fib(black_box(27))),
    },
    Kernel {
        name: "mandelbrot",
        file: "mandelbrot",
        params: &[(9, 200), (10, 50)],
        native: || Value::Int(native::mandelbrot(black_box(200), black_box(50))),
    },
    Kernel {
        name: "calls",
        file: "calls",
        params: &[(0, 3_000_000)],
        native: || Value::Int(native::calls(black_box(3_000_000))),
    },
    Kernel {
        name: "sieve",
        file: "sieve",
        params: &[(0, 1_000_000)],
        native: || Value::Int(native::sieve(black_box(1_000_000))),
    },
    Kernel {
        name: "matmul",
        file: "matmul",
        params: &[(0, 200)],
        native: || Value::Float(native::matmul(black_box(200))),
    },
    Kernel {
        name: "matmul_rows",
        file: "matmul_rows",
        params: &[(0, 200)],
        native: || Value::Float(native::matmul_rows(black_box(200))),
    },
    Kernel {
        name: "heapsort",
        file: "heapsort",
        params: &[(0, 200_000)],
        native: || Value::Int(native::heapsort(black_box(200_000))),
    },
    Kernel {
        name: "nbody",
        file: "nbody",
        params: &[(0, 200_000)],
        native: || Value::Float(native::nbody(black_box(200_000))),
    },
    Kernel {
        name: "lcs",
        file: "lcs",
        params: &[(0, 3000)],
        native: || Value::Int(native::lcs(black_box(3000))),
    },
    Kernel {
        name: "histogram",
        file: "histogram",
        params: &[(0, 1_000_000)],
        native: || Value::Int(native::histogram(black_box(1_000_000))),
    },
];

impl Kernel {
    /// The Lua version's name (`benches/lua/{lua}.lua`): a plain form's
    /// kernel computes what its suite kernel does.
    pub fn lua(&self) -> &'static str {
        let base = self.file.rsplit('/').next().unwrap_or(self.file);
        base.strip_suffix("_dowhile")
            .or_else(|| base.strip_suffix("_while"))
            .unwrap_or(base)
    }
}

/// A plain form of suite kernel `k` (`benches/kernels/plain/{file}.fasm`).
const fn plain(name: &'static str, file: &'static str, k: &Kernel) -> Kernel {
    Kernel {
        name,
        file,
        params: k.params,
        native: k.native,
    }
}

/// Every suite kernel as a plain frontend emits it (no fused ops; every
/// loop top-tested, then do-while), in report order.
pub const PLAIN_KERNELS: &[Kernel] = &[
    plain("sum_loop/while", "plain/sum_while", &KERNELS[0]),
    plain("sum_loop/dowhile", "plain/sum_dowhile", &KERNELS[0]),
    plain(
        "float_recurrence/while",
        "plain/float_recurrence_while",
        &KERNELS[1],
    ),
    plain(
        "float_recurrence/dowhile",
        "plain/float_recurrence_dowhile",
        &KERNELS[1],
    ),
    plain("branch/while", "plain/branch_while", &KERNELS[2]),
    plain("branch/dowhile", "plain/branch_dowhile", &KERNELS[2]),
    plain("nested/while", "plain/nested_while", &KERNELS[3]),
    plain("nested/dowhile", "plain/nested_dowhile", &KERNELS[3]),
    plain("fib27/plain", "plain/fib", &KERNELS[4]),
    plain("mandelbrot/while", "plain/mandelbrot_while", &KERNELS[5]),
    plain(
        "mandelbrot/dowhile",
        "plain/mandelbrot_dowhile",
        &KERNELS[5],
    ),
    plain("calls/while", "plain/calls_while", &KERNELS[6]),
    plain("calls/dowhile", "plain/calls_dowhile", &KERNELS[6]),
    plain("sieve/while", "plain/sieve_while", &KERNELS[7]),
    plain("sieve/dowhile", "plain/sieve_dowhile", &KERNELS[7]),
    // matmul's suite form is already plain and top-tested.
    plain("matmul/dowhile", "plain/matmul_dowhile", &KERNELS[8]),
];
