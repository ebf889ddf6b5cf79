//! Chunks (an op vector with its pools) and the builder frontends use.
//!
//! A chunk's content is public data, as in fusevm: a frontend may build one
//! with [`ChunkBuilder`] or edit `ops`, `constants` and the rest directly.
//! What is derived from the content — the **content hash** every cache keys
//! on, the subroutine table, the number of globals — is kept beside it and
//! **sealed** whenever a VM or the JIT takes the chunk: the VM seals its own
//! copy (a chunk it shares through an `Arc` can no longer change), and every
//! `JitCompiler` method that takes `&Chunk` checks the seal and works on a
//! resealed copy when the content changed. So an edited chunk can never run
//! against a stale hash. The hash is xxh3-128 over a canonical byte encoding
//! of the ops, constants, names and subroutine entries (not the line table,
//! the source name or slot names, which are debug data), so it is the same
//! across processes, machines and Rust versions. It is recomputed, never
//! trusted, when a chunk is deserialized.

use super::op::{DecodeError, Op};
use super::value::Value;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

/// Most entries a constant or name pool can hold (indices are `u16`).
pub const POOL_LIMIT: usize = u16::MAX as usize + 1;

/// A compiled unit of bytecode: main code and subroutines share one op vector.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(into = "ChunkData", try_from = "ChunkData")]
pub struct Chunk {
    /// The ops: main code from op 0, subroutines where `sub_entries` say.
    pub ops: Vec<Op>,
    /// The constant pool (`LoadConst` indexes it).
    pub constants: Vec<Value>,
    /// The name pool: globals and subroutine names (interned by the builder).
    pub names: Vec<String>,
    /// Source line of each op (parallel to `ops`; debug data).
    pub lines: Vec<u32>,
    /// Subroutine entries as `(name index, entry ip)`; the first entry for a
    /// name wins.
    pub sub_entries: Vec<(u16, usize)>,
    /// Block regions `(start ip, end ip)` a frontend records for its own use
    /// (fusevm's map/grep/sort bodies); no op of this VM reads them.
    pub block_ranges: Vec<(usize, usize)>,
    /// Nested chunks a frontend keeps with this one (fusevm's command
    /// substitutions and handlers); no op of this VM runs them.
    pub sub_chunks: Vec<Chunk>,
    /// Names of each subroutine's slots, `(entry ip, names)` (debug data).
    pub sub_slot_names: Vec<(usize, Vec<String>)>,
    /// Source file name (debug data).
    pub source: String,
    /// fusevm's 64-bit content hash (the low half of
    /// [`Chunk::content_hash`]): set by [`ChunkBuilder::build`], by
    /// deserialization and by the VM on its copy; `0` on a chunk nobody
    /// built or sealed. Informational: nothing here trusts it.
    pub op_hash: u64,
    /// Derived from the content when the chunk was last sealed.
    sealed: Sealed,
    /// An error the builder recorded (pool overflow, bad patch); the verifier
    /// rejects such a chunk.
    build_error: Option<BuildError>,
}

/// What is derived from a chunk's content (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Sealed {
    /// The content hash.
    hash: u128,
    /// Entry ip of the subroutine named by each name index.
    sub_table: Vec<Option<usize>>,
    /// Globals a VM keeps (see [`Chunk::global_count`]).
    globals: usize,
}

/// An error found while building a chunk.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum BuildError {
    /// More than 65,536 constants.
    #[error("constant pool overflow: more than {POOL_LIMIT} constants")]
    ConstantPoolOverflow,
    /// More than 65,536 distinct names.
    #[error("name pool overflow: more than {POOL_LIMIT} names")]
    NamePoolOverflow,
    /// `patch_jump` named an op that is not a jump, or no op at all.
    #[error("patch_jump({pos}): op {pos} is not a jump")]
    NotAJump {
        /// The op index given to `patch_jump`.
        pos: usize,
    },
}

