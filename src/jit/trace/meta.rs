//! Trace metadata: everything needed to rebuild a chunk's traces — main
//! path, side paths (with the exits they continue), the kinds each trace
//! was compiled for — as plain data that serde can carry across processes.
//! Importing recompiles the traces, each keeping its identity (its anchor,
//! its paths and their exits).

use super::record::Step;
use super::synth::SidePath;
use super::{build_trace, find_anchor, lock};
use crate::bytecode::chunk::Chunk;
use crate::bytecode::op::Op;
use crate::jit::compiler::SlotKind;
use crate::jit::kinds::TAG_OPAQUE;
use serde::{Deserialize, Serialize};

/// The metadata format; an import of any other is refused. (2: a path goes
/// through the calls it makes, each `Call` followed by its callee's ops;
/// 3: fusevm's field names, kinds as [`SlotKind`], ops and ips listed.)
pub const FORMAT: u32 = 3;

/// One recorded op: where it is, where execution went next, and for an
/// inner loop kept whole its range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepMeta {
    /// The op's ip.
    pub ip: usize,
    /// The ip that ran after it.
    pub next: usize,
    /// An inner loop `lo..=hi` kept as a loop.
    pub inner: Option<(usize, usize)>,
    /// For an `ArrayGet`/`SlotArrayGet` or `ArraySet`/`SlotArraySet`: the
    /// element kind the trace is specialised to (a native tag: 1 Bool, 2
    /// Int, 3 Float).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen: Option<u8>,
}

/// A side path: the exit it continues (path, step of that path, ip the
/// exit resumes at) and what runs from there back to the loop header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SidePathMeta {
    /// The exit it grew from: (path — 0 the main path, `k + 1` side path
    /// `k` —, step, resume ip).
    pub exit: (usize, usize, usize),
    /// Its ops.
    pub path: Vec<StepMeta>,
}

/// One trace of one loop of one chunk, in fusevm's shape (`chunk_op_hash`,
/// `anchor_ip`, `fallthrough_ip`, `ops`, `recorded_ips`, the kinds at the
/// anchor) plus what this tracing tier needs to rebuild a trace exactly:
/// each step's branch direction and inner loops (`path`), the side paths
/// with the exits they continue, and optionally the compiled code.
///
/// `ops` and `recorded_ips` are the main path's ops and ips in record
/// order. An import reads `path` when it is present and otherwise derives
/// it from `recorded_ips` (each op followed by the next, the last closing
/// at the anchor), checking `ops` against the chunk: metadata written by
/// hand or by fusevm needs only fusevm's fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceMetadata {
    /// The chunk's [`Chunk::op_hash`] (the low 64 bits of its content
    /// hash): an import into a chunk with another hash is refused.
    pub chunk_op_hash: u64,
    /// The loop header (ip) the trace starts and closes at.
    pub anchor_ip: usize,
    /// The ip after the op that closes the loop (where a run that leaves
    /// the loop by falling through its back-edge goes on). Derived: an
    /// import does not read it.
    pub fallthrough_ip: usize,
    /// The main path's ops, in record order (through the calls it makes).
    pub ops: Vec<Op>,
    /// The ip of each of `ops`.
    pub recorded_ips: Vec<usize>,
    /// Kinds of the frame's slots the trace was compiled for (its entry
    /// guard), when every one is a number (fusevm's traces take only
    /// those); empty otherwise, and `slot_tags` says.
    pub slot_kinds_at_anchor: Vec<SlotKind>,
    /// The same for the chunk's globals.
    #[serde(default)]
    pub global_kinds_at_anchor: Vec<SlotKind>,
    /// Kinds of the frame's slots exactly, as native tags (0 Undef, 1
    /// Bool, 2 Int, 3 Float, 4 a boxed string or container); empty:
    /// `slot_kinds_at_anchor` says.
    #[serde(default)]
    pub slot_tags: Vec<u8>,
    /// The same for the chunk's globals.
    #[serde(default)]
    pub global_tags: Vec<u8>,
    /// The format version it was written in (3 today; an import of any
    /// other is refused).
    #[serde(default = "current_format")]
    pub format: u32,
    /// Compiled to count steps (for VMs with a step budget).
    #[serde(default)]
    pub step_budget: bool,
    /// The main path step by step (empty: derived from `recorded_ips`).
    #[serde(default)]
    pub path: Vec<StepMeta>,
    /// The side paths, in the order they were linked.
    #[serde(default)]
    pub side_paths: Vec<SidePathMeta>,
    /// The trace's compiled code as a persistent cache record, in hex
    /// ([`JitCompiler::trace_export_all_with_code`]): an import links it
    /// instead of compiling when its key fits the importing process (same
    /// build, LLVM and CPU), and compiles as usual otherwise.
    ///
    /// [`JitCompiler::trace_export_all_with_code`]: crate::JitCompiler::trace_export_all_with_code
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

fn current_format() -> u32 {
    FORMAT
}

