//! MultivariateNormal's sampling takes a faster route to ATen's bits for the product
//! `L @ eps` when L is column-major, as `torch.linalg.cholesky` returns it (one MKL gemv per
//! sample instead of ATen's batched gemm; src/shim/batch_mv.cpp).
//! These tests hold it to `torch.matmul` itself, in this process, over the shapes where the
//! route applies and where it must not (small d, batched scale, autograd), and
//! tests/mvn_jacobian.rs holds the whole pipeline at d >= 20 to live PyTorch.

mod common;

use common::{random_scale_tril, Rng};
use tch::{Kind, Tensor};
use tchdist::distributions::{Distribution, MultivariateNormal, MvnParam};

static GLOBAL_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// PyTorch's rsample written out with tch (the same libtorch): `loc + matmul(L, eps[..., None])`
/// with `eps = empty(shape).normal_()` after the same seed.
fn pytorch_sample(loc: &Tensor, scale_tril: &Tensor, shape: &[i64], seed: i64) -> Tensor {
    tch::manual_seed(seed);
    let eps = Tensor::empty(shape, (loc.kind(), loc.device())).normal_(0.0, 1.0);
    loc + scale_tril.matmul(&eps.unsqueeze(-1)).squeeze_dim(-1)
}

fn tchdist_sample(loc: &Tensor, scale_tril: &Tensor, sample_shape: &[i64], seed: i64) -> Tensor {
    let dist = MultivariateNormal::new(loc, MvnParam::ScaleTril(scale_tril.shallow_clone()), false)
        .expect("a valid distribution");
    tch::manual_seed(seed);
    dist.sample(sample_shape).expect("sampling works")
}

/// A random d x d scale_tril of `kind`, row-major, and the same values column-major (the layout
/// `linalg.cholesky` returns, which the route needs).
fn scale_trils(rng: &mut Rng, d: i64, kind: Kind) -> (Tensor, Tensor) {
    let row_major = Tensor::from_slice(&random_scale_tril(rng, d as usize))
        .reshape([d, d])
        .to_kind(kind);
    let column_major = row_major.tr().contiguous().tr();
    (row_major, column_major)
}

fn same_bits(a: &Tensor, b: &Tensor) -> bool {
    a.size() == b.size() && a.kind() == b.kind() && a.equal(b)
}

#[test]
fn samples_equal_torch_matmul_bit_for_bit_for_every_d_from_1_to_80_and_larger_ones() {
    let _turn = GLOBAL_RNG
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut rng = Rng::new(17);
    let mut failures = Vec::new();
    let mut routed = Vec::new();
    let mut dims: Vec<i64> = (1..=80).collect();
    dims.extend([95, 128, 150, 200, 256, 301]);
    for (i, d) in dims.into_iter().enumerate() {
        let kind = if i % 2 == 0 {
            Kind::Double
        } else {
            Kind::Float
        };
        let (row_major, col_major) = scale_trils(&mut rng, d, kind);
        let loc = Tensor::from_slice(&(0..d).map(|_| rng.real(-2.0, 2.0)).collect::<Vec<_>>())
            .to_kind(kind);
        for column_major in [true, false] {
            let l = if column_major { &col_major } else { &row_major };
            // 1 and 2 samples (ATen's bmm makes one gemm call for a single vector), an odd count,
            // a count over several threads' grain, and a two-dimensional sample shape.
            for sample_shape in [vec![1], vec![2], vec![37], vec![1500], vec![3, 5]] {
                let seed = rng.int(0, 1 << 30);
                let mut shape = sample_shape.clone();
                shape.push(d);
                let want = pytorch_sample(&loc, l, &shape, seed);
                let (before, _) = tchdist::testing::sample_route_stats();
                let got = tchdist_sample(&loc, l, &sample_shape, seed);
                let (after, off) = tchdist::testing::sample_route_stats();
                assert!(
                    !off,
                    "the route's guard found a difference at d={d} {kind:?}"
                );
                routed.push((d, column_major, after > before));
                if !same_bits(&got, &want) {
                    failures.push(format!(
                        "d={d} {kind:?} column_major={column_major} sample_shape={sample_shape:?}"
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "differ from torch.matmul: {failures:?}"
    );
    // The route ran exactly where ATen's bmm goes to MKL's batched gemm (d x d >= 400) with a
    // column-major L.
    let wrong: Vec<_> = routed
        .iter()
        .filter(|(d, c, r)| *r != (*c && d * d >= 400))
        .collect();
    assert!(
        wrong.is_empty(),
        "route taken where it should not be, or not taken: {wrong:?}"
    );
}

#[test]
fn batched_loc_and_batched_scale_samples_equal_torch_matmul_bit_for_bit() {
    let _turn = GLOBAL_RNG
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut rng = Rng::new(5);
    for (batch, d, kind) in [
        (3i64, 24i64, Kind::Double),
        (2, 50, Kind::Float),
        (4, 21, Kind::Float),
    ] {
        // A batched loc with one scale: the route applies (eps is (n, batch, d)).
        let (_, l) = scale_trils(&mut rng, d, kind);
        let loc = Tensor::randn([batch, d], (kind, tch::Device::Cpu));
        let (before, _) = tchdist::testing::sample_route_stats();
        let want = pytorch_sample(&loc, &l, &[9, batch, d], 11);
        let got = tchdist_sample(&loc, &l, &[9], 11);
        assert!(same_bits(&got, &want), "batched loc, d={d} {kind:?}");
        assert_eq!(tchdist::testing::sample_route_stats(), (before + 1, false));
        // A batched scale: ATen's own matmul (the route does not apply).
        let lb = Tensor::stack(&[&l, &(&l * 0.5)], 0);
        let locb = Tensor::zeros([2, d], (kind, tch::Device::Cpu));
        let want = pytorch_sample(&locb, &lb, &[7, 2, d], 12);
        let got = tchdist_sample(&locb, &lb, &[7], 12);
        assert!(same_bits(&got, &want), "batched scale, d={d} {kind:?}");
    }
}

#[test]
fn rsample_through_a_scale_that_requires_grad_keeps_pytorchs_product_and_its_gradient() {
    let _turn = GLOBAL_RNG
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut rng = Rng::new(9);
    let d = 30;
    let l = scale_trils(&mut rng, d, Kind::Double)
        .1
        .set_requires_grad(true);
    let loc = Tensor::zeros([d], (Kind::Double, tch::Device::Cpu));
    // With L requiring grad ATen folds the product into one mm (should_fold): the route must
    // step aside so that both the bits and the graph are PyTorch's.
    let want = pytorch_sample(&loc, &l, &[40, d], 3);
    let (before, _) = tchdist::testing::sample_route_stats();
    let dist = MultivariateNormal::new(&loc, MvnParam::ScaleTril(l.shallow_clone()), false)
        .expect("a valid distribution");
    tch::manual_seed(3);
    let got = dist.rsample(&[40]).expect("rsample works");
    assert!(same_bits(&got, &want));
    assert_eq!(
        tchdist::testing::sample_route_stats().0,
        before,
        "the route stepped aside"
    );
    assert!(got.requires_grad());
    let g_got = Tensor::run_backward(&[got.sum(Kind::Double)], &[&l], false, false);
    let g_want = Tensor::run_backward(&[want.sum(Kind::Double)], &[&l], false, false);
    assert!(same_bits(&g_got[0], &g_want[0]));
}
