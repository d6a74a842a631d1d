//! ExpTransform, SigmoidTransform, TanhTransform, AffineTransform and
//! TransformedDistribution against live PyTorch on random cases: forward, inverse (with and
//! without the one-entry cache), log |det J|, and every TransformedDistribution member
//! (sample, rsample, log_prob of a value, of the sample and of the rsample, cdf, icdf,
//! support, expand) with gradients w.r.t. every parameter, bit for bit, float32 and float64;
//! SAC's tanh-squashed Gaussian; and PyTorch's error messages. The harness is
//! tests/dist_parity/mod.rs, its twin tests/pyref/dist_parity.py (one Python process per
//! test).

mod common;
mod dist_parity;

use common::Rng;
use dist_parity::{
    assert_at_least, compare_with_python, expand_target, numel, random_shape, reals, t, tv, variant,
};
use serde_json::{json, Value};

fn dtype(i: usize) -> &'static str {
    if (i / 4) % 2 == 0 {
        "f32"
    } else {
        "f64"
    }
}

/// A random transform over batch shape `b`: exp, sigmoid, tanh or affine (tensor loc and
/// scale, event_dim 0 or 1 when `b` has a dimension), with or without a cache.
fn transform(rng: &mut Rng, which: usize, b: &[i64]) -> Value {
    let cache = rng.int(0, 1);
    match which % 4 {
        0 => json!({"t": "exp", "cache": cache}),
        1 => json!({"t": "sigmoid", "cache": cache}),
        2 => json!({"t": "tanh", "cache": cache}),
        _ => {
            let (ls, ss) = (variant(rng, b), variant(rng, b));
            let event_dim = if b.is_empty() { 0 } else { rng.int(0, 1) };
            let scale: Vec<f64> = (0..numel(&ss))
                .map(|_| rng.real(0.3, 2.0) * if rng.int(0, 3) == 0 { -1.0 } else { 1.0 })
                .collect();
            json!({
                "t": "affine",
                "loc": t(&ls, reals(rng, numel(&ls), -2.0, 2.0)),
                "scale": t(&ss, scale),
                "event_dim": event_dim,
                "cache": cache,
            })
        }
    }
}

/// A point of the transform's codomain (edges included now and then) to invert.
fn codomain_values(rng: &mut Rng, which: usize, shape: &[i64]) -> Value {
    let n = numel(shape);
    let mut v = match which % 4 {
        0 => reals(rng, n, 0.1, 5.0),
        1 => reals(rng, n, 0.01, 0.99),
        2 => reals(rng, n, -0.99, 0.99),
        _ => reals(rng, n, -3.0, 3.0),
    };
    if rng.int(0, 4) == 0 && n > 0 {
        v[0] = match which % 4 {
            0 => 0.0,
            1 => rng.pick(&[0.0, 1.0]),
            2 => rng.pick(&[-1.0, 1.0]),
            _ => 0.0,
        };
    }
    tv(shape, v)
}

#[test]
fn transforms_match_pytorch_bit_for_bit_with_gradients_on_64_random_cases() {
    let mut rng = Rng::new(0x7a5f);
    let cases: Vec<Value> = (0..64)
        .map(|i| {
            let b = random_shape(&mut rng, 2, 3);
            let which = i % 4;
            let mut tr = transform(&mut rng, which, &b);
            // Every other case of each kind runs the inverse transform (`t.inv`), on points
            // of the original's codomain.
            let inv = (i / 8) % 2 == 1;
            tr["inv"] = json!(inv);
            let domain_x = t(&b, reals(&mut rng, numel(&b), -3.0, 3.0));
            let codomain_y = codomain_values(&mut rng, which, &b);
            let (x, y) = if inv {
                let mut x = codomain_y;
                x["grad"] = json!(true);
                let mut y = domain_x;
                y["grad"] = json!(false);
                (x, y)
            } else {
                (domain_x, codomain_y)
            };
            json!({
                "kind": "transform",
                "dtype": dtype(i),
                "transform": tr,
                "x": x,
                "y": y,
                "shape": b,
            })
        })
        .collect();
    let tally = compare_with_python(&cases, |c| {
        format!(
            "{}(cache={}, inv={})",
            c["transform"]["t"].as_str().unwrap_or("?"),
            c["transform"]["cache"],
            c["transform"]["inv"]
        )
    });
    assert_eq!(tally.values().map(|(_, n)| n).sum::<usize>(), 64);
}

