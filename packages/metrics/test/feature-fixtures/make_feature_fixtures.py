"""Writes the NumPy feature fixtures for feature-file.test.ts with NumPy itself (an independent writer).

Run from this directory with Debian's Python: /usr/bin/python3 make_feature_fixtures.py
(NumPy 2.4.6 made the checked-in files.)
Values are exact in binary, v[i, j] = ((7·i + 13·j) mod 17)/8 − 1, so the test recomputes them.
"""
import numpy as np

i, j = np.meshgrid(np.arange(12), np.arange(5), indexing="ij")
v = ((7 * i + 13 * j) % 17) / 8 - 1
np.save("feats_f4.npy", v.astype("<f4"))
np.save("ints.npy", (7 * i + 13 * j).astype("<i4"))
# savez_compressed: deflated members with numpy's ZIP64 extra fields; labels int64, one token axis too many in 'tokens'.
np.savez_compressed(
    "feats.npz",
    feats=v.astype("<f8"),
    labels=(np.arange(12) % 3).astype("<i8"),
    tokens=np.stack([v, v], axis=1).astype("<f4"),
)
