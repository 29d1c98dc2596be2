import { unsupported } from '../errors.js';
import { bpe } from './bpe.js';
import type { Model } from './model.js';
import { unigram } from './unigram.js';
import { wordPiece } from './wordpiece.js';

export * from './model.js';
export { bpe, unigram, wordPiece };

export function buildModel(cfg: Record<string, any>, file?: string): Model {
  const type = cfg.type ?? (cfg.merges ? 'BPE' : Array.isArray(cfg.vocab) ? 'Unigram' : 'WordPiece');
  switch (type) {
    case 'WordPiece':
      return wordPiece(cfg, file);
    case 'BPE':
      return bpe(cfg, file);
    case 'Unigram':
      return unigram(cfg as never, file);
    default:
      return unsupported('model', type, file, ['WordPiece', 'BPE', 'Unigram']);
  }
}
