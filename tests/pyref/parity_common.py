"""The pieces both distribution twins (distributions.py, dist_parity.py) share: a tensor as
float64 bit patterns, an exception as its class and text, and `record`, which stores a result
with its gradients."""

import numpy as np
import torch


def bits(t):
    t = t.detach().to(torch.float64).contiguous()
    return {"t": {"shape": list(t.shape), "bits": t.reshape(-1).numpy().view(np.uint64).tolist()}}


def err(e):
    if isinstance(e, NotImplementedError):
        cls = "NotImplementedError"
    elif isinstance(e, ValueError):
        cls = "ValueError"
    elif isinstance(e, RuntimeError):
        cls = "RuntimeError"
    else:
        raise e
    return {"err": [cls, str(e)]}


def cotangent(out):
    n = out.numel()
    v = (torch.arange(n, dtype=torch.float64) % 7 - 3) / 4
    return v.reshape(out.shape).to(out.dtype)


def record(out, name, fn, leaves=None):
    """Runs fn; stores its tensor (and, given leaves, the gradients w.r.t. each leaf)."""
    try:
        value = fn()
    except Exception as e:  # noqa: BLE001 - every exception is recorded and compared
        out[name] = err(e)
        return None
    out[name] = bits(value)
    if leaves and value.requires_grad:
        try:
            grads = torch.autograd.grad(
                value, leaves, grad_outputs=cotangent(value), retain_graph=True, allow_unused=True
            )
        except Exception as e:  # noqa: BLE001 - e.g. a derivative PyTorch does not implement
            out[f"grad.{name}"] = err(e)
            return value
        for i, g in enumerate(grads):
            out[f"grad.{name}.{i}"] = {"none": True} if g is None else bits(g)
    return value
