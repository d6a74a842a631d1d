//! examples/policy_gradient.rs against its PyTorch twin tests/fixtures/policy_gradient.py
//! (one Python process): the observations, weights, sampled actions, log-probabilities, loss
//! and the weights' gradient bit for bit, and the printed report as text.

mod common;

#[path = "../examples/policy_gradient.rs"]
mod example;

use common::{check_bitwise_eq, json_bits, json_shape, run_python};

#[test]
fn categorical_policy_gradient_example_matches_pytorch_bit_for_bit() {
    let out = run_python("tests/fixtures/policy_gradient.py", &["--bits"]);
    let py: serde_json::Value = serde_json::from_str(&out).expect("Python printed JSON");
    let r = example::policy_gradient().expect("the example runs");
    for (name, t) in [
        ("obs", &r.obs),
        ("weights", &r.weights),
        ("actions", &r.actions),
        ("log_probs", &r.log_probs),
        ("loss", &r.loss),
        ("grad", &r.grad),
    ] {
        check_bitwise_eq(
            name,
            t,
            &json_bits(&py[name]["bits"]),
            &json_shape(&py[name]["shape"]),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    }
    assert_eq!(
        example::report(&r).expect("report"),
        py["text"].as_str().expect("text")
    );
}
