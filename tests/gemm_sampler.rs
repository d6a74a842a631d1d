//! The opt-in gemm sampler (`Sampler::Gemm`: the exact sampler's standard-normal draws times
//! Lᵀ in one matrix product) is not PyTorch's bits, so it is held to the distribution instead:
//! its moments, and SciPy's view of its samples (tests/pyref/scipy_mvn.py, in the set-up
//! venv's Python). tests/mvn_jacobian.rs holds it to its PyTorch twin bit for bit and to the
//! exact sampler up to rounding.

mod common;

use common::{random_scale_tril, run_python_stdin, Rng};
use serde_json::{json, Value};
use tch::{Kind, Tensor};
use tchdist::distributions::{Distribution, MultivariateNormal, MvnParam, Sampler};

static GLOBAL_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn lock() -> std::sync::MutexGuard<'static, ()> {
    GLOBAL_RNG
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A `batch`-batched (empty: unbatched) random scale_tril of size d, with off-diagonal entries
/// as large as the diagonal (so that L Lᵀ and Lᵀ L differ clearly), and a random loc.
fn random_case(rng: &mut Rng, batch: &[i64], d: i64, kind: Kind) -> (Tensor, Tensor) {
    let b: i64 = batch.iter().product();
    let l: Vec<f64> = (0..b)
        .flat_map(|_| random_scale_tril(rng, d as usize))
        .collect();
    let loc: Vec<f64> = (0..b * d).map(|_| rng.real(-3.0, 3.0)).collect();
    let mut l_shape = batch.to_vec();
    l_shape.extend([d, d]);
    let mut loc_shape = batch.to_vec();
    loc_shape.push(d);
    (
        Tensor::from_slice(&loc).reshape(&loc_shape).to_kind(kind),
        Tensor::from_slice(&l).reshape(&l_shape).to_kind(kind),
    )
}

/// Member `i` of a one-dimensional batch of `members` (0: unbatched, `t` itself): the batch
/// dimension sits left of the `event_dims` rightmost dimensions.
fn member(t: &Tensor, members: i64, i: i64, event_dims: i64) -> Tensor {
    if members == 0 {
        t.shallow_clone()
    } else {
        t.select(t.dim() as i64 - event_dims - 1, i)
    }
}

fn gemm_dist(loc: &Tensor, l: &Tensor) -> MultivariateNormal {
    MultivariateNormal::new(loc, MvnParam::ScaleTril(l.shallow_clone()), true)
        .expect("a valid distribution")
        .with_sampler(Sampler::Gemm)
}

/// `loc + eps L` (L, not Lᵀ): samples of N(loc, Lᵀ L), a wrong covariance, to show that each
/// check below can fail.
fn wrong_samples(loc: &Tensor, l: &Tensor, n: i64, seed: i64) -> Tensor {
    tch::manual_seed(seed);
    let eps = Tensor::empty([n, loc.size()[0]], (loc.kind(), loc.device())).normal_(0.0, 1.0);
    loc + eps.matmul(l)
}

#[test]
fn gemm_sampler_leaves_the_generator_where_the_exact_sampler_does() {
    let mut rng = Rng::new(11);
    let _turn = lock();
    for (batch, d, n) in [(vec![], 3, 7), (vec![], 30, 101), (vec![2], 5, 17)] {
        let (loc, l) = random_case(&mut rng, &batch, d, Kind::Double);
        let gemm = gemm_dist(&loc, &l);
        let exact = gemm.clone().with_sampler(Sampler::Exact);
        let next_after = |dist: &MultivariateNormal| {
            tch::manual_seed(5);
            let _ = dist.sample(&[n]).expect("sampling works");
            Tensor::empty([16], tch::kind::DOUBLE_CPU).normal_(0.0, 1.0)
        };
        assert!(
            next_after(&gemm).equal(&next_after(&exact)),
            "d={d} batch={batch:?}"
        );
    }
}

/// Mean and covariance of 200 000 samples within 6 standard errors of loc and L Lᵀ, for every
/// member of a batch (each paired with its own L), in both dtypes; the same check refuses
/// samples of the wrong covariance Lᵀ L.
#[test]
fn gemm_samples_have_the_mean_and_covariance_of_the_distribution() {
    let n = 200_000i64;
    let mut rng = Rng::new(12);
    let _turn = lock();
    // The largest excess over the bound of the sample moments of `x` (n, d).
    let excess = |x: &Tensor, loc: &Tensor, cov: &Tensor| -> f64 {
        let x = x.to_kind(Kind::Double);
        let loc = loc.to_kind(Kind::Double);
        let cov = cov.to_kind(Kind::Double);
        let mean = x.mean_dim(0, false, Kind::Double);
        let centred = &x - &mean;
        let sample_cov = centred.tr().matmul(&centred) / (n - 1) as f64;
        let var = cov.diagonal(0, 0, 1);
        let mean_bound = (&var / n as f64).sqrt() * 6.0;
        let outer = var.unsqueeze(1) * var.unsqueeze(0);
        let cov_bound = ((outer + cov.square()) / n as f64).sqrt() * 6.0;
        let m = ((mean - loc).abs() - mean_bound).max().double_value(&[]);
        let c = ((sample_cov - &cov).abs() - cov_bound)
            .max()
            .double_value(&[]);
        m.max(c)
    };
    for kind in [Kind::Double, Kind::Float] {
        for (batch, d) in [(vec![], 5i64), (vec![], 24), (vec![3], 4)] {
            let (loc, l) = random_case(&mut rng, &batch, d, kind);
            tch::manual_seed(rng.next_u64() as i64 % 1000);
            let x = gemm_dist(&loc, &l).sample(&[n]).expect("sampling works");
            let members = batch.first().copied().unwrap_or(0);
            for i in 0..members.max(1) {
                let pick = |t: &Tensor, event_dims| member(t, members, i, event_dims);
                let (loc_i, l_i, x_i) = (pick(&loc, 1), pick(&l, 2), pick(&x, 1));
                let cov = l_i.matmul(&l_i.tr());
                let e = excess(&x_i, &loc_i, &cov);
                assert!(
                    e <= 0.0,
                    "{kind:?} d={d} batch={batch:?} member {i}: over by {e:e}"
                );
                if batch.is_empty() && d > 5 {
                    let wrong = wrong_samples(&loc_i, &l_i, n, 3);
                    assert!(excess(&wrong, &loc_i, &cov) > 0.0, "the check refuses Lᵀ L");
                }
            }
        }
    }
}

