export * from './restart-backoff.js';
export * from './line-prefixer.js';
export * from './supervised-process.js';
export * from './nats-endpoint.js';
export * from './service-order.js';
export * from './stack-launcher.js';
export * from './service-environment.js';
export * from './replica-plan.js';
