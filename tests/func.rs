//! `tchdist::func` against live `torch.func`: vmap, grad, jacrev and jacfwd (and their
//! compositions) on random cases, bit for bit, plus PyTorch's error messages.
//! tests/pyref/func_cases.py runs every case in one Python process.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Mutex, MutexGuard, OnceLock};

use common::{
    check_bitwise_eq, json_bits, json_shape, random_scale_tril, random_spd, run_python_stdin, Rng,
};
use serde_json::{json, Value};
use tch::{Device, Kind, Tensor};
use tchdist::distributions::{Distribution, MultivariateNormal, MvnParam};
use tchdist::func::{grad, jacfwd, jacrev, jacrev_chunked, vmap, Randomness, VmapOptions};
use tchdist::{Error, Result};

/// Cases that draw from the global generator (samples, vmap randomness) hold this lock, so the
/// tests of this binary, which run on parallel threads, do not interleave their draws.
static RNG: Mutex<()> = Mutex::new(());

fn rng_lock() -> MutexGuard<'static, ()> {
    RNG.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Every case of this file and Python's result for it, computed once for all tests.
fn cases_and_python() -> &'static [(Value, Value)] {
    static ALL: OnceLock<Vec<(Value, Value)>> = OnceLock::new();
    ALL.get_or_init(|| {
        let cases = all_cases();
        let input = Value::Array(cases.clone()).to_string();
        let output = run_python_stdin("tests/pyref/func_cases.py", &[], &input);
        let results: Vec<Value> = serde_json::from_str(&output).expect("Python printed JSON");
        assert_eq!(results.len(), cases.len());
        cases.into_iter().zip(results).collect()
    })
}

fn cases_of(group: &str) -> Vec<&'static (Value, Value)> {
    let cases: Vec<_> = cases_and_python()
        .iter()
        .filter(|(case, _)| case["group"] == group)
        .collect();
    assert!(!cases.is_empty(), "no cases in group {group}");
    cases
}

// ----------------------------------------------------------------------------------------
// Case generation
// ----------------------------------------------------------------------------------------

fn dtype_name(kind: Kind) -> &'static str {
    if kind == Kind::Float {
        "f32"
    } else {
        "f64"
    }
}

fn kind_of(case: &Value) -> Kind {
    if case["dtype"] == "f32" {
        Kind::Float
    } else {
        Kind::Double
    }
}

fn tensor_json(values: Vec<f64>, shape: &[i64]) -> Value {
    json!({ "values": values, "shape": shape })
}

fn random_tensor_json(rng: &mut Rng, shape: &[i64], lo: f64, hi: f64) -> Value {
    let n: i64 = shape.iter().product();
    tensor_json((0..n).map(|_| rng.real(lo, hi)).collect(), shape)
}

/// `case[key]` as a tensor of the case's dtype, as `tensor()` in func_cases.py makes it.
fn tensor_of(case: &Value, key: &str) -> Tensor {
    let spec = &case[key];
    let values: Vec<f64> = spec["values"]
        .as_array()
        .expect("values")
        .iter()
        .map(|v| v.as_f64().expect("a number"))
        .collect();
    Tensor::from_slice(&values)
        .to_kind(kind_of(case))
        .reshape(json_shape(&spec["shape"]))
}

const MVN_KINDS: [(&str, usize); 5] = [
    ("mvn_per_sample_grad", 16),
    ("mvn_jacrev", 16),
    ("mvn_jacrev_chunked", 16),
    ("mvn_jacfwd", 16),
    ("mvn_vmap_jacrev", 8),
];

