export * from './connector-metrics.js';
