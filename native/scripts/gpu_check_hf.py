#!/usr/bin/env python3
"""Python side of gpu-check.sh (torch + transformers + safetensors; no internet).

  crosscheck --tool BIN --work DIR --summary FILE
      random small LlamaForCausalLM (llama3 rope scaling, GQA) and Qwen2ForCausalLM (qkv bias),
      saved with save_pretrained(safe_serialization=True) in bf16; our engine (CUDA) decodes a
      prompt token by token and writes every position's logits; transformers computes them in
      float32 from the same bf16 weights. Tolerance: max |ours - ref| <= 3e-2 * max(1, max |ref|)
      per position (our CUDA path rounds GEMM inputs and K/V to bf16; transformers-in-bf16
      itself differs from the f32 reference by the same order).
  write-config --out DIR       config.json of Llama-3.1-8B's shape (no weights)
  bench --config DIR ...       the benchmark workload through transformers (random bf16 init on GPU)
  table --ours F --hf F        the summary table
"""
import argparse
import json
import os
import subprocess
import sys
import time

LLAMA31_8B = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096,
    "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32,
    "num_key_value_heads": 8, "vocab_size": 128256, "max_position_embeddings": 131072,
    "rms_norm_eps": 1e-5, "rope_theta": 500000.0,
    "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                     "original_max_position_embeddings": 8192, "rope_type": "llama3"},
    "hidden_act": "silu", "tie_word_embeddings": False, "bos_token_id": 128000,
    "eos_token_id": 128001, "torch_dtype": "bfloat16", "attention_bias": False, "mlp_bias": False,
}


def log(*a):
    print(*a, flush=True)


def rope_kwargs(theta, scaling=None):
    """RoPE settings in the layout of the installed transformers: >= 5 takes one
    rope_parameters dict (theta inside), < 5 takes rope_theta and rope_scaling."""
    import transformers
    if int(transformers.__version__.split(".")[0]) >= 5:
        rp = {"rope_type": "default"} if scaling is None else dict(scaling)
        rp["rope_theta"] = theta
        return {"rope_parameters": rp}
    kw = {"rope_theta": theta}
    if scaling is not None:
        kw["rope_scaling"] = scaling
    return kw


def hf_config_kwargs(d):
    """A config.json dict as keyword arguments of the installed transformers' config class."""
    kw = {k: v for k, v in d.items()
          if k not in ("architectures", "model_type", "torch_dtype", "rope_theta", "rope_scaling")}
    kw.update(rope_kwargs(d["rope_theta"], d.get("rope_scaling")))
    return kw


def crosscheck(args):
    import numpy as np
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    models = {
        "hf_llama": (LlamaForCausalLM, LlamaConfig(
            hidden_size=256, intermediate_size=512, num_hidden_layers=3, num_attention_heads=8,
            num_key_value_heads=2, vocab_size=1000, max_position_embeddings=4096, rms_norm_eps=1e-5,
            tie_word_embeddings=False, bos_token_id=1, eos_token_id=2,
            **rope_kwargs(500000.0, {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                     "high_freq_factor": 4.0, "original_max_position_embeddings": 64}))),
        "hf_qwen2": (Qwen2ForCausalLM, Qwen2Config(
            hidden_size=256, intermediate_size=512, num_hidden_layers=3, num_attention_heads=8,
            num_key_value_heads=2, vocab_size=1000, max_position_embeddings=4096, rms_norm_eps=1e-6,
            tie_word_embeddings=True, bos_token_id=1, eos_token_id=2, use_sliding_window=False,
            **rope_kwargs(1000000.0))),
    }
    ok = True
    g = torch.Generator().manual_seed(1)
    prompt = torch.randint(3, 1000, (40,), generator=g).tolist()
    for name, (cls, cfg) in models.items():
        d = os.path.join(args.work, name)
        model = cls(cfg).to(torch.bfloat16)
        # Random init leaves norms at 1; perturb them so the norm weights are really tested.
        with torch.no_grad():
            for n, p in model.named_parameters():
                if "norm" in n or n.endswith(".bias"):
                    p.add_(0.1 * torch.randn_like(p))
        model.save_pretrained(d, safe_serialization=True)
        with open(os.path.join(d, "config.json")) as f:
            saved = json.load(f)
        log(f"{name}: saved config rope fields:",
            {k: saved[k] for k in ("rope_theta", "rope_scaling", "rope_parameters") if k in saved})
        ref_model = model.float().cuda().eval()
        with torch.no_grad():
            ref = ref_model(torch.tensor([prompt], device="cuda")).logits[0].float().cpu().numpy()
        out = os.path.join(d, "ours.f32")
        r = subprocess.run([args.tool, "logits", d, out, ",".join(map(str, prompt)), "cuda"],
                           capture_output=True, text=True)
        log(r.stdout.strip(), r.stderr.strip())
        if r.returncode != 0:
            ok = False
            continue
        ours = np.fromfile(out, dtype=np.float32).reshape(len(prompt), -1)
        scale = np.maximum(1.0, np.abs(ref).max(axis=1))
        err = (np.abs(ours - ref).max(axis=1) / scale)
        worst = float(err.max())
        argmax_agree = float((ours.argmax(1) == ref.argmax(1)).mean())
        line = (f"transformers cross-check {name}: max relative error {worst:.3e} over {len(prompt)} "
                f"positions (tolerance 3e-2), argmax agreement {argmax_agree:.3f}")
        log(line)
        with open(args.summary, "a") as f:
            f.write(line + "\n")
        ok = ok and worst <= 3e-2
        del ref_model, model
        torch.cuda.empty_cache()
    return 0 if ok else 1


