//! Autodiff identities for `tchdist::autograd::functional` in float64: the vjp/jvp dot-product
//! identity, Jacobians and Hessians against central finite differences, and forward mode on
//! many threads.
#![allow(dead_code)]

mod common;

use common::{check_bitwise_eq, json_bits, json_shape, random_scale_tril, run_python_stdin, Rng};
use serde_json::{json, Value};
use tch::{Device, Kind, Tensor};
use tchdist::autograd::functional::{
    hessian, hessian_multi, hvp, jacobian, jacobian_multi, jvp, vhp, vjp, HessianOptions,
    JacobianOptions, ProductOptions, Strategy,
};
use tchdist::autograd::{grad, GradOptions};
use tchdist::distributions::{Distribution, MultivariateNormal};
use tchdist::Error;

// The function table, the random cases and both interpreters, shared by the three files.
include!("common/functional_cases.rs");

// ---------------------------------------------------------------------------------------------
// Autodiff identities and finite differences (float64, non-MVN functions).

/// Row-major float64 values of `t`.
fn values(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.detach().to_kind(Kind::Double).contiguous().reshape([-1]))
        .expect("float tensor")
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `f` at inputs given as float64 values and shapes, without a graph; flattened outputs.
fn eval(name: &str, inputs: &[(Vec<f64>, Vec<i64>)]) -> Vec<Vec<f64>> {
    let xs: Vec<Tensor> = inputs
        .iter()
        .map(|(v, s)| Tensor::from_slice(v).reshape(s.as_slice()))
        .collect();
    tch::no_grad(|| call(name, Kind::Double, None, &xs))
        .expect("evaluates")
        .iter()
        .map(values)
        .collect()
}

