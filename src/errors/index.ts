export * from './connector-error.js';
export * from './service-error.js';
