"""SciPy's view of samples drawn by tchdist (tests/gemm_sampler.rs): reads a JSON list of
{"loc": (d,), "cov": (d, d), "samples": (n, d), "log_prob": (n,)} on stdin and prints, per case,
how scipy.stats sees them:

- "logpdf_max_err": max |log_prob - scipy.stats.multivariate_normal(loc, cov).logpdf(samples)|
  relative to max(1, |logpdf|);
- "chi2_p": the Kolmogorov-Smirnov p-value of the squared Mahalanobis distances (computed by
  SciPy from cov) against chi2(d), which they follow exactly when the samples are N(loc, cov);
- "marginal_p": the smallest KS p-value of the standardised coordinates against N(0, 1);
- "pair_p": the smallest KS p-value of the whitened sums (z_i + z_j)/sqrt(2) against N(0, 1)
  (the coordinates' correlations: a wrong off-diagonal makes these non-normal-unit).
"""

import json
import sys

import numpy as np
import scipy
from scipy import linalg, stats


def check(case):
    loc = np.asarray(case["loc"], dtype=np.float64)
    cov = np.asarray(case["cov"], dtype=np.float64)
    x = np.asarray(case["samples"], dtype=np.float64)
    lp = np.asarray(case["log_prob"], dtype=np.float64)
    d = loc.shape[0]
    logpdf = np.atleast_1d(stats.multivariate_normal(loc, cov).logpdf(x))
    err = np.max(np.abs(lp - logpdf) / np.maximum(1.0, np.abs(logpdf)))
    # Whitened coordinates z = L^-1 (x - loc): independent N(0, 1) under the hypothesis.
    L = linalg.cholesky(cov, lower=True)
    z = linalg.solve_triangular(L, (x - loc).T, lower=True).T
    m = np.sum(z * z, axis=1)
    chi2_p = stats.kstest(m, "chi2", args=(d,)).pvalue
    marginal = min(stats.kstest((x[:, i] - loc[i]) / np.sqrt(cov[i, i]), "norm").pvalue
                   for i in range(d))
    pairs = [stats.kstest((z[:, i] + z[:, j]) / np.sqrt(2.0), "norm").pvalue
             for i in range(d) for j in range(i + 1, d)]
    return {
        "logpdf_max_err": float(err),
        "chi2_p": float(chi2_p),
        "marginal_p": float(marginal),
        "pair_p": float(min(pairs)) if pairs else 1.0,
    }


def main():
    cases = json.load(sys.stdin)
    json.dump({"scipy": scipy.__version__, "results": [check(c) for c in cases]}, sys.stdout)


if __name__ == "__main__":
    main()
