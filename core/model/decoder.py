"""LSTM caption decoder with soft attention (Show, Attend and Tell, Xu et al. 2015)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from photoscribe.core.model.attention import Attention


@dataclass
class DecoderState:
    """Recurrent state carried between decoding steps."""

    h: torch.Tensor  # (B, H)
    c: torch.Tensor  # (B, H)
    projected: torch.Tensor  # (B, N, A) attention projection of the features, fixed per image

    def select(self, index: torch.Tensor) -> DecoderState:
        """Keep rows ``index`` (used by beam search to reorder beams)."""
        return DecoderState(self.h[index], self.c[index], self.projected[index])


@dataclass
class PackedDecoding:
    """Teacher-forced outputs for the real (non-padding) positions only, packed time-major.

    Row ``k`` of ``logits``, ``targets`` and ``alphas`` belongs to step ``t`` and sorted
    caption ``i`` exactly as in ``pack_padded_sequence``: step 0 of every caption, then step 1
    of the captions that are still running, and so on, longest caption first.
    """

    logits: torch.Tensor  # (P, V), P = sum(lengths - 1)
    targets: torch.Tensor  # (P,) the word each row of logits predicts
    alphas: torch.Tensor  # (P, N) attention weights of each step
    batch_sizes: torch.Tensor  # (T-1,) int64 on the CPU: captions still running at each step
    sorted_indices: torch.Tensor | None  # (B,) batch row of each sorted caption; None if already sorted

    def attention_totals(self) -> torch.Tensor:
        """(B, N) float32: each caption's attention summed over its steps, in sorted order."""
        padded, _ = pad_packed_sequence(PackedSequence(self.alphas.float(), self.batch_sizes))
        return padded.sum(dim=0)


