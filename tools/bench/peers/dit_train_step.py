"""PyTorch peer of difflab's DiT training step (tools/bench train-step).

The same model as packages/models (facebookresearch/DiT's adaLN-Zero DiT: patch embedding, timestep
and label embedders, adaLN-Zero blocks with tanh-GELU MLPs, final adaLN layer, fixed sin-cos position
embedding; or LightningDiT's variants of it — SwiGLU MLP, RMSNorm, 2-D axial RoPE on q and k — as the
config's mlp, norm and rope say) and the same step as @difflab/training's trainStep: per step a random
t ~ U{0..999} and fresh noise on the linear schedule, labels dropped to the null class at
classDropoutProb, the MSE on the predicted noise (plus improved DDPM's L_vlb when the model learns sigma,
DiT's hybrid loss) — or, with objective.kind "flow", rectified flow (x_t = (1-t)x + t·eps, t uniform or
logit-normal, the model at 1000·t predicting eps - x, MSE plus the velocity-direction term) — then
backward, global-norm clipping, AdamW, and the EMA of the weights. Reads one JSON object from argv[1],
prints one JSON object: parameter count and timed examples/s.

Run with Debian's Python: /usr/bin/python3 tools/bench/peers/dit_train_step.py '{"inputSize": 32, ...}'
"""
import json
import math
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def modulate(x, shift, scale):
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


class TimestepEmbedder(nn.Module):
    def __init__(self, hidden, freq_dim=256):
        super().__init__()
        self.freq_dim = freq_dim
        self.mlp = nn.Sequential(nn.Linear(freq_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden))

    def forward(self, t):
        half = self.freq_dim // 2
        freqs = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32) / half)
        args = t[:, None].float() * freqs[None]
        return self.mlp(torch.cat([torch.cos(args), torch.sin(args)], dim=-1))


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, rope=None):
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        if rope is not None:
            q, k = rotate_pairs(q, *rope), rotate_pairs(k, *rope)
        attn = (q * (c // self.heads) ** -0.5) @ k.transpose(-2, -1)
        x = attn.softmax(dim=-1) @ v
        return self.proj(x.transpose(1, 2).reshape(b, n, c))


class SwiGLU(nn.Module):
    """LightningDiT's SwiGLUFFN: w3(silu(w1 x) * w2 x), hidden width trunc(2/3 * round(dim * mlp_ratio))."""

    def __init__(self, dim, hidden):
        super().__init__()
        self.w1 = nn.Linear(dim, hidden)
        self.w2 = nn.Linear(dim, hidden)
        self.w3 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.w3(F.silu(self.w1(x)) * self.w2(x))


def rms_norm(x, eps=1e-6):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)


def rope_tables(head_dim, grid, theta=10000.0):
    """packages/models' rope2dAngles: pair p < head_dim/4 turns with the row, the others with the column."""
    quarter = head_dim // 4
    omega = theta ** (-4.0 * np.arange(quarter) / head_dim)
    i, j = np.meshgrid(np.arange(grid), np.arange(grid), indexing="ij")
    angles = np.concatenate([i.reshape(-1, 1) * omega, j.reshape(-1, 1) * omega], axis=1)  # [tokens, head_dim/2]
    return torch.from_numpy(np.cos(angles)).float(), torch.from_numpy(np.sin(angles)).float()


def rotate_pairs(x, cos, sin):
    """Interleaved channel pairs (x0, x1) -> (x0 cos - x1 sin, x1 cos + x0 sin); x [..., tokens, head_dim]."""
    x0, x1 = x[..., 0::2], x[..., 1::2]
    return torch.stack([x0 * cos - x1 * sin, x1 * cos + x0 * sin], dim=-1).flatten(-2)


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


def make_norm(kind, dim):
    return rms_norm if kind == "rmsnorm" else nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)


class DiTBlock(nn.Module):
    def __init__(self, dim, heads, mlp_ratio, mlp="gelu", norm="layernorm"):
        super().__init__()
        self.norm1 = make_norm(norm, dim)
        self.attn = Attention(dim, heads)
        self.norm2 = make_norm(norm, dim)
        hidden = round(dim * mlp_ratio)
        self.mlp = SwiGLU(dim, int((2 / 3) * hidden)) if mlp == "swiglu" else Mlp(dim, hidden)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 6 * dim))

    def forward(self, x, c, rope=None):
        sh1, sc1, g1, sh2, sc2, g2 = self.adaLN_modulation(c).chunk(6, dim=1)
        x = x + g1.unsqueeze(1) * self.attn(modulate(self.norm1(x), sh1, sc1), rope)
        return x + g2.unsqueeze(1) * self.mlp(modulate(self.norm2(x), sh2, sc2))


def sincos_pos_embed(dim, grid):
    quarter = dim // 4
    omega = 10000.0 ** (-np.arange(quarter) / quarter)
    out = np.zeros((grid * grid, dim), dtype=np.float32)
    for i in range(grid):
        for j in range(grid):
            row = i * grid + j
            out[row, :quarter] = np.sin(j * omega)
            out[row, quarter:2 * quarter] = np.cos(j * omega)
            out[row, 2 * quarter:3 * quarter] = np.sin(i * omega)
            out[row, 3 * quarter:] = np.cos(i * omega)
    return torch.from_numpy(out)


