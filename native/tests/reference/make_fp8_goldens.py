#!/usr/bin/env python3
"""Builds the tiny FP8 (E4M3) random-weight models under native/tests/fixtures/ and their golden
logits, with numpy only (no torch needed), from the repo root:

    python3 native/tests/reference/make_fp8_goldens.py

Each model is laid out as the Hub publishes FP8 checkpoints: the linear layers' `weight` tensors
are F8_E4M3 bytes with a scale tensor beside them, and config.json carries the
quantization_config that says how to read them:

  llama_fp8_channel  compressed-tensors "float-quantized", per-channel scales (`weight_scale`,
                     BF16 [N, 1]), dynamic per-token activations, lm_head left unquantized (its
                     "ignore" list), the other tensors BF16;
  llama_fp8_tensor   compressed-tensors, one scale per tensor (`weight_scale`, F32 [1]), F32
                     elsewhere, tied embeddings;
  llama_fp8_block    the "fp8" method, 16x16 block scales (`weight_scale_inv`, F32
                     [ceil(N/16), ceil(K/16)]), sizes that leave partial blocks.

The golden logits come from an independent float64 forward pass (RMSNorm, rotate-half RoPE,
grouped-query attention, SiLU-gated MLP, as in Hugging Face's Llama) over the dequantized
weights: fp8 value x scale, both exactly as stored. golden.json holds the prompt and the logits
at every prompt position. The engine dequantizes the same way in f32, so the only differences are
f32 rounding (tests/test_reference_logits.cc, tolerance 2e-5 relative).
"""
import json
import os
import struct

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")


def e4m3_values():
    """The value of every E4M3 byte (NaN for 0x7f and 0xff)."""
    out = np.zeros(256)
    for b in range(256):
        e, m = (b >> 3) & 15, b & 7
        if e == 15 and m == 7:
            out[b] = np.nan
            continue
        mag = m * 2.0 ** -9 if e == 0 else (8 + m) * 2.0 ** (e - 10)
        out[b] = -mag if b & 0x80 else mag
    return out


E4M3 = e4m3_values()
FINITE = np.where(~np.isnan(E4M3))[0]


def to_e4m3(x):
    """Nearest E4M3 byte of each value (|x| <= 448), as torch's float8_e4m3fn cast would round."""
    vals = E4M3[FINITE]
    idx = np.abs(x[..., None] - vals).argmin(axis=-1)
    return FINITE[idx].astype(np.uint8)


def bf16_bits(x):
    u = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def bf16_value(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32).astype(np.float64)


