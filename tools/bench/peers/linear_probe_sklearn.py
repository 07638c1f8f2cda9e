"""Peer for tools/bench/src/linear-probe-sklearn.ts: the same linear probe in scikit-learn.

usage: /usr/bin/python3 linear_probe_sklearn.py FEATURES.npz MAX_ITER TOL
FEATURES.npz holds x_train, y_train, x_val, y_val, x_test, y_test and c_grid. StandardScaler is
fitted on train; LogisticRegression(solver='lbfgs', multinomial) is fitted per C; the C with the
best validation top-1 (first on ties, grid ascending) gives the test top-1. Prints JSON.
"""
import json
import sys
import time

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler


def main():
    f = np.load(sys.argv[1])
    max_iter, tol = int(sys.argv[2]), float(sys.argv[3])
    xtr, xva, xte = (f[k].astype(np.float64) for k in ("x_train", "x_val", "x_test"))
    ytr, yva, yte = (f[k].astype(np.int64) for k in ("y_train", "y_val", "y_test"))
    t0 = time.perf_counter()
    scaler = StandardScaler().fit(xtr)
    xtr, xva, xte = scaler.transform(xtr), scaler.transform(xva), scaler.transform(xte)
    sweep, best = [], None
    for c in sorted(f["c_grid"].tolist()):
        clf = LogisticRegression(C=c, solver="lbfgs", multi_class="multinomial", max_iter=max_iter, tol=tol)
        clf.fit(xtr, ytr)
        acc = float((clf.predict(xva) == yva).mean())
        sweep.append({"c": c, "val_accuracy": acc, "iterations": int(clf.n_iter_[0])})
        if best is None or acc > best[1]:
            best = (c, acc, clf)
    test_acc = float((best[2].predict(xte) == yte).mean())
    print(json.dumps({"best_c": best[0], "val_accuracy": best[1], "test_accuracy": test_acc,
                      "sweep": sweep, "seconds": time.perf_counter() - t0}))


if __name__ == "__main__":
    main()
