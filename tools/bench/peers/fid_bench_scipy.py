"""Peer for tools/bench/src/fid-bench.ts: times pytorch-fid's Fréchet distance (NumPy + SciPy).

usage: /usr/bin/python3 fid_bench_scipy.py '{"stats": "STATS.npz", "threads": 2, "repeats": 3}'
STATS.npz holds mu1, sigma1, mu2, sigma2 (float64), exactly the statistics difflab timed.
Prints one JSON object: the distance, the seconds of each repeat, and the versions and threads used.
"""
import json
import os
import sys
import time


def main():
    args = json.loads(sys.argv[1])
    threads = str(int(args["threads"]))
    # OpenBLAS (Debian's NumPy/SciPy BLAS) reads these when it is loaded, so they are set before the
    # imports; this is how a user pins the thread count of a SciPy FID too.
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = threads
    import numpy as np
    import scipy
    from scipy import linalg

    def calculate_frechet_distance(mu1, sigma1, mu2, sigma2, eps=1e-6):
        """pytorch-fid's calculate_frechet_distance (src/pytorch_fid/fid_score.py), unchanged in substance."""
        diff = mu1 - mu2
        covmean, _ = linalg.sqrtm(sigma1.dot(sigma2), disp=False)
        retried = False
        if not np.isfinite(covmean).all():
            offset = np.eye(sigma1.shape[0]) * eps
            covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
            retried = True
        if np.iscomplexobj(covmean):
            if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
                m = np.max(np.abs(covmean.imag))
                raise ValueError("Imaginary component {}".format(m))
            covmean = covmean.real
        tr_covmean = np.trace(covmean)
        return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_covmean), retried

    stats = np.load(args["stats"])
    mu1, sigma1, mu2, sigma2 = (np.asarray(stats[k], dtype=np.float64) for k in ("mu1", "sigma1", "mu2", "sigma2"))
    seconds = []
    fid = None
    retried = False
    for _ in range(max(1, int(args.get("repeats", 1)))):
        t0 = time.perf_counter()
        fid, retried = calculate_frechet_distance(mu1, sigma1, mu2, sigma2)
        seconds.append(time.perf_counter() - t0)
    print(json.dumps({
        "fid": fid,
        "seconds": seconds,
        "retried_with_eps": retried,
        "threads": int(threads),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
    }))


if __name__ == "__main__":
    main()
