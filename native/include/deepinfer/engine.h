/*
 * DeepInfer engine C API.
 *
 * A model, its weights on one backend, a paged KV cache and a sampler behind an opaque
 * handle. The caller (the executor's scheduler, through the N-API binding) owns block
 * allocation: each step says which tokens of which sequences to run, at which positions,
 * and into which KV blocks; the engine only carries it out.
 *
 * Conventions
 *  - Every function that can fail returns 0 on success and non-zero on failure, writing a
 *    NUL-terminated message into `err` (when err != NULL and err_len > 0). No C++ exception
 *    crosses this boundary. A refused di_engine_config field gives a message that starts with
 *    "config.<field>" and then ':' or ' ' (e.g. "config.kv_cache_dtype: ..."), so callers can
 *    report it as a configuration error.
 *  - Handles come in create/free pairs; free(NULL) is a no-op.
 *  - Input structs are plain pointers + counts, owned by the caller and only read during
 *    the call. Output buffers are allocated by the caller.
 *  - One engine is not thread-safe: one call at a time (the binding runs steps on a single
 *    worker thread). Different engines are independent.
 */
#ifndef DEEPINFER_ENGINE_H_
#define DEEPINFER_ENGINE_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DI_MAX_LOGPROBS 20
#define DI_MAX_EOS_IDS 8

typedef struct di_engine di_engine;

typedef enum di_backend_kind {
  DI_BACKEND_CPU = 0,
  DI_BACKEND_CUDA = 1, /* built when nvcc was found (DEEPINFER_CUDA=AUTO|ON) and linked in;
                          creation fails with a message when it is not, or no GPU is usable */
  DI_BACKEND_AUTO = 2  /* CUDA when it is built in and cudaGetDeviceCount() > 0, else CPU */
} di_backend_kind;

typedef struct di_engine_config {
  const char* model;              /* model directory or Hub id "org/name" (local HF cache) */
  int32_t backend;                /* di_backend_kind */
  int32_t num_threads;            /* CPU threads; 0 = all online cores */
  int32_t block_size;             /* tokens per KV block; 0 = 16 */
  int32_t num_kv_blocks;          /* KV blocks allocated once at create, never resized;
                                     0 = the backend's choice: 512 on the CPU, on CUDA as many
                                     as gpu_memory_utilization leaves after the weights and a
                                     profiling step at max_num_batched_tokens.
                                     Capacity = num_kv_blocks * block_size tokens */
  int32_t max_num_batched_tokens; /* scratch is sized for this many tokens per step; a larger
                                     step reallocates (slow path). 0 = 2048 */
  uint64_t seed;                  /* engine RNG for unseeded random sampling */
  float gpu_memory_utilization;   /* CUDA: fraction of the device's memory the engine may use
                                     (weights + activations + KV cache), (0, 1]; 0 = 0.9.
                                     Ignored by the CPU backend. */
  /* Strings below: NULL or "" = the default. Each is validated at create; a value the chosen
     backend cannot honour fails creation with a message naming the field. */
  const char* dtype;              /* weights (and activations on CUDA): "auto" (the checkpoint's
                                     dominant type), "float32", "float16" or "bfloat16"; the
                                     engine converts at load. The CPU backend computes in f32
                                     from weights rounded to this type. */
  const char* kv_cache_dtype;     /* "auto" (the backend's choice: f32 on the CPU, dtype on
                                     CUDA), that same type named explicitly, or "fp8" (alias
                                     "fp8_e4m3"): E4M3 K/V with a power-of-two scale per
                                     (token, kv head), CPU backend only for now */
  /* CUDA backend only (the CPU backend does not read them). */
  int32_t cuda_graphs;            /* 1: replay decode steps from CUDA graphs (default); 0: eager */
  const char* cuda_prefill_attn;  /* "mma" (tensor cores, default) or "fma" */
  const char* cuda_decode_attn;   /* "mma" (default), "tiled" or "warp" */
  const char* cuda_gemm;          /* "auto" (cuBLAS when found, else the built-in kernel),
                                     "cublas" (fail when cuBLAS cannot be loaded), "fallback" */
  const char* cublas_path;        /* libcublas.so.N to load first; else libcublas.so.13, .12,
                                     $CUDA_HOME/lib64, /usr/local/cuda/lib64 (first load in the
                                     process wins) */
} di_engine_config;

/* Fills defaults: backend CPU, all cores, block size 16, num_kv_blocks 0 (the backend's
   choice: 512 on the CPU), 2048 tokens, seed 0, gpu_memory_utilization 0.9, dtypes auto,
   CUDA graphs on, default kernels. */
void di_engine_config_init(di_engine_config* cfg);

/* Loads the model and allocates the KV cache. Returns NULL and fills err on failure. */
di_engine* di_engine_create(const di_engine_config* cfg, char* err, size_t err_len);
void di_engine_free(di_engine* engine);

