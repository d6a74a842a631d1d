//! The `tchdist` binary as a user runs it: exact stdout, exit codes, one-line errors.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::process::{Command, Output};

use common::{json_nested, mvn_jacobian_in_python, random_spd, run_python, Rng};
use serde_json::{json, Value};

const ANSWER: &str = include_str!("../../tests/fixtures/question_answer.out");

fn tchdist(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tchdist"))
        .args(args)
        .output()
        .expect("run tchdist")
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("UTF-8 stdout")
}

#[test]
fn default_jacobian_prints_the_accepted_answer_byte_for_byte() {
    let out = tchdist(&["jacobian"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout(&out), ANSWER);
    assert!(out.stderr.is_empty());
}

#[test]
fn every_method_prints_the_accepted_answer() {
    for method in [
        "loop",
        "functional",
        "vectorized",
        "batched",
        "batched-loop",
        "forward",
        "jacrev",
        "jacfwd",
        "per-sample",
        "analytic",
    ] {
        let out = tchdist(&["jacobian", "--method", method]);
        assert_eq!(stdout(&out), ANSWER, "--method {method}");
        assert_eq!(out.status.code(), Some(0));
    }
}

#[test]
fn release_binary_runs_with_an_empty_environment() {
    let out = Command::new(env!("CARGO_BIN_EXE_tchdist"))
        .arg("jacobian")
        .env_clear()
        .output()
        .expect("run tchdist");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout(&out), ANSWER);
}

#[test]
fn reference_python_programs_print_what_the_cli_prints() {
    let programs = [
        "tests/fixtures/question_answer.py",
        "tests/fixtures/question_loop.py",
        "tests/fixtures/question_batched.py",
    ];
    let printed: Value =
        serde_json::from_str(&run_python("tests/pyref/run_programs.py", &programs)).expect("JSON");
    let cli = stdout(&tchdist(&["jacobian"]));
    let cli_loop = stdout(&tchdist(&["jacobian", "--method", "loop"]));
    assert_eq!(
        printed[programs[0]].as_str(),
        Some(cli.as_str()),
        "question_answer.py"
    );
    assert_eq!(
        printed[programs[1]].as_str(),
        Some(cli_loop.as_str()),
        "question_loop.py"
    );
    assert_eq!(
        printed[programs[2]].as_str(),
        Some(cli.as_str()),
        "question_batched.py"
    );
    assert_eq!(cli, ANSWER);
}

#[test]
fn text_and_json_output_match_python_on_random_cases() {
    let mut rng = Rng::new(99);
    let mut cases = Vec::new();
    let mut argv = Vec::new();
    for i in 0..12 {
        let d = rng.int(1, 5) as usize;
        let n = rng.pick(&[1i64, 4, 15, 16, 17, 40]);
        let seed = rng.int(0, 10_000);
        let dtype = if i % 2 == 0 { "f32" } else { "f64" };
        let method = if i % 3 == 0 { "loop" } else { "functional" };
        let loc: Vec<f64> = (0..d).map(|_| rng.real(-2.0, 2.0)).collect();
        let cov = random_spd(&mut rng, d);
        let loc_json = json_nested(&loc, &[d]);
        let cov_json = json_nested(&cov, &[d, d]);
        cases.push(json!({
            "seed": seed, "dtype": dtype, "param": "covariance", "method": method, "num_samples": n,
            "loc": serde_json::from_str::<Value>(&loc_json).unwrap(),
            "matrix": serde_json::from_str::<Value>(&cov_json).unwrap(),
        }));
        argv.push(vec![
            "jacobian".to_string(),
            "--loc".into(),
            loc_json,
            "--covariance".into(),
            cov_json,
            "-n".into(),
            n.to_string(),
            "--seed".into(),
            seed.to_string(),
            "--dtype".into(),
            dtype.into(),
            "--method".into(),
            method.into(),
        ]);
    }
    let python = mvn_jacobian_in_python(cases);
    for (args, expected) in argv.iter().zip(&python) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let text = tchdist(&args);
        assert_eq!(
            stdout(&text),
            format!("{}\n", expected["repr"].as_str().unwrap()),
            "text output of {args:?}"
        );
        let mut json_args = args.clone();
        json_args.extend(["--format", "json"]);
        let parsed: Value =
            serde_json::from_str(&stdout(&tchdist(&json_args))).expect("tchdist printed JSON");
        for key in ["samples", "log_prob", "jacobian"] {
            let mut flat = Vec::new();
            flatten(&parsed[key], &mut flat);
            // f32 values print with the fewest digits that read back to the same f32.
            let f32_case = args.contains(&"f32");
            let bits: Vec<u64> = flat
                .iter()
                .map(|&v| {
                    if f32_case {
                        f64::from(v as f32).to_bits()
                    } else {
                        v.to_bits()
                    }
                })
                .collect();
            assert_eq!(
                bits,
                common::json_bits(&expected[key]["bits"]),
                "{key} of {args:?} does not round-trip to Python's bits"
            );
        }
    }
}

