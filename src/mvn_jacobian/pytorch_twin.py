"""Live PyTorch twin of tchdist's MVN log-prob Jacobian methods (tchdist::mvn_jacobian).

Reads a JSON list of cases on stdin; for each, runs the Python program the case names, as the
reference programs in tests/fixtures do, and prints {"torch": version, "results": [...]} with
every tensor as float64 bit patterns (exact for float32), so Rust can compare bit for bit.
`tchdist check` embeds this file (tchdist::mvn_jacobian::PYTORCH_TWIN) and runs it with
`python -c`; tests/mvn_jacobian.rs and scripts/bench_ref.py run the same file.
"""

import json
import sys
import time

import numpy as np
import torch
from torch.distributions import MultivariateNormal

DTYPES = {"f32": torch.float32, "f64": torch.float64}
PARAMS = {"covariance": "covariance_matrix", "precision": "precision_matrix", "scale_tril": "scale_tril"}


def bits(t):
    t = t.detach().cpu().to(torch.float64).contiguous()
    return {"shape": list(t.shape), "bits": t.reshape(-1).numpy().view(np.uint64).tolist()}


def one_hot(log_prob):
    n = log_prob.numel()
    return torch.eye(n, dtype=log_prob.dtype, device=log_prob.device).reshape((n,) + tuple(log_prob.shape))


def score_to_jacobian(score, batch_shape, loc_shape):
    """Mirror of tchdist's mvn_jacobian::score_to_jacobian (block layout for a batched loc)."""
    loc_batch = tuple(loc_shape[:-1])
    if not loc_batch:
        return score
    indicator = torch.ones(tuple(batch_shape) + loc_batch, dtype=score.dtype, device=score.device)
    offset = len(batch_shape) - len(loc_batch)
    for k, size in enumerate(loc_batch):
        if size == 1:
            continue
        eye_shape = [1] * indicator.dim()
        eye_shape[offset + k] = size
        eye_shape[len(batch_shape) + k] = size
        indicator = indicator * torch.eye(size, dtype=score.dtype, device=score.device).reshape(
            eye_shape
        )
    score_shape = tuple(score.shape[:-1]) + (1,) * len(loc_batch) + (score.shape[-1],)
    return score.reshape(score_shape) * indicator.unsqueeze(-1)


def closed_form_score(dist, value):
    """Sigma^-1 (x - loc) with two triangular solves over all samples at once."""
    diff = value - dist.loc
    shape = diff.shape
    bd = len(dist.batch_shape)
    sd = len(shape) - bd - 1
    n = 1
    for s in shape[:sd]:
        n *= s
    rhs = diff.reshape((n,) + tuple(shape[sd:])).permute(*range(1, bd + 2), 0)
    L = dist._unbroadcasted_scale_tril
    z = torch.linalg.solve_triangular(L, rhs, upper=False)
    w = torch.linalg.solve_triangular(L.mT, z, upper=True)
    return w.permute(bd + 1, *range(0, bd + 1)).reshape(shape)


def gemm_mv(L, eps, batch_shape):
    """tchdist's Sampler::Gemm product (multivariate_normal.rs gemm_mv): eps Lᵀ with the
    sample vectors as the rows of one matrix, one GEMM per batch matrix."""
    shape = eps.shape
    d = shape[-1]
    b = 1
    for s in batch_shape:
        b *= s
    if eps.numel() == 0 or b == 0:
        return torch.matmul(L, eps.unsqueeze(-1)).squeeze(-1)
    if L.dim() == 2:
        return eps.reshape(-1, d).matmul(L.mT).reshape(shape)
    L = L.expand(tuple(batch_shape) + (d, d)).reshape(b, d, d)
    rows = eps.reshape(-1, b, d).transpose(0, 1)
    return rows.matmul(L.mT).transpose(0, 1).reshape(shape)


def draw(dist, n, sampler="exact"):
    """dist.sample((n,)); with tchdist's "gemm" sampler, the same draws (distributions.utils.
    _standard_normal) times Lᵀ in one matrix product."""
    if sampler == "exact":
        return dist.sample((n,))
    if sampler != "gemm":
        raise ValueError(sampler)
    with torch.no_grad():
        shape = dist._extended_shape((n,))
        eps = torch.empty(shape, dtype=dist.loc.dtype, device=dist.loc.device).normal_()
        return dist.loc + gemm_mv(dist._unbroadcasted_scale_tril, eps, dist.batch_shape)