fn mvn_cases(rng: &mut Rng) -> Vec<Value> {
    let mut cases = Vec::new();
    for (kind, count) in MVN_KINDS {
        for i in 0..count {
            let d = rng.int(1, 8) as usize;
            let param = ["covariance", "precision", "scale_tril"][i % 3];
            let matrix = if param == "scale_tril" {
                random_scale_tril(rng, d)
            } else {
                random_spd(rng, d)
            };
            let loc: Vec<f64> = (0..d).map(|_| rng.real(-3.0, 3.0)).collect();
            let n = if i % 4 == 0 {
                rng.int(1, 3)
            } else {
                rng.int(1, 200)
            };
            cases.push(json!({
                "group": kind,
                "kind": kind,
                "dtype": dtype_name(if i % 2 == 0 { Kind::Float } else { Kind::Double }),
                "param": param,
                // Python validates under vmap too: its checks reduce with torch._is_all_true,
                // which has a vmap rule, so both settings are compared.
                "validate": (i / 2) % 2 == 0,
                "seed": rng.next_u64() % 100_000,
                "n": n,
                // jacrev's chunk_size: 1 (a plain loop), a size that leaves a remainder, or
                // one at least n (a single chunk).
                "chunk_size": match i % 4 {
                    0 => 1,
                    3 => n + rng.int(0, 2),
                    _ => rng.int(1, n.max(2) - 1).max(1),
                },
                "loc": tensor_json(loc, &[d as i64]),
                "matrix": tensor_json(matrix, &[d as i64, d as i64]),
            }));
        }
    }
    cases
}

fn two_output_cases(rng: &mut Rng) -> Vec<Value> {
    // Python's negative argnums count from the end (`_validate_and_wrap_argnum`).
    let argnums: [&[i64]; 6] = [&[0, 1], &[1, 0], &[0], &[1], &[-1], &[0, -1]];
    (0..12)
        .map(|i| {
            let x_shape: Vec<i64> = if i % 3 == 2 {
                vec![rng.int(1, 3), rng.int(1, 3)]
            } else {
                vec![rng.int(1, 5)]
            };
            // A 0-dimensional y exercises safe_unflatten's squeeze.
            let y_shape: Vec<i64> = if i % 4 == 1 {
                vec![]
            } else {
                vec![rng.int(1, 4)]
            };
            json!({
                "group": "two_output_jacobian",
                "kind": "two_output_jacobian",
                "dtype": dtype_name(if i % 2 == 0 { Kind::Double } else { Kind::Float }),
                "method": if i < 6 { "jacrev" } else { "jacfwd" },
                "argnums": argnums[i % 6],
                "x": random_tensor_json(rng, &x_shape, -2.0, 2.0),
                "y": random_tensor_json(rng, &y_shape, -1.0, 1.0),
            })
        })
        .collect()
}

fn quartic_cases(rng: &mut Rng) -> Vec<Value> {
    let mut cases = Vec::new();
    for mode in ["grad", "vmap_grad", "hessian", "jacrev_jacrev"] {
        for kind in [Kind::Float, Kind::Double] {
            let k = rng.int(1, 6);
            let shape = if mode == "vmap_grad" {
                vec![rng.int(1, 7), k]
            } else {
                vec![k]
            };
            cases.push(json!({
                "group": "quartic",
                "kind": "quartic",
                "mode": mode,
                "dtype": dtype_name(kind),
                "x": random_tensor_json(rng, &shape, -2.0, 2.0),
            }));
        }
    }
    cases
}

fn vmap_dims_cases(rng: &mut Rng) -> Vec<Value> {
    let in_dims: [[Option<i64>; 2]; 5] = [
        [Some(0), None],
        [Some(1), None],
        [Some(0), Some(0)],
        [Some(1), Some(0)],
        [None, Some(0)],
    ];
    let mut cases = Vec::new();
    for (i, dims) in in_dims.iter().enumerate() {
        for out_dims in [0i64, 1] {
            let batch = rng.int(1, 5);
            let mut a_shape = vec![3i64, 4];
            if let Some(d) = dims[0] {
                a_shape.insert(d as usize, batch);
            }
            let mut b_shape = vec![4i64];
            if let Some(d) = dims[1] {
                b_shape.insert(d as usize, batch);
            }
            cases.push(json!({
                "group": "vmap_dims",
                "kind": "vmap_dims",
                "dtype": dtype_name(if (i + out_dims as usize) % 2 == 0 { Kind::Float } else { Kind::Double }),
                "in_dims": dims,
                "out_dims": out_dims,
                "a": random_tensor_json(rng, &a_shape, -1.0, 1.0),
                "b": random_tensor_json(rng, &b_shape, -1.0, 1.0),
            }));
        }
    }
    cases
}

fn randomness_cases(rng: &mut Rng) -> Vec<Value> {
    let mut cases = Vec::new();
    for randomness in ["different", "same"] {
        for chunk_size in [None, Some(2i64), Some(3)] {
            let batch = rng.int(4, 9);
            let k = rng.int(1, 20);
            cases.push(json!({
                "group": "randomness",
                "kind": "randomness",
                "dtype": dtype_name(if chunk_size == Some(2) { Kind::Double } else { Kind::Float }),
                "randomness": randomness,
                "chunk_size": chunk_size,
                "seed": rng.next_u64() % 100_000,
                "x": random_tensor_json(rng, &[batch, k], 0.5, 2.0),
            }));
        }
    }
    cases
}

