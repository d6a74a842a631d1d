//! Randomised robustness ("fuzz") tests of the binary: malformed command lines and JSON
//! matrices get an exit code 0, or 2 with one stderr line; never a panic, an abort or a partial
//! output. The library's twin is `tests/fuzz.rs`.
//!
//! CI runs a fixed budget of cases (deterministic seeds). For a long run:
//! `TCHDIST_FUZZ_SECONDS=600 cargo test --release -p tchdist-cli --test fuzz -- --nocapture`.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::process::Command;

use common::{fuzz, Rng};

/// A number as JSON text, sometimes hostile.
fn number(rng: &mut Rng) -> String {
    match rng.int(0, 9) {
        0 => "1e999".into(),
        1 => "-0".into(),
        2 => "1e-320".into(),
        3 => "\"x\"".into(),
        4 => "null".into(),
        5 => "3.4e38".into(),
        _ => format!("{}", rng.real(-5.0, 5.0)),
    }
}

/// Nested JSON lists, sometimes ragged, empty, truncated or not JSON at all.
fn json_array(rng: &mut Rng, depth: usize) -> String {
    if depth == 0 || rng.int(0, 6) == 0 {
        return number(rng);
    }
    let len = rng.int(0, 4) as usize;
    let inner_depth = depth - 1;
    let items: Vec<String> = (0..len)
        .map(|_| {
            let depth = if rng.int(0, 5) == 0 { 0 } else { inner_depth };
            json_array(rng, depth)
        })
        .collect();
    let text = format!("[{}]", items.join(", "));
    match rng.int(0, 12) {
        0 => text[..text.len() / 2].to_string(),
        1 => text.replace(',', ";"),
        2 => String::from("{}"),
        _ => text,
    }
}

fn argv(rng: &mut Rng) -> Vec<String> {
    let subcommands = ["jacobian", "check", "sample", "log-prob", "bogus", ""];
    let mut args = vec![subcommands[rng.int(0, 5) as usize].to_string()];
    let flags = [
        "--loc",
        "--covariance",
        "--precision",
        "--scale-tril",
        "-n",
        "--seed",
        "--dtype",
        "--method",
        "--format",
        "--device",
        "--threads",
        "--value",
        "--max-ulp",
        "--quiet",
        "--output",
    ];
    for _ in 0..rng.int(0, 5) {
        let flag = flags[rng.int(0, flags.len() as i64 - 1) as usize];
        args.push(flag.to_string());
        let value = match flag {
            "-n" | "--seed" | "--threads" | "--max-ulp" => [
                rng.int(-3, 40).to_string(),
                "abc".into(),
                "99999999999999999999".into(),
                "".into(),
            ][rng.int(0, 3) as usize]
                .clone(),
            "--dtype" => ["f32", "f64", "f16", ""][rng.int(0, 3) as usize].into(),
            "--method" => ["analytic", "forward", "loop", "batched", "per-sample", "x"]
                [rng.int(0, 5) as usize]
                .into(),
            "--format" => ["text", "json", "npz", "xml"][rng.int(0, 3) as usize].into(),
            "--device" => ["cpu", "cuda:7", "tpu"][rng.int(0, 2) as usize].into(),
            "--quiet" => continue,
            "--output" => "/nonexistent-dir/out".into(),
            // Tensor flags: JSON, or a file form that cannot be read (stdin is empty here).
            _ => match rng.int(0, 5) {
                0 => [
                    "@-",
                    "@/nonexistent.npy",
                    "@/",
                    "@/dev/null",
                    "@/etc/passwd",
                    "@x.npz:",
                ][rng.int(0, 5) as usize]
                    .into(),
                _ => {
                    let depth = rng.int(1, 3) as usize;
                    json_array(rng, depth)
                }
            },
        };
        args.push(value);
    }
    args
}

#[test]
fn random_command_lines_exit_cleanly_with_one_error_line() {
    let count = 60;
    fuzz("cli", count, |rng, _| {
        let args = argv(rng);
        // `check` with a case that parses would start Python; keep the fuzz on the binary.
        let args: Vec<String> = if args.first().is_some_and(|a| a == "check") {
            let mut a = args;
            a.extend(["--python".into(), "/nonexistent/python".into()]);
            a
        } else {
            args
        };
        let out = Command::new(env!("CARGO_BIN_EXE_tchdist"))
            .args(&args)
            .output()
            .expect("run tchdist");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let code = out.status.code();
        assert!(
            code.is_some(),
            "{args:?}: killed by a signal; stderr {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        match code {
            Some(0) => assert!(stderr.is_empty(), "{args:?}: {stderr}"),
            Some(2) => {
                assert!(out.stdout.is_empty(), "{args:?}: partial output");
                assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr:?}");
                assert!(stderr.starts_with("error: "), "{args:?}: {stderr:?}");
            }
            other => panic!("{args:?}: exit code {other:?}, stderr {stderr}"),
        }
    });
}
