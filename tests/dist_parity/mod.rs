//! The parity harness shared by tests/distributions_discrete.rs and the other tests of the
//! distributions added after Normal and the multivariate normals: a Rust interpreter of JSON
//! cases, twin of tests/pyref/dist_parity.py, which runs the same calls in one Python process
//! per table and returns every tensor as float64 bit patterns; outputs are compared bit for
//! bit, errors by Python class and text.
#![allow(dead_code)]

use std::collections::BTreeMap;

use crate::common::{self, json_shape, tables, Rng};
use serde_json::{json, Map, Value};
use tch::{Kind, Tensor};
use tchdist::autograd::{grad, GradOptions};
use tchdist::distributions::{
    kl_divergence, AnyDistribution, Bernoulli, Beta, Categorical, Cauchy, Dirichlet, Distribution,
    Exponential, Gamma, Geometric, Independent, Normal, OneHotCategorical,
    OneHotCategoricalStraightThrough, Poisson, Transform, TransformedDistribution, Uniform,
};
use tchdist::{Error, PythonException};

// ---------------------------------------------------------------- the Rust interpreter ----

pub fn kind_of(case: &Value) -> Kind {
    match case["dtype"].as_str() {
        Some("f32") => Kind::Float,
        _ => Kind::Double,
    }
}

fn number(v: &Value) -> f64 {
    match v {
        Value::String(s) => s.parse().expect("nan, inf or -inf"),
        _ => v.as_f64().expect("a number"),
    }
}

