"""SaTformer in plain torch.nn, written from ../shared/specs/satformer.md (leharris3/satformer at 82fe447,
adapted there from lucidrains' TimeSformer-pytorch), for the parity fixtures of wrt-models' `Satformer`.

Module names and registration order are the reference's, so `state_dict()` keys and order are equal to the
original model's (with `rotary_emb=False`, `shift_tokens=False`, the trained configuration):

    cls_token [1, dim], to_patch_embedding (Linear patch_dim -> dim), pos_emb (Embedding T*n+1, dim),
    layers.i.j: PreNorm(fn, norm) sublayers (fn registered before norm), to_out = Sequential(LayerNorm, Linear).

Attention variants (`attn`):
    "T->S"  layers.i = [time attention, spatial attention, FF]; forward: time, spatial, FF
    "S->T"  same modules and indices; forward: spatial, time, FF
    "ST"    layers.i = [joint attention, FF]; forward calls only the attention (the FF is built but unused: a
            bug of the reference, kept so its weights load strictly)
    "ST^2"  layers.i = [joint attention, joint attention, FF wrapped in PreNorm twice]: FF(LN_in(LN_out(x)))

No einops: the regroupings are written as reshape/permute, with the index order of the original rearranges.
Only `mask=None` is supported (the seed never passes a mask).
"""
import torch
import torch.nn.functional as F
from torch import nn

ATTN_VARIANTS = ("T->S", "S->T", "ST", "ST^2")


class PreNorm(nn.Module):
    """LayerNorm, then `fn` (`fn` is registered first, so its keys precede `norm.*`)."""

    def __init__(self, dim, fn):
        super().__init__()
        self.fn = fn
        self.norm = nn.LayerNorm(dim)

    def forward(self, x, *args, **kwargs):
        return self.fn(self.norm(x), *args, **kwargs)


class GEGLU(nn.Module):
    def forward(self, x):
        x, gates = x.chunk(2, dim=-1)
        return x * F.gelu(gates)


class FeedForward(nn.Module):
    def __init__(self, dim, mult=4, dropout=0.0):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, dim * mult * 2), GEGLU(), nn.Dropout(dropout), nn.Linear(dim * mult, dim))

    def forward(self, x):
        return self.net(x)


def attend(q, k, v):
    """softmax(q k^T) v over the last two dims (q is already scaled); no dropout on the probabilities."""
    return torch.softmax(q @ k.transpose(-1, -2), dim=-1) @ v


class Attention(nn.Module):
    """Multi-head attention whose CLS query sees every token and whose patch queries see CLS plus their group.

    `group` is "joint" (all patches), "time" (the same patch position in every frame) or "space" (every patch
    of the same frame)."""

    def __init__(self, dim, dim_head=64, heads=8, dropout=0.0):
        super().__init__()
        self.heads = heads
        self.scale = dim_head**-0.5
        inner = dim_head * heads
        self.to_qkv = nn.Linear(dim, inner * 3, bias=False)
        self.to_out = nn.Sequential(nn.Linear(inner, dim), nn.Dropout(dropout))

    def forward(self, x, group, f, n):
        b, L, _ = x.shape
        h = self.heads
        q, k, v = self.to_qkv(x).chunk(3, dim=-1)
        # b L (h d) -> (b h) L d
        q, k, v = (t.reshape(b, L, h, -1).permute(0, 2, 1, 3).reshape(b * h, L, -1) for t in (q, k, v))
        q = q * self.scale
        (cls_q, q_), (cls_k, k_), (cls_v, v_) = ((t[:, :1], t[:, 1:]) for t in (q, k, v))
        cls_out = attend(cls_q, k, v)  # the CLS query over all L keys
        bh, d = q_.shape[0], q_.shape[-1]
        if group == "joint":  # 'b (f n) d -> b (f n) d'
            regroup = lambda t: t  # noqa: E731
            ungroup = lambda t: t  # noqa: E731
        elif group == "time":  # '(b h) (f n) d -> (b h n) f d' and back
            regroup = lambda t: t.reshape(bh, f, n, d).permute(0, 2, 1, 3).reshape(bh * n, f, d)  # noqa: E731
            ungroup = lambda t: t.reshape(bh, n, f, d).permute(0, 2, 1, 3).reshape(bh, f * n, d)  # noqa: E731
        elif group == "space":  # '(b h) (f n) d -> (b h f) n d' and back
            regroup = lambda t: t.reshape(bh * f, n, d)  # noqa: E731
            ungroup = lambda t: t.reshape(bh, f * n, d)  # noqa: E731
        else:
            raise ValueError(group)
        q_, k_, v_ = regroup(q_), regroup(k_), regroup(v_)
        r = q_.shape[0] // bh  # CLS key/value repeated per group: '(b h) 1 d -> (b h r) 1 d'
        cls_k, cls_v = (t.repeat_interleave(r, dim=0) for t in (cls_k, cls_v))
        out = attend(q_, torch.cat((cls_k, k_), dim=1), torch.cat((cls_v, v_), dim=1))
        out = torch.cat((cls_out, ungroup(out)), dim=1)
        out = out.reshape(b, h, L, d).permute(0, 2, 1, 3).reshape(b, L, h * d)  # (b h) L d -> b L (h d)
        return self.to_out(out)