/// Random float64 cases of the functions these tests use (no MVN: its parity is proven bit for
/// bit above; no constant, leaf or degenerate-normalisation functions).
fn smooth_cases(names: &[&'static str], per_function: usize, seed: u64) -> Vec<(Func, Vec<Spec>)> {
    let mut rng = Rng::new(seed);
    names
        .iter()
        .flat_map(|&n| std::iter::repeat_n(find(n), per_function))
        .map(|f| (f, random_inputs(&mut rng, f).0))
        .collect()
}

#[test]
fn jvp_and_vjp_satisfy_the_dot_product_identity_in_float64() {
    // <w, J u> (jvp, PyTorch's double-backward trick) against <J^T w, u> (vjp): the same
    // bilinear form, summed in different orders through different backward graphs. Each side
    // is a sum of at most N <= 36 products w_i J_ij u_j with J_ij itself a short chain-rule
    // product, so in float64 the two differ by at most a few hundred eps times
    // S = sum |w_i| |J_ij| |u_j| (eps = 2.2e-16). A relative tolerance of 1e-12 against S
    // (about 4500 eps) is loose enough for every rounding order and still five orders of
    // magnitude below what a wrong term (a relative error of order one) would give.
    let names = [
        "quartic",
        "elementwise",
        "two_outputs",
        "pair_scalar",
        "separable",
        "unused_input",
        "matmul_chain",
        "log_softmax",
        "logsigmoid",
        "softmax_sum",
        "trace_cube",
    ];
    let mut rng = Rng::new(2718);
    let cases = smooth_cases(&names, 8, 31);
    assert!(cases.len() >= 80);
    for (f, inputs) in cases {
        let xs: Vec<Tensor> = inputs.iter().map(|s| s.tensor(Kind::Double)).collect();
        let refs: Vec<&Tensor> = xs.iter().collect();
        let outs = outputs_of(f, &inputs, None);
        let u: Vec<Tensor> = inputs
            .iter()
            .map(|s| Spec::random(&mut rng, &s.shape, -1.0, 1.0).tensor(Kind::Double))
            .collect();
        let w: Vec<Tensor> = outs
            .iter()
            .map(|s| Spec::random(&mut rng, s, -1.0, 1.0).tensor(Kind::Double))
            .collect();
        let func = |x: &[Tensor]| call(f.name, Kind::Double, None, x);
        let opts = ProductOptions::default();
        let u_refs: Vec<&Tensor> = u.iter().collect();
        let w_refs: Vec<&Tensor> = w.iter().collect();
        let (_, ju) = jvp(func, &refs, Some(&u_refs), &opts).expect("jvp");
        let (_, jtw) = vjp(func, &refs, Some(&w_refs), &opts).expect("vjp");
        let lhs: f64 = w
            .iter()
            .zip(&ju)
            .map(|(a, b)| dot(&values(a), &values(b)))
            .sum();
        let rhs: f64 = jtw
            .iter()
            .zip(&u)
            .map(|(a, b)| dot(&values(a), &values(b)))
            .sum();
        let jac = jacobian_multi(func, &refs, &JacobianOptions::default()).expect("jacobian");
        let mut scale = 0.0;
        for (wi, row) in w.iter().zip(&jac) {
            let wi = values(wi);
            for (uj, j) in u.iter().zip(row) {
                let (uj, j) = (values(uj), values(j));
                for (a, wa) in wi.iter().enumerate() {
                    for (b, ub) in uj.iter().enumerate() {
                        scale += (wa * j[a * uj.len() + b] * ub).abs();
                    }
                }
            }
        }
        assert!(
            (lhs - rhs).abs() <= 1e-12 * scale,
            "{}: <w, Ju> = {lhs:e}, <J^T w, u> = {rhs:e}, scale {scale:e}, inputs {:?}",
            f.name,
            inputs.iter().map(|s| &s.shape).collect::<Vec<_>>()
        );
    }
}

#[test]
fn jacobian_agrees_with_central_differences_in_float64() {
    // (f(x + h e_j) - f(x - h e_j)) / 2h with h = 1e-5 has truncation error h^2/6 |f'''|
    // and rounding error about eps |f| / h. On these functions with |x| <= 1.5, |f| and
    // |f'''| stay below about 300 (exp(xy) and its derivatives are the largest), so the
    // difference quotient is within about 5e-9 + 7e-9 of the derivative. The tolerance
    // 1e-6 (1 + |J|) leaves two orders of magnitude for that and still catches any wrong
    // term. Every mode PyTorch offers is checked: the loop, vectorize=True, and forward mode.
    let names = [
        "quartic",
        "elementwise",
        "two_outputs",
        "pair_scalar",
        "separable",
        "matmul_chain",
        "log_softmax",
        "logsigmoid",
        "softmax_sum",
        "trace_cube",
    ];
    let h = 1e-5;
    let modes = [
        JacobianOptions::default(),
        JacobianOptions {
            vectorize: true,
            ..Default::default()
        },
        JacobianOptions {
            vectorize: true,
            strategy: Strategy::ForwardMode,
            ..Default::default()
        },
    ];
    let cases = smooth_cases(&names, 6, 41);
    assert!(cases.len() >= 60);
    for (k, (f, inputs)) in cases.iter().enumerate() {
        let mut opts = &modes[k % modes.len()];
        if f.name == "matmul_chain" && inputs[0].shape.len() == 1 {
            // Forward mode through a vector @ matrix product fails in PyTorch too ("Trying to
            // set a forward gradient that has a different size ..."; the error table has it).
            opts = &modes[1];
        }
        let xs: Vec<Tensor> = inputs.iter().map(|s| s.tensor(Kind::Double)).collect();
        let refs: Vec<&Tensor> = xs.iter().collect();
        let jac = jacobian_multi(|x| call(f.name, Kind::Double, None, x), &refs, opts)
            .unwrap_or_else(|e| panic!("{} {opts:?} {inputs:?}: {e}", f.name));
        let point: Vec<(Vec<f64>, Vec<i64>)> = inputs
            .iter()
            .map(|s| (s.values.clone(), s.shape.clone()))
            .collect();
        for (j, spec) in inputs.iter().enumerate() {
            for e in 0..spec.values.len() {
                let shifted = |delta: f64| {
                    let mut p = point.clone();
                    p[j].0[e] += delta;
                    eval(f.name, &p)
                };
                let (plus, minus) = (shifted(h), shifted(-h));
                for (i, row) in jac.iter().enumerate() {
                    let jij = values(&row[j]);
                    let n_in = spec.values.len();
                    for a in 0..plus[i].len() {
                        let fd = (plus[i][a] - minus[i][a]) / (2.0 * h);
                        let ad = jij[a * n_in + e];
                        assert!(
                            (fd - ad).abs() <= 1e-6 * (1.0 + ad.abs()),
                            "{} {opts:?}: d out{i}[{a}] / d in{j}[{e}]: autodiff {ad:e}, \
                             central difference {fd:e}",
                            f.name
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn hessian_agrees_with_second_central_differences_in_float64() {
    // H_ab ~ [f(x+h e_a+h e_b) - f(x+h e_a-h e_b) - f(x-h e_a+h e_b) + f(x-h e_a-h e_b)] / 4h^2
    // with h = 2e-4: truncation about h^2/6 max|f''''| <= 7e-9 * 1000, rounding about
    // 4 eps max|f| / 4h^2 = 5.6e-9 * max|f| <= 3e-7 for |f| <= 50 on these functions with
    // |x| <= 1.5. The tolerance 1e-4 (1 + |H|) leaves more than an order of magnitude above
    // that and still catches any wrong term. Reverse and forward outer strategies both.
    let names = [
        "quartic",
        "quadratic",
        "pair_scalar",
        "separable",
        "unused_input",
        "matmul_chain_sum",
        "log_softmax_sum",
        "softmax_sum",
        "logsigmoid_sum",
        "trace_cube",
    ];
    let h = 2e-4;
    let cases = smooth_cases(&names, 6, 51);
    assert!(cases.len() >= 60);
    for (k, (f, inputs)) in cases.iter().enumerate() {
        let opts = HessianOptions {
            vectorize: k % 2 == 1,
            outer_jacobian_strategy: if k % 2 == 1 {
                Strategy::ForwardMode
            } else {
                Strategy::ReverseMode
            },
            ..Default::default()
        };
        let xs: Vec<Tensor> = inputs.iter().map(|s| s.tensor(Kind::Double)).collect();
        let refs: Vec<&Tensor> = xs.iter().collect();
        let hess = hessian_multi(
            |x| Ok(call(f.name, Kind::Double, None, x)?.remove(0)),
            &refs,
            &opts,
        )
        .expect("hessian");
        let point: Vec<(Vec<f64>, Vec<i64>)> = inputs
            .iter()
            .map(|s| (s.values.clone(), s.shape.clone()))
            .collect();
        let at = |moves: &[(usize, usize, f64)]| {
            let mut p = point.clone();
            for &(i, e, d) in moves {
                p[i].0[e] += d;
            }
            eval(f.name, &p)[0][0]
        };
        for (i, si) in inputs.iter().enumerate() {
            for (j, sj) in inputs.iter().enumerate() {
                let hij = values(&hess[i][j]);
                for a in 0..si.values.len() {
                    for b in 0..sj.values.len() {
                        let fd = (at(&[(i, a, h), (j, b, h)])
                            - at(&[(i, a, h), (j, b, -h)])
                            - at(&[(i, a, -h), (j, b, h)])
                            + at(&[(i, a, -h), (j, b, -h)]))
                            / (4.0 * h * h);
                        let ad = hij[a * sj.values.len() + b];
                        assert!(
                            (fd - ad).abs() <= 1e-4 * (1.0 + ad.abs()),
                            "{} {opts:?}: d2 f / d in{i}[{a}] d in{j}[{b}]: autodiff {ad:e}, \
                             second difference {fd:e}",
                            f.name
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn forward_mode_on_many_threads_takes_turns_and_matches_one_thread() {
    // libtorch keeps forward-AD levels process-wide: without tchdist's lock, a second thread
    // entering a dual level fails ("Nested forward mode AD is not supported at the moment")
    // or writes tangents into the first thread's level. Forward-mode Jacobians and
    // forward-over-reverse Hessians on several threads at once must all succeed and equal the
    // one-thread results bit for bit.
    fn run() -> (Vec<u64>, Vec<u64>) {
        let x = Tensor::from_slice(&[0.3f64, -0.7, 1.1, 0.4]).reshape([2, 2]);
        let jac = jacobian(
            |x| Ok(x.f_sin()?.f_mul(&x.f_exp()?)?),
            &x,
            &JacobianOptions {
                vectorize: true,
                strategy: Strategy::ForwardMode,
                ..Default::default()
            },
        )
        .expect("forward jacobian");
        let hess = hessian(
            |x| {
                Ok(x.f_log_softmax(-1, None::<Kind>)?
                    .f_mul(x)?
                    .f_sum(None::<Kind>)?)
            },
            &x,
            &HessianOptions {
                vectorize: true,
                outer_jacobian_strategy: Strategy::ForwardMode,
                ..Default::default()
            },
        )
        .expect("forward-over-reverse hessian");
        let bits = |t: &Tensor| values(t).into_iter().map(f64::to_bits).collect();
        (bits(&jac), bits(&hess))
    }
    let want = run();
    let threads: Vec<_> = (0..4)
        .map(|_| std::thread::spawn(|| (0..40).map(|_| run()).collect::<Vec<_>>()))
        .collect();
    for t in threads {
        for got in t.join().expect("thread finished") {
            assert_eq!(got, want);
        }
    }
}
