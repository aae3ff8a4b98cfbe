export * from './service-tokens.js';
export * from './service-state.js';
export * from './nest-logger.adapter.js';
export * from './admin.controller.js';
export * from './bootstrap-service.js';
export * from './admin-key.guard.js';
export * from './bus-handlers.js';
export * from './bus-routes/index.js';
