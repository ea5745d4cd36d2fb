"""A small Vision Transformer for small images (the paper's: patch 4, dim 512, depth 6, 8 heads)."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from memscope.models.base import LayerGroup


class PatchEmbed(nn.Module):
    """Non-overlapping patches -> tokens, a cls token in front, learned position embeddings."""

    def __init__(self, in_channels: int, dim: int, image_size: int, patch_size: int):
        super().__init__()
        self.proj = nn.Conv2d(in_channels, dim, kernel_size=patch_size, stride=patch_size)
        num_patches = (image_size // patch_size) ** 2
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, num_patches + 1, dim) * 0.02)

    def forward(self, x: Tensor) -> Tensor:
        x = self.proj(x).flatten(2).transpose(1, 2)  # (B, T, D)
        cls = self.cls_token.expand(x.shape[0], -1, -1)
        return torch.cat([cls, x], dim=1) + self.pos_embed


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.dropout = dropout

    def forward(self, x: Tensor) -> Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        x = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0)
        return self.proj(x.transpose(1, 2).reshape(b, t, d))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int, dropout: float):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class Block(nn.Module):
    """Pre-norm transformer block."""

    def __init__(self, dim: int, heads: int, hidden: int, dropout: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, hidden, dropout)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ViT(nn.Module):
    def __init__(
        self, num_classes: int, in_channels: int, image_size: int, patch_size: int,
        dim: int, depth: int, heads: int, mlp_hidden: int, dropout: float,
    ):
        super().__init__()
        self.patch_embed = PatchEmbed(in_channels, dim, image_size, patch_size)
        self.blocks = nn.ModuleList(Block(dim, heads, mlp_hidden, dropout) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.patch_embed(x)
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x[:, 0]))  # classify from the cls token

    def layer_groups(self) -> list[LayerGroup]:
        dim = self.head.in_features
        proj = "patch_embed.proj"
        groups = [LayerGroup("patch_embed", ("patch_embed",), (proj,), proj, "conv", dim)]
        # A block's neurons are its MLP hidden units (fc1 outputs): zeroing one silences the
        # unit entirely (GELU(0) = 0). Its activation is the block output, the (B, T, D) stream.
        groups += [
            LayerGroup(f"block{i}", (f"blocks.{i}",), (f"blocks.{i}.mlp.fc1",), f"blocks.{i}", "linear", dim)
            for i in range(len(self.blocks))
        ]
        classes = self.head.out_features
        groups.append(LayerGroup("head", ("norm", "head"), ("head",), "head", "linear", classes))
        return groups


def make_vit(
    num_classes: int,
    in_channels: int,
    image_size: int,
    width: float = 1.0,
    *,
    patch_size: int = 4,
    dim: int = 512,
    depth: int = 6,
    heads: int = 8,
    mlp_ratio: float = 2.0,
    dropout: float = 0.0,
) -> ViT:
    """ViT with cls-token pooling; ``width`` scales ``dim`` (rounded to a multiple of ``heads``).

    ``image_size`` must be divisible by ``patch_size`` (2 and 4 suit 8x8, 28x28 and 32x32).
    ``mlp_ratio`` defaults to 2 (the paper's exact MLP width is unverified; 4 is timm's).
    """
    if patch_size < 1 or image_size % patch_size:
        raise ValueError(f"vit: image_size {image_size} is not divisible by patch_size {patch_size}")
    if heads < 1 or depth < 1:
        raise ValueError(f"vit: heads ({heads}) and depth ({depth}) must be positive")
    if width <= 0:
        raise ValueError(f"vit: width must be positive, got {width}")
    d = max(heads, int(round(dim * width / heads)) * heads)  # keep divisible by heads
    hidden = max(1, int(round(d * mlp_ratio)))
    return ViT(num_classes, in_channels, image_size, patch_size, d, depth, heads, hidden, dropout)
