export * from './stack.js';
export * from './sampling.js';
export * from './generate.js';
export * from './stream.js';
export * from './config.js';
export * from './processors.js';
