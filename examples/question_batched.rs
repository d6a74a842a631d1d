//! The vectorised form (tests/fixtures/question_batched.py) in Rust: one `autograd.grad`
//! with a batch of one-hot `grad_outputs` and `is_grads_batched=True`.

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

    let eye = Tensor::f_eye(num_samples, (Kind::Float, Device::Cpu))?;
    let opts = GradOptions {
        grad_outputs: Some(vec![Some(&eye)]),
        is_grads_batched: true,
        ..Default::default()
    };
    let grads = grad(&[&logprobs], &[&mu], &opts)?;
    let grads = grads
        .into_iter()
        .flatten()
        .next()
        .expect("mu is used by log_prob");

    println!("{}", tchdist::format::display(&grads)?);
    Ok(())
}
