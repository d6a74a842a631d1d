"""Live PyTorch twin of tests/dist_parity/mod.rs (the tests of Bernoulli, Categorical,
OneHotCategorical and the distributions added after them).

Reads a JSON list of cases on stdin; each case names a distribution built from a spec of
parameter tensors, or an error to provoke; runs the same sequence of calls tchdist runs and
prints one JSON list of dicts, output name -> result, every tensor as float64 bit patterns
(exact for float32 and int64 values this small).

Result encodings: {"t": {"shape", "bits"}} a tensor, {"shape": [...]} a torch.Size,
{"text": s} a string, {"bool": b}, {"none": true} an unused gradient, {"err": [class, str(e)]}
an exception (ValueError, NotImplementedError or RuntimeError).
"""

import json
import sys

import torch
from parity_common import bits, err, record
from torch.distributions import (
    Bernoulli,
    Beta,
    Categorical,
    Cauchy,
    Dirichlet,
    Exponential,
    Gamma,
    Geometric,
    Independent,
    Normal,
    OneHotCategorical,
    OneHotCategoricalStraightThrough,
    Poisson,
    TransformedDistribution,
    Uniform,
    kl_divergence,
)
from torch.distributions.transforms import (
    AffineTransform,
    ExpTransform,
    SigmoidTransform,
    TanhTransform,
)

DTYPES = {"f32": torch.float32, "f64": torch.float64}


def tensor(spec, dtype, leaves):
    data = [float(x) for x in spec["data"]]  # "nan", "inf", "-inf" arrive as strings
    if spec.get("dtype") == "i64":
        return torch.tensor(data, dtype=torch.float64).reshape(spec["shape"]).to(torch.int64)
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
    classes = {
        "bernoulli": Bernoulli,
        "categorical": Categorical,
        "onehot": OneHotCategorical,
        "onehot_st": OneHotCategoricalStraightThrough,
        "geometric": Geometric,
    }
    one = {"exponential": Exponential, "poisson": Poisson, "dirichlet": Dirichlet}
    two = {"cauchy": Cauchy, "gamma": Gamma, "beta": Beta, "uniform": Uniform}
    if kind in one:
        return one[kind](tensor(spec["a"], dtype, leaves), validate_args=validate)
    if kind in two:
        a = tensor(spec["a"], dtype, leaves)
        b = tensor(spec["b"], dtype, leaves)
        return two[kind](a, b, validate_args=validate)
    if kind in classes:
        p = tensor(spec["p"], dtype, leaves)
        return classes[kind](validate_args=validate, **{spec.get("param", "probs"): p})
    if kind == "transformed":
        base = build(spec["base"], dtype, leaves)
        transforms = [build_transform(t, dtype, leaves) for t in spec["transforms"]]
        return TransformedDistribution(base, transforms, validate_args=validate)
    if kind == "independent":
        base = build(spec["base"], dtype, leaves)
        return Independent(base, spec["n"], validate_args=validate)
    raise ValueError(kind)


def build_transform(spec, dtype, leaves):
    kind = spec["t"]
    if kind == "affine":
        loc = tensor(spec["loc"], dtype, leaves)
        scale = tensor(spec["scale"], dtype, leaves)
        t = AffineTransform(loc, scale, event_dim=spec.get("event_dim", 0))
    else:
        t = {"exp": ExpTransform, "sigmoid": SigmoidTransform, "tanh": TanhTransform}[kind]()
    t = t.with_cache(spec.get("cache", 0))
    return t.inv if spec.get("inv", False) else t


