//! The question's first attempt (tests/fixtures/question_loop.py) in Rust: one
//! `torch.autograd.grad(..., retain_graph=True)` per log-probability, stacked.

use tch::{Device, Kind, Tensor};
use tchdist::autograd::{grad, GradOptions};
use tchdist::distributions::{Distribution, MultivariateNormal};

fn main() -> tchdist::Result<()> {
    tch::manual_seed(0);

    let mu = Tensor::f_ones([2], (Kind::Float, Device::Cpu))?.f_set_requires_grad(true)?;
    let sigma = Tensor::f_eye(2, (Kind::Float, Device::Cpu))?;
    let dist = MultivariateNormal::from_covariance(&mu, &sigma)?;

    let num_samples = 10;
    let samples = dist.sample(&[num_samples])?;
    let logprobs = dist.log_prob(&samples)?;

    let opts = GradOptions {
        retain_graph: Some(true),
        ..Default::default()
    };
    let mut grads = Vec::new();
    for logprob in logprobs.f_unbind(0)? {
        let grad = grad(&[&logprob], &[&mu], &opts)?;
        grads.extend(grad.into_iter().flatten());
    }

    println!(
        "{}",
        tchdist::format::display(&Tensor::f_stack(&grads, 0)?)?
    );
    Ok(())
}
