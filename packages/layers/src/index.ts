export * from './activation.js';
export * from './linear.js';
export * from './norm.js';
export * from './attention.js';
export * from './feedforward.js';
export * from './block.js';
export * from './cache.js';
export * from './conv.js';
