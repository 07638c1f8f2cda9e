"""PyTorch peer of difflab's class-conditional sampling (tools/bench sample).

The same DiT as packages/models (the model class of dit_train_step.py, imported from beside this file)
and the same sampler arithmetic as @difflab/models' `sample()` + `createSampler(process, config)`:

- classifier-free guidance as `withGuidance`: one model call on [x; x] with labels [y; null], the first
  C output channels mixed as u + s·(c − u), variance channels (if any) from the conditional half;
- ddim (ddpm process, ε-prediction, `DDIMSampler`): the linear schedule (β from 1e-4 to 0.02 over
  1000 steps, float64), `steps` timesteps round(i·999/(steps−1)), ᾱ copied from the base schedule
  (respaceSchedule), per step x̂_0 = x·√(1/ᾱ) − ε̂·√(1/ᾱ−1), clipped to [−1, 1] with ε̂ re-derived
  from it when clipDenoised, then x ← √ᾱ'·x̂_0 + √(1−ᾱ'−σ²)·ε̂ (η = 0, so σ = 0; ᾱ' = 1 after the last);
- euler (rectified flow, `FlowSampler`): t_i = 1 − i/N, the network fed 1000·t_i, x ← x + (t_{i+1} − t_i)·v̂.

The images are NCHW here and NHWC in difflab; the check mode converts. Reads one JSON object from
argv[1] (or, when it is a path ending in .json, from that file), prints one JSON object.

Modes:
- timing: random weights, random noise, {"cases": [...], "batch", "threads", "warmupSteps", "minRuns",
  "minSeconds"} → per case samples/s.
- check: {"check": "<file.json>"} with difflab's weights (its parameter names, linear weights [in, out]),
  the noise (NHWC) and labels → the samples of each case (NHWC, flattened), for comparison with difflab's.

Run with Debian's Python: /usr/bin/python3 tools/bench/peers/sample_peer.py '{"inputSize": 32, ...}'
"""
import json
import math
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dit_train_step import DiT  # noqa: E402  (the train-step peer's model: one DiT definition for both peers)


# --- samplers ---------------------------------------------------------------------------------------


def linear_alphas_cumprod(T=1000, lo=1e-4, hi=0.02):
    """difflab's linearSchedule: β scaled by 1000/T, ᾱ as a running float64 product."""
    scale = 1000 / T
    lo, hi = scale * lo, scale * hi
    betas = [lo + (hi - lo) * i / (T - 1) for i in range(T)]
    ac, prod = [], 1.0
    for b in betas:
        prod *= 1 - b
        ac.append(prod)
    return ac


class DDIM:
    """DDIMSampler with η = 0 on the linear 1000-step schedule, ε-prediction."""

    def __init__(self, steps, clip):
        base = linear_alphas_cumprod(1000)
        used = [round(i * 999 / (steps - 1)) for i in range(steps)]
        self.timesteps = list(reversed(used))
        self.alpha_bar = [base[t] for t in self.timesteps]
        self.clip = clip
        self.evaluations = steps

    def step(self, evaluate, i, x, channels):
        ac = self.alpha_bar[i]
        ac_prev = self.alpha_bar[i + 1] if i + 1 < len(self.alpha_bar) else 1.0
        eps = evaluate(x, self.timesteps[i])[:, :channels]
        x0 = x * math.sqrt(1 / ac) - eps * math.sqrt(1 / ac - 1)
        if self.clip:
            x0 = x0.clamp(-1, 1)
            eps = (x - x0 * math.sqrt(ac)) / math.sqrt(1 - ac)
        return x0 * math.sqrt(ac_prev) + eps * math.sqrt(max(0.0, 1 - ac_prev))


class Euler:
    """FlowSampler('euler'): uniform grid from t = 1 to 0, network time 1000·t."""

    def __init__(self, steps):
        self.times = [1 - i / steps for i in range(steps + 1)]
        self.timesteps = [1000 * t for t in self.times[:steps]]
        self.evaluations = steps

    def step(self, evaluate, i, x, channels):
        t, nxt = self.times[i], self.times[i + 1]
        v = evaluate(x, 1000 * t)
        if v.shape[1] != channels:
            raise SystemExit(f"sample_peer: a flow model outputs the velocity ({channels} channels), got {v.shape[1]}")
        return x + v * (nxt - t)


def make_sampler(case):
    if case["sampler"] == "ddim":
        return DDIM(case["steps"], case.get("clipDenoised", False))
    if case["sampler"] == "euler":
        return Euler(case["steps"])
    raise SystemExit(f"sample_peer: sampler must be ddim or euler, got {case['sampler']!r}")


def sample(model, sampler, noise, labels, scale, null_class):
    """difflab's sample() with withGuidance: x from noise through every sampler step."""
    b, channels = noise.shape[0], noise.shape[1]
    y2 = torch.cat([labels, torch.full_like(labels, null_class)]) if scale != 1 else labels

    def evaluate(x, t):
        if scale == 1:
            return model(x, torch.full((b,), float(t)), labels)
        out = model(torch.cat([x, x]), torch.full((2 * b,), float(t)), y2)
        cond, uncond = out[:b], out[b:]
        eps = uncond[:, :channels] + (cond[:, :channels] - uncond[:, :channels]) * scale
        return eps if out.shape[1] == channels else torch.cat([eps, cond[:, channels:]], dim=1)

    x = noise
    for i in range(len(sampler.timesteps)):
        x = sampler.step(evaluate, i, x, channels)
    return x


