"""PyTorch peer of difflab's DiT training step (tools/bench train-step).

The same model as packages/models (facebookresearch/DiT's adaLN-Zero DiT: patch embedding, timestep
and label embedders, adaLN-Zero blocks with tanh-GELU MLPs, final adaLN layer, fixed sin-cos position
embedding), the same loss (MSE on the predicted noise) and AdamW. Reads one JSON object from argv[1],
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

    def forward(self, x):
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        attn = (q * (c // self.heads) ** -0.5) @ k.transpose(-2, -1)
        x = attn.softmax(dim=-1) @ v
        return self.proj(x.transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


class DiTBlock(nn.Module):
    def __init__(self, dim, heads, mlp_ratio):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.mlp = Mlp(dim, round(dim * mlp_ratio))
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 6 * dim))

    def forward(self, x, c):
        sh1, sc1, g1, sh2, sc2, g2 = self.adaLN_modulation(c).chunk(6, dim=1)
        x = x + g1.unsqueeze(1) * self.attn(modulate(self.norm1(x), sh1, sc1))
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
        self.blocks = nn.ModuleList([DiTBlock(d, c["numHeads"], c["mlpRatio"]) for _ in range(c["depth"])])
        self.final_norm = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
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
        for block in self.blocks:
            x = block(x, c)
        shift, scale = self.final_modulation(c).chunk(2, dim=1)
        x = self.final_linear(modulate(self.final_norm(x), shift, scale))
        b = x.shape[0]
        x = x.reshape(b, self.grid, self.grid, self.p, self.p, self.out_ch)
        return torch.einsum("nhwpqc->nchpwq", x).reshape(b, self.out_ch, self.grid * self.p, self.grid * self.p)


def main():
    cfg = json.loads(sys.argv[1])
    torch.manual_seed(0)
    torch.set_num_threads(cfg.get("threads", torch.get_num_threads()))
    model = DiT(cfg)
    params = sum(p.numel() for p in model.parameters())
    b, s, ch = cfg["batch"], cfg["inputSize"], cfg["inChannels"]
    x = torch.randn(b, ch, s, s)
    eps = torch.randn(b, ch, s, s)
    t = torch.randint(0, 1000, (b,)).float()
    y = torch.randint(0, cfg["numClasses"], (b,))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0)

    def step():
        out = model(x, t, y)
        loss = F.mse_loss(out[:, :ch], eps)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(cfg.get("warmup", 1)):
        step()
    steps, loss, start = 0, 0.0, time.perf_counter()
    while steps < cfg.get("minSteps", 2) or time.perf_counter() - start < cfg.get("minSeconds", 2.0):
        loss += step()
        steps += 1
    seconds = time.perf_counter() - start
    print(json.dumps({
        "engine": f"pytorch {torch.__version__}",
        "threads": torch.get_num_threads(),
        "params": params,
        "steps": steps,
        "stepMs": 1000 * seconds / steps,
        "examplesPerSec": b * steps / seconds,
        "loss": loss / steps,
    }))


if __name__ == "__main__":
    main()
