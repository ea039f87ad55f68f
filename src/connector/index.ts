export * from './request-context.js';
export * from './connector-errors.js';
export * from './calls-endpoint.js';
export * from './connector-auth.js';
export * from './connector-params.js';
export * from './connector-request-validator.js';
export * from './iso-country-codes.js';
export * from './twirp-server.js';
