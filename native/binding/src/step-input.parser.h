// JS step input → StepStaging. The JS shape (see libs/engine's native-addon.types.ts):
//   seqs: Array<{ tokenIds: Int32Array, startPos?: number, blockTable: Int32Array,
//                 sample?: boolean, sampling?: {..., allowedTokenMask?: Uint32Array}, promptIds?: Int32Array, outputIds?: Int32Array,
//                 maskLater?: boolean }>
//   maskLater: the row's guided mask comes during the step, from supplyMasks (engine-wrap.h).
// Only the types are checked here; the engine validates the values (vocabulary, block table
// length, positions) on the worker thread and its message becomes the rejection.
#pragma once

#include <napi.h>

#include "engine-state.h"

namespace deepinfer_node {

// Fills `staging` (reusing its buffers). Throws Napi::TypeError naming the bad field.
// `vocab_size` sizes a guided-decoding mask (sampling.allowedTokenMask: ceil(vocab / 32) words).
void ParseStepInput(const Napi::Value& seqs, const Napi::Value& options, int32_t vocab_size, StepStaging* staging);

}  // namespace deepinfer_node
