"""SITS-Former (the seed's ViT-style joint space-time transformer) in plain torch.nn, written from
../shared/specs/sitsformer.md (`src/sitsformer/models/sits_former.py` of brillozon/explore-sitsformer), for the
parity fixtures of wrt-models' `SitsFormer`. No einops: the rearranges are written as reshapes with the same
index order.

Module names and registration order are the reference's, so `state_dict()` keys and order are equal to the
original model's (`temporal_token` is a parameter of the top module, so it comes first in both `state_dict()`
and `named_parameters()`):

    temporal_token                      [1, 1, D]  nn.Parameter, torch.randn (not re-initialised)
    patch_embed.projection              Conv2d(C, D, k=patch, stride=patch, bias) (PyTorch default init)
    pos_encoding.pe                     [max_len, 1, D] persistent buffer, max_len = max_seq_len * N
    blocks.i.norm1                      LayerNorm(D)
    blocks.i.temporal_attn.{q,k,v,out}_linear   Linear(D, D)
    blocks.i.norm2                      LayerNorm(D)
    blocks.i.mlp                        Sequential(Linear(D, D*r), GELU (erf), Dropout, Linear(D*r, D), Dropout)
    norm                                LayerNorm(D)
    classifier                          Linear(D, num_classes)
    dropout                             Dropout (after the positional encoding; no parameters)

Construction order (and so the RNG stream) is the reference's: patch_embed, pos_encoding, temporal_token, blocks,
norm, classifier, then `_init_weights` (every Linear: trunc_normal_(std 0.02), bias 0; every LayerNorm: 1 / 0).

Forward: x [B, T, C, H, W] -> (b t) c h w -> conv -> [B*T, N, D] (patch index row * (H/p) + col) -> b (t n) d
(time-major) -> prepend temporal_token -> + pe[:S] (S = 1 + T*N; S > max_len is an error here, the reference
fails with a broadcast error) -> dropout -> pre-LN blocks -> norm(x[:, 0]) -> classifier.
Key mask: full_mask = cat([1], mask repeated N times per frame) [B, S]; the attention scores of keys with
full_mask == 0 are *replaced* by -1e9 (masked_fill), queries are not masked. Dropout acts on the attention
probabilities (after the softmax) and is inactive in eval mode.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn

MASK_FILL = -1e9


def sinusoidal_table(embed_dim, max_len, dtype=torch.float32):
    """The reference's `pe` ([max_len, 1, D]); with dtype=float64 the same formula in double precision."""
    pe = torch.zeros(max_len, embed_dim, dtype=dtype)
    position = torch.arange(0, max_len, dtype=dtype).unsqueeze(1)
    div_term = torch.exp(torch.arange(0, embed_dim, 2, dtype=dtype) * (-math.log(10000.0) / embed_dim))
    pe[:, 0::2] = torch.sin(position * div_term)
    pe[:, 1::2] = torch.cos(position * div_term)
    return pe.unsqueeze(0).transpose(0, 1)


