import { Registry, collectDefaultMetrics } from 'prom-client';

/** Prometheus registry of one service instance (default Node metrics included, prefixed). */
export function createMetricsRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'whatsapp_connector_' });
  return registry;
}
