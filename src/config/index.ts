export * from './config.js';
export * from './secret-settings.js';
export * from './admission-settings.js';
export * from './region-map.js';
