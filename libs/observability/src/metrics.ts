import { collectDefaultMetrics, Registry } from 'prom-client';

/** Every DeepInfer metric name starts with this, e.g. `deepinfer_num_requests_running`. */
export const METRIC_PREFIX = 'deepinfer_';

/**
 * A Prometheus registry for one service, with Node's process metrics and a `service` label on
 * every series, so that four services scraped into one Prometheus stay apart.
 */
export function createMetricsRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX });
  return registry;
}
