//! Exponential, Cauchy, Gamma, Beta, Dirichlet, Poisson and Geometric against live PyTorch
//! on random cases: float32 and float64, batch shapes, samples after the same seed, every
//! member (log_prob, cdf, icdf, entropy, moments, expand, support, repr) and the gradients of
//! rsample, log_prob, cdf, icdf, entropy, mean and variance with respect to every parameter,
//! compared bit for bit; values on and off the support; and PyTorch's error messages. The
//! harness is tests/dist_parity/mod.rs, its twin tests/pyref/dist_parity.py (one Python
//! process per test).

mod common;
mod dist_parity;

use common::Rng;
use dist_parity::{
    assert_at_least, cat, compare_with_python, expand_target, ints, numel, random_shape, reals, t,
    tv, variant,
};
use serde_json::{json, Value};

/// f32, f32, f64, f64, ...: balanced across dtypes and across Geometric's two
/// parameterisations (which alternate with `i`).
fn dtype(i: usize) -> &'static str {
    if (i / 2) % 2 == 0 {
        "f32"
    } else {
        "f64"
    }
}

fn label(case: &Value) -> String {
    let d = &case["dist"];
    match d["param"].as_str() {
        Some(p) => format!("{}({p})", d["kind"].as_str().unwrap_or("?")),
        None => d["kind"].as_str().unwrap_or("?").to_string(),
    }
}

/// A `dist` case over batch shape `b` with `value` to score and `u` for `icdf`.
fn dist_case(rng: &mut Rng, i: usize, spec: Value, b: &[i64], value: Value, u: Value) -> Value {
    json!({
        "kind": "dist",
        "dtype": dtype(i),
        "dist": spec,
        "seed": 2000 + i as i64,
        "sample_shape": random_shape(rng, 2, 3),
        "expand": expand_target(rng, b),
        "value": value,
        "u": u,
        "touch": rng.int(0, 1) == 0,
    })
}

/// A value shape that broadcasts against `b` (maybe with a leading sample dimension).
fn value_shape(rng: &mut Rng, b: &[i64]) -> Vec<i64> {
    cat(&random_shape(rng, 1, 2), &variant(rng, b))
}

/// Reals in `[lo, hi)` of a shape broadcasting against `b`, one of them replaced by an off-support value now and then.
fn values(rng: &mut Rng, b: &[i64], lo: f64, hi: f64, off: &[f64]) -> Value {
    let shape = &value_shape(rng, b);
    let mut v = reals(rng, numel(shape), lo, hi);
    let off_support = rng.int(0, 6) == 0 && !v.is_empty();
    if off_support {
        v[0] = rng.pick(off);
    }
    let mut spec = tv(shape, v.clone());
    // JSON has no infinities: they travel as strings, as in the other parity tables.
    if off_support && !v[0].is_finite() {
        spec["data"][0] = json!(v[0].to_string());
    }
    spec
}

fn probabilities(rng: &mut Rng, b: &[i64]) -> Value {
    let s = variant(rng, b);
    tv(&s, reals(rng, numel(&s), 0.01, 0.99))
}

/// Parameters of shapes broadcasting to `b`, values in `[lo, hi)`.
fn param(rng: &mut Rng, b: &[i64], lo: f64, hi: f64) -> Value {
    let s = variant(rng, b);
    t(&s, reals(rng, numel(&s), lo, hi))
}

