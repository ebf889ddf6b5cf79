//! Random well-formed programs for the differential tests: every numeric
//! op (Div/Mod by zero, `MIN / -1`, NaN, ±inf, −0.0, overflow, shifts ≥ 64),
//! Int/Float/Bool/Undef values, loops (top-tested, do-while, fused
//! back-edges, `AccumSumLoop`), branches, keep jumps, stack shuffles,
//! scopes, subroutine calls (bounded and runaway recursion), slots preset by
//! the embedder (strings included) and, on request, printing and string
//! values flowing through expressions (constants, `Concat`, string
//! comparisons, `StringRepeat`, `StringLen`, strings as numeric operands)
//! and containers (an array and a hash in globals, read and written).

use super::Rng;
use super::outcome::Outcome;
use fusevm_llvm::{Chunk, ChunkBuilder, Op, SharedBuffer, VM, Value};

const SLOTS: u16 = 5;

/// The slot array programs keep a local array in (past the counters).
const ARRAY_SLOT: u16 = SLOTS + 60;
/// The slot holding one row of the nested array g5 (array programs).
const ROW_SLOT: u16 = SLOTS + 61;

fn numeric_constants() -> Vec<Value> {
    vec![
        Value::Int(0),
        Value::Int(-1),
        Value::Int(i64::MIN),
        Value::Int(i64::MAX),
        Value::Float(-0.0),
        Value::Float(f64::NAN),
        Value::Float(f64::NEG_INFINITY),
        Value::Float(0.5),
        Value::Bool(true),
        Value::Undef,
    ]
}

fn string_constants() -> Vec<Value> {
    ["", "7", "ab", "-2.5", "nan", "1e3", " x "]
        .into_iter()
        .map(Value::str)
        .collect()
}

const STRING_BINARY: &[Op] = &[
    Op::Concat,
    Op::Concat,
    Op::Concat,
    Op::Add,
    Op::StrEq,
    Op::StrNe,
    Op::StrLt,
    Op::StrGe,
    Op::StrCmp,
    Op::StringRepeat,
];

const BINARY: &[Op] = &[
    Op::Add,
    Op::Sub,
    Op::Mul,
    Op::Div,
    Op::Mod,
    Op::Pow,
    Op::NumEq,
    Op::NumNe,
    Op::NumLt,
    Op::NumGt,
    Op::NumLe,
    Op::NumGe,
    Op::Spaceship,
    Op::LogAnd,
    Op::LogOr,
    Op::BitAnd,
    Op::BitOr,
    Op::BitXor,
    Op::Shl,
    Op::Shr,
    Op::GcdInt,
    Op::LcmInt,
    Op::Atan2Float,
];

const UNARY: &[Op] = &[
    Op::Negate,
    Op::Inc,
    Op::Dec,
    Op::LogNot,
    Op::BitNot,
    Op::AbsInt,
    Op::TruncInt,
    Op::SqrtFloat,
    Op::SinFloat,
    Op::ExpFloat,
    Op::FloorFloat,
    Op::RoundFloat,
    Op::AbsFloat,
    Op::AtanFloat,
    Op::TanhFloat,
];

struct Gen {
    rng: Rng,
    b: ChunkBuilder,
    n_consts: u16,
    next_counter: u16,
    /// Subroutines that may be called from here: (name index, argc,
    /// whether it returns a value).
    subs: Vec<(u16, u8, bool)>,
    in_sub: bool,
    /// Whether statements may print (keeps chunks out of the block tier).
    prints: bool,
    /// Whether expressions may make and use strings.
    strings: bool,
    /// Whether statements work on global arrays: g2 filled with Ints, g4
    /// a copy of it (aliased until one side is written), g5 an array of
    /// rows, g3 a hash with Int keys.
    arrays: bool,
    /// A subroutine taking an array and an index, writing its copy and
    /// returning it (name index), in array programs.
    array_sub: Option<u16>,
    /// The counter of the long loop being generated: calls inside pass it
    /// as their first argument, so a callee's branch on it flips mid-loop.
    hot: Option<u16>,
}

impl Gen {
    fn emit(&mut self, op: Op) -> usize {
        self.b.emit(op, 1)
    }

    fn slot(&mut self) -> u16 {
        self.rng.below(SLOTS as u64) as u16
    }