impl Chunk {
    /// The ops.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// The constant pool.
    pub fn constants(&self) -> &[Value] {
        &self.constants
    }

    /// The name pool.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Source line of each op (parallel to `ops`).
    pub fn lines(&self) -> &[u32] {
        &self.lines
    }

    /// Subroutine entries as `(name index, entry ip)`.
    pub fn sub_entries(&self) -> &[(u16, usize)] {
        &self.sub_entries
    }

    /// How many globals a VM keeps for this chunk: one per name, and one
    /// for every index a global op uses past the name pool (as in fusevm,
    /// a frontend may number its globals without naming them).
    pub fn global_count(&self) -> usize {
        count_globals(&self.ops, &self.names)
    }

    /// An empty chunk (running it halts at once).
    pub fn new() -> Chunk {
        Chunk::default()
    }

    /// Entry ip of the subroutine whose name has index `name` (fusevm's
    /// name for [`Chunk::sub_entry`]).
    pub fn find_sub(&self, name: u16) -> Option<usize> {
        self.sub_entry(name)
    }

    /// The stable content hash: equal for chunks with equal content, in any
    /// process; different chunks differ (xxh3-128). Computed from the
    /// content on each call.
    pub fn content_hash(&self) -> u128 {
        xxhash_rust::xxh3::xxh3_128(&self.canonical_bytes())
    }

    /// Entry ip of the subroutine named by name index `name` (the first
    /// entry for it).
    pub fn sub_entry(&self, name: u16) -> Option<usize> {
        self.sub_entries
            .iter()
            .find(|&&(n, _)| n == name)
            .map(|&(_, ip)| ip)
    }

    /// Slot names recorded for the subroutine entered at `entry_ip` (empty
    /// if none were).
    pub fn sub_slot_names_at(&self, entry_ip: usize) -> &[String] {
        self.sub_slot_names
            .iter()
            .find(|(ip, _)| *ip == entry_ip)
            .map_or(&[], |(_, names)| names.as_slice())
    }

    /// Index of `name` in the name pool.
    pub fn name_index(&self, name: &str) -> Option<u16> {
        self.names.iter().position(|n| n == name).map(|i| i as u16)
    }

    /// The error the builder recorded, if any.
    pub fn build_error(&self) -> Option<&BuildError> {
        self.build_error.as_ref()
    }

    /// Number of ops.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// True for a chunk without ops.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// A builder holding this chunk's content, for producing a modified copy.
    pub fn to_builder(&self) -> ChunkBuilder {
        let mut b = ChunkBuilder::new();
        b.ops = self.ops.clone();
        b.lines = self.lines.clone();
        b.constants = self.constants.clone();
        for n in &self.names {
            b.add_name(n);
        }
        b.sub_entries = self.sub_entries.clone();
        b.block_ranges = self.block_ranges.clone();
        b.sub_chunks = self.sub_chunks.clone();
        b.sub_slot_names = self.sub_slot_names.clone();
        b.source = self.source.clone();
        b.error = self.build_error.clone();
        b
    }

    // ── the seal ──

    /// Recomputes what is derived from the content (and `op_hash`).
    pub(crate) fn seal(&mut self) {
        self.sealed = self.derive();
        self.op_hash = self.sealed.hash as u64;
    }

    /// True when the derived state matches the content.
    pub(crate) fn is_sealed(&self) -> bool {
        self.derive() == self.sealed
    }

