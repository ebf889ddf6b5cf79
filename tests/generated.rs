//! Generated programs: superinstructions never change a result, and no
//! bytecode — however malformed — panics or crashes the VM.

mod common;
use common::Rng;
use fusevm_llvm::{Chunk, ChunkBuilder, Op, SharedBuffer, VM, VMResult, Value};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Constants that exercise every corner of the arithmetic.
fn corner_constants() -> Vec<Value> {
    vec![
        Value::Int(0),
        Value::Int(1),
        Value::Int(-1),
        Value::Int(3),
        Value::Int(i64::MAX),
        Value::Int(i64::MIN),
        Value::Float(0.0),
        Value::Float(-0.0),
        Value::Float(2.5),
        Value::Float(-7.25),
        Value::Float(f64::NAN),
        Value::Float(f64::INFINITY),
        Value::Bool(true),
        Value::Bool(false),
        Value::Undef,
        Value::str("12"),
        Value::str("x"),
    ]
}

const BINOPS: &[Op] = &[
    Op::Add,
    Op::Sub,
    Op::Mul,
    Op::Div,
    Op::Mod,
    Op::NumEq,
    Op::NumNe,
    Op::NumLt,
    Op::NumGt,
    Op::NumLe,
    Op::NumGe,
    Op::BitAnd,
    Op::BitOr,
    Op::BitXor,
    Op::Shl,
    Op::Shr,
];

const SLOTS: u16 = 6;
/// The slot holding a copy of the global array (above the loop counters'
/// slots).
const ARRAY_SLOT: u16 = 60;

/// A generated subroutine a later statement may call.
#[derive(Clone, Copy)]
struct Sub {
    name: u16,
    argc: u8,
    /// Ends in `ReturnValue` (else `Return`, which leaves nothing).
    returns: bool,
}

struct Gen {
    rng: Rng,
    b: ChunkBuilder,
    n_consts: u16,
    next_counter: u16,
    /// The subroutines generated so far (a body calls only earlier ones,
    /// so every run ends).
    subs: Vec<Sub>,
    /// Inside a subroutine body that returns a value: a statement may
    /// return early.
    early_return: bool,
    /// The global array statements read, write and push to.
    array: u16,
    /// The global hash statements read and write.
    hash: u16,
}

impl Gen {
    fn operand(&mut self) {
        let op = match self.rng.below(4) {
            0 => Op::GetSlot(self.rng.below(SLOTS as u64) as u16),
            1 => Op::LoadInt(
                *self
                    .rng
                    .pick(&[0, 1, -1, 2, 3, 7, 63, 64, -5, i64::MAX, i64::MIN]),
            ),
            2 => Op::LoadFloat(*self.rng.pick(&[
                0.0,
                -0.0,
                1.5,
                -7.25,
                f64::NAN,
                f64::INFINITY,
                1e308,
            ])),
            _ => Op::LoadConst(self.rng.below(self.n_consts as u64) as u16),
        };
        self.b.emit(op, 1);
    }

    /// A value on the stack: `slot ⊕ operand`, or `(operand ⊕ operand) ⊕ k`.
    fn expression(&mut self) {
        if self.rng.below(3) == 0 {
            self.operand();
            self.operand();
            let op = *self.rng.pick(BINOPS);
            self.b.emit(op, 1);
            if self.rng.below(3) == 0 {
                let k = *self.rng.pick(&[0.0, -0.0, 0.999, f64::NAN, -1e300]);
                self.b.emit(Op::LoadFloat(k), 1);
            } else {
                let k = *self.rng.pick(&[0, 1, -1, 3, 64, i64::MAX]);
                self.b.emit(Op::LoadInt(k), 1);
            }
        } else {
            let a = self.rng.below(SLOTS as u64) as u16;
            self.b.emit(Op::GetSlot(a), 1);
            self.operand();
        }
        let op = *self.rng.pick(BINOPS);
        self.b.emit(op, 1);
    }

    /// An expression ending in a store or a pop; sometimes a call, or an
    /// early return out of a subroutine.
    fn statement(&mut self) {
        if !self.subs.is_empty() && self.rng.below(3) == 0 {
            return self.call();
        }
        if self.rng.below(3) == 0 {
            return self.array_access();
        }
        if self.rng.below(6) == 0 {
            return self.hash_access();
        }
        if self.rng.below(8) == 0 {
            let s = self.rng.below(SLOTS as u64) as u16;
            self.b.emit(Op::PreIncSlotVoid(s), 1);
            return;
        }
        if self.early_return && self.rng.below(6) == 0 {
            self.expression();
            self.b.emit(Op::ReturnValue, 1);
            return;
        }
        self.expression();
        match self.rng.below(4) {
            0 => {
                self.b.emit(Op::Pop, 1);
            }
            _ => {
                let d = self.rng.below(SLOTS as u64) as u16;
                self.b.emit(Op::SetSlot(d), 1);
            }
        }
    }

