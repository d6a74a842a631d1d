//! The `tchdist` binary as a user runs it: exact stdout, exit codes, one-line errors.

mod common;

use std::process::{Command, Output};

use common::{json_nested, random_spd, run_python, run_python_stdin, Rng};
use serde_json::{json, Value};

const ANSWER: &str = include_str!("fixtures/question_answer.out");

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
    for method in ["functional", "loop"] {
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
    let python: Vec<Value> = serde_json::from_str(&run_python_stdin(
        "tests/pyref/mvn_jacobian.py",
        &[],
        &Value::Array(cases).to_string(),
    ))
    .expect("JSON");
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
        (&["jacobian", "-n", "99999999999"], "too large"),
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
fn help_and_version_go_to_stdout_with_status_0() {
    let help = tchdist(&["jacobian", "--help"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(stdout(&help).contains("--covariance <JSON>"));
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
