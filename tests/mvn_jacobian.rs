//! The motivating question against live PyTorch: samples, log-probabilities and the Jacobian
//! with respect to the mean, bit for bit, on random cases (src/mvn_jacobian/pytorch_twin.py runs
//! the same programs in Python).

mod common;

use common::{
    check_bitwise_eq, json_bits, json_nested, json_shape, mvn_jacobian_in_python,
    random_scale_tril, random_spd, Rng,
};
use serde_json::{json, Value};
use tch::{Kind, Tensor};
use tchdist::distributions::{MvnParam, Sampler};
use tchdist::mvn_jacobian::{
    mvn_log_prob_jacobian_at, mvn_log_prob_jacobian_chunked, mvn_log_prob_jacobian_with_sampler,
    JacobianMethod,
};

struct Case {
    seed: u64,
    dtype: Kind,
    param: &'static str,
    method: JacobianMethod,
    batch: Vec<usize>,
    d: usize,
    num_samples: i64,
    loc: Vec<f64>,
    matrix: Vec<f64>,
    /// Given points (values, shape) instead of `num_samples` drawn ones.
    value: Option<(Vec<f64>, Vec<usize>)>,
    /// How the samples are formed (the twin's `draw`).
    sampler: Sampler,
}

impl Case {
    fn loc_shape(&self) -> Vec<usize> {
        let mut s = self.batch.clone();
        s.push(self.d);
        s
    }

    fn matrix_shape(&self) -> Vec<usize> {
        let mut s = self.batch.clone();
        s.extend([self.d, self.d]);
        s
    }

    fn to_json(&self) -> Value {
        let mut case = json!({
            "seed": self.seed,
            "dtype": if self.dtype == Kind::Float { "f32" } else { "f64" },
            "param": self.param,
            "method": self.method.name(),
            "sampler": self.sampler.name(),
            "num_samples": self.num_samples,
            "loc": serde_json::from_str::<Value>(&json_nested(&self.loc, &self.loc_shape())).unwrap(),
            "matrix": serde_json::from_str::<Value>(&json_nested(&self.matrix, &self.matrix_shape())).unwrap(),
        });
        if let Some((values, shape)) = &self.value {
            case["value"] = serde_json::from_str::<Value>(&json_nested(values, shape)).unwrap();
        }
        case
    }

    fn describe(&self) -> String {
        format!(
            "seed={} dtype={:?} param={} method={} sampler={} batch={:?} d={} n={} value={:?}",
            self.seed,
            self.dtype,
            self.param,
            self.method,
            self.sampler.name(),
            self.batch,
            self.d,
            self.num_samples,
            self.value.as_ref().map(|(_, shape)| shape)
        )
    }
}

/// Sample counts on both sides of CPU `normal_`'s 16-element vectorised path, and large ones.
const SAMPLE_COUNTS: [i64; 14] = [1, 2, 3, 7, 8, 15, 16, 17, 31, 33, 64, 100, 257, 300];

/// `count` random cases; the foundation's two methods alternate when `methods` is `None`.
fn random_cases(
    count: usize,
    seed: u64,
    methods: Option<&[JacobianMethod]>,
    max_samples: i64,
) -> Vec<Case> {
    let mut rng = Rng::new(seed);
    let per_round = methods.map_or(1, <[JacobianMethod]>::len);
    (0..count)
        .map(|i| {
            let d = rng.int(1, 8) as usize;
            // Each method meets both dtypes, whatever the length of the method list.
            let dtype = if (i + i / per_round) % 2 == 0 {
                Kind::Float
            } else {
                Kind::Double
            };
            let param = ["covariance", "precision", "scale_tril"][i % 3];
            // Every seventh case is batched; the loop's grad needs one scalar per log-prob, so
            // it runs unbatched, as in Python.
            let method = match methods {
                Some(list) => list[i % list.len()],
                None if i % 7 != 3 && i % 4 == 1 => JacobianMethod::Loop,
                None => JacobianMethod::Functional,
            };
            let unbatched_only = matches!(method, JacobianMethod::Loop | JacobianMethod::PerSample);
            let batch: Vec<usize> = if i % 7 == 3 && !unbatched_only {
                (0..rng.int(1, 2)).map(|_| rng.int(1, 3) as usize).collect()
            } else {
                vec![]
            };
            let num_samples = if batch.is_empty() {
                rng.pick(&SAMPLE_COUNTS).min(max_samples)
            } else {
                rng.int(1, 17)
            };
            let batch_size: usize = batch.iter().product();
            let loc = (0..batch_size * d).map(|_| rng.real(-3.0, 3.0)).collect();
            let matrix = random_matrices(&mut rng, param, batch_size, d);
            Case {
                seed: rng.next_u64() % 100_000,
                dtype,
                param,
                method,
                batch,
                d,
                num_samples,
                loc,
                matrix,
                value: None,
                sampler: Sampler::Exact,
            }
        })
        .collect()
}