def write_safetensors(path, tensors):
    """tensors: list of (name, dtype, shape, raw bytes)."""
    header, blobs, off = {}, [], 0
    for name, dt, shape, raw in tensors:
        header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    text = json.dumps(header, separators=(",", ":"))
    text += " " * ((8 - (8 + len(text)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text.encode())
        for b in blobs:
            f.write(b)


class Model:
    def __init__(self, rng, plain_dtype):
        self.rng = rng
        self.plain_dtype = plain_dtype
        self.tensors = []
        self.w = {}

    def plain(self, name, values):
        """An unquantized tensor in the model's plain dtype; returns the stored values."""
        if self.plain_dtype == "BF16":
            bits = bf16_bits(values)
            self.tensors.append((name, "BF16", values.shape, bits.tobytes()))
            stored = bf16_value(bits)
        else:
            f = values.astype(np.float32)
            self.tensors.append((name, "F32", values.shape, f.tobytes()))
            stored = f.astype(np.float64)
        self.w[name] = stored
        return stored

    def fp8(self, name, values, scales, suffix, scale_dtype):
        """An FP8 linear weight [N, K]; `scales` maps the float weights to per-element scales and
        the stored scale tensor. Returns the dequantized weight (fp8 value x stored scale)."""
        per_elem, stored_scale = scales(values)
        if scale_dtype == "BF16":
            bits = bf16_bits(stored_scale)
            stored_scale_vals = bf16_value(bits)
            raw_scale = bits.tobytes()
        else:
            stored_scale_vals = stored_scale.astype(np.float32).astype(np.float64)
            raw_scale = stored_scale.astype(np.float32).tobytes()
        per_elem = per_elem(stored_scale_vals)
        q = to_e4m3(values / per_elem)
        self.tensors.append((name, "F8_E4M3", values.shape, q.tobytes()))
        self.tensors.append((name + suffix, scale_dtype, stored_scale.shape, raw_scale))
        deq = E4M3[q] * per_elem
        self.w[name] = deq
        return deq


def channel_scales(w):
    s = np.abs(w).max(axis=1, keepdims=True) / 448.0
    return (lambda stored: np.broadcast_to(stored, w.shape)), s


def tensor_scales(w):
    s = np.array([np.abs(w).max() / 448.0])
    return (lambda stored: np.full(w.shape, stored[0])), s


def block_scales(bn, bk):
    def make(w):
        n, k = w.shape
        rows, cols = -(-n // bn), -(-k // bk)
        s = np.zeros((rows, cols))
        for i in range(rows):
            for j in range(cols):
                s[i, j] = np.abs(w[i * bn:(i + 1) * bn, j * bk:(j + 1) * bk]).max() / 448.0
        return (lambda stored: np.repeat(np.repeat(stored, bn, axis=0), bk, axis=1)[:n, :k]), s
    return make


def rmsnorm(x, w, eps):
    return x / np.sqrt((x * x).mean(axis=-1, keepdims=True) + eps) * w


def rope(x, pos, theta):
    # x: [T, H, hd]; rotate-half with the first half paired with the second.
    hd = x.shape[-1]
    inv = 1.0 / theta ** (np.arange(0, hd, 2) / hd)
    ang = pos[:, None] * inv[None, :]
    cos = np.concatenate([np.cos(ang), np.cos(ang)], axis=-1)[:, None, :]
    sin = np.concatenate([np.sin(ang), np.sin(ang)], axis=-1)[:, None, :]
    rot = np.concatenate([-x[..., hd // 2:], x[..., : hd // 2]], axis=-1)
    return x * cos + rot * sin


def forward(cfg, W, prompt):
    D, H, Hkv = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd, eps, theta = D // H, cfg["rms_norm_eps"], cfg["rope_theta"]
    T = len(prompt)
    pos = np.arange(T, dtype=np.float64)
    x = W["model.embed_tokens.weight"][prompt]
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        h = rmsnorm(x, W[p + "input_layernorm.weight"], eps)
        q = (h @ W[p + "self_attn.q_proj.weight"].T).reshape(T, H, hd)
        k = (h @ W[p + "self_attn.k_proj.weight"].T).reshape(T, Hkv, hd)
        v = (h @ W[p + "self_attn.v_proj.weight"].T).reshape(T, Hkv, hd)
        q, k = rope(q, pos, theta), rope(k, pos, theta)
        out = np.zeros((T, H, hd))
        for head in range(H):
            kv = head // (H // Hkv)
            s = q[:, head, :] @ k[:, kv, :].T / np.sqrt(hd)
            s = np.where(np.tril(np.ones((T, T))) > 0, s, -np.inf)
            s = np.exp(s - s.max(axis=-1, keepdims=True))
            s /= s.sum(axis=-1, keepdims=True)
            out[:, head, :] = s @ v[:, kv, :]
        x = x + out.reshape(T, H * hd) @ W[p + "self_attn.o_proj.weight"].T
        h = rmsnorm(x, W[p + "post_attention_layernorm.weight"], eps)
        g = h @ W[p + "mlp.gate_proj.weight"].T
        u = h @ W[p + "mlp.up_proj.weight"].T
        x = x + (g / (1 + np.exp(-g)) * u) @ W[p + "mlp.down_proj.weight"].T
    x = rmsnorm(x, W["model.norm.weight"], eps)
    head = W["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else W["lm_head.weight"]
    return x @ head.T


def llama_config(dims, max_positions, tie, torch_dtype, quant):
    """config.json of a Llama of `dims` (hidden, intermediate, layers, heads, KV heads, vocab)."""
    D, I, L, H, Hkv, V = dims
    return {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": D, "intermediate_size": I,
        "num_hidden_layers": L, "num_attention_heads": H, "num_key_value_heads": Hkv, "vocab_size": V,
        "max_position_embeddings": max_positions, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "rope_scaling": None,
        "hidden_act": "silu", "tie_word_embeddings": tie, "bos_token_id": 1, "eos_token_id": 2,
        "torch_dtype": torch_dtype, "quantization_config": quant,
    }


def build(name, seed, dims, plain_dtype, quant, scales, suffix, scale_dtype, tie, quantize_lm_head):
    rng = np.random.default_rng(seed)
    D, I, L, H, Hkv, V = dims
    hd = D // H
    cfg = llama_config(dims, 256, tie, "bfloat16" if plain_dtype == "BF16" else "float32", quant)
    m = Model(rng, plain_dtype)
    u = lambda *shape: rng.uniform(-1, 1, shape) * np.sqrt(3.0 / shape[-1])
    m.plain("model.embed_tokens.weight", rng.standard_normal((V, D)))
    for l in range(L):
        p = f"model.layers.{l}."
        m.plain(p + "input_layernorm.weight", 1 + 0.1 * rng.uniform(-1, 1, D))
        m.plain(p + "post_attention_layernorm.weight", 1 + 0.1 * rng.uniform(-1, 1, D))
        for proj, shape in [("self_attn.q_proj", (H * hd, D)), ("self_attn.k_proj", (Hkv * hd, D)),
                            ("self_attn.v_proj", (Hkv * hd, D)), ("self_attn.o_proj", (D, H * hd)),
                            ("mlp.gate_proj", (I, D)), ("mlp.up_proj", (I, D)), ("mlp.down_proj", (D, I))]:
            m.fp8(p + proj + ".weight", u(*shape), scales, suffix, scale_dtype)
    m.plain("model.norm.weight", 1 + 0.1 * rng.uniform(-1, 1, D))
    if not tie:
        if quantize_lm_head:
            m.fp8("lm_head.weight", u(V, D), scales, suffix, scale_dtype)
        else:
            m.plain("lm_head.weight", u(V, D))
    prompt = [1] + [int(t) for t in rng.integers(3, V, 11)]
    logits = forward(cfg, m.w, prompt)
    out = os.path.join(ROOT, name)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    write_safetensors(os.path.join(out, "model.safetensors"), m.tensors)
    with open(os.path.join(out, "golden.json"), "w") as f:
        json.dump({"prompt": prompt, "logits": [[float(f"{v:.9g}") for v in row] for row in logits]}, f)
    print(f"{name}: {len(m.tensors)} tensors, prompt {len(prompt)} tokens, vocab {V}")


def compressed_tensors(strategy, ignore):
    return {
        "quant_method": "compressed-tensors", "format": "float-quantized", "quantization_status": "compressed",
        "config_groups": {"group_0": {
            "targets": ["Linear"],
            "weights": {"num_bits": 8, "type": "float", "strategy": strategy, "dynamic": False, "symmetric": True},
            "input_activations": {"num_bits": 8, "type": "float", "strategy": "token", "dynamic": True, "symmetric": True},
        }},
        "ignore": ignore, "kv_cache_scheme": None,
    }


def write_bench_model(out, dims, seed=21):
    """A larger FP8 model for deepinfer-bench (no golden: the float64 forward would take long):
    compressed-tensors, per-channel scales, F32 elsewhere, tied embeddings."""
    rng = np.random.default_rng(seed)
    D, I, L, H, Hkv, V = dims
    hd = D // H
    cfg = llama_config(dims, 1024, True, "float32", compressed_tensors("channel", ["lm_head"]))
    tensors = []
    f32 = lambda name, v: tensors.append((name, "F32", v.shape, v.astype(np.float32).tobytes()))
    f32("model.embed_tokens.weight", rng.standard_normal((V, D)) * 0.02)
    for l in range(L):
        p = f"model.layers.{l}."
        f32(p + "input_layernorm.weight", np.ones(D))
        f32(p + "post_attention_layernorm.weight", np.ones(D))
        for proj, (n, k) in [("self_attn.q_proj", (H * hd, D)), ("self_attn.k_proj", (Hkv * hd, D)),
                             ("self_attn.v_proj", (Hkv * hd, D)), ("self_attn.o_proj", (D, H * hd)),
                             ("mlp.gate_proj", (I, D)), ("mlp.up_proj", (I, D)), ("mlp.down_proj", (D, I))]:
            # Random finite E4M3 bytes of moderate magnitude, and per-row scales ~ 1/sqrt(k).
            q = rng.choice(FINITE[(np.abs(E4M3[FINITE]) <= 8) & (np.abs(E4M3[FINITE]) >= 0.25)], size=(n, k)).astype(np.uint8)
            tensors.append((p + proj + ".weight", "F8_E4M3", (n, k), q.tobytes()))
            tensors.append((p + proj + ".weight_scale", "F32", (n, 1), np.full((n, 1), 0.5 / np.sqrt(k), np.float32).tobytes()))
    f32("model.norm.weight", np.ones(D))
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    write_safetensors(os.path.join(out, "model.safetensors"), tensors)
    print(f"{out}: FP8 bench model {dims}")


if __name__ == "__main__":
    import sys
    if len(sys.argv) == 3 and sys.argv[1] == "--bench-model":
        # llama2.c stories110M's shape, as deepinfer-bench's own f32 model: the same work in FP8.
        write_bench_model(sys.argv[2], (768, 2048, 12, 12, 12, 32000))
        sys.exit(0)
    build("llama_fp8_channel", 11, (64, 128, 2, 4, 2, 128), "BF16", compressed_tensors("channel", ["lm_head"]),
          channel_scales, "_scale", "BF16", tie=False, quantize_lm_head=False)
    build("llama_fp8_tensor", 12, (32, 64, 2, 4, 1, 96), "F32", compressed_tensors("tensor", []),
          tensor_scales, "_scale", "F32", tie=True, quantize_lm_head=False)
    build("llama_fp8_block", 13, (48, 72, 2, 4, 2, 80), "F32",
          {"quant_method": "fp8", "activation_scheme": "dynamic", "weight_block_size": [16, 16]},
          block_scales(16, 16), "_scale_inv", "F32", tie=False, quantize_lm_head=True)
