//! README's "Use tchdist in your crate" recipe is exactly what examples/downstream is (which
//! scripts/test builds and runs under `env -i`): the same dependency lines, the same build.rs,
//! and the library example as its main.rs. A README edit that drifts from the tested crate
//! fails here.

use std::path::Path;

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The fenced blocks of `lang` in `text`, in order.
fn blocks(text: &str, lang: &str) -> Vec<String> {
    let open = format!("```{lang}\n");
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(&open) {
        let body = &rest[at + open.len()..];
        let end = body.find("```\n").expect("closed block");
        out.push(body[..end].to_string());
        rest = &body[end..];
    }
    out
}

#[test]
fn readme_library_example_is_the_downstream_crates_main_rs() {
    let readme = read("README.md");
    let main = read("examples/downstream/src/main.rs");
    assert!(
        blocks(&readme, "rust").contains(&main),
        "README's library example differs from examples/downstream/src/main.rs"
    );
}

#[test]
fn readme_build_rs_is_the_downstream_crates_build_rs() {
    let readme = read("README.md");
    let build = read("examples/downstream/build.rs");
    assert!(
        blocks(&readme, "rust").contains(&build),
        "README's build.rs differs from examples/downstream/build.rs"
    );
}

#[test]
fn readme_dependency_lines_are_the_downstream_crates() {
    let readme = read("README.md");
    let manifest = read("examples/downstream/Cargo.toml");
    let toml = blocks(&readme, "toml");
    let recipe = toml.first().expect("a toml block");
    for line in recipe.lines() {
        // The README's lines carry a comment; the crate's carry the same dependency (its
        // path to tchdist is its own: the repository root).
        let dep = line.split('#').next().unwrap_or_default().trim();
        if dep.is_empty() || dep.starts_with('[') {
            continue;
        }
        let found = if dep.contains("path = ") {
            let name = dep.split('=').next().unwrap_or_default();
            manifest
                .lines()
                .any(|l| l.starts_with(name) && l.contains("path = "))
        } else {
            manifest.lines().any(|l| l.trim() == dep)
        };
        assert!(
            found,
            "README's `{dep}` is not in examples/downstream/Cargo.toml"
        );
    }
    let deps: Vec<&str> = manifest
        .split("[dependencies]")
        .nth(1)
        .expect("a [dependencies] table")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(
        deps.len(),
        2,
        "the downstream crate needs tchdist and tch only"
    );
}
