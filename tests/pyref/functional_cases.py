"""Live PyTorch twin of tests/functional_*.rs: torch.autograd.grad and torch.autograd.functional.

Reads a JSON list of cases on stdin and prints one JSON list of results. A case names a
function from FUNCS (tests/common/functional_cases.rs defines the same functions, op for op, under the same
names), a family (grad, jacobian, hessian, vjp, jvp, vhp, hvp), its inputs as float64 values
with a shape and a dtype, and the keyword arguments. The result is either the tensors PyTorch
returns, as float64 bit patterns (exact for float32) with their shapes and requires_grad flags,
or the type and text of the exception PyTorch raises.

When create_graph=True, the results are also differentiated once more: the sum of squares of
every result that requires grad, by torch.autograd.grad with respect to every input (and every
v) that requires grad, so the recorded graphs are compared too, not only the values.
"""

import json
import sys

import numpy as np
import torch
from torch.autograd import functional as F
from torch.distributions import MultivariateNormal

DTYPES = {"f32": torch.float32, "f64": torch.float64}


# The function table. Each takes the case's constants and the inputs, and returns a tensor or
# a tuple of tensors. Keep in step with `call` in tests/common/functional_cases.rs.


def quartic(c, x):
    xf = x.reshape(-1)
    return (x**4).sum() + (xf[0] * xf[-1]) ** 2


def elementwise(c, x):
    return x.sin() * x.exp()


def quadratic(c, x):
    return (x * x).sum()


def linear(c, x):
    return x * 3 + 1


def linear_sum(c, x):
    return (x * 3).sum()


def constant(c, x):
    return torch.ones(3, dtype=x.dtype)


def log_softmax(c, x):
    return x.log_softmax(-1)


def log_softmax_sum(c, x):
    return (x.log_softmax(-1) * x).sum()


def softmax_sum(c, x):
    return (x.softmax(-1) * x).sum()


def logsigmoid(c, x):
    return torch.nn.functional.logsigmoid(x)


def logsigmoid_sum(c, x):
    return (torch.nn.functional.logsigmoid(x) * x).sum()


def layer_norm_sum(c, x):
    return (torch.nn.functional.layer_norm(x, x.shape[-1:]) * x).sum()


def batch_norm_sum(c, x):
    return (torch.nn.functional.batch_norm(x, None, None, training=True) * x).sum()


def nested_forward(c, x):
    return F.jacobian(torch.sin, x, vectorize=True, strategy="forward-mode").sum()


def trace_cube(c, x):
    return torch.trace(x @ x @ x)


def nullary(c):
    return torch.ones(2, dtype=c["dtype"], requires_grad=True) * 2


def nullary_sum(c):
    return (torch.ones(2, dtype=c["dtype"], requires_grad=True) * 2).sum()


def two_outputs(c, x, y):
    return x * y, (x**2).sum() + y.sin().sum()


def pair_scalar(c, x, y):
    return ((x**2) * y.sin()).sum() + (x * y).exp().sum()


def separable(c, x, y):
    return (x**3).sum() + (y**3).sum()


def unused_input(c, x, y):
    return (x * x.sin()).sum()


def leaf_output(c, x):
    return x.sin(), torch.zeros((), dtype=x.dtype, requires_grad=True)


def leaf_weight(c, x, y):
    w = torch.full_like(y, 0.5).requires_grad_()
    return (x**3).sum() + (y * w).sum()


def mvn(c, mu):
    d, n = c["d"], c["n"]
    L = torch.tensor(c["scale_tril"], dtype=torch.float64).reshape(d, d).to(mu.dtype)
    samples = torch.tensor(c["samples"], dtype=torch.float64).reshape(n, d).to(mu.dtype)
    return MultivariateNormal(mu, scale_tril=L).log_prob(samples)


def mvn_log_prob(c, mu):
    return mvn(c, mu)


def mvn_log_prob_sum(c, mu):
    return mvn(c, mu).sum()


def matmul_chain(c, a, b):
    return torch.tanh(a @ b) @ b.t()


def matmul_chain_sum(c, a, b):
    return (torch.tanh(a @ b) @ b.t()).sum()