/// fusevm's kinds for `tags` when every one is a number, else none.
fn numeric_kinds(tags: &[u8]) -> Vec<SlotKind> {
    tags.iter()
        .map(|&t| SlotKind::of_tag(t))
        .collect::<Option<_>>()
        .unwrap_or_default()
}

/// The native tags a trace is keyed by: `tags` when given (checked), else
/// those of fusevm's `kinds`.
fn tags_of(tags: &[u8], kinds: &[SlotKind]) -> Result<Vec<u8>, String> {
    if tags.is_empty() {
        return Ok(kinds.iter().map(|k| k.tag()).collect());
    }
    if tags.iter().any(|&t| t > TAG_OPAQUE) {
        return Err("unknown kind tag".into());
    }
    Ok(tags.to_vec())
}

fn steps_meta(steps: &[Step]) -> Vec<StepMeta> {
    steps
        .iter()
        .map(|s| StepMeta {
            ip: s.ip,
            next: s.next,
            inner: s.inner,
            seen: s.seen,
        })
        .collect()
}

/// The metadata of every trace of `chunk` at `ip` (`with_code`: with its
/// compiled code, in hex).
pub fn export(chunk: &Chunk, ip: usize, with_code: bool) -> Vec<TraceMetadata> {
    export_with_records(chunk, ip)
        .into_iter()
        .map(|(mut m, record)| {
            m.code = record
                .filter(|_| with_code)
                .map(|r| r.iter().map(|b| format!("{b:02x}")).collect());
            m
        })
        .collect()
}

/// The metadata of every trace of `chunk` at `ip` (without `code`), each
/// with its code's cache record as bytes.
pub fn export_with_records(chunk: &Chunk, ip: usize) -> Vec<(TraceMetadata, Option<Vec<u8>>)> {
    let Some(a) = find_anchor(chunk.sealed_hash(), ip) else {
        return Vec::new();
    };
    let traces = lock(&a.traces).clone();
    traces
        .iter()
        .map(|t| {
            let meta = TraceMetadata {
                chunk_op_hash: chunk.sealed_hash() as u64,
                anchor_ip: ip,
                fallthrough_ip: t.steps.last().map_or(ip, |s| s.ip + 1),
                ops: t.steps.iter().map(|s| chunk.ops()[s.ip]).collect(),
                recorded_ips: t.steps.iter().map(|s| s.ip).collect(),
                slot_kinds_at_anchor: numeric_kinds(&t.tags),
                global_kinds_at_anchor: numeric_kinds(&t.gtags),
                slot_tags: t.tags.clone(),
                global_tags: t.gtags.clone(),
                format: FORMAT,
                step_budget: t.fuel,
                path: steps_meta(&t.steps),
                side_paths: t
                    .sides
                    .iter()
                    .map(|s| SidePathMeta {
                        exit: s.key,
                        path: steps_meta(&s.steps),
                    })
                    .collect(),
                code: None,
            };
            (meta, t.code.record().map(<[u8]>::to_vec))
        })
        .collect()
}

/// The metadata of every trace of `chunk` (`with_code`: with its code).
pub fn export_all(chunk: &Chunk, with_code: bool) -> Vec<TraceMetadata> {
    super::anchors_of(chunk.sealed_hash())
        .into_iter()
        .flat_map(|ip| export(chunk, ip, with_code))
        .collect()
}

/// [`export_with_records`] for every loop of `chunk`.
pub fn export_all_with_records(chunk: &Chunk) -> Vec<(TraceMetadata, Option<Vec<u8>>)> {
    super::anchors_of(chunk.sealed_hash())
        .into_iter()
        .flat_map(|ip| export_with_records(chunk, ip))
        .collect()
}

