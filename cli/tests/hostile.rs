//! Hostile inputs and hostile surroundings (issue 16): a Python that misbehaves, output paths
//! that are not plain files, sizes that must be refused before anything is allocated, a
//! closed stdout, a missing HOME. Every failure is one `error:` line on stderr and exit code 2.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::assert_one_error;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_tchdist")
}

fn tchdist(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .output()
        .expect("run tchdist")
}

/// `sh -c SCRIPT` with `$0` the tchdist binary.
fn sh(script: &str) -> Output {
    Command::new("sh")
        .args(["-c", script, bin()])
        .output()
        .expect("run sh")
}

/// An executable shell script standing in for Python.
fn fake_python(dir: &Path, name: &str, body: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path.to_str().expect("utf-8").to_string()
}

fn big_covariance() -> String {
    format!("[{}]", vec!["[[1,0],[0,1]]"; 5000].join(","))
}

#[test]
fn check_fails_when_python_exits_before_reading_its_request() {
    // 70 KB of request: the write hits EPIPE once /bin/false has exited.
    let cov = big_covariance();
    let out = tchdist(&[
        "check",
        "--python",
        "/bin/false",
        "--covariance",
        &cov,
        "-n",
        "1",
        "--method",
        "analytic",
    ]);
    assert_one_error(&out, "python failed (exit status 1)");
}

#[test]
fn check_reports_a_python_killed_by_a_signal_by_its_signal() {
    let dir = tempfile::tempdir().expect("temp dir");
    let python = fake_python(dir.path(), "py", "kill -9 $$");
    let out = tchdist(&["check", "--python", &python]);
    assert_one_error(&out, "python was killed by signal 9 (SIGKILL)");
}

