//! Fingerprints the crate's source for the persistent code cache: objects
//! compiled by one build are foreign to any build with different source,
//! whatever the version number says.

use sha2::{Digest, Sha256};
use std::path::Path;

fn hash_tree(dir: &Path, h: &mut Sha256) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            hash_tree(&p, h);
        } else if p.extension().is_some_and(|e| e == "rs") {
            if let Ok(bytes) = std::fs::read(&p) {
                h.update(p.to_string_lossy().as_bytes());
                h.update((bytes.len() as u64).to_le_bytes());
                h.update(&bytes);
            }
        }
    }
}

fn main() {
    let mut h = Sha256::new();
    for dir in ["src", "llvm/src"] {
        println!("cargo:rerun-if-changed={dir}");
        hash_tree(Path::new(dir), &mut h);
    }
    let digest = h.finalize();
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    println!("cargo:rustc-env=FUSEVM_BUILD_FINGERPRINT={hex}");
}
