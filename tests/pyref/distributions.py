"""Live PyTorch twin of tests/distributions.rs.

Reads a JSON list of cases on stdin. Each case names a distribution (built from a spec of
parameter tensors), a KL pair, or an error to provoke; the script runs the same sequence of
calls tchdist runs and prints one JSON list of dicts, output name -> result, with every tensor
as float64 bit patterns (exact for float32) so that Rust can compare bit for bit.

Result encodings: {"t": {"shape", "bits"}} a tensor, {"shape": [...]} a torch.Size,
{"text": s} a string, {"bool": b}, {"none": true} an unused gradient, {"err": [class, str(e)]}
an exception (class: ValueError, NotImplementedError or RuntimeError, LinAlgError included).
"""

import json
import sys

import torch
from parity_common import bits, err, record
from torch.distributions import (
    Independent,
    LowRankMultivariateNormal,
    MultivariateNormal,
    Normal,
    kl_divergence,
)

DTYPES = {"f32": torch.float32, "f64": torch.float64}
LAZY = ("covariance_matrix", "precision_matrix", "scale_tril")


def tensor(spec, dtype, leaves):
    data = [float(x) for x in spec["data"]]  # "nan", "inf", "-inf" arrive as strings
    t = torch.tensor(data, dtype=torch.float64).reshape(spec["shape"]).to(dtype)
    if spec.get("grad", True):
        t.requires_grad_(True)
        leaves.append(t)
    return t


def build(spec, dtype, leaves):
    kind = spec["kind"]
    validate = spec.get("validate", True)
    if kind == "normal":
        loc = tensor(spec["loc"], dtype, leaves)
        scale = tensor(spec["scale"], dtype, leaves)
        return Normal(loc, scale, validate_args=validate)
    if kind == "mvn":
        loc = tensor(spec["loc"], dtype, leaves)
        matrix = tensor(spec["matrix"], dtype, leaves)
        return MultivariateNormal(loc, validate_args=validate, **{spec["param"]: matrix})
    if kind == "lowrank":
        loc = tensor(spec["loc"], dtype, leaves)
        w = tensor(spec["cov_factor"], dtype, leaves)
        d = tensor(spec["cov_diag"], dtype, leaves)
        return LowRankMultivariateNormal(loc, w, d, validate_args=validate)
    if kind == "independent":
        base = build(spec["base"], dtype, leaves)
        return Independent(base, spec["n"], validate_args=validate)
    raise ValueError(kind)


def lazies(out, prefix, d):
    if isinstance(d, (MultivariateNormal, LowRankMultivariateNormal)):
        for name in LAZY:
            record(out, f"{prefix}{name}", lambda name=name: getattr(d, name))
    if isinstance(d, LowRankMultivariateNormal):
        record(out, f"{prefix}capacitance_tril", lambda: d._capacitance_tril)


def run_dist(case):
    dtype = DTYPES[case["dtype"]]
    leaves = []
    d = build(case["dist"], dtype, leaves)
    seed = case["seed"]
    ss = case["sample_shape"]
    out = {
        "batch_shape": {"shape": list(d.batch_shape)},
        "event_shape": {"shape": list(d.event_shape)},
        "repr": {"text": repr(d)},
        "support": {"text": repr(d.support)},
        "has_rsample": {"bool": d.has_rsample},
    }
    for name in case.get("touch", []):
        getattr(d, name)
    out["repr.touched"] = {"text": repr(d)}
    try:
        e = d.expand(case["expand"])
    except Exception as ex:  # noqa: BLE001
        out["expand"] = err(ex)
        e = None
    if e is not None:
        out["expand.batch_shape"] = {"shape": list(e.batch_shape)}
        out["expand.repr"] = {"text": repr(e)}
        torch.manual_seed(seed + 2)
        es = record(out, "expand.sample", lambda: e.sample(ss))
        if es is not None:
            record(out, "expand.log_prob", lambda: e.log_prob(es))
        record(out, "expand.entropy", lambda: e.entropy())
        record(out, "expand.mean", lambda: e.mean)
        record(out, "expand.variance", lambda: e.variance)
        lazies(out, "expand.", e)
    torch.manual_seed(seed)
    s = record(out, "sample", lambda: d.sample(ss))
    torch.manual_seed(seed + 1)
    record(out, "rsample", lambda: d.rsample(ss), leaves)
    value = tensor(case["value"], dtype, [])
    record(out, "log_prob", lambda: d.log_prob(value), leaves)
    if s is not None:
        record(out, "log_prob.sample", lambda: d.log_prob(s))
    record(out, "cdf", lambda: d.cdf(value), leaves)
    u = tensor(case["u"], dtype, [])
    record(out, "icdf", lambda: d.icdf(u), leaves)
    record(out, "entropy", lambda: d.entropy(), leaves)
    record(out, "perplexity", lambda: d.perplexity())
    record(out, "mean", lambda: d.mean)
    record(out, "mode", lambda: d.mode)
    record(out, "variance", lambda: d.variance)
    record(out, "stddev", lambda: d.stddev)
    lazies(out, "", d)
    return out


def run_kl(case):
    dtype = DTYPES[case["dtype"]]
    leaves = []
    p = build(case["p"], dtype, leaves)
    q = build(case["q"], dtype, leaves)
    out = {}
    record(out, "kl", lambda: kl_divergence(p, q), leaves)
    return out


def run_error(case):
    dtype = DTYPES[case["dtype"]]
    leaves = []
    action = case["action"]
    torch.manual_seed(0)
    try:
        if action == "kl":
            p = build(case["p"], dtype, leaves)
            q = build(case["q"], dtype, leaves)
            result = kl_divergence(p, q)
        else:
            d = build(case["dist"], dtype, leaves)
            if action == "construct":
                result = None
            elif action == "expand":
                d.expand(case["expand"])
                result = None
            else:
                value = tensor(case["value"], dtype, []) if "value" in case else None
                result = {
                    "log_prob": lambda: d.log_prob(value),
                    "cdf": lambda: d.cdf(value),
                    "icdf": lambda: d.icdf(value),
                    "sample": lambda: d.sample(case["sample_shape"]),
                    "rsample": lambda: d.rsample(case["sample_shape"]),
                }[action]()
    except Exception as e:  # noqa: BLE001
        return {"result": err(e)}
    return {"result": {"bool": True} if result is None else bits(result)}


def main():
    cases = json.load(sys.stdin)
    runners = {"dist": run_dist, "kl": run_kl, "error": run_error}
    json.dump([runners[c["kind"]](c) for c in cases], sys.stdout)


if __name__ == "__main__":
    main()
