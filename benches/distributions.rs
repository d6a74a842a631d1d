//! The distributions' hot paths (`cargo bench --bench distributions`): MultivariateNormal's
//! constructor (Cholesky and validation), rsample, log_prob and the closed-form score, on
//! f64 cases of growing size.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use tch::{Device, Kind};
use tchdist::distributions::{Distribution, MultivariateNormal, MvnParam};
use tchdist::mvn_jacobian::bench_case;

fn multivariate_normal(c: &mut Criterion) {
    let mut group = c.benchmark_group("multivariate_normal");
    group.sample_size(20);
    for (n, d) in [(1000i64, 10i64), (2000, 50)] {
        let (loc, cov) = bench_case(d, Kind::Double, Device::Cpu, 0).expect("bench case");
        let id = format!("n{n}_d{d}");
        let new = || {
            MultivariateNormal::new(&loc, MvnParam::CovarianceMatrix(cov.shallow_clone()), true)
                .expect("valid parameters")
        };
        group.bench_function(BenchmarkId::new("new", &id), |b| b.iter(new));
        let dist = new();
        group.bench_function(BenchmarkId::new("rsample", &id), |b| {
            b.iter(|| dist.rsample(&[n]).expect("rsample"))
        });
        tch::manual_seed(1);
        let x = dist.sample(&[n]).expect("sample");
        group.bench_function(BenchmarkId::new("log_prob", &id), |b| {
            b.iter(|| dist.log_prob(&x).expect("log_prob"))
        });
        group.bench_function(BenchmarkId::new("score_loc", &id), |b| {
            b.iter(|| dist.score_loc(&x).expect("score"))
        });
    }
    group.finish();
}

criterion_group!(benches, multivariate_normal);
criterion_main!(benches);
