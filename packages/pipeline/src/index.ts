export * from './tasks/index.js';
export * from './batching.js';
export * from './operators.js';
export * from './api.js';
