//! Bernoulli, Categorical and OneHotCategorical against live PyTorch on random cases: both
//! parameterisations, float32 and float64, batch shapes, samples after the same seed, every
//! member and the gradients of log_prob, entropy, mean, variance, probs and logits with
//! respect to the parameter, compared bit for bit; values on and off the support; and
//! PyTorch's error messages. The harness is tests/dist_parity/mod.rs, its twin
//! tests/pyref/dist_parity.py (one Python process per test).

mod common;
mod dist_parity;

use common::Rng;
use dist_parity::{
    assert_at_least, cat, compare_with_python, expand_target, ints, nan, numel, random_shape,
    reals, t, ti, tv, variant,
};
use serde_json::{json, Value};

fn dtype(rng: &mut Rng) -> &'static str {
    if rng.int(0, 1) == 0 {
        "f32"
    } else {
        "f64"
    }
}

/// A `dist` case: the spec, its batch and event shapes, and a value to score.
fn dist_case(rng: &mut Rng, i: usize, spec: Value, batch: &[i64], value: Value) -> Value {
    let ss = random_shape(rng, 2, 3);
    json!({
        "kind": "dist",
        "dtype": dtype(rng),
        "dist": spec,
        "seed": 1000 + i as i64,
        "sample_shape": ss,
        "expand": expand_target(rng, batch),
        "value": value,
        "u": tv(&[], vec![0.5]),
        "touch": rng.int(0, 1) == 0,
    })
}

fn label(case: &Value) -> String {
    let d = &case["dist"];
    format!(
        "{}({})",
        d["kind"].as_str().unwrap_or("?"),
        d["param"].as_str().unwrap_or("")
    )
}

fn bernoulli_case(rng: &mut Rng, i: usize) -> Value {
    let b = random_shape(rng, 3, 4);
    let n = numel(&b);
    let logits = i % 2 == 1;
    let p = if logits {
        reals(rng, n, -4.0, 4.0)
    } else {
        (0..n)
            .map(|_| match rng.int(0, 9) {
                0 => 0.0,
                1 => 1.0,
                2 => 0.5,
                _ => rng.real(0.0, 1.0),
            })
            .collect()
    };
    let vs = cat(&random_shape(rng, 1, 2), &variant(rng, &b));
    let mut v: Vec<f64> = ints(rng, numel(&vs), 0, 1);
    if rng.int(0, 6) == 0 && !v.is_empty() {
        v[0] = rng.pick(&[0.5, 2.0, -1.0]);
    }
    let spec = json!({
        "kind": "bernoulli",
        "param": if logits { "logits" } else { "probs" },
        "p": t(&b, p),
        "validate": rng.int(0, 7) != 0,
    });
    dist_case(rng, i, spec, &b, tv(&vs, v))
}

fn categorical_params(rng: &mut Rng, logits: bool, shape: &[i64]) -> Vec<f64> {
    let n = numel(shape);
    if logits {
        reals(rng, n, -3.0, 3.0)
    } else {
        // Some zeros, never a whole row of them (PyTorch rejects the NaN row).
        let k = *shape.last().unwrap_or(&1) as usize;
        (0..n)
            .map(|j| {
                if j % k != 0 && rng.int(0, 7) == 0 {
                    0.0
                } else {
                    rng.real(0.05, 2.0)
                }
            })
            .collect()
    }
}

fn categorical_case(rng: &mut Rng, i: usize) -> Value {
    let b = random_shape(rng, 2, 3);
    let k = rng.int(1, 5);
    let logits = i % 2 == 1;
    let ps = cat(&b, &[k]);
    let p = categorical_params(rng, logits, &ps);
    let vs = cat(&random_shape(rng, 1, 2), &variant(rng, &b));
    let mut v = ints(rng, numel(&vs), 0, k - 1);
    if rng.int(0, 6) == 0 && !v.is_empty() {
        v[0] = rng.pick(&[k as f64, -1.0, 0.5]);
    }
    let value = if rng.int(0, 2) == 0 {
        ti(&vs, v)
    } else {
        tv(&vs, v)
    };
    let spec = json!({
        "kind": "categorical",
        "param": if logits { "logits" } else { "probs" },
        "p": t(&ps, p),
        "validate": rng.int(0, 7) != 0,
    });
    dist_case(rng, i, spec, &b, value)
}

