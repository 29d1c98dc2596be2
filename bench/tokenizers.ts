import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Tokenizer } from '@attnflow/tokenizer';
import { table, timeIt } from './common.js';

const fixture = (p: string) => fileURLToPath(new URL(`../test/fixtures/${p}`, import.meta.url));

/**
 * A generated corpus: varied English-like lines, some punctuation, digits, accents and CJK. Its 30 words repeat
 * throughout, so a tokenizer with a word cache (attnflow's WordPiece and BPE, Hugging Face's) nearly always hits it.
 */
function corpus(lines: number): string[] {
  const words = ['attention', 'is', 'all', 'you', 'need', 'the', 'transformer', 'model', 'reads', 'every', 'token', 'in', 'parallel', 'Beijing', 'Winter', 'Games', '2022', 'self-attention', 'café', 'naïve', 'über', '北京', 'queries,', 'keys', 'and', 'values.', "don't", 'softmax(QKᵀ/√d)', 'layer', 'norm'];
  let s = 7;
  const next = () => (s = (s * 1103515245 + 12345) & 0x7fffffff);
  return Array.from({ length: lines }, () => Array.from({ length: 8 + (next() % 24) }, () => words[next() % words.length]).join(' '));
}

/**
 * Lines of words drawn by Zipf's law (frequency ∝ 1/rank, as in natural text) from 200,000 made-up words, some
 * capitalised, accented or followed by a comma: about 65,000 distinct words in 20,000 lines, so a word cache
 * misses on the long tail as it would on real text.
 */
function zipfCorpus(lines: number): string[] {
  let s = 11;
  const random = () => {
    // mulberry32: the LCG above repeats too soon for a 200,000-word lexicon
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const letters = 'abcdefghijklmnopqrstuvwxyzéüñ';
  const lexicon = Array.from({ length: 200_000 }, () => {
    let w = '';
    for (let n = 2 + Math.floor(random() * 9); n > 0; n--) w += letters[Math.floor(random() ** 1.5 * letters.length)];
    if (random() < 0.1) w = w[0].toUpperCase() + w.slice(1);
    return random() < 0.1 ? `${w},` : w;
  });
  let total = 0;
  const cumulative = lexicon.map((_, rank) => (total += 1 / (rank + 1)));
  const pick = () => {
    const u = random() * total;
    let lo = 0;
    for (let hi = cumulative.length - 1; lo < hi; ) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    return lexicon[lo];
  };
  return Array.from({ length: lines }, () => Array.from({ length: 8 + Math.floor(random() * 24) }, pick).join(' '));
}

export async function tokenizersBench(): Promise<string> {
  const { PreTrainedTokenizer } = await import('@huggingface/transformers');
  const corpora: [string, string[]][] = [['30 words', corpus(20_000)], ['Zipf', zipfCorpus(20_000)]];
  const rows: (string | number)[][] = [['tokenizer', 'corpus', 'library', 'MB/s', 'tokens/s', 'vs transformers.js', 'same ids']];
  for (const [name, file] of [['WordPiece (BERT)', 'bert/tokenizer.json'], ['byte-level BPE (GPT-2)', 'gpt2/tokenizer.json'], ['Unigram (Metaspace)', 'tokenizers/unigram-trained/tokenizer.json']]) {
    for (const [corpusName, texts] of corpora) {
      const bytes = texts.reduce((n, t) => n + Buffer.byteLength(t), 0);
      const json = JSON.parse(readFileSync(fixture(file), 'utf8'));
      const ours = Tokenizer.fromJSON(json);
      let tokens = 0;
      const oursMs = await timeIt(() => { tokens = 0; for (const t of texts) tokens += ours.encode(t).ids.length; }, { warmup: 1, runs: 3 });
      let theirs: InstanceType<typeof PreTrainedTokenizer>;
      try {
        theirs = new PreTrainedTokenizer(json, {});
      } catch (e) {
        rows.push([name, corpusName, 'attnflow', bytes / 1e6 / (oursMs / 1000), tokens / (oursMs / 1000), '-', '-']);
        rows.push([name, corpusName, 'transformers.js', `cannot load: ${(e as Error).message}`, '', '', '']);
        continue;
      }
      const theirsMs = await timeIt(() => { for (const t of texts) theirs.encode(t); }, { warmup: 1, runs: 3 });
      const same = texts.slice(0, 2000).every((t) => JSON.stringify(ours.encode(t).ids) === JSON.stringify(theirs.encode(t)));
      rows.push([name, corpusName, 'attnflow', bytes / 1e6 / (oursMs / 1000), tokens / (oursMs / 1000), `${(theirsMs / oursMs).toFixed(2)}×`, same ? 'yes' : 'NO']);
      rows.push([name, corpusName, 'transformers.js', bytes / 1e6 / (theirsMs / 1000), tokens / (theirsMs / 1000), '1.00×', '']);
    }
  }
  const sizes = corpora.map(([n, texts]) => `${n}: ${(texts.reduce((b, t) => b + Buffer.byteLength(t), 0) / 1e6).toFixed(1)} MB, ${new Set(texts.flatMap((t) => t.split(' '))).size} distinct words`).join('; ');
  return `${table(rows)}\n(${corpora[0][1].length} lines a corpus — ${sizes}; one thread; "same ids" compares the first 2,000 lines)`;
}