    /// `chunk` itself when its seal holds, else a resealed copy: what every
    /// entry point that takes a caller's `&Chunk` works on.
    #[cfg(feature = "jit")]
    pub(crate) fn sealed(chunk: &Chunk) -> std::borrow::Cow<'_, Chunk> {
        use std::borrow::Cow;
        if chunk.is_sealed() {
            Cow::Borrowed(chunk)
        } else {
            let mut c = chunk.clone();
            c.seal();
            Cow::Owned(c)
        }
    }

    /// The content hash as sealed: the cache key. Only for a chunk a VM or
    /// a `JitCompiler` entry point has sealed.
    #[inline]
    pub(crate) fn sealed_hash(&self) -> u128 {
        self.sealed.hash
    }

    /// [`Chunk::sub_entry`] as sealed (a table lookup, for the hot paths).
    #[inline]
    pub(crate) fn sealed_sub_entry(&self, name: u16) -> Option<usize> {
        self.sealed.sub_table.get(name as usize).copied().flatten()
    }

    /// [`Chunk::global_count`] as sealed.
    #[inline]
    pub(crate) fn sealed_global_count(&self) -> usize {
        self.sealed.globals
    }

    fn derive(&self) -> Sealed {
        let mut sub_table = vec![None; self.names.len()];
        for &(name, ip) in &self.sub_entries {
            if let Some(slot) = sub_table.get_mut(name as usize) {
                slot.get_or_insert(ip);
            }
        }
        Sealed {
            hash: self.content_hash(),
            sub_table,
            globals: count_globals(&self.ops, &self.names),
        }
    }

    fn from_parts(parts: ChunkData, ops: Vec<Op>) -> Chunk {
        let mut lines = parts.lines;
        lines.resize(ops.len(), 0);
        let mut chunk = Chunk {
            ops,
            constants: parts.constants,
            names: parts.names,
            lines,
            sub_entries: parts.sub_entries,
            block_ranges: parts.block_ranges,
            sub_chunks: parts.sub_chunks,
            sub_slot_names: parts.sub_slot_names,
            source: parts.source,
            op_hash: 0,
            sealed: Sealed::default(),
            build_error: parts.build_error,
        };
        chunk.seal();
        chunk
    }

    /// The canonical encoding the hash is taken over.
    fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.ops.len() * 4 + 64);
        out.extend_from_slice(b"fusevm-llvm chunk v1\0");
        out.extend_from_slice(&(self.ops.len() as u64).to_le_bytes());
        for op in &self.ops {
            op.encode(&mut out);
        }
        out.extend_from_slice(&(self.constants.len() as u64).to_le_bytes());
        for c in &self.constants {
            encode_value(c, &mut out);
        }
        out.extend_from_slice(&(self.names.len() as u64).to_le_bytes());
        for n in &self.names {
            encode_str(n, &mut out);
        }
        out.extend_from_slice(&(self.sub_entries.len() as u64).to_le_bytes());
        for &(n, ip) in &self.sub_entries {
            out.extend_from_slice(&n.to_le_bytes());
            out.extend_from_slice(&(ip as u64).to_le_bytes());
        }
        out.push(self.build_error.is_some() as u8);
        // A frontend's own data, appended only when present so the hash of
        // every chunk without it is unchanged (persisted caches stay valid).
        if !self.block_ranges.is_empty() || !self.sub_chunks.is_empty() {
            out.extend_from_slice(&(self.block_ranges.len() as u64).to_le_bytes());
            for &(a, b) in &self.block_ranges {
                out.extend_from_slice(&(a as u64).to_le_bytes());
                out.extend_from_slice(&(b as u64).to_le_bytes());
            }
            out.extend_from_slice(&(self.sub_chunks.len() as u64).to_le_bytes());
            for c in &self.sub_chunks {
                out.extend_from_slice(&c.content_hash().to_le_bytes());
            }
        }
        out
    }
}

/// Globals a VM keeps: one per name, and one for every index a global op
/// uses past the name pool.
fn count_globals(ops: &[Op], names: &[String]) -> usize {
    ops.iter()
        .filter_map(|op| op.global().map(|n| n as usize + 1))
        .fold(names.len(), usize::max)
}