fn onehot_case(rng: &mut Rng, i: usize) -> Value {
    let b = random_shape(rng, 2, 3);
    let k = rng.int(1, 5);
    let logits = i % 2 == 1;
    let ps = cat(&b, &[k]);
    let p = categorical_params(rng, logits, &ps);
    let vb = cat(&random_shape(rng, 1, 2), &variant(rng, &b));
    let mut v = Vec::new();
    for _ in 0..numel(&vb) {
        let hot = rng.int(0, k - 1);
        v.extend((0..k).map(|j| if j == hot { 1.0 } else { 0.0 }));
    }
    if rng.int(0, 6) == 0 && !v.is_empty() {
        v[0] = rng.pick(&[0.5, 2.0]);
    }
    let spec = json!({
        "kind": "onehot",
        "param": if logits { "logits" } else { "probs" },
        "p": t(&ps, p),
        "validate": rng.int(0, 7) != 0,
    });
    dist_case(rng, i, spec, &b, tv(&cat(&vb, &[k]), v))
}

#[test]
fn bernoulli_matches_pytorch_bit_for_bit_with_gradients_on_50_random_cases() {
    let mut rng = Rng::new(0xbe01);
    let cases: Vec<Value> = (0..50).map(|i| bernoulli_case(&mut rng, i)).collect();
    assert_at_least(&compare_with_python(&cases, label), 8);
}

#[test]
fn categorical_matches_pytorch_bit_for_bit_with_gradients_on_50_random_cases() {
    let mut rng = Rng::new(0xca7e);
    let cases: Vec<Value> = (0..50).map(|i| categorical_case(&mut rng, i)).collect();
    assert_at_least(&compare_with_python(&cases, label), 8);
}

#[test]
fn one_hot_categorical_matches_pytorch_bit_for_bit_with_gradients_on_50_random_cases() {
    let mut rng = Rng::new(0x1407);
    let cases: Vec<Value> = (0..50).map(|i| onehot_case(&mut rng, i)).collect();
    assert_at_least(&compare_with_python(&cases, label), 8);
}

#[test]
fn one_hot_categorical_straight_through_matches_pytorch_bit_for_bit_with_gradients_on_24_random_cases(
) {
    let mut rng = Rng::new(0x57);
    let cases: Vec<Value> = (0..24)
        .map(|i| {
            let mut case = onehot_case(&mut rng, i);
            case["dist"]["kind"] = json!("onehot_st");
            case
        })
        .collect();
    assert_at_least(&compare_with_python(&cases, label), 4);
}

#[test]
fn independent_of_discrete_enumerates_only_without_reinterpreted_dims() {
    let mut rng = Rng::new(0x1d3d);
    let cases: Vec<Value> = (0..8)
        .map(|i| {
            let b = vec![2, 3];
            let base = json!({
                "kind": "bernoulli", "param": "probs",
                "p": t(&b, reals(&mut rng, 6, 0.1, 0.9)),
            });
            let n = i % 3;
            let spec = json!({"kind": "independent", "base": base, "n": n});
            let batch = &b[..2 - n];
            let v = ints(&mut rng, 6, 0, 1);
            dist_case(&mut rng, i, spec, batch, tv(&b, v))
        })
        .collect();
    compare_with_python(&cases, |c| {
        format!("independent(n={})", c["dist"]["n"].as_u64().unwrap_or(0))
    });
}

fn error(dtype: &str, action: &str, dist: Value, extra: Value) -> Value {
    let mut case = json!({"kind": "error", "dtype": dtype, "action": action, "dist": dist});
    if let (Some(obj), Value::Object(more)) = (case.as_object_mut(), extra) {
        obj.extend(more);
    }
    case
}

fn spec(kind: &str, param: &str, p: Value) -> Value {
    json!({"kind": kind, "param": param, "p": p})
}