class Decoder(nn.Module):
    """At each step the LSTM sees [word embedding; gated attention context] and its previous hidden state.

    An ``LSTMCell`` over the concatenated input is equivalent to the paper's gates that
    see (embedding, previous hidden, context).
    """

    def __init__(
        self,
        vocab_size: int,
        feature_dim: int,
        embed_dim: int = 300,
        hidden_dim: int = 512,
        attention_dim: int = 512,
        dropout: float = 0.5,
        attention_activation: str = "relu",
        deep_output: bool = False,
    ) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.hidden_dim = hidden_dim
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.attention = Attention(feature_dim, hidden_dim, attention_dim, attention_activation)
        self.init_h = nn.Linear(feature_dim, hidden_dim)
        self.init_c = nn.Linear(feature_dim, hidden_dim)
        self.gate = nn.Linear(hidden_dim, feature_dim)  # beta_t: how much context to let through
        self.lstm = nn.LSTMCell(embed_dim + feature_dim, hidden_dim)
        self.dropout = nn.Dropout(dropout)
        self.deep_output = deep_output
        if deep_output:
            # Paper eq. 7: p(y_t) = softmax(L_o(E y_{t-1} + L_h h_t + L_z z_t)).
            self.out_h = nn.Linear(hidden_dim, embed_dim)
            self.out_z = nn.Linear(feature_dim, embed_dim)
            self.fc = nn.Linear(embed_dim, vocab_size)
        else:
            self.fc = nn.Linear(hidden_dim, vocab_size)
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)
        nn.init.uniform_(self.fc.weight, -0.1, 0.1)
        nn.init.zeros_(self.fc.bias)

    def load_embeddings(self, vectors: torch.Tensor, freeze: bool = True) -> None:
        """Replace the embedding table with pretrained vectors (V, E)."""
        if vectors.shape != self.embedding.weight.shape:
            raise ValueError(
                f"embedding matrix {tuple(vectors.shape)} != {tuple(self.embedding.weight.shape)}"
            )
        with torch.no_grad():
            self.embedding.weight.copy_(vectors)
        self.embedding.weight.requires_grad = not freeze

    def init_state(self, features: torch.Tensor) -> DecoderState:
        """h0, c0 from the mean feature vector; features (B, N, C)."""
        mean = features.mean(dim=1)
        return DecoderState(
            torch.tanh(self.init_h(mean)),
            torch.tanh(self.init_c(mean)),
            self.attention.project_features(features),
        )

    def step(
        self, words: torch.Tensor, state: DecoderState, features: torch.Tensor
    ) -> tuple[torch.Tensor, DecoderState, torch.Tensor]:
        """One step: words (B,) -> logits (B, V), next state, alpha (B, N)."""
        embedded = self.embedding(words)
        h, c, context, alpha = self._advance(embedded, state.h, state.c, features, state.projected)
        return self.output(embedded, h, context), DecoderState(h, c, state.projected), alpha

    def _advance(
        self,
        embedded: torch.Tensor,
        h: torch.Tensor,
        c: torch.Tensor,
        features: torch.Tensor,
        projected: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Attend with the previous h, gate the context, run the LSTM cell: the one recurrent step
        that both decoding and teacher forcing take.

        embedded (B, E), h and c (B, H), features (B, N, C), projected (B, N, A)
        -> (h (B, H), c (B, H), gated context (B, C), alpha (B, N)).
        """
        context, alpha = self.attention(features, h, projected)
        context = torch.sigmoid(self.gate(h)) * context  # beta_t * z_t
        h, c = self.lstm(torch.cat([embedded, context], dim=1), (h, c))
        return h, c, context, alpha

    def output(self, embedded: torch.Tensor, h: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """Logits (P, V) from the step's input embedding (P, E), new hidden state (P, H) and context (P, C)."""
        if self.deep_output:
            return self.fc(self.dropout(embedded + self.out_h(h) + self.out_z(context)))
        return self.fc(self.dropout(h))

    def forward_packed(
        self, features: torch.Tensor, captions: torch.Tensor, lengths: torch.Tensor | Sequence[int]
    ) -> PackedDecoding:
        """Teacher-forced decoding that spends no compute on padding and never waits for the device.

        The per-step batch sizes come from ``lengths`` on the host; the embeddings of every
        input word are looked up at once, and dropout and the vocabulary projection ``fc`` run
        once over the hidden states of all steps (one large matrix product, no padding rows).

        Args:
            features: (B, N, C) encoder grid.
            captions: (B, T) ids starting with <start>, padded with 0, on the features' device.
            lengths: (B,) number of real tokens including <start> and <end> (at least 2), best
                on the CPU (a device tensor is copied over, which waits for the device).
                A batch sorted longest first is used as it is; otherwise it is sorted here.
        """
        lengths = torch.as_tensor(lengths).cpu()
        steps, order = torch.sort(lengths - 1, descending=True, stable=True)  # steps of each caption
        sorted_indices = None
        if not torch.equal(order, torch.arange(len(order))):
            sorted_indices = order
            index = (order.pin_memory() if features.is_cuda else order).to(features.device, non_blocking=True)
            features, captions = features.index_select(0, index), captions.index_select(0, index)
        words = pack_padded_sequence(captions[:, :-1], steps, batch_first=True)
        targets = pack_padded_sequence(captions[:, 1:], steps, batch_first=True).data
        sizes = words.batch_sizes.tolist()
        embedded = self.embedding(words.data).split(sizes)
        state = self.init_state(features)
        h, c, projected = state.h, state.c, state.projected
        hidden, contexts, alphas = [], [], []
        for t, n in enumerate(sizes):
            if n < h.shape[0]:  # captions that ended drop out; the rest stay a prefix of the batch
                features, projected, h, c = features[:n], projected[:n], h[:n], c[:n]
            h, c, context, alpha = self._advance(embedded[t], h, c, features, projected)
            hidden.append(h)
            alphas.append(alpha)
            if self.deep_output:
                contexts.append(context)
        # One projection over every step's rows: (P, E) + (P, H) + (P, C) -> (P, V).
        context_rows = torch.cat(contexts) if self.deep_output else torch.empty(0)
        logits = self.output(torch.cat(embedded), torch.cat(hidden), context_rows)
        return PackedDecoding(logits, targets, torch.cat(alphas), words.batch_sizes, sorted_indices)