    /// Pushes exactly one value.
    fn expr(&mut self, depth: u32) {
        let choice = if depth > 3 {
            self.rng.below(4)
        } else {
            self.rng.below(14)
        };
        match choice {
            0 => {
                let s = self.slot();
                self.emit(Op::GetSlot(s));
            }
            1 => {
                let v = *self
                    .rng
                    .pick(&[0, 1, -1, 2, 3, 7, 63, 64, 65, i64::MIN, i64::MAX]);
                self.emit(Op::LoadInt(v));
            }
            2 => {
                let v = *self
                    .rng
                    .pick(&[0.0, -0.0, 1.5, -2.25, f64::NAN, f64::INFINITY, 1e300]);
                self.emit(Op::LoadFloat(v));
            }
            3 if !self.in_sub && self.rng.below(3) == 0 => {
                // Globals g0 and g1 are name indices 0 and 1.
                let g = self.rng.below(2) as u16;
                self.emit(Op::GetVar(g));
            }
            3 => {
                // Subroutines stay numeric: a trace calls them natively.
                let n = if self.in_sub {
                    numeric_constants().len()
                } else {
                    self.n_consts as usize
                };
                let c = self.rng.below(n as u64) as u16;
                self.emit(Op::LoadConst(c));
            }
            4..=6 => {
                self.expr(depth + 1);
                self.expr(depth + 1);
                let op = if self.strings && !self.in_sub && self.rng.below(2) == 0 {
                    *self.rng.pick(STRING_BINARY)
                } else {
                    *self.rng.pick(BINARY)
                };
                self.emit(op);
            }
            7 if self.strings && !self.in_sub && self.rng.below(4) == 0 => {
                self.expr(depth + 1);
                self.emit(Op::StringLen);
            }
            8 if self.arrays && !self.in_sub && self.rng.below(2) == 0 => {
                self.index();
                match self.rng.below(4) {
                    0 => self.emit(Op::ArrayGet(4)),
                    1 => self.emit(Op::SlotArrayGet(ARRAY_SLOT)),
                    _ => self.emit(Op::ArrayGet(2)),
                };
            }
            8 if self.strings && !self.in_sub && self.rng.below(2) == 0 => {
                // Reading the containers: array g2, hash g3.
                match self.rng.below(4) {
                    0 => {
                        self.emit(Op::ArrayLen(2));
                    }
                    1 => {
                        self.expr(depth + 1);
                        self.emit(Op::HashGet(3));
                    }
                    2 => {
                        self.expr(depth + 1);
                        self.emit(Op::HashExists(3));
                    }
                    _ => {
                        self.expr(depth + 1);
                        self.emit(Op::ArrayGet(2));
                    }
                }
            }
            7 => {
                self.expr(depth + 1);
                let op = *self.rng.pick(UNARY);
                self.emit(op);
            }
            8 => {
                let s = self.slot();
                let op = *self.rng.pick(&[
                    Op::PreIncSlot(s),
                    Op::PreDecSlot(s),
                    Op::PostIncSlot(s),
                    Op::PostDecSlot(s),
                ]);
                self.emit(op);
            }
            9 => {
                // Stack shuffles.
                self.expr(depth + 1);
                self.expr(depth + 1);
                match self.rng.below(3) {
                    0 => {
                        self.emit(Op::Swap);
                    }
                    1 => {
                        self.emit(Op::Dup2);
                        self.emit(Op::Sub);
                        self.emit(Op::Rot);
                        self.emit(Op::Pop);
                    }
                    _ => {
                        self.emit(Op::Dup);
                        self.emit(Op::Mul);
                    }
                }
                let op = *self.rng.pick(BINARY);
                self.emit(op);
            }
            10 => {
                // `a || b` with a keep jump.
                self.expr(depth + 1);
                let keep = if self.rng.below(2) == 0 {
                    Op::JumpIfTrueKeep(0)
                } else {
                    Op::JumpIfFalseKeep(0)
                };
                let j = self.emit(keep);
                self.emit(Op::Pop);
                self.expr(depth + 1);
                let end = self.b.current_pos();
                self.b.patch_jump(j, end);
            }
            11 => {
                self.expr(depth + 1);
                self.expr(depth + 1);
                self.expr(depth + 1);
                let op = if self.rng.below(2) == 0 {
                    Op::MulModFloor
                } else {
                    self.expr(depth + 1);
                    Op::MulAddModFloor
                };
                self.emit(op);
            }
            _ => {
                if self.subs.is_empty() {
                    self.emit(Op::LoadInt(5));
                    return;
                }
                let (name, argc, value) = *self.rng.pick(&self.subs.clone());
                for a in 0..argc {
                    match self.hot {
                        Some(c) if a == 0 && self.rng.below(3) != 0 => {
                            self.emit(Op::GetSlot(c));
                        }
                        _ => self.expr(depth + 1),
                    }
                }
                self.emit(Op::Call(name, argc));
                if !value {
                    self.emit(Op::LoadInt(-3));
                }
            }
        }
    }

