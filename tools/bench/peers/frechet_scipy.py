"""Peer for tools/bench/src/frechet-scipy.ts: FID as pytorch-fid computes it (NumPy + SciPy).

usage: /usr/bin/python3 frechet_scipy.py FEATURES.npz OURS.npz
FEATURES.npz holds x1, x2 (rows = samples); OURS.npz holds difflab's mu1, sigma1, mu2, sigma2.
Prints one JSON object: SciPy's FID (with and without pytorch-fid's eps fallback forced), the
largest differences between our statistics and np.mean/np.cov, and timings.
"""
import json
import sys
import time

import numpy as np
from scipy import linalg


def pytorch_fid_distance(mu1, sigma1, mu2, sigma2, eps=1e-6, force_offset=False):
    """pytorch-fid's calculate_frechet_distance: sqrtm of the product, eps*I retry, real part."""
    diff = mu1 - mu2
    covmean, _ = linalg.sqrtm(sigma1.dot(sigma2), disp=False)
    retried = False
    if force_offset or not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
        retried = True
    max_imag = float(np.abs(np.diagonal(covmean).imag).max()) if np.iscomplexobj(covmean) else 0.0
    covmean = covmean.real
    fid = diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean)
    return float(fid), retried, max_imag


def main():
    feats = np.load(sys.argv[1])
    ours = np.load(sys.argv[2])
    x1 = feats["x1"].astype(np.float64)
    x2 = feats["x2"].astype(np.float64)
    t0 = time.perf_counter()
    mu1, sigma1 = np.mean(x1, axis=0), np.cov(x1, rowvar=False)
    mu2, sigma2 = np.mean(x2, axis=0), np.cov(x2, rowvar=False)
    t_stats = time.perf_counter() - t0
    t0 = time.perf_counter()
    fid, retried, max_imag = pytorch_fid_distance(mu1, sigma1, mu2, sigma2)
    t_fid = time.perf_counter() - t0
    fid_eps, _, _ = pytorch_fid_distance(mu1, sigma1, mu2, sigma2, force_offset=True)

    def rel(a, b):
        return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))

    print(json.dumps({
        "fid": fid,
        "fid_eps": fid_eps,
        "retried_with_eps": retried,
        "max_imag_diag": max_imag,
        "mu_rel_diff": max(rel(ours["mu1"], mu1), rel(ours["mu2"], mu2)),
        "sigma_rel_diff": max(rel(ours["sigma1"], sigma1), rel(ours["sigma2"], sigma2)),
        "seconds_stats": t_stats,
        "seconds_fid": t_fid,
    }))


if __name__ == "__main__":
    main()
