#!/usr/bin/env python3
"""Builds the tiny random-weight models under native/tests/fixtures/ and their golden logits.

Run with Debian's torch (apt-get install -y python3-torch; torch 1.13), from the repo root:

    /usr/bin/python3 native/tests/reference/make_goldens.py

Everything here is independent of the C++ engine: the forward pass below is written from the
Hugging Face modelling code's definitions (RMSNorm, rotate-half RoPE with optional llama3
scaling, grouped-query attention, SiLU-gated MLP, q/k/v bias, Qwen3 per-head q/k RMSNorm)
in plain torch, float64, from the weights exactly as stored (bf16/f16 values widened).
The safetensors files are written by the small writer below (no `safetensors` package).

Output per model: fixtures/<name>/{config.json, generation_config.json, model.safetensors or
shards + model.safetensors.index.json, golden.json}. golden.json holds the prompt and the
logits at every prompt position ([P][V], float64 printed with 9 significant digits).
The C++ suite (tests/test_reference_logits.cc) needs no torch.
"""
import json
import math
import os
import struct
import sys

import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")

DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}


def write_safetensors(path, tensors):
    """tensors: list of (name, dtype string, torch tensor already in that dtype)."""
    header = {}
    blobs = []
    off = 0
    for name, dt, t in tensors:
        t = t.contiguous()
        if dt == "F32":
            raw = t.numpy().tobytes()
        else:  # 16-bit: reinterpret the bits (numpy has no bfloat16)
            raw = t.view(torch.int16).numpy().tobytes()
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def make_weights(cfg, seed, dtype):
    g = torch.Generator().manual_seed(seed)
    D, I, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    Hq, Hkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg.get("head_dim", D // Hq)
    fam = cfg["model_type"]

    def mat(rows, cols, scale=1.0):
        return (torch.randn(rows, cols, generator=g) * (scale / math.sqrt(cols))).to(DTYPES[dtype])

    def vec(n, base, scale):
        return (base + scale * torch.randn(n, generator=g)).to(DTYPES[dtype])

    w = {}
    w["model.embed_tokens.weight"] = (torch.randn(V, D, generator=g)).to(DTYPES[dtype])
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        w[p + "input_layernorm.weight"] = vec(D, 1.0, 0.2)
        w[p + "self_attn.q_proj.weight"] = mat(Hq * hd, D, 2.0)
        w[p + "self_attn.k_proj.weight"] = mat(Hkv * hd, D, 2.0)
        w[p + "self_attn.v_proj.weight"] = mat(Hkv * hd, D)
        if fam == "qwen2" or cfg.get("attention_bias"):
            w[p + "self_attn.q_proj.bias"] = vec(Hq * hd, 0.0, 0.3)
            w[p + "self_attn.k_proj.bias"] = vec(Hkv * hd, 0.0, 0.3)
            w[p + "self_attn.v_proj.bias"] = vec(Hkv * hd, 0.0, 0.3)
        if fam == "qwen3":
            w[p + "self_attn.q_norm.weight"] = vec(hd, 1.0, 0.2)
            w[p + "self_attn.k_norm.weight"] = vec(hd, 1.0, 0.2)
        w[p + "self_attn.o_proj.weight"] = mat(D, Hq * hd)
        w[p + "post_attention_layernorm.weight"] = vec(D, 1.0, 0.2)
        w[p + "mlp.gate_proj.weight"] = mat(I, D)
        w[p + "mlp.up_proj.weight"] = mat(I, D)
        w[p + "mlp.down_proj.weight"] = mat(D, I)
    w["model.norm.weight"] = vec(D, 1.0, 0.2)
    if not cfg["tie_word_embeddings"]:
        w["lm_head.weight"] = mat(V, D, 2.0)
    return w


# ---------------------------------------------------------------- reference forward (float64)

def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def inv_freqs(cfg, hd):
    theta = cfg.get("rope_theta", 10000.0)
    inv = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    rs = cfg.get("rope_scaling")
    if rs and (rs.get("rope_type") or rs.get("type")) == "llama3":
        factor, lo, hi = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
        old = rs["original_max_position_embeddings"]
        low_wavelen, high_wavelen = old / lo, old / hi
        out = []
        for f in inv.tolist():
            wavelen = 2 * math.pi / f
            if wavelen < high_wavelen:
                out.append(f)
            elif wavelen > low_wavelen:
                out.append(f / factor)
            else:
                smooth = (old / wavelen - lo) / (hi - lo)
                out.append((1 - smooth) * f / factor + smooth * f)
        inv = torch.tensor(out, dtype=torch.float64)
    return inv


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def forward(cfg, w, ids):
    """Logits [P, V] for the prompt `ids` (positions 0..P-1), causal attention."""
    W = {k: v.to(torch.float64) for k, v in w.items()}
    D, Hq, Hkv = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg.get("head_dim", D // Hq)
    eps = cfg["rms_norm_eps"]
    P = len(ids)
    x = W["model.embed_tokens.weight"][torch.tensor(ids)]
    pos = torch.arange(P, dtype=torch.float64)
    ang = pos[:, None] * inv_freqs(cfg, hd)[None, :]
    emb = torch.cat((ang, ang), dim=-1)
    cos, sin = emb.cos(), emb.sin()  # [P, hd]
    mask = torch.full((P, P), float("-inf"), dtype=torch.float64).triu(1)
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        h = rms_norm(x, W[p + "input_layernorm.weight"], eps)
        q = h @ W[p + "self_attn.q_proj.weight"].T
        k = h @ W[p + "self_attn.k_proj.weight"].T
        v = h @ W[p + "self_attn.v_proj.weight"].T
        if p + "self_attn.q_proj.bias" in W:
            q = q + W[p + "self_attn.q_proj.bias"]
            k = k + W[p + "self_attn.k_proj.bias"]
            v = v + W[p + "self_attn.v_proj.bias"]
        q = q.view(P, Hq, hd).transpose(0, 1)  # [Hq, P, hd]
        k = k.view(P, Hkv, hd).transpose(0, 1)
        v = v.view(P, Hkv, hd).transpose(0, 1)
        if p + "self_attn.q_norm.weight" in W:
            q = rms_norm(q, W[p + "self_attn.q_norm.weight"], eps)
            k = rms_norm(k, W[p + "self_attn.k_norm.weight"], eps)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = Hq // Hkv
        k = k.repeat_interleave(rep, dim=0)
        v = v.repeat_interleave(rep, dim=0)
        att = (q @ k.transpose(1, 2)) / math.sqrt(hd) + mask
        o = torch.softmax(att, dim=-1) @ v  # [Hq, P, hd]
        o = o.transpose(0, 1).reshape(P, Hq * hd)
        x = x + o @ W[p + "self_attn.o_proj.weight"].T
        h = rms_norm(x, W[p + "post_attention_layernorm.weight"], eps)
        gate = h @ W[p + "mlp.gate_proj.weight"].T
        up = h @ W[p + "mlp.up_proj.weight"].T
        x = x + (torch.nn.functional.silu(gate) * up) @ W[p + "mlp.down_proj.weight"].T
    x = rms_norm(x, W["model.norm.weight"], eps)
    head = W["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else W["lm_head.weight"]
    return x @ head.T


# ---------------------------------------------------------------- the models

def base(arch, model_type, **kw):
    cfg = {
        "architectures": [arch], "model_type": model_type,
        "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 4, "vocab_size": 96,
        "max_position_embeddings": 256, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
        "rope_scaling": None, "hidden_act": "silu", "tie_word_embeddings": False,
        "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "float32",
    }
    cfg.update(kw)
    return cfg


MODELS = [
    # name, config, weight dtype, seed, shards
    ("llama_gqa1", base("LlamaForCausalLM", "llama"), "F32", 1, 1),
    ("llama_gqa2_tied", base("LlamaForCausalLM", "llama", num_key_value_heads=2, tie_word_embeddings=True), "F32", 2, 1),
    ("llama_gqa8", base("LlamaForCausalLM", "llama", hidden_size=64, num_attention_heads=8, num_key_value_heads=1,
                        intermediate_size=96, vocab_size=128), "F32", 3, 1),
    ("qwen2_bias", base("Qwen2ForCausalLM", "qwen2", num_key_value_heads=2, rope_theta=1000000.0, rms_norm_eps=1e-6,
                        tie_word_embeddings=True), "F32", 4, 1),
    ("qwen3_qknorm_hd16", base("Qwen3ForCausalLM", "qwen3", num_key_value_heads=2, head_dim=16,
                               rms_norm_eps=1e-6), "F32", 5, 1),
    ("llama3_rope_scaling", base("LlamaForCausalLM", "llama", num_key_value_heads=2, head_dim=8, rope_theta=500000.0,
                                 rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                               "high_freq_factor": 4.0, "original_max_position_embeddings": 16}),
     "F32", 6, 1),
    ("llama_bf16", base("LlamaForCausalLM", "llama", num_key_value_heads=2, torch_dtype="bfloat16"), "BF16", 7, 1),
    ("mistral_f16", base("MistralForCausalLM", "mistral", num_key_value_heads=2, sliding_window=4096,
                         torch_dtype="float16"), "F16", 8, 1),
    ("llama_sharded", base("LlamaForCausalLM", "llama", num_key_value_heads=2), "F32", 9, 3),
]

PROMPT = [1, 17, 42, 5, 88, 23, 23, 60, 7, 91, 33, 2, 14, 77, 50, 9, 65, 31, 12, 80, 44, 3, 70, 28]


def main():
    torch.set_num_threads(1)
    os.makedirs(ROOT, exist_ok=True)
    for name, cfg, dtype, seed, shards in MODELS:
        d = os.path.join(ROOT, name)
        os.makedirs(d, exist_ok=True)
        for f in os.listdir(d):
            os.remove(os.path.join(d, f))
        w = make_weights(cfg, seed, dtype)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)
        with open(os.path.join(d, "generation_config.json"), "w") as f:
            json.dump({"bos_token_id": 1, "eos_token_id": [2, 3]}, f, indent=2)
        items = [(k, dtype, v) for k, v in w.items()]
        if shards == 1:
            write_safetensors(os.path.join(d, "model.safetensors"), items)
        else:
            weight_map = {}
            per = (len(items) + shards - 1) // shards
            for s in range(shards):
                fname = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
                part = items[s * per:(s + 1) * per]
                write_safetensors(os.path.join(d, fname), part)
                for k, _, _ in part:
                    weight_map[k] = fname
            with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
                json.dump({"metadata": {"total_size": 0}, "weight_map": weight_map}, f, indent=2)
        V = cfg["vocab_size"]
        prompt = [t % V for t in PROMPT]
        logits = forward(cfg, w, prompt)
        with open(os.path.join(d, "golden.json"), "w") as f:
            f.write('{"prompt": %s,\n "logits": [\n' % json.dumps(prompt))
            rows = ["  [" + ", ".join("%.9g" % v for v in row.tolist()) + "]" for row in logits]
            f.write(",\n".join(rows))
            f.write("\n]}\n")
        print(f"{name}: {dtype}, max |logit| {logits.abs().max().item():.3f}", file=sys.stderr)


if __name__ == "__main__":
    main()
