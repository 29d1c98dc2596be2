import { Checkpoint } from '@attnflow/checkpoint';
import { Engine } from '@attnflow/kernels';
import { SelfAttentionModule } from '@attnflow/models';
import { EXIT, UsageError, int, str, type Command } from '../cli.js';

export const selfAttentionCommand: Command = {
  name: 'self-attention',
  summary: 'run the tutorial\'s SelfAttention module (docs/self-attention.md) from its state_dict',
  usage: 'attnflow self-attention --weights FILE --embed-size 10 --heads 2 --input FILE [--mask none|padding|causal]',
  options: {
    weights: { type: 'string' }, 'embed-size': { type: 'string' }, heads: { type: 'string' }, input: { type: 'string' },
    mask: { type: 'string' }, 'padding-mask': { type: 'string' }, separate: { type: 'boolean' },
  },
  help: `The PyTorch SelfAttention module of the tutorial attnflow was built from (docs/self-attention.md: its
code, what it teaches and its quirks), run as a setting of attnflow's attention parts: one head_dim × head_dim
projection shared by every head, scores ÷ √embed_size, masked scores -1e20, fc_out with bias.
Options:
  --weights FILE        its state_dict as .safetensors (queries/keys/values/fc_out)
  --embed-size N, --heads N   the module's constructor arguments
  --input FILE          .safetensors with "x" (N, len, embed): self-attention, values = keys = query = x
  --separate            use the input's "values", "keys" and "query" tensors instead of x
  --mask KIND           none (default), padding (needs --padding-mask) or causal
  --padding-mask JSON   e.g. [[1,1,1,0,0]]: 0 = masked key
Prints the output (N, len, embed) and the attention (N, heads, len, len) as JSON.`,
  async run(v) {
    const weights = str(v.weights);
    const input = str(v.input);
    if (!weights || !input) throw new UsageError('self-attention needs --weights and --input');
    const E = int(v['embed-size'], 'embed-size', 1);
    const heads = int(v.heads, 'heads', 1);
    if (E === undefined || heads === undefined) throw new UsageError('self-attention needs --embed-size and --heads');
    const engine = new Engine({ workers: 1 });
    try {
      const m = SelfAttentionModule.load(weights, { embedSize: E, heads }, engine);
      const ckpt = Checkpoint.openFile(input, engine.arena);
      const get = (name: string) => (ckpt.has(name) ? (ckpt.load(name).toArray() as Float32Array) : undefined);
      const names = v.separate === true ? ['values', 'keys', 'query'] : ['x', 'x', 'x'];
      const [values, keys, query] = names.map(get);
      if (!values || !keys || !query) throw new UsageError(`${str(v.input)}: needs ${v.separate === true ? 'tensors "values", "keys" and "query"' : 'a tensor "x" (or pass --separate)'}`);
      const shape = ckpt.tensors.get(names[2])!.shape;
      if (shape.length !== 3 || shape[2] !== E) throw new UsageError(`${str(v.input)}: input shape [${shape}] is not (N, len, ${E})`);
      const [N, L] = shape;
      const mask = str(v.mask) ?? 'none';
      if (!['none', 'padding', 'causal'].includes(mask)) throw new UsageError(`--mask must be none, padding or causal, got "${mask}"`);
      const padding = mask === 'padding' ? Int32Array.from((JSON.parse(str(v['padding-mask']) ?? 'null') as number[][] | null ?? []).flat()) : undefined;
      if (padding && padding.length !== N * L) throw new UsageError(`--padding-mask must be ${N} rows of ${L} zeros/ones`);
      const { output, attention } = await m.forward(values, keys, query, N, L, L, { padding, causal: mask === 'causal' });
      process.stdout.write(`${JSON.stringify({ outputShape: [N, L, E], output: Array.from(output), attentionShape: [N, heads, L, L], attention: Array.from(attention) })}\n`);
      return EXIT.ok;
    } finally {
      await engine.close();
    }
  },
};
