export * from './positions.js';
export * from './embedding.js';
