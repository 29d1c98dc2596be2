export * from './positions.js';
export * from './embedding.js';
export * from './relative.js';
export * from './rotary.js';
