export * from './attention.js';
export * from './feedforward.js';
export * from './block.js';
export * from './stack.js';
