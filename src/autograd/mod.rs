//! Automatic differentiation beyond what tch exposes: `torch.autograd.grad` with
//! `grad_outputs` and `allow_unused`, and `torch.autograd.functional`.

pub mod functional;
mod grad;
mod jvp_decompositions;
mod vmap;

pub use grad::{grad, GradOptions};