fn normal(rng: &mut Rng, b: &[i64]) -> Value {
    let (ls, ss) = (variant(rng, b), variant(rng, b));
    json!({
        "kind": "normal",
        "loc": t(&ls, reals(rng, numel(&ls), -1.5, 1.5)),
        "scale": t(&ss, reals(rng, numel(&ss), 0.2, 1.5)),
    })
}

/// A `dist` case of a TransformedDistribution over a Normal (or an Exponential or a Uniform)
/// with `transforms`; values inside the support of the last transform's codomain.
fn transformed_case(
    rng: &mut Rng,
    i: usize,
    b: &[i64],
    base: Value,
    transforms: Vec<Value>,
    last: usize,
) -> Value {
    let vs = variant(rng, b);
    let value = codomain_values(rng, last, &vs);
    json!({
        "kind": "dist",
        "dtype": dtype(i),
        "dist": {"kind": "transformed", "base": base, "transforms": transforms,
                 "validate": rng.int(0, 5) != 0},
        "seed": 3000 + i as i64,
        "sample_shape": random_shape(rng, 2, 3),
        "expand": expand_target(rng, b),
        "value": value,
        "u": tv(&[], vec![rng.real(0.05, 0.95)]),
        "touch": false,
    })
}

#[test]
fn transformed_distribution_matches_pytorch_bit_for_bit_with_gradients_on_48_random_cases() {
    let mut rng = Rng::new(0x7d15);
    let cases: Vec<Value> = (0..48)
        .map(|i| {
            let b = random_shape(&mut rng, 2, 3);
            let count = rng.int(1, 3) as usize;
            let kinds: Vec<usize> = (0..count).map(|_| rng.int(0, 3) as usize).collect();
            // Affine transforms stay elementwise here (event_dim 0) unless first.
            let transforms: Vec<Value> = kinds
                .iter()
                .enumerate()
                .map(|(j, &k)| {
                    let mut tr = transform(&mut rng, k, &b);
                    if j > 0 && k == 3 {
                        tr["event_dim"] = json!(0);
                    }
                    tr
                })
                .collect();
            let base = if rng.int(0, 3) == 0 {
                let s = variant(&mut rng, &b);
                json!({"kind": "exponential", "a": t(&s, reals(&mut rng, numel(&s), 0.5, 2.0))})
            } else {
                normal(&mut rng, &b)
            };
            let last = *kinds.last().unwrap_or(&0);
            transformed_case(&mut rng, i, &b, base, transforms, last)
        })
        .collect();
    let tally = compare_with_python(&cases, |c| {
        let names: Vec<&str> = c["dist"]["transforms"]
            .as_array()
            .map(|a| a.iter().filter_map(|t| t["t"].as_str()).collect())
            .unwrap_or_default();
        format!(
            "{}[{}]",
            c["dist"]["base"]["kind"].as_str().unwrap_or("?"),
            names.join(",")
        )
    });
    assert_eq!(tally.values().map(|(_, n)| n).sum::<usize>(), 48);
}

#[test]
fn logistic_as_uniform_through_inverse_sigmoid_matches_pytorch_bit_for_bit_on_16_random_cases() {
    let mut rng = Rng::new(0x1061);
    let cases: Vec<Value> = (0..16)
        .map(|i| {
            let b = random_shape(&mut rng, 2, 3);
            let n = numel(&b);
            let base = json!({"kind": "uniform", "a": t(&b, reals(&mut rng, n, 0.0, 0.3)),
                              "b": t(&b, reals(&mut rng, n, 0.6, 1.0))});
            let logit = json!({"t": "sigmoid", "cache": rng.int(0, 1), "inv": true});
            let affine = transform(&mut rng, 3, &b);
            let mut case = transformed_case(&mut rng, i, &b, base, vec![logit, affine], 3);
            case["dist"]["transforms"][1]["event_dim"] = json!(0);
            case
        })
        .collect();
    assert_at_least(&compare_with_python(&cases, |_| "logistic".into()), 8);
}

