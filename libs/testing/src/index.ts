export * from './free-port.js';
export * from './wait-for.js';
export * from './nats-server.js';
export * from './random-model/bf16.js';
export * from './random-model/seeded-random.js';
export * from './random-model/safetensors.writer.js';
export * from './random-model/hf-model-families.js';
export * from './random-model/random-model.writer.js';