def write_config(args):
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(LLAMA31_8B, f, indent=1)
    with open(os.path.join(args.out, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": 128000, "eos_token_id": [128001, 128009]}, f)
    return 0


def bench(args):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    from transformers.cache_utils import DynamicCache

    cfg = LlamaConfig(**hf_config_kwargs(LLAMA31_8B))
    torch.set_default_dtype(torch.bfloat16)
    t0 = time.time()
    with torch.device("cuda"):
        model = LlamaForCausalLM(cfg)
    model.eval()
    log(f"transformers: random bf16 model on GPU in {time.time() - t0:.1f}s, attn {model.config._attn_implementation}")

    def fwd(ids, cache, pos0):
        pos = torch.arange(pos0, pos0 + ids.shape[1], device="cuda").unsqueeze(0).expand(ids.shape[0], -1)
        try:
            return model(input_ids=ids, past_key_values=cache, position_ids=pos, use_cache=True, logits_to_keep=1)
        except TypeError:
            return model(input_ids=ids, past_key_values=cache, position_ids=pos, use_cache=True, num_logits_to_keep=1)

    def new_cache():
        try:
            return DynamicCache(config=model.config)
        except TypeError:
            return DynamicCache()

    batches = [int(b) for b in args.batches.split(",")]
    with torch.no_grad():
        for b in batches:
            try:
                cache = new_cache()
                ids = torch.randint(10, 1000, (b, args.context), device="cuda")
                out = fwd(ids, cache, 0)
                nxt = out.logits[:, -1].argmax(-1, keepdim=True)
                torch.cuda.synchronize()
                t = time.time()
                for i in range(args.decode_steps):
                    out = fwd(nxt, cache, args.context + i)
                    nxt = out.logits[:, -1].argmax(-1, keepdim=True)
                torch.cuda.synchronize()
                sec = time.time() - t
                print(f"RESULT decode_b{b}_tok_s {b * args.decode_steps / sec:.1f}", flush=True)
                del cache, out
                torch.cuda.empty_cache()
            except torch.cuda.OutOfMemoryError:
                print(f"RESULT decode_b{b}_tok_s nan", flush=True)
                torch.cuda.empty_cache()
        ids = torch.randint(10, 1000, (1, args.prefill), device="cuda")
        fwd(ids, new_cache(), 0)
        torch.cuda.synchronize()
        t = time.time()
        for _ in range(3):
            fwd(ids, new_cache(), 0)
        torch.cuda.synchronize()
        print(f"RESULT prefill_{args.prefill}_tok_s {3 * args.prefill / (time.time() - t):.1f}", flush=True)
    return 0


def read_results(path):
    res = {}
    if path and os.path.exists(path):
        for line in open(path):
            p = line.split()
            if len(p) == 3 and p[0] == "RESULT":
                try:
                    res[p[1]] = float(p[2])
                except ValueError:
                    pass
    return res


def table(args):
    ours, hf = read_results(args.ours), read_results(args.hf)
    rows = [("copy bandwidth (GB/s)", "copy_bandwidth_GBps", None),
            ("bf16 GEMM 8192^3 (TFLOP/s)", "bf16_gemm_TFLOPs", None)]
    decode = sorted((int(k[len("decode_b"):-len("_tok_s")]), k) for k in ours
                    if k.startswith("decode_b") and k.endswith("_tok_s") and "_eager" not in k)
    for b, k in decode:
        rows.append((f"decode tok/s, batch {b}", k, f"decode_b{b}_roofline_frac"))
        if f"decode_b{b}_eager_tok_s" in ours:
            rows.append((f"  the same without CUDA graphs", f"decode_b{b}_eager_tok_s", None))
    for k in sorted(ours):
        if k.startswith("prefill_") and k.endswith("_tok_s"):
            rows.append((f"prefill tok/s ({k.split('_')[1]}-token prompt)", k, "prefill_gemm_frac"))
    if "prefill_gemms_only_frac" in ours:
        rows.append(("prefill: the layers' GEMMs alone", None, "prefill_gemms_only_frac"))
    print(f"{'Llama-3.1-8B shape, bf16, random weights':44s} {'DeepInfer':>12s} {'of roofline':>12s} {'transformers':>13s}")
    for label, key, frac in rows:
        o = ours.get(key) if key else None
        f = ours.get(frac) if frac else None
        h = hf.get(key) if key else None
        fmt = lambda v: "-" if v is None else f"{v:.1f}"
        print(f"{label:44s} {fmt(o):>12s} {('-' if f is None else f'{100 * f:.0f}%'):>12s} {fmt(h):>13s}")
    print("roofline: decode = (weight bytes + the batch's K/V bytes) per step / measured copy bandwidth "
          "(read+write counted); prefill = 2 FLOP/weight/token / measured bf16 GEMM rate")
    return 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("crosscheck")
    c.add_argument("--tool", required=True)
    c.add_argument("--work", required=True)
    c.add_argument("--summary", required=True)
    w = sub.add_parser("write-config")
    w.add_argument("--out", required=True)
    b = sub.add_parser("bench")
    b.add_argument("--config", required=True)
    b.add_argument("--batches", default="1,32,128,256")
    b.add_argument("--context", type=int, default=512)
    b.add_argument("--decode-steps", type=int, default=32)
    b.add_argument("--prefill", type=int, default=2048)
    t = sub.add_parser("table")
    t.add_argument("--ours")
    t.add_argument("--hf")
    a = ap.parse_args()
    return {"crosscheck": crosscheck, "write-config": write_config, "bench": bench, "table": table}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
