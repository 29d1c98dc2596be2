"""Checks that the SelfAttention module shown in docs/self-attention.md reproduces every case of
test/fixtures/seed-selfattention/ (the tutorial module's outputs). Needs torch and safetensors:
    /work/pyenv/bin/python tools/check-seed-selfattention.py
"""
import json
import sys
from pathlib import Path

import torch
import torch.nn as nn
from safetensors.torch import load_file


class SelfAttention(nn.Module):
    def __init__(self, embed_size, heads):
        super().__init__()
        self.embed_size, self.heads = embed_size, heads
        self.head_dim = embed_size // heads
        assert self.head_dim * heads == embed_size
        self.values = nn.Linear(self.head_dim, self.head_dim, bias=False)
        self.keys = nn.Linear(self.head_dim, self.head_dim, bias=False)
        self.queries = nn.Linear(self.head_dim, self.head_dim, bias=False)
        self.fc_out = nn.Linear(heads * self.head_dim, embed_size)

    def forward(self, values, keys, query, mask):
        N, value_len, key_len, query_len = query.shape[0], values.shape[1], keys.shape[1], query.shape[1]
        values = self.values(values.reshape(N, value_len, self.heads, self.head_dim))
        keys = self.keys(keys.reshape(N, key_len, self.heads, self.head_dim))
        queries = self.queries(query.reshape(N, query_len, self.heads, self.head_dim))
        energy = torch.einsum("nqhd,nkhd->nhqk", [queries, keys])
        if mask is not None:
            energy = energy.masked_fill(mask == 0, float("-1e20"))
        attention = torch.softmax(energy / (self.embed_size ** (1 / 2)), dim=3)
        out = torch.einsum("nhql,nlhd->nqhd", [attention, values])
        # The attention is returned too, to compare it with the fixture's.
        return self.fc_out(out.reshape(N, query_len, self.heads * self.head_dim)), attention


fixture = Path(__file__).resolve().parent.parent / "test" / "fixtures" / "seed-selfattention"
spec = json.loads((fixture / "expected.json").read_text())
expected = load_file(fixture / "expected.safetensors")
module = SelfAttention(spec["embed_size"], spec["heads"])
module.load_state_dict(load_file(fixture / "weights.safetensors"))
x = expected["x"]
q = x.shape[1]
inputs = {
    "no_mask": (expected["values"], expected["keys"], expected["query"], None),
    "self": (x, x, x, None),
    "padding": (x, x, x, torch.tensor(spec["padding_mask"]).reshape(x.shape[0], 1, 1, q)),
    "causal": (x, x, x, torch.tril(torch.ones(q, q)).reshape(1, 1, q, q)),
}
worst = 0.0
with torch.no_grad():
    for case in spec["cases"]:
        output, attention = module(*inputs[case])
        diff = max((output - expected[f"{case}.output"]).abs().max().item(), (attention - expected[f"{case}.attention"]).abs().max().item())
        print(f"{case}: max |diff| {diff:.1e}")
        worst = max(worst, diff)
sys.exit(0 if worst <= spec["tolerance"]["atol"] else 1)