fn error_cases() -> Vec<Value> {
    let mut cases = Vec::new();
    for dt in ["f32", "f64"] {
        let none = json!({});
        // Parameters off their constraint.
        for (kind, param, p) in [
            ("bernoulli", "probs", tv(&[3], vec![0.2, 1.5, 0.3])),
            ("bernoulli", "probs", tv(&[], vec![-0.1])),
            ("bernoulli", "probs", t(&[1], vec![2.0])),
            ("bernoulli", "logits", tv(&[2], vec![0.0, f64::NAN])),
            ("categorical", "probs", tv(&[3], vec![0.2, -0.5, 0.3])),
            ("categorical", "probs", t(&[2, 2], vec![0.2, 0.5, 0.0, 0.0])),
            ("categorical", "probs", tv(&[], vec![1.0])),
            ("categorical", "logits", tv(&[], vec![1.0])),
            ("categorical", "logits", tv(&[2], vec![0.0, 1.0])),
            ("onehot", "probs", tv(&[3], vec![0.2, -0.5, 0.3])),
            ("onehot", "probs", tv(&[], vec![1.0])),
            ("onehot", "logits", tv(&[], vec![1.0])),
        ] {
            let mut p = p;
            if p["data"]
                .as_array()
                .is_some_and(|d| d.iter().any(|x| x.is_null()))
            {
                p["data"] = json!([0.0, nan()]);
            }
            cases.push(error(
                dt,
                "construct",
                spec(kind, param, p.clone()),
                none.clone(),
            ));
            let mut off = spec(kind, param, p);
            off["validate"] = json!(false);
            cases.push(error(dt, "construct", off, none.clone()));
        }
        // Categorical logits with +inf or all -inf: NaN after normalization.
        cases.push(error(
            dt,
            "construct",
            spec(
                "categorical",
                "logits",
                json!({"shape": [2], "data": [0.0, "inf"], "grad": false}),
            ),
            none.clone(),
        ));
        cases.push(error(
            dt,
            "construct",
            spec(
                "onehot",
                "logits",
                json!({"shape": [2], "data": ["-inf", "-inf"], "grad": false}),
            ),
            none.clone(),
        ));
        // Values off the support or of the wrong shape.
        let bern = spec("bernoulli", "probs", t(&[2], vec![0.3, 0.6]));
        for v in [
            tv(&[2], vec![0.0, 0.5]),
            tv(&[2], vec![2.0, 1.0]),
            tv(&[3], vec![0.0, 1.0, 1.0]),
            tv(&[2, 1], vec![0.0, 1.0]),
        ] {
            cases.push(error(dt, "log_prob", bern.clone(), json!({"value": v})));
        }
        let categ = spec(
            "categorical",
            "probs",
            t(&[2, 3], vec![0.1, 0.2, 0.7, 0.3, 0.3, 0.4]),
        );
        for v in [
            tv(&[2], vec![0.0, 3.0]),
            tv(&[2], vec![-1.0, 1.0]),
            tv(&[2], vec![1.5, 1.0]),
            ti(&[2], vec![2.0, 1.0]),
            tv(&[3], vec![0.0, 1.0, 2.0]),
            tv(&[4, 1], vec![0.0, 1.0, 2.0, 0.0]),
        ] {
            cases.push(error(dt, "log_prob", categ.clone(), json!({"value": v})));
        }
        let onehot = spec(
            "onehot",
            "logits",
            t(&[2, 3], vec![0.1, 0.2, 0.7, 0.3, 0.3, 0.4]),
        );
        for v in [
            tv(&[2, 3], vec![1.0, 0.0, 0.0, 0.0, 1.0, 1.0]),
            tv(&[2, 3], vec![1.0, 0.0, 0.0, 0.0, 0.5, 0.5]),
            tv(&[2, 2], vec![1.0, 0.0, 0.0, 1.0]),
            tv(&[3], vec![0.0, 0.0, 1.0]),
            tv(&[3, 3], vec![0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0]),
        ] {
            cases.push(error(dt, "log_prob", onehot.clone(), json!({"value": v})));
        }
        // Members PyTorch leaves abstract, and bad expansions.
        for d in [&bern, &categ, &onehot] {
            cases.push(error(
                dt,
                "rsample",
                d.clone(),
                json!({"sample_shape": [2]}),
            ));
            cases.push(error(
                dt,
                "cdf",
                d.clone(),
                json!({"value": tv(&[], vec![0.0])}),
            ));
            cases.push(error(
                dt,
                "icdf",
                d.clone(),
                json!({"value": tv(&[], vec![0.5])}),
            ));
            cases.push(error(dt, "expand", d.clone(), json!({"expand": [3]})));
            cases.push(error(dt, "expand", d.clone(), json!({"expand": [4, 2]})));
        }
        let indep = json!({"kind": "independent", "base": bern, "n": 1});
        cases.push(error(dt, "enumerate_support", indep, none.clone()));
    }
    cases
}

#[test]
fn discrete_errors_match_pytorch_class_and_message() {
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
