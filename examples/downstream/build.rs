fn main() {
    // tchdist reports the libtorch it was built against; an rpath to it lets this crate's
    // binaries start with no LD_LIBRARY_PATH.
    if let Ok(dir) = std::env::var("DEP_TCHDIST_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
