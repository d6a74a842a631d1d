use tch::{Device, Kind, Tensor};
use tchdist::autograd::functional::{jacobian, JacobianOptions};
use tchdist::distributions::{Distribution, MultivariateNormal};

fn main() -> tchdist::Result<()> {
    tch::manual_seed(0);
    let mu = Tensor::f_ones([2], (Kind::Float, Device::Cpu))?;
    let sigma = Tensor::f_eye(2, (Kind::Float, Device::Cpu))?;
    let f = |mu: &Tensor| {
        let dist = MultivariateNormal::from_covariance(mu, &sigma)?;
        let samples = dist.sample(&[10])?;
        dist.log_prob(&samples)
    };
    let grads = jacobian(f, &mu, &JacobianOptions::default())?; // shape [10, 2]
    println!("{}", tchdist::format::display(&grads)?); // prints as Python does
    Ok(())
}
