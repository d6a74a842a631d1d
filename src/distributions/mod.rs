//! Probability distributions mirroring `torch.distributions` (PyTorch 2.13.0).
//!
//! Each distribution follows its PyTorch file op for op, including how it draws from the global
//! generator, so that after the same `manual_seed` it produces the same bits as Python.

pub(crate) mod constraints;
mod multivariate_normal;

pub use constraints::Constraint;
pub use multivariate_normal::{MultivariateNormal, MvnParam};

use tch::Tensor;

use crate::error::{Error, Result};

/// The interface shared by all distributions: `torch.distributions.Distribution`.
pub trait Distribution {
    /// The shape over which parameters are batched (`Distribution.batch_shape`).
    fn batch_shape(&self) -> &[i64];

    /// The shape of a single sample (`Distribution.event_shape`).
    fn event_shape(&self) -> &[i64];

    /// A reparameterized sample of shape `sample_shape + batch_shape + event_shape`
    /// (`Distribution.rsample`): gradients flow back to the parameters.
    ///
    /// # Errors
    /// Fails when libtorch rejects the shapes or the parameters.
    fn rsample(&self, sample_shape: &[i64]) -> Result<Tensor>;

    /// A sample with gradients disabled (`Distribution.sample`: `rsample` under `torch.no_grad()`).
    ///
    /// # Errors
    /// As [`Distribution::rsample`].
    fn sample(&self, sample_shape: &[i64]) -> Result<Tensor> {
        let _guard = tch::no_grad_guard();
        self.rsample(sample_shape)
    }

    /// The log of the density at `value` (`Distribution.log_prob`).
    ///
    /// # Errors
    /// With validation on, a value whose shape does not broadcast against
    /// `batch_shape + event_shape`, or that lies outside the support, is rejected with PyTorch's
    /// message.
    fn log_prob(&self, value: &Tensor) -> Result<Tensor>;

    /// `sample_shape + batch_shape + event_shape` (`Distribution._extended_shape`).
    fn extended_shape(&self, sample_shape: &[i64]) -> Vec<i64> {
        let mut shape = sample_shape.to_vec();
        shape.extend_from_slice(self.batch_shape());
        shape.extend_from_slice(self.event_shape());
        shape
    }
}

/// `torch.broadcast_shapes` (`torch._refs._broadcast_shapes`), with PyTorch's error text.
pub(crate) fn broadcast_shapes(shapes: &[&[i64]]) -> Result<Vec<i64>> {
    let rank = shapes.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut common = vec![1i64; rank];
    for (arg_idx, shape) in shapes.iter().enumerate() {
        for back in 1..=shape.len() {
            let size = shape[shape.len() - back];
            let slot = &mut common[rank - back];
            if size == *slot {
                continue;
            }
            if *slot == 1 {
                if size < 0 {
                    return Err(Error::Value(
                        "Attempting to broadcast a dimension with negative length!".into(),
                    ));
                }
                *slot = size;
            }
            if size != 1 && *slot != size {
                return Err(Error::Runtime(format!(
                    "Attempting to broadcast a dimension of length {size} at -{back}! Mismatching \
                     argument at index {arg_idx} had {}; but expected shape should be \
                     broadcastable to {common:?}",
                    torch_size(shape)
                )));
            }
        }
    }
    Ok(common)
}

/// Python's repr of a `torch.Size`: `torch.Size([2, 3])`.
pub(crate) fn torch_size(shape: &[i64]) -> String {
    let dims: Vec<String> = shape.iter().map(i64::to_string).collect();
    format!("torch.Size([{}])", dims.join(", "))
}

/// Python's repr of a shape tuple: `(2, 3)`, `(2,)`, `()`.
pub(crate) fn shape_tuple(shape: &[i64]) -> String {
    match shape {
        [one] => format!("({one},)"),
        _ => {
            let dims: Vec<String> = shape.iter().map(i64::to_string).collect();
            format!("({})", dims.join(", "))
        }
    }
}

/// `Distribution._validate_sample`'s shape checks, with PyTorch's messages.
pub(crate) fn validate_sample_shape(
    value: &Tensor,
    batch_shape: &[i64],
    event_shape: &[i64],
) -> Result<()> {
    let actual = value.size();
    let event_start = actual.len().checked_sub(event_shape.len());
    if event_start.map(|start| &actual[start..]) != Some(event_shape) {
        return Err(Error::Value(format!(
            "The right-most size of value must match event_shape: {} vs {}.",
            torch_size(&actual),
            torch_size(event_shape)
        )));
    }
    let mut expected = batch_shape.to_vec();
    expected.extend_from_slice(event_shape);
    for (i, j) in actual.iter().rev().zip(expected.iter().rev()) {
        if *i != 1 && *j != 1 && i != j {
            return Err(Error::Value(format!(
                "Value is not broadcastable with batch_shape+event_shape: {} vs {}.",
                torch_size(&actual),
                torch_size(&expected)
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_shapes_follows_numpy_rules() {
        assert_eq!(broadcast_shapes(&[&[3, 1], &[4]]).unwrap(), vec![3, 4]);
        assert_eq!(broadcast_shapes(&[&[], &[2]]).unwrap(), vec![2]);
        assert_eq!(broadcast_shapes(&[&[], &[]]).unwrap(), Vec::<i64>::new());
    }

    #[test]
    fn broadcast_shapes_mismatch_uses_pytorch_words() {
        let err = broadcast_shapes(&[&[2], &[3]]).unwrap_err().to_string();
        assert_eq!(
            err,
            "Attempting to broadcast a dimension of length 3 at -1! Mismatching argument at \
             index 1 had torch.Size([3]); but expected shape should be broadcastable to [2]"
        );
    }

    #[test]
    fn shape_reprs_match_python() {
        assert_eq!(shape_tuple(&[2]), "(2,)");
        assert_eq!(shape_tuple(&[]), "()");
        assert_eq!(shape_tuple(&[2, 3]), "(2, 3)");
        assert_eq!(torch_size(&[]), "torch.Size([])");
        assert_eq!(torch_size(&[4, 1]), "torch.Size([4, 1])");
    }
}
