//! Compiles the C++ shim (`src/shim/shim.cpp`) against the libtorch that torch-sys found,
//! and embeds that libtorch's directory as an rpath so the binaries run with no environment set.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=src/shim");
    // torch-sys declares `links = "tch"` and prints `cargo:libtorch_lib=<dir>`, which cargo
    // hands to direct dependents as DEP_TCH_LIBTORCH_LIB.
    let lib_dir = match std::env::var("DEP_TCH_LIBTORCH_LIB") {
        Ok(dir) => PathBuf::from(dir),
        Err(_) => {
            println!("cargo:warning=DEP_TCH_LIBTORCH_LIB is not set; torch-sys did not report its libtorch");
            return;
        }
    };
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib_dir.display());
    // Where `device::load_cuda` finds libtorch_cuda at run time.
    println!("cargo:rustc-env=TCHDIST_LIBTORCH_LIB={}", lib_dir.display());
    println!(
        "cargo:rustc-env=TCHDIST_TCH_VERSION={}",
        locked_version("tch")
    );
    // libtorch's layout: <root>/lib and <root>/include (true for the PyPI wheel and the zip).
    let root = lib_dir
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| lib_dir.clone());
    let include = root.join("include");
    cc::Build::new()
        .cpp(true)
        .pic(true)
        .warnings(false)
        .include(&include)
        .include(include.join("torch/csrc/api/include"))
        // Stand-ins for headers libtorch's own headers include but the wheel lacks.
        .include("src/shim/include")
        .flag("-std=c++17")
        .flag("-D_GLIBCXX_USE_CXX11_ABI=1")
        .flag("-DGLOG_USE_GLOG_EXPORT")
        .files(shim_sources())
        .compile("tchdist_shim");
}

/// Every `src/shim/*.cpp`, sorted so the build is reproducible.
fn shim_sources() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir("src/shim")
        .map(|dir| {
            dir.filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|ext| ext == "cpp"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// The version of `package` that Cargo.lock pins (for `tchdist --version`).
fn locked_version(package: &str) -> String {
    println!("cargo:rerun-if-changed=Cargo.lock");
    let lock = std::fs::read_to_string("Cargo.lock").unwrap_or_default();
    let needle = format!("name = \"{package}\"\nversion = \"");
    lock.find(&needle)
        .and_then(|at| {
            let rest = &lock[at + needle.len()..];
            rest.find('"').map(|end| rest[..end].to_string())
        })
        .unwrap_or_else(|| "unknown".to_string())
}