/// The cases with given points instead of drawn samples: `(n,) + batch + (d,)`, or
/// `(n, 1, ..., 1, d)` broadcast against the batch shape, random values around the mean.
fn with_given_points(cases: Vec<Case>, seed: u64) -> Vec<Case> {
    let mut rng = Rng::new(seed);
    cases
        .into_iter()
        .map(|mut case| {
            let mut shape = vec![case.num_samples as usize];
            if rng.int(0, 2) > 0 {
                shape.extend(&case.batch);
            } else {
                shape.extend(case.batch.iter().map(|_| 1));
            }
            shape.push(case.d);
            let count: usize = shape.iter().product();
            let values = (0..count).map(|_| rng.real(-4.0, 4.0)).collect();
            case.value = Some((values, shape));
            case
        })
        .collect()
}

/// `batch_size` random matrices of the kind `param` names (a scale_tril, else an SPD matrix),
/// flattened one after another.
fn random_matrices(rng: &mut Rng, param: &str, batch_size: usize, d: usize) -> Vec<f64> {
    (0..batch_size)
        .flat_map(|_| {
            if param == "scale_tril" {
                random_scale_tril(rng, d)
            } else {
                random_spd(rng, d)
            }
        })
        .collect()
}

static GLOBAL_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn run_rust(case: &Case) -> tchdist::Result<tchdist::mvn_jacobian::MvnJacobian> {
    run_rust_chunked(case, None)
}

/// `chunk`: `None` runs [`mvn_log_prob_jacobian`] (the basis chunk it picks for the budget),
/// `Some(c)` forces `c` basis rows per batched backward pass (`Some(None)`: one pass).
fn run_rust_chunked(
    case: &Case,
    chunk: Option<Option<i64>>,
) -> tchdist::Result<tchdist::mvn_jacobian::MvnJacobian> {
    let shape = |s: Vec<usize>| s.into_iter().map(|x| x as i64).collect::<Vec<i64>>();
    let loc = Tensor::from_slice(&case.loc)
        .reshape(shape(case.loc_shape()))
        .to_kind(case.dtype);
    let matrix = Tensor::from_slice(&case.matrix)
        .reshape(shape(case.matrix_shape()))
        .to_kind(case.dtype);
    let param = match case.param {
        "covariance" => MvnParam::CovarianceMatrix(matrix),
        "precision" => MvnParam::PrecisionMatrix(matrix),
        _ => MvnParam::ScaleTril(matrix),
    };
    // libtorch's generator is global and the test harness runs tests on parallel threads:
    // seeding and drawing happen under one lock.
    let _turn = GLOBAL_RNG
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    tch::manual_seed(case.seed as i64);
    if let Some((values, value_shape)) = &case.value {
        let value = Tensor::from_slice(values)
            .reshape(shape(value_shape.clone()))
            .to_kind(case.dtype);
        return mvn_log_prob_jacobian_at(&loc, &param, &value, case.method);
    }
    match chunk {
        None => mvn_log_prob_jacobian_with_sampler(
            &loc,
            &param,
            case.num_samples,
            case.method,
            case.sampler,
        ),
        Some(c) => mvn_log_prob_jacobian_chunked(&loc, &param, case.num_samples, case.method, c),
    }
}

