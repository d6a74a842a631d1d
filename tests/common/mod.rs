//! Helpers shared by the integration tests: the set-up Python, deterministic random cases,
//! and bit-level tensor comparison.
#![allow(dead_code)]

pub mod tables;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use tch::{Kind, Tensor};

/// The Python of the set-up venv (torch 2.13.0): `$TCHDIST_PYTHON`, else the default venv
/// path. Missing Python is a failure that says how to get one, never a skip.
pub fn python() -> PathBuf {
    let path = tchdist::testing::setup_python()
        .expect("TCHDIST_PYTHON, XDG_CACHE_HOME or HOME is set: run scripts/setup");
    assert!(
        path.exists(),
        "no Python with torch 2.13.0 at {}: run scripts/setup (parity tests never skip)",
        path.display()
    );
    path
}

/// The workspace root, where `tests/pyref/*.py` live (the CLI's tests include this module
/// from `cli/`).
pub fn root() -> &'static Path {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    if manifest.join("tests/pyref").is_dir() {
        manifest
    } else {
        manifest.parent().expect("cli/ sits in the workspace root")
    }
}

/// Runs `case` for the CI budget of `count` cases, or for `TCHDIST_FUZZ_SECONDS` seconds.
pub fn fuzz(name: &str, count: usize, mut case: impl FnMut(&mut Rng, usize)) {
    let budget = std::env::var("TCHDIST_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok());
    let mut rng = Rng::new(0x5eed_0000 + name.len() as u64);
    let start = Instant::now();
    let mut i = 0;
    loop {
        match budget {
            Some(secs) if start.elapsed() >= Duration::from_secs(secs) => break,
            None if i >= count => break,
            _ => {}
        }
        case(&mut rng, i);
        i += 1;
    }
    println!(
        "fuzz {name}: {i} cases in {:.1} s",
        start.elapsed().as_secs_f64()
    );
}

/// Runs `python script args...` from the crate root and returns its stdout.
pub fn run_python(script: &str, args: &[&str]) -> String {
    run_python_stdin(script, args, "")
}

/// Runs the PyTorch twin `src/mvn_jacobian/pytorch_twin.py` on all `cases` in one process and
/// returns its results, one per case, in order.
pub fn mvn_jacobian_in_python(cases: Vec<serde_json::Value>) -> Vec<serde_json::Value> {
    let count = cases.len();
    let input = serde_json::Value::Array(cases).to_string();
    let output = run_python_stdin("src/mvn_jacobian/pytorch_twin.py", &[], &input);
    let mut reply: serde_json::Value = serde_json::from_str(&output).expect("Python printed JSON");
    let results = match reply["results"].take() {
        serde_json::Value::Array(results) => results,
        other => panic!("expected a list of results, got {other}"),
    };
    assert_eq!(results.len(), count, "one result per case");
    results
}

/// Runs `python script args...` with `stdin` as standard input and returns its stdout;
/// a failing script fails the test with its stderr.
pub fn run_python_stdin(script: &str, args: &[&str], stdin: &str) -> String {
    let mut child = Command::new(python())
        .arg(script)
        .args(args)
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("failed to start the set-up Python");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(stdin.as_bytes())
        .expect("failed to write to Python");
    let out = child.wait_with_output().expect("failed to wait for Python");
    assert!(
        out.status.success(),
        "python {script} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("Python printed UTF-8")
}

/// A small deterministic generator (SplitMix64) for test cases; no dependency, same cases on
/// every machine.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub fn int(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next_u64() % ((hi - lo + 1) as u64)) as i64
    }

    /// Uniform in `[lo, hi)`, rounded to 4 decimals so JSON carries it exactly.
    pub fn real(&mut self, lo: f64, hi: f64) -> f64 {
        let u = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        ((lo + u * (hi - lo)) * 1e4).round() / 1e4
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.int(0, items.len() as i64 - 1) as usize]
    }
}

/// A random symmetric positive-definite d x d matrix, A Aᵀ + d I, row-major.
pub fn random_spd(rng: &mut Rng, d: usize) -> Vec<f64> {
    let a: Vec<f64> = (0..d * d).map(|_| rng.real(-1.0, 1.0)).collect();
    let mut m = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..d {
            let dot: f64 = (0..d).map(|k| a[i * d + k] * a[j * d + k]).sum();
            m[i * d + j] = dot + if i == j { d as f64 } else { 0.0 };
        }
    }
    // Round so the JSON text is exact and the matrix stays exactly symmetric.
    for i in 0..d {
        for j in 0..=i {
            let v = (m[i * d + j] * 1e4).round() / 1e4;
            m[i * d + j] = v;
            m[j * d + i] = v;
        }
    }
    m
}

