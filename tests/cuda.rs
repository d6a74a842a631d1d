//! The distributions and every Jacobian method on a CUDA GPU, behind the `cuda-tests` feature
//! (`cargo test --release --features cuda-tests --test cuda` on a machine with a GPU; CI has
//! none). Two kinds of check:
//! - against live PyTorch on the same GPU (src/mvn_jacobian/pytorch_twin.py with `device: cuda`):
//!   samples bit for bit (the same Philox generator and kernels), log_prob and Jacobian within
//!   torch.testing's tolerances (cuBLAS/cuSOLVER may pick other kernels per call);
//! - every distribution member on CUDA against the same member on CPU for the same parameters
//!   (the CPU side is proven against PyTorch in tests/distributions.rs), within tolerance.
#![cfg(feature = "cuda-tests")]

mod common;

use common::{assert_close, json_nested, mvn_jacobian_in_python, random_spd, Rng};
use serde_json::{json, Value};
use tch::{Device, Kind, Tensor};
use tchdist::distributions::{
    AnyDistribution, Distribution, Independent, LowRankMultivariateNormal, MultivariateNormal,
    MvnParam, Normal,
};
use tchdist::mvn_jacobian::{mvn_log_prob_jacobian, JacobianMethod};

static GLOBAL_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// One member of a distribution, called with a value (ignored by the properties).
type Member = Box<dyn Fn(&AnyDistribution, &Tensor) -> tchdist::Result<Tensor>>;

fn cuda() -> Device {
    tchdist::device::device("cuda").expect("the cuda-tests feature needs a CUDA GPU")
}

/// torch.testing's default (rtol, atol) for the dtype.
fn tolerance(kind: Kind) -> (f64, f64) {
    if kind == Kind::Float {
        (1.3e-6, 1e-5)
    } else {
        (1e-7, 1e-7)
    }
}

fn from_json(values: &Value, kind: Kind) -> Tensor {
    let bits: Vec<u64> = common::json_bits(&values["bits"]);
    let floats: Vec<f64> = bits.into_iter().map(f64::from_bits).collect();
    Tensor::from_slice(&floats)
        .reshape(common::json_shape(&values["shape"]))
        .to_kind(kind)
}

#[test]
fn every_jacobian_method_on_cuda_matches_pytorch_on_cuda() {
    let device = cuda();
    let mut rng = Rng::new(0xc0da);
    let mut cases = Vec::new();
    for (i, method) in JacobianMethod::ALL.iter().cycle().take(40).enumerate() {
        let d = rng.int(1, 8) as usize;
        let kind = if i % 2 == 0 {
            Kind::Float
        } else {
            Kind::Double
        };
        let loc: Vec<f64> = (0..d).map(|_| rng.real(-2.0, 2.0)).collect();
        let cov = random_spd(&mut rng, d);
        let n = rng.int(1, 200);
        cases.push((*method, kind, d, loc, cov, n, rng.next_u64() % 10_000));
    }
    let input: Vec<Value> = cases
        .iter()
        .map(|(method, kind, d, loc, cov, n, seed)| {
            json!({
                "seed": seed,
                "dtype": if *kind == Kind::Float { "f32" } else { "f64" },
                "param": "covariance",
                "method": method.name(),
                "num_samples": n,
                "device": "cuda",
                "loc": serde_json::from_str::<Value>(&json_nested(loc, &[*d])).expect("json"),
                "matrix": serde_json::from_str::<Value>(&json_nested(cov, &[*d, *d])).expect("json"),
            })
        })
        .collect();
    let results = mvn_jacobian_in_python(input);
    for ((method, kind, d, loc, cov, n, seed), expected) in cases.iter().zip(&results) {
        let what = format!("{method} {kind:?} d={d} n={n} seed={seed}");
        let loc = Tensor::from_slice(loc).to_kind(*kind).to_device(device);
        let cov = Tensor::from_slice(cov)
            .reshape([*d as i64, *d as i64])
            .to_kind(*kind)
            .to_device(device);
        let run = {
            let _turn = GLOBAL_RNG.lock().unwrap_or_else(|e| e.into_inner());
            tch::manual_seed(*seed as i64);
            mvn_log_prob_jacobian(&loc, &MvnParam::CovarianceMatrix(cov), *n, *method)
                .unwrap_or_else(|e| panic!("{what}: {e}"))
        };
        assert_eq!(run.jacobian.device(), device, "{what}");
        let samples = from_json(&expected["samples"], *kind);
        assert!(
            run.samples.to_device(Device::Cpu).equal(&samples),
            "{what}: samples differ from PyTorch's on the same GPU"
        );
        let (rtol, atol) = tolerance(*kind);
        for name in ["log_prob", "jacobian"] {
            let ours = if name == "log_prob" {
                &run.log_prob
            } else {
                &run.jacobian
            };
            assert_close(
                &ours.to_device(Device::Cpu),
                &from_json(&expected[name], *kind),
                rtol,
                atol,
                &format!("{what}: {name}"),
            );
        }
    }
}

