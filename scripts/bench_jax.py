"""JAX twins of tchdist's Jacobian pipelines, for scripts/bench_ref.py (run with the Python of
the JAX environment scripts/setup-jax makes; the tests and the main job never need it).

`python bench_jax.py --serve DIR SPEC`: SPEC is JSON [method, d, dtype, threads, chunk] (chunk:
the basis rows per pass tchdist takes, from `tchdist list-methods --chunk-rows`, or null); the
covariance matrix is DIR/cov.npy (written by bench_ref.py: the same Σ tchdist and PyTorch
use). Serves `tchdist bench --peer DIR` (scripts/bench_peer.py): each `run N` times one
pipeline of N samples, `jit`-compiled for N before the clock (compilation is a one-time cost,
as PyTorch's lazy initialisation is), `block_until_ready` before the clock stops.

Every pipeline does what the PyTorch twin's does: build the distribution (Cholesky of Σ),
draw N samples, their log-probabilities, and the Jacobian of those with respect to the mean:
  analytic    the closed form Σ⁻¹(x − μ) with cho_solve
  jacfwd      jax.jacfwd        (tchdist's forward and jacfwd)
  jacrev      jax.jacrev, in tchdist's chunks of basis rows where it takes them (tchdist's
              jacrev, vectorized and batched)
  per-sample  jax.vmap(jax.grad) over the samples
and the parts: sample (build and draw), floor (Cholesky and two triangular solves of given
samples), analytic-step (Cholesky and cho_solve of given samples). JAX draws its own
samples (threefry), so its numbers are not PyTorch's: this is a speed twin, not a parity one.
"""

import json
import math
import os
import sys
import time

SPEC = json.loads(sys.argv[3]) if len(sys.argv) == 4 and sys.argv[1] == "--serve" else None
if SPEC is None:
    sys.exit("usage: bench_jax.py --serve DIR '[method, d, dtype, threads, chunk]'")
METHOD, D, DTYPE, THREADS, CHUNK = SPEC
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                           f" --xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads={THREADS}")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.scipy.linalg import cho_solve, solve_triangular  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_peer import serve  # noqa: E402

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_platforms", "cpu")

# tchdist method -> the JAX program that answers the same question.
PROGRAMS = {
    "analytic": "analytic", "forward": "jacfwd", "jacfwd": "jacfwd", "jacrev": "jacrev",
    "vectorized": "jacrev", "batched": "jacrev", "per-sample": "per-sample",
    "floor": "floor", "analytic-step": "analytic-step", "sample": "sample",
    # tchdist's --sampler gemm rows: JAX samples with one GEMM anyway.
    "analytic-gemm": "analytic", "sample-gemm": "sample",
}


def log_prob(mu, L, x):
    """MultivariateNormal(mu, scale_tril=L).log_prob(x) for x of shape (n, d)."""
    z = solve_triangular(L, (x - mu).T, lower=True)
    half_log_det = jnp.sum(jnp.log(jnp.diagonal(L)))
    return -0.5 * (mu.shape[0] * math.log(2 * math.pi) + jnp.sum(z * z, axis=0)) - half_log_det


def draw(key, mu, cov, n):
    L = jnp.linalg.cholesky(cov)
    eps = jax.random.normal(key, (n, mu.shape[0]), dtype=mu.dtype)
    return L, mu + eps @ L.T


def jacrev_chunked(f, mu, n, d, rows):
    """jax.jacrev(f)(mu) for f: (d,) -> (n,), its n basis rows `rows` at a time (None: all)."""
    if rows is None or rows >= n:
        return jax.jacrev(f)(mu)
    _, vjp = jax.vjp(f, mu)
    chunks = math.ceil(n / rows)

    def chunk(i):
        idx = jnp.minimum(i * rows + jnp.arange(rows), n - 1)
        return jax.vmap(vjp)(jax.nn.one_hot(idx, n, dtype=mu.dtype))[0]

    return jax.lax.map(chunk, jnp.arange(chunks)).reshape(chunks * rows, d)[:n]


def pipeline(program, n, d, rows):
    """The jit-able function of (key, mu, cov, samples) for one size n."""
    def run(key, mu, cov, samples):
        if program == "floor":
            L = jnp.linalg.cholesky(cov)
            z = solve_triangular(L, (samples - mu).T, lower=True)
            return solve_triangular(L.T, z, lower=False)
        if program == "analytic-step":
            L = jnp.linalg.cholesky(cov)
            return cho_solve((L, True), (samples - mu).T).T
        L, x = draw(key, mu, cov, n)
        if program == "sample":
            return x
        x = jax.lax.stop_gradient(x)
        lp = log_prob(mu, L, x)
        if program == "analytic":
            return lp, cho_solve((L, True), (x - mu).T).T
        f = lambda m: log_prob(m, L, x)  # noqa: E731
        if program == "jacfwd":
            return lp, jax.jacfwd(f)(mu)
        if program == "jacrev":
            return lp, jacrev_chunked(f, mu, n, d, rows)
        if program == "per-sample":
            one = lambda m, xi: log_prob(m, L, xi[None, :])[0]  # noqa: E731
            return lp, jax.vmap(jax.grad(one), in_axes=(None, 0))(mu, x)
        raise ValueError(f"no JAX twin for {program}")
    return run


def make_pipeline():
    program = PROGRAMS.get(METHOD)
    if program is None:
        raise ValueError(f"no JAX twin for {METHOD}")
    dtype = {"f32": jnp.float32, "f64": jnp.float64}[DTYPE]
    cov = jnp.asarray(np.load(os.path.join(sys.argv[2], "cov.npy")), dtype=dtype)
    mu = jnp.zeros((D,), dtype=dtype)
    key = jax.random.PRNGKey(1)
    compiled = {}
    given = {}

    def samples_for(n):
        if program not in ("floor", "analytic-step"):
            return jnp.zeros((0, D), dtype=dtype)
        if n not in given:
            given[n] = jax.block_until_ready(draw(jax.random.PRNGKey(2), mu, cov, n)[1])
        return given[n]

    def run_once(n):
        x = samples_for(n)
        if n not in compiled:
            # The chunk was asked for the cell's full size; the small first run takes all rows.
            rows = CHUNK if CHUNK is not None and CHUNK < n else None
            compiled[n] = jax.jit(pipeline(program, n, D, rows)).lower(key, mu, cov, x).compile()
        start = time.perf_counter()
        jax.block_until_ready(compiled[n](key, mu, cov, x))
        return time.perf_counter() - start

    return run_once


def main():
    serve(sys.argv[2], make_pipeline)


if __name__ == "__main__":
    main()
