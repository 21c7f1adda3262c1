//! telemark's benchmarks (`cargo bench -p telemark-benches`, or `cargo test --release -p
//! telemark-benches --benches` to run every case once). The benchmarks are the `[[bench]]` targets
//! beside this file; this library only gives them a package of their own, so that their peers
//! are never built for a program that uses telemark.

use std::path::{Path, PathBuf};

/// The workspace's target directory, where criterion keeps its estimates and the benches write
/// their reports (`target/telemark-bench/`).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| {
        let here = Path::new(env!("CARGO_MANIFEST_DIR"));
        here.parent().unwrap_or(here).join("target")
    })
}
