//! Compiles the C++ shim (`src/shim/*.cpp`) against the libtorch that torch-sys found, embeds
//! that libtorch's directory as an rpath in this package's own binaries (tests, examples,
//! benches), and reports it to dependent crates as `DEP_TCHDIST_LIBTORCH_LIB` (this package
//! declares `links = "tchdist"`), so their build.rs can do the same.
//!
//! Everything it reads is in the package: `src/shim` and `Cargo.toml`.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=src/shim");
    println!("cargo:rerun-if-changed=Cargo.toml");
    println!(
        "cargo:rustc-env=TCHDIST_TCH_REQUIREMENT={}",
        dependency_requirement("tch")
    );
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
    // Dependents read this as DEP_TCHDIST_LIBTORCH_LIB.
    println!("cargo:libtorch_lib={}", lib_dir.display());
    // Where `device::load_cuda` finds libtorch_cuda at run time.
    println!("cargo:rustc-env=TCHDIST_LIBTORCH_LIB={}", lib_dir.display());
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

/// The version requirement on `package` in this package's own Cargo.toml (`tch = "0.26"`):
/// a published crate has its manifest but no Cargo.lock.
fn dependency_requirement(package: &str) -> String {
    let manifest = std::fs::read_to_string("Cargo.toml").unwrap_or_default();
    let prefix = format!("{package} = ");
    manifest
        .lines()
        .filter_map(|line| line.trim().strip_prefix(&prefix))
        .find_map(|rest| {
            // `"0.26"` or `{ version = "0.26", ... }`.
            let rest = rest.split("version = ").nth(1).unwrap_or(rest);
            rest.trim_start_matches(['{', ' ']).split('"').nth(1)
        })
        .unwrap_or("unknown")
        .to_string()
}