fn scalar_case(rng: &mut Rng, i: usize, kind: &str) -> Value {
    let b = random_shape(rng, 3, 3);
    let (spec, value) = match kind {
        "exponential" => (
            json!({"kind": kind, "a": param(rng, &b, 0.2, 3.0)}),
            values(rng, &b, 0.0, 4.0, &[-0.5]),
        ),
        "cauchy" => (
            json!({"kind": kind, "a": param(rng, &b, -3.0, 3.0), "b": param(rng, &b, 0.2, 3.0)}),
            values(rng, &b, -5.0, 5.0, &[f64::INFINITY, f64::NAN]),
        ),
        "gamma" => (
            json!({"kind": kind, "a": param(rng, &b, 0.3, 4.0), "b": param(rng, &b, 0.2, 3.0)}),
            values(rng, &b, 0.01, 5.0, &[-1.0, 0.0]),
        ),
        "uniform" => {
            let low = param(rng, &b, -3.0, 1.0);
            let high = param(rng, &b, 1.5, 4.0);
            let v = values(rng, &b, -3.0, 4.0, &[-5.0, 5.0]);
            (json!({"kind": kind, "a": low, "b": high}), v)
        }
        "beta" => (
            json!({"kind": kind, "a": param(rng, &b, 0.3, 4.0), "b": param(rng, &b, 0.3, 4.0)}),
            values(rng, &b, 0.01, 0.99, &[0.0, 1.0, 1.5]),
        ),
        "poisson" => {
            let s = variant(rng, &b);
            let rate: Vec<f64> = (0..numel(&s))
                .map(|_| {
                    if rng.int(0, 9) == 0 {
                        0.0
                    } else {
                        rng.real(0.1, 6.0)
                    }
                })
                .collect();
            let vs = value_shape(rng, &b);
            let mut v = ints(rng, numel(&vs), 0, 7);
            if rng.int(0, 6) == 0 && !v.is_empty() {
                v[0] = rng.pick(&[0.5, -1.0]);
            }
            (json!({"kind": kind, "a": t(&s, rate)}), tv(&vs, v))
        }
        _ => {
            // Geometric, probs or logits.
            let s = variant(rng, &b);
            let logits = i % 2 == 1;
            let p: Vec<f64> = (0..numel(&s))
                .map(|_| match (logits, rng.int(0, 9)) {
                    (true, _) => rng.real(-3.0, 3.0),
                    (false, 0) => 1.0,
                    (false, _) => rng.real(0.05, 1.0),
                })
                .collect();
            let vs = value_shape(rng, &b);
            let mut v = ints(rng, numel(&vs), 0, 5);
            if rng.int(0, 6) == 0 && !v.is_empty() {
                v[0] = rng.pick(&[0.5, -1.0]);
            }
            let param = if logits { "logits" } else { "probs" };
            (
                json!({"kind": kind, "param": param, "p": t(&s, p)}),
                tv(&vs, v),
            )
        }
    };
    let mut spec = spec;
    spec["validate"] = json!(rng.int(0, 7) != 0);
    let u = probabilities(rng, &b);
    dist_case(rng, i, spec, &b, value, u)
}

fn dirichlet_case(rng: &mut Rng, i: usize) -> Value {
    dirichlet_case_in(rng, i, 0.3, 3.0)
}

fn dirichlet_case_in(rng: &mut Rng, i: usize, lo: f64, hi: f64) -> Value {
    let b = random_shape(rng, 2, 3);
    let k = rng.int(1, 4);
    let cs = cat(&b, &[k]);
    let conc = reals(rng, numel(&cs), lo, hi);
    let vb = value_shape(rng, &b);
    let mut v = Vec::new();
    for _ in 0..numel(&vb) {
        let raw = reals(rng, k as usize, 0.05, 1.0);
        let sum: f64 = raw.iter().sum();
        v.extend(raw.iter().map(|x| x / sum));
    }
    if rng.int(0, 6) == 0 && !v.is_empty() {
        v[0] += 0.5;
    }
    let spec = json!({"kind": "dirichlet", "a": t(&cs, conc), "validate": rng.int(0, 7) != 0});
    let u = probabilities(rng, &b);
    dist_case(rng, i, spec, &b, tv(&cat(&vb, &[k]), v), u)
}

fn table(kind: &str, seed: u64, n: usize) {
    let mut rng = Rng::new(seed);
    let cases: Vec<Value> = (0..n)
        .map(|i| {
            if kind == "dirichlet" {
                dirichlet_case(&mut rng, i)
            } else {
                scalar_case(&mut rng, i, kind)
            }
        })
        .collect();
    assert_at_least(&compare_with_python(&cases, label), 5);
}

#[test]
fn exponential_matches_pytorch_bit_for_bit_with_gradients_on_20_random_cases() {
    table("exponential", 0xe4, 20);
}