fn flatten(v: &Value, out: &mut Vec<f64>) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| flatten(i, out)),
        Value::Number(n) => out.push(n.as_f64().expect("a number")),
        other => panic!("unexpected JSON value {other}"),
    }
}

/// Each bad input: exit code 2, exactly one line on stderr starting with `error:`, nothing on
/// stdout; `expect` is a fragment of the message (PyTorch's words where PyTorch rejects it).
#[test]
fn bad_input_gets_one_stderr_line_and_exit_code_2() {
    let cases: &[(&[&str], &str)] = &[
        (&["jacobian", "--bogus"], "unexpected argument '--bogus'"),
        (&["nosuchcommand"], "unrecognized subcommand"),
        (&[], "a subcommand is required"),
        (&["jacobian", "--seed", "abc"], "invalid value 'abc'"),
        (&["jacobian", "--seed", "-1"], "unexpected argument"),
        (&["jacobian", "-n", "0"], "--num-samples must be at least 1"),
        (&["jacobian", "-n", "-5"], "unexpected argument"),
        (&["jacobian", "-n", "99999999999"], "would need about"),
        // Past its memory budget `batched` takes the basis in chunks, so only a sample count
        // whose samples and graph alone exceed the machine is refused.
        (&["jacobian", "--method", "batched", "-n", "100000000"], "would need about"),
        (&["jacobian", "--device", "tpu"], "unknown device 'tpu'"),
        (&["jacobian", "--threads", "0"], "invalid value '0'"),
        (&["jacobian", "--format", "npy", "--output", "/nonexistent-dir/x.npy"], "--output /nonexistent-dir/x.npy"),
        (&["check", "--python", "/nonexistent/python"], "run scripts/setup, or pass --python PATH"),
        (&["sample", "--loc", "[[1, 2], [3]]"], "ragged"),
        (&["bench", "-n", "0"], "--num-samples and --dim must be at least 1"),
        (&["bench", "--method", "batched", "-n", "10000000"], "would need about"),
        (&["bench", "--warmup", "0"], "invalid value '0'"),
        (&["bench", "--budget-s", "soon"], "'soon' is not a number of seconds"),
        (&["bench", "--floor", "--method", "loop"], "cannot be used with"),
        (&["bench", "--step", "--floor"], "cannot be used with"),
        (&["bench", "--warmup-samples", "-1"], "unexpected argument"),
        (&["log-prob", "--value", "[1, 2, 3]"], "The right-most size of value must match event_shape: torch.Size([3]) vs torch.Size([2])."),
        (&["log-prob", "--value", "[[1, 2], [3, 4], [5, 6]]", "--loc", "[[0, 0], [1, 1]]"], "Value is not broadcastable with batch_shape+event_shape"),
        (&["jacobian", "--dtype", "f16"], "invalid value 'f16'"),
        (&["jacobian", "--method", "magic"], "invalid value 'magic'"),
        (&["jacobian", "--format", "xml"], "invalid value 'xml'"),
        (&["jacobian", "--loc", "[1, 2"], "--loc: not valid JSON"),
        (&["jacobian", "--loc", "[]"], "--loc: empty list"),
        (&["jacobian", "--loc", "[1, \"x\"]"], "--loc: expected a number"),
        (&["jacobian", "--covariance", "[[1, 0], [0]]"], "ragged"),
        (&["jacobian", "--covariance", "[[1, 2], [3, 4]]"], "to satisfy the constraint PositiveDefinite()"),
        (&["jacobian", "--covariance", "[[1, 2], [2, 1]]"], "Expected parameter covariance_matrix (Tensor of shape (2, 2))"),
        (&["jacobian", "--covariance", "[[1, 0], [0, 0]]"], "PositiveDefinite()"),
        (&["jacobian", "--covariance", "[[1, 0], [0, -1]]"], "PositiveDefinite()"),
        (&["jacobian", "--covariance", "[1, 0]"], "covariance_matrix must be at least two-dimensional"),
        (&["jacobian", "--covariance", "[[1, 0, 0], [0, 1, 0]]"], "PositiveDefinite()"),
        (&["jacobian", "--loc", "[1, 2, 3]", "--covariance", "[[1, 0], [0, 1]]"], "does not match loc's event size 3"),
        (&["jacobian", "--loc", "[[1, 2], [3, 4], [5, 6]]", "--covariance", "[[[1, 0], [0, 1]], [[1, 0], [0, 1]]]"], "Attempting to broadcast a dimension of length 3 at -1! Mismatching argument at index 1 had torch.Size([3])"),
        (&["jacobian", "--scale-tril", "[[1, 1], [0, 1]]"], "LowerCholesky()"),
        (&["jacobian", "--scale-tril", "[[1, 0], [1, -1]]"], "LowerCholesky()"),
        (&["jacobian", "--covariance", "[[1, 0], [0, 1]]", "--precision", "[[1, 0], [0, 1]]"], "cannot be used with"),
        (&["jacobian", "--loc", "[1e999, 0]"], "--loc"),
    ];
    for (args, expect) in cases {
        let out = tchdist(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: stderr {err}");
        assert!(out.stdout.is_empty(), "{args:?}: stdout {:?}", stdout(&out));
        assert_eq!(err.lines().count(), 1, "{args:?}: stderr {err:?}");
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        assert!(err.contains(expect), "{args:?}: {err:?} lacks {expect:?}");
    }
}

#[test]
fn infinite_loc_passes_the_real_constraint_as_in_pytorch() {
    // JSON has no NaN; a literal that overflows f32 becomes inf, and inf == inf, so PyTorch's
    // real_vector accepts it. (The NaN rejection is proven in the library's parity tests.)
    let out = tchdist(&["jacobian", "--loc", "[1e39, 0]"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "inf passes the Real() constraint in PyTorch too"
    );
}

#[test]
fn list_methods_prints_the_library_s_one_method_list_in_order() {
    let out = tchdist(&["list-methods"]);
    assert_eq!(out.status.code(), Some(0));
    let names: Vec<&str> = tchdist::mvn_jacobian::JacobianMethod::ALL
        .iter()
        .map(|m| m.name())
        .collect();
    assert_eq!(stdout(&out), format!("{}\n", names.join("\n")));
    let quadratic: Vec<&str> = tchdist::mvn_jacobian::JacobianMethod::ALL
        .iter()
        .filter(|m| m.time_grows_with_n_squared())
        .map(|m| m.name())
        .collect();
    let out = tchdist(&["list-methods", "--quadratic"]);
    assert_eq!(stdout(&out), format!("{}\n", quadratic.join("\n")));
    // `--method` accepts exactly these names.
    let help = stdout(&tchdist(&["jacobian", "--help"]));
    for name in names {
        assert!(
            help.contains(&format!("- {name}:")),
            "{name} missing in --help"
        );
    }
}

#[test]
fn help_and_version_go_to_stdout_with_status_0() {
    let help = tchdist(&["jacobian", "--help"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(stdout(&help).contains("--covariance <JSON|@FILE>"));
    assert!(stdout(&help).contains("Examples:"));
    let version = tchdist(&["--version"]);
    assert_eq!(version.status.code(), Some(0));
    assert!(stdout(&version).starts_with("tchdist "));
}

#[test]
fn broken_pipe_exits_quietly() {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_tchdist"))
        .args(["jacobian", "-n", "1500", "--format", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tchdist");
    let mut first = [0u8; 1];
    child
        .stdout
        .take()
        .expect("piped")
        .read_exact(&mut first)
        .expect("one byte");
    // ~93 KB of JSON overflows the 64 KiB pipe; stdout is now closed, so the rest of the write hits EPIPE.
    let out = child.wait_with_output().expect("wait");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn check(args: &[&str]) -> Output {
    let mut full = vec!["check"];
    full.extend_from_slice(args);
    tchdist(&full)
}

#[test]
fn check_agrees_with_python_on_the_default_case() {
    let out = check(&[]);
    let text = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for name in ["samples", "log_prob", "jacobian"] {
        let row = text
            .lines()
            .find(|l| l.starts_with(name))
            .expect("a row per tensor");
        assert!(row.contains(" yes "), "{row}");
    }
    assert!(text.contains("result    agree"));
}

/// `--sampler gemm` is not PyTorch's sampling, but `check` holds it to its PyTorch twin (the
/// same draws times Lᵀ in one matmul), and its samples are the exact ones up to rounding.
#[test]
fn gemm_sampler_is_checked_against_its_python_twin_and_is_the_exact_sampler_up_to_rounding() {
    let loc = format!("[{}]", vec!["0.5"; 30].join(", "));
    // Σ = I + 0.5 (all ones): every product sums 30 non-zero terms.
    let rows: Vec<String> = (0..30)
        .map(|i| {
            let row: Vec<&str> = (0..30)
                .map(|j| if i == j { "1.5" } else { "0.5" })
                .collect();
            format!("[{}]", row.join(", "))
        })
        .collect();
    let cov = format!("[{}]", rows.join(", "));
    let args = [
        "-n",
        "200",
        "--dtype",
        "f64",
        "--loc",
        loc.as_str(),
        "--covariance",
        cov.as_str(),
        "--sampler",
        "gemm",
    ];
    let out = check(&[&args[..], &["--method", "analytic"]].concat());
    let text = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.starts_with("tchdist check: --method analytic --sampler gemm "),
        "{text}"
    );
    assert!(text.contains("result    agree"), "{text}");

    let json_of = |sampler: &str| -> Vec<f64> {
        let mut full = vec!["sample", "--format", "json"];
        full.extend_from_slice(&args[..8]);
        full.extend(["--sampler", sampler]);
        let out = tchdist(&full);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut values = Vec::new();
        flatten(
            &serde_json::from_str(&stdout(&out)).expect("JSON"),
            &mut values,
        );
        values
    };
    let (exact, gemm) = (json_of("exact"), json_of("gemm"));
    assert_eq!(exact.len(), 200 * 30);
    assert!(exact != gemm, "a d = 30 GEMM rounds differently somewhere");
    for (a, b) in exact.iter().zip(&gemm) {
        assert!((a - b).abs() <= 1e-12 * (1.0 + a.abs()), "{a} vs {b}");
    }
}

#[test]
fn check_agrees_with_python_on_20_random_cases() {
    let mut rng = Rng::new(31337);
    let methods = [
        "loop",
        "functional",
        "vectorized",
        "batched",
        "batched-loop",
        "forward",
        "analytic",
    ];
    let cases: Vec<Vec<String>> = (0..20)
        .map(|i| {
            let d = rng.int(1, 4) as usize;
            let loc: Vec<f64> = (0..d).map(|_| rng.real(-2.0, 2.0)).collect();
            let cov = random_spd(&mut rng, d);
            vec![
                "--loc".into(),
                json_nested(&loc, &[d]),
                "--covariance".into(),
                json_nested(&cov, &[d, d]),
                "-n".into(),
                rng.pick(&[1i64, 5, 16, 17, 33]).to_string(),
                "--seed".into(),
                rng.int(0, 9999).to_string(),
                "--dtype".into(),
                if i % 2 == 0 { "f32" } else { "f64" }.into(),
                "--method".into(),
                methods[i % methods.len()].into(),
            ]
        })
        .collect();
    // Two at a time: each run starts a Python that imports torch.
    for pair in cases.chunks(2) {
        let handles: Vec<_> = pair
            .iter()
            .map(|args| {
                let args = args.clone();
                std::thread::spawn(move || {
                    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
                    (args.join(" "), check(&refs))
                })
            })
            .collect();
        for h in handles {
            let (args, out) = h.join().expect("check thread");
            assert_eq!(
                out.status.code(),
                Some(0),
                "check {args}: {}{}",
                stdout(&out),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

#[test]
fn check_reports_a_real_mismatch_with_exit_code_1() {
    let out = check(&["--python-seed", "1"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("result    DIFFER"), "{text}");
    let samples = text
        .lines()
        .find(|l| l.starts_with("samples"))
        .expect("samples row");
    assert!(samples.contains(" no "), "{samples}");
}

#[test]
fn output_file_receives_npy_and_stdout_stays_empty() {
    let dir = std::env::temp_dir().join(format!("tchdist-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("jac.npy");
    let out = tchdist(&[
        "jacobian",
        "--format",
        "npy",
        "--output",
        path.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    let bytes = std::fs::read(&path).expect("npy written");
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + header_len]).expect("ascii header");
    assert!(
        header.starts_with("{'descr': '<f4', 'fortran_order': False, 'shape': (10, 2), }"),
        "{header}"
    );
    assert_eq!((10 + header_len) % 64, 0);
    let first = f32::from_le_bytes(
        bytes[10 + header_len..14 + header_len]
            .try_into()
            .expect("4 bytes"),
    );
    assert_eq!(first, -1.125_839_8);
    assert_eq!(
        std::fs::read_dir(&dir).expect("dir").count(),
        1,
        "no temporary file left behind"
    );
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn npy_output_loads_in_numpy_with_the_same_values() {
    let dir = std::env::temp_dir().join(format!("tchdist-npy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("x.npy");
    let p = path.to_str().expect("utf-8 path");
    let out = tchdist(&[
        "jacobian", "--dtype", "f64", "-n", "7", "--format", "npy", "-o", p,
    ]);
    assert_eq!(out.status.code(), Some(0));
    let json = stdout(&tchdist(&[
        "jacobian", "--dtype", "f64", "-n", "7", "--format", "json",
    ]));
    let loaded = run_python(
        "-c",
        &[&format!(
            "import numpy, json; print(json.dumps(numpy.load({p:?}).tolist()))"
        )],
    );
    let parsed: Value = serde_json::from_str(&json).expect("json");
    let from_numpy: Value = serde_json::from_str(loaded.trim()).expect("numpy json");
    assert_eq!(parsed["jacobian"], from_numpy);
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn quiet_prints_nothing_but_keeps_the_exit_code() {
    let out = tchdist(&["jacobian", "--quiet"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty() && out.stderr.is_empty());
}

/// `.cargo/config.toml` compiles jemalloc's options into the binary (docs/ARCHITECTURE.md,
/// "Memory"); jemalloc prints the options in force at exit under `stats_print`.
#[test]
fn binary_allocates_through_jemalloc_with_the_compiled_in_options() {
    let out = Command::new(env!("CARGO_BIN_EXE_tchdist"))
        .arg("--version")
        .env("MALLOC_CONF", "stats_print:true")
        .output()
        .expect("run tchdist");
    let stats = String::from_utf8_lossy(&out.stderr);
    for option in [
        "opt.background_thread: true",
        "opt.dirty_decay_ms: 100",
        "opt.muzzy_decay_ms: 0",
        "opt.lg_extent_max_active_fit: 10",
    ] {
        assert!(
            stats.contains(option),
            "{option} not in jemalloc's stats:\n{stats}"
        );
    }
}

#[test]
fn version_names_tch_and_libtorch() {
    let out = stdout(&tchdist(&["--version"]));
    assert!(out.starts_with("tchdist 0.1.0 (tch 0.26."), "{out}");
    assert!(out.contains("libtorch 2.13.0"), "{out}");
}

#[test]
fn sample_and_log_prob_match_python() {
    let samples = stdout(&tchdist(&[
        "sample", "-n", "4", "--seed", "5", "--dtype", "f64",
    ]));
    let log_prob = stdout(&tchdist(&[
        "log-prob", "-n", "4", "--seed", "5", "--dtype", "f64",
    ]));
    let script = "import torch\nfrom torch.distributions import MultivariateNormal as M\n\
        torch.manual_seed(5)\nd = M(torch.ones(2, dtype=torch.float64), torch.eye(2, dtype=torch.float64))\n\
        x = d.sample((4,))\nprint(x)\nprint(d.log_prob(x))";
    let python = run_python("-c", &[script]);
    assert_eq!(format!("{samples}{log_prob}"), python);
}

#[test]
fn cuda_runs_where_a_gpu_is_and_is_one_clear_error_where_none_is() {
    let out = tchdist(&["jacobian", "--device", "cuda"]);
    if tchdist::device::device("cuda").is_ok() {
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(stdout(&out).lines().count(), 10);
        return;
    }
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: CUDA device requested but no CUDA GPU is available (torch.cuda.is_available() is False)\n"
    );
}

/// Runs `tchdist bench` with `args`, expects success and one JSON line, and returns it parsed.
fn bench_json(args: &[&str]) -> (String, Value) {
    let out = tchdist(args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 1, "{text}");
    let v = serde_json::from_str(&text).expect("JSON");
    (text, v)
}

#[test]
fn bench_prints_one_json_line_with_the_timing_fields() {
    let (text, v) = bench_json(&[
        "bench", "--method", "forward", "-n", "20", "--dim", "3", "--repeat", "2",
    ]);
    assert_eq!(
        (
            v["method"].as_str(),
            v["n"].as_i64(),
            v["d"].as_i64(),
            v["repeat"].as_i64()
        ),
        (Some("forward"), Some(20), Some(3), Some(2))
    );
    assert_eq!(
        (v["dtype"].as_str(), v["device"].as_str()),
        (Some("f64"), Some("cpu"))
    );
    let (median, min) = (
        v["median_ms"].as_f64().expect("median"),
        v["min_ms"].as_f64().expect("min"),
    );
    assert!(min > 0.0 && min <= median, "{text}");
    let (peak, extra) = (
        v["peak_rss_mib"].as_f64().expect("peak RSS"),
        v["extra_rss_mib"].as_f64().expect("extra RSS"),
    );
    assert!(peak > 0.0 && (0.0..=peak).contains(&extra), "{text}");
}

#[test]
fn bench_floor_times_the_cholesky_and_solves_alone() {
    let (_, v) = bench_json(&[
        "bench", "--floor", "-n", "50", "--dim", "4", "--repeat", "0",
    ]);
    assert_eq!(
        (v["method"].as_str(), v["repeat"].as_i64()),
        (Some("floor"), Some(1))
    );
}

#[test]
fn bench_step_times_the_closed_form_on_given_samples_with_a_small_first_run() {
    let (_, v) = bench_json(&[
        "bench",
        "--step",
        "-n",
        "300",
        "--dim",
        "3",
        "--warmup",
        "2",
        "--repeat",
        "4",
        "--warmup-samples",
        "3",
    ]);
    assert_eq!(
        (v["method"].as_str(), v["n"].as_i64(), v["repeat"].as_i64()),
        (Some("analytic-step"), Some(300), Some(4))
    );
    assert!(v["min_ms"].as_f64() <= v["median_ms"].as_f64());
}

#[test]
fn bench_case_is_the_same_covariance_python_builds() {
    let (_, cov) =
        tchdist::mvn_jacobian::bench_case(4, tch::Kind::Double, tch::Device::Cpu, 0).expect("case");
    let script = "import torch\ntorch.manual_seed(0)\nA = torch.randn(4, 4, dtype=torch.float64)\n\
        S = A @ A.T / 4 + torch.eye(4, dtype=torch.float64)\nprint(S.flatten().tolist())";
    let python: Vec<f64> = serde_json::from_str(run_python("-c", &[script]).trim()).expect("list");
    let ours = Vec::<f64>::try_from(cov.reshape([-1])).expect("values");
    assert_eq!(
        ours.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
        python.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
    );
}

/// Starts a Python twin serving `tchdist bench --peer` from scripts/bench_peer.py with the
/// pipeline `body` (Python source of `run_once(n)`), runs the driver, and returns its output.
fn bench_with_peer(body: &str, args: &[&str]) -> Output {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().to_str().expect("UTF-8 path").to_string();
    let script = format!(
        "import sys\nsys.path.insert(0, 'scripts')\nimport bench_peer\n\
         bench_peer.make_pipes({path:?})\n{body}\nbench_peer.serve({path:?}, lambda: run_once)\n"
    );
    let mut peer = Command::new(common::python())
        .args(["-c", &script])
        .current_dir(common::root())
        .spawn()
        .expect("start the peer");
    // The pipes exist once the peer has made them.
    let start = std::time::Instant::now();
    while !dir.path().join("replies").exists() {
        assert!(
            start.elapsed().as_secs() < 60,
            "the peer never made its pipes"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let mut all = vec!["bench", "--peer", &path];
    all.extend_from_slice(args);
    let out = tchdist(&all);
    assert!(peer.wait().expect("peer exits").success());
    out
}

#[test]
fn bench_peer_times_another_process_pipeline_with_the_same_policy() {
    // A pipeline of n samples that "takes" n milliseconds: the driver's warm-ups and repeats
    // give a median of exactly n ms, whatever the machine does.
    let out = bench_with_peer(
        "def run_once(n):\n    return n / 1000\n",
        &["--label", "twin", "-n", "20", "--dim", "3", "--repeat", "3"],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_str(&stdout(&out)).expect("one JSON line");
    assert_eq!(
        (
            v["method"].as_str(),
            v["repeat"].as_i64(),
            v["median_ms"].as_f64()
        ),
        (Some("twin"), Some(3), Some(20.0))
    );
    // The memory is the peer's own (a Python process), not the driver's.
    assert!(v["peak_rss_mib"].as_f64().expect("peak") > 5.0);
}

#[test]
fn bench_peer_failure_is_one_error_line_with_the_twins_message() {
    let out = bench_with_peer(
        "def run_once(n):\n    raise MemoryError('cannot allocate the basis')\n",
        &["-n", "20", "--dim", "3"],
    );
    common::assert_one_error(&out, "MemoryError: cannot allocate the basis");
}

#[test]
fn list_methods_chunk_rows_is_the_librarys_basis_chunk_for_the_benchmark_case() {
    for (n, d, kind, dtype) in [
        (10000i64, 50i64, tch::Kind::Double, "f64"),
        (2000, 200, tch::Kind::Double, "f64"),
        (1000, 10, tch::Kind::Float, "f32"),
    ] {
        let out = tchdist(&[
            "list-methods",
            "--chunk-rows",
            &n.to_string(),
            &d.to_string(),
            dtype,
        ]);
        assert_eq!(out.status.code(), Some(0));
        let loc = tch::Tensor::zeros([d], (kind, tch::Device::Cpu));
        let cov = tch::Tensor::zeros([d, d], (kind, tch::Device::Cpu));
        let want = tchdist::mvn_jacobian::basis_chunk_rows(
            &loc,
            &tchdist::distributions::MvnParam::CovarianceMatrix(cov),
            n,
        )
        .map_or("all\n".to_string(), |r| format!("{r}\n"));
        assert_eq!(stdout(&out), want, "n={n} d={d} {dtype}");
    }
    common::assert_one_error(
        &tchdist(&["list-methods", "--chunk-rows", "0", "2", "f64"]),
        "N and D must be at least 1",
    );
}
