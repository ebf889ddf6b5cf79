//! Arbitrary bytes as a persistent code cache record: decoding never
//! panics, never accepts bytes that are not exactly an encoded record, and
//! a record it accepts encodes back to the same bytes. The first byte, when
//! the rest decodes, also checks the key comparison against a fixed key.
#![no_main]

use fusevm_llvm::jit::persist::{CacheKey, CacheRecord};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let expected = CacheKey {
        crate_version: "0.1.0".into(),
        build: "fuzz".into(),
        llvm_version: "19.1.7".into(),
        triple: "x86_64-pc-linux-gnu".into(),
        cpu: "znver3".into(),
        features: "+avx2".into(),
        unit: vec![0; 8],
    };
    match CacheRecord::decode(data) {
        Ok(rec) => {
            assert_eq!(rec.encode(), data, "accepted bytes re-encode exactly");
            let fits = CacheRecord::decode_for(data, &expected);
            assert_eq!(fits.is_ok(), rec.key == expected);
        }
        Err(why) => {
            let _ = why.to_string();
            assert!(CacheRecord::decode_for(data, &expected).is_err());
        }
    }
    // Well-formed records around arbitrary content: always round-trip.
    let rec = CacheRecord {
        key: CacheKey {
            unit: data.to_vec(),
            ..expected.clone()
        },
        entry: "fvm_fuzz".into(),
        object: data.iter().rev().copied().collect(),
        meta: data.iter().step_by(2).copied().collect(),
    };
    let bytes = rec.encode();
    assert_eq!(CacheRecord::decode_for(&bytes, &rec.key).as_ref(), Ok(&rec));
    if let Some(cut) = data.first().map(|b| *b as usize % bytes.len()) {
        assert!(CacheRecord::decode(&bytes[..cut]).is_err());
    }
});