fn encode_str(s: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn encode_value(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Undef => out.push(0),
        Value::Bool(b) => out.extend_from_slice(&[1, *b as u8]),
        Value::Int(n) => {
            out.push(2);
            out.extend_from_slice(&n.to_le_bytes());
        }
        Value::Float(x) => {
            out.push(3);
            out.extend_from_slice(&x.to_bits().to_le_bytes());
        }
        Value::Str(s) => {
            out.push(4);
            encode_str(s, out);
        }
        Value::Array(a) => {
            out.push(5);
            out.extend_from_slice(&(a.len() as u64).to_le_bytes());
            for item in a.elements() {
                encode_value(&item, out);
            }
        }
        Value::Hash(h) => {
            out.push(6);
            out.extend_from_slice(&(h.len() as u64).to_le_bytes());
            for (k, item) in super::value::sorted_entries(h) {
                encode_str(&k, out);
                encode_value(item, out);
            }
        }
        Value::NativeFn(id) => {
            out.push(7);
            out.extend_from_slice(&id.to_le_bytes());
        }
        Value::Handle(h) => {
            out.push(8);
            out.extend_from_slice(&h.to_le_bytes());
        }
    }
}

impl Default for Chunk {
    /// An empty chunk, sealed, with `op_hash` 0 as in fusevm (nobody built
    /// it).
    fn default() -> Chunk {
        let mut c = Chunk::from_parts(ChunkData::default(), Vec::new());
        c.op_hash = 0;
        c
    }
}

/// The serialized form: ops in their binary encoding (exact, compact), no
/// derived fields. The frontend's own data comes last and may be absent.
#[derive(Default, Serialize, Deserialize)]
struct ChunkData {
    ops: Vec<u8>,
    constants: Vec<Value>,
    names: Vec<String>,
    lines: Vec<u32>,
    sub_entries: Vec<(u16, usize)>,
    build_error: Option<BuildError>,
    #[serde(default)]
    block_ranges: Vec<(usize, usize)>,
    #[serde(default)]
    sub_chunks: Vec<Chunk>,
    #[serde(default)]
    sub_slot_names: Vec<(usize, Vec<String>)>,
    #[serde(default)]
    source: String,
}

impl From<Chunk> for ChunkData {
    fn from(c: Chunk) -> Self {
        let mut ops = Vec::with_capacity(c.ops.len() * 4);
        for op in &c.ops {
            op.encode(&mut ops);
        }
        ChunkData {
            ops,
            constants: c.constants,
            names: c.names,
            lines: c.lines,
            sub_entries: c.sub_entries,
            build_error: c.build_error,
            block_ranges: c.block_ranges,
            sub_chunks: c.sub_chunks,
            sub_slot_names: c.sub_slot_names,
            source: c.source,
        }
    }
}

impl TryFrom<ChunkData> for Chunk {
    type Error = DecodeError;
    fn try_from(mut d: ChunkData) -> Result<Self, DecodeError> {
        let mut ops = Vec::new();
        let mut pos = 0;
        while pos < d.ops.len() {
            ops.push(Op::decode(&d.ops, &mut pos)?);
        }
        d.ops = Vec::new();
        Ok(Chunk::from_parts(d, ops))
    }
}

/// Builds a [`Chunk`]. Pool overflow and bad patches are recorded, never
/// silently aliased: [`ChunkBuilder::try_build`] returns them, and a chunk
/// from [`ChunkBuilder::build`] that carries one is rejected by the verifier.
#[derive(Debug, Clone, Default)]
pub struct ChunkBuilder {
    ops: Vec<Op>,
    lines: Vec<u32>,
    constants: Vec<Value>,
    names: Vec<String>,
    name_index: FxHashMap<String, u16>,
    sub_entries: Vec<(u16, usize)>,
    block_ranges: Vec<(usize, usize)>,
    sub_chunks: Vec<Chunk>,
    sub_slot_names: Vec<(usize, Vec<String>)>,
    source: String,
    error: Option<BuildError>,
}

