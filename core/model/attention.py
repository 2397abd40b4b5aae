"""Additive (Bahdanau) attention over the encoder's feature grid."""

from __future__ import annotations

import torch
from torch import nn


class Attention(nn.Module):
    """score_i = w^T act(W_f f_i + W_h h); alpha = softmax(score) over the N grid cells."""

    def __init__(
        self, feature_dim: int, hidden_dim: int, attention_dim: int, activation: str = "relu"
    ) -> None:
        super().__init__()
        if activation not in ("relu", "tanh"):
            raise ValueError(f"attention activation must be 'relu' or 'tanh', not {activation!r}")
        self.feature_proj = nn.Linear(feature_dim, attention_dim)
        self.hidden_proj = nn.Linear(hidden_dim, attention_dim)
        self.score = nn.Linear(attention_dim, 1)
        self.act: nn.Module = nn.ReLU() if activation == "relu" else nn.Tanh()

    def project_features(self, features: torch.Tensor) -> torch.Tensor:
        """(B, N, C) -> (B, N, A). Constant over decoding steps, so callers compute it once."""
        return self.feature_proj(features)

    def forward(
        self, features: torch.Tensor, hidden: torch.Tensor, projected: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (context (B, C), alpha (B, N)) for features (B, N, C) and hidden (B, H)."""
        if projected is None:
            projected = self.project_features(features)
        energy = self.score(self.act(projected + self.hidden_proj(hidden).unsqueeze(1))).squeeze(2)  # (B, N)
        alpha = torch.softmax(energy, dim=1)
        context = torch.bmm(alpha.unsqueeze(1), features).squeeze(1)  # (B, C)
        return context, alpha