/// SciPy on gemm samples: scipy.stats.multivariate_normal's logpdf equals tchdist's log_prob,
/// and Kolmogorov-Smirnov tests find the squared Mahalanobis distances chi2(d), every
/// standardised coordinate N(0, 1) and every whitened pair sum N(0, 1) (p above 0.001 over the
/// number of tests of the kind); samples of the wrong covariance fail them.
#[test]
fn gemm_samples_agree_with_scipy_stats() {
    let mut rng = Rng::new(13);
    let mut cases = Vec::new();
    let mut described = Vec::new();
    {
        let _turn = lock();
        let configs: [(&[i64], i64, Kind, i64); 6] = [
            (&[], 3, Kind::Double, 5000),
            (&[], 10, Kind::Float, 5000),
            (&[], 25, Kind::Float, 4000),
            (&[], 40, Kind::Double, 4000),
            (&[2], 4, Kind::Double, 4000),
            (&[3], 30, Kind::Double, 3000),
        ];
        for (batch, d, kind, n) in configs {
            let (loc, l) = random_case(&mut rng, batch, d, kind);
            let dist = gemm_dist(&loc, &l);
            tch::manual_seed(rng.next_u64() as i64 % 1000);
            let x = dist.sample(&[n]).expect("sampling works");
            let lp = dist.log_prob(&x).expect("log_prob works");
            let members = batch.first().copied().unwrap_or(0);
            for i in 0..members.max(1) {
                let pick = |t: &Tensor, event_dims| member(t, members, i, event_dims);
                let (loc_i, l_i) = (pick(&loc, 1), pick(&l, 2));
                let cov = l_i.matmul(&l_i.tr());
                let (x_i, lp_i) = (pick(&x, 1), pick(&lp, 0));
                cases.push(scipy_case(&loc_i, &cov, &x_i, &lp_i));
                described.push((
                    format!("{kind:?} d={d} batch={batch:?} member {i} n={n}"),
                    d,
                    kind,
                    true,
                ));
            }
            if batch.is_empty() && d >= 10 {
                let wrong = wrong_samples(&loc, &l, n, 4);
                let cov = l.matmul(&l.tr());
                let wrong_lp = dist.log_prob(&wrong).expect("log_prob works");
                cases.push(scipy_case(&loc, &cov, &wrong, &wrong_lp));
                described.push((format!("{kind:?} d={d} Lᵀ L control"), d, kind, false));
            }
        }
    }
    let input = Value::Array(cases).to_string();
    let reply: Value =
        serde_json::from_str(&run_python_stdin("tests/pyref/scipy_mvn.py", &[], &input))
            .expect("Python printed JSON");
    let results = reply["results"].as_array().expect("a list of results");
    assert_eq!(results.len(), described.len());
    for (r, (what, d, kind, genuine)) in results.iter().zip(&described) {
        let get = |k: &str| r[k].as_f64().expect("a number");
        let tol = if *kind == Kind::Float { 1e-4 } else { 1e-9 };
        assert!(
            get("logpdf_max_err") <= tol,
            "{what}: logpdf differs by {}",
            get("logpdf_max_err")
        );
        let d = *d as f64;
        let passes = get("chi2_p") > 1e-3
            && get("marginal_p") > 1e-3 / d
            && get("pair_p") > 1e-3 / (d * (d - 1.0) / 2.0);
        assert_eq!(passes, *genuine, "{what}: SciPy's p-values {r}");
    }
}

fn scipy_case(loc: &Tensor, cov: &Tensor, x: &Tensor, lp: &Tensor) -> Value {
    let list = |t: &Tensor| -> Value {
        let t = t.to_kind(Kind::Double).contiguous();
        let shape = t.size();
        let flat = Vec::<f64>::try_from(t.reshape([-1])).expect("floats");
        match shape.len() {
            1 => json!(flat),
            _ => json!(flat.chunks(shape[1] as usize).collect::<Vec<_>>()),
        }
    };
    json!({"loc": list(loc), "cov": list(cov), "samples": list(x), "log_prob": list(lp)})
}
