"""Peer for tools/bench/src/alignment-torch.ts: the Platonic Representation Hypothesis metrics
(minyoungg/platonic-rep metrics.py: cka, unbiased_cka, cknna, mutual_knn) written out in PyTorch
float64 from that file's definitions.

usage: /usr/bin/python3 alignment_torch.py FEATURES.npz TOPK
FEATURES.npz holds a and b (n × d, rows already L2-normalised). Prints JSON of metric values.
"""
import json
import sys

import numpy as np
import torch


def hsic_unbiased(K, L):
    m = K.shape[0]
    Kt = K.clone().fill_diagonal_(0)
    Lt = L.clone().fill_diagonal_(0)
    v = (Kt * Lt.T).sum() + Kt.sum() * Lt.sum() / ((m - 1) * (m - 2)) - 2 * (Kt @ Lt).sum() / (m - 2)
    return v / (m * (m - 3))


def hsic_biased(K, L):
    H = torch.eye(K.shape[0], dtype=K.dtype) - 1 / K.shape[0]
    return torch.trace(K @ H @ L @ H)


def cka(A, B, kernel="ip", sigma=1.0, unbiased=False):
    if kernel == "ip":
        K, L = A @ A.T, B @ B.T
    else:
        K = torch.exp(-torch.cdist(A, A) ** 2 / (2 * sigma ** 2))
        L = torch.exp(-torch.cdist(B, B) ** 2 / (2 * sigma ** 2))
    h = hsic_unbiased if unbiased else hsic_biased
    return (h(K, L) / (torch.sqrt(h(K, K) * h(L, L)) + 1e-6)).item()


def cknna(A, B, topk, unbiased=True):
    n = A.shape[0]
    K, L = A @ A.T, B @ B.T

    def sim(K, L):
        Kh = K.clone().fill_diagonal_(float("-inf")) if unbiased else K
        Lh = L.clone().fill_diagonal_(float("-inf")) if unbiased else L
        mk = torch.zeros(n, n, dtype=K.dtype).scatter_(1, torch.topk(Kh, topk, dim=1).indices, 1)
        ml = torch.zeros(n, n, dtype=K.dtype).scatter_(1, torch.topk(Lh, topk, dim=1).indices, 1)
        mask = mk * ml
        h = hsic_unbiased if unbiased else hsic_biased
        return h(mask * K, mask * L)

    return sim(K, L).item() / (torch.sqrt(sim(K, K) * sim(L, L)) + 1e-6).item()


def mutual_knn(A, B, topk):
    n = A.shape[0]

    def knn(F):
        return (F @ F.T).fill_diagonal_(-1e8).argsort(dim=1, descending=True)[:, :topk]

    r = torch.arange(n).unsqueeze(1)
    ma = torch.zeros(n, n, dtype=A.dtype)
    mb = torch.zeros(n, n, dtype=A.dtype)
    ma[r, knn(A)] = 1.0
    mb[r, knn(B)] = 1.0
    return ((ma * mb).sum(dim=1) / topk).mean().item()


def main():
    f = np.load(sys.argv[1])
    topk = int(sys.argv[2])
    A = torch.from_numpy(f["a"].astype(np.float64))
    B = torch.from_numpy(f["b"].astype(np.float64))
    print(json.dumps({
        "cka": cka(A, B),
        "unbiased_cka": cka(A, B, unbiased=True),
        "rbf_cka": cka(A, B, kernel="rbf", sigma=0.5),
        "cknna": cknna(A, B, topk),
        "cknna_biased": cknna(A, B, topk, unbiased=False),
        "mutual_knn": mutual_knn(A, B, topk),
    }))


if __name__ == "__main__":
    main()