/// The twin of Python's `tensor(spec, dtype, leaves)`; `"dtype": "i64"` in the spec makes an
/// int64 tensor (never a leaf).
pub fn tensor(spec: &Value, kind: Kind, leaves: &mut Vec<Tensor>) -> Tensor {
    let data: Vec<f64> = spec["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(number)
        .collect();
    let kind = match spec.get("dtype").and_then(Value::as_str) {
        Some("i64") => Kind::Int64,
        _ => kind,
    };
    let t = Tensor::from_slice(&data)
        .reshape(json_shape(&spec["shape"]))
        .to_kind(kind);
    if kind != Kind::Int64 && spec.get("grad").and_then(Value::as_bool).unwrap_or(true) {
        let t = t.set_requires_grad(true);
        leaves.push(t.shallow_clone());
        t
    } else {
        t
    }
}

/// The twin of Python's `build(spec, dtype, leaves)`.
pub fn build(
    spec: &Value,
    kind: Kind,
    leaves: &mut Vec<Tensor>,
) -> tchdist::Result<AnyDistribution> {
    let validate = spec
        .get("validate")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let logits = spec["param"].as_str() == Some("logits");
    Ok(match spec["kind"].as_str().expect("kind") {
        "normal" => {
            let loc = tensor(&spec["loc"], kind, leaves);
            let scale = tensor(&spec["scale"], kind, leaves);
            Normal::with_validate_args(&loc, &scale, validate)?.into()
        }
        "bernoulli" => {
            let p = tensor(&spec["p"], kind, leaves);
            if logits {
                Bernoulli::from_logits_with_validate_args(&p, validate)?.into()
            } else {
                Bernoulli::from_probs_with_validate_args(&p, validate)?.into()
            }
        }
        "categorical" => {
            let p = tensor(&spec["p"], kind, leaves);
            if logits {
                Categorical::from_logits_with_validate_args(&p, validate)?.into()
            } else {
                Categorical::from_probs_with_validate_args(&p, validate)?.into()
            }
        }
        "onehot" => {
            let p = tensor(&spec["p"], kind, leaves);
            if logits {
                OneHotCategorical::from_logits_with_validate_args(&p, validate)?.into()
            } else {
                OneHotCategorical::from_probs_with_validate_args(&p, validate)?.into()
            }
        }
        "onehot_st" => {
            let p = tensor(&spec["p"], kind, leaves);
            if logits {
                OneHotCategoricalStraightThrough::from_logits_with_validate_args(&p, validate)?
                    .into()
            } else {
                OneHotCategoricalStraightThrough::from_probs_with_validate_args(&p, validate)?
                    .into()
            }
        }
        "geometric" => {
            let p = tensor(&spec["p"], kind, leaves);
            if logits {
                Geometric::from_logits_with_validate_args(&p, validate)?.into()
            } else {
                Geometric::from_probs_with_validate_args(&p, validate)?.into()
            }
        }
        "exponential" => {
            let a = tensor(&spec["a"], kind, leaves);
            Exponential::with_validate_args(&a, validate)?.into()
        }
        "poisson" => {
            let a = tensor(&spec["a"], kind, leaves);
            Poisson::with_validate_args(&a, validate)?.into()
        }
        "dirichlet" => {
            let a = tensor(&spec["a"], kind, leaves);
            Dirichlet::with_validate_args(&a, validate)?.into()
        }
        "cauchy" => {
            let a = tensor(&spec["a"], kind, leaves);
            let b = tensor(&spec["b"], kind, leaves);
            Cauchy::with_validate_args(&a, &b, validate)?.into()
        }
        "gamma" => {
            let a = tensor(&spec["a"], kind, leaves);
            let b = tensor(&spec["b"], kind, leaves);
            Gamma::with_validate_args(&a, &b, validate)?.into()
        }
        "uniform" => {
            let a = tensor(&spec["a"], kind, leaves);
            let b = tensor(&spec["b"], kind, leaves);
            Uniform::with_validate_args(&a, &b, validate)?.into()
        }
        "beta" => {
            let a = tensor(&spec["a"], kind, leaves);
            let b = tensor(&spec["b"], kind, leaves);
            Beta::with_validate_args(&a, &b, validate)?.into()
        }
        "transformed" => {
            let base = build(&spec["base"], kind, leaves)?;
            let transforms = spec["transforms"]
                .as_array()
                .expect("transforms")
                .iter()
                .map(|t| build_transform(t, kind, leaves))
                .collect::<tchdist::Result<Vec<_>>>()?;
            TransformedDistribution::with_validate_args(base, transforms, validate)?.into()
        }
        "independent" => {
            let base = build(&spec["base"], kind, leaves)?;
            let n = spec["n"].as_u64().expect("n") as usize;
            Independent::with_validate_args(base, n, validate)?.into()
        }
        other => panic!("unknown distribution {other}"),
    })
}

/// The twin of Python's `build_transform(spec, dtype, leaves)`.
pub fn build_transform(
    spec: &Value,
    kind: Kind,
    leaves: &mut Vec<Tensor>,
) -> tchdist::Result<Transform> {
    let t = match spec["t"].as_str().expect("a transform") {
        "exp" => Transform::exp(),
        "sigmoid" => Transform::sigmoid(),
        "tanh" => Transform::tanh(),
        "affine" => {
            let loc = tensor(&spec["loc"], kind, leaves);
            let scale = tensor(&spec["scale"], kind, leaves);
            let event_dim = spec["event_dim"].as_u64().unwrap_or(0) as usize;
            Transform::affine(&loc, &scale, event_dim)
        }
        other => panic!("unknown transform {other}"),
    };
    let t = t.with_cache(spec["cache"].as_u64().unwrap_or(0) as usize)?;
    if spec["inv"].as_bool().unwrap_or(false) {
        return Ok(t.inverse_transform());
    }
    Ok(t)
}

pub fn bits(t: &Tensor) -> Value {
    let (bits, shape) = common::bits_of(t);
    json!({"t": {"shape": shape, "bits": bits}})
}

/// Python's exception class for a tchdist error.
pub fn err(e: &Error) -> Value {
    let class = match e.python_exception() {
        PythonException::ValueError => "ValueError",
        PythonException::NotImplementedError => "NotImplementedError",
        _ => "RuntimeError",
    };
    json!({"err": [class, e.to_string()]})
}

/// `((arange(n) % 7) - 3) / 4`: exact in both dtypes.
fn cotangent(out: &Tensor) -> Tensor {
    let n = out.numel();
    let v: Vec<f64> = (0..n).map(|i| ((i % 7) as f64 - 3.0) / 4.0).collect();
    Tensor::from_slice(&v)
        .reshape(out.size())
        .to_kind(out.kind())
}

/// The twin of Python's `record`: the value, and with `leaves` the gradients of
/// `<value, cotangent>` with respect to each leaf.
pub fn record(
    out: &mut Map<String, Value>,
    name: &str,
    result: tchdist::Result<Tensor>,
    leaves: Option<&[Tensor]>,
) -> Option<Tensor> {
    let value = match result {
        Ok(v) => v,
        Err(e) => {
            out.insert(name.into(), err(&e));
            return None;
        }
    };
    out.insert(name.into(), bits(&value));
    if let Some(leaves) = leaves.filter(|l| value.requires_grad() && !l.is_empty()) {
        let cot = cotangent(&value);
        let inputs: Vec<&Tensor> = leaves.iter().collect();
        let opts = GradOptions {
            grad_outputs: Some(vec![Some(&cot)]),
            retain_graph: Some(true),
            allow_unused: Some(true),
            ..Default::default()
        };
        let grads = match grad(&[&value], &inputs, &opts) {
            Ok(grads) => grads,
            Err(e) => {
                out.insert(format!("grad.{name}"), err(&e));
                return Some(value);
            }
        };
        for (i, g) in grads.iter().enumerate() {
            let v = match g {
                None => json!({"none": true}),
                Some(g) => bits(g),
            };
            out.insert(format!("grad.{name}.{i}"), v);
        }
    }
    Some(value)
}

/// The distribution-specific members (`probs`, `logits`, `param_shape`, ...), twin of
/// Python's `extras`.
fn extras(out: &mut Map<String, Value>, prefix: &str, d: &AnyDistribution, leaves: &[Tensor]) {
    let owned = |r: tchdist::Result<&Tensor>| r.map(|t| t.shallow_clone());
    let probs_logits = |out: &mut Map<String, Value>,
                        probs: tchdist::Result<Tensor>,
                        logits: tchdist::Result<Tensor>,
                        param_shape: Vec<i64>| {
        record(out, &format!("{prefix}probs"), probs, Some(leaves));
        record(out, &format!("{prefix}logits"), logits, Some(leaves));
        out.insert(
            format!("{prefix}param_shape"),
            json!({ "shape": param_shape }),
        );
    };
    match d {
        AnyDistribution::Bernoulli(b) => {
            probs_logits(out, owned(b.probs()), owned(b.logits()), b.param_shape())
        }
        AnyDistribution::Categorical(c) => {
            probs_logits(out, owned(c.probs()), owned(c.logits()), c.param_shape())
        }
        AnyDistribution::OneHotCategorical(c) => {
            probs_logits(out, owned(c.probs()), owned(c.logits()), c.param_shape())
        }
        AnyDistribution::OneHotCategoricalStraightThrough(c) => {
            let c = c.one_hot_categorical();
            probs_logits(out, owned(c.probs()), owned(c.logits()), c.param_shape())
        }
        AnyDistribution::Geometric(g) => {
            record(
                out,
                &format!("{prefix}probs"),
                owned(g.probs()),
                Some(leaves),
            );
            record(
                out,
                &format!("{prefix}logits"),
                owned(g.logits()),
                Some(leaves),
            );
        }
        AnyDistribution::Beta(b) => {
            record(
                out,
                &format!("{prefix}concentration1"),
                b.concentration1(),
                Some(leaves),
            );
            record(
                out,
                &format!("{prefix}concentration0"),
                b.concentration0(),
                Some(leaves),
            );
        }
        _ => {}
    }
}

pub fn run_dist(case: &Value) -> Map<String, Value> {
    let kind = kind_of(case);
    let mut leaves = Vec::new();
    let d = build(&case["dist"], kind, &mut leaves).expect("valid distribution");
    let seed = case["seed"].as_i64().expect("seed");
    let ss = json_shape(&case["sample_shape"]);
    let mut out = Map::new();
    out.insert("batch_shape".into(), json!({"shape": d.batch_shape()}));
    out.insert("event_shape".into(), json!({"shape": d.event_shape()}));
    out.insert("repr".into(), json!({"text": d.repr().expect("repr")}));
    out.insert(
        "support".into(),
        json!({"text": d.support().expect("support").to_string()}),
    );
    out.insert("has_rsample".into(), json!({"bool": d.has_rsample()}));
    out.insert(
        "has_enumerate_support".into(),
        json!({"bool": d.has_enumerate_support()}),
    );
    if case["touch"].as_bool().unwrap_or(false) {
        extras(&mut out, "", &d, &leaves);
    }
    out.insert(
        "repr.touched".into(),
        json!({"text": d.repr().expect("repr")}),
    );
    record(
        &mut out,
        "enumerate_support",
        d.enumerate_support(true),
        None,
    );
    record(
        &mut out,
        "enumerate_support.noexpand",
        d.enumerate_support(false),
        None,
    );
    match d.expand(&json_shape(&case["expand"])) {
        Err(e) => {
            out.insert("expand".into(), err(&e));
        }
        Ok(e) => {
            out.insert(
                "expand.batch_shape".into(),
                json!({"shape": e.batch_shape()}),
            );
            out.insert(
                "expand.repr".into(),
                json!({"text": e.repr().expect("repr")}),
            );
            tch::manual_seed(seed + 2);
            if let Some(es) = record(&mut out, "expand.sample", e.sample(&ss), None) {
                record(&mut out, "expand.log_prob", e.log_prob(&es), None);
            }
            record(&mut out, "expand.entropy", e.entropy(), None);
            record(&mut out, "expand.mean", e.mean(), None);
            record(&mut out, "expand.variance", e.variance(), None);
            record(
                &mut out,
                "expand.enumerate_support",
                e.enumerate_support(true),
                None,
            );
            extras(&mut out, "expand.", &e, &[]);
        }
    }
    tch::manual_seed(seed);
    let s = record(&mut out, "sample", d.sample(&ss), None);
    tch::manual_seed(seed + 1);
    if let Some(r) = record(&mut out, "rsample", d.rsample(&ss), Some(&leaves)) {
        record(&mut out, "log_prob.rsample", d.log_prob(&r), Some(&leaves));
    }
    let value = tensor(&case["value"], kind, &mut Vec::new());
    record(&mut out, "log_prob", d.log_prob(&value), Some(&leaves));
    if let Some(s) = s {
        record(&mut out, "log_prob.sample", d.log_prob(&s), Some(&leaves));
    }
    record(&mut out, "cdf", d.cdf(&value), Some(&leaves));
    let u = tensor(&case["u"], kind, &mut Vec::new());
    record(&mut out, "icdf", d.icdf(&u), Some(&leaves));
    record(&mut out, "entropy", d.entropy(), Some(&leaves));
    record(&mut out, "perplexity", d.perplexity(), None);
    record(&mut out, "mean", d.mean(), Some(&leaves));
    record(&mut out, "mode", d.mode(), None);
    record(&mut out, "variance", d.variance(), Some(&leaves));
    record(&mut out, "stddev", d.stddev(), None);
    out.insert("repr.end".into(), json!({"text": d.repr().expect("repr")}));
    extras(&mut out, "", &d, &leaves);
    out
}

pub fn run_error(case: &Value) -> Map<String, Value> {
    let kind = kind_of(case);
    let mut leaves = Vec::new();
    tch::manual_seed(0);
    let result = (|| -> tchdist::Result<Option<Tensor>> {
        let action = case["action"].as_str().expect("action");
        let d = build(&case["dist"], kind, &mut leaves)?;
        let value = case.get("value").map(|v| tensor(v, kind, &mut Vec::new()));
        let ss = case.get("sample_shape").map(json_shape).unwrap_or_default();
        let value = || value.as_ref().expect("the case gives a value");
        Ok(match action {
            "construct" => None,
            "expand" => {
                d.expand(&json_shape(&case["expand"]))?;
                None
            }
            "log_prob" => Some(d.log_prob(value())?),
            "cdf" => Some(d.cdf(value())?),
            "icdf" => Some(d.icdf(value())?),
            "sample" => Some(d.sample(&ss)?),
            "rsample" => Some(d.rsample(&ss)?),
            "enumerate_support" => Some(d.enumerate_support(true)?),
            other => panic!("unknown action {other}"),
        })
    })();
    let mut out = Map::new();
    let v = match result {
        Ok(None) => json!({"bool": true}),
        Ok(Some(t)) => bits(&t),
        Err(e) => err(&e),
    };
    out.insert("result".into(), v);
    out
}

/// A transform on its own: forward, inverse (through the cache and not), log |det J|, with
/// gradients w.r.t. its parameters and `x`; its domain, codomain, sign and shapes.
pub fn run_transform(case: &Value) -> Map<String, Value> {
    let kind = kind_of(case);
    let mut leaves = Vec::new();
    let t = build_transform(&case["transform"], kind, &mut leaves).expect("a transform");
    let x = tensor(&case["x"], kind, &mut leaves);
    let mut out = Map::new();
    out.insert("repr".into(), json!({"text": t.repr()}));
    out.insert(
        "domain".into(),
        json!({"text": t.domain().expect("domain").to_string()}),
    );
    out.insert(
        "codomain".into(),
        json!({"text": t.codomain().expect("codomain").to_string()}),
    );
    record(
        &mut out,
        "sign",
        t.sign_tensor()
            .and_then(|s| s.ok_or(tchdist::Error::Value("int".into()))),
        None,
    );
    match t.forward_shape(&json_shape(&case["shape"])) {
        Ok(s) => out.insert("forward_shape".into(), json!({ "shape": s })),
        Err(e) => out.insert("forward_shape".into(), err(&e)),
    };
    let y = record(&mut out, "y", t.call(&x), Some(&leaves));
    if let Some(y) = y {
        record(&mut out, "y.again", t.call(&x), Some(&leaves));
        record(&mut out, "x.cached", t.inv(&y), Some(&leaves));
        record(
            &mut out,
            "lad",
            t.log_abs_det_jacobian(&x, &y),
            Some(&leaves),
        );
    }
    let y2 = tensor(&case["y"], kind, &mut Vec::new());
    record(&mut out, "inverse", t.inv(&y2), Some(&leaves));
    out
}

/// `kl_divergence(p, q)` with its gradients w.r.t. both distributions' parameters.
pub fn run_kl(case: &Value) -> Map<String, Value> {
    let kind = kind_of(case);
    let mut leaves = Vec::new();
    let mut out = Map::new();
    let built = build(&case["p"], kind, &mut leaves)
        .and_then(|p| Ok((p, build(&case["q"], kind, &mut leaves)?)));
    match built {
        Ok((p, q)) => {
            record(&mut out, "kl", kl_divergence(&p, &q), Some(&leaves));
        }
        Err(e) => {
            out.insert("kl".into(), err(&e));
        }
    }
    out
}

pub fn run_rust(case: &Value) -> Map<String, Value> {
    match case["kind"].as_str() {
        Some("dist") => run_dist(case),
        Some("kl") => run_kl(case),
        Some("transform") => run_transform(case),
        _ => run_error(case),
    }
}

// ------------------------------------------------------------------------ comparison ----

/// Runs `cases` through this harness and tests/pyref/dist_parity.py and compares every output
/// (`common::tables::compare_with_python`).
pub fn compare_with_python(
    cases: &[Value],
    label: impl Fn(&Value) -> String,
) -> BTreeMap<String, (usize, usize)> {
    tables::compare_with_python("tests/pyref/dist_parity.py", cases, run_rust, label)
}

// ------------------------------------------------------------------- case building ----

/// A tensor description; values rounded to 4 decimals so JSON carries them exactly.
pub fn t(shape: &[i64], data: Vec<f64>) -> Value {
    assert_eq!(shape.iter().product::<i64>() as usize, data.len());
    json!({"shape": shape, "data": data})
}

/// A tensor that does not require grad (values, error-case parameters).
pub fn tv(shape: &[i64], data: Vec<f64>) -> Value {
    let mut v = t(shape, data);
    v["grad"] = json!(false);
    v
}

/// An int64 tensor (never requires grad).
pub fn ti(shape: &[i64], data: Vec<f64>) -> Value {
    let mut v = tv(shape, data);
    v["dtype"] = json!("i64");
    v
}

pub fn numel(shape: &[i64]) -> usize {
    shape.iter().product::<i64>() as usize
}

pub fn reals(rng: &mut Rng, n: usize, lo: f64, hi: f64) -> Vec<f64> {
    (0..n).map(|_| rng.real(lo, hi)).collect()
}

pub fn ints(rng: &mut Rng, n: usize, lo: i64, hi: i64) -> Vec<f64> {
    (0..n).map(|_| rng.int(lo, hi) as f64).collect()
}

pub fn cat(a: &[i64], b: &[i64]) -> Vec<i64> {
    let mut v = a.to_vec();
    v.extend_from_slice(b);
    v
}

pub fn random_shape(rng: &mut Rng, max_rank: i64, max_size: i64) -> Vec<i64> {
    (0..rng.int(0, max_rank))
        .map(|_| rng.int(1, max_size))
        .collect()
}

/// A shape that broadcasts to `b`: maybe fewer leading dimensions, some sizes set to 1.
pub fn variant(rng: &mut Rng, b: &[i64]) -> Vec<i64> {
    let drop = if rng.int(0, 3) == 0 {
        rng.int(0, b.len() as i64) as usize
    } else {
        0
    };
    b[drop..]
        .iter()
        .map(|&d| if rng.int(0, 2) == 0 { 1 } else { d })
        .collect()
}

/// An `expand` target for batch shape `b`: usually a valid expansion (new leading sizes,
/// size-1 dims grown), sometimes an invalid one.
pub fn expand_target(rng: &mut Rng, b: &[i64]) -> Vec<i64> {
    if rng.int(0, 5) == 0 {
        let mut bad = b.to_vec();
        match bad.last_mut() {
            Some(last) => *last += 1,
            None => return vec![],
        }
        return bad;
    }
    let mut e: Vec<i64> = (0..rng.int(0, 2)).map(|_| rng.int(1, 3)).collect();
    e.extend(b.iter().map(|&d| if d == 1 { rng.int(1, 3) } else { d }));
    e
}

pub fn nan() -> Value {
    json!("nan")
}

/// Asserts every (label, dtype) group has at least `min` cases.
pub fn assert_at_least(tally: &BTreeMap<String, (usize, usize)>, min: usize) {
    for (key, (_, total)) in tally {
        assert!(*total >= min, "{key}: only {total} cases");
    }
}
