//! Finding the real tools the operations-kit tests run (promtool, podman,
//! kubectl...). A missing tool fails the test under `CI=true` and is a loud
//! skip otherwise: nothing is skipped silently.

use std::path::PathBuf;

/// `name` on PATH, if it is there.
pub fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

/// Fails under CI=true, skips loudly otherwise.
pub fn missing(msg: &str) {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{msg}");
    }
    eprintln!("SKIPPED: {msg}");
}

/// The tool's path; when missing, says so (see [`missing`]) with `install`,
/// how to get it.
pub fn tool(name: &str, install: &str) -> Option<PathBuf> {
    let found = on_path(name);
    if found.is_none() {
        missing(&format!("{name} not found: {install}"));
    }
    found
}

/// [`tool`] for one that Debian's `package` ships.
pub fn apt_tool(name: &str, package: &str) -> Option<PathBuf> {
    tool(
        name,
        &format!("install it with `apt-get install {package}` (or run scripts/test.sh as root)"),
    )
}
