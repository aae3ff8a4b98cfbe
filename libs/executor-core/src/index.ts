export * from './step-engine.js';
export * from './executor-request.js';
export * from './executor-state.js';