    fn statement(&mut self, depth: u32) {
        let choice = if depth > 2 {
            self.rng.below(4)
        } else {
            self.rng.below(11)
        };
        match choice {
            0 if !self.in_sub && self.rng.below(3) == 0 => {
                self.expr(0);
                let g = self.rng.below(2) as u16;
                self.emit(Op::SetVar(g));
            }
            0 | 1 => {
                self.expr(0);
                let s = self.slot();
                self.emit(Op::SetSlot(s));
            }
            2 | 3 if self.arrays && !self.in_sub && self.rng.below(3) != 0 => {
                self.array_statement()
            }
            2 if self.strings && !self.in_sub && self.rng.below(2) == 0 => {
                // Writing the containers: array g2, hash g3.
                self.expr(0);
                let op = match self.rng.below(3) {
                    0 => Op::ArrayPush(2),
                    1 => {
                        self.expr(0);
                        Op::ArraySet(2)
                    }
                    _ => {
                        self.expr(0);
                        Op::HashSet(3)
                    }
                };
                self.emit(op);
            }
            2 => {
                self.expr(0);
                self.emit(Op::Pop);
            }
            3 => {
                let (a, b) = (self.slot(), self.slot());
                let op = *self
                    .rng
                    .pick(&[Op::PreIncSlotVoid(a), Op::AddAssignSlotVoid(a, b)]);
                self.emit(op);
            }
            4 | 5 => self.branch(depth),
            6 | 7 => self.counted_loop(depth),
            8 => {
                // AccumSumLoop over a counter and a data slot.
                let c = self.counter();
                let lim = self.rng.below(6) as i32 - 1;
                let start = self.rng.below(3) as i64;
                self.emit(Op::LoadInt(start));
                self.emit(Op::SetSlot(c));
                let s = self.slot();
                self.emit(Op::AccumSumLoop(s, c, lim));
            }
            9 if !self.in_sub => {
                // A scope with fresh slots.
                self.emit(Op::PushFrame);
                self.block(depth + 1);
                self.emit(Op::PopFrame);
            }
            10 if self.prints && self.rng.below(2) == 0 => {
                let s = self.slot();
                self.emit(Op::GetSlot(s));
                self.emit(Op::PrintLn(1));
            }
            10 if !self.in_sub && self.rng.below(4) == 0 => {
                // A conditional top-level return.
                self.expr(0);
                let j = self.emit(Op::JumpIfFalse(0));
                let ret = if self.rng.below(2) == 0 {
                    self.expr(0);
                    Op::ReturnValue
                } else {
                    Op::Return
                };
                self.emit(ret);
                let end = self.b.current_pos();
                self.b.patch_jump(j, end);
            }
            _ => {
                self.expr(0);
                let s = self.slot();
                self.emit(Op::SetSlot(s));
            }
        }
    }

    /// Starts a one-argument recursive subroutine `name`: slot 0 = its
    /// argument `% modulus`, then a `JumpIfFalse` (returned, to patch) past
    /// the base case `slot 0 < 1`.
    fn recursion_base_test(&mut self, name: &str, modulus: i64) -> (u16, usize) {
        let name = self.b.add_name(name);
        let entry = self.b.current_pos();
        self.b.add_sub_entry(name, entry);
        self.emit(Op::LoadInt(modulus));
        self.emit(Op::Mod);
        self.emit(Op::SetSlot(0));
        self.emit(Op::GetSlot(0));
        self.emit(Op::LoadInt(1));
        self.emit(Op::NumLt);
        (name, self.emit(Op::JumpIfFalse(0)))
    }

    fn counter(&mut self) -> u16 {
        self.next_counter += 1;
        SLOTS + self.next_counter
    }