#[test]
fn uniform_matches_pytorch_bit_for_bit_with_gradients_on_20_random_cases() {
    table("uniform", 0x0f, 20);
}

#[test]
fn cauchy_matches_pytorch_bit_for_bit_with_gradients_on_20_random_cases() {
    table("cauchy", 0xca, 20);
}

#[test]
fn gamma_matches_pytorch_bit_for_bit_with_gradients_on_20_random_cases() {
    table("gamma", 0x6a, 20);
}

#[test]
fn beta_matches_pytorch_bit_for_bit_with_gradients_on_20_random_cases() {
    table("beta", 0xbe, 20);
}

#[test]
fn dirichlet_matches_pytorch_bit_for_bit_with_gradients_on_20_random_cases() {
    table("dirichlet", 0xd1, 20);
}

#[test]
fn dirichlet_and_beta_rsample_gradients_match_pytorch_with_tiny_concentrations_on_20_cases() {
    // Concentrations of 0.005..0.05 put samples at finfo.tiny and 1 - eps, where
    // `_dirichlet_grad` is extreme.
    let mut rng = Rng::new(0x7171);
    let cases: Vec<Value> = (0..20)
        .map(|i| {
            if i % 2 == 0 {
                dirichlet_case_in(&mut rng, i, 0.005, 0.05)
            } else {
                let b = random_shape(&mut rng, 2, 3);
                let spec = json!({"kind": "beta", "a": param(&mut rng, &b, 0.005, 0.05),
                                  "b": param(&mut rng, &b, 0.005, 0.05)});
                let v = values(&mut rng, &b, 0.01, 0.99, &[0.0]);
                let u = probabilities(&mut rng, &b);
                dist_case(&mut rng, i, spec, &b, v, u)
            }
        })
        .collect();
    assert_at_least(&compare_with_python(&cases, label), 5);
}

#[test]
fn poisson_matches_pytorch_bit_for_bit_with_gradients_on_20_random_cases() {
    table("poisson", 0x90, 20);
}

#[test]
fn geometric_matches_pytorch_bit_for_bit_with_gradients_on_20_random_cases() {
    table("geometric", 0x6e, 20);
}

fn error(dtype: &str, action: &str, dist: Value, extra: Value) -> Value {
    let mut case = json!({"kind": "error", "dtype": dtype, "action": action, "dist": dist});
    if let (Some(obj), Value::Object(more)) = (case.as_object_mut(), extra) {
        obj.extend(more);
    }
    case
}

fn one(kind: &str, a: Value) -> Value {
    json!({"kind": kind, "a": a})
}

fn two(kind: &str, a: Value, b: Value) -> Value {
    json!({"kind": kind, "a": a, "b": b})
}

fn geometric(param: &str, p: Value) -> Value {
    json!({"kind": "geometric", "param": param, "p": p})
}

