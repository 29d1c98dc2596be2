"""References for the RoPE kinds the decoders fixtures do not cover (linear, dynamic, yarn), on the weights of
test/fixtures/decoders/llama: the same checkpoint under other rope settings, with the float32 logits transformers
computes for every prompt and for 3 cached steps after prompt0 (which, for dynamic RoPE, differ from a full
forward: each step recomputes the frequencies for the longer sequence while the cached keys keep theirs).
Some configs are written in the Hub's transformers-4 form (rope_theta + rope_scaling with "type") to check that
both forms load.

    /work/pyenv/bin/python tools/make_rope_references.py   # writes test/fixtures/decoders-rope/<case>/
"""
import json
import os
import shutil

import torch
from safetensors.torch import save_file
from transformers import LlamaConfig, LlamaForCausalLM

ROOT = os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures')
SOURCE = os.path.join(ROOT, 'decoders', 'llama')
OUT = os.path.join(ROOT, 'decoders-rope')

CASES = {
    # transformers 5 form
    'linear': {'rope_parameters': {'rope_type': 'linear', 'rope_theta': 10000.0, 'factor': 2.0}},
    # dynamic NTK scaling only acts beyond max_position_embeddings: 10 here, prompt0 is 12 tokens
    'dynamic': {'max_position_embeddings': 10, 'rope_parameters': {'rope_type': 'dynamic', 'rope_theta': 10000.0, 'factor': 2.0}},
    'yarn': {'max_position_embeddings': 64, 'rope_parameters': {'rope_type': 'yarn', 'rope_theta': 10000.0, 'factor': 4.0, 'original_max_position_embeddings': 16}},
    # the Hub's transformers-4 form: rope_theta at the top, rope_scaling with the old "type" key
    'yarn-hub': {'max_position_embeddings': 64, 'rope_theta': 500.0, 'rope_scaling': {'type': 'yarn', 'factor': 4.0, 'original_max_position_embeddings': 16, 'beta_fast': 8, 'beta_slow': 2}},
    'linear-hub': {'rope_theta': 20000.0, 'rope_scaling': {'type': 'linear', 'factor': 3.0}},
}


def main():
    expected_src = json.load(open(os.path.join(SOURCE, 'expected.json')))
    base = json.load(open(os.path.join(SOURCE, 'config.json')))
    prompts = [expected_src[f'prompt{j}.input_ids'] for j in range(len(expected_src['texts']))]
    steps = expected_src['cached_step_ids']
    for name, change in CASES.items():
        config = {k: v for k, v in base.items() if k != 'rope_parameters' or 'rope_parameters' in change}
        config.update(change)
        folder = os.path.join(OUT, name)
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, 'config.json'), 'w') as f:
            json.dump(config, f, indent=2)
        shutil.copy(os.path.join(SOURCE, 'model.safetensors'), os.path.join(folder, 'model.safetensors'))
        model = LlamaForCausalLM.from_pretrained(folder, config=LlamaConfig.from_pretrained(folder), attn_implementation='eager', dtype=torch.float32).eval()
        tensors = {}
        with torch.no_grad():
            for j, ids in enumerate(prompts):
                tensors[f'prompt{j}.logits'] = model(torch.tensor([ids])).logits[0].contiguous()
            out = model(torch.tensor([prompts[0]]), use_cache=True)
            cache, rows = out.past_key_values, []
            for t in steps:
                out = model(torch.tensor([[t]]), past_key_values=cache, use_cache=True)
                cache = out.past_key_values
                rows.append(out.logits[0, -1])
            tensors['prompt0.cached_step_logits'] = torch.stack(rows).contiguous()
        save_file(tensors, os.path.join(folder, 'expected.safetensors'))
        with open(os.path.join(folder, 'expected.json'), 'w') as f:
            json.dump({'rope': model.config.rope_parameters, 'prompts': prompts, 'cached_step_ids': steps}, f, indent=1)
        print(name, model.config.rope_parameters)


if __name__ == '__main__':
    main()
