//! The command line on a user's own data: every tensor flag as literal JSON or `@PATH` (.npy in
//! either byte order and either memory order, .npz with and without a key, .json, `@-` from
//! stdin), `--value` points for `jacobian` and `check`, `--format npz` read back by NumPy,
//! progress on a terminal only, and every bad file refused with one line and exit code 2.
//! The fixtures are written by NumPy in the set-up venv, in one Python process per test.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::{assert_one_error, run_python};

fn tchdist_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tchdist"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run tchdist")
}

fn tchdist_stdin(dir: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tchdist"))
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tchdist");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

fn ok(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).expect("utf-8")
}

/// A fresh folder under the target directory, with `script` (NumPy code) run in it.
fn fixtures(name: &str, script: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("fixture folder");
    let program = format!(
        "import os, sys\nos.chdir(sys.argv[1])\nimport numpy as np\n{script}\nprint('ok')\n"
    );
    let py = dir.join("make_fixtures.py");
    std::fs::write(&py, program).expect("write fixture script");
    let out = run_python(py.to_str().expect("utf-8"), &[dir.to_str().expect("utf-8")]);
    assert_eq!(out.trim(), "ok");
    dir
}

const LOC: &str = "[0.5, -1.0, 2.0]";
const COV: &str = "[[2.0, 0.5, 0.1], [0.5, 1.0, 0.2], [0.1, 0.2, 1.5]]";

#[test]
fn every_input_form_gives_what_literal_json_gives() {
    let dir = fixtures(
        "input_forms",
        &format!(
            r#"
loc = np.array({LOC}); cov = np.array({COV})
np.save("loc.npy", loc); np.save("cov.npy", cov)
np.save("cov_fortran.npy", np.asfortranarray(cov))
np.save("cov_big_endian.npy", cov.astype(">f8"))
np.save("loc_f32.npy", loc.astype(np.float32))
np.savez("case.npz", loc=loc, cov=cov)
np.savez("only_cov.npz", cov)
import json
json.dump(cov.tolist(), open("cov.json", "w"))
assert not np.isfortran(np.load("cov.npy")) and np.isfortran(np.load("cov_fortran.npy"))
"#
        ),
    );
    let expected = ok(&tchdist_in(
        &dir,
        &[
            "jacobian",
            "--loc",
            LOC,
            "--covariance",
            COV,
            "--dtype",
            "f64",
            "--format",
            "json",
        ],
    ));
    for (loc, cov) in [
        ("@loc.npy", "@cov.npy"),
        ("@loc.npy", "@cov_fortran.npy"),
        ("@loc.npy", "@cov_big_endian.npy"),
        ("@case.npz:loc", "@case.npz:cov"),
        (LOC, "@only_cov.npz"),
        (LOC, "@cov.json"),
    ] {
        let got = ok(&tchdist_in(
            &dir,
            &[
                "jacobian",
                "--loc",
                loc,
                "--covariance",
                cov,
                "--dtype",
                "f64",
                "--format",
                "json",
            ],
        ));
        assert_eq!(got, expected, "--loc {loc} --covariance {cov}");
    }
    // Standard input: JSON text, or .npy told apart by its magic bytes.
    let npy = std::fs::read(dir.join("cov.npy")).expect("cov.npy");
    for stdin in [COV.as_bytes(), &npy[..]] {
        let got = ok(&tchdist_stdin(
            &dir,
            &[
                "jacobian",
                "--loc",
                LOC,
                "--covariance",
                "@-",
                "--dtype",
                "f64",
                "--format",
                "json",
            ],
            stdin,
        ));
        assert_eq!(got, expected, "--covariance @- ({} bytes)", stdin.len());
    }
    // A pipe (bash's process substitution) as the file: no seeking, the magic bytes kept.
    for cov in ["cov.npy", "cov.json"] {
        let piped = Command::new("bash")
            .current_dir(&dir)
            .args([
                "-c",
                &format!(
                    "\"$0\" jacobian --loc '{LOC}' --covariance @<(cat {cov}) --dtype f64 --format json"
                ),
                env!("CARGO_BIN_EXE_tchdist"),
            ])
            .output()
            .expect("run bash");
        assert_eq!(ok(&piped), expected, "--covariance @<(cat {cov})");
    }
    // A float32 file under --dtype f32 is the float32 values; exactly what JSON gives.
    let f32_json = ok(&tchdist_in(
        &dir,
        &["sample", "--loc", LOC, "--format", "json"],
    ));
    let f32_file = ok(&tchdist_in(
        &dir,
        &["sample", "--loc", "@loc_f32.npy", "--format", "json"],
    ));
    assert_eq!(f32_file, f32_json);
}

