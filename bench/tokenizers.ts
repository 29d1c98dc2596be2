import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Tokenizer } from '@attnflow/tokenizer';
import { table, timeIt } from './common.js';

const fixture = (p: string) => fileURLToPath(new URL(`../test/fixtures/${p}`, import.meta.url));

/** A generated corpus: varied English-like lines, some punctuation, digits, accents and CJK. */
function corpus(lines: number): string[] {
  const words = ['attention', 'is', 'all', 'you', 'need', 'the', 'transformer', 'model', 'reads', 'every', 'token', 'in', 'parallel', 'Beijing', 'Winter', 'Games', '2022', 'self-attention', 'café', 'naïve', 'über', '北京', 'queries,', 'keys', 'and', 'values.', "don't", 'softmax(QKᵀ/√d)', 'layer', 'norm'];
  let s = 7;
  const next = () => (s = (s * 1103515245 + 12345) & 0x7fffffff);
  return Array.from({ length: lines }, () => Array.from({ length: 8 + (next() % 24) }, () => words[next() % words.length]).join(' '));
}

export async function tokenizersBench(): Promise<string> {
  const { PreTrainedTokenizer } = await import('@huggingface/transformers');
  const texts = corpus(20_000);
  const bytes = texts.reduce((n, t) => n + Buffer.byteLength(t), 0);
  const rows: (string | number)[][] = [['tokenizer', 'library', 'MB/s', 'tokens/s', 'vs transformers.js', 'same ids']];
  for (const [name, file] of [['WordPiece (BERT)', 'bert/tokenizer.json'], ['byte-level BPE (GPT-2)', 'gpt2/tokenizer.json'], ['Unigram (Metaspace)', 'tokenizers/unigram-trained/tokenizer.json']]) {
    const json = JSON.parse(readFileSync(fixture(file), 'utf8'));
    const ours = Tokenizer.fromJSON(json);
    let tokens = 0;
    const oursMs = await timeIt(() => { tokens = 0; for (const t of texts) tokens += ours.encode(t).ids.length; }, { warmup: 1, runs: 3 });
    let theirs: InstanceType<typeof PreTrainedTokenizer>;
    try {
      theirs = new PreTrainedTokenizer(json, {});
    } catch (e) {
      rows.push([name, 'attnflow', bytes / 1e6 / (oursMs / 1000), tokens / (oursMs / 1000), '-', '-']);
      rows.push([name, 'transformers.js', `cannot load: ${(e as Error).message}`, '', '', '']);
      continue;
    }
    const theirsMs = await timeIt(() => { for (const t of texts) theirs.encode(t); }, { warmup: 1, runs: 3 });
    const same = texts.slice(0, 2000).every((t) => JSON.stringify(ours.encode(t).ids) === JSON.stringify(theirs.encode(t)));
    rows.push([name, 'attnflow', bytes / 1e6 / (oursMs / 1000), tokens / (oursMs / 1000), `${(theirsMs / oursMs).toFixed(2)}×`, same ? 'yes' : 'NO']);
    rows.push([name, 'transformers.js', bytes / 1e6 / (theirsMs / 1000), tokens / (theirsMs / 1000), '1.00×', '']);
  }
  return `${table(rows)}\n(${texts.length} lines, ${(bytes / 1e6).toFixed(1)} MB, one thread; "same ids" compares the first 2,000 lines)`;
}