const ERRORS: [&str; 17] = [
    "vmap_sizes",
    "grad_not_scalar",
    "vmap_in_dim_range",
    "vmap_in_dims_structure",
    "vmap_nothing_mapped",
    "vmap_chunk_size",
    "vmap_random_in_error_mode",
    "vmap_item",
    "grad_argnum_range",
    "grad_argnums_repeated",
    "grad_negative_argnum_range",
    "grad_argnums_repeated_after_wrapping",
    "grad_integer_input",
    "jacrev_integer_output",
    "jacrev_no_output",
    "jacfwd_integer_input",
    "jacfwd_random_in_error_mode",
];

fn all_cases() -> Vec<Value> {
    let mut rng = Rng::new(20260513);
    let mut cases = mvn_cases(&mut rng);
    cases.extend(two_output_cases(&mut rng));
    cases.extend(quartic_cases(&mut rng));
    cases.extend(vmap_dims_cases(&mut rng));
    cases.extend(randomness_cases(&mut rng));
    cases.extend(
        ERRORS
            .iter()
            .map(|which| json!({ "group": "error", "kind": "error", "which": which })),
    );
    cases
}

// ----------------------------------------------------------------------------------------
// The Rust side of each case
// ----------------------------------------------------------------------------------------

struct RustRun {
    samples: Option<Tensor>,
    outputs: Vec<Tensor>,
}

fn mvn_param(name: &str, matrix: &Tensor) -> MvnParam {
    match name {
        "covariance" => MvnParam::CovarianceMatrix(matrix.shallow_clone()),
        "precision" => MvnParam::PrecisionMatrix(matrix.shallow_clone()),
        _ => MvnParam::ScaleTril(matrix.shallow_clone()),
    }
}

fn run_mvn(case: &Value) -> Result<RustRun> {
    let loc = tensor_of(case, "loc");
    let matrix = tensor_of(case, "matrix");
    let param = case["param"].as_str().expect("param");
    let validate = case["validate"].as_bool().expect("validate");
    let samples = {
        let _rng = rng_lock();
        tch::manual_seed(case["seed"].as_i64().expect("seed"));
        MultivariateNormal::new(&loc, mvn_param(param, &matrix), true)?
            .sample(&[case["n"].as_i64().expect("n")])?
    };
    let log_prob = |mu: &Tensor, x: &Tensor| -> Result<Tensor> {
        MultivariateNormal::new(mu, mvn_param(param, &matrix), validate)?.log_prob(x)
    };
    let opts = VmapOptions::default();
    let outputs = match case["kind"].as_str().expect("kind") {
        "mvn_per_sample_grad" => vmap(
            |a| grad(|b| log_prob(&b[0], &b[1]), &[&a[0], &a[1]], &[0]),
            &[&loc, &samples],
            &[None, Some(0)],
            0,
            &opts,
        )?,
        "mvn_vmap_jacrev" => vmap(
            |a| jacrev(|b| Ok(vec![log_prob(&b[0], &b[1])?]), &[&a[0], &a[1]], &[0]),
            &[&loc, &samples],
            &[None, Some(0)],
            0,
            &opts,
        )?,
        "mvn_jacrev" => jacrev(|b| Ok(vec![log_prob(&b[0], &samples)?]), &[&loc], &[0])?,
        "mvn_jacrev_chunked" => jacrev_chunked(
            |b| Ok(vec![log_prob(&b[0], &samples)?]),
            &[&loc],
            &[0],
            case["chunk_size"].as_i64(),
        )?,
        "mvn_jacfwd" => jacfwd(
            |b| Ok(vec![log_prob(&b[0], &samples)?]),
            &[&loc],
            &[0],
            Randomness::Error,
        )?,
        other => panic!("unknown MVN case {other}"),
    };
    Ok(RustRun {
        samples: Some(samples),
        outputs,
    })
}