#[test]
fn dtypes_convert_as_torch_tensor_of_np_load_does() {
    // torch.tensor(np.load(path), dtype=float32): float64 values rounded to float32, integers
    // and booleans converted; the CLI's samples carry the loc they were drawn around.
    let dir = fixtures(
        "dtypes",
        r#"
import torch
np.save("loc_f64.npy", np.array([0.1, 1/3, 2.7]))
np.save("loc_int.npy", np.array([1, -2, 3], dtype=np.int64))
np.save("loc_u8.npy", np.array([1, 0, 3], dtype=np.uint8))
np.save("loc_bool.npy", np.array([True, False, True]))
out = {}
for name in ["loc_f64", "loc_int", "loc_u8", "loc_bool"]:
    torch.manual_seed(0)
    loc = torch.tensor(np.load(name + ".npy"), dtype=torch.float32)
    d = torch.distributions.MultivariateNormal(loc, torch.eye(3))
    out[name] = repr(d.sample((2,)))
import json
json.dump(out, open("expected.json", "w"))
"#,
    );
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).expect("json"))
            .expect("json");
    for name in ["loc_f64", "loc_int", "loc_u8", "loc_bool"] {
        let got = ok(&tchdist_in(
            &dir,
            &["sample", "-n", "2", "--loc", &format!("@{name}.npy")],
        ));
        assert_eq!(
            got.trim_end(),
            expected[name].as_str().expect("repr"),
            "{name}"
        );
    }
}

#[test]
fn jacobian_at_given_points_from_a_file_matches_pytorch_through_check() {
    let dir = fixtures(
        "given_points",
        &format!(
            r#"
rng = np.random.default_rng(7)
np.save("loc.npy", np.array({LOC})); np.save("cov.npy", np.array({COV}))
np.save("x.npy", rng.normal(size=(40, 3)))
np.save("x_f32.npy", rng.normal(size=(5, 2, 3)).astype(np.float32))
"#
        ),
    );
    for (method, dtype, points) in [
        ("analytic", "f64", "@x.npy"),
        ("batched", "f64", "@x.npy"),
        ("jacfwd", "f32", "@x_f32.npy"),
        ("loop", "f32", "@x.npy"),
    ] {
        let out = tchdist_in(
            &dir,
            &[
                "check",
                "--method",
                method,
                "--dtype",
                dtype,
                "--loc",
                "@loc.npy",
                "--covariance",
                "@cov.npy",
                "--value",
                points,
            ],
        );
        let table = ok(&out);
        assert!(table.contains("result    agree"), "{method}: {table}");
        for tensor in ["samples", "log_prob", "jacobian"] {
            assert!(
                table
                    .lines()
                    .any(|l| l.starts_with(tensor) && l.contains(" yes ")),
                "{method} {tensor}: {table}"
            );
        }
    }
}

#[test]
fn npz_output_loads_in_numpy_keyed_by_name_with_the_json_values() {
    let dir = fixtures(
        "npz_output",
        "np.save('x.npy', np.arange(12.0).reshape(4, 3) / 7)",
    );
    let args = [
        "jacobian",
        "--loc",
        LOC,
        "--covariance",
        COV,
        "--dtype",
        "f64",
    ];
    let json_out = ok(&tchdist_in(
        &dir,
        &[&args[..], &["--format", "json"]].concat(),
    ));
    assert_eq!(
        ok(&tchdist_in(
            &dir,
            &[&args[..], &["--format", "npz", "-o", "out.npz"]].concat()
        )),
        ""
    );
    let at_points = [
        &args[..],
        &["--value", "@x.npy", "--format", "npz", "-o", "at.npz"],
    ]
    .concat();
    assert_eq!(ok(&tchdist_in(&dir, &at_points)), "");
    let json_path = dir.join("out.json");
    std::fs::write(&json_path, json_out).expect("write json");
    let check = dir.join("check_npz.py");
    std::fs::write(
        &check,
        r#"
import json, sys
import numpy as np
dir = sys.argv[1]
z = np.load(dir + "/out.npz")
assert sorted(z.keys()) == ["jacobian", "log_prob", "samples"], sorted(z.keys())
ref = json.load(open(dir + "/out.json"))
for k in z.keys():
    assert z[k].dtype == np.float64, (k, z[k].dtype)
    assert np.array_equal(z[k], np.array(ref[k])), k
at = np.load(dir + "/at.npz")
assert np.array_equal(at["samples"], np.load(dir + "/x.npy"))
assert at["jacobian"].shape == (4, 3)
print("ok")
"#,
    )
    .expect("write check");
    let out = run_python(
        check.to_str().expect("utf-8"),
        &[dir.to_str().expect("utf-8")],
    );
    assert_eq!(out.trim(), "ok");
}