typedef struct di_engine_info {
  int32_t num_layers;
  int32_t num_heads;
  int32_t num_kv_heads;
  int32_t head_dim;
  int32_t hidden_size;
  int32_t vocab_size;
  int64_t max_position_embeddings;
  int32_t bos_token_id;               /* -1 when the model has none */
  int32_t num_eos_ids;
  int32_t eos_token_ids[DI_MAX_EOS_IDS];
  char architecture[64];              /* config.json architectures[0] */
  char weight_dtype[8];               /* dtype of the checkpoint: "F32", "F16", "BF16" (dominant) */
  char backend[32];                   /* e.g. "cpu-avx2" */
  int64_t weight_bytes;               /* bytes the backend holds for weights (after any conversion) */
  int64_t weight_bytes_per_step;      /* bytes of weights streamed by every forward step, whatever
                                         its batch size (the batch-1 decode roofline numerator) */
  int32_t block_size;
  int32_t num_kv_blocks;
  int64_t kv_block_bytes;             /* bytes of one block over all layers, K and V */
  int32_t num_threads;
  /* Appended for the CUDA backend (zero / "" on the CPU backend). */
  char device_name[96];               /* e.g. "NVIDIA H100 80GB HBM3" */
  int64_t kv_cache_bytes;             /* device bytes of the K/V cache */
  int64_t device_free_bytes;          /* cudaMemGetInfo free after create */
  int64_t device_total_bytes;         /* cudaMemGetInfo total */
  char backend_details[192];          /* the backend's choices, e.g. "gemm: cuBLAS (libcublas.so.13);
                                         prefill attention: mma; decode attention: mma; cuda
                                         graphs: on"; "" on the CPU backend */
  int32_t cuda_graphs_captured;       /* decode-step CUDA graphs captured so far (one per batch
                                         bucket used); changes as the engine runs */
  char dtype[16];                     /* the weights' type as served after any conversion:
                                         "float32", "float16" or "bfloat16" (on the CPU backend the
                                         values are those of this type, held in f32) */
  char kv_cache_dtype[16];            /* element type of the K/V cache ("float8_e4m3" for fp8) */
  char weight_quantization[48];       /* "" for unquantized checkpoints, else e.g. "fp8_e4m3
                                         (block 128x128)", "fp8_e4m3 (per-channel)" or
                                         "fp8_e4m3 (per-tensor)" */
} di_engine_info;

int di_engine_get_info(const di_engine* engine, di_engine_info* info);

/* What an engine for this model would need, read from config.json (+ generation_config.json)
   alone: no weights are opened, so it is cheap even for an 8B model. Callers use it to turn a
   memory budget into num_kv_blocks before creating the engine (the executor's
   cpu_kv_cache_space_gib), and to size a block table for the model's context. */
typedef struct di_model_probe_info {
  int32_t num_layers;
  int32_t num_kv_heads;
  int32_t head_dim;
  int32_t vocab_size;
  int64_t max_position_embeddings;
  int32_t block_size;                 /* the block size the bytes below are for */
  int64_t kv_block_bytes;             /* = di_engine_info.kv_block_bytes of such an engine */
} di_model_probe_info;

/* backend: di_backend_kind (CUDA and AUTO size K/V elements at 2 bytes unless config.json's
   torch_dtype is float32; CPU at 4); block_size 0 = 16; kv_cache_dtype: as di_engine_config's
   (NULL = "auto"; "fp8": 1 byte per element plus 1 scale byte per token and kv head). Returns
   non-zero and fills err on failure (the loader's messages: missing directory, bad config.json,
   unsupported architecture, an unknown kv_cache_dtype, ...). */
int di_model_probe(const char* model, int32_t backend, int32_t block_size, const char* kv_cache_dtype,
                   di_model_probe_info* out, char* err, size_t err_len);

typedef struct di_sampling_params {
  float temperature;         /* 0 = greedy (argmax after bias and penalties) */
  int32_t top_k;             /* 0 or < 0 = off */
  float top_p;               /* 1 = off; (0, 1] */
  float min_p;               /* 0 = off; [0, 1] */
  float presence_penalty;    /* over output tokens; 0 = off */
  float frequency_penalty;   /* over output tokens; 0 = off */
  float repetition_penalty;  /* over prompt + output tokens, vLLM semantics; 1 = off */
  int32_t has_seed;          /* 1: the draw is derived from (seed, position): reproducible */
  uint64_t seed;
  const int32_t* logit_bias_ids;   /* [num_logit_bias] */
  const float* logit_bias_values;  /* [num_logit_bias], added to the logit before penalties */
  int32_t num_logit_bias;
  int32_t num_logprobs;      /* -1 = none; 0 = the sampled token's logprob only; N<=20 = + top N */
  /* Guided decoding: NULL = every token may be sampled; else a bitmask over the vocabulary,
     [ceil(vocab_size / 32)] words, token t allowed iff bit (t % 32) of word t / 32 is set. A
     masked-out token's logit is -inf before bias, penalties, temperature and the filters
     (greedy included); logprobs stay those of the raw distribution. At least one token of
     [0, vocab_size) must be allowed. Caller-owned, read during the step only. */
  const uint32_t* allowed_token_mask;
} di_sampling_params;