/// A random lower-triangular d x d matrix with a positive diagonal, row-major.
pub fn random_scale_tril(rng: &mut Rng, d: usize) -> Vec<f64> {
    let mut m = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..i {
            m[i * d + j] = rng.real(-1.0, 1.0);
        }
        m[i * d + i] = rng.real(0.5, 2.0);
    }
    m
}

/// Nested JSON lists for row-major `values` of `shape`.
pub fn json_nested(values: &[f64], shape: &[usize]) -> String {
    match shape.split_first() {
        None => format!("{:?}", values[0]),
        Some((&n, rest)) => {
            let stride: usize = rest.iter().product();
            let parts: Vec<String> = (0..n)
                .map(|i| json_nested(&values[i * stride..(i + 1) * stride], rest))
                .collect();
            format!("[{}]", parts.join(", "))
        }
    }
}

/// A tensor's values as float64 bit patterns (exact for float32 too) and its shape.
pub fn bits_of(t: &Tensor) -> (Vec<u64>, Vec<i64>) {
    let flat = t.detach().to_kind(Kind::Double).contiguous().reshape([-1]);
    let values = Vec::<f64>::try_from(&flat).expect("a float tensor");
    (values.into_iter().map(f64::to_bits).collect(), t.size())
}

/// Distance in units in the last place between two floats of `kind`, given as float64 bits
/// (the library's [`tchdist::testing::ulp_distance`]).
pub fn ulp_distance(a: u64, b: u64, kind: Kind) -> u64 {
    tchdist::testing::ulp_distance(f64::from_bits(a), f64::from_bits(b), kind)
}

/// Checks dtype-level bit equality of `actual` against Python's float64 bit patterns; on
/// failure the message names the worst ULP distance and its flat index.
pub fn check_bitwise_eq(
    what: &str,
    actual: &Tensor,
    expected_bits: &[u64],
    expected_shape: &[i64],
) -> Result<(), String> {
    let (bits, shape) = bits_of(actual);
    if shape != expected_shape {
        return Err(format!(
            "{what}: shape {shape:?}, Python {expected_shape:?}"
        ));
    }
    let kind = actual.kind();
    let worst = bits
        .iter()
        .zip(expected_bits)
        .enumerate()
        .filter(|(_, (a, b))| a != b)
        .map(|(i, (a, b))| (ulp_distance(*a, *b, kind), i, *a, *b))
        .max();
    match worst {
        None => Ok(()),
        Some((ulps, i, a, b)) => Err(format!(
            "{what}: not bitwise equal; worst {ulps} ulp at flat index {i}: rust {:e} vs python {:e}",
            f64::from_bits(a),
            f64::from_bits(b)
        )),
    }
}

/// Reads a JSON list of u64 bit patterns.
pub fn json_bits(v: &serde_json::Value) -> Vec<u64> {
    v.as_array()
        .expect("a list of bits")
        .iter()
        .map(|x| x.as_u64().expect("u64 bits"))
        .collect()
}

/// Reads a JSON shape.
pub fn json_shape(v: &serde_json::Value) -> Vec<i64> {
    v.as_array()
        .expect("a shape")
        .iter()
        .map(|x| x.as_i64().expect("a dimension"))
        .collect()
}

/// torch.testing.assert_close's check: |a - e| <= atol + rtol * |e| elementwise, same shape;
/// the message gives the worst element.
pub fn assert_close(actual: &Tensor, expected: &Tensor, rtol: f64, atol: f64, what: &str) {
    assert_eq!(actual.size(), expected.size(), "{what}: shapes differ");
    let a = Vec::<f64>::try_from(
        actual
            .detach()
            .to_kind(Kind::Double)
            .contiguous()
            .reshape([-1]),
    )
    .expect("float");
    let e = Vec::<f64>::try_from(
        expected
            .detach()
            .to_kind(Kind::Double)
            .contiguous()
            .reshape([-1]),
    )
    .expect("float");
    let worst = a
        .iter()
        .zip(&e)
        .enumerate()
        .map(|(i, (x, y))| (i, (x - y).abs() - (atol + rtol * y.abs()), *x, *y))
        .fold(None, |acc: Option<(usize, f64, f64, f64)>, cur| match acc {
            Some(best) if best.1 >= cur.1 => Some(best),
            _ => Some(cur),
        });
    if let Some((i, excess, x, y)) = worst {
        assert!(
            excess <= 0.0,
            "{what}: element {i}: {x:e} vs {y:e} exceeds atol {atol:e} + rtol {rtol:e}"
        );
    }
}

/// Exit code 2, nothing on stdout, one stderr line starting `error: ` that contains `expect`.
pub fn assert_one_error(out: &Output, expect: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert!(out.stdout.is_empty(), "stdout: {:?}", out.stdout);
    assert_eq!(err.lines().count(), 1, "stderr: {err:?}");
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains(expect), "{err:?} lacks {expect:?}");
}
