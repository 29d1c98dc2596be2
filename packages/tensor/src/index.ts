export * from './arena.js';
export * from './tensor.js';
export * from './scope.js';
export * from './half.js';
