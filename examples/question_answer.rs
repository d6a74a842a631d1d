//! The accepted answer (tests/fixtures/question_answer.py) in Rust:
//! `torch.autograd.functional.jacobian` over a closure that builds the distribution, samples
//! 10 points and returns their log-probabilities. Prints what Python prints.

use tch::{Device, Kind, Tensor};
use tchdist::autograd::functional::{jacobian, JacobianOptions};
use tchdist::distributions::{Distribution, MultivariateNormal};

fn main() -> tchdist::Result<()> {
    tch::manual_seed(0); // for repeatable results

    let mu = Tensor::f_ones([2], (Kind::Float, Device::Cpu))?.f_set_requires_grad(true)?;
    let sigma = Tensor::f_eye(2, (Kind::Float, Device::Cpu))?;
    let num_samples = 10;

    let f = |mu: &Tensor| {
        let dist = MultivariateNormal::from_covariance(mu, &sigma)?;
        let samples = dist.sample(&[num_samples])?;
        dist.log_prob(&samples)
    };

    let grads = jacobian(f, &mu, &JacobianOptions::default())?;

    println!("{}", tchdist::format::display(&grads)?);
    Ok(())
}
