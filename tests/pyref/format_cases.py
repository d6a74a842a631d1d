"""Reference cases for `tchdist::format::tensor_repr`, from PyTorch's own repr.

Usage: python tests/pyref/format_cases.py SEED COUNT [MODE]

Prints ONE JSON document to stdout: a list of COUNT objects
    {"shape": [..], "dtype": "f32"|"f64", "bits": [u64...], "repr": "..."}
where `bits` are the float64 bit patterns of the values in row-major order and
`repr` is `repr(t)` under the print options in force.

MODE (optional):
    mixed      (default) varied ranks 0..4, shapes (empty ones, >1000 elements,
               rows wider than linewidth), magnitudes 1e-12..1e12, integer-valued
               data, nan/inf/-inf/-0.0, float32 and float64; default print options.
    summarize  every tensor has more than 1000 elements (summarization).
    options    like `mixed`, but each case sets random print options; those cases
               carry an extra key "opts": {"precision", "threshold", "edgeitems",
               "linewidth", "sci_mode" (true/false/null)}.
"""

import json
import sys

import numpy as np
import torch

SPECIALS = [float("nan"), float("inf"), float("-inf"), -0.0, 0.0]


def big_shape(rng, rank, max_numel):
    """A shape of the given rank with 1000 < numel <= max_numel."""
    if rank == 1:
        return [int(rng.randint(1001, 4000))]
    maxd = {2: 150, 3: 30, 4: 13}[rank]
    for _ in range(1000):
        shape = [int(rng.randint(1, maxd + 1)) for _ in range(rank)]
        if 1000 < int(np.prod(shape)) <= max_numel:
            return shape
    return [11] + [10] * (rank - 1)


def gen_shape(rng, mode):
    if mode == "summarize":
        return big_shape(rng, int(rng.randint(1, 5)), 20000)
    rank = int(rng.randint(0, 5))
    if rank == 0:
        return []
    r = rng.rand()
    if r < 0.08:
        # empty tensor: at least one zero dimension
        shape = [int(rng.randint(0, 4)) for _ in range(rank)]
        shape[int(rng.randint(rank))] = 0
        return shape
    if r < 0.25:
        # large enough to be summarized
        return big_shape(rng, rank, 12000)
    if r < 0.30:
        # right at the threshold
        return {1: [1000], 2: [10, 100], 3: [10, 10, 10], 4: [2, 5, 10, 10]}[rank]
    if r < 0.40:
        # one short line: the dtype suffix lands right around linewidth
        return [int(rng.randint(1, 16))]
    maxd = {1: 60, 2: 14, 3: 7, 4: 5}[rank]
    return [int(rng.randint(1, maxd + 1)) for _ in range(rank)]


def gen_values(rng, n):
    kind = rng.choice(
        [
            "normal",
            "loguniform",
            "ints",
            "small_ints",
            "ints_with_fraction",
            "dyadic",
            "near_thresholds",
            "round_edge",
            "constant",
            "specials_only",
            "extreme",
        ]
    )
    sign = np.where(rng.rand(n) < 0.5, -1.0, 1.0)
    if kind == "normal":
        v = rng.randn(n) * 10.0 ** rng.uniform(-12, 12)
    elif kind == "loguniform":
        lo = rng.uniform(-12, 12)
        hi = min(12.0, lo + rng.uniform(0, 8))
        v = sign * 10.0 ** rng.uniform(lo, hi, n)
    elif kind == "ints":
        k = int(rng.randint(1, 13))
        v = np.floor(rng.uniform(-(10.0**k), 10.0**k, n))
    elif kind == "small_ints":
        v = rng.randint(-3, 4, n).astype(np.float64)
    elif kind == "ints_with_fraction":
        v = rng.randint(-1000, 1000, n).astype(np.float64)
        if n:
            v[int(rng.randint(n))] += rng.choice([0.5, 0.25, 0.1, 1e-3])
    elif kind == "dyadic":
        v = rng.randint(-4000, 4000, n) / 2.0 ** rng.randint(1, 9)
    elif kind == "near_thresholds":
        base = rng.choice([1e-4, 1e8, 1.0])
        v = sign * base * (1.0 + rng.uniform(-1e-6, 1e-6, n))
        if base == 1.0 and n:
            # ratio of max to min right around 1000
            v[int(rng.randint(n))] = 1000.0 * (1.0 + rng.uniform(-1e-6, 1e-6))
    elif kind == "round_edge":
        v = sign * (rng.randint(0, 100000, n) / 1e4 + 5e-5)
    elif kind == "constant":
        v = np.full(n, rng.choice([0.0, -0.0, 1.0, -2.5, 1e-7, 3e9, 7.0]))
    elif kind == "specials_only":
        v = np.array([SPECIALS[int(i)] for i in rng.randint(0, 5, n)], dtype=np.float64)
    else:  # extreme magnitudes (3-digit exponents in float64, subnormals in float32)
        v = sign * 10.0 ** rng.uniform(-300, 300, n)
    v = np.asarray(v, dtype=np.float64)
    if n and kind != "specials_only" and rng.rand() < 0.4:
        frac = rng.choice([0.02, 0.1, 0.5])
        mask = rng.rand(n) < frac
        for i in np.nonzero(mask)[0]:
            v[i] = SPECIALS[int(rng.randint(0, 5))]
    return v


def gen_opts(rng):
    return {
        "precision": int(rng.randint(0, 9)),
        "threshold": int(rng.choice([0, 5, 20, 100, 1000, 100000])),
        "edgeitems": int(rng.randint(0, 5)),
        "linewidth": int(rng.randint(10, 201)),
        "sci_mode": [None, True, False][int(rng.randint(0, 3))],
    }


def main():
    seed = int(sys.argv[1])
    count = int(sys.argv[2])
    mode = sys.argv[3] if len(sys.argv) > 3 else "mixed"
    if mode not in ("mixed", "summarize", "options"):
        raise SystemExit(f"unknown mode {mode!r}")
    rng = np.random.RandomState(seed)
    cases = []
    for _ in range(count):
        shape = gen_shape(rng, mode)
        n = int(np.prod(shape)) if shape else 1
        values = gen_values(rng, n)
        dtype = "f32" if rng.rand() < 0.6 else "f64"
        with np.errstate(over="ignore"):
            t = torch.from_numpy(values).reshape(shape)
            if dtype == "f32":
                t = t.float()
        case = {"shape": list(shape), "dtype": dtype}
        case["bits"] = t.double().flatten().numpy().view(np.uint64).tolist()
        if mode == "options":
            opts = gen_opts(rng)
            torch.set_printoptions(**opts)
            try:
                case["repr"] = repr(t)
            finally:
                torch.set_printoptions(profile="default", sci_mode=None)
            case["opts"] = opts
        else:
            case["repr"] = repr(t)
        cases.append(case)
    json.dump(cases, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