/// Bytes from a hex string (`None` if it isn't hex).
fn from_hex(hex: &str) -> Option<Vec<u8>> {
    if hex.len() % 2 != 0 || !hex.is_ascii() {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
        .collect()
}

/// Checks a recorded path against `chunk`: in range, each op following the
/// last as the recorder requires, starting at `from` and closing at
/// `anchor`.
fn steps_from(
    chunk: &Chunk,
    meta: &[StepMeta],
    from: usize,
    anchor: usize,
) -> Result<Vec<Step>, String> {
    let len = chunk.len();
    let mut steps: Vec<Step> = Vec::with_capacity(meta.len());
    for (k, m) in meta.iter().enumerate() {
        if m.ip >= len || m.next > len {
            return Err(format!(
                "step {k}: ip {} or next {} is outside the chunk",
                m.ip, m.next
            ));
        }
        if let Some((lo, hi)) = m.inner
            && (lo > hi || hi >= len || !(lo..=hi).contains(&m.ip))
        {
            return Err(format!("step {k}: bad inner loop {lo}..={hi}"));
        }
        let expected = steps.last().map_or(from, |p| p.next);
        if m.ip != expected {
            return Err(format!(
                "step {k}: op {} does not follow the path (expected {expected})",
                m.ip
            ));
        }
        let op = if m.inner.is_some() {
            Op::Nop
        } else {
            chunk.ops()[m.ip]
        };
        // Only an element kind native code can specialise to.
        let seen = m.seen.filter(|t| {
            matches!(
                op,
                Op::ArrayGet(_) | Op::SlotArrayGet(_) | Op::ArraySet(_) | Op::SlotArraySet(_)
            ) && crate::jit::kinds::is_element_kind(*t)
        });
        steps.push(Step {
            ip: m.ip,
            op,
            next: m.next,
            inner: m.inner,
            seen,
        });
    }
    match steps.last() {
        Some(s) if s.next == anchor && s.next <= s.ip => Ok(steps),
        _ => Err("the path does not close at the loop header".into()),
    }
}

/// The main path `meta` lists as ops and ips (each followed by the next,
/// the last closing at the anchor), checked against `chunk`; empty when it
/// lists none.
fn listed_path(chunk: &Chunk, meta: &TraceMetadata) -> Result<Vec<StepMeta>, String> {
    if meta.ops.len() != meta.recorded_ips.len() {
        return Err(format!(
            "{} ops but {} recorded ips",
            meta.ops.len(),
            meta.recorded_ips.len()
        ));
    }
    let mut path = Vec::with_capacity(meta.ops.len());
    for (k, (&ip, op)) in meta.recorded_ips.iter().zip(&meta.ops).enumerate() {
        if chunk.ops().get(ip) != Some(op) {
            return Err(format!("op {k} (`{op}`) is not the chunk's op {ip}"));
        }
        let next = meta
            .recorded_ips
            .get(k + 1)
            .copied()
            .unwrap_or(meta.anchor_ip);
        path.push(StepMeta {
            ip,
            next,
            inner: None,
            seen: None,
        });
    }
    Ok(path)
}

/// Recompiles the trace `meta` describes for `chunk` (linking its `code`
/// when that fits this process); refuses metadata of another chunk or
/// format, or paths that don't fit the chunk.
pub fn import(chunk: &Chunk, meta: &TraceMetadata) -> Result<(), String> {
    let code = match &meta.code {
        Some(hex) => Some(from_hex(hex).ok_or("its code is not hex")?),
        None => None,
    };
    import_with(chunk, meta, code)
}

/// [`import`] with the code as a cache record's bytes (`meta.code` unread).
pub fn import_with(
    chunk: &Chunk,
    meta: &TraceMetadata,
    code: Option<Vec<u8>>,
) -> Result<(), String> {
    if meta.format != FORMAT {
        return Err(format!(
            "metadata format {} (this build reads {FORMAT})",
            meta.format
        ));
    }
    if meta.chunk_op_hash != chunk.sealed_hash() as u64 {
        return Err(format!(
            "metadata of chunk {:016x} does not fit chunk {:016x}",
            meta.chunk_op_hash,
            chunk.sealed_hash() as u64
        ));
    }
    let anchor = meta.anchor_ip;
    if anchor >= chunk.len() {
        return Err(format!("loop header {anchor} is outside the chunk"));
    }
    let (tags, gtags) = (
        tags_of(&meta.slot_tags, &meta.slot_kinds_at_anchor)?,
        tags_of(&meta.global_tags, &meta.global_kinds_at_anchor)?,
    );
    if gtags.len() != chunk.sealed_global_count() {
        return Err("global kinds do not match the chunk's globals".into());
    }
    let listed = listed_path(chunk, meta)?;
    let path = if meta.path.is_empty() {
        &listed
    } else if listed.is_empty()
        || meta
            .path
            .iter()
            .map(|s| s.ip)
            .eq(meta.recorded_ips.iter().copied())
    {
        &meta.path
    } else {
        return Err("recorded_ips do not match the path".into());
    };
    let steps = steps_from(chunk, path, anchor, anchor)?;
    let mut sides = Vec::with_capacity(meta.side_paths.len());
    for (k, s) in meta.side_paths.iter().enumerate() {
        let (path, step, resume) = s.exit;
        let parent_len = match path {
            0 => steps.len(),
            p if p <= k => sides.get(p - 1).map_or(0, |sp: &SidePath| sp.steps.len()),
            _ => {
                return Err(format!(
                    "side path {k} continues path {path}, not yet defined"
                ));
            }
        };
        if step >= parent_len {
            return Err(format!(
                "side path {k} leaves from step {step} of a {parent_len}-step path"
            ));
        }
        let side_steps = steps_from(chunk, &s.path, resume, anchor)
            .map_err(|e| format!("side path {k}: {e}"))?;
        sides.push(SidePath {
            key: s.exit,
            steps: side_steps,
        });
    }
    let a = super::anchor(chunk.sealed_hash(), anchor);
    let trace = crate::jit::persist::with_offered(code, || {
        build_trace(
            chunk,
            &a,
            anchor,
            steps,
            sides,
            tags,
            gtags,
            meta.step_budget,
        )
    })?;
    let mut traces = lock(&a.traces);
    let same = |t: &std::sync::Arc<super::Trace>| {
        t.tags == trace.tags && t.gtags == trace.gtags && t.fuel == trace.fuel
    };
    match traces.iter_mut().find(|t| same(t)) {
        Some(old) => *old = trace,
        None => traces.push(trace),
    }
    Ok(())
}
