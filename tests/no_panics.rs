//! "No panics, by construction": library and CLI code use tch's fallible `f_*` API and never
//! `unwrap`/`expect`/`panic!` outside tests. This test scans the library's `src/` and the
//! CLI's `cli/src/` to keep it that way.
//!
//! tch generates every tensor method twice: `f_name` returns `Result`, `name` unwraps it. The
//! list of panicking names is read from tch's own `tensor_generated.rs` and `tensor.rs` (found
//! through `cargo metadata`), so a new call to any of them fails here. Shape and option
//! accessors (`size`, `kind`, `dim`, `numel`, `device`, `requires_grad`, `defined`) are allowed;
//! so are std methods that share a name with a tensor method (`iter().max()`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Std/iterator/Option methods we call whose names tch also generates.
const STD_NAMES: &[&str] = &[
    "abs",
    "all",
    "any",
    "ceil",
    "clone",
    "flatten",
    "floor",
    "max",
    "min",
    "range",
    "repeat",
    "round",
    "set",
    "sqrt",
    "sum",
    "take",
    "transpose",
    "fill",
    "split",
    "chunk",
    "contains",
    "copy",
    "resize",
    "view",
    "zip",
    "squeeze",
    "sort",
    "reverse",
    "log",
    "exp",
    "swap",
    "to",
    "index",
    "concat",
    "join",
    "trunc",
    "signbit",
    "fmod",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "pow",
    "slice",
    "copy_",
    "get",
];

/// Tensor accessors whose panicking form only fails on a tensor libtorch itself cannot
/// describe (`kind` of an unknown scalar type); used with shapes and options.
/// tchdist's own `Distribution` methods, named as PyTorch names them (and as tch names tensor
/// methods of the same spelling).
const OWN_NAMES: &[&str] = &[
    "mean", "mode", "expand", "variance", "stddev", "entropy", "sample", "cdf", "icdf",
];

const ACCESSORS: &[&str] = &[
    "size",
    "kind",
    "dim",
    "numel",
    "device",
    "requires_grad",
    "defined",
];

fn tch_dir() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // Only this platform's packages: the others (Windows-only crates) may never have been
    // downloaded, and `--offline` metadata would then fail.
    let host = Command::new("rustc")
        .arg("-vV")
        .output()
        .expect("rustc -vV runs");
    let host = String::from_utf8_lossy(&host.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .expect("rustc -vV names the host");
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--offline",
            "--filter-platform",
        ])
        .arg(&host)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata JSON");
    let tch = meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .find(|p| p["name"] == "tch")
        .expect("tch is a dependency");
    Path::new(tch["manifest_path"].as_str().expect("manifest path"))
        .parent()
        .expect("tch dir")
        .to_path_buf()
}

/// Names `n` for which tch has both `f_n` (fallible) and `n` (panicking).
fn panicking_tch_methods() -> BTreeSet<String> {
    let dir = tch_dir().join("src/wrappers");
    let mut fallible = BTreeSet::new();
    let mut all = BTreeSet::new();
    for file in [
        "tensor_generated.rs",
        "tensor_fallible_generated.rs",
        "tensor.rs",
    ] {
        let text = std::fs::read_to_string(dir.join(file)).expect("tch source readable");
        for line in text.lines() {
            if let Some(rest) = line.trim_start().strip_prefix("pub fn ") {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                match name.strip_prefix("f_") {
                    Some(base) => fallible.insert(base.to_string()),
                    None => all.insert(name),
                };
            }
        }
    }
    let panicking: BTreeSet<String> = all.intersection(&fallible).cloned().collect();
    assert!(
        panicking.len() > 1000,
        "tch's generated API was not found ({} names)",
        panicking.len()
    );
    panicking
        .into_iter()
        .filter(|n| {
            let n = n.as_str();
            !STD_NAMES.contains(&n) && !ACCESSORS.contains(&n) && !OWN_NAMES.contains(&n)
        })
        .collect()
}

/// Non-test, non-comment source lines of every `.rs` file under `src/` and `cli/src/`.
fn source_lines() -> Vec<(String, usize, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("src readable") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    walk(&root.join("src"), &mut files);
    walk(&root.join("cli/src"), &mut files);
    let mut lines = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable");
        for (i, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("#[cfg(test)]") {
                break; // unit tests sit at the end of each file
            }
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            lines.push((file.display().to_string(), i + 1, without_strings(line)));
        }
    }
    lines
}

/// The line with the text of its string literals blanked (`"grad(x)"` is no call).
fn without_strings(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in line.chars() {
        match (in_string, escaped, c) {
            (true, true, _) => escaped = false,
            (true, false, '\\') => escaped = true,
            (true, false, '"') => {
                in_string = false;
                out.push(c);
            }
            (true, false, _) => {}
            (false, _, '"') => {
                in_string = true;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

#[test]
fn src_has_no_unwrap_expect_or_panic_outside_tests() {
    let banned = [
        ".unwrap()",
        ".expect(",
        "panic!(",
        "unreachable!(",
        "todo!(",
        "unimplemented!(",
        "unwrap_unchecked",
    ];
    let hits: Vec<String> = source_lines()
        .into_iter()
        .filter(|(_, _, line)| banned.iter().any(|b| line.contains(b)))
        .map(|(file, n, line)| format!("{file}:{n}: {}", line.trim()))
        .collect();
    assert!(
        hits.is_empty(),
        "panicking calls in src/ or cli/src/:\n{}",
        hits.join("\n")
    );
}

#[test]
fn src_calls_only_the_fallible_f_api_of_tch() {
    let names = panicking_tch_methods();
    let mut hits = Vec::new();
    for (file, n, line) in source_lines() {
        for (pos, _) in line.match_indices('(') {
            let before = &line[..pos];
            let name: String = before
                .chars()
                .rev()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect::<String>()
                .chars()
                .rev()
                .collect();
            let prefix = &before[..before.len() - name.len()];
            let is_call = prefix.ends_with('.') || prefix.ends_with("Tensor::");
            if is_call && names.contains(&name) {
                hits.push(format!("{file}:{n}: {name}: {}", line.trim()));
            }
        }
    }
    assert!(
        hits.is_empty(),
        "panicking tch calls (use the f_ form):\n{}",
        hits.join("\n")
    );
}

#[test]
fn the_scan_reads_code_not_string_literals() {
    assert_eq!(
        without_strings(r#"let a = x.grad(y); "torch.grad(z) \" .unwrap()" ;"#),
        r#"let a = x.grad(y); "" ;"#
    );
}

#[test]
fn the_scan_recognises_a_panicking_call() {
    // The scanner itself must be able to fail: `reshape` and `matmul` are on tch's list.
    let names = panicking_tch_methods();
    assert!(
        names.contains("reshape") && names.contains("matmul") && names.contains("double_value")
    );
    assert!(!names.contains("kind"), "accessors are allowed");
}