    fn branch(&mut self, depth: u32) {
        self.expr(0);
        let cond = if self.rng.below(2) == 0 {
            Op::JumpIfFalse(0)
        } else {
            Op::JumpIfTrue(0)
        };
        let to_else = self.emit(cond);
        self.block(depth + 1);
        let to_end = self.emit(Op::Jump(0));
        let else_at = self.b.current_pos();
        self.b.patch_jump(to_else, else_at);
        self.block(depth + 1);
        let end = self.b.current_pos();
        self.b.patch_jump(to_end, end);
    }

    /// An element to store: mostly an Int (the array stays unboxed), now
    /// and then a Float, a Bool or any expression (a strategy change).
    fn element(&mut self) {
        match self.rng.below(10) {
            0..=3 => {
                let n = self.rng.below(100) as i64 - 20;
                self.emit(Op::LoadInt(n));
            }
            4..=6 => {
                let s = self.slot();
                self.emit(Op::GetSlot(s));
            }
            7 => {
                self.emit(Op::LoadFloat(-0.0));
            }
            8 => {
                self.emit(Op::LoadTrue);
            }
            _ => self.expr(1),
        }
    }

    /// An index: in range, past the end or negative, or a loop counter.
    fn index(&mut self) {
        match self.rng.below(5) {
            0..=1 => {
                let n = self.rng.below(16) as i64 - 4;
                self.emit(Op::LoadInt(n));
            }
            2..=3 => {
                let s = self.hot.unwrap_or_else(|| self.slot());
                self.emit(Op::GetSlot(s));
            }
            _ => self.expr(2),
        }
    }

    /// A statement on the global arrays g2 and g4, or the array in
    /// [`ARRAY_SLOT`] (inside a scope: another frame's slot, `undef` until
    /// written).
    fn array_statement(&mut self) {
        match self.rng.below(22) {
            14 | 15 => {
                // The hash g3 with Int keys (in and out of what was set).
                match self.rng.below(4) {
                    0 | 1 => {
                        self.element();
                        self.index();
                        self.emit(Op::HashSet(3));
                        return;
                    }
                    2 => {
                        self.index();
                        self.emit(Op::HashGet(3));
                    }
                    _ => {
                        self.index();
                        let op = *self.rng.pick(&[Op::HashExists(3), Op::HashDelete(3)]);
                        self.emit(op);
                    }
                }
                let s = self.slot();
                self.emit(Op::SetSlot(s));
            }
            16 => {
                // A row into the nested array g5 (a copy of the local array
                // or of g2: later writes to either must not show in it).
                let src = match self.rng.below(2) {
                    0 => Op::GetSlot(ARRAY_SLOT),
                    _ => Op::GetArray(2),
                };
                self.emit(src);
                self.emit(Op::ArrayPush(5));
            }
            17 | 18 => {
                // Row `i` of g5 into a slot, read or written there and, when
                // written, stored back.
                self.index();
                self.emit(Op::ArrayGet(5));
                self.emit(Op::SetSlot(ROW_SLOT));
                if self.rng.below(2) == 0 {
                    self.index();
                    self.emit(Op::SlotArrayGet(ROW_SLOT));
                    let s = self.slot();
                    self.emit(Op::SetSlot(s));
                } else {
                    self.element();
                    self.index();
                    self.emit(Op::SlotArraySet(ROW_SLOT));
                    self.emit(Op::GetSlot(ROW_SLOT));
                    self.index();
                    self.emit(Op::ArraySet(5));
                }
            }
            19 if self.array_sub.is_some() => {
                // An array through a callee and back.
                let name = self.array_sub.unwrap_or_default();
                let (src, dst) = match self.rng.below(3) {
                    0 => (Op::GetSlot(ARRAY_SLOT), Op::SetSlot(ARRAY_SLOT)),
                    1 => (Op::GetArray(2), Op::SetArray(4)),
                    _ => (Op::GetArray(4), Op::SetSlot(ARRAY_SLOT)),
                };
                self.emit(src);
                self.index();
                self.emit(Op::Call(name, 2));
                self.emit(dst);
            }
            8 | 9 => {
                self.element();
                self.index();
                self.emit(Op::SlotArraySet(ARRAY_SLOT));
            }
            10 => {
                self.index();
                self.emit(Op::SlotArrayGet(ARRAY_SLOT));
                let s = self.slot();
                self.emit(Op::SetSlot(s));
            }
            11 => {
                // Aliases between a slot's array and a global's.
                if self.rng.below(2) == 0 {
                    self.emit(Op::GetArray(2));
                    self.emit(Op::SetSlot(ARRAY_SLOT));
                } else {
                    self.emit(Op::GetSlot(ARRAY_SLOT));
                    self.emit(Op::SetArray(4));
                }
            }
            12 => {
                let op = if self.rng.below(2) == 0 {
                    Op::ArrayPop(2)
                } else {
                    Op::ArrayShift(4)
                };
                self.emit(op);
                let s = self.slot();
                self.emit(Op::SetSlot(s));
            }
            13 => {
                // A new array (now and then too long for a native tier).
                let k = [0, 1, 2, 3, 5][self.rng.below(5) as usize];
                for _ in 0..k {
                    self.element();
                }
                self.emit(Op::MakeArray(k));
                self.emit(Op::SetSlot(ARRAY_SLOT));
            }
            0 | 1 => {
                self.element();
                self.emit(Op::ArrayPush(2));
            }
            2 | 3 => {
                self.element();
                self.index();
                self.emit(Op::ArraySet(2));
            }
            4 => {
                // An aliased copy: writes to either side must not show
                // through the other.
                self.emit(Op::GetArray(2));
                self.emit(Op::SetArray(4));
            }
            5 => {
                self.element();
                self.index();
                self.emit(Op::ArraySet(4));
            }
            6 => {
                self.index();
                self.emit(Op::ArrayGet(2));
                let s = self.slot();
                self.emit(Op::SetSlot(s));
            }
            _ => {
                self.emit(Op::ArrayLen(2));
                let s = self.slot();
                self.emit(Op::SetSlot(s));
            }
        }
    }

