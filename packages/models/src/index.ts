export * from './config.js';
export * from './bert.js';
export * from './gpt2.js';
export * from './seq2seq.js';
export * from './selfattention.js';
export * from './load.js';
export * from './explain.js';