def compute(method, mu, kw, matrix, n, chunk=None, value=None, sampler="exact"):
    """One Python program per method: draws n samples of MultivariateNormal(mu, **{kw: matrix})
    (mu requires grad), or takes the given points `value` instead, takes their
    log-probabilities and the Jacobian with respect to mu.
    `chunk` (the benchmark's large cases) splits the one-hot basis of `batched` into row chunks
    and is `jacrev`'s chunk_size, as tchdist does past its memory budget; PyTorch's
    `jacobian(vectorize=True)` has no such argument. `sampler`: "exact" (PyTorch's own
    sampling) or "gemm" (see `draw`)."""
    if method in ("functional", "vectorized"):  # question_answer.py (+ vectorize=True)
        seen = {}

        def f(mu):
            dist = MultivariateNormal(mu, **{kw: matrix})
            samples = draw(dist, n, sampler) if value is None else value
            logprobs = dist.log_prob(samples)
            seen["samples"], seen["log_prob"] = samples, logprobs
            return logprobs

        jac = torch.autograd.functional.jacobian(f, mu, vectorize=method == "vectorized")
        return seen["samples"], seen["log_prob"], jac
    dist = MultivariateNormal(mu, **{kw: matrix})
    samples = draw(dist, n, sampler) if value is None else value
    log_prob = dist.log_prob(samples)
    if method == "loop":  # question_loop.py
        grads = [torch.autograd.grad(lp, mu, retain_graph=True) for lp in log_prob]
        jac = torch.stack([g[0] for g in grads])
    elif method == "batched":  # question_batched.py
        basis = one_hot(log_prob)
        rows = len(basis) if chunk is None else chunk
        parts = [
            torch.autograd.grad(
                log_prob,
                mu,
                grad_outputs=basis[i : i + rows],
                is_grads_batched=True,
                retain_graph=True if rows < len(basis) else None,
            )[0]
            for i in range(0, len(basis), rows)
        ]
        flat = parts[0] if len(parts) == 1 else torch.cat(parts)
        jac = flat.reshape(tuple(log_prob.shape) + tuple(mu.shape))
    elif method == "batched-loop":
        rows = [
            torch.autograd.grad(log_prob, mu, grad_outputs=row, retain_graph=True)[0]
            for row in one_hot(log_prob)
        ]
        jac = torch.stack(rows).reshape(tuple(log_prob.shape) + tuple(mu.shape))
    elif method == "forward":
        jac = torch.autograd.functional.jacobian(
            lambda m: MultivariateNormal(m, **{kw: matrix}).log_prob(samples),
            mu.detach(),
            strategy="forward-mode",
            vectorize=True,
        )
    elif method == "jacrev":
        jac = torch.func.jacrev(
            lambda m: MultivariateNormal(m, **{kw: matrix}).log_prob(samples), chunk_size=chunk
        )(mu.detach())
    elif method == "jacfwd":
        jac = torch.func.jacfwd(lambda m: MultivariateNormal(m, **{kw: matrix}).log_prob(samples))(
            mu.detach()
        )
    elif method == "per-sample":
        jac = torch.func.vmap(
            torch.func.grad(lambda m, x: MultivariateNormal(m, **{kw: matrix}).log_prob(x)),
            in_dims=(None, 0),
        )(mu.detach(), samples)
    elif method == "analytic":
        with torch.no_grad():
            score = closed_form_score(dist, samples)
        jac = score_to_jacobian(score, dist.batch_shape, mu.shape)
    else:
        raise ValueError(method)
    return samples, log_prob, jac


def run(case):
    dtype = DTYPES[case["dtype"]]
    device = torch.device(case.get("device", "cpu"))
    kw = PARAMS[case["param"]]
    torch.manual_seed(case["seed"])
    mu = torch.tensor(case["loc"], dtype=dtype, device=device, requires_grad=True)
    matrix = torch.tensor(case["matrix"], dtype=dtype, device=device)
    value = case.get("value")
    if value is not None:
        value = torch.tensor(value, dtype=dtype, device=device)
    samples, log_prob, jac = compute(
        case["method"], mu, kw, matrix, case["num_samples"], value=value,
        sampler=case.get("sampler", "exact"),
    )
    return {
        "samples": bits(samples),
        "log_prob": bits(log_prob),
        "jacobian": bits(jac),
        "repr": repr(jac),
    }


def timed(case):
    """Runs a case; "ms" is the wall time of the computation (synchronised on CUDA)."""
    cuda = case.get("device", "cpu").startswith("cuda")
    start = time.perf_counter()
    result = run(case)
    if cuda:
        torch.cuda.synchronize()
    result["ms"] = (time.perf_counter() - start) * 1e3
    return result


def main():
    cases = json.load(sys.stdin)
    json.dump({"torch": torch.__version__, "results": [timed(c) for c in cases]}, sys.stdout)


if __name__ == "__main__":
    main()