    fn counted_loop(&mut self, depth: u32) {
        let c = self.counter();
        // A long loop now and then (not nested in another): calls inside
        // pass its counter on, branches on it flip while the trace runs.
        let long = depth == 0 && self.hot.is_none() && self.rng.below(4) == 0;
        let trips = match long {
            true => 8 + self.rng.below(40) as i64,
            false => self.rng.below(5) as i64,
        };
        let outer_hot = self.hot;
        if long {
            self.hot = Some(c);
        }
        self.emit(Op::LoadInt(0));
        self.emit(Op::SetSlot(c));
        let head = self.b.current_pos();
        match self.rng.below(3) {
            0 => {
                self.emit(Op::GetSlot(c));
                self.emit(Op::LoadInt(trips));
                self.emit(Op::NumLt);
                let exit = self.emit(Op::JumpIfFalse(0));
                self.block(depth + 1);
                self.emit(Op::PreIncSlotVoid(c));
                self.emit(Op::Jump(head));
                let end = self.b.current_pos();
                self.b.patch_jump(exit, end);
            }
            1 => {
                let exit = self.emit(Op::SlotLtIntJumpIfFalse(c, trips as i32, 0));
                self.block(depth + 1);
                self.emit(Op::PreIncSlotVoid(c));
                self.emit(Op::Jump(head));
                let end = self.b.current_pos();
                self.b.patch_jump(exit, end);
            }
            _ => {
                self.block(depth + 1);
                self.emit(Op::SlotIncLtIntJumpBack(c, trips as i32, head));
            }
        }
        self.hot = outer_hot;
    }

    fn block(&mut self, depth: u32) {
        for _ in 0..1 + self.rng.below(3) {
            self.statement(depth);
        }
    }
}

/// A random program; `presets` are slot values the embedder sets first.
pub fn program(seed: u64, prints: bool) -> (Chunk, Vec<Value>) {
    program_with(seed, prints, false)
}

/// A random program that may also print and make strings.
pub fn program_with(seed: u64, prints: bool, strings: bool) -> (Chunk, Vec<Value>) {
    program_with_arrays(seed, prints, strings, false)
}

