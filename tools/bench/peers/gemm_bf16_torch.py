"""bf16 vs fp32 GEMM reference through PyTorch (tools/bench gemm): OpenBLAS sgemm via torch.mm, and oneDNN's
fp32 and bf16 kernels via torch's mkldnn linear (inner product: y = x·Wᵀ with x [M, K], W [N, K]).

Debian's PyTorch 1.13 links oneDNN 2.6, which runs bf16 with avx512_core_bf16 brgemm kernels on a CPU with
AVX512-BF16 (ONEDNN_VERBOSE=1 names the kernel); torch.mm on fp32 tensors calls the system BLAS (OpenBLAS).
Reads {"shapes": [{"m", "n", "k", "transA"}], "threads", "seconds", "blocks"} from argv[1]; prints one JSON
object with GFLOP/s (2·M·N·K per product; the best of `blocks` alternating blocks) per shape and engine. The
oneDNN columns time the shape as a linear layer whatever transA says (same FLOPs, x·Wᵀ layout).

Run with Debian's Python: /usr/bin/python3 tools/bench/peers/gemm_bf16_torch.py '{"shapes": [{"m": 2048, "n": 576, "k": 192}]}'
"""
import json
import sys
import time

import torch


def main():
    cfg = json.loads(sys.argv[1])
    torch.set_num_threads(cfg.get("threads", 1))
    seconds, blocks = cfg.get("seconds", 0.6), cfg.get("blocks", 3)
    torch.manual_seed(0)
    results = []
    with torch.inference_mode():
        for s in cfg["shapes"]:
            m, n, k, trans = s["m"], s["n"], s["k"], s.get("transA", False)
            a = torch.rand(k, m) - 0.5 if trans else torch.rand(m, k) - 0.5
            b = torch.rand(k, n) - 0.5
            a_op = a.t() if trans else a
            x = a_op.contiguous()
            w = b.t().contiguous()  # [N, K]
            bias = torch.zeros(n).to_mkldnn()
            x32, w32 = x.to_mkldnn(), w.to_mkldnn()
            x16, w16 = x.to_mkldnn(torch.bfloat16), w.to_mkldnn(torch.bfloat16)
            engines = {
                "openblasFp32": lambda: torch.mm(a_op, b),
                "onednnFp32": lambda: torch._C._nn.mkldnn_linear(x32, w32, bias),
                "onednnBf16": lambda: torch._C._nn.mkldnn_linear(x16, w16, bias),
            }
            # The bf16 product against the fp32 one on the same bf16-rounded inputs: a real product, not a no-op.
            ref = torch.mm(x.bfloat16().float(), w.bfloat16().float().t())
            got = engines["onednnBf16"]().to_dense().float()
            rel_err = float((got - ref).abs().max() / ref.abs().max())
            flop = 2.0 * m * n * k
            best = {name: 0.0 for name in engines}
            for f in engines.values():
                f()
            for _ in range(blocks):
                for name, f in engines.items():
                    reps, start = 0, time.perf_counter()
                    while True:
                        f()
                        reps += 1
                        el = time.perf_counter() - start
                        if el >= seconds / blocks:
                            break
                    best[name] = max(best[name], flop * reps / el / 1e9)
            results.append({"m": m, "n": n, "k": k, "transA": trans, **best, "onednnBf16RelErr": rel_err})
    print(json.dumps({"engine": f"pytorch {torch.__version__}", "onednn": torch.backends.mkldnn.is_available(), "threads": torch.get_num_threads(), "results": results}))


if __name__ == "__main__":
    main()
