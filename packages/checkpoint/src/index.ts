export * from './dtypes.js';
export * from './safetensors.js';
export * from './checkpoint.js';
export * from './weights.js';
