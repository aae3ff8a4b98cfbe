import fs from 'node:fs';
import path from 'node:path';
import { HF_MODEL_FAMILIES, type RandomModelArchitecture, type RandomModelDims } from './hf-model-families.js';
import { tokenizerPackageDirectory, tokenizerVocabSize } from './random-model.writer.js';

/** Llama-3.1-8B's dimensions (meta-llama/Llama-3.1-8B-Instruct's config.json). */
export const LLAMA_31_8B_DIMS: RandomModelDims = { hiddenSize: 4096, numLayers: 32, numHeads: 32, numKvHeads: 8, headDim: 128, intermediateSize: 14336 };

export interface ModelShapeOptions {
  readonly architecture: RandomModelArchitecture;
  readonly directory: string;
  readonly dims: RandomModelDims;
}

/**
 * A model directory without weights: the family's config.json and generation_config.json at the
 * given dimensions, and its production tokenizer. What the simulated device (device: sim) needs
 * to run a large model's shape (Llama-3.1-8B: LLAMA_31_8B_DIMS) on any machine; the real engine
 * refuses it (no safetensors). Returns the directory.
 */
export function writeModelShape(options: ModelShapeOptions): string {
  const family = HF_MODEL_FAMILIES[options.architecture];
  const tokenizerDirectory = tokenizerPackageDirectory(family.tokenizerPackage);
  const directory = path.resolve(options.directory);
  const tokenizerJsonText = fs.readFileSync(path.join(tokenizerDirectory, 'tokenizer.json'), 'utf8');
  const vocabSize = tokenizerVocabSize(JSON.parse(tokenizerJsonText) as Parameters<typeof tokenizerVocabSize>[0]);
  fs.mkdirSync(directory, { recursive: true });
  fs.writeFileSync(path.join(directory, 'tokenizer.json'), tokenizerJsonText);
  fs.copyFileSync(path.join(tokenizerDirectory, 'tokenizer_config.json'), path.join(directory, 'tokenizer_config.json'));
  fs.writeFileSync(path.join(directory, 'config.json'), JSON.stringify(family.config(options.dims, vocabSize), null, 2) + '\n');
  fs.writeFileSync(path.join(directory, 'generation_config.json'), JSON.stringify(family.generationConfig(), null, 2) + '\n');
  return directory;
}
