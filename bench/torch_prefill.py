# The PyTorch side of bench:torch: a Llama-family forward written with torch ops the way
# transformers' eager LlamaModel computes it (RMSNorm, rotary embedding in the rotate-half form,
# grouped-query attention as matmul + softmax with a causal mask, SiLU-gated MLP, tied or untied
# unembedding), on the same float32 safetensors, timed on a prefill of the given token ids.
# Usage: python3 bench/torch_prefill.py MODEL_DIR IDS.json THREADS REPEATS
# Prints one JSON line: {"torch": version, "threads", "gemm_gflops", "seconds": [...], "last_logits": [first 64 of the last row]}.
import json, struct, sys, time
import numpy as np
import torch

model_dir, ids_file, threads, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
cfg = json.load(open(f"{model_dir}/config.json"))
if cfg.get("model_type") != "llama" or cfg.get("rope_scaling"):
    sys.exit(f"bench:torch reference handles plain Llama configs only, got {cfg.get('model_type')} with rope_scaling {cfg.get('rope_scaling')}")

def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        base = 8 + n
        data = np.memmap(path, dtype=np.uint8, mode="r")
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        if meta["dtype"] != "F32":
            sys.exit(f"{name}: {meta['dtype']}; the reference reads float32 files")
        a, b = meta["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[base + a: base + b].tobytes(), dtype=np.float32).reshape(meta["shape"]).copy())
    return out

W = read_safetensors(f"{model_dir}/model.safetensors")
d, H, KV, L = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["num_hidden_layers"]
hd = cfg.get("head_dim") or d // H
eps, theta = cfg["rms_norm_eps"], cfg["rope_theta"]
unembed = W["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else W["lm_head.weight"]

def rms(x, w):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))

def rotate_half(x):
    x1, x2 = x[..., : hd // 2], x[..., hd // 2:]
    return torch.cat((-x2, x1), dim=-1)

@torch.no_grad()
def forward(ids):
    T = ids.shape[0]
    x = W["model.embed_tokens.weight"][ids]
    inv = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))
    freqs = torch.outer(torch.arange(T).float(), inv)
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos()[None], emb.sin()[None]
    mask = torch.full((T, T), float("-inf")).triu(1)
    for l in range(L):
        p = f"model.layers.{l}."
        h = rms(x, W[p + "input_layernorm.weight"])
        q = (h @ W[p + "self_attn.q_proj.weight"].T).view(T, H, hd).transpose(0, 1)
        k = (h @ W[p + "self_attn.k_proj.weight"].T).view(T, KV, hd).transpose(0, 1)
        v = (h @ W[p + "self_attn.v_proj.weight"].T).view(T, KV, hd).transpose(0, 1)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        k, v = k.repeat_interleave(H // KV, dim=0), v.repeat_interleave(H // KV, dim=0)
        att = torch.softmax(q @ k.transpose(1, 2) / hd ** 0.5 + mask, dim=-1)
        o = (att @ v).transpose(0, 1).reshape(T, H * hd) @ W[p + "self_attn.o_proj.weight"].T
        x = x + o
        h = rms(x, W[p + "post_attention_layernorm.weight"])
        m = torch.nn.functional.silu(h @ W[p + "mlp.gate_proj.weight"].T) * (h @ W[p + "mlp.up_proj.weight"].T)
        x = x + m @ W[p + "mlp.down_proj.weight"].T
    return rms(x[-1:], W["model.norm.weight"]) @ unembed.T

# The BLAS under torch decides its speed (Debian's generic one runs at a few GFLOPS; OpenBLAS, chosen
# by update-alternatives once libopenblas0-pthread is installed, at a hundred or more): measured, and printed.
a, b = torch.randn(2048, d), torch.randn(d, cfg["intermediate_size"])
a @ b
t = time.perf_counter()
for _ in range(5):
    a @ b
gemm_gflops = 2 * 2048 * d * cfg["intermediate_size"] * 5 / (time.perf_counter() - t) / 1e9

ids = torch.tensor(json.load(open(ids_file)), dtype=torch.int64)
forward(ids[:16])  # warm up
seconds = []
for _ in range(repeats):
    t = time.perf_counter()
    logits = forward(ids)
    seconds.append(time.perf_counter() - t)
print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "gemm_gflops": gemm_gflops, "seconds": seconds, "last_logits": logits[0, :64].tolist()}))