# --- weights ------------------------------------------------------------------------------------------


def load_difflab_weights(model, cfg, params):
    """difflab's parameter map (DiT's state_dict names, linear weights [in, out], patch embedding as a
    [p·p·C, d] linear over (row, column, channel)) into the peer's modules."""
    p, c = cfg["patchSize"], cfg["inChannels"]
    renames = {"x_embedder.proj.bias": "x_embedder.bias", "y_embedder.embedding_table.weight": "y_embedder.weight"}
    state = {}
    for name, entry in params.items():
        w = torch.tensor(entry["data"], dtype=torch.float32).reshape(entry["shape"])
        if name == "x_embedder.proj.weight":
            state["x_embedder.weight"] = w.reshape(p, p, c, -1).permute(3, 2, 0, 1).contiguous()
            continue
        target = renames.get(name, name.replace("final_layer.adaLN_modulation", "final_modulation").replace("final_layer.linear", "final_linear"))
        state[target] = w.t().contiguous() if w.ndim == 2 and name.endswith(".weight") and "embedding_table" not in name else w
    missing, unexpected = model.load_state_dict(state, strict=False)
    # Buffers computed from the config, not weights: the position embedding and the RoPE tables.
    if unexpected or [k for k in missing if k not in ("pos_embed", "rope_cos", "rope_sin")]:
        raise SystemExit(f"sample_peer: weights do not fit the peer's DiT: missing {missing}, unexpected {unexpected}")


def randomize(model, gen):
    """Random weights for timing (DiT's zero-initialised layers would make every output 0)."""
    with torch.no_grad():
        for w in model.parameters():
            fan_in = w[0].numel() if w.ndim >= 2 else 100
            w.normal_(0, 1 / math.sqrt(fan_in), generator=gen)


def nchw(a, shape):
    return torch.tensor(a, dtype=torch.float32).reshape(shape).permute(0, 3, 1, 2).contiguous()


# --- modes --------------------------------------------------------------------------------------------


def check(cfg):
    with open(cfg["check"]) as f:
        data = json.load(f)
    model_cfg = data["config"]
    torch.set_num_threads(cfg.get("threads", 1))
    model = DiT(model_cfg).eval()
    load_difflab_weights(model, model_cfg, data["params"])
    noise = nchw(data["noise"]["data"], data["noise"]["shape"])
    labels = torch.tensor(data["labels"], dtype=torch.long)
    out = []
    with torch.inference_mode():
        for case in data["cases"]:
            x = sample(model, make_sampler(case), noise, labels, case["guidanceScale"], model_cfg["numClasses"])
            out.append(x.permute(0, 2, 3, 1).reshape(-1).tolist())
    print(json.dumps({"engine": f"pytorch {torch.__version__}", "params": sum(p.numel() for p in model.parameters()), "samples": out}))


def timing(cfg):
    model_cfg = cfg["model"]
    torch.manual_seed(0)
    torch.set_num_threads(cfg.get("threads", torch.get_num_threads()))
    model = DiT(model_cfg).eval()
    params = sum(p.numel() for p in model.parameters())
    randomize(model, torch.Generator().manual_seed(1))
    b, s, ch = cfg["batch"], model_cfg["inputSize"], model_cfg["inChannels"]
    labels = torch.arange(b) % model_cfg["numClasses"]
    results = []
    with torch.inference_mode():
        for case in cfg["cases"]:
            sampler = make_sampler(case)
            scale, null = case["guidanceScale"], model_cfg["numClasses"]
            if cfg.get("warmupSteps", 2) > 0:
                sample(model, make_sampler({**case, "steps": cfg.get("warmupSteps", 2)}), torch.randn(b, ch, s, s), labels, scale, null)
            runs, start, cpu = 0, time.perf_counter(), time.process_time()
            while runs < cfg.get("minRuns", 1) or time.perf_counter() - start < cfg.get("minSeconds", 0.0):
                x = sample(model, sampler, torch.randn(b, ch, s, s), labels, scale, null)
                float(x[0, 0, 0, 0])
                runs += 1
            seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
            results.append({
                "sampler": case["sampler"], "steps": case["steps"], "evaluations": sampler.evaluations,
                "runs": runs, "secondsPerRun": seconds / runs, "samplesPerSec": b * runs / seconds, "cpuSecondsPerSample": cpu / (b * runs),
            })
    print(json.dumps({"engine": f"pytorch {torch.__version__}", "threads": torch.get_num_threads(), "params": params, "results": results}))


def main():
    arg = sys.argv[1]
    if arg.endswith(".json") and os.path.exists(arg):
        with open(arg) as f:
            arg = f.read()
    cfg = json.loads(arg)
    check(cfg) if "check" in cfg else timing(cfg)


if __name__ == "__main__":
    main()