/// A random program that may also print, make strings and keep Int arrays
/// in globals (read and written in and out of range, copied, changing
/// strategy).
pub fn program_with_arrays(
    seed: u64,
    prints: bool,
    strings: bool,
    arrays: bool,
) -> (Chunk, Vec<Value>) {
    let mut consts = numeric_constants();
    if strings {
        consts.extend(string_constants());
    }
    let mut g = Gen {
        rng: Rng::new(seed),
        b: ChunkBuilder::new(),
        n_consts: consts.len() as u16,
        next_counter: 0,
        subs: Vec::new(),
        in_sub: false,
        prints,
        strings,
        arrays,
        array_sub: None,
        hot: None,
    };
    for c in &consts {
        g.b.add_constant(c.clone());
    }
    g.b.add_name("g0");
    g.b.add_name("g1");
    if strings || arrays {
        g.b.add_name("g2");
        g.b.add_name("g3");
    }
    if arrays {
        g.b.add_name("g4");
        g.b.add_name("g5");
    }
    let presets: Vec<Value> = match g.rng.below(3) {
        0 => vec![],
        _ => (0..SLOTS)
            .map(|_| {
                g.rng
                    .pick(&[
                        Value::Int(3),
                        Value::Float(-0.0),
                        Value::Bool(true),
                        Value::str("7"),
                        Value::Undef,
                    ])
                    .clone()
            })
            .collect(),
    };
    let main_jump = g.emit(Op::Jump(0));
    // Subroutines first (each may call the ones defined before it), then a
    // recursive one with a bounded or unbounded depth.
    for k in 0..g.rng.below(3) {
        let argc = g.rng.below(3) as u8;
        let name = g.b.add_name(&format!("s{k}"));
        let entry = g.b.current_pos();
        g.b.add_sub_entry(name, entry);
        g.in_sub = true;
        for a in (0..argc as u16).rev() {
            g.emit(Op::SetSlot(a));
        }
        if argc > 0 && g.rng.below(2) == 0 {
            // A branch on the first argument (a loop counter, often): it
            // flips once the counter passes `t`.
            let t = g.rng.below(30) as i64;
            g.emit(Op::GetSlot(0));
            g.emit(Op::LoadInt(t));
            g.emit(Op::NumLt);
            let to_else = g.emit(Op::JumpIfFalse(0));
            g.block(1);
            let to_end = g.emit(Op::Jump(0));
            let else_at = g.b.current_pos();
            g.b.patch_jump(to_else, else_at);
            g.block(1);
            let end = g.b.current_pos();
            g.b.patch_jump(to_end, end);
        }
        g.block(1);
        let value = g.rng.below(5) != 0;
        if value {
            g.expr(0);
            g.emit(Op::ReturnValue);
        } else {
            g.emit(Op::Return);
        }
        g.in_sub = false;
        g.subs.push((name, argc, value));
    }
    if arrays && g.rng.below(2) == 0 {
        // put(a, i): writes a[i] and a[i + 1] of its copy of `a` (perhaps
        // switching its strategy) and returns the copy with its length.
        let name = g.b.add_name("put");
        let entry = g.b.current_pos();
        g.b.add_sub_entry(name, entry);
        g.emit(Op::SetSlot(1));
        g.emit(Op::SetSlot(0));
        for d in 0..2 {
            if g.rng.below(3) == 0 {
                g.emit(Op::LoadFloat(0.5));
            } else {
                g.emit(Op::GetSlot(1));
            }
            g.emit(Op::GetSlot(1));
            g.emit(Op::LoadInt(d));
            g.emit(Op::Add);
            g.emit(Op::SlotArraySet(0));
        }
        g.emit(Op::GetSlot(0));
        g.emit(Op::ReturnValue);
        g.array_sub = Some(name);
    }
    if g.rng.below(2) == 0 {
        // down(n) = n % 7 < 1 ? 0 : down(n % 7 - 1) * 2 + 1: linear recursion
        // 1..7 activations deep, around `max_inline_recursion`.
        let (name, j) = g.recursion_base_test("down", 7);
        g.emit(Op::LoadInt(0));
        g.emit(Op::ReturnValue);
        let more = g.b.current_pos();
        g.b.patch_jump(j, more);
        g.emit(Op::GetSlot(0));
        g.emit(Op::LoadInt(1));
        g.emit(Op::Sub);
        g.emit(Op::Call(name, 1));
        g.emit(Op::LoadInt(2));
        g.emit(Op::Mul);
        g.emit(Op::LoadInt(1));
        g.emit(Op::Add);
        g.emit(Op::ReturnValue);
        g.subs.push((name, 1, true));
    }
    if g.rng.below(3) == 0 {
        // rec(n) = (n % 16) < 1 ? n % 16 : rec(n % 16 - 1) + rec(n % 16 - 2)
        // (a NaN recurses until the frame limit)
        let (name, j) = g.recursion_base_test("rec", 16);
        g.emit(Op::GetSlot(0));
        g.emit(Op::ReturnValue);
        let rec = g.b.current_pos();
        g.b.patch_jump(j, rec);
        for d in [1, 2] {
            g.emit(Op::GetSlot(0));
            g.emit(Op::LoadInt(d));
            g.emit(Op::Sub);
            g.emit(Op::Call(name, 1));
        }
        g.emit(Op::Add);
        g.emit(Op::ReturnValue);
        g.subs.push((name, 1, true));
    }
    let main = g.b.current_pos();
    g.b.patch_jump(main_jump, main);
    if strings || arrays {
        g.emit(Op::DeclareArray(2));
        g.emit(Op::DeclareHash(3));
    }
    if arrays {
        for k in 0..g.rng.below(12) as i64 {
            g.emit(Op::LoadInt(k * 7 - 5));
            g.emit(Op::ArrayPush(2));
        }
        g.emit(Op::DeclareArray(4));
        g.emit(Op::DeclareArray(5));
        // A local array: from..=to (perhaps empty).
        let from = g.rng.below(3) as i64;
        let to = g.rng.below(9) as i64 - 1;
        g.emit(Op::LoadInt(from));
        g.emit(Op::LoadInt(to));
        g.emit(Op::Range);
        g.emit(Op::SetSlot(ARRAY_SLOT));
    }
    // Size the slot area up front, as a frontend declaring its locals
    // would: a `PushFrame` after a branch then sees one static length.
    g.emit(Op::LoadUndef);
    g.emit(Op::SetSlot(SLOTS + 64));
    g.block(0);
    for s in 0..SLOTS {
        g.emit(Op::GetSlot(s));
    }
    if arrays {
        // The result shows the local array and the rows too.
        g.emit(Op::GetSlot(ARRAY_SLOT));
        g.emit(Op::GetArray(5));
        g.emit(Op::MakeArray(3));
    }
    (g.b.build(), presets)
}

