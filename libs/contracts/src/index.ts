export * from './subjects.js';
export * from './protocol.js';
export * from './validation.js';
export * from './messages/health.contract.js';
