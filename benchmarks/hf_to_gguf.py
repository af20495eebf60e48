"""Writes a LLaMA safetensors checkpoint (config.json + one model.safetensors, F32 or BF16) as GGUF for llama.cpp,
with a synthetic SentencePiece-style vocabulary (the random benchmark models have no tokenizer), so that
llama-bench can time the same weights as `arbor bench`. Not a general converter.

usage: hf_to_gguf.py MODEL_DIR OUT.gguf GGUF_PY_DIR   (GGUF_PY_DIR: llama.cpp's gguf-py)
"""
import json, mmap, os, struct, sys, tempfile
import numpy as np

sys.path.insert(0, sys.argv[3])
# gguf-py imports sentencepiece for vocabularies we do not use; an empty stand-in keeps it importable without it
stub = tempfile.mkdtemp()
with open(os.path.join(stub, 'sentencepiece.py'), 'w') as f:
    f.write('class SentencePieceProcessor: pass\n')
sys.path.insert(1, stub)
import gguf

src, out = sys.argv[1], sys.argv[2]
cfg = json.load(open(f'{src}/config.json'))
raw = mmap.mmap(os.open(f'{src}/model.safetensors', os.O_RDONLY), 0, prot=mmap.PROT_READ)   # not read whole: smol f32 is 1.6 GB
n = struct.unpack('<Q', raw[:8])[0]
header = json.loads(raw[8:8 + n]); base = 8 + n
header.pop('__metadata__', None)
def tensor(name):
    h = header[name]; a, b = h['data_offsets']
    dt = {'BF16': np.uint16, 'F32': np.float32, 'F16': np.float16}[h['dtype']]
    return np.frombuffer(raw, dtype=dt, count=(b - a) // np.dtype(dt).itemsize, offset=base + a).reshape(h['shape']), h['dtype']

H, L = cfg['num_attention_heads'], cfg['num_hidden_layers']
KV = cfg.get('num_key_value_heads', H)
hd = cfg.get('head_dim') or cfg['hidden_size'] // H
def permute(w, heads):   # HF rotate_half rows → GGML's interleaved pairs (as llama.cpp's converter does for llama)
    return w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)

w = gguf.GGUFWriter(out, 'llama')
w.add_context_length(cfg['max_position_embeddings']); w.add_embedding_length(cfg['hidden_size'])
w.add_block_count(L); w.add_feed_forward_length(cfg['intermediate_size'])
w.add_head_count(H); w.add_head_count_kv(KV); w.add_layer_norm_rms_eps(cfg['rms_norm_eps'])
w.add_rope_freq_base(cfg.get('rope_theta', 10000.0)); w.add_rope_dimension_count(hd)
w.add_key_length(hd); w.add_value_length(hd)
V = cfg['vocab_size']; w.add_vocab_size(V)
toks = ['<unk>', '<s>', '</s>'] + [f'<0x{i:02X}>' for i in range(256)]
toks += [f'▁t{i}' for i in range(V - len(toks))]
w.add_tokenizer_model('llama'); w.add_token_list(toks)
w.add_token_scores([0.0] * V)
w.add_token_types([2, 3, 3] + [6] * 256 + [1] * (V - 259))
w.add_bos_token_id(1); w.add_eos_token_id(2)
dtypes = set()
def put(gname, hname, heads=None):
    t, dt = tensor(hname); dtypes.add(dt)
    if heads: t = permute(t, heads)
    if t.ndim == 1 and dt == 'BF16': t, dt = (t.astype(np.uint32) << 16).view(np.float32), 'F32'   # norms in F32, as llama.cpp's converter keeps them
    t = np.ascontiguousarray(t)
    if dt == 'BF16': w.add_tensor(gname, t, raw_dtype=gguf.GGMLQuantizationType.BF16)
    else: w.add_tensor(gname, t)
put('token_embd.weight', 'model.embed_tokens.weight')
for i in range(L):
    p = f'model.layers.{i}.'
    put(f'blk.{i}.attn_norm.weight', p + 'input_layernorm.weight')
    put(f'blk.{i}.attn_q.weight', p + 'self_attn.q_proj.weight', H)
    put(f'blk.{i}.attn_k.weight', p + 'self_attn.k_proj.weight', KV)
    put(f'blk.{i}.attn_v.weight', p + 'self_attn.v_proj.weight')
    put(f'blk.{i}.attn_output.weight', p + 'self_attn.o_proj.weight')
    put(f'blk.{i}.ffn_norm.weight', p + 'post_attention_layernorm.weight')
    put(f'blk.{i}.ffn_gate.weight', p + 'mlp.gate_proj.weight')
    put(f'blk.{i}.ffn_up.weight', p + 'mlp.up_proj.weight')
    put(f'blk.{i}.ffn_down.weight', p + 'mlp.down_proj.weight')
put('output_norm.weight', 'model.norm.weight')
if 'lm_head.weight' in header: put('output.weight', 'lm_head.weight')
w.add_file_type(gguf.LlamaFileType.MOSTLY_BF16 if 'BF16' in dtypes else gguf.LlamaFileType.ALL_F32)
w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
print(out, sorted(dtypes))