pub fn vm_for(chunk: &Chunk, presets: &[Value], jit: bool) -> (VM, SharedBuffer) {
    let mut vm = VM::new(chunk.clone());
    let out = SharedBuffer::new();
    vm.set_output(Box::new(out.clone()));
    let mut limits = vm.limits();
    limits.max_frames = 2_000;
    // Strings doubled in nested loops stay small; past this, both fail.
    limits.max_string_len = 1 << 16;
    vm.set_limits(limits);
    for (i, v) in presets.iter().enumerate() {
        vm.set_slot(i as u16, v.clone());
    }
    if jit {
        vm.enable_tracing_jit();
    }
    (vm, out)
}

/// Runs `chunk` interpreted and with the JIT (under this thread's
/// configuration); `Err` says how they differ (result, slots, stack,
/// frames, globals, output, ip).
pub fn compare(chunk: &Chunk, presets: &[Value]) -> Result<(), String> {
    let want = Outcome::of(chunk, presets, false, None);
    match Outcome::of(chunk, presets, true, None).differs(&want) {
        None => Ok(()),
        Some(d) => Err(d),
    }
}

/// Shrinks a disagreeing program by turning ops into `Nop` (jump targets
/// stay valid) while the disagreement persists.
pub fn minimise(chunk: &Chunk, presets: &[Value]) -> Chunk {
    minimise_by(chunk, |c| compare(c, presets).is_err())
}

/// `chunk` with ops turned into `Nop` while `fails` still holds.
pub fn minimise_by(chunk: &Chunk, fails: impl Fn(&Chunk) -> bool) -> Chunk {
    let mut ops: Vec<Op> = chunk.ops().to_vec();
    let rebuild = |ops: &[Op]| {
        let mut b = ChunkBuilder::new();
        for c in chunk.constants() {
            b.add_constant(c.clone());
        }
        for n in chunk.names() {
            b.add_name(n);
        }
        for &(n, ip) in chunk.sub_entries() {
            b.add_sub_entry(n, ip);
        }
        for op in ops {
            b.emit(*op, 1);
        }
        b.build()
    };
    let mut changed = true;
    while changed {
        changed = false;
        for i in 0..ops.len() {
            if ops[i] == Op::Nop {
                continue;
            }
            let saved = ops[i];
            ops[i] = Op::Nop;
            let c = rebuild(&ops);
            if fusevm_llvm::verify(&c).is_ok() && fails(&c) {
                changed = true;
            } else {
                ops[i] = saved;
            }
        }
    }
    rebuild(&ops)
}