class SaTformer(nn.Module):
    def __init__(
        self,
        *,
        dim,
        num_frames,
        num_classes,
        image_size=32,
        patch_size=4,
        channels=11,
        depth=12,
        heads=8,
        dim_head=64,
        attn_dropout=0.1,
        ff_dropout=0.1,
        attn="ST^2",
    ):
        super().__init__()
        assert image_size % patch_size == 0, "image_size must be divisible by patch_size"
        assert attn in ATTN_VARIANTS, attn
        num_patches = (image_size // patch_size) ** 2
        num_positions = num_frames * num_patches
        patch_dim = channels * patch_size**2
        self.attn = attn
        self.heads = heads
        self.patch_size = patch_size
        self.to_patch_embedding = nn.Linear(patch_dim, dim)
        self.cls_token = nn.Parameter(torch.randn(1, dim))
        self.pos_emb = nn.Embedding(num_positions + 1, dim)
        self.layers = nn.ModuleList([])
        mk_attn = lambda: PreNorm(dim, Attention(dim, dim_head=dim_head, heads=heads, dropout=attn_dropout))  # noqa: E731
        for _ in range(depth):
            ff = PreNorm(dim, FeedForward(dim, dropout=ff_dropout))
            if attn in ("T->S", "S->T"):
                self.layers.append(nn.ModuleList([mk_attn(), mk_attn(), ff]))  # [time, spatial, ff] for both orders
            elif attn == "ST":
                self.layers.append(nn.ModuleList([mk_attn(), ff]))
            else:  # ST^2: the reference wraps the already wrapped FF in a second PreNorm
                self.layers.append(nn.ModuleList([mk_attn(), mk_attn(), PreNorm(dim, ff)]))
        self.to_out = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, num_classes))

    def forward(self, video):
        b, f, c, hh, ww = video.shape
        p = self.patch_size
        hp, wp = hh // p, ww // p
        n = hp * wp
        # 'b f c (h p1) (w p2) -> b (f h w) (p1 p2 c)': channel fastest, then the pixel column, then the row
        x = video.reshape(b, f, c, hp, p, wp, p).permute(0, 1, 3, 5, 4, 6, 2).reshape(b, f * n, p * p * c)
        x = self.to_patch_embedding(x)
        x = torch.cat((self.cls_token.unsqueeze(0).expand(b, -1, -1), x), dim=1)
        x = x + self.pos_emb(torch.arange(x.shape[1], device=video.device))
        for layer in self.layers:
            if self.attn == "T->S":
                time, space, ff = layer
                x = time(x, "time", f, n) + x
                x = space(x, "space", f, n) + x
                x = ff(x) + x
            elif self.attn == "S->T":
                time, space, ff = layer
                x = space(x, "space", f, n) + x
                x = time(x, "time", f, n) + x
                x = ff(x) + x
            elif self.attn == "ST":
                x = layer[0](x, "joint", f, n) + x  # layer[1] (the FF) is never called
            else:
                a1, a2, ff = layer
                x = a1(x, "joint", f, n) + x
                x = a2(x, "joint", f, n) + x
                x = ff(x) + x
        return self.to_out(x[:, 0])