def extras(out, prefix, d, leaves):
    if isinstance(d, (Bernoulli, Categorical, OneHotCategorical)):
        record(out, f"{prefix}probs", lambda: d.probs, leaves)
        record(out, f"{prefix}logits", lambda: d.logits, leaves)
        out[f"{prefix}param_shape"] = {"shape": list(d.param_shape)}
    if isinstance(d, Geometric):
        record(out, f"{prefix}probs", lambda: d.probs, leaves)
        record(out, f"{prefix}logits", lambda: d.logits, leaves)
    if isinstance(d, Beta):
        record(out, f"{prefix}concentration1", lambda: d.concentration1, leaves)
        record(out, f"{prefix}concentration0", lambda: d.concentration0, leaves)


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
        "has_enumerate_support": {"bool": d.has_enumerate_support},
    }
    if case.get("touch", False):
        extras(out, "", d, leaves)
    out["repr.touched"] = {"text": repr(d)}
    record(out, "enumerate_support", lambda: d.enumerate_support(True))
    record(out, "enumerate_support.noexpand", lambda: d.enumerate_support(False))
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
        record(out, "expand.enumerate_support", lambda: e.enumerate_support(True))
        extras(out, "expand.", e, [])
    torch.manual_seed(seed)
    s = record(out, "sample", lambda: d.sample(ss))
    torch.manual_seed(seed + 1)
    r = record(out, "rsample", lambda: d.rsample(ss), leaves)
    if r is not None:
        record(out, "log_prob.rsample", lambda: d.log_prob(r), leaves)
    value = tensor(case["value"], dtype, [])
    record(out, "log_prob", lambda: d.log_prob(value), leaves)
    if s is not None:
        record(out, "log_prob.sample", lambda: d.log_prob(s), leaves)
    record(out, "cdf", lambda: d.cdf(value), leaves)
    u = tensor(case["u"], dtype, [])
    record(out, "icdf", lambda: d.icdf(u), leaves)
    record(out, "entropy", lambda: d.entropy(), leaves)
    record(out, "perplexity", lambda: d.perplexity())
    record(out, "mean", lambda: d.mean, leaves)
    record(out, "mode", lambda: d.mode)
    record(out, "variance", lambda: d.variance, leaves)
    record(out, "stddev", lambda: d.stddev)
    out["repr.end"] = {"text": repr(d)}
    extras(out, "", d, leaves)
    return out


def run_transform(case):
    dtype = DTYPES[case["dtype"]]
    leaves = []
    t = build_transform(case["transform"], dtype, leaves)
    x = tensor(case["x"], dtype, leaves)
    out = {
        "repr": {"text": repr(t)},
        "domain": {"text": repr(t.domain)},
        "codomain": {"text": repr(t.codomain)},
    }

    def sign():
        s = t.sign
        if isinstance(s, int):
            raise ValueError("int")
        return s

    record(out, "sign", sign)
    try:
        out["forward_shape"] = {"shape": list(t.forward_shape(torch.Size(case["shape"])))}
    except Exception as e:  # noqa: BLE001
        out["forward_shape"] = err(e)
    y = record(out, "y", lambda: t(x), leaves)
    if y is not None:
        record(out, "y.again", lambda: t(x), leaves)
        record(out, "x.cached", lambda: t.inv(y), leaves)
        record(out, "lad", lambda: t.log_abs_det_jacobian(x, y), leaves)
    y2 = tensor(case["y"], dtype, [])
    record(out, "inverse", lambda: t.inv(y2), leaves)
    return out


def run_kl(case):
    dtype = DTYPES[case["dtype"]]
    leaves = []
    out = {}
    try:
        p = build(case["p"], dtype, leaves)
        q = build(case["q"], dtype, leaves)
    except Exception as e:  # noqa: BLE001
        out["kl"] = err(e)
        return out
    record(out, "kl", lambda: kl_divergence(p, q), leaves)
    return out


def run_error(case):
    dtype = DTYPES[case["dtype"]]
    leaves = []
    action = case["action"]
    torch.manual_seed(0)
    try:
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
                "sample": lambda: d.sample(case.get("sample_shape", [])),
                "rsample": lambda: d.rsample(case.get("sample_shape", [])),
                "enumerate_support": lambda: d.enumerate_support(True),
            }[action]()
    except Exception as e:  # noqa: BLE001
        return {"result": err(e)}
    return {"result": {"bool": True} if result is None else bits(result)}


def main():
    cases = json.load(sys.stdin)
    runners = {"dist": run_dist, "transform": run_transform, "kl": run_kl, "error": run_error}
    json.dump([runners[c["kind"]](c) for c in cases], sys.stdout)


if __name__ == "__main__":
    main()