class DiT(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, p = c["hiddenSize"], c["patchSize"]
        self.p = p
        self.in_ch = c["inChannels"]
        self.out_ch = 2 * self.in_ch if c["learnSigma"] else self.in_ch
        self.grid = c["inputSize"] // p
        self.x_embedder = nn.Conv2d(self.in_ch, d, kernel_size=p, stride=p)
        self.t_embedder = TimestepEmbedder(d)
        label_rows = c["numClasses"] + (1 if c["classDropoutProb"] > 0 else 0)
        self.y_embedder = nn.Embedding(label_rows, d)
        self.register_buffer("pos_embed", sincos_pos_embed(d, self.grid)[None])
        if c.get("block", "adaLN-Zero") != "adaLN-Zero":
            raise SystemExit(f"dit_train_step: the PyTorch DiT has adaLN-Zero blocks, not '{c['block']}'")
        mlp, norm = c.get("mlp", "gelu"), c.get("norm", "layernorm")
        self.blocks = nn.ModuleList([DiTBlock(d, c["numHeads"], c["mlpRatio"], mlp, norm) for _ in range(c["depth"])])
        if c.get("rope", False):
            cos, sin = rope_tables(d // c["numHeads"], self.grid)
            self.register_buffer("rope_cos", cos)
            self.register_buffer("rope_sin", sin)
        self.rope = c.get("rope", False)
        self.final_norm = make_norm(norm, d)
        self.final_linear = nn.Linear(d, p * p * self.out_ch)
        self.final_modulation = nn.Sequential(nn.SiLU(), nn.Linear(d, 2 * d))
        self.initialize_weights()

    def initialize_weights(self):
        # DiT's initialize_weights: xavier linears, zeroed adaLN modulations and output layer.
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        w = self.x_embedder.weight.data
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.zeros_(self.x_embedder.bias)
        nn.init.normal_(self.y_embedder.weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[0].weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[2].weight, std=0.02)
        for block in self.blocks:
            nn.init.zeros_(block.adaLN_modulation[-1].weight)
            nn.init.zeros_(block.adaLN_modulation[-1].bias)
        for m in (self.final_modulation[-1], self.final_linear):
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)

    def forward(self, x, t, y):
        x = self.x_embedder(x).flatten(2).transpose(1, 2) + self.pos_embed
        c = self.t_embedder(t) + self.y_embedder(y)
        rope = (self.rope_cos, self.rope_sin) if self.rope else None
        for block in self.blocks:
            x = block(x, c, rope)
        shift, scale = self.final_modulation(c).chunk(2, dim=1)
        x = self.final_linear(modulate(self.final_norm(x), shift, scale))
        b = x.shape[0]
        x = x.reshape(b, self.grid, self.grid, self.p, self.p, self.out_ch)
        return torch.einsum("nhwpqc->nchpwq", x).reshape(b, self.out_ch, self.grid * self.p, self.grid * self.p)


def linear_schedule(T=1000, lo=1e-4, hi=0.02):
    """DDPM's linear betas in float64, with the quantities L_vlb needs (ADM's GaussianDiffusion)."""
    betas = np.linspace(lo, hi, T, dtype=np.float64)
    ac = np.cumprod(1 - betas)
    ac_prev = np.append(1.0, ac[:-1])
    post_var = betas * (1 - ac_prev) / (1 - ac)
    f32 = lambda a: torch.from_numpy(np.asarray(a, dtype=np.float32))
    return {
        "sqrt_ac": f32(np.sqrt(ac)), "sqrt_1m_ac": f32(np.sqrt(1 - ac)),
        "sqrt_recip_ac": f32(np.sqrt(1 / ac)), "sqrt_recipm1_ac": f32(np.sqrt(1 / ac - 1)),
        "coef1": f32(betas * np.sqrt(ac_prev) / (1 - ac)), "coef2": f32((1 - ac_prev) * np.sqrt(1 - betas) / (1 - ac)),
        "post_logvar": f32(np.log(np.append(post_var[1], post_var[1:]))), "log_betas": f32(np.log(betas)),
    }


def per_example(a, t):
    return a[t].view(-1, 1, 1, 1)


def approx_std_normal_cdf(x):
    return 0.5 * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def vlb_term(out, x0, xt, t, sch, ch):
    """Improved DDPM's L_vlb in bits/dim per example; the mean uses eps under stop-gradient."""
    eps, v = out[:, :ch].detach(), out[:, ch:]
    x0_hat = per_example(sch["sqrt_recip_ac"], t) * xt - per_example(sch["sqrt_recipm1_ac"], t) * eps
    c1, c2 = per_example(sch["coef1"], t), per_example(sch["coef2"], t)
    true_mean, model_mean = c1 * x0 + c2 * xt, c1 * x0_hat + c2 * xt
    true_logvar = per_example(sch["post_logvar"], t)
    frac = (v + 1) / 2
    model_logvar = frac * per_example(sch["log_betas"], t) + (1 - frac) * true_logvar
    kl = 0.5 * (-1.0 + model_logvar - true_logvar + torch.exp(true_logvar - model_logvar)
                + (true_mean - model_mean) ** 2 * torch.exp(-model_logvar))
    centered, inv_std = x0 - model_mean, torch.exp(-0.5 * model_logvar)
    cdf_plus = approx_std_normal_cdf(inv_std * (centered + 1 / 255))
    cdf_min = approx_std_normal_cdf(inv_std * (centered - 1 / 255))
    log_cdf_plus = torch.log(cdf_plus.clamp(min=1e-12))
    log_one_minus_cdf_min = torch.log((1 - cdf_min).clamp(min=1e-12))
    log_probs = torch.where(x0 < -0.999, log_cdf_plus, torch.where(x0 > 0.999, log_one_minus_cdf_min, torch.log((cdf_plus - cdf_min).clamp(min=1e-12))))
    dims = list(range(1, x0.ndim))
    return torch.where(t == 0, -log_probs.mean(dims), kl.mean(dims)) / math.log(2.0)


def main():
    cfg = json.loads(sys.argv[1])
    torch.manual_seed(0)
    torch.set_num_threads(cfg.get("threads", torch.get_num_threads()))
    model = DiT(cfg)
    params = sum(p.numel() for p in model.parameters())
    ema = [p.detach().clone() for p in model.parameters()]
    b, s, ch = cfg["batch"], cfg["inputSize"], cfg["inChannels"]
    num_classes, drop = cfg["numClasses"], cfg["classDropoutProb"]
    sch = linear_schedule()
    x0 = torch.randn(b, ch, s, s)
    y = torch.randint(0, num_classes, (b,))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], betas=(cfg["beta1"], cfg["beta2"]), weight_decay=cfg["weightDecay"])
    decay = cfg["emaDecay"]

    # bf16: PyTorch's CPU autocast (bf16 operands for linear layers and matmuls through oneDNN, fp32 weights).
    bf16 = cfg.get("precision", "fp32") == "bf16"

    objective = cfg.get("objective", {"kind": "epsilon"})

    def flow_loss(labels):
        # @difflab/losses' flowLossTerms: t, then noise; the model at 1000·t predicts the velocity eps - x.
        if objective["timeSampling"] == "logit-normal":
            t = torch.sigmoid(objective["timeMean"] + objective["timeStd"] * torch.randn(b))
        else:
            t = torch.rand(b)
        noise = torch.randn_like(x0)
        tt = t.view(b, 1, 1, 1)
        xt = (1 - tt) * x0 + tt * noise
        target = noise - x0
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = model(xt, 1000 * t, labels)
        out = out.float()
        loss = F.mse_loss(out, target)
        w = objective["velocityDirectionWeight"]
        if w > 0:
            o, g = out.reshape(b, -1), target.reshape(b, -1)
            cos = (o * g).mean(1) / (torch.sqrt(o.pow(2).mean(1) + 1e-12) * torch.sqrt(g.pow(2).mean(1) + 1e-12))
            loss = loss + w * (1 - cos).mean()
        return loss

    def epsilon_loss(labels):
        t = torch.randint(0, 1000, (b,))
        noise = torch.randn_like(x0)
        xt = per_example(sch["sqrt_ac"], t) * x0 + per_example(sch["sqrt_1m_ac"], t) * noise
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = model(xt, t.float(), labels)
        out = out.float()
        loss = F.mse_loss(out[:, :ch], noise)
        if cfg["learnSigma"]:
            loss = loss + vlb_term(out, x0, xt, t, sch, ch).mean()
        return loss

    def step():
        labels = torch.where(torch.rand(b) < drop, torch.full_like(y, num_classes), y) if drop > 0 else y
        loss = flow_loss(labels) if objective["kind"] == "flow" else epsilon_loss(labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["gradClip"])
        opt.step()
        with torch.no_grad():
            # DiT's update_ema (ema.mul_(decay).add_(p, alpha=1 - decay)), batched over the parameters.
            torch._foreach_mul_(ema, decay)
            torch._foreach_add_(ema, [p.detach() for p in model.parameters()], alpha=1 - decay)
        return loss.item()

    for _ in range(cfg.get("warmup", 1)):
        step()
    steps, loss, start = 0, 0.0, time.perf_counter()
    while steps < cfg.get("minSteps", 2) or time.perf_counter() - start < cfg.get("minSeconds", 2.0):
        loss += step()
        steps += 1
    seconds = time.perf_counter() - start
    print(json.dumps({
        "engine": f"pytorch {torch.__version__}" + (" autocast bf16" if bf16 else ""),
        "threads": torch.get_num_threads(),
        "params": params,
        "steps": steps,
        "stepMs": 1000 * seconds / steps,
        "examplesPerSec": b * steps / seconds,
        "loss": loss / steps,
    }))


if __name__ == "__main__":
    main()