class PatchEmbedding(nn.Module):
    def __init__(self, img_size, patch_size, in_channels, embed_dim):
        super().__init__()
        self.img_size = img_size
        self.patch_size = patch_size
        self.num_patches = (img_size // patch_size) ** 2
        self.projection = nn.Conv2d(in_channels, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x):
        return self.projection(x).flatten(2).transpose(1, 2)  # [B, N, D]


class PositionalEncoding(nn.Module):
    def __init__(self, embed_dim, max_len):
        super().__init__()
        self.max_len = max_len
        self.register_buffer("pe", sinusoidal_table(embed_dim, max_len))

    def forward(self, x):
        """x: [S, B, D] (sequence first, as in the reference)."""
        if x.size(0) > self.max_len:
            raise ValueError(f"sequence length {x.size(0)} exceeds the positional table length {self.max_len}")
        return x + self.pe[: x.size(0), :]


class TemporalAttention(nn.Module):
    """Full multi-head self-attention over all S tokens (the name is the reference's)."""

    def __init__(self, embed_dim, num_heads, dropout):
        super().__init__()
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        if self.head_dim * num_heads != embed_dim:
            raise ValueError(f"embed_dim ({embed_dim}) must be divisible by num_heads ({num_heads})")
        self.q_linear = nn.Linear(embed_dim, embed_dim)
        self.k_linear = nn.Linear(embed_dim, embed_dim)
        self.v_linear = nn.Linear(embed_dim, embed_dim)
        self.out_linear = nn.Linear(embed_dim, embed_dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, mask=None):
        B, S, D = x.shape
        q = self.q_linear(x).view(B, S, self.num_heads, self.head_dim).transpose(1, 2)
        k = self.k_linear(x).view(B, S, self.num_heads, self.head_dim).transpose(1, 2)
        v = self.v_linear(x).view(B, S, self.num_heads, self.head_dim).transpose(1, 2)
        scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(self.head_dim)
        if mask is not None:
            scores = scores.masked_fill(mask.unsqueeze(1).unsqueeze(1) == 0, MASK_FILL)  # keys only
        attn = self.dropout(F.softmax(scores, dim=-1))
        out = torch.matmul(attn, v).transpose(1, 2).contiguous().view(B, S, D)
        return self.out_linear(out)


class SITSFormerBlock(nn.Module):
    def __init__(self, embed_dim, num_heads, mlp_ratio, dropout):
        super().__init__()
        self.norm1 = nn.LayerNorm(embed_dim)
        self.temporal_attn = TemporalAttention(embed_dim, num_heads, dropout)
        self.norm2 = nn.LayerNorm(embed_dim)
        hidden = int(embed_dim * mlp_ratio)
        self.mlp = nn.Sequential(
            nn.Linear(embed_dim, hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, embed_dim),
            nn.Dropout(dropout),
        )

    def forward(self, x, mask=None):
        x = x + self.temporal_attn(self.norm1(x), mask)
        return x + self.mlp(self.norm2(x))


class SITSFormer(nn.Module):
    def __init__(
        self,
        img_size=224,
        patch_size=16,
        in_channels=13,
        num_classes=10,
        embed_dim=768,
        num_layers=12,
        num_heads=12,
        mlp_ratio=4,
        dropout=0.1,
        max_seq_len=100,
    ):
        super().__init__()
        self.embed_dim = embed_dim
        self.num_patches = (img_size // patch_size) ** 2
        self.patch_embed = PatchEmbedding(img_size, patch_size, in_channels, embed_dim)
        self.pos_encoding = PositionalEncoding(embed_dim, max_seq_len * self.num_patches)
        self.temporal_token = nn.Parameter(torch.randn(1, 1, embed_dim))
        self.blocks = nn.ModuleList([SITSFormerBlock(embed_dim, num_heads, mlp_ratio, dropout) for _ in range(num_layers)])
        self.norm = nn.LayerNorm(embed_dim)
        self.classifier = nn.Linear(embed_dim, num_classes)
        self.dropout = nn.Dropout(dropout)
        self._init_weights()

    def _init_weights(self):
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.LayerNorm):
                nn.init.constant_(m.bias, 0)
                nn.init.constant_(m.weight, 1.0)

    def full_mask(self, mask):
        """[B, T] -> [B, 1 + T*N]: the CLS key is always valid, each frame's flag repeated over its N patches."""
        B, T = mask.shape
        patch_mask = mask.unsqueeze(2).expand(B, T, self.num_patches).reshape(B, T * self.num_patches)
        return torch.cat([torch.ones(B, 1, device=mask.device, dtype=mask.dtype), patch_mask], dim=1)

    def forward(self, x, mask=None):
        B, T, C, H, W = x.shape
        S = 1 + T * self.num_patches
        if S > self.pos_encoding.max_len:
            raise ValueError(f"S = 1 + T*N = {S} exceeds max_len = max_seq_len * N = {self.pos_encoding.max_len} (T = {T} too long)")
        patches = self.patch_embed(x.reshape(B * T, C, H, W))  # [B*T, N, D]
        patches = patches.reshape(B, T * self.num_patches, self.embed_dim)  # (b t) n d -> b (t n) d
        x = torch.cat([self.temporal_token.expand(B, 1, self.embed_dim), patches], dim=1)
        x = self.pos_encoding(x.transpose(0, 1)).transpose(0, 1)
        x = self.dropout(x)
        full_mask = self.full_mask(mask) if mask is not None else None
        for block in self.blocks:
            x = block(x, full_mask)
        return self.classifier(self.norm(x[:, 0]))