fn error_cases() -> Vec<Value> {
    let mut cases = Vec::new();
    let none = json!({});
    for dt in ["f32", "f64"] {
        let nan = json!({"shape": [2], "data": [1.0, "nan"], "grad": false});
        // Parameters off their constraints, validation on and off.
        for spec in [
            one("exponential", tv(&[2], vec![1.0, 0.0])),
            one("exponential", t(&[1], vec![-2.0])),
            one("poisson", tv(&[3], vec![1.0, -0.5, 2.0])),
            one("poisson", t(&[], vec![-1.0])),
            one("dirichlet", tv(&[2, 2], vec![1.0, 1.0, 0.0, 2.0])),
            one("dirichlet", tv(&[], vec![1.0])),
            two("cauchy", nan.clone(), tv(&[2], vec![1.0, 1.0])),
            two(
                "cauchy",
                tv(&[2], vec![0.0, 0.0]),
                tv(&[2], vec![1.0, -1.0]),
            ),
            two("gamma", tv(&[2], vec![0.0, 1.0]), tv(&[1], vec![1.0])),
            two("gamma", tv(&[2], vec![1.0, 1.0]), t(&[2], vec![1.0, -3.0])),
            two(
                "gamma",
                tv(&[2], vec![1.0, 1.0]),
                tv(&[3], vec![1.0, 1.0, 1.0]),
            ),
            two("beta", tv(&[2], vec![0.0, 1.0]), tv(&[2], vec![1.0, 1.0])),
            two(
                "uniform",
                tv(&[2], vec![0.0, 1.0]),
                tv(&[2], vec![1.0, 1.0]),
            ),
            two(
                "uniform",
                t(&[2, 2], vec![0.0, 1.0, 2.0, 3.0]),
                t(&[2], vec![1.0, 2.0]),
            ),
            two("uniform", tv(&[], vec![2.0]), tv(&[], vec![1.0])),
            two("beta", tv(&[], vec![1.0]), t(&[], vec![-1.0])),
            geometric("probs", tv(&[3], vec![0.5, 1.5, 0.2])),
            geometric("probs", tv(&[3], vec![0.5, 0.0, 0.0])),
            geometric("probs", t(&[], vec![0.0])),
            geometric("logits", nan.clone()),
        ] {
            cases.push(error(dt, "construct", spec.clone(), none.clone()));
            let mut off = spec;
            off["validate"] = json!(false);
            cases.push(error(dt, "construct", off, none.clone()));
        }
        // Values off the support or of the wrong shape.
        let scored = [
            (
                one("exponential", t(&[2], vec![1.0, 2.0])),
                vec![tv(&[2], vec![-1.0, 1.0]), tv(&[3], vec![1.0, 1.0, 1.0])],
            ),
            (
                one("poisson", t(&[2], vec![1.0, 2.0])),
                vec![tv(&[2], vec![0.5, 1.0]), tv(&[2], vec![-1.0, 1.0])],
            ),
            (
                two("gamma", t(&[2], vec![1.0, 2.0]), t(&[1], vec![1.0])),
                vec![tv(&[2], vec![-1.0, 1.0])],
            ),
            (
                two("cauchy", t(&[2], vec![1.0, 2.0]), t(&[1], vec![1.0])),
                vec![json!({"shape": [2], "data": ["nan", 1.0], "grad": false})],
            ),
            (
                two("beta", t(&[2], vec![1.0, 2.0]), t(&[1], vec![1.0])),
                vec![tv(&[2], vec![1.5, 0.5]), tv(&[2, 3], vec![0.5; 6])],
            ),
            (
                one("dirichlet", t(&[2, 3], vec![1.0, 2.0, 3.0, 1.0, 1.0, 1.0])),
                vec![
                    tv(&[3], vec![0.5, 0.5, 0.5]),
                    tv(&[2], vec![0.5, 0.5]),
                    tv(&[3], vec![-0.5, 0.5, 1.0]),
                ],
            ),
            (
                geometric("probs", t(&[2], vec![0.3, 1.0])),
                vec![tv(&[2], vec![0.5, 1.0]), tv(&[2], vec![-1.0, 1.0])],
            ),
        ];
        for (spec, vals) in scored {
            for v in vals {
                cases.push(error(
                    dt,
                    "log_prob",
                    spec.clone(),
                    json!({"value": v.clone()}),
                ));
                cases.push(error(dt, "cdf", spec.clone(), json!({"value": v})));
            }
            cases.push(error(dt, "expand", spec.clone(), json!({"expand": [3]})));
            cases.push(error(
                dt,
                "icdf",
                spec.clone(),
                json!({"value": tv(&[], vec![0.5])}),
            ));
            cases.push(error(dt, "enumerate_support", spec.clone(), none.clone()));
        }
        // Members PyTorch leaves abstract.
        for spec in [
            one("poisson", t(&[1], vec![1.0])),
            geometric("logits", t(&[1], vec![0.0])),
        ] {
            cases.push(error(dt, "rsample", spec, json!({"sample_shape": [2]})));
        }
    }
    cases
}

#[test]
fn continuous_errors_match_pytorch_class_and_message() {
    let cases = error_cases();
    let tally = compare_with_python(&cases, |c| {
        format!(
            "{} {}",
            c["action"].as_str().unwrap_or("?"),
            c["dist"]["kind"].as_str().unwrap_or("?")
        )
    });
    let total: usize = tally.values().map(|(_, n)| n).sum();
    assert_eq!(total, cases.len());
}
