"""Live PyTorch twin of tchdist's MVN log-prob Jacobian (tests/mvn_jacobian.rs).

Reads a JSON list of cases on stdin; for each, runs the Python program the case names, as the
reference programs in tests/fixtures do, and prints one JSON list of results with every tensor
as float64 bit patterns (exact for float32), so Rust can compare bit for bit.
"""

import json
import sys

import numpy as np
import torch
from torch.distributions import MultivariateNormal

DTYPES = {"f32": torch.float32, "f64": torch.float64}
PARAMS = {"covariance": "covariance_matrix", "precision": "precision_matrix", "scale_tril": "scale_tril"}


def bits(t):
    t = t.detach().to(torch.float64).contiguous()
    return {"shape": list(t.shape), "bits": t.reshape(-1).numpy().view(np.uint64).tolist()}


def run(case):
    dtype = DTYPES[case["dtype"]]
    kw = PARAMS[case["param"]]
    torch.manual_seed(case["seed"])
    mu = torch.tensor(case["loc"], dtype=dtype, requires_grad=True)
    matrix = torch.tensor(case["matrix"], dtype=dtype)
    n = case["num_samples"]
    if case["method"] == "functional":  # question_answer.py
        seen = {}

        def f(mu):
            dist = MultivariateNormal(mu, **{kw: matrix})
            samples = dist.sample((n,))
            logprobs = dist.log_prob(samples)
            seen["samples"], seen["log_prob"] = samples, logprobs
            return logprobs

        jac = torch.autograd.functional.jacobian(f, mu)
        samples, log_prob = seen["samples"], seen["log_prob"]
    elif case["method"] == "loop":  # question_loop.py
        dist = MultivariateNormal(mu, **{kw: matrix})
        samples = dist.sample((n,))
        log_prob = dist.log_prob(samples)
        grads = [torch.autograd.grad(lp, mu, retain_graph=True) for lp in log_prob]
        jac = torch.stack([g[0] for g in grads])
    else:
        raise ValueError(case["method"])
    return {
        "samples": bits(samples),
        "log_prob": bits(log_prob),
        "jacobian": bits(jac),
        "repr": repr(jac),
    }


def main():
    cases = json.load(sys.stdin)
    json.dump([run(c) for c in cases], sys.stdout)


if __name__ == "__main__":
    main()
