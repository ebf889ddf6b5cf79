//! The cache file: one compiled unit's object code with the key it was
//! built under, sealed by a SHA-256 over everything before it.
//!
//! ```text
//! magic     8 bytes   "FVMJITO\n"
//! format    u32       FORMAT
//! body_len  u64       bytes of the body
//! body      key (crate version, build, LLVM version, triple, CPU, CPU
//!           features, unit), entry symbol, object, exit map — each a
//!           u32 length and that many bytes
//! sha256    32 bytes  over magic .. body
//! ```
//!
//! All integers are little-endian. A record is trusted only after every
//! check passes, in this order: magic, format, exact length, checksum,
//! well-formed body, key equal to the one the reader expects. LLVM never
//! sees bytes that failed one.

use sha2::{Digest, Sha256};
use std::fmt;

/// The record format this build writes and reads.
pub const FORMAT: u32 = 2;

/// The file name ending of cache records.
pub const EXTENSION: &str = "fvo";

const MAGIC: &[u8; 8] = b"FVMJITO\n";
const HEADER: usize = 8 + 4 + 8;
const CHECKSUM: usize = 32;

/// The largest record read back (bigger files are rejected unread).
pub const MAX_RECORD: u64 = 64 << 20;

/// Everything a unit's machine code depends on. Two processes with equal
/// keys would generate the same object, so one may load the other's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheKey {
    /// The crate's version.
    pub crate_version: String,
    /// A fingerprint of the crate's source (any change to the lowering
    /// makes old objects foreign, whatever the version says).
    pub build: String,
    /// LLVM's version.
    pub llvm_version: String,
    /// The target triple.
    pub triple: String,
    /// The host CPU name.
    pub cpu: String,
    /// The host CPU's features.
    pub features: String,
    /// The unit: its chunk's content hash, the tier, whether it counts
    /// steps, the kinds of its slots and globals at entry, its inlined
    /// calls (a canonical byte encoding).
    pub unit: Vec<u8>,
}

impl CacheKey {
    /// The key's fields in the order they are stored, with their names.
    fn fields(&self) -> [(&'static str, &[u8]); 7] {
        [
            ("crate version", self.crate_version.as_bytes()),
            ("build", self.build.as_bytes()),
            ("LLVM version", self.llvm_version.as_bytes()),
            ("target triple", self.triple.as_bytes()),
            ("CPU", self.cpu.as_bytes()),
            ("CPU features", self.features.as_bytes()),
            ("unit", &self.unit),
        ]
    }

    /// The file name a record with this key is stored under: 128 bits of
    /// the key's SHA-256, in hex, with [`EXTENSION`].
    pub fn file_name(&self) -> String {
        let mut h = Sha256::new();
        for (_, f) in self.fields() {
            h.update((f.len() as u32).to_le_bytes());
            h.update(f);
        }
        let digest = h.finalize();
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        format!("{hex}.{EXTENSION}")
    }

    /// The first field that differs from `other`, with both values (for a
    /// rejection reason a person can act on).
    fn first_difference(&self, other: &CacheKey) -> Option<(&'static str, String, String)> {
        let show = |b: &[u8]| match std::str::from_utf8(b) {
            Ok(s) if s.chars().count() <= 64 => s.to_string(),
            Ok(s) => format!("{}…", s.chars().take(64).collect::<String>()),
            Err(_) => format!("{} bytes", b.len()),
        };
        self.fields()
            .iter()
            .zip(other.fields())
            .find(|((_, a), (_, b))| a != b)
            .map(|((name, a), (_, b))| (*name, show(a), show(b)))
    }
}

/// One cache file's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheRecord {
    /// What the object was built for.
    pub key: CacheKey,
    /// The symbol of the unit's entry function inside the object.
    pub entry: String,
    /// The object file (ELF on Linux) LLVM generated.
    pub object: Vec<u8>,
    /// What running the unit needs of its analysis (the block tier's exit
    /// map; empty in a traces record), so a linked unit is not analysed
    /// again.
    pub meta: Vec<u8>,
}

/// Why a record was not loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// Shorter than the smallest record (an empty file is this).
    TooShort(usize),
    /// Not a record of this crate.
    BadMagic,
    /// Written in another format version.
    Format(u32),
    /// The length the header announces is not the file's length
    /// (truncated, or bytes appended).
    Length {
        /// What the header says the file holds.
        expected: u64,
        /// What it holds.
        actual: u64,
    },
    /// The checksum does not match the content (corrupted or altered).
    Checksum,
    /// The body does not parse (only possible with a matching checksum,
    /// i.e. a record written by a broken or hostile writer).
    Malformed(&'static str),
    /// A sound record built for something else: another CPU, LLVM,
    /// version or unit.
    Foreign {
        /// Which key field differs.
        field: &'static str,
        /// Its value in the file.
        stored: String,
        /// Its value here.
        expected: String,
    },
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::TooShort(n) => write!(f, "too short to be a record ({n} bytes)"),
            Rejection::BadMagic => write!(f, "not a fusevm-llvm cache record"),
            Rejection::Format(v) => write!(f, "record format {v} (this build reads {FORMAT})"),
            Rejection::Length { expected, actual } => write!(
                f,
                "length {actual} bytes, but its header says {expected} (truncated or extended)"
            ),
            Rejection::Checksum => write!(f, "checksum mismatch (corrupted or altered)"),
            Rejection::Malformed(what) => write!(f, "malformed body: {what}"),
            Rejection::Foreign {
                field,
                stored,
                expected,
            } => write!(f, "built for another {field} ({stored}; here {expected})"),
        }
    }
}

