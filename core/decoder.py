"""LSTM caption decoder with soft attention (Show, Attend and Tell, Xu et al. 2015)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from photoscribe.core.attention import Attention


@dataclass
class DecoderState:
    """Recurrent state carried between decoding steps."""

    h: torch.Tensor  # (B, H)
    c: torch.Tensor  # (B, H)
    projected: torch.Tensor  # (B, N, A) attention projection of the features, fixed per image

    def select(self, index: torch.Tensor) -> DecoderState:
        """Keep rows ``index`` (used by beam search to reorder beams)."""
        return DecoderState(self.h[index], self.c[index], self.projected[index])


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
        context, alpha = self.attention(features, state.h, state.projected)
        context = torch.sigmoid(self.gate(state.h)) * context
        h, c = self.lstm(torch.cat([self.embedding(words), context], dim=1), (state.h, state.c))
        logits = self.fc(self.dropout(h))
        return logits, DecoderState(h, c, state.projected), alpha

    def forward(
        self, features: torch.Tensor, captions: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher-forced decoding.

        Args:
            features: (B, N, C) encoder grid.
            captions: (B, T) ids starting with <start>, padded with 0.
            lengths: (B,) number of real tokens including <start> and <end>.

        Returns:
            logits (B, T-1, V) predicting captions[:, 1:], and alphas (B, T-1, N). Positions past
            a caption's end are zero and never computed: at step t only the captions still running
            are fed through the LSTM (sorted by length, so they form a prefix of the batch).
        """
        batch, steps = captions.shape[0], int(lengths.max().item()) - 1
        order = torch.argsort(lengths, descending=True)
        features, captions, dec_len = features[order], captions[order], lengths[order] - 1
        state = self.init_state(features)
        logits = features.new_zeros(batch, steps, self.vocab_size)
        alphas = features.new_zeros(batch, steps, features.shape[1])
        for t in range(steps):
            n = int((dec_len > t).sum().item())  # captions still running at step t
            sub = DecoderState(state.h[:n], state.c[:n], state.projected[:n])
            step_logits, new, alpha = self.step(captions[:n, t], sub, features[:n])
            logits[:n, t], alphas[:n, t] = step_logits, alpha
            state = DecoderState(
                torch.cat([new.h, state.h[n:]]), torch.cat([new.c, state.c[n:]]), state.projected
            )
        inverse = torch.argsort(order)
        return logits[inverse], alphas[inverse]