FUNCS = {
    f.__name__: f
    for f in [
        quartic,
        elementwise,
        quadratic,
        linear,
        linear_sum,
        constant,
        log_softmax,
        log_softmax_sum,
        softmax_sum,
        logsigmoid,
        logsigmoid_sum,
        layer_norm_sum,
        batch_norm_sum,
        nested_forward,
        trace_cube,
        nullary,
        nullary_sum,
        two_outputs,
        pair_scalar,
        separable,
        unused_input,
        leaf_output,
        leaf_weight,
        mvn_log_prob,
        mvn_log_prob_sum,
        matmul_chain,
        matmul_chain_sum,
    ]
}


def tensor(spec, dtype):
    t = torch.tensor(spec["values"], dtype=torch.float64).reshape(spec["shape"]).to(dtype)
    if spec.get("requires_grad"):
        t.requires_grad_()
    return t


def bits(t):
    if t is None:
        return None
    d = t.detach().to(torch.float64).contiguous()
    return {
        "shape": list(d.shape),
        "bits": d.reshape(-1).numpy().view(np.uint64).tolist(),
        "requires_grad": t.requires_grad,
        "grad_fn": None if t.grad_fn is None else type(t.grad_fn).__name__,
    }


def as_list(x, is_tuple):
    return list(x) if is_tuple else [x]


def run(case):
    dtype = DTYPES[case["dtype"]]
    inputs = [tensor(s, dtype) for s in case["inputs"]]
    v = None if case.get("v") is None else [tensor(s, dtype) for s in case["v"]]
    leaves = [t for t in inputs + (v or []) if t.requires_grad]
    consts = dict(case.get("consts", {}), dtype=dtype)
    f = FUNCS[case["func"]]
    tuple_out = case.get("tuple_outputs", False)

    def func(*xs):
        out = f(consts, *xs)
        return (out,) if tuple_out and isinstance(out, torch.Tensor) else out

    ti = case.get("tuple_inputs", len(inputs) != 1)
    inp = tuple(inputs) if ti else inputs[0]
    if v is not None:
        v_arg = tuple(v) if case.get("tuple_v", len(v) != 1) else v[0]
    else:
        v_arg = None
    o = case.get("opts", {})
    fam = case["family"]
    outputs = []
    if fam == "grad":
        outs = func(*inputs)
        outs = list(outs) if isinstance(outs, tuple) else [outs]
        outs = [outs[i] for i in case["grad_of"]]
        wrt = [inputs[i] for i in case["wrt"]]
        gos = case.get("grad_outputs")
        if gos is not None:
            gos = [None if g is None else tensor(g, dtype) for g in gos]
            leaves += [g for g in gos if g is not None and g.requires_grad]
        kw = {}
        for k in ("retain_graph", "create_graph", "allow_unused", "is_grads_batched", "materialize_grads"):
            if k in o:
                kw[k] = o[k]
        res = list(torch.autograd.grad(outs, wrt, grad_outputs=gos, **kw))
    elif fam == "jacobian":
        is_out_tuple = []

        def wrapped(*xs):
            out = func(*xs)
            is_out_tuple.append(isinstance(out, tuple))
            return out

        j = F.jacobian(wrapped, inp, **o)
        rows = as_list(j, is_out_tuple[0])
        res = [t for row in rows for t in as_list(row, ti)]
    elif fam == "hessian":
        h = F.hessian(func, inp, **o)
        res = [t for row in as_list(h, ti) for t in as_list(row, ti)]
    elif fam in ("vjp", "jvp", "vhp", "hvp"):
        out, r = getattr(F, fam)(func, inp, v_arg, **o)
        outputs = list(out) if isinstance(out, tuple) else [out]
        res = list(r) if isinstance(r, tuple) else [r]
    else:
        raise ValueError(fam)
    result = {"ok": True, "outputs": [bits(t) for t in outputs], "results": [bits(t) for t in res]}
    if o.get("create_graph"):
        # Second order: d/d(leaves) of the sum of squares of the results that require grad.
        total = None
        for t in res:
            if t is not None and t.requires_grad:
                s = (t * t).sum()
                total = s if total is None else total + s
        if total is not None and leaves:
            g2 = torch.autograd.grad(total, leaves, allow_unused=True)
            result["second"] = [bits(t) for t in g2]
    return result


def run_catching(case):
    try:
        return run(case)
    except Exception as e:  # the error table compares type and text
        return {"ok": False, "type": type(e).__name__, "msg": str(e)}


def main():
    cases = json.load(sys.stdin)
    json.dump([run_catching(c) for c in cases], sys.stdout)


if __name__ == "__main__":
    main()