    /// A read, write or push of the global array: indices in range, past
    /// its end, negative, or any slot's value (which may be no index at
    /// all); values of every kind, so its strategy changes.
    fn array_access(&mut self) {
        let arr = self.array;
        let index = |g: &mut Gen| {
            let op = match g.rng.below(4) {
                0 => Op::GetSlot(g.rng.below(SLOTS as u64) as u16),
                _ => Op::LoadInt(*g.rng.pick(&[0, 1, 2, 3, -1, -2, 5, 9])),
            };
            g.b.emit(op, 1);
        };
        match self.rng.below(6) {
            0 => {
                index(self);
                self.b.emit(Op::ArrayGet(arr), 1);
                let d = self.rng.below(SLOTS as u64) as u16;
                self.b.emit(Op::SetSlot(d), 1);
            }
            3 => {
                // A copy in a slot (the two share storage until one
                // changes).
                self.b.emit(Op::GetArray(arr), 1);
                self.b.emit(Op::SetSlot(ARRAY_SLOT), 1);
            }
            4 => {
                index(self);
                self.b.emit(Op::SlotArrayGet(ARRAY_SLOT), 1);
                let d = self.rng.below(SLOTS as u64) as u16;
                self.b.emit(Op::SetSlot(d), 1);
            }
            5 => {
                self.operand();
                index(self);
                self.b.emit(Op::SlotArraySet(ARRAY_SLOT), 1);
            }
            1 => {
                self.operand();
                index(self);
                self.b.emit(Op::ArraySet(arr), 1);
            }
            _ => {
                match self.rng.below(3) {
                    0 => self.b.emit(Op::LoadTrue, 1),
                    1 => self.b.emit(Op::LoadFalse, 1),
                    _ => {
                        self.operand();
                        self.b.current_pos()
                    }
                };
                self.b.emit(Op::ArrayPush(arr), 1);
            }
        }
    }

    /// A read or write of the global hash: Int keys it has and doesn't,
    /// or any slot's value (a string or Float key switches it to string
    /// keys); values of every kind.
    fn hash_access(&mut self) {
        let h = self.hash;
        let key = |g: &mut Gen| {
            let op = match g.rng.below(3) {
                0 => Op::GetSlot(g.rng.below(SLOTS as u64) as u16),
                _ => Op::LoadInt(*g.rng.pick(&[0, 1, 2, 7, -1, 1000, i64::MIN])),
            };
            g.b.emit(op, 1);
        };
        if self.rng.below(2) == 0 {
            key(self);
            self.b.emit(Op::HashGet(h), 1);
            let d = self.rng.below(SLOTS as u64) as u16;
            self.b.emit(Op::SetSlot(d), 1);
        } else {
            self.operand();
            key(self);
            self.b.emit(Op::HashSet(h), 1);
        }
    }

    /// A call of an earlier subroutine with fresh operands; its result (if
    /// any) is stored or dropped.
    fn call(&mut self) {
        let sub = *self.rng.pick(&self.subs);
        for _ in 0..sub.argc {
            self.operand();
        }
        self.b.emit(Op::Call(sub.name, sub.argc), 1);
        if sub.returns {
            let op = match self.rng.below(3) {
                0 => Op::Pop,
                _ => Op::SetSlot(self.rng.below(SLOTS as u64) as u16),
            };
            self.b.emit(op, 1);
        }
    }

    /// A subroutine as a plain frontend emits one: its arguments popped
    /// into its first slots, a body, then `expression; ReturnValue` or
    /// `Return`.
    fn subroutine(&mut self, k: usize) {
        let name = self.b.add_name(&format!("sub{k}"));
        let argc = self.rng.below(3) as u8;
        let returns = self.rng.below(4) != 0;
        let entry = self.b.current_pos();
        self.b.add_sub_entry(name, entry);
        for s in (0..argc as u16).rev() {
            self.b.emit(Op::SetSlot(s), 1);
        }
        self.early_return = returns;
        self.block(1);
        self.early_return = false;
        if returns {
            self.expression();
            self.b.emit(Op::ReturnValue, 1);
        } else {
            self.b.emit(Op::Return, 1);
        }
        self.subs.push(Sub {
            name,
            argc,
            returns,
        });
    }

