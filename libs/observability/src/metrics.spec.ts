import { Counter } from 'prom-client';
import { createMetricsRegistry } from './metrics.js';

test('a service registry labels every series and exposes process metrics', async () => {
  const registry = createMetricsRegistry('tokenizer');
  new Counter({ name: 'deepinfer_encode_total', help: 'encodes', registers: [registry] }).inc(2);
  const text = await registry.metrics();
  expect(text).toContain('deepinfer_encode_total{service="tokenizer"} 2');
  expect(text).toMatch(/deepinfer_process_cpu_user_seconds_total\{service="tokenizer"\}/);
});
