export * from './activation.js';
export * from './linear.js';
export * from './norm.js';
export * from './softmax.js';
export * from './attention.js';
export * from './tasks.js';
export * from './engine.js';
export * from './wasm.js';
