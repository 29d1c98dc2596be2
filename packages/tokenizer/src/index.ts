export * from './tokenizer.js';
export * from './encoding.js';
export * from './errors.js';
export * from './operator.js';
export * from './models/index.js';
export { NormalizedString } from './normalized.js';
export { PrecompiledCharsmap } from './precompiled.js';
export * from './sentencepiece.js';
export * from './find.js';