#[test]
fn sac_tanh_squashed_normal_rsample_and_log_prob_match_pytorch_bit_for_bit_on_24_random_cases() {
    let mut rng = Rng::new(0x5ac);
    let cases: Vec<Value> = (0..24)
        .map(|i| {
            let b = vec![rng.int(1, 4), rng.int(1, 3)];
            let base = normal(&mut rng, &b);
            let tanh = json!({"t": "tanh", "cache": 1});
            transformed_case(&mut rng, i, &b, base, vec![tanh], 2)
        })
        .collect();
    assert_at_least(&compare_with_python(&cases, |_| "sac".into()), 12);
}

fn error(dtype: &str, action: &str, dist: Value, extra: Value) -> Value {
    let mut case = json!({"kind": "error", "dtype": dtype, "action": action, "dist": dist});
    if let (Some(obj), Value::Object(more)) = (case.as_object_mut(), extra) {
        obj.extend(more);
    }
    case
}

#[test]
fn transform_errors_match_pytorch_class_and_message() {
    let mut cases = Vec::new();
    for dt in ["f32", "f64"] {
        let n0 = json!({"kind": "normal", "loc": t(&[], vec![0.0]), "scale": t(&[], vec![1.0])});
        let n2 = json!({"kind": "normal", "loc": t(&[2], vec![0.0, 1.0]), "scale": t(&[2], vec![1.0, 2.0])});
        let affine1 = json!({"t": "affine", "loc": t(&[2], vec![0.0, 1.0]), "scale": t(&[2], vec![1.0, 2.0]), "event_dim": 1});
        let affine3 = json!({"t": "affine", "loc": t(&[3], vec![0.0, 1.0, 2.0]), "scale": t(&[1], vec![1.0])});
        let td = |base: &Value, ts: Vec<Value>| json!({"kind": "transformed", "base": base, "transforms": ts});
        let tanh = json!({"t": "tanh", "cache": 1});
        let exp = json!({"t": "exp"});
        let none = json!({});
        // Construction: base too small for the event, shapes that do not broadcast, caches.
        cases.push(error(
            dt,
            "construct",
            td(&n0, vec![affine1.clone()]),
            none.clone(),
        ));
        cases.push(error(
            dt,
            "construct",
            td(&n2, vec![affine3.clone()]),
            none.clone(),
        ));
        cases.push(error(
            dt,
            "construct",
            td(&n2, vec![json!({"t": "tanh", "cache": 2})]),
            none.clone(),
        ));
        cases.push(error(
            dt,
            "construct",
            td(&n2, vec![affine1.clone()]),
            none.clone(),
        ));
        // Values outside the support, of the wrong shape; members PyTorch leaves abstract.
        let squashed = td(&n2, vec![tanh.clone()]);
        let lognormal = td(&n2, vec![exp.clone()]);
        for v in [
            tv(&[2], vec![0.5, 1.5]),
            tv(&[2], vec![-1.0, 2.0]),
            tv(&[3], vec![0.1, 0.2, 0.3]),
        ] {
            cases.push(error(
                dt,
                "log_prob",
                squashed.clone(),
                json!({"value": v.clone()}),
            ));
            cases.push(error(dt, "cdf", squashed.clone(), json!({"value": v})));
        }
        cases.push(error(
            dt,
            "log_prob",
            lognormal.clone(),
            json!({"value": tv(&[2], vec![-1.0, 1.0])}),
        ));
        cases.push(error(
            dt,
            "cdf",
            lognormal.clone(),
            json!({"value": tv(&[2], vec![0.5, 1.0])}),
        ));
        cases.push(error(
            dt,
            "icdf",
            lognormal.clone(),
            json!({"value": tv(&[2], vec![0.5, 0.25])}),
        ));
        cases.push(error(
            dt,
            "expand",
            lognormal.clone(),
            json!({"expand": [3]}),
        ));
        cases.push(error(dt, "enumerate_support", lognormal, none.clone()));
        let indep = td(&n2, vec![affine1]);
        cases.push(error(
            dt,
            "log_prob",
            indep.clone(),
            json!({"value": tv(&[2], vec![0.5, 1.5])}),
        ));
        cases.push(error(
            dt,
            "cdf",
            indep,
            json!({"value": tv(&[2], vec![0.5, 1.5])}),
        ));
    }
    let n = cases.len();
    let tally = compare_with_python(&cases, |c| c["action"].as_str().unwrap_or("?").to_string());
    assert_eq!(tally.values().map(|(_, n)| n).sum::<usize>(), n);
}
