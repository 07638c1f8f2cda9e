"""PyTorch peer of the GEMM micro-benchmark: fp32 C = A @ B for square sizes, GFLOP/s.

Reads {"sizes": [...], "threads": n, "minSeconds": s} from argv[1]; prints one JSON object.
Run with Debian's Python: /usr/bin/python3 tools/bench/peers/gemm_torch.py '{"sizes": [1024]}'
"""
import json
import sys
import time

import torch


def main():
    cfg = json.loads(sys.argv[1])
    torch.set_num_threads(cfg.get("threads", torch.get_num_threads()))
    results = []
    for n in cfg["sizes"]:
        a, b = torch.randn(n, n), torch.randn(n, n)
        torch.mm(a, b)
        reps, start = 0, time.perf_counter()
        while reps < 2 or time.perf_counter() - start < cfg.get("minSeconds", 0.5):
            torch.mm(a, b)
            reps += 1
        seconds = time.perf_counter() - start
        results.append({"n": n, "gflops": 2 * n ** 3 * reps / seconds / 1e9})
    print(json.dumps({"engine": f"pytorch {torch.__version__}", "threads": torch.get_num_threads(), "results": results}))


if __name__ == "__main__":
    main()