#[test]
fn check_stops_a_python_past_its_timeout_with_what_it_started() {
    let dir = tempfile::tempdir().expect("temp dir");
    // The sleep is a grandchild holding the pipes open: its process group is stopped too.
    let python = fake_python(dir.path(), "py", "sleep 60; echo done");
    let start = Instant::now();
    let out = tchdist(&["check", "--python", &python, "--timeout-s", "1"]);
    assert_one_error(&out, "python did not finish within 1 s (--timeout-s)");
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn check_reads_a_bounded_amount_of_python_output() {
    let dir = tempfile::tempdir().expect("temp dir");
    let python = fake_python(dir.path(), "py", "exec yes");
    let out = tchdist(&["check", "--python", &python]);
    assert_one_error(&out, "bytes its reply can take");
}

#[test]
fn check_kills_its_python_when_it_is_terminated() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pid_file = dir.path().join("pid");
    let python = fake_python(
        dir.path(),
        "py",
        &format!("echo $$ > {}; exec sleep 60", pid_file.display()),
    );
    let mut child = Command::new(bin())
        .args(["check", "--python", &python])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run tchdist");
    let start = Instant::now();
    let pid = loop {
        if let Some(pid) = std::fs::read_to_string(&pid_file)
            .ok()
            .filter(|s| s.ends_with('\n'))
        {
            break pid.trim().to_string();
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "python never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    child.wait().expect("wait");
    // The orphan is reaped by init once killed; a live `sleep` would still be in /proc.
    let gone = (0..250).any(|_| {
        std::thread::sleep(Duration::from_millis(20));
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map_or(true, |stat| stat.contains(") Z "))
    });
    assert!(gone, "python {pid} outlived check");
}

#[test]
fn check_hints_at_setup_for_a_python_without_torch() {
    let dir = tempfile::tempdir().expect("temp dir");
    let python = fake_python(
        dir.path(),
        "py",
        "echo \"ModuleNotFoundError: No module named 'torch'\" >&2; exit 1",
    );
    let out = tchdist(&["check", "--python", &python]);
    assert_one_error(&out, "run scripts/setup, or pass --python PATH");
}

#[test]
fn check_without_home_says_so_instead_of_a_relative_path() {
    let out = Command::new(bin())
        .arg("check")
        .env_remove("HOME")
        .env_remove("TCHDIST_PYTHON")
        .env_remove("XDG_CACHE_HOME")
        .output()
        .expect("run tchdist");
    assert_one_error(&out, "HOME is not set");
}

#[test]
fn check_ignores_a_relative_xdg_cache_home() {
    let home = tempfile::tempdir().expect("temp dir");
    let out = Command::new(bin())
        .arg("check")
        .env("HOME", home.path())
        .env("XDG_CACHE_HOME", "relative-cache")
        .env_remove("TCHDIST_PYTHON")
        .output()
        .expect("run tchdist");
    let expected = format!(
        "{}/.cache/tchdist/torch-2.13.0/bin/python",
        home.path().display()
    );
    assert_one_error(&out, &expected);
}

#[test]
fn closed_stdout_is_an_error_not_lost_output() {
    let out = sh(r#"exec "$0" jacobian >&-"#);
    assert_one_error(&out, "stdout is closed");
    // With nothing to print, a closed stdout does not matter.
    let quiet = sh(r#"exec "$0" jacobian --quiet >&-"#);
    assert_eq!(quiet.status.code(), Some(0));
}

#[test]
fn output_into_a_fifo_writes_through_it_and_keeps_the_fifo() {
    let dir = tempfile::tempdir().expect("temp dir");
    let fifo = dir.path().join("fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo")
        .success());
    // `cat` reads it, and is stopped if nothing ever opens the FIFO (it was replaced).
    let mut reader = Command::new("cat")
        .arg(&fifo)
        .stdout(Stdio::piped())
        .spawn()
        .expect("run cat");
    let out = tchdist(&["jacobian", "-o", fifo.to_str().expect("utf-8")]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let start = Instant::now();
    while reader.try_wait().expect("cat").is_none() {
        if start.elapsed() > Duration::from_secs(10) {
            let _ = reader.kill();
            let _ = reader.wait();
            panic!("nothing was written into the FIFO");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let text = reader.wait_with_output().expect("cat output").stdout;
    assert_eq!(
        String::from_utf8_lossy(&text),
        include_str!("../../tests/fixtures/question_answer.out")
    );
    let meta = std::fs::symlink_metadata(&fifo).expect("fifo still there");
    assert!(meta.file_type().is_fifo(), "the FIFO was replaced");
}

#[test]
fn output_through_a_symlink_writes_its_target_and_keeps_the_link() {
    let dir = tempfile::tempdir().expect("temp dir");
    let target = dir.path().join("target.txt");
    let link = dir.path().join("link.txt");
    std::fs::write(&target, "old").expect("target");
    std::os::unix::fs::symlink("target.txt", &link).expect("symlink");
    let out = tchdist(&["jacobian", "-o", link.to_str().expect("utf-8")]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(std::fs::symlink_metadata(&link)
        .expect("link")
        .file_type()
        .is_symlink());
    assert_eq!(
        std::fs::read_to_string(&target).expect("target"),
        include_str!("../../tests/fixtures/question_answer.out")
    );
    // A dangling link is created at its target, as a shell's `>` does.
    let dangling = dir.path().join("dangling");
    std::os::unix::fs::symlink("made.txt", &dangling).expect("symlink");
    let out = tchdist(&["jacobian", "-o", dangling.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(0));
    assert!(dir.path().join("made.txt").is_file());
    assert!(std::fs::symlink_metadata(&dangling)
        .expect("link")
        .file_type()
        .is_symlink());
    assert_eq!(
        std::fs::read_dir(dir.path()).expect("dir").count(),
        4,
        "no temp file left"
    );
}

/// Devices are made in a temporary folder, never the system's: a regression that replaces
/// them must not replace /dev/null for everyone.
#[test]
fn output_to_devices_writes_into_them_and_never_replaces_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    // A null device of our own (mknod needs root; elsewhere only the stdout alias is tried).
    let null = dir.path().join("null");
    let made = Command::new("mknod")
        .args([null.to_str().expect("utf-8"), "c", "1", "3"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if made {
        let out = tchdist(&["jacobian", "-o", null.to_str().expect("utf-8")]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stdout.is_empty());
        let meta = std::fs::symlink_metadata(&null).expect("null device");
        assert!(
            meta.file_type().is_char_device(),
            "the device node was replaced"
        );
    }
    // A link to the process's own stdout (as /dev/stdout is) writes into that pipe.
    let stdout_link = dir.path().join("stdout");
    std::os::unix::fs::symlink("/proc/self/fd/1", &stdout_link).expect("symlink");
    let out = tchdist(&["jacobian", "-o", stdout_link.to_str().expect("utf-8")]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        include_str!("../../tests/fixtures/question_answer.out")
    );
    assert!(std::fs::symlink_metadata(&stdout_link)
        .expect("link")
        .file_type()
        .is_symlink());
}

#[test]
fn output_temp_file_cannot_be_redirected_by_a_planted_symlink() {
    let dir = tempfile::tempdir().expect("temp dir");
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "precious").expect("victim");
    // `exec` keeps the shell's PID, the PID the old temporary name was made of.
    let out = Command::new("sh")
        .current_dir(dir.path())
        .args([
            "-c",
            r#"ln -s victim ".out.txt.tchdist-$$.tmp" && exec "$0" jacobian -o out.txt"#,
            bin(),
        ])
        .output()
        .expect("run sh");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(&victim).expect("victim"),
        "precious"
    );
    assert!(dir.path().join("out.txt").is_file());
}

#[test]
fn output_file_name_of_250_characters_is_written() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("a".repeat(250));
    let out = tchdist(&["jacobian", "-o", path.to_str().expect("utf-8")]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(path.is_file());
    assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 1);
}

#[test]
fn long_loc_with_the_default_covariance_is_refused_before_the_identity_is_built() {
    // eye(60000) in f64 is 28.8 GB; under an 8 GB address-space limit building it aborts.
    let loc = format!("[{}]", vec!["0"; 60000].join(","));
    let out = Command::new("sh")
        .args([
            "-c",
            r#"ulimit -v 8000000 && exec "$0" jacobian --method analytic -n 1 --loc "$1""#,
            bin(),
            &loc,
        ])
        .output()
        .expect("run sh");
    assert_one_error(&out, "would need about");
}

#[test]
fn libtorch_errors_are_printed_once_in_pytorchs_words() {
    let out = tchdist(&[
        "jacobian",
        "--loc",
        "[0,0]",
        "--precision",
        "[[1,1],[1,1.0000001192092896]]",
    ]);
    assert_one_error(
        &out,
        "linalg.cholesky: The factorization could not be completed",
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("linalg.cholesky").count(), 1, "{err}");
    assert!(!err.contains("Internal torch error"), "{err}");
}

#[test]
fn memory_check_counts_the_batched_loop_basis() {
    // The 35000 x 35000 one-hot basis alone is 4.9 GB in f32.
    let out = sh(r#"ulimit -v 4000000 && exec "$0" jacobian --method batched-loop -n 35000"#);
    assert_one_error(&out, "would need about");
}

#[test]
fn memory_check_counts_the_broadcast_batch() {
    // loc (1000, 1, 2) with covariance (1000, 2, 2): a batch of 1000 x 1000, not 1000.
    let loc = format!("[{}]", vec!["[[0,0]]"; 1000].join(","));
    let cov = format!("[{}]", vec!["[[1,0],[0,1]]"; 1000].join(","));
    let out = Command::new("sh")
        .args([
            "-c",
            r#"ulimit -v 16000000 && exec "$0" jacobian --method analytic -n 10 --loc "$1" --covariance "$2""#,
            bin(),
            &loc,
            &cov,
        ])
        .output()
        .expect("run sh");
    assert_one_error(&out, "would need about");
}

#[test]
fn memory_check_reads_the_address_space_limit() {
    let out = sh(r#"ulimit -v 3000000 && exec "$0" jacobian --method analytic -n 30000000"#);
    assert_one_error(&out, "would need about");
}

#[test]
fn bench_memory_estimate_saturates_instead_of_wrapping() {
    // n = d = 2^62: every term of the estimate is a multiple of 2^128 once scaled, so
    // wrapping arithmetic made it 0 bytes.
    let out = sh(
        r#"ulimit -v 16000000 && exec "$0" bench -n 4611686018427387904 --dim 4611686018427387904"#,
    );
    assert_one_error(&out, "would need about");
}

/// `sh -c 'timeout 60 tchdist ARGS'`: a run that would take long fails the test instead of
/// hanging it.
fn tchdist_within_a_minute(args: &[&str]) -> Output {
    Command::new("timeout")
        .arg("60")
        .arg(bin())
        .args(args)
        .output()
        .expect("run timeout")
}

#[test]
fn quadratic_methods_refuse_sizes_that_take_minutes_naming_fast_ones() {
    for method in ["functional", "loop", "batched-loop", "vectorized"] {
        let out = tchdist_within_a_minute(&["jacobian", "--method", method, "-n", "40000"]);
        assert_one_error(&out, "its time grows with n²");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("under a second at this size: forward, jacfwd, per-sample, analytic"),
            "{err}"
        );
        assert!(err.contains("--allow-slow"), "{err}");
    }
    // --allow-slow skips the refusal: the next check (the device) is what fails.
    let out = tchdist(&[
        "jacobian",
        "--method",
        "functional",
        "-n",
        "100000",
        "--allow-slow",
        "--device",
        "tpu",
    ]);
    assert_one_error(&out, "unknown device 'tpu'");
}

#[test]
fn too_many_threads_for_the_address_space_is_one_error_line() {
    let out = sh(r#"ulimit -v 3000000 && exec "$0" jacobian --method analytic --threads 1024"#);
    assert_one_error(&out, "--threads 1024 would need about");
}

#[test]
fn json_output_writes_nan_and_infinities_as_strings() {
    // 1e39 overflows f32 to inf: the sample is inf, its log-probability and Jacobian NaN.
    let out = tchdist(&[
        "jacobian",
        "--loc",
        "[1e39, 0]",
        "-n",
        "1",
        "--format",
        "json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text,
        "{\"samples\": [[\"Infinity\", -0.2934289]], \"log_prob\": [\"NaN\"], \"jacobian\": [[\"NaN\", \"NaN\"]]}\n"
    );
}

#[test]
fn device_strings_are_parsed_as_pytorch_parses_them() {
    let out = tchdist(&["jacobian", "--device", "cpu:0"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        include_str!("../../tests/fixtures/question_answer.out")
    );
    let out = tchdist(&["jacobian", "--device", ""]);
    assert_one_error(&out, "Device string must not be empty");
}

#[test]
fn empty_loc_says_what_is_expected_without_a_dangling_colon() {
    let out = tchdist(&["jacobian", "--loc", ""]);
    assert_one_error(&out, "--loc: empty; expected a JSON list of numbers");
    assert!(!String::from_utf8_lossy(&out.stderr)
        .trim_end()
        .ends_with(':'));
}

/// The "would need about X GiB" of a refused run, in GiB.
fn needed_gib(out: &Output) -> f64 {
    let err = String::from_utf8_lossy(&out.stderr);
    let after = err
        .split("would need about ")
        .nth(1)
        .expect("a memory refusal");
    let number = after.split(' ').next().expect("a number");
    number.parse().expect("GiB")
}

#[test]
fn memory_check_counts_the_json_text() {
    let args = ["jacobian", "--method", "analytic", "-n", "1000000000000"];
    let text = tchdist(&args);
    assert_one_error(&text, "would need about");
    let json = tchdist(&[&args[..], &["--format", "json"]].concat());
    assert_one_error(&json, "would need about");
    // 5 printed numbers per sample (d = 2) at ~25 characters, held more than once, against
    // 16 bytes of f32 tensors.
    assert!(
        needed_gib(&json) > 3.0 * needed_gib(&text),
        "{:?} {:?}",
        json,
        text
    );
}

#[test]
fn output_temp_file_is_removed_when_tchdist_is_terminated_while_writing() {
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let temp_files = || -> Vec<String> {
        std::fs::read_dir(dir.path())
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with('.') && name.ends_with(".tmp"))
            .collect()
    };
    // ~190 MB of JSON: the temporary file lives for a while as it is written and synced.
    let path = dir.path().join("big.json");
    let mut child = Command::new(bin())
        .args([
            "jacobian", "--method", "analytic", "-n", "3000000", "--format", "json", "-o",
        ])
        .arg(&path)
        .stderr(Stdio::null())
        .spawn()
        .expect("run tchdist");
    let start = Instant::now();
    while temp_files().is_empty() {
        if child.try_wait().expect("try_wait").is_some() {
            panic!("tchdist finished before its temporary file was seen; nothing to test");
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no temporary file"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let status = child.wait().expect("wait");
    if status.signal() == Some(15) {
        assert!(temp_files().is_empty(), "left behind: {:?}", temp_files());
        assert!(!path.exists(), "a partial output file");
    } else {
        // It finished in the moment before the signal: the file is whole, no temporary left.
        assert_eq!(status.code(), Some(0));
        assert!(temp_files().is_empty(), "left behind: {:?}", temp_files());
    }
}

#[test]
fn check_does_not_wait_for_what_its_python_left_running() {
    let dir = tempfile::tempdir().expect("temp dir");
    // The script exits at once; the sleep it started keeps its stdout and stderr open.
    let python = fake_python(dir.path(), "py", "sleep 60 &\nexit 3");
    let start = Instant::now();
    let out = tchdist(&["check", "--python", &python]);
    assert_one_error(&out, "python failed (exit status 3)");
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
}