fn compare_with_python(cases: &[Case]) {
    let results = mvn_jacobian_in_python(cases.iter().map(Case::to_json).collect());
    let mut failures = Vec::new();
    for (case, expected) in cases.iter().zip(&results) {
        let run = match run_rust(case) {
            Ok(run) => run,
            Err(e) => {
                failures.push(format!("{}: error {e}", case.describe()));
                continue;
            }
        };
        for (name, tensor) in [
            ("samples", &run.samples),
            ("log_prob", &run.log_prob),
            ("jacobian", &run.jacobian),
        ] {
            let want = &expected[name];
            if let Err(msg) = check_bitwise_eq(
                name,
                tensor,
                &json_bits(&want["bits"]),
                &json_shape(&want["shape"]),
            ) {
                failures.push(format!("{}: {msg}", case.describe()));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} tensors differ from PyTorch over {} cases:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn samples_log_prob_and_jacobian_match_pytorch_bit_for_bit_on_120_random_cases() {
    let cases = random_cases(120, 2024, None, 300);
    // The table must cover both sides of normal_'s 16-element threshold and both methods.
    assert!(cases.iter().any(|c| c.num_samples as usize * c.d < 16));
    assert!(cases
        .iter()
        .any(|c| c.num_samples as usize * c.d >= 16 && (c.num_samples as usize * c.d) % 16 != 0));
    assert!(cases.iter().any(|c| c.method == JacobianMethod::Loop));
    assert!(cases.iter().any(|c| !c.batch.is_empty()));
    compare_with_python(&cases);
}

#[test]
fn sample_counts_around_the_vectorised_normal_threshold_match_pytorch() {
    let mut rng = Rng::new(7);
    let cases: Vec<Case> = [15i64, 16, 17]
        .into_iter()
        .flat_map(|n| [Kind::Float, Kind::Double].map(move |k| (n, k)))
        .map(|(num_samples, dtype)| {
            let d = 1;
            Case {
                seed: rng.next_u64() % 1000,
                dtype,
                param: "covariance",
                method: JacobianMethod::Functional,
                batch: vec![],
                d,
                num_samples,
                loc: vec![rng.real(-1.0, 1.0)],
                matrix: random_spd(&mut rng, d),
                value: None,
                sampler: Sampler::Exact,
            }
        })
        .collect();
    compare_with_python(&cases);
}

/// At d >= 20 a column-major Cholesky factor sends sampling through the shim's gemv route
/// (src/shim/batch_mv.cpp); these cases hold it, and every parameterisation around it, to
/// live PyTorch.
#[test]
fn samples_at_dimensions_20_and_above_match_pytorch_bit_for_bit_on_18_cases() {
    let mut rng = Rng::new(31);
    let (before, _) = tchdist::testing::sample_route_stats();
    let methods = [
        JacobianMethod::Analytic,
        JacobianMethod::Forward,
        JacobianMethod::Jacrev,
    ];
    let cases: Vec<Case> = (0..18)
        .map(|i| {
            let d = [20usize, 23, 50][i % 3];
            let param = ["covariance", "precision", "scale_tril"][(i / 3) % 3];
            let batch = if i % 5 == 4 { vec![2] } else { vec![] };
            let batch_size: usize = batch.iter().product();
            let matrix = random_matrices(&mut rng, param, batch_size, d);
            Case {
                seed: rng.next_u64() % 100_000,
                dtype: if i % 2 == 0 {
                    Kind::Double
                } else {
                    Kind::Float
                },
                param,
                method: methods[i % 3],
                batch: batch.clone(),
                d,
                num_samples: rng.pick(&[1i64, 2, 17, 64, 150]),
                loc: (0..batch_size * d).map(|_| rng.real(-3.0, 3.0)).collect(),
                matrix,
                value: None,
                sampler: Sampler::Exact,
            }
        })
        .collect();
    compare_with_python(&cases);
    let (after, off) = tchdist::testing::sample_route_stats();
    assert!(
        !off && after > before,
        "the gemv route ran ({before} -> {after}, off: {off})"
    );
}

/// The opt-in gemm sampler against its PyTorch twin (`pytorch_twin.draw`: the same
/// standard-normal draws times Lᵀ in one matmul, then each method's program): every method,
/// unbatched and batched, d from 1 to 60, both dtypes, all three parameterisations.
#[test]
fn gemm_sampler_matches_its_pytorch_twin_bit_for_bit_on_30_cases() {
    let methods = JacobianMethod::ALL;
    let mut rng = Rng::new(2718);
    let mut cases = random_cases(20, 2719, Some(&methods), 64);
    // Ten more at the dimensions where one GEMM and the exact sampler's route differ most.
    cases.extend(
        random_cases(
            10,
            2720,
            Some(&[JacobianMethod::Analytic, JacobianMethod::Jacfwd]),
            64,
        )
        .into_iter()
        .map(|mut case| {
            case.d = rng.pick(&[20usize, 33, 60]);
            let batch_size: usize = case.batch.iter().product();
            case.loc = (0..batch_size * case.d)
                .map(|_| rng.real(-3.0, 3.0))
                .collect();
            case.matrix = random_matrices(&mut rng, case.param, batch_size, case.d);
            case
        }),
    );
    for case in &mut cases {
        case.sampler = Sampler::Gemm;
    }
    assert!(cases.iter().any(|c| !c.batch.is_empty()));
    assert!(cases.iter().any(|c| c.d >= 20));
    compare_with_python(&cases);
}

/// The gemm sampler draws the exact sampler's standard normals: its samples differ from
/// PyTorch's only by the rounding of the product, and the generator ends in the same state.
#[test]
fn gemm_samples_are_the_exact_samples_up_to_rounding() {
    for case in random_cases(24, 3141, Some(&[JacobianMethod::Analytic]), 300) {
        let exact = run_rust(&case).expect("exact");
        let gemm = run_rust(&Case {
            sampler: Sampler::Gemm,
            ..case_clone(&case)
        })
        .expect("gemm");
        let (rtol, atol) = if case.dtype == Kind::Float {
            (1e-5, 1e-5)
        } else {
            (1e-12, 1e-12)
        };
        common::assert_close(&gemm.samples, &exact.samples, rtol, atol, &case.describe());
    }
}

#[test]
fn every_jacobian_method_matches_its_pytorch_twin_bit_for_bit_on_40_cases_each() {
    let methods = JacobianMethod::ALL;
    let cases = random_cases(40 * methods.len(), 4048, Some(&methods), 200);
    for m in methods {
        assert!(cases.iter().filter(|c| c.method == m).count() >= 40);
        // The loop and per-sample gradients need one scalar per log-prob: unbatched, as in
        // Python.
        if !matches!(m, JacobianMethod::Loop | JacobianMethod::PerSample) {
            assert!(
                cases.iter().any(|c| c.method == m && !c.batch.is_empty()),
                "{m} lacks a batched case"
            );
        }
        for dtype in [Kind::Float, Kind::Double] {
            assert!(
                cases.iter().any(|c| c.method == m && c.dtype == dtype),
                "{m} lacks {dtype:?}"
            );
        }
        for param in ["covariance", "precision", "scale_tril"] {
            assert!(
                cases.iter().any(|c| c.method == m && c.param == param),
                "{m} lacks {param}"
            );
        }
    }
    compare_with_python(&cases);
}

#[test]
fn every_jacobian_method_at_given_points_matches_its_pytorch_twin_bit_for_bit_on_12_cases_each() {
    let methods = JacobianMethod::ALL;
    let cases = with_given_points(
        random_cases(12 * methods.len(), 5151, Some(&methods), 120),
        5152,
    );
    for m in methods {
        assert!(cases.iter().filter(|c| c.method == m).count() >= 12);
    }
    // Some batched cases take points that broadcast against the batch shape.
    assert!(cases.iter().any(|c| {
        let shape = &c.value.as_ref().expect("given points").1;
        c.batch.iter().any(|&b| b > 1) && shape[1..shape.len() - 1].iter().all(|&s| s == 1)
    }));
    compare_with_python(&cases);
}

/// The closed form is not PyTorch's algorithm, so it is held to torch.testing's default
/// tolerances against the autodiff Jacobian (rtol/atol: f32 1.3e-6/1e-5, f64 1e-7/1e-7).
#[test]
fn closed_form_jacobian_agrees_with_autodiff_within_torch_testing_tolerance() {
    for case in random_cases(60, 777, Some(&[JacobianMethod::Analytic]), 200) {
        let analytic = run_rust(&case).expect("analytic");
        let autodiff = run_rust(&Case {
            method: JacobianMethod::Forward,
            ..case_clone(&case)
        })
        .expect("forward");
        let (rtol, atol) = if case.dtype == Kind::Float {
            (1.3e-6, 1e-5)
        } else {
            (1e-7, 1e-7)
        };
        common::assert_close(
            &analytic.jacobian,
            &autodiff.jacobian,
            rtol,
            atol,
            &case.describe(),
        );
    }
}

/// Past `BASIS_PASS_TARGET` the vectorized, batched and jacrev methods split the one-hot
/// basis into chunks of rows; each row's arithmetic is unchanged, so the Jacobian keeps the bits
/// of the one-pass form (which the test above proves equal to PyTorch's).
#[test]
fn chunked_basis_methods_equal_their_one_pass_form_bit_for_bit() {
    let methods = [
        JacobianMethod::Vectorized,
        JacobianMethod::Batched,
        JacobianMethod::Jacrev,
    ];
    let mut rng = Rng::new(4242);
    let mut checked = 0;
    for case in random_cases(36, 4243, Some(&methods), 120) {
        let outputs = case.num_samples * case.batch.iter().product::<usize>() as i64;
        let chunk = match rng.int(0, 2) {
            0 => 1,
            _ => rng.int(1, outputs.max(2) - 1).max(1),
        };
        let one = run_rust_chunked(&case, Some(None)).expect("one pass");
        let chunked = run_rust_chunked(&case, Some(Some(chunk))).expect("chunked");
        let (bits, shape) = common::bits_of(&one.jacobian);
        if let Err(e) = check_bitwise_eq(
            &format!("{} chunk={chunk}", case.describe()),
            &chunked.jacobian,
            &bits,
            &shape,
        ) {
            panic!("{e}");
        }
        checked += 1;
    }
    assert_eq!(checked, 36);
}

fn case_clone(c: &Case) -> Case {
    Case {
        seed: c.seed,
        dtype: c.dtype,
        param: c.param,
        method: c.method,
        batch: c.batch.clone(),
        d: c.d,
        num_samples: c.num_samples,
        loc: c.loc.clone(),
        matrix: c.matrix.clone(),
        value: c.value.clone(),
        sampler: c.sampler,
    }
}
