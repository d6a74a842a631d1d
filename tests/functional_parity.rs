//! `tchdist::autograd::grad` and `tchdist::autograd::functional` against live PyTorch
//! (`torch.autograd.grad`, `torch.autograd.functional`), bit for bit, on random cases.
//!
//! A table of test functions is defined identically, op for op and by name, in
//! tests/common/functional_cases.rs (`call`) and tests/pyref/functional_cases.py (`FUNCS`).
//! Rust draws random cases (inputs of rank 0..2 in float32 and float64, options, vectors), sends
//! them as JSON to one Python process per test, and compares every returned tensor's float64 bit
//! pattern, shape and `requires_grad` flag, or, where PyTorch raises, the error's text and kind.
//! With `create_graph=True` the results are differentiated once more on both sides, so the
//! recorded graphs are compared too. Errors: tests/functional_errors.rs; identities and finite
//! differences: tests/functional_identities.rs.
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
// Live parity: values.

#[test]
fn jacobian_matches_pytorch_bit_for_bit_in_every_mode_on_random_cases() {
    let cases = random_cases(Family::Jacobian, 240, 11);
    for (vec, fwd) in [(false, false), (true, false), (true, true)] {
        // Forward mode refuses create_graph (the error table has that).
        assert!(
            fwd || cases
                .iter()
                .any(|c| c.opts.vectorize == vec && c.opts.forward == fwd && c.opts.create_graph)
        );
        assert!(cases
            .iter()
            .any(|c| c.opts.vectorize == vec && c.opts.forward == fwd && !c.opts.create_graph));
    }
    assert!(cases.iter().any(|c| c.single_api));
    assert!(cases.iter().any(|c| c.tuple_outputs));
    assert!(cases.iter().any(|c| c.tuple_inputs && c.inputs.len() == 1));
    let outcomes = compare_with_python(&cases);
    assert_value_cases(&cases, &outcomes, 40);
}

#[test]
fn hessian_matches_pytorch_bit_for_bit_with_both_outer_strategies_on_random_cases() {
    let cases = random_cases(Family::Hessian, 200, 22);
    assert!(cases.iter().any(|c| c.opts.forward));
    assert!(cases
        .iter()
        .any(|c| !c.opts.vectorize && c.opts.create_graph));
    assert!(cases.iter().any(|c| c.opts.vectorize && !c.opts.forward));
    let outcomes = compare_with_python(&cases);
    assert_value_cases(&cases, &outcomes, 40);
}

#[test]
fn vjp_matches_pytorch_bit_for_bit_on_random_cases() {
    let cases = random_cases(Family::Vjp, 160, 33);
    assert!(cases.iter().any(|c| c.v.is_none()));
    let outcomes = compare_with_python(&cases);
    assert_value_cases(&cases, &outcomes, 40);
}

#[test]
fn jvp_matches_pytorch_bit_for_bit_on_random_cases() {
    let cases = random_cases(Family::Jvp, 160, 44);
    assert!(cases.iter().any(|c| c.v.is_none()));
    let outcomes = compare_with_python(&cases);
    assert_value_cases(&cases, &outcomes, 40);
}

#[test]
fn vhp_matches_pytorch_bit_for_bit_on_random_cases() {
    let cases = random_cases(Family::Vhp, 120, 55);
    let outcomes = compare_with_python(&cases);
    assert_value_cases(&cases, &outcomes, 40);
}

#[test]
fn hvp_matches_pytorch_bit_for_bit_on_random_cases() {
    let cases = random_cases(Family::Hvp, 120, 66);
    let outcomes = compare_with_python(&cases);
    assert_value_cases(&cases, &outcomes, 40);
}

#[test]
fn grad_matches_pytorch_bit_for_bit_with_batched_and_unused_inputs_on_random_cases() {
    let cases = random_cases(Family::Grad, 200, 77);
    assert!(cases.iter().any(|c| c.opts.is_grads_batched));
    assert!(cases.iter().any(|c| c.opts.materialize_grads));
    let outcomes = compare_with_python(&cases);
    assert_value_cases(&cases, &outcomes, 40);
}
