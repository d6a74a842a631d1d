//! The table harness of the distribution tests: each case a JSON description that the Rust
//! side (`run_rust`) and a Python twin both interpret; one Python process per table; every
//! output compared, tensors bit for bit and errors by class and text.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde_json::{Map, Value};
use tch::Tensor;

use super::{check_bitwise_eq, json_bits, json_shape, run_python_stdin};

/// One output against Python's: tensors bit for bit, errors by class and text (a bare
/// PyTorch `NotImplementedError` has no text; tchdist's must then say something), the rest
/// as JSON.
pub fn compare(name: &str, rust: &Value, python: &Value) -> Result<(), String> {
    match (
        rust.get("t"),
        python.get("t"),
        rust.get("err"),
        python.get("err"),
    ) {
        (Some(r), Some(p), _, _) => {
            let tensor = tensor_of_bits(r);
            check_bitwise_eq(
                name,
                &tensor,
                &json_bits(&p["bits"]),
                &json_shape(&p["shape"]),
            )
        }
        (_, _, Some(r), Some(p)) => {
            let (rc, rm) = (r[0].as_str().unwrap_or(""), r[1].as_str().unwrap_or(""));
            let (pc, pm) = (p[0].as_str().unwrap_or(""), p[1].as_str().unwrap_or(""));
            let text_ok = if pm.is_empty() {
                !rm.is_empty()
            } else {
                rm == pm
            };
            if rc == pc && text_ok {
                Ok(())
            } else {
                Err(format!("{name}: rust {rc}({rm:?}) vs python {pc}({pm:?})"))
            }
        }
        _ if rust == python => Ok(()),
        _ => Err(format!(
            "{name}: rust {} vs python {}",
            short(rust),
            short(python)
        )),
    }
}

pub fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 400 {
        format!("{}...", &s[..400])
    } else {
        s
    }
}

/// Rebuilds a float64 tensor from Rust's own encoding.
pub fn tensor_of_bits(v: &Value) -> Tensor {
    let values: Vec<f64> = json_bits(&v["bits"])
        .into_iter()
        .map(f64::from_bits)
        .collect();
    Tensor::from_slice(&values).reshape(json_shape(&v["shape"]))
}

/// libtorch's default generator is global to the process and the test harness runs tests on
/// parallel threads: the Rust side of each table holds this lock from seeding to sampling.
pub static GLOBAL_RNG: Mutex<()> = Mutex::new(());

/// Runs `cases` in Rust (`run_rust`) and in one Python process (`script`) and compares every
/// output; returns the
/// number of fully equal cases per (label, dtype), and panics listing every difference.
pub fn compare_with_python(
    script: &str,
    cases: &[Value],
    run_rust: impl Fn(&Value) -> Map<String, Value>,
    label: impl Fn(&Value) -> String,
) -> BTreeMap<String, (usize, usize)> {
    let input = Value::Array(cases.to_vec()).to_string();
    let output = run_python_stdin(script, &[], &input);
    let results: Vec<Map<String, Value>> =
        serde_json::from_str(&output).expect("Python printed JSON");
    assert_eq!(results.len(), cases.len());
    let mut failures = Vec::new();
    let mut tally: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let (mut tensors, mut errors) = (0usize, BTreeMap::<String, usize>::new());
    for python in &results {
        for (name, v) in python {
            if v.get("t").is_some() {
                tensors += 1;
            } else if v.get("err").is_some() {
                *errors.entry(name.clone()).or_default() += 1;
            }
        }
    }
    eprintln!(
        "{tensors} tensors compared bit for bit; PyTorch raised for (output: count): {errors:?}"
    );
    let _rng = GLOBAL_RNG
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    for (i, (case, python)) in cases.iter().zip(&results).enumerate() {
        let rust = run_rust(case);
        let mut case_failures = Vec::new();
        for (name, p) in python {
            match rust.get(name) {
                None => case_failures.push(format!("{name}: missing in Rust ({})", short(p))),
                Some(r) => {
                    if let Err(msg) = compare(name, r, p) {
                        case_failures.push(msg);
                    }
                }
            }
        }
        for name in rust.keys().filter(|k| !python.contains_key(*k)) {
            case_failures.push(format!("{name}: only in Rust ({})", short(&rust[name])));
        }
        let key = format!("{} {}", label(case), case["dtype"].as_str().unwrap_or("?"));
        let entry = tally.entry(key).or_default();
        entry.1 += 1;
        if case_failures.is_empty() {
            entry.0 += 1;
        } else {
            failures.push(format!(
                "case {i} {}:\n  {}",
                short(case),
                case_failures.join("\n  ")
            ));
        }
    }
    for (key, (ok, total)) in &tally {
        eprintln!("{key}: {ok}/{total} cases equal to PyTorch bit for bit");
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from PyTorch:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    tally
}
