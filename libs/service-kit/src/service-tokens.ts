/** Nest injection tokens for what every service gets from bootstrapService. */
export const CONFIG = Symbol('DeepInferConfig');
export const LOGGER = Symbol('Logger');
export const MESSAGE_BUS = Symbol('MessageBus');
export const METRICS_REGISTRY = Symbol('MetricsRegistry');
export const SERVICE_STATE = Symbol('ServiceState');
