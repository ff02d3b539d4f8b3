//! What the operations-kit tests (tests/ops/) share: finding the real tools
//! they run ([`tools`]) and the `inventory` binary they start
//! ([`inventory_bin`]). Nothing else lives here; the library exists so that
//! the package has a target where only the manifests are present (the
//! container build context leaves out `crates/*/tests/`).
//!
//! This crate does not depend on `inventory-server`, not even for its tests:
//! changing the server does not relink them. Where they need a running
//! server they run the built binary.

use std::path::{Path, PathBuf};

pub mod tools;

/// Where the `inventory` binary under test is: `$INVENTORY_BIN` when set
/// (scripts/test.sh sets it to the static debug build it makes for the
/// container test), else `inventory` in the Cargo profile directory these
/// tests were built into (`target/debug/inventory` by default).
///
/// `cargo test --workspace` builds that binary (the server's own tests need
/// it); `cargo test -p inventory-ops-tests` alone does not, and does not
/// rebuild it when the server changed: run
/// `cargo build -p inventory-server --bin inventory` first.
pub fn inventory_bin_path() -> PathBuf {
    if let Some(path) = std::env::var_os("INVENTORY_BIN") {
        return PathBuf::from(path);
    }
    // This test executable is <target>/<profile>/deps/<name>-<hash>.
    let exe = std::env::current_exe().expect("the path of the test executable");
    exe.parent()
        .and_then(Path::parent)
        .expect("the test executable is in <target>/<profile>/deps")
        .join("inventory")
}

/// [`inventory_bin_path`], if the binary is there. When it is not: a
/// failure under `CI=true` and a loud skip otherwise ([`tools::missing`]),
/// saying how to build it. An `INVENTORY_BIN` that names no file is always
/// a failure.
pub fn inventory_bin() -> Option<PathBuf> {
    let path = inventory_bin_path();
    if path.is_file() {
        return Some(path);
    }
    assert!(
        std::env::var_os("INVENTORY_BIN").is_none(),
        "INVENTORY_BIN={} is not a file",
        path.display()
    );
    tools::missing(&format!(
        "the inventory binary is not built ({} is missing): build it with \
         `cargo build -p inventory-server --bin inventory`, or set INVENTORY_BIN",
        path.display()
    ));
    None
}
