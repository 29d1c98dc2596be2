export * from './config.js';
export * from './bert.js';
export * from './gpt2.js';
export * from './seq2seq.js';
export * from './selfattention.js';
export * from './load.js';
export * from './explain.js';
export * from './generation.js';
export { GENERATION_FIELDS, GenerationConfigError, type DecodeHooks, type GenerationConfig, type GenerationField, type TokenEvent } from '@attnflow/decoder';
