"""Live PyTorch twin of tchdist's torch.func transforms (tests/func.rs).

Reads a JSON list of cases on stdin and runs each with torch.func (vmap, grad, jacrev, jacfwd),
as the Rust test does with tchdist::func. Prints one JSON list of results: every tensor as
float64 bit patterns (exact for float32) with its shape, or, for an error case, the exception's
type and message.
"""

import json
import sys

import numpy as np
import torch
from torch.distributions import MultivariateNormal
from torch.func import grad, jacfwd, jacrev, vmap

DTYPES = {"f32": torch.float32, "f64": torch.float64}
PARAMS = {"covariance": "covariance_matrix", "precision": "precision_matrix", "scale_tril": "scale_tril"}


def bits(t):
    t = t.detach().to(torch.float64).contiguous()
    return {"shape": list(t.shape), "bits": t.reshape(-1).numpy().view(np.uint64).tolist()}


def flat(result):
    """The leaves of a transform's result in tree_flatten order."""
    leaves, _ = torch.utils._pytree.tree_flatten(result)
    return leaves


def tensor(case, key):
    """case[key] = {"values": [...], "shape": [...]}, made with the case's dtype."""
    spec = case[key]
    return torch.tensor(spec["values"], dtype=DTYPES[case["dtype"]]).reshape(spec["shape"])


def mvn(case):
    kw = PARAMS[case["param"]]
    loc, matrix = tensor(case, "loc"), tensor(case, "matrix")
    torch.manual_seed(case["seed"])
    samples = MultivariateNormal(loc, **{kw: matrix}).sample((case["n"],))
    validate = case["validate"]

    def log_prob(mu, x):
        return MultivariateNormal(mu, **{kw: matrix}, validate_args=validate).log_prob(x)

    kind = case["kind"]
    if kind == "mvn_per_sample_grad":
        out = vmap(grad(log_prob), in_dims=(None, 0))(loc, samples)
    elif kind == "mvn_vmap_jacrev":
        out = vmap(jacrev(log_prob), in_dims=(None, 0))(loc, samples)
    elif kind == "mvn_jacrev":
        out = jacrev(lambda mu: log_prob(mu, samples))(loc)
    elif kind == "mvn_jacrev_chunked":
        out = jacrev(lambda mu: log_prob(mu, samples), chunk_size=case["chunk_size"])(loc)
    elif kind == "mvn_jacfwd":
        out = jacfwd(lambda mu: log_prob(mu, samples))(loc)
    else:
        raise ValueError(kind)
    return {"samples": bits(samples), "outputs": [bits(t) for t in flat(out)]}


def two_outputs(x, y):
    return x.sin() * y.sum(), (x**2).sum() * y.exp()


def quartic(x):
    return (x**4 - 3 * x**2 + x).sum()


def vmap_body(a, b):
    return a @ b + a.sum(), (a * b).tanh()


def run(case):
    kind = case["kind"]
    if kind.startswith("mvn_"):
        return mvn(case)
    if kind == "two_output_jacobian":
        x, y = tensor(case, "x"), tensor(case, "y")
        argnums = tuple(case["argnums"])
        if case["method"] == "jacrev":
            out = jacrev(two_outputs, argnums=argnums)(x, y)
        else:
            # torch.func.jacfwd in 2.13.0 returns zeros for a negative argnum: its
            # _replace_args looks up the unwrapped argnums, so no input becomes a dual.
            # tchdist differentiates (docs/PARITY.md); its twin is the wrapped argnums.
            assert jacfwd(two_outputs, argnums=(-1,))(x, y)[0][0].count_nonzero() == 0
            out = jacfwd(two_outputs, argnums=tuple(a % 2 for a in argnums))(x, y)
    elif kind == "quartic":
        x = tensor(case, "x")
        mode = case["mode"]
        if mode == "grad":
            out = grad(quartic)(x)
        elif mode == "vmap_grad":
            out = vmap(grad(quartic))(x)
        elif mode == "hessian":
            out = jacfwd(jacrev(quartic))(x)
        else:
            out = jacrev(jacrev(quartic))(x)
    elif kind == "vmap_dims":
        a, b = tensor(case, "a"), tensor(case, "b")
        out = vmap(vmap_body, in_dims=tuple(case["in_dims"]), out_dims=case["out_dims"])(a, b)
    elif kind == "randomness":
        x = tensor(case, "x")
        torch.manual_seed(case["seed"])
        out = vmap(
            lambda x: x * torch.randn(x.shape, dtype=x.dtype),
            randomness=case["randomness"],
            chunk_size=case["chunk_size"],
        )(x)
    elif kind == "error":
        return run_error(case["which"])
    else:
        raise ValueError(kind)
    return {"outputs": [bits(t) for t in flat(out)]}


def run_error(which):
    ones = torch.ones
    calls = {
        "vmap_sizes": lambda: vmap(lambda a, b: a + b)(ones(3), ones(4)),
        "grad_not_scalar": lambda: grad(lambda x: x * 2)(ones(2, 2)),
        "vmap_in_dim_range": lambda: vmap(lambda a: a, in_dims=(2,))(ones(3)),
        "vmap_in_dims_structure": lambda: vmap(lambda a: a, in_dims=(0, 0))(ones(3)),
        "vmap_nothing_mapped": lambda: vmap(lambda a: a, in_dims=(None,))(ones(3)),
        "vmap_chunk_size": lambda: vmap(lambda a: a, chunk_size=0)(ones(3)),
        "vmap_random_in_error_mode": lambda: vmap(lambda x: x + torch.randn(3))(ones(2, 3)),
        "vmap_item": lambda: vmap(lambda x: x.sum().item())(ones(2, 3)),
        "grad_argnum_range": lambda: grad(lambda x: x.sum(), argnums=3)(ones(3)),
        "grad_argnums_repeated": lambda: grad(lambda x, y: x.sum(), argnums=(0, 0))(ones(3), ones(3)),
        "grad_negative_argnum_range": lambda: grad(lambda x: x.sum(), argnums=-2)(ones(3)),
        "grad_argnums_repeated_after_wrapping": lambda: grad(lambda x, y: x.sum(), argnums=(1, -1))(ones(3), ones(3)),
        "grad_integer_input": lambda: grad(lambda x: x.sum())(ones(3, dtype=torch.long)),
        "jacrev_integer_output": lambda: jacrev(lambda x: x.long())(ones(3)),
        "jacrev_no_output": lambda: jacrev(lambda x: ())(ones(3)),
        "jacfwd_integer_input": lambda: jacfwd(lambda x: x)(ones(3, dtype=torch.long)),
        "jacfwd_random_in_error_mode": lambda: jacfwd(lambda x: x * torch.randn(3))(ones(3)),
    }
    try:
        calls[which]()
    except Exception as e:  # noqa: BLE001 - the message is the result
        return {"error_type": type(e).__name__, "error": str(e)}
    raise AssertionError(f"{which} did not raise")


def main():
    cases = json.load(sys.stdin)
    json.dump([run(c) for c in cases], sys.stdout)


if __name__ == "__main__":
    main()
