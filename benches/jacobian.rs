//! The library's hot paths for the motivating question: every Jacobian method on a small and a
//! medium case (`cargo bench --bench jacobian`). Each iteration is the whole pipeline that
//! `tchdist bench` times: build the distribution, sample, log_prob, Jacobian. The side-by-side
//! comparison with PyTorch is `scripts/bench`; these are for tracking tchdist's own changes.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use tch::{Device, Kind};
use tchdist::distributions::MvnParam;
use tchdist::mvn_jacobian::{bench_case, mvn_log_prob_jacobian, JacobianMethod};

fn methods(c: &mut Criterion) {
    let mut group = c.benchmark_group("jacobian");
    group.sample_size(10);
    for (n, d) in [(10i64, 2i64), (200, 8)] {
        let (loc, cov) = bench_case(d, Kind::Double, Device::Cpu, 0).expect("bench case");
        let param = MvnParam::CovarianceMatrix(cov);
        for method in JacobianMethod::ALL {
            // The reverse loops cost n backward passes: keep them to the small case.
            let quadratic = matches!(
                method,
                JacobianMethod::Loop | JacobianMethod::Functional | JacobianMethod::BatchedLoop
            );
            if quadratic && n > 10 {
                continue;
            }
            group.bench_with_input(
                BenchmarkId::new(method.name(), format!("n{n}_d{d}")),
                &(n, d),
                |b, &(n, _)| {
                    b.iter(|| {
                        tch::manual_seed(1);
                        mvn_log_prob_jacobian(&loc, &param, n, method).expect("jacobian")
                    })
                },
            );
        }
    }
    group.finish();
}

criterion_group!(benches, methods);
criterion_main!(benches);