#[test]
fn every_bad_file_gets_one_line_and_exit_code_2() {
    let dir = fixtures(
        "bad_files",
        r#"
good = np.arange(6.0).reshape(2, 3)
np.save("good.npy", good)
raw = open("good.npy", "rb").read()
open("truncated_data.npy", "wb").write(raw[:-8])
open("truncated_header.npy", "wb").write(raw[:20])
open("wrong_magic.npy", "wb").write(b"\x93NUMPZ" + raw[6:])
open("not_npy.npy", "wb").write(b"hello, world\n")
np.save("complex.npy", np.array([1 + 2j]))
np.save("scalar.npy", np.array(1.0))
np.save("empty.npy", np.zeros((0, 3)))
np.savez("two.npz", a=good, b=good)
open("corrupt.npz", "wb").write(b"PK\x03\x04" + b"\x00" * 40)
# A header that declares 10^12 x 50 float64 (400 TB) in front of 8 bytes of data.
header = "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000, 50), }"
header += " " * (118 - len(header)) + "\n"
open("huge.npy", "wb").write(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() + b"\x00" * 8)
"#,
    );
    for (flag_value, expect) in [
        ("@truncated_data.npy", "--loc: truncated_data.npy"),
        (
            "@truncated_header.npy",
            "--loc: truncated_header.npy is not a valid .npy file",
        ),
        (
            "@wrong_magic.npy",
            "--loc: wrong_magic.npy is not a NumPy file",
        ),
        ("@not_npy.npy", "--loc: not_npy.npy is not a NumPy file"),
        ("@complex.npy", "expected floats, integers or booleans"),
        ("@scalar.npy", "0-dimensional"),
        ("@empty.npy", "empty array of shape (0, 3)"),
        (
            "@two.npz",
            "holds 2 arrays; name one as @two.npz:KEY (keys: a, b)",
        ),
        ("@two.npz:c", "two.npz has no array 'c' (keys: a, b)"),
        ("@good.npy:a", "no such file"),
        ("@corrupt.npz", "corrupt.npz is not a readable .npz archive"),
        ("@huge.npy", "reading --loc would need about"),
        (
            "@missing.npy",
            "--loc: cannot read missing.npy: No such file or directory",
        ),
        ("@.", "--loc: . is a directory"),
        (
            "@good.npy/inside",
            "--loc: cannot read good.npy/inside: Not a directory",
        ),
        ("@/proc/self/mem", "--loc: cannot read /proc/self/mem"),
    ] {
        let out = tchdist_in(&dir, &["jacobian", "--loc", flag_value]);
        let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
        assert!(
            err.contains(&expect.to_lowercase()),
            "{flag_value}: {err:?} lacks {expect:?}"
        );
        assert_one_error(&out, "");
    }
    // Shape errors name the flag and both shapes.
    let out = tchdist_in(
        &dir,
        &["jacobian", "--loc", "[0, 0]", "--value", "@good.npy"],
    );
    assert_one_error(
        &out,
        "--value: The right-most size of value must match event_shape: torch.Size([2, 3]) vs torch.Size([2]).",
    );
}

#[test]
fn progress_shows_on_a_terminal_and_stays_silent_otherwise() {
    // A loop of 2000 gradients (quadratic in n) takes more than the one second before the spinner shows.
    let bin = env!("CARGO_BIN_EXE_tchdist");
    let command = format!("{bin} jacobian --method loop -n 2000 -q");
    let tty = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .output()
        .expect("run script");
    assert_eq!(tty.status.code(), Some(0));
    let screen = String::from_utf8_lossy(&tty.stdout);
    assert!(
        screen.contains("tchdist jacobian --method loop, 2000 log-probabilities"),
        "no progress on the terminal: {screen:?}"
    );
    let piped = Command::new(bin)
        .args(["jacobian", "--method", "loop", "-n", "2000", "-q"])
        .output()
        .expect("run tchdist");
    assert_eq!(piped.status.code(), Some(0));
    assert!(piped.stderr.is_empty() && piped.stdout.is_empty());
}
