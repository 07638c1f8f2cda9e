"""Peer for tools/bench/src/precision-recall-sklearn.ts: improved precision and recall
(Kynkaanniemi et al. 2019) computed with scikit-learn.

usage: /usr/bin/python3 precision_recall_sklearn.py '{"file": "FEATURES.npz", "k": 3}'
FEATURES.npz holds `real` and `generated` (rows = samples, float64). Each sample's radius is the
distance to its k-th nearest neighbour in its own set: NearestNeighbors(n_neighbors=k+1).kneighbors
on the fitted set itself returns the sample first (distance 0), so column k is the k-th other
sample. Membership uses sklearn's float64 euclidean pairwise_distances with <=, as the reference.
Prints one JSON object.
"""
import json
import sys
import time

import numpy as np
from sklearn.metrics import pairwise_distances
from sklearn.neighbors import NearestNeighbors


def radii(x, k):
    dist, _ = NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x)
    return dist[:, k]


def main():
    args = json.loads(sys.argv[1])
    f = np.load(args["file"])
    real, gen, k = f["real"].astype(np.float64), f["generated"].astype(np.float64), int(args["k"])
    t0 = time.perf_counter()
    real_radii, gen_radii = radii(real, k), radii(gen, k)
    d = pairwise_distances(gen, real, metric="euclidean")  # (n_gen, n_real)
    precision = float((d <= real_radii[None, :]).any(axis=1).mean())
    recall = float((d <= gen_radii[:, None]).any(axis=0).mean())
    print(json.dumps({"precision": precision, "recall": recall, "real_radii": real_radii.tolist(),
                      "generated_radii": gen_radii.tolist(), "seconds": time.perf_counter() - t0}))


if __name__ == "__main__":
    main()
