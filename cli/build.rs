//! The CLI's binary runs with no environment set: an rpath to the libtorch the library was
//! built against (the library reports it as `DEP_TCHDIST_LIBTORCH_LIB`; README, "Use tchdist in
//! your crate"). `tchdist --version` names the exact tch version from the workspace's
//! Cargo.lock (this crate is never published, so the lock is always there).

fn main() {
    if let Ok(dir) = std::env::var("DEP_TCHDIST_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
    println!("cargo:rerun-if-changed=../Cargo.lock");
    let lock = std::fs::read_to_string("../Cargo.lock").unwrap_or_default();
    let needle = "name = \"tch\"\nversion = \"";
    let version = lock
        .find(needle)
        .and_then(|at| lock[at + needle.len()..].split('"').next())
        .unwrap_or("unknown");
    println!("cargo:rustc-env=TCHDIST_CLI_TCH_VERSION={version}");
}