    /// `if slot ⊕ operand { … } else { … }`.
    fn branch(&mut self, depth: u32) {
        self.expression();
        let cond = if self.rng.below(2) == 0 {
            Op::JumpIfFalse(0)
        } else {
            Op::JumpIfTrue(0)
        };
        let to_else = self.b.emit(cond, 1);
        self.block(depth + 1);
        let to_end = self.b.emit(Op::Jump(0), 1);
        let else_at = self.b.current_pos();
        self.b.patch_jump(to_else, else_at);
        self.block(depth + 1);
        let end = self.b.current_pos();
        self.b.patch_jump(to_end, end);
    }

    /// A counted loop (top-tested or do-while) over a private counter slot.
    fn counted_loop(&mut self, depth: u32) {
        let c = SLOTS + self.next_counter;
        self.next_counter += 1;
        let trips = self.rng.below(6) as i64;
        self.b.emit(Op::LoadInt(0), 1);
        self.b.emit(Op::SetSlot(c), 1);
        let head = self.b.current_pos();
        if self.rng.below(2) == 0 {
            self.b.emit(Op::GetSlot(c), 1);
            self.b.emit(Op::LoadInt(trips), 1);
            self.b.emit(Op::NumLt, 1);
            let exit = self.b.emit(Op::JumpIfFalse(0), 1);
            self.block(depth + 1);
            self.b.emit(Op::GetSlot(c), 1);
            self.b.emit(Op::LoadInt(1), 1);
            self.b.emit(Op::Add, 1);
            self.b.emit(Op::SetSlot(c), 1);
            self.b.emit(Op::Jump(head), 1);
            let end = self.b.current_pos();
            self.b.patch_jump(exit, end);
        } else {
            self.block(depth + 1);
            self.b.emit(Op::GetSlot(c), 1);
            self.b.emit(Op::LoadInt(1), 1);
            self.b.emit(Op::Add, 1);
            self.b.emit(Op::SetSlot(c), 1);
            self.b.emit(Op::GetSlot(c), 1);
            self.b.emit(Op::LoadInt(trips), 1);
            self.b.emit(Op::NumLt, 1);
            self.b.emit(Op::JumpIfTrue(head), 1);
        }
    }

    fn block(&mut self, depth: u32) {
        for _ in 0..1 + self.rng.below(3) {
            match self.rng.below(if depth < 3 { 5 } else { 2 }) {
                0 | 1 => self.statement(),
                2 | 3 => self.branch(depth),
                _ => self.counted_loop(depth),
            }
        }
    }
}

/// A random well-formed program: up to three subroutines (jumped over),
/// then slots seeded from corner constants, nested statements, branches,
/// loops and calls, then every slot pushed.
fn program(seed: u64) -> Chunk {
    let consts = corner_constants();
    let mut g = Gen {
        rng: Rng::new(seed),
        b: ChunkBuilder::new(),
        n_consts: consts.len() as u16,
        next_counter: 0,
        subs: Vec::new(),
        early_return: false,
        array: 0,
        hash: 0,
    };
    for c in consts {
        g.b.add_constant(c);
    }
    g.array = g.b.add_name("arr");
    g.b.emit(Op::DeclareArray(g.array), 1);
    g.hash = g.b.add_name("h");
    g.b.emit(Op::DeclareHash(g.hash), 1);
    for _ in 0..4 {
        g.operand();
        g.b.emit(Op::ArrayPush(g.array), 1);
    }
    let over_subs = g.b.emit(Op::Jump(0), 1);
    for k in 0..g.rng.below(4) as usize {
        g.subroutine(k);
    }
    let main = g.b.current_pos();
    g.b.patch_jump(over_subs, main);
    for s in 0..SLOTS {
        let c = g.rng.below(g.n_consts as u64) as u16;
        g.b.emit(Op::LoadConst(c), 1);
        g.b.emit(Op::SetSlot(s), 1);
    }
    g.block(0);
    for s in 0..SLOTS {
        g.b.emit(Op::GetSlot(s), 1);
    }
    g.b.emit(Op::GetArray(g.array), 1);
    g.b.emit(Op::GetSlot(ARRAY_SLOT), 1);
    g.b.emit(Op::GetHash(g.hash), 1);
    g.b.emit(Op::MakeArray(SLOTS + 3), 1);
    g.b.build()
}

#[test]
fn superinstructions_never_change_a_result() {
    let count = 10_000;
    let mut finished = 0;
    for seed in 0..count {
        let chunk = program(seed);
        let fused = VM::new(chunk.clone()).run();
        let mut plain_vm = VM::new(chunk);
        plain_vm.set_superinstructions(false);
        let plain = plain_vm.run();
        assert!(
            fused.same_as(&plain),
            "seed {seed}: fused {fused} vs plain {plain}\n{}",
            fusevm_llvm::disassemble(plain_vm.chunk()).unwrap()
        );
        finished += matches!(fused, VMResult::Ok(_)) as u32;
    }
    // Errors (a bad index, say) are compared too, but most programs must
    // run to the end for the comparison to cover them.
    assert!(
        finished > count as u32 * 3 / 4,
        "{finished} of {count} ran to the end"
    );
}

