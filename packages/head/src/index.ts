export * from './pooling.js';
export * from './labels.js';
export * from './entities.js';
export * from './answer.js';
export * from './dense.js';