/// `two_outputs(x, y) = (x.sin() * y.sum(), (x**2).sum() * y.exp())`.
fn two_outputs(a: &[Tensor]) -> Result<Vec<Tensor>> {
    let (x, y) = (&a[0], &a[1]);
    Ok(vec![
        x.f_sin()?.f_mul(&y.f_sum(None)?)?,
        x.f_pow_tensor_scalar(2)?.f_sum(None)?.f_mul(&y.f_exp()?)?,
    ])
}

/// `quartic(x) = (x**4 - 3 * x**2 + x).sum()`.
fn quartic(x: &Tensor) -> Result<Tensor> {
    let x4 = x.f_pow_tensor_scalar(4)?;
    let x2 = x.f_pow_tensor_scalar(2)?.f_mul_scalar(3)?;
    Ok(x4.f_sub(&x2)?.f_add(x)?.f_sum(None)?)
}

/// `vmap_body(a, b) = (a @ b + a.sum(), (a * b).tanh())`.
fn vmap_body(a: &[Tensor]) -> Result<Vec<Tensor>> {
    let (a, b) = (&a[0], &a[1]);
    Ok(vec![
        a.f_matmul(b)?.f_add(&a.f_sum(None)?)?,
        a.f_mul(b)?.f_tanh()?,
    ])
}

fn argnums_of(case: &Value) -> Vec<i64> {
    case["argnums"]
        .as_array()
        .expect("argnums")
        .iter()
        .map(|v| v.as_i64().expect("an argnum"))
        .collect()
}

fn run_case(case: &Value) -> Result<RustRun> {
    let outputs = match case["kind"].as_str().expect("kind") {
        kind if kind.starts_with("mvn_") => return run_mvn(case),
        "two_output_jacobian" => {
            let (x, y) = (tensor_of(case, "x"), tensor_of(case, "y"));
            let argnums = argnums_of(case);
            if case["method"] == "jacrev" {
                jacrev(two_outputs, &[&x, &y], &argnums)?
            } else {
                jacfwd(two_outputs, &[&x, &y], &argnums, Randomness::Error)?
            }
        }
        "quartic" => {
            let x = tensor_of(case, "x");
            let opts = VmapOptions::default();
            match case["mode"].as_str().expect("mode") {
                "grad" => grad(|a| quartic(&a[0]), &[&x], &[0])?,
                "vmap_grad" => vmap(
                    |a| grad(|b| quartic(&b[0]), &[&a[0]], &[0]),
                    &[&x],
                    &[Some(0)],
                    0,
                    &opts,
                )?,
                "hessian" => jacfwd(
                    |a| jacrev(|b| Ok(vec![quartic(&b[0])?]), &[&a[0]], &[0]),
                    &[&x],
                    &[0],
                    Randomness::Error,
                )?,
                _ => jacrev(
                    |a| jacrev(|b| Ok(vec![quartic(&b[0])?]), &[&a[0]], &[0]),
                    &[&x],
                    &[0],
                )?,
            }
        }
        "vmap_dims" => {
            let (a, b) = (tensor_of(case, "a"), tensor_of(case, "b"));
            let in_dims: Vec<Option<i64>> = case["in_dims"]
                .as_array()
                .expect("in_dims")
                .iter()
                .map(Value::as_i64)
                .collect();
            vmap(
                vmap_body,
                &[&a, &b],
                &in_dims,
                case["out_dims"].as_i64().expect("out_dims"),
                &VmapOptions::default(),
            )?
        }
        "randomness" => {
            let x = tensor_of(case, "x");
            let opts = VmapOptions {
                randomness: if case["randomness"] == "same" {
                    Randomness::Same
                } else {
                    Randomness::Different
                },
                chunk_size: case["chunk_size"].as_i64(),
                name: None,
            };
            let _rng = rng_lock();
            tch::manual_seed(case["seed"].as_i64().expect("seed"));
            vmap(
                |a| {
                    let noise = Tensor::f_randn(a[0].size(), (a[0].kind(), Device::Cpu))?;
                    Ok(vec![a[0].f_mul(&noise)?])
                },
                &[&x],
                &[Some(0)],
                0,
                &opts,
            )?
        }
        other => panic!("unknown case kind {other}"),
    };
    Ok(RustRun {
        samples: None,
        outputs,
    })
}

fn describe(case: &Value) -> String {
    let mut c = case.clone();
    if let Some(obj) = c.as_object_mut() {
        for key in ["loc", "matrix", "x", "y", "a", "b"] {
            if let Some(spec) = obj.get_mut(key) {
                *spec = spec["shape"].clone();
            }
        }
    }
    c.to_string()
}

