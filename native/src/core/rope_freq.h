// RoPE inverse frequencies, in double, with Llama 3 frequency-dependent scaling (HF's
// _compute_llama3_parameters). Shared by every backend so they rotate identically.
#pragma once

#include <cmath>
#include <vector>

#include "core/model_config.h"

namespace deepinfer {

inline std::vector<double> rope_inv_freq(const ModelConfig& cfg) {
  const int half = cfg.head_dim / 2;
  std::vector<double> inv(static_cast<size_t>(half));
  for (int i = 0; i < half; ++i) {
    double f = 1.0 / std::pow(cfg.rope_theta, (2.0 * i) / cfg.head_dim);
    if (cfg.rope_scaling.enabled) {
      const auto& rs = cfg.rope_scaling;
      const double old_len = static_cast<double>(rs.original_max_position_embeddings);
      const double low_wavelen = old_len / rs.low_freq_factor;
      const double high_wavelen = old_len / rs.high_freq_factor;
      const double wavelen = 2.0 * M_PI / f;
      if (wavelen > low_wavelen) {
        f = f / rs.factor;
      } else if (wavelen >= high_wavelen) {
        const double smooth = (old_len / wavelen - rs.low_freq_factor) / (rs.high_freq_factor - rs.low_freq_factor);
        f = (1.0 - smooth) * f / rs.factor + smooth * f;
      }
    }
    inv[static_cast<size_t>(i)] = f;
  }
  return inv;
}

}  // namespace deepinfer
