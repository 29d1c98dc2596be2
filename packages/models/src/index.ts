export * from './config.js';
export * from './bert.js';
