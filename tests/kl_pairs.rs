//! kl_divergence for the pairs PyTorch registers among Bernoulli, Beta, Categorical, Cauchy,
//! Dirichlet, Exponential, Gamma, Geometric, OneHotCategorical, Poisson, Uniform and
//! TransformedDistribution, against live PyTorch on random pairs (edge probabilities and
//! supports included), with gradients w.r.t. both distributions' parameters, bit for bit; and
//! PyTorch's NotImplementedError for unregistered pairs. The harness is
//! tests/dist_parity/mod.rs, its twin tests/pyref/dist_parity.py (one Python process).

mod common;
mod dist_parity;

use common::Rng;
use dist_parity::{cat, compare_with_python, numel, random_shape, reals, t};
use serde_json::{json, Value};

fn edge(rng: &mut Rng, v: f64, edges: &[f64]) -> f64 {
    if rng.int(0, 5) == 0 {
        rng.pick(edges)
    } else {
        v
    }
}

/// A random distribution of `kind` over batch shape `b` (the same shape for p and q: PyTorch's
/// boolean-mask assignments in `_kl_bernoulli_bernoulli` need it).
fn spec(rng: &mut Rng, kind: &str, b: &[i64], k: i64) -> Value {
    let n = numel(b);
    let pos = |rng: &mut Rng| t(b, reals(rng, n, 0.3, 3.0));
    match kind {
        "bernoulli" | "geometric" => {
            let logits = rng.int(0, 1) == 1;
            let lo: f64 = if kind == "geometric" { 0.05 } else { 0.0 };
            let p: Vec<f64> = (0..n)
                .map(|_| {
                    if logits {
                        rng.real(-3.0, 3.0)
                    } else {
                        let v = rng.real(lo.max(0.01), 0.99);
                        edge(
                            rng,
                            v,
                            if kind == "geometric" {
                                &[1.0]
                            } else {
                                &[0.0, 1.0]
                            },
                        )
                    }
                })
                .collect();
            json!({"kind": kind, "param": if logits {"logits"} else {"probs"}, "p": t(b, p)})
        }
        "categorical" | "onehot" | "onehot_st" => {
            let logits = rng.int(0, 1) == 1;
            let s = cat(b, &[k]);
            let p: Vec<f64> = (0..numel(&s))
                .map(|j| {
                    if logits {
                        rng.real(-3.0, 3.0)
                    } else {
                        let v = rng.real(0.05, 2.0);
                        if j as i64 % k != 0 {
                            edge(rng, v, &[0.0])
                        } else {
                            v
                        }
                    }
                })
                .collect();
            json!({"kind": kind, "param": if logits {"logits"} else {"probs"}, "p": t(&s, p)})
        }
        "dirichlet" => {
            let s = cat(b, &[k]);
            json!({"kind": kind, "a": t(&s, reals(rng, numel(&s), 0.3, 3.0))})
        }
        "exponential" | "poisson" => json!({"kind": kind, "a": pos(rng)}),
        "cauchy" => json!({"kind": kind, "a": t(b, reals(rng, n, -2.0, 2.0)), "b": pos(rng)}),
        "gamma" | "beta" => json!({"kind": kind, "a": pos(rng), "b": pos(rng)}),
        "uniform" => {
            // Inside [0, 1] or around it: both sides of the cross pairs' support masks.
            let inside = rng.int(0, 1) == 0;
            let low = if inside {
                reals(rng, n, 0.05, 0.4)
            } else {
                reals(rng, n, -2.0, 0.2)
            };
            let high = if inside {
                reals(rng, n, 0.5, 0.95)
            } else {
                reals(rng, n, 0.5, 2.0)
            };
            json!({"kind": kind, "a": t(b, low), "b": t(b, high)})
        }
        "normal" => json!({"kind": kind, "loc": t(b, reals(rng, n, -2.0, 2.0)), "scale": pos(rng)}),
        _ => {
            // A tanh-squashed (or exp-transformed) Normal.
            let base =
                json!({"kind": "normal", "loc": t(b, reals(rng, n, -1.0, 1.0)), "scale": pos(rng)});
            json!({"kind": "transformed", "base": base, "transforms": [{"t": "tanh"}]})
        }
    }
}

const KINDS: [&str; 12] = [
    "bernoulli",
    "beta",
    "categorical",
    "cauchy",
    "dirichlet",
    "exponential",
    "gamma",
    "geometric",
    "onehot",
    "poisson",
    "uniform",
    "transformed",
];

