export * from './config.js';
export * from './secret-settings.js';