impl std::error::Error for Rejection {}

impl CacheRecord {
    /// The record's bytes, checksum included.
    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(self.object.len() + 512);
        let mut put = |b: &[u8]| {
            body.extend_from_slice(&(b.len() as u32).to_le_bytes());
            body.extend_from_slice(b);
        };
        for (_, f) in self.key.fields() {
            put(f);
        }
        put(self.entry.as_bytes());
        put(&self.object);
        put(&self.meta);
        let mut out = Vec::with_capacity(HEADER + body.len() + CHECKSUM);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT.to_le_bytes());
        out.extend_from_slice(&(body.len() as u64).to_le_bytes());
        out.extend_from_slice(&body);
        let sum = Sha256::digest(&out);
        out.extend_from_slice(&sum);
        out
    }

    /// Parses and checks `bytes` as a record of any key: magic, format,
    /// length, checksum, body. Never panics, whatever the bytes.
    pub fn decode(bytes: &[u8]) -> Result<CacheRecord, Rejection> {
        if bytes.len() < HEADER + CHECKSUM {
            return Err(Rejection::TooShort(bytes.len()));
        }
        if &bytes[..8] != MAGIC {
            return Err(Rejection::BadMagic);
        }
        let format = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
        if format != FORMAT {
            return Err(Rejection::Format(format));
        }
        let body_len = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes"));
        let expected = body_len.saturating_add((HEADER + CHECKSUM) as u64);
        if expected != bytes.len() as u64 {
            return Err(Rejection::Length {
                expected,
                actual: bytes.len() as u64,
            });
        }
        let (sealed, sum) = bytes.split_at(bytes.len() - CHECKSUM);
        if Sha256::digest(sealed).as_slice() != sum {
            return Err(Rejection::Checksum);
        }
        let mut body = Reader(&sealed[HEADER..]);
        let mut text = || -> Result<String, Rejection> {
            String::from_utf8(body.field()?.to_vec())
                .map_err(|_| Rejection::Malformed("a key field is not UTF-8"))
        };
        let crate_version = text()?;
        let build = text()?;
        let llvm_version = text()?;
        let triple = text()?;
        let cpu = text()?;
        let features = text()?;
        let unit = body.field()?.to_vec();
        let entry = String::from_utf8(body.field()?.to_vec())
            .map_err(|_| Rejection::Malformed("the entry symbol is not UTF-8"))?;
        let object = body.field()?.to_vec();
        let meta = body.field()?.to_vec();
        if !body.0.is_empty() {
            return Err(Rejection::Malformed("bytes after the exit map"));
        }
        if entry.is_empty() || entry.contains('\0') {
            return Err(Rejection::Malformed("bad entry symbol"));
        }
        Ok(CacheRecord {
            key: CacheKey {
                crate_version,
                build,
                llvm_version,
                triple,
                cpu,
                features,
                unit,
            },
            entry,
            object,
            meta,
        })
    }

    /// [`Self::decode`], then refuses a record whose key is not `expected`
    /// (naming the first field that differs).
    pub fn decode_for(bytes: &[u8], expected: &CacheKey) -> Result<CacheRecord, Rejection> {
        let record = Self::decode(bytes)?;
        match record.key.first_difference(expected) {
            None => Ok(record),
            Some((field, stored, expected)) => Err(Rejection::Foreign {
                field,
                stored,
                expected,
            }),
        }
    }
}

/// Reads length-prefixed fields, never past the end.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn field(&mut self) -> Result<&'a [u8], Rejection> {
        let Some((len, rest)) = self.0.split_first_chunk::<4>() else {
            return Err(Rejection::Malformed("a field runs past the end"));
        };
        let len = u32::from_le_bytes(*len) as usize;
        if len > rest.len() {
            return Err(Rejection::Malformed("a field runs past the end"));
        }
        let (f, rest) = rest.split_at(len);
        self.0 = rest;
        Ok(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> CacheRecord {
        CacheRecord {
            key: CacheKey {
                crate_version: "0.1.0".into(),
                build: "b".into(),
                llvm_version: "19.1.7".into(),
                triple: "x86_64-pc-linux-gnu".into(),
                cpu: "znver3".into(),
                features: "+avx2".into(),
                unit: vec![1, 2, 3],
            },
            entry: "fvm_x".into(),
            object: vec![0x7f, b'E', b'L', b'F', 9, 9],
            meta: vec![4, 2],
        }
    }

    #[test]
    fn a_record_survives_encoding_and_every_cut_or_flip_is_rejected() {
        let r = record();
        let bytes = r.encode();
        assert_eq!(CacheRecord::decode_for(&bytes, &r.key), Ok(r.clone()));
        for cut in 0..bytes.len() {
            assert!(CacheRecord::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        for bit in 0..bytes.len() * 8 {
            let mut b = bytes.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            assert!(CacheRecord::decode(&b).is_err(), "bit {bit}");
        }
    }

    #[test]
    fn a_sound_record_of_another_cpu_is_foreign_and_says_so() {
        let r = record();
        let mut here = r.key.clone();
        here.cpu = "skylake".into();
        let why = CacheRecord::decode_for(&r.encode(), &here).unwrap_err();
        assert_eq!(
            why.to_string(),
            "built for another CPU (znver3; here skylake)"
        );
        assert_ne!(r.key.file_name(), here.file_name());
    }
}