/// Runs every case of `group` in Rust and compares each tensor with Python's, bit for bit.
fn compare_group(group: &str) -> usize {
    let cases = cases_of(group);
    let mut failures = Vec::new();
    for (case, expected) in &cases {
        let run = match run_case(case) {
            Ok(run) => run,
            Err(e) => {
                failures.push(format!("{}: error {e}", describe(case)));
                continue;
            }
        };
        if let Some(samples) = &run.samples {
            let want = &expected["samples"];
            if let Err(msg) = check_bitwise_eq(
                "samples",
                samples,
                &json_bits(&want["bits"]),
                &json_shape(&want["shape"]),
            ) {
                failures.push(format!("{}: {msg}", describe(case)));
            }
        }
        let want = expected["outputs"].as_array().expect("outputs");
        if want.len() != run.outputs.len() {
            failures.push(format!(
                "{}: {} outputs, Python {}",
                describe(case),
                run.outputs.len(),
                want.len()
            ));
            continue;
        }
        for (i, (got, want)) in run.outputs.iter().zip(want).enumerate() {
            if let Err(msg) = check_bitwise_eq(
                &format!("output {i}"),
                got,
                &json_bits(&want["bits"]),
                &json_shape(&want["shape"]),
            ) {
                failures.push(format!("{}: {msg}", describe(case)));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches with torch.func over {} {group} cases:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    cases.len()
}

// ----------------------------------------------------------------------------------------
// Parity tests
// ----------------------------------------------------------------------------------------

#[test]
fn per_sample_gradients_of_mvn_log_prob_match_vmap_of_grad_bit_for_bit() {
    assert_eq!(compare_group("mvn_per_sample_grad"), 16);
}

#[test]
fn jacrev_of_mvn_log_prob_matches_torch_func_bit_for_bit() {
    assert_eq!(compare_group("mvn_jacrev"), 16);
}

#[test]
fn chunked_jacrev_of_mvn_log_prob_matches_torch_func_chunk_size_bit_for_bit() {
    assert_eq!(compare_group("mvn_jacrev_chunked"), 16);
}

#[test]
fn jacfwd_of_mvn_log_prob_matches_torch_func_bit_for_bit() {
    assert_eq!(compare_group("mvn_jacfwd"), 16);
}

#[test]
fn vmap_over_jacrev_gives_per_sample_mvn_jacobians_bit_for_bit() {
    assert_eq!(compare_group("mvn_vmap_jacrev"), 8);
}

#[test]
fn mvn_cases_cover_every_parameterisation_dtype_and_size_range() {
    let cases: Vec<&Value> = cases_and_python()
        .iter()
        .map(|(case, _)| case)
        .filter(|case| case["kind"].as_str().is_some_and(|k| k.starts_with("mvn_")))
        .collect();
    assert!(cases.len() >= 40);
    for param in ["covariance", "precision", "scale_tril"] {
        assert!(cases.iter().any(|c| c["param"] == param));
    }
    for dtype in ["f32", "f64"] {
        assert!(cases.iter().any(|c| c["dtype"] == dtype));
    }
    for validate in [true, false] {
        assert!(cases.iter().any(|c| c["validate"] == validate));
    }
    let ns: Vec<i64> = cases.iter().map(|c| c["n"].as_i64().unwrap()).collect();
    assert!(ns.iter().any(|&n| n <= 3) && ns.iter().any(|&n| n > 100));
    let ds: Vec<i64> = cases
        .iter()
        .map(|c| c["loc"]["shape"][0].as_i64().unwrap())
        .collect();
    assert!(ds.contains(&1) && ds.iter().any(|&d| d >= 7));
}

#[test]
fn jacobians_of_a_two_output_function_match_for_every_argnums_order_negative_ones_included() {
    assert_eq!(compare_group("two_output_jacobian"), 12);
}

#[test]
fn grad_vmapped_grad_and_hessians_of_a_quartic_match_torch_func() {
    assert_eq!(compare_group("quartic"), 8);
}

#[test]
fn vmap_in_dims_none_0_1_and_out_dims_0_1_match_torch_func() {
    assert_eq!(compare_group("vmap_dims"), 10);
}

#[test]
fn vmap_randomness_different_and_same_with_chunking_match_torch_func() {
    assert_eq!(compare_group("randomness"), 6);
}

// ----------------------------------------------------------------------------------------
// Errors
// ----------------------------------------------------------------------------------------

fn ones(shape: &[i64]) -> Tensor {
    Tensor::ones(shape, (Kind::Float, Device::Cpu))
}

fn run_error(which: &str) -> Result<Vec<Tensor>> {
    let opts = VmapOptions::default();
    let identity = |a: &[Tensor]| Ok(vec![a[0].shallow_clone()]);
    match which {
        "vmap_sizes" => vmap(
            |a| Ok(vec![a[0].f_add(&a[1])?]),
            &[&ones(&[3]), &ones(&[4])],
            &[Some(0), Some(0)],
            0,
            &opts,
        ),
        "grad_not_scalar" => grad(|a| Ok(a[0].f_mul_scalar(2)?), &[&ones(&[2, 2])], &[0]),
        "vmap_in_dim_range" => vmap(identity, &[&ones(&[3])], &[Some(2)], 0, &opts),
        "vmap_in_dims_structure" => vmap(identity, &[&ones(&[3])], &[Some(0), Some(0)], 0, &opts),
        "vmap_nothing_mapped" => vmap(identity, &[&ones(&[3])], &[None], 0, &opts),
        "vmap_chunk_size" => vmap(
            identity,
            &[&ones(&[3])],
            &[Some(0)],
            0,
            &VmapOptions {
                chunk_size: Some(0),
                ..VmapOptions::default()
            },
        ),
        "vmap_random_in_error_mode" => vmap(
            |a| {
                Ok(vec![a[0].f_add(&Tensor::f_randn(
                    [3],
                    (Kind::Float, Device::Cpu),
                )?)?])
            },
            &[&ones(&[2, 3])],
            &[Some(0)],
            0,
            &opts,
        ),
        "vmap_item" => vmap(
            |a| {
                let v = a[0].f_sum(None)?.f_double_value(&[])?;
                Ok(vec![Tensor::from(v)])
            },
            &[&ones(&[2, 3])],
            &[Some(0)],
            0,
            &opts,
        ),
        "grad_argnum_range" => grad(|a| Ok(a[0].f_sum(None)?), &[&ones(&[3])], &[3]),
        "grad_argnums_repeated" => grad(
            |a| Ok(a[0].f_sum(None)?),
            &[&ones(&[3]), &ones(&[3])],
            &[0, 0],
        ),
        "grad_negative_argnum_range" => grad(|a| Ok(a[0].f_sum(None)?), &[&ones(&[3])], &[-2]),
        "grad_argnums_repeated_after_wrapping" => grad(
            |a| Ok(a[0].f_sum(None)?),
            &[&ones(&[3]), &ones(&[3])],
            &[1, -1],
        ),
        "grad_integer_input" => grad(
            |a| Ok(a[0].f_sum(None)?),
            &[&ones(&[3]).to_kind(Kind::Int64)],
            &[0],
        ),
        "jacrev_integer_output" => jacrev(
            |a| Ok(vec![a[0].f_to_kind(Kind::Int64)?]),
            &[&ones(&[3])],
            &[0],
        ),
        "jacrev_no_output" => jacrev(|_| Ok(vec![]), &[&ones(&[3])], &[0]),
        "jacfwd_integer_input" => jacfwd(
            identity,
            &[&ones(&[3]).to_kind(Kind::Int64)],
            &[0],
            Randomness::Error,
        ),
        "jacfwd_random_in_error_mode" => jacfwd(
            |a| {
                Ok(vec![a[0].f_mul(&Tensor::f_randn(
                    [3],
                    (Kind::Float, Device::Cpu),
                )?)?])
            },
            &[&ones(&[3])],
            &[0],
            Randomness::Error,
        ),
        other => panic!("unknown error case {other}"),
    }
}

/// Python's exception class for a tchdist error.
fn python_type(err: &Error) -> &'static str {
    match err {
        Error::Value(_) | Error::Constraint { .. } | Error::Support { .. } => "ValueError",
        _ => "RuntimeError",
    }
}

#[test]
fn errors_carry_pytorchs_exception_type_and_message() {
    let cases = cases_of("error");
    assert_eq!(cases.len(), ERRORS.len());
    let mut failures = Vec::new();
    for (case, expected) in cases {
        let which = case["which"].as_str().expect("which");
        // Some cases call a random function, which must fail before it draws.
        let result = {
            let _rng = rng_lock();
            run_error(which)
        };
        let err = match result {
            Ok(_) => {
                failures.push(format!(
                    "{which}: no error; Python raised {}",
                    expected["error"]
                ));
                continue;
            }
            Err(e) => e,
        };
        let (want_type, want) = (
            expected["error_type"].as_str().expect("type"),
            expected["error"].as_str().expect("message"),
        );
        if python_type(&err) != want_type || err.to_string() != want {
            failures.push(format!(
                "{which}:\n  rust   {}: {err}\n  python {want_type}: {want}",
                python_type(&err)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ----------------------------------------------------------------------------------------
// State restored on every exit path
// ----------------------------------------------------------------------------------------

/// A random draw fails while a vmap level with randomness "error" is pushed, so it is a probe
/// for a leaked level.
fn random_draw_works() -> bool {
    let _rng = rng_lock();
    Tensor::f_randn([2], (Kind::Float, Device::Cpu)).is_ok()
}

#[test]
fn an_error_from_a_nested_closure_pops_every_level() {
    let x = ones(&[4, 3]);
    let err = vmap(
        |a| {
            grad(
                |b| -> Result<Tensor> {
                    let _ = b[0].f_sum(None)?;
                    Err(Error::Runtime("closure failed".into()))
                },
                &[&a[0]],
                &[0],
            )
        },
        &[&x],
        &[Some(0)],
        0,
        &VmapOptions::default(),
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "closure failed");
    assert!(random_draw_works(), "a vmap level leaked out of the error");
    // Grad mode is back on, and a plain tensor computation records a graph again.
    let w = ones(&[2]).set_requires_grad(true);
    assert!((&w * 2.0).requires_grad());
    // The transforms still work afterwards, from a clean stack.
    let g = vmap(
        |a| grad(|b| quartic(&b[0]), &[&a[0]], &[0]),
        &[&x],
        &[Some(0)],
        0,
        &VmapOptions::default(),
    )
    .unwrap();
    assert_eq!(
        Vec::<f32>::try_from(g[0].reshape([-1])).unwrap(),
        vec![-1.0f32; 12]
    );
}

#[test]
fn a_panic_inside_vmap_pops_the_level_on_unwind() {
    let x = ones(&[2, 3]);
    let result = catch_unwind(AssertUnwindSafe(|| {
        vmap(
            |_| -> Result<Vec<Tensor>> { panic!("boom") },
            &[&x],
            &[Some(0)],
            0,
            &VmapOptions::default(),
        )
    }));
    assert!(result.is_err());
    assert!(
        random_draw_works(),
        "the vmap level leaked out of the panic"
    );
}

#[test]
fn an_error_inside_jacfwd_exits_the_dual_level() {
    let x = Tensor::from_slice(&[1.0f64, 2.0]);
    for _ in 0..2 {
        let err = jacfwd(
            |_| -> Result<Vec<Tensor>> { Err(Error::Runtime("inside jvp".into())) },
            &[&x],
            &[0],
            Randomness::Error,
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "inside jvp");
    }
    // A leaked dual level would make this fail with "Nested forward mode AD is not supported".
    let j = jacfwd(
        |a| Ok(vec![a[0].f_mul(&a[0])?]),
        &[&x],
        &[0],
        Randomness::Error,
    )
    .unwrap();
    assert_eq!(
        Vec::<f64>::try_from(j[0].reshape([-1])).unwrap(),
        vec![2.0, 0.0, 0.0, 4.0]
    );
}

#[test]
fn grad_is_on_inside_the_transform_even_under_no_grad() {
    // NOTE [grad and vjp interaction with no_grad]: grad ignores a no_grad outside it.
    let x = Tensor::from_slice(&[1.0f64, -2.0]);
    let g = tch::no_grad(|| grad(|a| quartic(&a[0]), &[&x], &[0])).unwrap();
    // 4x^3 - 6x + 1
    assert_eq!(Vec::<f64>::try_from(&g[0]).unwrap(), vec![-1.0, -19.0]);
    let w = ones(&[2]).set_requires_grad(true);
    assert!(!tch::no_grad(|| (&w * 2.0).requires_grad()));
}
