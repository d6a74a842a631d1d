//! Randomised robustness ("fuzz") tests: hostile tensors (NaN, inf, wrong ranks and sizes,
//! empty, huge batch shapes) for the distribution constructors and their methods: an `Ok` or a
//! clean `Err`, never a panic or an abort. The command line's twin is `cli/tests/fuzz.rs`.
//!
//! CI runs a fixed budget of cases (deterministic seeds). For a long run:
//! `TCHDIST_FUZZ_SECONDS=600 cargo test --release --test fuzz -- --nocapture`
//! (each test then runs for that long and prints how many cases it executed).

mod common;

use common::{fuzz, Rng};
use tch::{Kind, Tensor};
use tchdist::distributions::{
    kl_divergence, AnyDistribution, Bernoulli, Beta, Categorical, Cauchy, Dirichlet, Distribution,
    Exponential, Gamma, Geometric, LowRankMultivariateNormal, MultivariateNormal, MvnParam, Normal,
    OneHotCategorical, OneHotCategoricalStraightThrough, Poisson, Transform,
    TransformedDistribution, Uniform,
};

/// A tensor of random shape with hostile values.
fn hostile(rng: &mut Rng, shape: &[i64], kind: Kind) -> Tensor {
    let n: i64 = shape.iter().product();
    let values: Vec<f64> = (0..n)
        .map(|_| match rng.int(0, 12) {
            0 => f64::NAN,
            1 => f64::INFINITY,
            2 => -f64::INFINITY,
            3 => 0.0,
            4 => -1.0,
            5 => 1e300,
            _ => rng.real(-3.0, 3.0),
        })
        .collect();
    Tensor::from_slice(&values).reshape(shape).to_kind(kind)
}

fn random_shape(rng: &mut Rng, rank_max: i64) -> Vec<i64> {
    (0..rng.int(0, rank_max)).map(|_| rng.int(0, 4)).collect()
}

#[test]
fn distribution_constructors_and_methods_never_panic_on_hostile_tensors() {
    fuzz("distributions", 3000, |rng, i| {
        let kind = if i % 2 == 0 {
            Kind::Float
        } else {
            Kind::Double
        };
        let validate = rng.int(0, 1) == 1;
        let loc = {
            let shape = random_shape(rng, 3);
            hostile(rng, &shape, kind)
        };
        let m = {
            let shape = random_shape(rng, 4);
            hostile(rng, &shape, kind)
        };
        let param = match rng.int(0, 2) {
            0 => MvnParam::CovarianceMatrix(m),
            1 => MvnParam::PrecisionMatrix(m),
            _ => MvnParam::ScaleTril(m),
        };
        let value = {
            let shape = random_shape(rng, 3);
            hostile(rng, &shape, kind)
        };
        let sample_shape: Vec<i64> = random_shape(rng, 2);
        if let Ok(d) = MultivariateNormal::new(&loc, param, validate) {
            let _ = d.log_prob(&value);
            let _ = d.sample(&sample_shape);
            let _ = d.entropy();
            let _ = d.score_loc(&value);
        }
        let scale = {
            let shape = random_shape(rng, 3);
            hostile(rng, &shape, kind)
        };
        if let Ok(d) = Normal::new(&loc, &scale) {
            let _ = d.log_prob(&value);
            let _ = d.cdf(&value);
            let _ = d.icdf(&value);
            let _ = d.sample(&sample_shape);
            let _ = d.rsample(&sample_shape);
        }
        let factor = {
            let shape = random_shape(rng, 3);
            hostile(rng, &shape, kind)
        };
        if let Ok(d) = LowRankMultivariateNormal::new(&loc, &factor, &scale) {
            let _ = d.log_prob(&value);
            let _ = d.rsample(&sample_shape);
            let _ = d.entropy();
        }
    });
}

/// One of the distributions added with Bernoulli, built from hostile tensors.
fn newer_distribution(
    rng: &mut Rng,
    which: i64,
    a: &Tensor,
    b: &Tensor,
    validate: bool,
) -> tchdist::Result<AnyDistribution> {
    Ok(match which {
        0 => Bernoulli::from_probs_with_validate_args(a, validate)?.into(),
        1 => Bernoulli::from_logits_with_validate_args(a, validate)?.into(),
        2 => Categorical::from_probs_with_validate_args(a, validate)?.into(),
        3 => Categorical::from_logits_with_validate_args(a, validate)?.into(),
        4 => OneHotCategorical::from_logits_with_validate_args(a, validate)?.into(),
        5 => OneHotCategoricalStraightThrough::from_probs_with_validate_args(a, validate)?.into(),
        6 => Uniform::with_validate_args(a, b, validate)?.into(),
        7 => Exponential::with_validate_args(a, validate)?.into(),
        8 => Cauchy::with_validate_args(a, b, validate)?.into(),
        9 => Gamma::with_validate_args(a, b, validate)?.into(),
        10 => Beta::with_validate_args(a, b, validate)?.into(),
        11 => Dirichlet::with_validate_args(a, validate)?.into(),
        12 => Poisson::with_validate_args(a, validate)?.into(),
        13 => Geometric::from_probs_with_validate_args(a, validate)?.into(),
        14 => Geometric::from_logits_with_validate_args(a, validate)?.into(),
        _ => {
            let base = Normal::with_validate_args(a, b, validate)?;
            let t = match rng.int(0, 3) {
                0 => Transform::exp(),
                1 => Transform::sigmoid(),
                2 => Transform::tanh().with_cache(1)?,
                _ => Transform::affine(b, a, rng.int(0, 1) as usize),
            };
            TransformedDistribution::with_validate_args(base, vec![t], validate)?.into()
        }
    })
}

#[test]
fn newer_distributions_and_transforms_never_panic_on_hostile_tensors() {
    fuzz("newer distributions", 1600, |rng, i| {
        let kind = if i % 2 == 0 {
            Kind::Float
        } else {
            Kind::Double
        };
        let validate = rng.int(0, 1) == 1;
        let which = (i % 16) as i64;
        let a = {
            let shape = random_shape(rng, 3);
            hostile(rng, &shape, kind)
        };
        let b = {
            let shape = random_shape(rng, 3);
            hostile(rng, &shape, kind)
        };
        let value = {
            let shape = random_shape(rng, 3);
            hostile(rng, &shape, kind)
        };
        let sample_shape = random_shape(rng, 2);
        let expand = random_shape(rng, 3);
        if let Ok(d) = newer_distribution(rng, which, &a, &b, validate) {
            let _ = d.repr();
            let _ = d.support().map(|s| s.to_string());
            let _ = d.sample(&sample_shape);
            if let Ok(r) = d.rsample(&sample_shape) {
                let _ = d.log_prob(&r);
            }
            let _ = d.log_prob(&value);
            let _ = d.cdf(&value);
            let _ = d.icdf(&value);
            let _ = d.entropy();
            let _ = d.mean();
            let _ = d.mode();
            let _ = d.variance();
            let _ = d.stddev();
            let _ = d.enumerate_support(rng.int(0, 1) == 1);
            let _ = kl_divergence(&d, &d);
            if let Ok(e) = d.expand(&expand) {
                let _ = e.sample(&sample_shape);
                let _ = e.log_prob(&value);
            }
        }
    });
}
