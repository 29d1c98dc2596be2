export * from './arena.js';
export * from './tensor.js';
export * from './arrow.js';
export * from './scope.js';