/// Any op with operands drawn near the edges of their ranges; jumps only go
/// forward so every program terminates.
fn hostile_op(rng: &mut Rng, ip: usize, len: usize, pools: (u64, u64)) -> Op {
    let small = |rng: &mut Rng| *rng.pick(&[0i64, 1, 2, 3, 5, 255, 65_535, 70_000, -1]);
    let m = *rng.pick(Op::MNEMONICS);
    let kinds = Op::operand_kinds(m).unwrap();
    let operands: Vec<fusevm_llvm::Operand> = kinds
        .iter()
        .map(|k| {
            use fusevm_llvm::Operand as O;
            use fusevm_llvm::OperandKind as K;
            match k {
                K::Float => O::Float(*rng.pick(&[0.0, -0.0, f64::NAN, 1e308, -3.5])),
                K::Int => O::Int(*rng.pick(&[0, -1, i64::MIN, i64::MAX, 1 << 40])),
                K::Lim => O::Int(*rng.pick(&[0, 3, -2, 40])),
                // Mostly in range; one chance in ~len to point past the end.
                K::Target => O::Int((ip + 1 + rng.below((len - ip) as u64 + 1) as usize) as i64),
                // One pool index in forty is out of range.
                K::Const | K::Name => {
                    let n = if *k == K::Const { pools.0 } else { pools.1 };
                    O::Int(if rng.below(40) == 0 { n } else { rng.below(n) } as i64)
                }
                K::Wide => O::Int(small(rng).max(0)),
                _ => O::Int(small(rng)),
            }
        })
        .collect();
    // Out-of-range operands fall back to a valid op; the verifier sees the rest.
    match Op::from_operands(m, &operands).unwrap_or(Op::Nop) {
        // Accumulating into the counter slot restarts the count every trip:
        // a real infinite loop, which only a step budget can stop.
        Op::ConcatConstLoop(_, s, i, _) if s == i => Op::Nop,
        op => op,
    }
}

#[test]
fn hostile_bytecode_never_panics() {
    let mut rng = Rng::new(0xF00D);
    // ok, halted, runtime error, rejected by the verifier
    let mut outcomes = [0usize; 4];
    for case in 0..10_000 {
        let len = 1 + rng.below(24) as usize;
        let mut b = ChunkBuilder::new();
        let n_consts = 1 + rng.below(4);
        for _ in 0..n_consts {
            b.add_constant(corner_constants()[rng.below(17) as usize].clone());
        }
        let n_names = 1 + rng.below(4);
        for i in 0..n_names {
            let n = b.add_name(&format!("n{i}"));
            if rng.below(2) == 0 {
                b.add_sub_entry(n, rng.below(len as u64) as usize);
            }
        }
        for ip in 0..len {
            let op = hostile_op(&mut rng, ip, len, (n_consts, n_names));
            b.emit(op, 1);
        }
        let chunk = b.build();
        let result = catch_unwind(AssertUnwindSafe(|| {
            let mut vm = VM::new(chunk.clone());
            vm.set_output(Box::new(SharedBuffer::new()));
            vm.set_input(Box::new(std::io::Cursor::new("line\n")));
            vm.set_limits(fusevm_llvm::Limits {
                // Without a step budget (fuel) a body with k calls to itself runs k^depth
                // activations; a shallow frame limit keeps every case fast.
                max_frames: 3,
                ..Default::default()
            });
            vm.run()
        }));
        match result {
            Ok(VMResult::Ok(_)) => outcomes[0] += 1,
            Ok(VMResult::Halted) => outcomes[1] += 1,
            Ok(VMResult::Error(e)) => {
                let rejected = e.message.starts_with("invalid chunk");
                outcomes[2 + rejected as usize] += 1;
                assert!(!e.message.is_empty());
            }
            Err(_) => panic!("case {case} panicked:\n{:?}", chunk.ops()),
        }
    }
    // The generator must reach every outcome often, or it tests too little.
    assert!(outcomes.iter().all(|&n| n > 100), "{outcomes:?}");
}

#[test]
fn random_bytes_never_decode_into_a_panic() {
    let mut rng = Rng::new(7);
    for _ in 0..20_000 {
        let bytes: Vec<u8> = (0..rng.below(24)).map(|_| rng.below(256) as u8).collect();
        let mut pos = 0;
        while pos < bytes.len() {
            if Op::decode(&bytes, &mut pos).is_err() {
                break;
            }
        }
    }
}
