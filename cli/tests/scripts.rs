//! scripts/setup and scripts/tchdist in hostile surroundings (issue 16): parallel first runs,
//! a LIBTORCH that is not libtorch 2.13.0, no HOME. A small local stand-in replaces Python and
//! the torch wheel, so these run in seconds and offline.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scripts")
        .join(name)
}

fn executable(path: &Path, body: &str) {
    std::fs::write(path, body).expect("write script");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// A stand-in `python3` whose `-m venv DIR` makes a venv whose python "installs" the torch and
/// scipy it is given with `-m pip install` (half a second; two installs at once into one venv
/// fail, as pip's do) and passes setup's version checks once they are installed.
fn stand_in_python(dir: &Path) -> PathBuf {
    let venv_python = dir.join("venv-python");
    executable(
        &venv_python,
        r#"#!/bin/sh
d=$(cd "$(dirname "$0")/.." && pwd)
case "$1" in
  -m)
    mkdir "$d/.pip-running" 2>/dev/null || { echo "pip: another install is running in $d" >&2; exit 1; }
    sleep 0.5
    for a in "$@"; do
      case "$a" in
        torch==*) touch "$d/torch-2.13.0" ;;
        scipy==*) touch "$d/scipy" ;;
      esac
    done
    rmdir "$d/.pip-running"
    ;;
  -) cat >/dev/null; [ -f "$d/torch-2.13.0" ] ;;
  -c) [ -f "$d/scipy" ] ;;
  *) echo 2.13.0 ;;
esac
"#,
    );
    let python = dir.join("python3");
    executable(
        &python,
        &format!(
            r#"#!/bin/sh
[ "$1" = -m ] && [ "$2" = venv ] || exit 1
mkdir -p "$3/bin"
sleep 0.2
cp "{}" "$3/bin/python.$$" && mv "$3/bin/python.$$" "$3/bin/python"
"#,
            venv_python.display()
        ),
    );
    python
}

fn setup(venv: &Path, python: &Path) -> Output {
    Command::new(script("setup"))
        .env("TCHDIST_VENV", venv)
        .env("PYTHON", python)
        .output()
        .expect("run scripts/setup")
}

#[test]
fn ten_parallel_first_setups_all_succeed_and_leave_one_complete_venv() {
    let dir = tempfile::tempdir().expect("temp dir");
    let python = stand_in_python(dir.path());
    let venv = dir.path().join("cache/torch-2.13.0");
    let runs: Vec<_> = (0..10)
        .map(|_| {
            let (venv, python) = (venv.clone(), python.clone());
            std::thread::spawn(move || setup(&venv, &python))
        })
        .collect();
    for run in runs {
        let out = run.join().expect("setup thread");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(venv.join("torch-2.13.0").is_file());
    let left: Vec<_> = std::fs::read_dir(dir.path().join("cache"))
        .expect("cache")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains("building"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn setup_says_nothing_when_the_venv_is_ready() {
    let dir = tempfile::tempdir().expect("temp dir");
    let python = stand_in_python(dir.path());
    let venv = dir.path().join("venv");
    let first = setup(&venv, &python);
    assert_eq!(first.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&first.stderr)
        .contains("setup: torch 2.13.0 and scipy 1.17.1 ready"));
    let again = setup(&venv, &python);
    assert_eq!(again.status.code(), Some(0));
    assert!(
        again.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}

#[test]
fn setup_adds_scipy_to_a_torch_venv_that_lacks_it_without_rebuilding_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let python = stand_in_python(dir.path());
    let venv = dir.path().join("venv");
    assert_eq!(setup(&venv, &python).status.code(), Some(0));
    // A venv made before scipy joined: torch, no scipy; and a mark a rebuild would remove.
    std::fs::remove_file(venv.join("scipy")).expect("scipy was installed");
    std::fs::write(venv.join("mark"), "").expect("mark");
    let out = setup(&venv, &python);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("setup: adding scipy==1.17.1 to"), "{err}");
    assert!(!err.contains("creating"), "{err}");
    assert!(venv.join("scipy").is_file() && venv.join("mark").is_file());
}

/// scripts/tchdist with `env`: one `error:` line, a failing exit code, no cargo output.
fn assert_script_error(env: &[(&str, &str)], remove: &[&str], expect: &str) {
    let mut cmd = Command::new(script("tchdist"));
    cmd.arg("jacobian");
    for name in remove {
        cmd.env_remove(name);
    }
    for (name, value) in env {
        cmd.env(name, value);
    }
    let out = cmd.output().expect("run scripts/tchdist");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(out.stdout.is_empty());
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains(expect), "{err:?} lacks {expect:?}");
}

#[test]
fn tchdist_script_checks_libtorch_before_cargo_runs() {
    assert_script_error(
        &[("LIBTORCH", "/nonexistent")],
        &[],
        "LIBTORCH=/nonexistent has no lib/libtorch.so",
    );
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(dir.path().join("lib")).expect("lib");
    std::fs::write(dir.path().join("lib/libtorch.so"), "").expect("lib");
    std::fs::write(dir.path().join("build-version"), "2.1.0+cpu\n").expect("version");
    let libtorch = dir.path().to_str().expect("utf-8");
    assert_script_error(
        &[("LIBTORCH", libtorch)],
        &[],
        "is libtorch 2.1.0+cpu, not 2.13.0",
    );
}

#[test]
fn tchdist_script_without_home_says_so() {
    assert_script_error(
        &[],
        &[
            "HOME",
            "XDG_CACHE_HOME",
            "TCHDIST_VENV",
            "LIBTORCH",
            "TCHDIST_PYTHON",
        ],
        "HOME is not set",
    );
}

#[test]
fn setup_ignores_a_relative_xdg_cache_home() {
    let dir = tempfile::tempdir().expect("temp dir");
    let python = stand_in_python(dir.path());
    let home = dir.path().join("home");
    std::fs::create_dir(&home).expect("home");
    let out = Command::new(script("setup"))
        .current_dir(dir.path())
        .env("HOME", &home)
        .env("XDG_CACHE_HOME", "relative-cache")
        .env_remove("TCHDIST_VENV")
        .env("PYTHON", &python)
        .output()
        .expect("run scripts/setup");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(home
        .join(".cache/tchdist/torch-2.13.0/torch-2.13.0")
        .is_file());
    assert!(!dir.path().join("relative-cache").exists());
}
