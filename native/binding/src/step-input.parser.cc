#include "step-input.parser.h"

#include <limits>
#include <string>

#include "js-values.h"

namespace deepinfer_node {

namespace {

constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();

// Offsets into staging->ints / floats, turned into pointers once every array is copied (the
// vectors may reallocate while they grow).
struct SeqOffsets {
  size_t tokens, blocks, prompt, output, bias_ids, bias_values, mask;
  bool has_mask;
};

size_t Append(std::vector<int32_t>* dst, const Int32View& v) {
  const size_t at = dst->size();
  if (v.length > 0) dst->insert(dst->end(), v.data, v.data + v.length);
  return at;
}

int32_t Count(const Napi::Env& env, size_t n, const std::string& where) {
  if (n > static_cast<size_t>(kInt32Max)) throw Napi::RangeError::New(env, where + " is too long");
  return static_cast<int32_t>(n);
}

void ParseSampling(const Napi::Object& seq, const std::string& where, int32_t vocab_size, di_step_seq* s,
                   StepStaging* st, SeqOffsets* off) {
  di_sampling_params_init(&s->sampling);
  Napi::Value v = seq.Get("sampling");
  if (v.IsUndefined() || v.IsNull()) return;
  if (!v.IsObject()) throw Napi::TypeError::New(seq.Env(), where + ".sampling must be an object");
  const Napi::Object o = v.As<Napi::Object>();
  const std::string w = where + ".sampling";
  di_sampling_params& p = s->sampling;
  p.temperature = static_cast<float>(GetNumber(o, "temperature", w, p.temperature));
  p.top_k = static_cast<int32_t>(GetInt(o, "topK", w, -1, kInt32Max, p.top_k));
  p.top_p = static_cast<float>(GetNumber(o, "topP", w, p.top_p));
  p.min_p = static_cast<float>(GetNumber(o, "minP", w, p.min_p));
  p.presence_penalty = static_cast<float>(GetNumber(o, "presencePenalty", w, p.presence_penalty));
  p.frequency_penalty = static_cast<float>(GetNumber(o, "frequencyPenalty", w, p.frequency_penalty));
  p.repetition_penalty = static_cast<float>(GetNumber(o, "repetitionPenalty", w, p.repetition_penalty));
  p.num_logprobs = static_cast<int32_t>(GetInt(o, "numLogprobs", w, -1, DI_MAX_LOGPROBS, p.num_logprobs));
  bool has_seed = false;
  p.seed = GetSeed(o, "seed", w, &has_seed);
  p.has_seed = has_seed ? 1 : 0;
  const Int32View ids = GetInt32Array(o, "logitBiasIds", w, true);
  const Float32View values = GetFloat32Array(o, "logitBiasValues", w, true);
  if (ids.length != values.length) {
    throw Napi::RangeError::New(o.Env(), w + ".logitBiasIds and logitBiasValues must have the same length");
  }
  p.num_logit_bias = Count(o.Env(), ids.length, w + ".logitBiasIds");
  off->bias_ids = Append(&st->ints, ids);
  off->bias_values = st->floats.size();
  if (values.length > 0) st->floats.insert(st->floats.end(), values.data, values.data + values.length);
  const Uint32View mask = GetUint32Array(o, "allowedTokenMask", w, true);
  off->has_mask = mask.present;
  if (mask.present) {
    const size_t words = (static_cast<size_t>(vocab_size) + 31) / 32;
    if (mask.length != words) {
      throw Napi::RangeError::New(o.Env(), w + ".allowedTokenMask must have ceil(vocab_size / 32) = " +
                                               std::to_string(words) + " words, not " + std::to_string(mask.length));
    }
    off->mask = st->ints.size();
    const int32_t* bits = reinterpret_cast<const int32_t*>(mask.data);
    st->ints.insert(st->ints.end(), bits, bits + mask.length);
  }
}

}  // namespace

void ParseStepInput(const Napi::Value& seqs_value, const Napi::Value& options, int32_t vocab_size, StepStaging* st) {
  const Napi::Env env = seqs_value.Env();
  if (!seqs_value.IsArray()) throw Napi::TypeError::New(env, "step: the input must be an array of sequences");
  const Napi::Array seqs = seqs_value.As<Napi::Array>();
  const uint32_t n = seqs.Length();
  st->ints.clear();
  st->floats.clear();
  st->masks_later = false;
  st->seqs.assign(n, di_step_seq{});
  std::vector<SeqOffsets> offsets(n, SeqOffsets{});
  for (uint32_t i = 0; i < n; ++i) {
    const std::string where = "step: seqs[" + std::to_string(i) + "]";
    const Napi::Value item = seqs.Get(i);
    if (!item.IsObject()) throw Napi::TypeError::New(env, where + " must be an object");
    const Napi::Object seq = item.As<Napi::Object>();
    di_step_seq& s = st->seqs[i];
    SeqOffsets& off = offsets[i];
    const Int32View tokens = GetInt32Array(seq, "tokenIds", where, false);
    s.num_tokens = Count(env, tokens.length, where + ".tokenIds");
    off.tokens = Append(&st->ints, tokens);
    s.start_pos = static_cast<int32_t>(GetInt(seq, "startPos", where, 0, kInt32Max, 0));
    const Int32View blocks = GetInt32Array(seq, "blockTable", where, false);
    s.num_blocks = Count(env, blocks.length, where + ".blockTable");
    off.blocks = Append(&st->ints, blocks);
    s.sample = GetBool(seq, "sample", where, false) ? 1 : 0;
    s.mask_later = GetBool(seq, "maskLater", where, false) ? 1 : 0;
    st->masks_later = st->masks_later || (s.sample && s.mask_later);
    ParseSampling(seq, where, vocab_size, &s, st, &off);
    const Int32View prompt = GetInt32Array(seq, "promptIds", where, true);
    s.num_prompt_ids = Count(env, prompt.length, where + ".promptIds");
    off.prompt = Append(&st->ints, prompt);
    const Int32View output = GetInt32Array(seq, "outputIds", where, true);
    s.num_output_ids = Count(env, output.length, where + ".outputIds");
    off.output = Append(&st->ints, output);
  }
  for (uint32_t i = 0; i < n; ++i) {
    di_step_seq& s = st->seqs[i];
    const SeqOffsets& off = offsets[i];
    s.token_ids = st->ints.data() + off.tokens;
    s.block_table = st->ints.data() + off.blocks;
    s.prompt_ids = s.num_prompt_ids > 0 ? st->ints.data() + off.prompt : nullptr;
    s.output_ids = s.num_output_ids > 0 ? st->ints.data() + off.output : nullptr;
    if (s.sampling.num_logit_bias > 0) {
      s.sampling.logit_bias_ids = st->ints.data() + off.bias_ids;
      s.sampling.logit_bias_values = st->floats.data() + off.bias_values;
    }
    if (off.has_mask) s.sampling.allowed_token_mask = reinterpret_cast<const uint32_t*>(st->ints.data() + off.mask);
  }
  st->outputs.assign(n, di_seq_output{});
  st->want_logits = false;
  if (!options.IsUndefined() && !options.IsNull()) {
    if (!options.IsObject()) throw Napi::TypeError::New(env, "step: options must be an object");
    st->want_logits = GetBool(options.As<Napi::Object>(), "logits", "step: options", false);
  }
}

}  // namespace deepinfer_node
