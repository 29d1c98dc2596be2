import { TokenizerError } from './errors.js';

/**
 * The position of `word` among `tokens`: the exact token first, then ignoring case and subword marks ("##",
 * "Ġ", "▁"), then the first sub-token that starts the word. The error lists the tokens there are.
 */
export function findToken(tokens: readonly string[], word: string): number {
  const clean = (t: string) => t.replace(/^(##|Ġ|▁)/, '').toLowerCase();
  const w = word.toLowerCase();
  let at = tokens.indexOf(word);
  if (at < 0) at = tokens.findIndex((t) => clean(t) === w);
  if (at < 0) at = tokens.findIndex((t) => clean(t).length > 1 && w.startsWith(clean(t)));
  if (at < 0) throw new TokenizerError(`token "${word}" is not in the text; its tokens are: ${tokens.map((t) => JSON.stringify(t)).join(' ')}`);
  return at;
}