#[test]
fn registered_kl_pairs_match_pytorch_bit_for_bit_with_gradients_on_144_random_pairs() {
    let mut rng = Rng::new(0x4b1);
    let cases: Vec<Value> = (0..144)
        .map(|i| {
            let kind = KINDS[i % KINDS.len()];
            let b = random_shape(&mut rng, 2, 3);
            let k = rng.int(1, 4);
            let dtype = if (i / KINDS.len()) % 2 == 0 {
                "f32"
            } else {
                "f64"
            };
            json!({
                "kind": "kl",
                "dtype": dtype,
                "p": spec(&mut rng, kind, &b, k),
                "q": spec(&mut rng, kind, &b, k),
            })
        })
        .collect();
    let tally = compare_with_python(&cases, |c| {
        c["p"]["kind"].as_str().unwrap_or("?").to_string()
    });
    for (key, (_, n)) in &tally {
        assert!(*n >= 6, "{key}: only {n} pairs");
    }
}

/// PyTorch's registered cross pairs among these distributions.
const CROSS: [(&str, &str); 22] = [
    ("onehot_st", "onehot"),
    ("bernoulli", "poisson"),
    ("beta", "exponential"),
    ("beta", "gamma"),
    ("beta", "normal"),
    ("beta", "uniform"),
    ("exponential", "beta"),
    ("exponential", "uniform"),
    ("exponential", "gamma"),
    ("exponential", "normal"),
    ("gamma", "beta"),
    ("gamma", "uniform"),
    ("gamma", "exponential"),
    ("gamma", "normal"),
    ("normal", "beta"),
    ("normal", "exponential"),
    ("normal", "gamma"),
    ("normal", "uniform"),
    ("poisson", "bernoulli"),
    ("uniform", "beta"),
    ("uniform", "exponential"),
    ("uniform", "gamma"),
];

#[test]
fn registered_cross_kl_pairs_match_pytorch_bit_for_bit_with_gradients_on_176_random_pairs() {
    let mut rng = Rng::new(0x4b3);
    let cases: Vec<Value> = (0..176)
        .map(|i| {
            let (p, q) = CROSS[i % CROSS.len()];
            let b = random_shape(&mut rng, 2, 3);
            let dtype = if (i / CROSS.len()) % 2 == 0 {
                "f32"
            } else {
                "f64"
            };
            json!({
                "kind": "kl", "dtype": dtype,
                "p": spec(&mut rng, p, &b, 2), "q": spec(&mut rng, q, &b, 2),
            })
        })
        .collect();
    let tally = compare_with_python(&cases, |c| {
        format!(
            "{}-{}",
            c["p"]["kind"].as_str().unwrap_or("?"),
            c["q"]["kind"].as_str().unwrap_or("?")
        )
    });
    for (key, (_, n)) in &tally {
        assert!(*n >= 4, "{key}: only {n} pairs");
    }
}

#[test]
fn unregistered_kl_pairs_raise_pytorchs_not_implemented_error() {
    let mut rng = Rng::new(0x4b2);
    let b = vec![2];
    let pairs = [
        ("poisson", "gamma"),
        ("bernoulli", "beta"),
        ("dirichlet", "exponential"),
        ("geometric", "poisson"),
        ("categorical", "onehot"),
        ("cauchy", "uniform"),
        ("uniform", "cauchy"),
        ("transformed", "gamma"),
    ];
    let mut cases = Vec::new();
    for dtype in ["f32", "f64"] {
        for (p, q) in pairs {
            cases.push(json!({
                "kind": "kl", "dtype": dtype,
                "p": spec(&mut rng, p, &b, 2), "q": spec(&mut rng, q, &b, 2),
            }));
        }
        // TransformedDistributions with different transforms: PyTorch's bare error.
        let mut q = spec(&mut rng, "transformed", &b, 2);
        q["transforms"] = json!([{"t": "exp"}]);
        cases.push(json!({"kind": "kl", "dtype": dtype, "p": spec(&mut rng, "transformed", &b, 2), "q": q}));
    }
    let n = cases.len();
    let tally = compare_with_python(&cases, |c| {
        format!(
            "{}-{}",
            c["p"]["kind"].as_str().unwrap_or("?"),
            c["q"]["kind"].as_str().unwrap_or("?")
        )
    });
    assert_eq!(tally.values().map(|(_, n)| n).sum::<usize>(), n);
}