impl ChunkBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `op` (from source line `line`) and returns its index.
    pub fn emit(&mut self, op: Op, line: u32) -> usize {
        self.ops.push(op);
        self.lines.push(line);
        self.ops.len() - 1
    }

    /// Adds a constant and returns its index. On overflow the error is
    /// recorded (see [`ChunkBuilder::try_add_constant`]) and `u16::MAX` is
    /// returned; the built chunk will not verify.
    pub fn add_constant(&mut self, v: Value) -> u16 {
        self.try_add_constant(v).unwrap_or_else(|e| {
            self.error.get_or_insert(e);
            u16::MAX
        })
    }

    /// Adds a constant, or reports pool overflow.
    pub fn try_add_constant(&mut self, v: Value) -> Result<u16, BuildError> {
        if self.constants.len() >= POOL_LIMIT {
            return Err(BuildError::ConstantPoolOverflow);
        }
        self.constants.push(v);
        Ok((self.constants.len() - 1) as u16)
    }

    /// Interns a name and returns its index (the same name, the same index).
    /// On overflow the error is recorded and `u16::MAX` is returned.
    pub fn add_name(&mut self, name: &str) -> u16 {
        self.try_add_name(name).unwrap_or_else(|e| {
            self.error.get_or_insert(e);
            u16::MAX
        })
    }

    /// Interns a name, or reports pool overflow.
    pub fn try_add_name(&mut self, name: &str) -> Result<u16, BuildError> {
        if let Some(&i) = self.name_index.get(name) {
            return Ok(i);
        }
        if self.names.len() >= POOL_LIMIT {
            return Err(BuildError::NamePoolOverflow);
        }
        let i = self.names.len() as u16;
        self.names.push(name.to_string());
        self.name_index.insert(name.to_string(), i);
        Ok(i)
    }

    /// Index of the next op to be emitted.
    pub fn current_pos(&self) -> usize {
        self.ops.len()
    }

    /// Points the jump at `pos` to `target`. Patching an op that is not a
    /// jump records an error.
    pub fn patch_jump(&mut self, pos: usize, target: usize) {
        let ok = self
            .ops
            .get_mut(pos)
            .is_some_and(|op| op.set_jump_target(target));
        if !ok {
            self.error.get_or_insert(BuildError::NotAJump { pos });
        }
    }

    /// Declares that the subroutine named by name index `name` starts at `ip`.
    pub fn add_sub_entry(&mut self, name: u16, ip: usize) {
        self.sub_entries.push((name, ip));
    }

    /// Records a block region `(start ip, end ip)` for the frontend's own
    /// use and returns its index (see [`Chunk::block_ranges`]).
    pub fn add_block_range(&mut self, start: usize, end: usize) -> u16 {
        self.block_ranges.push((start, end));
        (self.block_ranges.len() - 1) as u16
    }

    /// Keeps a nested chunk with this one and returns its index (see
    /// [`Chunk::sub_chunks`]).
    pub fn add_sub_chunk(&mut self, sub: Chunk) -> u16 {
        self.sub_chunks.push(sub);
        (self.sub_chunks.len() - 1) as u16
    }

    /// Names the slots of the subroutine entered at `entry_ip` (debug data;
    /// see [`Chunk::sub_slot_names_at`]). A later call for the same entry
    /// replaces the names.
    pub fn set_sub_slot_names(&mut self, entry_ip: usize, names: Vec<String>) {
        self.sub_slot_names.retain(|(ip, _)| *ip != entry_ip);
        self.sub_slot_names.push((entry_ip, names));
    }

    /// Sets the source file name (debug data).
    pub fn set_source(&mut self, source: impl Into<String>) {
        self.source = source.into();
    }

    /// The first error recorded so far, if any.
    pub fn error(&self) -> Option<&BuildError> {
        self.error.as_ref()
    }

    /// Finishes the chunk. A recorded error travels with it and makes it fail
    /// verification; use [`ChunkBuilder::try_build`] to see it here.
    pub fn build(self) -> Chunk {
        let parts = ChunkData {
            ops: Vec::new(),
            constants: self.constants,
            names: self.names,
            lines: self.lines,
            sub_entries: self.sub_entries,
            build_error: self.error,
            block_ranges: self.block_ranges,
            sub_chunks: self.sub_chunks,
            sub_slot_names: self.sub_slot_names,
            source: self.source,
        };
        Chunk::from_parts(parts, self.ops)
    }

    /// Finishes the chunk, or returns the first recorded error.
    pub fn try_build(self) -> Result<Chunk, BuildError> {
        match &self.error {
            Some(e) => Err(e.clone()),
            None => Ok(self.build()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Chunk {
        let mut b = ChunkBuilder::new();
        let c = b.add_constant(Value::Float(-0.0));
        let n = b.add_name("f");
        b.emit(Op::LoadConst(c), 1);
        b.emit(Op::Call(n, 0), 2);
        b.emit(Op::Return, 3);
        b.add_sub_entry(n, 3);
        b.emit(Op::LoadInt(1), 4);
        b.emit(Op::ReturnValue, 5);
        b.build()
    }

    #[test]
    fn hash_is_stable_for_equal_content_and_ignores_lines() {
        let a = sample();
        let mut b = a.to_builder();
        b.lines.iter_mut().for_each(|l| *l += 100);
        assert_eq!(a.content_hash(), b.build().content_hash());
    }

    #[test]
    fn hash_changes_with_any_content() {
        let a = sample();
        let mut b = a.to_builder();
        b.ops[3] = Op::LoadInt(2);
        assert_ne!(a.content_hash(), b.build().content_hash());
        let mut c = a.to_builder();
        c.constants[0] = Value::Float(0.0);
        assert_ne!(a.content_hash(), c.build().content_hash());
    }

    #[test]
    fn serde_round_trip_recomputes_the_same_hash() {
        let a = sample();
        let json = serde_json::to_string(&a).unwrap();
        assert!(!json.contains("hash"), "the hash must not be serialized");
        let back: Chunk = serde_json::from_str(&json).unwrap();
        assert_eq!(back.content_hash(), a.content_hash());
        assert_eq!(back.ops(), a.ops());
        assert_eq!(back.sub_entry(0), Some(3));
    }

    #[test]
    fn tampered_serialized_chunk_gets_a_new_identity() {
        let a = sample();
        let mut v: serde_json::Value = serde_json::to_value(&a).unwrap();
        // LoadInt(1) is op 3; flip its immediate's low byte.
        let ops = v["ops"].as_array_mut().unwrap();
        let n = ops.len();
        let idx = n - 9; // [LoadInt code][8 immediate bytes, low first][ReturnValue code]
        ops[idx] = serde_json::json!(9);
        let back: Chunk = serde_json::from_value(v).unwrap();
        assert_eq!(back.ops()[3], Op::LoadInt(9));
        assert_ne!(back.content_hash(), a.content_hash());
    }

    #[test]
    fn constant_pool_overflow_is_reported() {
        let mut b = ChunkBuilder::new();
        for i in 0..POOL_LIMIT {
            assert_eq!(b.add_constant(Value::Int(i as i64)) as usize, i);
        }
        assert_eq!(
            b.try_add_constant(Value::Int(0)),
            Err(BuildError::ConstantPoolOverflow)
        );
        b.add_constant(Value::Int(0));
        assert_eq!(b.error(), Some(&BuildError::ConstantPoolOverflow));
        assert!(b.try_build().is_err());
    }

    #[test]
    fn names_are_interned() {
        let mut b = ChunkBuilder::new();
        assert_eq!(b.add_name("x"), 0);
        assert_eq!(b.add_name("y"), 1);
        assert_eq!(b.add_name("x"), 0);
    }

    #[test]
    fn patching_a_non_jump_is_an_error() {
        let mut b = ChunkBuilder::new();
        let j = b.emit(Op::JumpIfFalse(0), 1);
        b.emit(Op::Nop, 1);
        b.patch_jump(j, 2);
        assert!(b.error().is_none());
        b.patch_jump(1, 0);
        assert_eq!(b.error(), Some(&BuildError::NotAJump { pos: 1 }));
    }
}
