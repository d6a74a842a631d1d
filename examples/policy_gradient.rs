//! A Categorical policy's REINFORCE gradient (tests/fixtures/policy_gradient.py in Rust):
//! a linear policy scores five observations, samples an action for each, and takes the
//! gradient of `-(log_prob * return).mean() - 0.01 * entropy.mean()` with respect to its
//! weights. Prints what Python prints; tests/policy_gradient.rs checks the bits.

use tch::{Device, Kind, Tensor};
use tchdist::autograd::{grad, GradOptions};
use tchdist::distributions::{Categorical, Distribution};

/// What the example computes: the tensors, for the test to compare bit for bit.
pub struct PolicyGradient {
    /// The observations, `randn(5, 4)`.
    pub obs: Tensor,
    /// The policy's weights, `randn(4, 3) * 0.5`.
    pub weights: Tensor,
    /// The sampled actions (int64).
    pub actions: Tensor,
    /// Their log-probabilities under the policy.
    pub log_probs: Tensor,
    /// The REINFORCE loss with an entropy bonus.
    pub loss: Tensor,
    /// d loss / d weights.
    pub grad: Tensor,
}

/// Runs the example after `tch::manual_seed(0)`.
pub fn policy_gradient() -> tchdist::Result<PolicyGradient> {
    tch::manual_seed(0);
    let options = (Kind::Float, Device::Cpu);
    let obs = Tensor::f_randn([5, 4], options)?;
    let weights = Tensor::f_randn([4, 3], options)?
        .f_mul_scalar(0.5)?
        .f_set_requires_grad(true)?;
    let returns = Tensor::from_slice(&[1.0f32, 0.5, -0.5, 2.0, 0.0]);

    let policy = Categorical::from_logits(&obs.f_matmul(&weights)?)?;
    let actions = policy.sample(&[])?;
    let log_probs = policy.log_prob(&actions)?;
    let pg = log_probs.f_mul(&returns)?.f_mean(None::<Kind>)?.f_neg()?;
    let bonus = policy.entropy()?.f_mean(None::<Kind>)?.f_mul_scalar(0.01)?;
    let loss = pg.f_sub(&bonus)?;
    let grads = grad(&[&loss], &[&weights], &GradOptions::default())?;
    let grad = grads
        .into_iter()
        .next()
        .flatten()
        .ok_or_else(|| tchdist::Error::Runtime("no gradient for the weights".into()))?;
    Ok(PolicyGradient {
        obs,
        weights,
        actions,
        log_probs,
        loss,
        grad,
    })
}

/// The printed report, as the Python twin prints it.
pub fn report(r: &PolicyGradient) -> tchdist::Result<String> {
    let actions: Vec<String> = Vec::<i64>::try_from(&r.actions)?
        .iter()
        .map(i64::to_string)
        .collect();
    Ok([
        format!("actions: [{}]", actions.join(", ")),
        format!(
            "log_probs: {}",
            tchdist::format::display(&r.log_probs.f_detach()?)?
        ),
        format!("loss: {}", tchdist::format::display(&r.loss.f_detach()?)?),
        format!("grad: {}", tchdist::format::display(&r.grad)?),
    ]
    .join("\n"))
}

#[allow(dead_code)]
fn main() -> tchdist::Result<()> {
    let r = policy_gradient()?;
    println!("{}", report(&r)?);
    Ok(())
}