#[test]
fn every_distribution_member_on_cuda_agrees_with_cpu() {
    let device = cuda();
    let mut rng = Rng::new(0xd157);
    for i in 0..20 {
        let kind = if i % 2 == 0 {
            Kind::Float
        } else {
            Kind::Double
        };
        let (rtol, atol) = tolerance(kind);
        let d = rng.int(1, 6) as usize;
        let on = |values: Vec<f64>, shape: &[i64], dev: Device| {
            Tensor::from_slice(&values)
                .reshape(shape)
                .to_kind(kind)
                .to_device(dev)
        };
        let loc: Vec<f64> = (0..d).map(|_| rng.real(-2.0, 2.0)).collect();
        let cov = random_spd(&mut rng, d);
        let factor: Vec<f64> = (0..2 * d).map(|_| rng.real(-1.0, 1.0)).collect();
        let diag: Vec<f64> = (0..d).map(|_| rng.real(0.5, 2.0)).collect();
        let x: Vec<f64> = (0..3 * d).map(|_| rng.real(-3.0, 3.0)).collect();
        let di = d as i64;
        let build = |dev: Device| -> Vec<(String, AnyDistribution)> {
            let normal = || {
                Normal::new(&on(loc.clone(), &[di], dev), &on(diag.clone(), &[di], dev))
                    .expect("normal")
            };
            vec![
                ("Normal".into(), normal().into()),
                (
                    "Independent(Normal, 1)".into(),
                    Independent::new(normal(), 1).expect("independent").into(),
                ),
                (
                    "MultivariateNormal".into(),
                    MultivariateNormal::new(
                        &on(loc.clone(), &[di], dev),
                        MvnParam::CovarianceMatrix(on(cov.clone(), &[di, di], dev)),
                        true,
                    )
                    .expect("mvn")
                    .into(),
                ),
                (
                    "LowRankMultivariateNormal".into(),
                    LowRankMultivariateNormal::new(
                        &on(loc.clone(), &[di], dev),
                        &on(factor.clone(), &[di, 2], dev),
                        &on(diag.clone(), &[di], dev),
                    )
                    .expect("lowrank")
                    .into(),
                ),
            ]
        };
        for ((name, gpu), (_, cpu)) in build(device).into_iter().zip(build(Device::Cpu)) {
            let value = on(x.clone(), &[3, di], Device::Cpu);
            let members: [(&str, Member); 5] = [
                ("log_prob", Box::new(|dist, v| dist.log_prob(v))),
                ("entropy", Box::new(|dist, _| dist.entropy())),
                ("mean", Box::new(|dist, _| dist.mean())),
                ("variance", Box::new(|dist, _| dist.variance())),
                ("stddev", Box::new(|dist, _| dist.stddev())),
            ];
            for (member, f) in &members {
                let want = f(&cpu, &value).unwrap_or_else(|e| panic!("{name}.{member} cpu: {e}"));
                let got = f(&gpu, &value.to_device(device))
                    .unwrap_or_else(|e| panic!("{name}.{member} cuda: {e}"));
                assert_eq!(got.device(), device, "{name}.{member}");
                assert_close(
                    &got.to_device(Device::Cpu),
                    &want,
                    rtol,
                    atol,
                    &format!("{name}.{member} {kind:?}"),
                );
            }
            let drawn = gpu
                .rsample(&[4, 2])
                .unwrap_or_else(|e| panic!("{name}.rsample: {e}"));
            assert_eq!(drawn.device(), device, "{name}.rsample");
            let mut shape = vec![4, 2];
            shape.extend(gpu.batch_shape());
            shape.extend(gpu.event_shape());
            assert_eq!(drawn.size(), shape, "{name}.rsample shape");
        }
    }
}
