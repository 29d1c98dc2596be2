"""Word-piece vectors from co-occurrence statistics (positive PMI, window 4, then a 128-dimensional randomized
SVD), over the WordNet training sentences where each definition sentence starts with its word, so a word
shares contexts with the words that define it. Costs seconds of CPU where gradient descent would cost hours
on this machine: the sentence embedder starts from them."""
import numpy as np
import scipy.sparse as sp
import torch
from sklearn.utils.extmath import randomized_svd
from transformers import BertModel

import common

WINDOW = 4


def piece_vectors(dim: int) -> np.ndarray:
    """(vocab, dim) float32, rows of unit length (zero for pieces never seen); cached per vocabulary."""
    cache = common.CACHE / f'piece-vectors-{dim}.npy'
    if cache.exists() and cache.stat().st_mtime > (common.CACHE / 'bert-tokenizer.json').stat().st_mtime:
        return np.load(cache)
    vectors = _piece_vectors(dim)
    np.save(cache, vectors)
    return vectors


def _piece_vectors(dim: int) -> np.ndarray:
    tok = common.bert_tokenizer()
    vocab = tok.get_vocab_size()
    rows, cols = [], []
    for enc in tok.encode_batch(common.corpus(common.wordnet(), held_out=False), add_special_tokens=False):
        ids = np.asarray(enc.ids, dtype=np.int64)
        for d in range(1, WINDOW + 1):
            rows += [ids[:-d], ids[d:]]
            cols += [ids[d:], ids[:-d]]
    r, c = np.concatenate(rows), np.concatenate(cols)
    counts = sp.coo_matrix((np.ones(len(r), dtype=np.float32), (r, c)), shape=(vocab, vocab)).tocsr()
    total = counts.sum()
    word = np.asarray(counts.sum(1)).ravel()
    context = np.asarray(counts.sum(0)).ravel() ** 0.75  # context smoothing (Levy et al. 2015)
    context /= context.sum()
    coo = counts.tocoo()
    pmi = np.log(coo.data * 1.0 / (word[coo.row] / total) / context[coo.col] / total)
    keep = pmi > 0
    ppmi = sp.csr_matrix((pmi[keep], (coo.row[keep], coo.col[keep])), shape=(vocab, vocab))
    u, s, _ = randomized_svd(ppmi, dim, n_iter=3, random_state=common.SEED)
    vectors = (u * np.sqrt(s)).astype(np.float32)
    norm = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.where(norm > 0, vectors / np.maximum(norm, 1e-9), 0)


def bag_of_words(model: BertModel) -> None:
    """Word embeddings from word_vectors, position and token-type embeddings zero, and the output projection of
    every residual branch (attention and feed-forward) zero: before training, each layer passes
    LayerNorm(word vector) through unchanged, so mean pooling averages word vectors. Training then grows the
    attention and feed-forward branches from zero."""
    with torch.no_grad():
        e = model.embeddings
        e.word_embeddings.weight.copy_(torch.from_numpy(piece_vectors(model.config.hidden_size)))
        e.position_embeddings.weight.zero_()
        e.token_type_embeddings.weight.zero_()
        for layer in model.encoder.layer:
            for out in (layer.attention.output.dense, layer.output.dense):
                out.weight.zero_()
                out.bias.zero_()
