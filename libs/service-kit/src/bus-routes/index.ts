export * from './bus-context.js';
export * from './route-binding.js';
export * from './route-decorators.js';
export * from './bus-transport.js';
export * from './bus-client.js';
export * from './bus-error.filter.js';
export * from './bus-route-explorer.js';
