//! torch.distributions against live PyTorch: Normal, MultivariateNormal,
//! LowRankMultivariateNormal, Independent and kl_divergence on random cases, every member and
//! the gradients of log_prob, rsample, entropy, cdf, icdf and KL with respect to every
//! parameter, compared bit for bit; and PyTorch's error messages.
//!
//! Each case is a JSON description (tensors, seeds, shapes) that this file and
//! tests/pyref/distributions.py both interpret with the same sequence of calls; one Python
//! process runs a whole table and returns every tensor as float64 bit patterns.

mod common;

use std::collections::BTreeMap;

use common::{json_shape, tables, Rng};
use serde_json::{json, Map, Value};
use tch::{Kind, Tensor};
use tchdist::autograd::{grad, GradOptions};
use tchdist::distributions::{
    kl_divergence, AnyDistribution, Distribution, Independent, LowRankMultivariateNormal,
    MultivariateNormal, MvnParam, Normal,
};
use tchdist::Error;

// ---------------------------------------------------------------- the Rust interpreter ----

fn kind_of(case: &Value) -> Kind {
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

/// The twin of Python's `tensor(spec, dtype, leaves)`.
fn tensor(spec: &Value, kind: Kind, leaves: &mut Vec<Tensor>) -> Tensor {
    let data: Vec<f64> = spec["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(number)
        .collect();
    let t = Tensor::from_slice(&data)
        .reshape(json_shape(&spec["shape"]))
        .to_kind(kind);
    if spec.get("grad").and_then(Value::as_bool).unwrap_or(true) {
        let t = t.set_requires_grad(true);
        leaves.push(t.shallow_clone());
        t
    } else {
        t
    }
}

/// The twin of Python's `build(spec, dtype, leaves)`.
fn build(spec: &Value, kind: Kind, leaves: &mut Vec<Tensor>) -> tchdist::Result<AnyDistribution> {
    let validate = spec
        .get("validate")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    Ok(match spec["kind"].as_str().expect("kind") {
        "normal" => {
            let loc = tensor(&spec["loc"], kind, leaves);
            let scale = tensor(&spec["scale"], kind, leaves);
            Normal::with_validate_args(&loc, &scale, validate)?.into()
        }
        "mvn" => {
            let loc = tensor(&spec["loc"], kind, leaves);
            let m = tensor(&spec["matrix"], kind, leaves);
            let param = match spec["param"].as_str() {
                Some("covariance_matrix") => MvnParam::CovarianceMatrix(m),
                Some("precision_matrix") => MvnParam::PrecisionMatrix(m),
                _ => MvnParam::ScaleTril(m),
            };
            MultivariateNormal::new(&loc, param, validate)?.into()
        }
        "lowrank" => {
            let loc = tensor(&spec["loc"], kind, leaves);
            let w = tensor(&spec["cov_factor"], kind, leaves);
            let d = tensor(&spec["cov_diag"], kind, leaves);
            LowRankMultivariateNormal::with_validate_args(&loc, &w, &d, validate)?.into()
        }
        "independent" => {
            let base = build(&spec["base"], kind, leaves)?;
            let n = spec["n"].as_u64().expect("n") as usize;
            Independent::with_validate_args(base, n, validate)?.into()
        }
        other => panic!("unknown distribution {other}"),
    })
}

fn bits(t: &Tensor) -> Value {
    let (bits, shape) = common::bits_of(t);
    json!({"t": {"shape": shape, "bits": bits}})
}

/// Python's exception class for a tchdist error (LinAlgError counts as RuntimeError).
fn err(e: &Error) -> Value {
    let class = match e {
        Error::Value(_) | Error::Constraint { .. } | Error::Support { .. } => "ValueError",
        Error::NotImplemented(_) => "NotImplementedError",
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

/// The twin of Python's `record`.
fn record(
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
    if let Some(leaves) = leaves.filter(|_| value.requires_grad()) {
        let cot = cotangent(&value);
        let inputs: Vec<&Tensor> = leaves.iter().collect();
        let opts = GradOptions {
            grad_outputs: Some(vec![Some(&cot)]),
            retain_graph: Some(true),
            allow_unused: Some(true),
            ..Default::default()
        };
        let grads = grad(&[&value], &inputs, &opts).expect("autograd");
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

fn lazies(out: &mut Map<String, Value>, prefix: &str, d: &AnyDistribution) {
    let owned = |r: tchdist::Result<&Tensor>| r.map(|t| t.shallow_clone());
    match d {
        AnyDistribution::MultivariateNormal(m) => {
            record(
                out,
                &format!("{prefix}covariance_matrix"),
                owned(m.covariance_matrix()),
                None,
            );
            record(
                out,
                &format!("{prefix}precision_matrix"),
                owned(m.precision_matrix()),
                None,
            );
            record(
                out,
                &format!("{prefix}scale_tril"),
                owned(m.scale_tril()),
                None,
            );
        }
        AnyDistribution::LowRankMultivariateNormal(m) => {
            record(
                out,
                &format!("{prefix}covariance_matrix"),
                owned(m.covariance_matrix()),
                None,
            );
            record(
                out,
                &format!("{prefix}precision_matrix"),
                owned(m.precision_matrix()),
                None,
            );
            record(
                out,
                &format!("{prefix}scale_tril"),
                owned(m.scale_tril()),
                None,
            );
            let cap = m.capacitance_tril().shallow_clone();
            record(out, &format!("{prefix}capacitance_tril"), Ok(cap), None);
        }
        _ => {}
    }
}

fn touch(d: &AnyDistribution, name: &str) {
    if let AnyDistribution::MultivariateNormal(m) = d {
        let r = match name {
            "covariance_matrix" => m.covariance_matrix(),
            "precision_matrix" => m.precision_matrix(),
            _ => m.scale_tril(),
        };
        r.expect("lazy property");
    }
}

fn run_dist(case: &Value) -> Map<String, Value> {
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
    for name in case["touch"].as_array().into_iter().flatten() {
        touch(&d, name.as_str().expect("a lazy property"));
    }
    out.insert(
        "repr.touched".into(),
        json!({"text": d.repr().expect("repr")}),
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
            lazies(&mut out, "expand.", &e);
        }
    }
    tch::manual_seed(seed);
    let s = record(&mut out, "sample", d.sample(&ss), None);
    tch::manual_seed(seed + 1);
    record(&mut out, "rsample", d.rsample(&ss), Some(&leaves));
    let value = tensor(&case["value"], kind, &mut Vec::new());
    record(&mut out, "log_prob", d.log_prob(&value), Some(&leaves));
    if let Some(s) = s {
        record(&mut out, "log_prob.sample", d.log_prob(&s), None);
    }
    record(&mut out, "cdf", d.cdf(&value), Some(&leaves));
    let u = tensor(&case["u"], kind, &mut Vec::new());
    record(&mut out, "icdf", d.icdf(&u), Some(&leaves));
    record(&mut out, "entropy", d.entropy(), Some(&leaves));
    record(&mut out, "perplexity", d.perplexity(), None);
    record(&mut out, "mean", d.mean(), None);
    record(&mut out, "mode", d.mode(), None);
    record(&mut out, "variance", d.variance(), None);
    record(&mut out, "stddev", d.stddev(), None);
    lazies(&mut out, "", &d);
    out
}

fn run_kl(case: &Value) -> Map<String, Value> {
    let kind = kind_of(case);
    let mut leaves = Vec::new();
    let p = build(&case["p"], kind, &mut leaves).expect("valid p");
    let q = build(&case["q"], kind, &mut leaves).expect("valid q");
    let mut out = Map::new();
    record(&mut out, "kl", kl_divergence(&p, &q), Some(&leaves));
    out
}

fn run_error(case: &Value) -> Map<String, Value> {
    let kind = kind_of(case);
    let mut leaves = Vec::new();
    tch::manual_seed(0);
    let result = (|| -> tchdist::Result<Option<Tensor>> {
        let action = case["action"].as_str().expect("action");
        if action == "kl" {
            let p = build(&case["p"], kind, &mut leaves)?;
            let q = build(&case["q"], kind, &mut leaves)?;
            return kl_divergence(&p, &q).map(Some);
        }
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

fn run_rust(case: &Value) -> Map<String, Value> {
    match case["kind"].as_str() {
        Some("dist") => run_dist(case),
        Some("kl") => run_kl(case),
        _ => run_error(case),
    }
}

// ------------------------------------------------------------------------ comparison ----

/// Runs `cases` through this file's interpreter and tests/pyref/distributions.py and compares
/// every output (`common::tables::compare_with_python`).
fn compare_with_python(
    cases: &[Value],
    label: impl Fn(&Value) -> String,
) -> BTreeMap<String, (usize, usize)> {
    tables::compare_with_python("tests/pyref/distributions.py", cases, run_rust, label)
}

// ---------------------------------------------------------------- random case tables ----

/// A tensor description; values rounded to 4 decimals so JSON carries them exactly.
fn t(shape: &[i64], data: Vec<f64>) -> Value {
    assert_eq!(shape.iter().product::<i64>() as usize, data.len());
    json!({"shape": shape, "data": data})
}

/// A tensor that does not require grad (values, error-case parameters).
fn tv(shape: &[i64], data: Vec<f64>) -> Value {
    let mut v = t(shape, data);
    v["grad"] = json!(false);
    v
}

fn numel(shape: &[i64]) -> usize {
    shape.iter().product::<i64>() as usize
}

fn reals(rng: &mut Rng, n: usize, lo: f64, hi: f64) -> Vec<f64> {
    (0..n).map(|_| rng.real(lo, hi)).collect()
}

fn cat(a: &[i64], b: &[i64]) -> Vec<i64> {
    let mut v = a.to_vec();
    v.extend_from_slice(b);
    v
}

/// NumPy broadcasting of shapes that are known to broadcast.
fn broadcast(shapes: &[&[i64]]) -> Vec<i64> {
    let rank = shapes.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut out = vec![1; rank];
    for s in shapes {
        for (k, &d) in s.iter().rev().enumerate() {
            let slot = &mut out[rank - 1 - k];
            if d != 1 {
                *slot = d;
            }
        }
    }
    out
}

fn random_shape(rng: &mut Rng, max_rank: i64, max_size: i64) -> Vec<i64> {
    (0..rng.int(0, max_rank))
        .map(|_| rng.int(1, max_size))
        .collect()
}

/// A shape that broadcasts to `b`: maybe fewer leading dimensions, some sizes set to 1.
fn variant(rng: &mut Rng, b: &[i64]) -> Vec<i64> {
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

/// A spec with its batch and event shapes.
struct Spec {
    json: Value,
    batch: Vec<i64>,
    event: Vec<i64>,
}

fn normal_spec(rng: &mut Rng, b: &[i64]) -> Spec {
    let (ls, ss) = (variant(rng, b), variant(rng, b));
    let json = json!({
        "kind": "normal",
        "loc": t(&ls, reals(rng, numel(&ls), -3.0, 3.0)),
        "scale": t(&ss, reals(rng, numel(&ss), 0.2, 3.0)),
    });
    Spec {
        json,
        batch: broadcast(&[&ls, &ss]),
        event: vec![],
    }
}

const MVN_PARAMS: [&str; 3] = ["covariance_matrix", "precision_matrix", "scale_tril"];

fn mvn_spec(rng: &mut Rng, b: &[i64], d: i64, param: &str) -> Spec {
    let (lb, mb) = (variant(rng, b), variant(rng, b));
    let matrix: Vec<f64> = (0..numel(&mb))
        .flat_map(|_| {
            if param == "scale_tril" {
                common::random_scale_tril(rng, d as usize)
            } else {
                common::random_spd(rng, d as usize)
            }
        })
        .collect();
    let json = json!({
        "kind": "mvn",
        "param": param,
        "loc": t(&cat(&lb, &[d]), reals(rng, numel(&lb) * d as usize, -3.0, 3.0)),
        "matrix": t(&cat(&mb, &[d, d]), matrix),
    });
    Spec {
        json,
        batch: broadcast(&[&lb, &mb]),
        event: vec![d],
    }
}

fn lowrank_spec(rng: &mut Rng, b: &[i64], d: i64) -> Spec {
    let (lb, wb, db) = (variant(rng, b), variant(rng, b), variant(rng, b));
    let m = rng.int(1, 3);
    let json = json!({
        "kind": "lowrank",
        "loc": t(&cat(&lb, &[d]), reals(rng, numel(&lb) * d as usize, -3.0, 3.0)),
        "cov_factor": t(&cat(&wb, &[d, m]), reals(rng, numel(&wb) * (d * m) as usize, -1.0, 1.0)),
        "cov_diag": t(&cat(&db, &[d]), reals(rng, numel(&db) * d as usize, 0.3, 2.0)),
    });
    Spec {
        json,
        batch: broadcast(&[&lb, &wb, &db]),
        event: vec![d],
    }
}

fn independent_spec(base: Spec, n: usize) -> Spec {
    let split = base.batch.len() - n;
    let json = json!({"kind": "independent", "base": base.json, "n": n});
    Spec {
        json,
        batch: base.batch[..split].to_vec(),
        event: cat(&base.batch[split..], &base.event),
    }
}

/// A random base for `Independent`, of kind `which` (0 normal, 1 mvn, 2 low-rank).
fn base_spec(rng: &mut Rng, which: usize, b: &[i64], d: i64) -> Spec {
    match which {
        0 => normal_spec(rng, b),
        1 => {
            let param = MVN_PARAMS[rng.int(0, 2) as usize];
            mvn_spec(rng, b, d, param)
        }
        _ => lowrank_spec(rng, b, d),
    }
}

/// A `dist` case around `spec`: sample shape, a value that broadcasts against the batch,
/// an expansion (one in ten invalid), lazy properties to touch before expanding.
fn dist_case(rng: &mut Rng, i: usize, spec: Spec, touch: Vec<&str>) -> Value {
    let dtype = if i % 2 == 0 { "f32" } else { "f64" };
    let vs = random_shape(rng, 2, 3);
    let vshape = cat(&cat(&vs, &variant(rng, &spec.batch)), &spec.event);
    let n = numel(&vshape);
    let mut expand: Vec<i64> = random_shape(rng, 1, 3);
    expand.extend(
        spec.batch
            .iter()
            .map(|&d| if d == 1 { rng.int(1, 3) } else { d }),
    );
    if rng.int(0, 9) == 0 {
        if let Some(pos) = spec.batch.iter().position(|&d| d > 1) {
            let at = expand.len() - spec.batch.len() + pos;
            expand[at] += 1;
        }
    }
    json!({
        "kind": "dist",
        "dtype": dtype,
        "dist": spec.json,
        "seed": rng.next_u64() % 100_000,
        "sample_shape": random_shape(rng, 2, 4),
        "value": tv(&vshape, reals(rng, n, -3.0, 3.0)),
        "u": tv(&vshape, reals(rng, n, 0.02, 0.98)),
        "expand": expand,
        "touch": touch,
    })
}

fn dist_label(case: &Value) -> String {
    let spec = &case["dist"];
    match spec["kind"].as_str() {
        Some("independent") => format!(
            "Independent({})",
            spec["base"]["kind"].as_str().unwrap_or("?")
        ),
        Some("mvn") => format!(
            "MultivariateNormal({})",
            spec["param"].as_str().unwrap_or("?")
        ),
        Some(k) => k.to_string(),
        None => "?".into(),
    }
}

fn assert_at_least(tally: &BTreeMap<String, (usize, usize)>, min_per_dtype: usize) {
    for dtype in ["f32", "f64"] {
        let total: usize = tally
            .iter()
            .filter(|(k, _)| k.ends_with(dtype))
            .map(|(_, v)| v.0)
            .sum();
        assert!(total >= min_per_dtype, "only {total} {dtype} cases");
    }
}

#[test]
fn normal_matches_pytorch_bit_for_bit_with_gradients_on_80_random_cases() {
    let mut rng = Rng::new(11);
    let cases: Vec<Value> = (0..80)
        .map(|i| {
            let b = random_shape(&mut rng, 2, 3);
            let spec = normal_spec(&mut rng, &b);
            dist_case(&mut rng, i, spec, vec![])
        })
        .collect();
    let tally = compare_with_python(&cases, dist_label);
    assert_at_least(&tally, 40);
}

#[test]
fn multivariate_normal_matches_pytorch_bit_for_bit_with_gradients_on_90_random_cases() {
    let mut rng = Rng::new(12);
    let cases: Vec<Value> = (0..90)
        .map(|i| {
            let b = random_shape(&mut rng, 2, 3);
            let d = rng.int(1, 8);
            let spec = mvn_spec(&mut rng, &b, d, MVN_PARAMS[i % 3]);
            let touch = MVN_PARAMS
                .iter()
                .copied()
                .filter(|_| rng.int(0, 1) == 0)
                .collect();
            dist_case(&mut rng, i, spec, touch)
        })
        .collect();
    let tally = compare_with_python(&cases, dist_label);
    assert_at_least(&tally, 45);
}

#[test]
fn lowrank_multivariate_normal_matches_pytorch_bit_for_bit_with_gradients_on_80_random_cases() {
    let mut rng = Rng::new(13);
    let cases: Vec<Value> = (0..80)
        .map(|i| {
            let b = random_shape(&mut rng, 2, 3);
            let d = rng.int(1, 8);
            let spec = lowrank_spec(&mut rng, &b, d);
            dist_case(&mut rng, i, spec, vec![])
        })
        .collect();
    let tally = compare_with_python(&cases, dist_label);
    assert_at_least(&tally, 40);
}

#[test]
fn independent_matches_pytorch_bit_for_bit_with_gradients_on_90_random_cases() {
    let mut rng = Rng::new(14);
    let cases: Vec<Value> = (0..90)
        .map(|i| {
            let b: Vec<i64> = (0..rng.int(1, 2)).map(|_| rng.int(1, 3)).collect();
            let d = rng.int(1, 6);
            let base = base_spec(&mut rng, i % 3, &b, d);
            let n = rng.int(0, base.batch.len() as i64) as usize;
            let mut spec = independent_spec(base, n);
            // Every ninth case nests Independent(Independent(...)).
            if i % 9 == 4 && !spec.batch.is_empty() {
                spec = independent_spec(spec, 1);
            }
            dist_case(&mut rng, i, spec, vec![])
        })
        .collect();
    let tally = compare_with_python(&cases, dist_label);
    assert_at_least(&tally, 45);
}

/// The six registered pairs, 20 random cases each (Independent pairs over random bases).
#[test]
fn kl_divergence_matches_pytorch_bit_for_bit_with_gradients_on_120_random_pairs() {
    let mut rng = Rng::new(15);
    let cases: Vec<Value> = (0..120)
        .map(|i| {
            let dtype = if (i / 6) % 2 == 0 { "f32" } else { "f64" };
            let b = random_shape(&mut rng, 2, 3);
            let d = rng.int(1, 8);
            let param = |rng: &mut Rng| MVN_PARAMS[rng.int(0, 2) as usize];
            let (p, q) = match i % 6 {
                0 => (normal_spec(&mut rng, &b), normal_spec(&mut rng, &b)),
                1 => {
                    let (pp, qp) = (param(&mut rng), param(&mut rng));
                    (mvn_spec(&mut rng, &b, d, pp), mvn_spec(&mut rng, &b, d, qp))
                }
                2 => (lowrank_spec(&mut rng, &b, d), lowrank_spec(&mut rng, &b, d)),
                3 => {
                    let pp = param(&mut rng);
                    (mvn_spec(&mut rng, &b, d, pp), lowrank_spec(&mut rng, &b, d))
                }
                4 => {
                    let qp = param(&mut rng);
                    (lowrank_spec(&mut rng, &b, d), mvn_spec(&mut rng, &b, d, qp))
                }
                _ => {
                    let b: Vec<i64> = (0..rng.int(1, 2)).map(|_| rng.int(1, 3)).collect();
                    let (pk, qk) = [(0, 0), (1, 1), (2, 2), (1, 2), (2, 1)][rng.int(0, 4) as usize];
                    let pb = base_spec(&mut rng, pk, &b, d);
                    let qb = base_spec(&mut rng, qk, &b, d);
                    let n = rng.int(0, pb.batch.len().min(qb.batch.len()) as i64) as usize;
                    (independent_spec(pb, n), independent_spec(qb, n))
                }
            };
            json!({"kind": "kl", "dtype": dtype, "p": p.json, "q": q.json})
        })
        .collect();
    let label = |c: &Value| {
        let name = |s: &Value| match s["kind"].as_str() {
            Some("independent") => {
                format!("Independent({})", s["base"]["kind"].as_str().unwrap_or("?"))
            }
            Some(k) => k.to_string(),
            None => "?".into(),
        };
        format!("KL({}, {})", name(&c["p"]), name(&c["q"]))
    };
    let tally = compare_with_python(&cases, label);
    assert_at_least(&tally, 60);
}

// --------------------------------------------------------------------- error parity ----

fn eye(d: i64) -> Vec<f64> {
    (0..d * d)
        .map(|k| if k % (d + 1) == 0 { 1.0 } else { 0.0 })
        .collect()
}

fn normal(loc: Value, scale: Value) -> Value {
    json!({"kind": "normal", "loc": loc, "scale": scale})
}

fn mvn(param: &str, loc: Value, matrix: Value) -> Value {
    json!({"kind": "mvn", "param": param, "loc": loc, "matrix": matrix})
}

fn lowrank(loc: Value, w: Value, d: Value) -> Value {
    json!({"kind": "lowrank", "loc": loc, "cov_factor": w, "cov_diag": d})
}

fn no_validation(mut spec: Value) -> Value {
    spec["validate"] = json!(false);
    spec
}

fn nan() -> Value {
    json!("nan")
}

fn error_cases() -> Vec<Value> {
    let zeros = |s: &[i64]| tv(s, vec![0.0; numel(s)]);
    let ones = |s: &[i64]| tv(s, vec![1.0; numel(s)]);
    let std_normal = |s: &[i64]| normal(zeros(s), ones(s));
    let std_mvn = |b: &[i64], d: i64| {
        let m: Vec<f64> = (0..numel(b)).flat_map(|_| eye(d)).collect();
        mvn(
            "covariance_matrix",
            zeros(&cat(b, &[d])),
            tv(&cat(b, &[d, d]), m),
        )
    };
    let std_lowrank = |d: i64| lowrank(zeros(&[d]), ones(&[d, 1]), ones(&[d]));
    let with_nan = |s: &[i64]| json!({"shape": s, "data": [nan(), 0.0], "grad": false});
    let construct = |dist: Value| json!({"action": "construct", "dist": dist});
    let on_value = |action: &str, dist: Value, value: Value| json!({"action": action, "dist": dist, "value": value});
    let kl = |p: Value, q: Value| json!({"action": "kl", "p": p, "q": q});
    let bad_cov = tv(&[2, 2], vec![1.0, 2.0, 2.0, 1.0]);
    let cases = vec![
        // Normal
        construct(normal(zeros(&[3]), tv(&[3], vec![1.0, -1.0, 2.0]))),
        construct(normal(t(&[1], vec![0.0]), t(&[1], vec![-1.0]))),
        construct(normal(t(&[2], vec![0.0, 0.5]), tv(&[2], vec![0.0, 1.0]))),
        construct(normal(with_nan(&[2]), ones(&[2]))),
        construct(normal(tv(&[], vec![0.5]), tv(&[], vec![-1e-5]))),
        on_value(
            "log_prob",
            normal(tv(&[], vec![0.5]), tv(&[], vec![2.0])),
            json!({"shape": [], "data": [nan()], "grad": false}),
        ),
        construct(normal(zeros(&[2]), ones(&[3]))),
        on_value("log_prob", std_normal(&[2, 3]), zeros(&[4])),
        on_value("log_prob", std_normal(&[2]), with_nan(&[2])),
        on_value("cdf", std_normal(&[2]), with_nan(&[2])),
        on_value("icdf", std_normal(&[2]), tv(&[2], vec![1.5, -0.5])),
        on_value(
            "log_prob",
            no_validation(normal(zeros(&[2]), tv(&[2], vec![-1.0, 1.0]))),
            zeros(&[2]),
        ),
        json!({"action": "sample", "dist": no_validation(normal(zeros(&[2]), tv(&[2], vec![-1.0, 1.0]))), "sample_shape": [3]}),
        json!({"action": "sample", "dist": no_validation(normal(zeros(&[2]), with_nan(&[2]))), "sample_shape": []}),
        json!({"action": "rsample", "dist": no_validation(normal(zeros(&[2]), tv(&[2], vec![-1.0, 1.0]))), "sample_shape": [2]}),
        json!({"action": "expand", "dist": std_normal(&[3]), "expand": [2]}),
        // MultivariateNormal
        construct(mvn("covariance_matrix", zeros(&[]), ones(&[1, 1]))),
        construct(mvn("covariance_matrix", zeros(&[2]), ones(&[2]))),
        construct(mvn("precision_matrix", zeros(&[2]), ones(&[2]))),
        construct(mvn("scale_tril", zeros(&[2]), ones(&[2]))),
        construct(mvn("covariance_matrix", zeros(&[2]), bad_cov.clone())),
        construct(mvn(
            "precision_matrix",
            zeros(&[2]),
            tv(&[2, 2], vec![2.0, 1.0, 0.0, 2.0]),
        )),
        construct(mvn(
            "scale_tril",
            zeros(&[2]),
            tv(&[2, 2], vec![1.0, 1.0, 0.0, 1.0]),
        )),
        construct(mvn(
            "scale_tril",
            zeros(&[2]),
            tv(&[2, 2], vec![1.0, 0.0, 1.0, -1.0]),
        )),
        construct(mvn(
            "covariance_matrix",
            with_nan(&[2]),
            tv(&[2, 2], eye(2)),
        )),
        construct(mvn(
            "covariance_matrix",
            t(&[2], vec![0.0, 1.0]),
            t(&[2, 2], vec![1.0, 2.0, 2.0, 1.0]),
        )),
        construct(no_validation(mvn(
            "covariance_matrix",
            zeros(&[2]),
            bad_cov.clone(),
        ))),
        construct(no_validation(mvn("precision_matrix", zeros(&[2]), bad_cov))),
        construct(mvn(
            "covariance_matrix",
            zeros(&[2, 3]),
            tv(&[4, 3, 3], (0..4).flat_map(|_| eye(3)).collect()),
        )),
        on_value("log_prob", std_mvn(&[], 2), zeros(&[4])),
        on_value("log_prob", std_mvn(&[3], 2), zeros(&[2, 2])),
        on_value("log_prob", std_mvn(&[], 2), with_nan(&[2])),
        on_value("cdf", std_mvn(&[], 2), zeros(&[2])),
        on_value("icdf", std_mvn(&[], 2), zeros(&[2])),
        json!({"action": "expand", "dist": std_mvn(&[3], 2), "expand": [2]}),
        // LowRankMultivariateNormal
        construct(lowrank(zeros(&[]), ones(&[1, 1]), ones(&[1]))),
        construct(lowrank(zeros(&[3]), ones(&[3]), ones(&[3]))),
        construct(lowrank(zeros(&[3]), ones(&[2, 1]), ones(&[3]))),
        construct(lowrank(zeros(&[3]), ones(&[3, 1]), ones(&[2]))),
        construct(lowrank(zeros(&[2, 3]), ones(&[4, 3, 1]), ones(&[3]))),
        construct(lowrank(
            zeros(&[3]),
            zeros(&[3, 1]),
            tv(&[3], vec![1.0, -1.0, 1.0]),
        )),
        construct(lowrank(
            zeros(&[3]),
            ones(&[3, 1]),
            tv(&[3], vec![-1.0, -1.0, -1.0]),
        )),
        construct(lowrank(
            zeros(&[2]),
            json!({"shape": [2, 1], "data": [nan(), 1.0], "grad": false}),
            ones(&[2]),
        )),
        construct(lowrank(with_nan(&[2]), ones(&[2, 1]), ones(&[2]))),
        on_value("log_prob", std_lowrank(3), zeros(&[2])),
        on_value("log_prob", std_lowrank(2), with_nan(&[2])),
        on_value("cdf", std_lowrank(2), zeros(&[2])),
        json!({"action": "expand", "dist": lowrank(zeros(&[3, 2]), ones(&[2, 1]), ones(&[2])), "expand": [2]}),
        // Independent
        construct(json!({"kind": "independent", "base": std_normal(&[2]), "n": 2})),
        construct(json!({"kind": "independent", "base": std_mvn(&[], 2), "n": 1})),
        on_value(
            "cdf",
            json!({"kind": "independent", "base": std_normal(&[2]), "n": 1}),
            zeros(&[2]),
        ),
        on_value(
            "log_prob",
            json!({"kind": "independent", "base": std_normal(&[2]), "n": 1}),
            with_nan(&[2]),
        ),
        on_value(
            "log_prob",
            json!({"kind": "independent", "base": std_normal(&[2]), "n": 1}),
            zeros(&[3]),
        ),
        // kl_divergence
        kl(std_normal(&[2]), std_mvn(&[], 2)),
        kl(std_mvn(&[], 2), std_normal(&[2])),
        kl(
            json!({"kind": "independent", "base": std_normal(&[2]), "n": 1}),
            std_normal(&[2]),
        ),
        kl(
            json!({"kind": "independent", "base": std_normal(&[2, 3]), "n": 1}),
            json!({"kind": "independent", "base": std_normal(&[2, 3]), "n": 2}),
        ),
        kl(std_mvn(&[], 3), std_mvn(&[], 2)),
        kl(std_lowrank(3), std_lowrank(2)),
        kl(std_mvn(&[], 3), std_lowrank(2)),
        kl(std_lowrank(3), std_mvn(&[], 2)),
        kl(std_normal(&[2]), std_normal(&[3])),
        kl(std_mvn(&[2], 2), std_mvn(&[3], 2)),
    ];
    let mut out = Vec::new();
    for dtype in ["f32", "f64"] {
        for c in &cases {
            let mut c = c.clone();
            c["kind"] = json!("error");
            c["dtype"] = json!(dtype);
            out.push(c);
        }
    }
    out
}

#[test]
fn errors_match_pytorch_class_and_message() {
    let cases = error_cases();
    let tally = compare_with_python(&cases, |c| {
        format!("error({})", c["action"].as_str().unwrap_or("?"))
    });
    assert_at_least(&tally, 50);
}

/// `Constraint::PositiveDefinite` answers an exactly symmetric matrix with one comparison and
/// runs `isclose` only otherwise: on every edge case its verdict is PyTorch's rule written out,
/// `isclose(v, v.mT, atol=1e-6).all()` and then `cholesky_ex(v).info == 0`.
#[test]
fn positive_definite_check_equals_isclose_then_cholesky_on_edge_matrices() {
    use tchdist::distributions::Constraint;
    let m = |v: &[f64]| tch::Tensor::from_slice(v).reshape([2, 2]);
    let inf = f64::INFINITY;
    let cases = [
        m(&[2.0, 0.5, 0.5, 1.0]),           // symmetric, positive-definite
        m(&[2.0, 0.5, 0.5 + 1e-9, 1.0]),    // nearly symmetric: isclose passes
        m(&[2.0, 0.5, 0.6, 1.0]),           // not symmetric
        m(&[2.0, f64::NAN, f64::NAN, 1.0]), // NaN is never close to itself
        m(&[inf, 0.0, 0.0, 1.0]),           // inf equals itself; Cholesky decides
        m(&[1.0, 2.0, 2.0, 1.0]),           // symmetric, indefinite
        m(&[-0.0, 0.0, 0.0, -0.0]),         // signed zeros
    ];
    for v in cases {
        let sym = v.isclose(&v.mt(), 1e-5, 1e-6, false).all();
        let want = bool::try_from(&sym).unwrap() && {
            let (_, info) = v.linalg_cholesky_ex(false, false);
            bool::try_from(&info.eq(0)).unwrap()
        };
        let got = bool::try_from(&Constraint::PositiveDefinite.check(&v).unwrap().all()).unwrap();
        assert_eq!(got, want, "{v:?}");
    }
}
