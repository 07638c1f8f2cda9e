"""SciPy peer for difflab's approach-3 fit (tools/bench/src/fit-vs-scipy.ts).

Input (one JSON argument): {"N": [...], "D": [...], "L": [...], "delta": float, "theta_difflab": [a, b, e, alpha, beta]}.
Minimises sum_i huber_delta(LSE(a - alpha log N_i, b - beta log D_i, e) - log L_i) with
scipy.optimize.minimize(method="L-BFGS-B") from Hoffmann et al.'s grid of 4500 starts and
prints one JSON line: best theta, its objective, difflab's theta under this objective, timings.
"""
import itertools
import json
import sys
import time

import numpy as np
from scipy.optimize import minimize
from scipy.special import huber, logsumexp, softmax


def make_objective(log_n, log_d, log_l, delta):
    def objective(theta):
        a, b, e, alpha, beta = theta
        u = np.stack([a - alpha * log_n, b - beta * log_d, np.full_like(log_n, e)])
        r = logsumexp(u, axis=0) - log_l
        w = softmax(u, axis=0)
        psi = np.clip(r, -delta, delta)  # derivative of the Huber function
        grad = np.array([
            np.sum(psi * w[0]),
            np.sum(psi * w[1]),
            np.sum(psi * w[2]),
            -np.sum(psi * w[0] * log_n),
            -np.sum(psi * w[1] * log_d),
        ])
        return float(np.sum(huber(delta, r))), grad
    return objective


def main():
    spec = json.loads(sys.argv[1])
    log_n, log_d, log_l = (np.log(np.asarray(spec[k], dtype=np.float64)) for k in ("N", "D", "L"))
    objective = make_objective(log_n, log_d, log_l, float(spec["delta"]))
    grid = list(itertools.product(np.arange(0, 30, 5), np.arange(0, 30, 5), np.arange(-1, 1.5, 0.5),
                                  np.arange(0, 2.5, 0.5), np.arange(0, 2.5, 0.5)))
    # Same stopping rules as difflab's L-BFGS: relative f decrease 1e-12, max |gradient| 1e-8.
    options = {"maxiter": 1000, "ftol": 1e-12, "gtol": 1e-8}
    t0 = time.perf_counter()
    best = None
    for x0 in grid:
        res = minimize(objective, np.array(x0, dtype=np.float64), jac=True, method="L-BFGS-B", options=options)
        if np.isfinite(res.fun) and (best is None or res.fun < best.fun):
            best = res
    seconds = time.perf_counter() - t0
    theirs = np.asarray(spec["theta_difflab"], dtype=np.float64)
    print(json.dumps({
        "theta": best.x.tolist(),
        "objective": best.fun,
        "objective_at_difflab_theta": objective(theirs)[0],
        "starts": len(grid),
        "seconds": seconds,
        "scipy": __import__("scipy").__version__,
        "numpy": np.__version__,
    }))


if __name__ == "__main__":
    main()