/* Fills defaults: greedy, no penalties, no seed, no logprobs. */
void di_sampling_params_init(di_sampling_params* p);

/* One sequence of a step: a prefill chunk or one decode token. */
typedef struct di_step_seq {
  const int32_t* token_ids;    /* [num_tokens] tokens to run now */
  int32_t num_tokens;          /* >= 1 */
  int32_t start_pos;           /* tokens of this sequence already in the KV cache
                                  (numComputedTokens); token i runs at position start_pos + i */
  const int32_t* block_table;  /* [num_blocks] block ids covering positions
                                  [0, start_pos + num_tokens); blocks may be shared with other
                                  sequences as long as no two sequences write the same slot */
  int32_t num_blocks;
  int32_t sample;              /* 1: sample the next token after the last token of this chunk */
  di_sampling_params sampling;
  /* For penalties (read only when sample == 1 and a penalty is on). Caller-owned. */
  const int32_t* prompt_ids;   /* [num_prompt_ids] */
  int32_t num_prompt_ids;
  const int32_t* output_ids;   /* [num_output_ids] tokens generated so far */
  int32_t num_output_ids;
  /* Guided decoding with the mask delivered during the step ("mask later"; read only when
     sample == 1): 1 = this row's allowed-token mask comes from di_step_input.await_masks
     (sampling.allowed_token_mask must then be NULL); 0 = sampling.allowed_token_mask as given. */
  int32_t mask_later;
} di_step_seq;

/* "Masks later": lets the caller compute the guided rows' masks while the forward pass runs
   (as vLLM and SGLang overlap grammar work with the GPU). Called once per step that has a
   sampling row with mask_later = 1, on the thread running di_engine_step, and may block (that
   is its purpose: it returns when the caller has the masks). It is called after the forward
   pass has started and before sampling, so the caller's mask work overlaps the forward pass:
     - host-sampling backends (CPU): after the forward pass; output->logits (when asked for) is
       already written;
     - device-sampling backends (CUDA): once the forward pass is launched on the device, while
       it runs; output->logits is written only after sampling (native/src/core/backend.h).
   masks: [num_seqs], all NULL on entry. For each row with mask_later = 1, set masks[i] to its
   mask ([ceil(vocab_size / 32)] words, the rules of allowed_token_mask, valid until
   di_engine_step returns) or leave it NULL to refuse the row: it samples nothing (sampled = 0,
   token_id = -1) and takes no engine draw; its raw logits still go to output->logits when
   asked for. Entries of other rows are ignored. Return 0; non-zero fails the step (the forward
   pass has run: K/V of the step's tokens are written). A supplied mask that allows no token
   fails the step, as allowed_token_mask does. It must not call into this engine (the step is
   still running). */
typedef int (*di_await_masks_fn)(void* ctx, const uint32_t** masks, int32_t num_seqs);

typedef struct di_step_input {
  const di_step_seq* seqs;     /* [num_seqs] */
  int32_t num_seqs;
  di_await_masks_fn await_masks;  /* required when a sampling row has mask_later = 1; else unused */
  void* await_masks_ctx;          /* passed to await_masks */
} di_step_input;

typedef struct di_seq_output {
  int32_t sampled;             /* 1 when this sequence asked to sample (the fields below are set) */
  int32_t token_id;
  float logprob;               /* raw log-softmax of the sampled token (when num_logprobs >= 0) */
  int32_t rank;                /* 1-based rank of the sampled token in the raw distribution */
  int32_t num_top;             /* = num_logprobs when > 0 */
  int32_t top_ids[DI_MAX_LOGPROBS];
  float top_logprobs[DI_MAX_LOGPROBS]; /* sorted, highest first */
} di_seq_output;

typedef struct di_step_output {
  di_seq_output* seqs;         /* [num_seqs], caller-allocated */
  /* Debug/test: when non-NULL, the raw last-position logits of every sequence with
     sample == 1 are written here, row i for input sequence i ([num_seqs][vocab_size],
     caller-allocated; rows of non-sampling sequences are left untouched). */
  float* logits;
  /* Out: how long sampling waited for the masks after the forward pass, in milliseconds; 0 when
     await_masks was not called. Host-sampling backends: the time di_engine_step spent in
     await_masks (called after the forward pass). Device-sampling backends: the time the device
     sat idle between the end of the forward pass and the return of await_masks (0 when the
     masks came while the forward pass ran). */
  double masks_wait_ms;
} di_step_output;

/* Runs one step. On failure nothing is sampled, but K/V of some tokens may have been written. */
int di_engine_step(di_engine* engine, const di_step_input* input, di_step_output* output,
                   char* err, size_t err_len);

/* Name of the CPU kernel path chosen at run time ("avx512", "avx2" or "scalar"). */
const char* di_cpu_kernel_path(void);

/* Number of usable CUDA devices: 0 when the CUDA backend is not built into this binary, or no
   driver/GPU is present. Never fails. */
int di_cuda_device_count(void);

#ifdef __cplusplus
}
#endif

#endif /* DEEPINFER_ENGINE_H_ */
