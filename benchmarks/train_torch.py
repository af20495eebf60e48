#!/usr/bin/env python3
"""Training-throughput baseline: a LLaMA model in plain PyTorch, timed per optimizer step.

Run with Debian's interpreter and its python3-torch (1.13, CPU only):

    /usr/bin/python3 benchmarks/train_torch.py --shape tiny
    /usr/bin/python3 benchmarks/train_torch.py --shape small --warmup 2 --steps 3

The model is what Arbor trains: pre-norm RMSNorm (eps 1e-5), attention with RoPE (theta
10000, rotate_half convention, as in Hugging Face LlamaForCausalLM), grouped-query heads,
SwiGLU MLP (down(silu(gate(x)) * up(x))), no biases anywhere, an untied LM head, all F32.
Attention is written out (q k^T / sqrt(d), additive causal mask, softmax, times v) because
torch 1.13 has no scaled_dot_product_attention.

Each step: forward on random token ids, mean cross-entropy against the next token,
backward, torch.optim.AdamW step (lr 1e-4, torch defaults otherwise), gradients cleared with
set_to_none. W warm-up steps are run and discarded, then N steps are timed one by one
(time.perf_counter around the whole step). tokens per step = batch * seq.

FLOPs per token (the PaLM paper, Chowdhery et al. 2022, appendix B, "model FLOPs"):

    flops_per_token = 6 * N + 12 * L * H * Q * T

    N = parameters that take part in a matmul: per layer wq, wk, wv, wo, w_gate, w_up, w_down,
        plus the LM head (vocab * hidden, untied). The input embedding (a gather, no FLOPs)
        and the RMSNorm weights (elementwise) are left out.
    L = layers, H = query heads, Q = head dim, T = sequence length. 12*L*H*Q*T is the
        q k^T and probs v matmuls, forward (2 each) and backward (4 each) over the full
        T x T score matrix (PaLM does not halve it for the causal mask; nor do we).

MFU = flops_per_token * tokens/s / (--peak-gflops * 1e9). The default 202 GFLOP/s is the
measured f32 FMA peak of the development machine at 2 threads (see BENCHMARKS.md).

BLAS matters more than anything else here. Debian's python3-torch does its f32 matmuls in
whatever libblas.so.3 the alternatives system points at; with only libblas3 installed that is
the netlib *reference* BLAS (~4 GFLOP/s, tiny takes ~50 s a step). The JSON line reports the
library that was loaded ("blas"). To measure torch with OpenBLAS without installing anything:

    apt-get download libopenblas0-openmp && dpkg-deb -x libopenblas0-openmp_*.deb /tmp/ob
    LD_LIBRARY_PATH=/tmp/ob/usr/lib/x86_64-linux-gnu/openblas-openmp \
        /usr/bin/python3 benchmarks/train_torch.py --shape tiny

(the -openmp flavour shares torch's libgomp thread pool, so --threads governs both).

Output: progress on stderr, then one JSON line on stdout.
"""
import argparse
import json
import math
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

SHAPES = {
    "tiny": dict(hidden=288, layers=6, heads=6, kv_heads=6, ffn=768, vocab=32000),   # the engine benchmarks' tiny
    "small": dict(hidden=768, layers=12, heads=12, kv_heads=12, ffn=2048, vocab=32000),
}


class RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def rope_tables(seq, head_dim, theta=10000.0):
    """cos/sin of shape (seq, head_dim), frequencies repeated for both halves (HF layout)."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    angles = torch.outer(torch.arange(seq, dtype=torch.float32), inv_freq)
    emb = torch.cat((angles, angles), dim=-1)
    return emb.cos(), emb.sin()


class Attention(nn.Module):
    def __init__(self, hidden, heads, kv_heads):
        super().__init__()
        assert hidden % heads == 0 and heads % kv_heads == 0
        self.heads, self.kv_heads, self.head_dim = heads, kv_heads, hidden // heads
        self.wq = nn.Linear(hidden, heads * self.head_dim, bias=False)
        self.wk = nn.Linear(hidden, kv_heads * self.head_dim, bias=False)
        self.wv = nn.Linear(hidden, kv_heads * self.head_dim, bias=False)
        self.wo = nn.Linear(heads * self.head_dim, hidden, bias=False)

    def forward(self, x, cos, sin, mask):
        b, t, _ = x.shape
        q = self.wq(x).view(b, t, self.heads, self.head_dim).transpose(1, 2)
        k = self.wk(x).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.wv(x).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if self.kv_heads != self.heads:  # grouped-query: each kv head serves heads/kv_heads queries
            rep = self.heads // self.kv_heads
            k = k.repeat_interleave(rep, dim=1)
            v = v.repeat_interleave(rep, dim=1)
        scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(self.head_dim)) + mask
        out = torch.softmax(scores, dim=-1) @ v
        return self.wo(out.transpose(1, 2).reshape(b, t, -1))


class MLP(nn.Module):
    def __init__(self, hidden, ffn):
        super().__init__()
        self.w_gate = nn.Linear(hidden, ffn, bias=False)
        self.w_up = nn.Linear(hidden, ffn, bias=False)
        self.w_down = nn.Linear(ffn, hidden, bias=False)

    def forward(self, x):
        return self.w_down(F.silu(self.w_gate(x)) * self.w_up(x))


class Block(nn.Module):
    def __init__(self, hidden, heads, kv_heads, ffn):
        super().__init__()
        self.attn_norm = RMSNorm(hidden)
        self.attn = Attention(hidden, heads, kv_heads)
        self.ffn_norm = RMSNorm(hidden)
        self.mlp = MLP(hidden, ffn)

    def forward(self, x, cos, sin, mask):
        x = x + self.attn(self.attn_norm(x), cos, sin, mask)
        return x + self.mlp(self.ffn_norm(x))


class Llama(nn.Module):
    def __init__(self, hidden, layers, heads, kv_heads, ffn, vocab, seq):
        super().__init__()
        self.embed = nn.Embedding(vocab, hidden)
        self.blocks = nn.ModuleList(Block(hidden, heads, kv_heads, ffn) for _ in range(layers))
        self.norm = RMSNorm(hidden)
        self.lm_head = nn.Linear(hidden, vocab, bias=False)  # untied from embed
        cos, sin = rope_tables(seq, hidden // heads)
        # Buffers, not parameters: built once, shared by every layer and step.
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        self.register_buffer("mask", torch.full((seq, seq), float("-inf")).triu(1), persistent=False)
        for p in self.parameters():  # small init so the loss starts near ln(vocab)
            if p.dim() == 2:
                nn.init.normal_(p, std=0.02)

    def forward(self, ids):
        t = ids.shape[1]
        cos, sin, mask = self.cos[:t], self.sin[:t], self.mask[:t, :t]
        x = self.embed(ids)
        for blk in self.blocks:
            x = blk(x, cos, sin, mask)
        return self.lm_head(self.norm(x))


def matmul_params(m):
    """N of the FLOPs formula: every Linear weight (layers and LM head), not embed or norms."""
    return sum(mod.weight.numel() for mod in m.modules() if isinstance(mod, nn.Linear))


def loaded_blas():
    """Shared libraries with 'blas' in their name mapped into this process (Linux only)."""
    try:
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f if "blas" in line.lower() and "/" in line}
        return sorted(os.path.realpath(p) for p in libs)
    except OSError:
        return []


def spread(xs):
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shape", choices=sorted(SHAPES), default="tiny")
    for k in ("hidden", "layers", "heads", "kv_heads", "ffn", "vocab"):
        ap.add_argument("--" + k.replace("_", "-"), dest=k, type=int, help="override the shape's " + k)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--peak-gflops", type=float, default=202.0)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    if a.steps < 1 or a.warmup < 0:
        ap.error("--steps must be >= 1 and --warmup >= 0")

    shape = dict(SHAPES[a.shape])
    for k in shape:
        if getattr(a, k) is not None:
            shape[k] = getattr(a, k)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)

    model = Llama(seq=a.seq, **shape)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr)
    params = sum(p.numel() for p in model.parameters())
    n_mm = matmul_params(model)
    head_dim = shape["hidden"] // shape["heads"]
    flops_per_token = 6 * n_mm + 12 * shape["layers"] * shape["heads"] * head_dim * a.seq
    tokens_per_step = a.batch * a.seq
    # One fixed random batch (seq+1 ids: inputs and their next-token targets); data loading
    # is not what is measured.
    data = torch.randint(0, shape["vocab"], (a.batch, a.seq + 1))
    inputs, targets = data[:, :-1], data[:, 1:]

    def step():
        logits = model(inputs)
        loss = F.cross_entropy(logits.reshape(-1, shape["vocab"]), targets.reshape(-1))
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.item()

    blas = loaded_blas()
    print(f"train_torch: {a.shape} {shape} params={params:,} batch={a.batch} seq={a.seq} "
          f"threads={torch.get_num_threads()} blas={blas}", file=sys.stderr)
    if any(p.endswith("/blas/libblas.so.3") for p in blas):
        print("train_torch: warning: the reference (netlib) BLAS is loaded; see the docstring for OpenBLAS",
              file=sys.stderr)
    load_before = os.getloadavg()[0]
    losses, secs = [], []
    for i in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        loss = step()
        dt = time.perf_counter() - t0
        timed = i >= a.warmup
        if timed:
            secs.append(dt)
        losses.append(loss)
        print(f"  {'step' if timed else 'warm-up'} {i + 1}: loss {loss:.4f} {dt:.3f} s "
              f"{tokens_per_step / dt:.1f} tok/s", file=sys.stderr)

    tps = [tokens_per_step / s for s in secs]
    tps_median = statistics.median(tps)
    print(json.dumps({
        "bench": "train_torch",
        "torch": torch.__version__,
        "blas": blas,
        "shape": a.shape, **shape,
        "batch": a.batch, "seq": a.seq, "threads": torch.get_num_threads(),
        "params": params, "params_matmul": n_mm,
        "flops_per_token": flops_per_token,
        "warmup": a.warmup, "steps": a.steps,
        "s_per_step": spread(secs),
        "tokens_per_s": spread(tps),
        "gflops": flops_per_token * tps_median / 1e9,
        "peak_gflops": a.peak_gflops,
        "mfu": flops_per_token * tps_median / (a.peak_gflops * 1e9),
        "loss_first": losses[0], "loss_last": losses[-1],
        # the machine is shared: a 1-minute load average well above --threads means contention
        "loadavg_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }))


if __name__ == "__main__":
    main()
