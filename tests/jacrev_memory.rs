//! `jacrev` with `chunk_size` holds one chunk of the standard basis at a time, as PyTorch's
//! `_chunked_standard_basis_for_` generator does. This file is its own test binary (one test,
//! one thread), so the process's peak RSS is this test's alone.

use tch::{Kind, Tensor};
use tchdist::func::jacrev_chunked;
use tchdist::memory::{peak_rss_bytes, reset_peak_rss, rss_bytes, tune_allocator};

#[test]
fn chunked_jacrev_builds_the_basis_one_chunk_at_a_time() -> tchdist::Result<()> {
    // 20000 outputs of one input: the whole basis is 20000 x 20000 f32 = 1.6 GB, one chunk
    // of 100 rows is 8 MB.
    const N: i64 = 20_000;
    tune_allocator()?;
    let x = Tensor::from_slice(&[1.5f32]);
    let weights = Tensor::f_arange(N, (Kind::Float, tch::Device::Cpu))?;
    let f = |a: &[Tensor]| Ok(vec![a[0].f_mul(&weights)?]);
    let before = rss_bytes()?;
    reset_peak_rss()?;
    let jac = jacrev_chunked(f, &[&x], &[0], Some(100))?;
    let grew = peak_rss_bytes()?.saturating_sub(before);

    assert_eq!(jac.len(), 1);
    assert_eq!(jac[0].size(), vec![N, 1]);
    // d(w_i x)/dx = w_i: the Jacobian is the weights, row for row.
    assert!(jac[0].f_reshape([N])?.f_equal(&weights)?);
    assert!(
        grew < 256 << 20,
        "jacrev_chunked's peak grew by {} MiB (the whole basis is 1526 MiB)",
        grew >> 20
    );
    Ok(())
}
