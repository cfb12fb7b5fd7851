"""Pangu-Weather as the SuperDARN project adapted it (st7ma784/WeatherLearn `PTL/model.py` + `PTL/utils.py`, the
semantics of commit f61f806) in plain torch.nn, written from ../shared/specs/pangu.md, for the parity fixtures of
wrt-models' `Pangu`. No Lightning: the LightningModule's `training_step` / `validation_step` body (patch embedding,
rollout, skip concatenation, patch recovery) is `Pangu.forward`, and the training noise is drawn there in train
mode only. Module names and registration order are the original's, so `state_dict()` keys and order are equal
to the original model's (no `patchembed3d`: f61f806 no longer builds it):

    patchembed2d.model.0                ZeroPad2d (pad H, W to a multiple of 4; top = pad // 2)
    patchembed2d.model.1                Conv2d(5, C, k = s = 4)
    layer1.{i}                          EarthSpecificBlock(C,  heads[0], R1)  i < depths[0]
    downsample.{linear, norm}           Linear(4C, 2C, no bias), LayerNorm(4C)   (R1 -> R2)
    layer2.{i}, layer3.{i}              EarthSpecificBlock(2C, heads[1] / heads[2], R2)
    upsample.{linear1, linear2, norm}   Linear(2C, 4C, no bias), Linear(C, C, no bias), LayerNorm(C)  (R2 -> R1)
    layer4.{i}                          EarthSpecificBlock(C,  heads[3], R1)
    patchrecovery2d.conv                ConvTranspose2d((1 + T) C, 5, k = s = 4), centre crop to G x G

    R1 = (1, ceil(G / 4), ceil(G / 4)) (the original's G // 4, equal whenever 4 | G), R2 = (1, G // 6, G // 6).

EarthSpecificBlock {p} (dim D, heads h, resolution R, window w, padding get_pad3d(R, w) -> padded Rp):
    {p}.norm1, {p}.norm2                LayerNorm(D) (eps 1e-5)
    {p}.mlp.{0,3}                       Linear(D, r D), GELU (erf), Dropout(0), Linear(r D, D), Dropout(0)
    {p}.attn.earth_position_bias        Parameter [1, h, nW, N, N]: a trunc-normal(0, 0.02, [-2, 2]) table
                                        [K, nW, h] gathered once at init through earth_position_index
    {p}.attn.earth_position_index       buffer [N, N] int64
    {p}.attn.attn_mask                  buffer [nLon, nW, N, N] float32 (0 / -100), odd (shifted) blocks only
    {p}.attn.qkv, {p}.attn.proj         Linear(D, 3D), Linear(D, D)
    with nW = (Rp_pl / w_pl) (Rp_lat / w_lat), nLon = Rp_lon / w_lon, N = w_pl w_lat w_lon, K = w_pl^2 w_lat^2 (2 w_lon - 1).
    Even blocks are unshifted; odd blocks roll by -(1, 3, 6) before and +(1, 3, 6) after the attention (the
    shift is fixed, not derived from the window).

Construction order (and so the RNG stream) is the original's: patchembed2d conv, then per block mlp.0, mlp.3,
attn.qkv, attn.proj (PyTorch default init) and the bias table draw (uniform_ -> erfinv_ -> mul_ -> add_ -> clamp_,
the original's hand-written trunc-normal), layer by layer, downsample, upsample (linear1, linear2), patchrecovery.

Forward (x [B, 5, G, G] -> [B, 5, G, G]): e = patchembed2d(x).flatten(2, 3).transpose(1, 2) [B, L1, C]
(`embed`); for each of the T steps: (train only) z += N(0,1) noise_factor; s_t = layer1(z); z = layer4(upsample(
layer3(layer2(downsample(s_t))))); (train only) z -= N(0,1) noise_factor (a fresh draw); then
cat([z_T, s_1, ..., s_T], -1) -> [B, (1 + T) C, R1_lat, R1_lon] -> patchrecovery2d.

Block forward: shortcut = x; x = norm1(x) -> [B, Pl, Lat, Lon, D] -> zero pad -> roll -> window partition
[B nLon, nW, N, D] -> attention (q scale hd^-0.5, + earth_position_bias, + attn_mask in shifted blocks, softmax)
-> proj -> window reverse -> roll back -> crop -> [B, L, D]; x = shortcut + drop_path(x);
x = x + drop_path(mlp(norm2(x))).

Quirks kept or decided as the spec's section 7 says:
  - crop_mode "legacy" (default, f61f806's Crop3D): the pressure-level axis keeps planes [pad_back:] to the end,
    so Pl = 1 padded to 2 keeps the zero-padded plane 1 and drops the real plane 0; "centered" keeps
    [pad_front : Pl' - pad_back] (the upstream behaviour). Lat / lon are centre-cropped, a zero pad meaning no
    crop (HEAD's rule; f61f806's `top:-bottom` slice would give an empty tensor there).
  - shift_roll (default True, the spec and HEAD): shifted blocks roll. False reproduces the pre-HEAD model.py
    the index holds (commit 0113714), where `self.posrollX = self.posrollX` re-assigns the no-op that was just
    stored on the instance, so the shifted blocks apply the shift mask without rolling. With Pl = 1, w_pl = 2 and
    the legacy crop the two agree up to float rounding: the kept plane is the zero pad plane, whose tokens (all
    equal q, k, v = the qkv bias) attend, in shifted blocks, only to each other (the mask separates the planes),
    so a shifted block's attention branch is the constant proj(b_v) + b_proj either way; its norm1, q / k / v
    weights, q / k biases and earth_position_bias get (numerically) zero gradients.
  - DropPath is standard (identity in eval; train: per-sample Bernoulli(1 - p) / (1 - p)); f61f806's decides at
    construction and so also drops in eval mode.
  - drop-path rates: block i of every layer gets linspace(0, 0.2, 8)[2:][i] (0.0571, 0.0857, ..., 0.2); with a
    depth above 6 (where the original would index past the list) linspace(0, 0.2, 2 + max depth)[2:][i].
"""
import math

import numpy as np
import torch
from torch import nn

SHIFT = (1, 3, 6)
PATCH = (4, 4)
CHANNELS = 5
MASK_VALUE = -100.0


def _norm_cdf(x):
    return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0


def get_pad3d(input_resolution, window_size):
    """(left, right, top, bottom, front, back) padding of (Pl, Lat, Lon) up to multiples of the window."""
    out = []
    for n, w in zip(reversed(input_resolution), reversed(window_size)):  # lon, lat, pl
        r = n % w
        pad = w - r if r else 0
        out += [pad // 2, pad - pad // 2]
    return tuple(out)


def padded_resolution(input_resolution, window_size):
    l, r, t, b, f, k = get_pad3d(input_resolution, window_size)
    pl, lat, lon = input_resolution
    return (pl + f + k, lat + t + b, lon + l + r)


def earth_position_index(window_size):
    """[N, N] int64: d0 = z_i + wp z_j, d1 = h_i + wl h_j, d2 = o_i - o_j + wo - 1;
    index = d0 (2wo - 1) wl^2 + d1 (2wo - 1) + d2 (absolute in pl / lat, relative in lon)."""
    wp, wl, wo = window_size
    coords_1 = torch.stack(torch.meshgrid([torch.arange(wp), torch.arange(wl), torch.arange(wo)], indexing="ij"))
    coords_2 = torch.stack(torch.meshgrid([-torch.arange(wp) * wp, -torch.arange(wl) * wl, torch.arange(wo)], indexing="ij"))
    coords = torch.flatten(coords_1, 1)[:, :, None] - torch.flatten(coords_2, 1)[:, None, :]
    coords = coords.permute(1, 2, 0).contiguous()
    coords[:, :, 2] += wo - 1
    coords[:, :, 1] *= 2 * wo - 1
    coords[:, :, 0] *= (2 * wo - 1) * wl * wl
    return coords.sum(-1)


def bias_table_len(window_size):
    wp, wl, wo = window_size
    return wp * wp * wl * wl * (2 * wo - 1)


def window_partition(x, window_size):
    """[B, Pl, Lat, Lon, C] -> [B nLon, nPl nLat, wp, wl, wo, C] (row b nLon + iLon, window type iPl nLat + iLat)."""
    B, Pl, Lat, Lon, C = x.shape
    wp, wl, wo = window_size
    x = x.view(B, Pl // wp, wp, Lat // wl, wl, Lon // wo, wo, C)
    return x.permute(0, 5, 1, 3, 2, 4, 6, 7).contiguous().view(-1, (Pl // wp) * (Lat // wl), wp, wl, wo, C)


def window_reverse(windows, window_size, Pl, Lat, Lon):
    """[B nLon, nW, N, C] -> [B, Pl, Lat, Lon, C], the inverse of window_partition."""
    wp, wl, wo = window_size
    C = windows.shape[-1]
    x = windows.reshape(-1, Lon // wo, Pl // wp, Lat // wl, wp, wl, wo, C)
    return x.permute(0, 2, 4, 3, 5, 1, 6, 7).contiguous().view(-1, Pl, Lat, Lon, C)


def shift_window_mask(padded_res, window_size, shift_size=SHIFT):
    """[nLon, nW, N, N] float32: 0 where two tokens of a window share a region label, -100 elsewhere. Region
    r(i) = 0 / 1 / 2 for i < S - w / S - w <= i < S - s / i >= S - s on pl and lat; lon on an axis extended by
    s_lon: 0 below Lon + s_lon - w_lon, else 1. Label 9 r_pl + 3 r_lat + r_lon."""
    Pl, Lat, Lon = padded_res
    wp, wl, wo = window_size
    sp, sl, so = shift_size
    img_mask = torch.zeros((1, Pl, Lat, Lon + so, 1))
    pl_slices = (slice(0, -wp), slice(-wp, -sp), slice(-sp, None))
    lat_slices = (slice(0, -wl), slice(-wl, -sl), slice(-sl, None))
    lon_slices = (slice(0, -wo), slice(-wo, -so), slice(-so, None))
    cnt = 0
    for pl in pl_slices:
        for lat in lat_slices:
            for lon in lon_slices:
                img_mask[:, pl, lat, lon, :] = cnt
                cnt += 1
    img_mask = img_mask[:, :, :, :Lon, :]
    mw = window_partition(img_mask, window_size)
    mw = mw.view(mw.shape[0], mw.shape[1], wp * wl * wo)
    attn_mask = mw.unsqueeze(2) - mw.unsqueeze(3)
    return attn_mask.masked_fill(attn_mask != 0, MASK_VALUE).masked_fill(attn_mask == 0, 0.0)


def drop_path_rates(depths):
    n = max(8, 2 + max(depths))
    return np.linspace(0, 0.2, n).tolist()[2:]


class DropPath(nn.Module):
    """Stochastic depth per sample; identity in eval mode or with p = 0."""

    def __init__(self, drop_prob=0.0):
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x):
        if not self.training or self.drop_prob == 0.0:
            return x
        keep = 1.0 - self.drop_prob
        mask = x.new_empty(x.shape[0], *([1] * (x.ndim - 1))).bernoulli_(keep) * (1.0 / keep)
        return x * mask

    def extra_repr(self):
        return f"drop_prob={round(self.drop_prob, 3):0.3f}"


class PatchEmbed2D(nn.Module):
    def __init__(self, img_size, patch_size, in_chans, embed_dim):
        super().__init__()
        pads = []
        for n, p in zip(img_size, patch_size):
            r = n % p
            pad = p - r if r else 0
            pads.append((pad // 2, pad - pad // 2))
        (top, bottom), (left, right) = pads
        self.model = nn.Sequential(nn.ZeroPad2d((left, right, top, bottom)),
                                   nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size))

    def forward(self, x):
        return self.model(x)


class PatchRecovery2D(nn.Module):
    def __init__(self, img_size, patch_size, in_chans, out_chans):
        super().__init__()
        self.img_size = img_size
        self.conv = nn.ConvTranspose2d(in_chans, out_chans, patch_size, patch_size)

    def forward(self, x):
        out = self.conv(x)
        _, _, H, W = out.shape
        h_pad, w_pad = H - self.img_size[0], W - self.img_size[1]
        top, left = h_pad // 2, w_pad // 2
        return out[:, :, top: H - (h_pad - top), left: W - (w_pad - left)]


class DownSample(nn.Module):
    """[B, R1 tokens, D] -> zero pad lat / lon to 2 R2 -> 2x2 merge (feature (dlat 2 + dlon) D + c) -> LayerNorm(4D) -> Linear(4D, 2D)."""

    def __init__(self, in_dim, input_resolution, output_resolution):
        super().__init__()
        self.linear = nn.Linear(in_dim * 4, in_dim * 2, bias=False)
        self.norm = nn.LayerNorm(4 * in_dim)
        self.input_resolution = input_resolution
        self.output_resolution = output_resolution
        in_pl, in_lat, in_lon = input_resolution
        out_pl, out_lat, out_lon = output_resolution
        assert in_pl == out_pl
        h_pad, w_pad = out_lat * 2 - in_lat, out_lon * 2 - in_lon
        assert h_pad >= 0 and w_pad >= 0, (input_resolution, output_resolution)
        self.pad = nn.ZeroPad3d((w_pad // 2, w_pad - w_pad // 2, h_pad // 2, h_pad - h_pad // 2, 0, 0))

    def forward(self, x):
        B, N, C = x.shape
        in_pl, in_lat, in_lon = self.input_resolution
        out_pl, out_lat, out_lon = self.output_resolution
        x = x.reshape(B, in_pl, in_lat, in_lon, C)
        x = self.pad(x.permute(0, -1, 1, 2, 3)).permute(0, 2, 3, 4, 1)
        x = x.reshape(B, in_pl, out_lat, 2, out_lon, 2, C).permute(0, 1, 2, 4, 3, 5, 6)
        x = x.reshape(B, out_pl * out_lat * out_lon, 4 * C)
        return self.linear(self.norm(x))


class UpSample(nn.Module):
    """[B, R2 tokens, 2D] -> Linear(2D, 4D) -> 2x2 split -> centre crop to R1 -> LayerNorm(D) -> Linear(D, D)."""

    def __init__(self, in_dim, out_dim, input_resolution, output_resolution):
        super().__init__()
        self.linear1 = nn.Linear(in_dim, out_dim * 4, bias=False)
        self.linear2 = nn.Linear(out_dim, out_dim, bias=False)
        self.norm = nn.LayerNorm(out_dim)
        self.input_resolution = input_resolution
        self.output_resolution = output_resolution

    def forward(self, x):
        B, N, C = x.shape
        in_pl, in_lat, in_lon = self.input_resolution
        out_pl, out_lat, out_lon = self.output_resolution
        x = self.linear1(x)
        x = x.reshape(B, in_pl, in_lat, in_lon, 2, 2, C // 2).permute(0, 1, 2, 4, 3, 5, 6)
        x = x.reshape(B, in_pl, in_lat * 2, in_lon * 2, -1)
        pad_h, pad_w = in_lat * 2 - out_lat, in_lon * 2 - out_lon
        top, left = pad_h // 2, pad_w // 2
        x = x[:, :out_pl, top: 2 * in_lat - (pad_h - top), left: 2 * in_lon - (pad_w - left), :]
        x = x.reshape(x.shape[0], x.shape[1] * x.shape[2] * x.shape[3], x.shape[4])
        return self.linear2(self.norm(x))


class EarthAttention3D(nn.Module):
    def __init__(self, dim, input_resolution, window_size, num_heads, qkv_bias=True, qk_scale=None, attn_drop=0.0,
                 proj_drop=0.0, attn_mask=None):
        """input_resolution: the PADDED resolution (as the original passes it)."""
        super().__init__()
        self.dim = dim
        self.window_size = window_size
        self.num_heads = num_heads
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by {num_heads} heads")
        head_dim = dim // num_heads
        self.scale = qk_scale or head_dim ** -0.5
        self.type_of_windows = (input_resolution[0] // window_size[0]) * (input_resolution[1] // window_size[1])
        table = torch.zeros(bias_table_len(window_size), self.type_of_windows, num_heads)
        index = earth_position_index(window_size)
        self.register_buffer("earth_position_index", index)
        self.nLon = None
        if attn_mask is not None:
            self.register_buffer("attn_mask", attn_mask)
            self.nLon = attn_mask.shape[0]
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        # the original's hand-written trunc_normal_(std 0.02, [-2, 2]), op for op
        std, a, b = 0.02, -2.0, 2.0
        lo, hi = _norm_cdf(a / std), _norm_cdf(b / std)
        table.uniform_(2 * lo - 1, 2 * hi - 1)
        table.erfinv_()
        table.mul_(std * math.sqrt(2.0))
        table.add_(0.0)
        table.clamp_(min=a, max=b)
        self.softmax = nn.Softmax(dim=-1)
        N = window_size[0] * window_size[1] * window_size[2]
        bias = table[index.view(-1)].view(N, N, self.type_of_windows, -1)  # [N, N, nW, h]
        self.earth_position_bias = nn.Parameter(bias.permute(3, 2, 0, 1).contiguous().unsqueeze(0))

    def forward(self, x):
        """x: [B nLon, nW, N, C] -> [B nLon, nW, N, C]."""
        B_, nW_, N, C = x.shape
        qkv = self.qkv(x).unflatten(3, (3, self.num_heads, C // self.num_heads)).permute(3, 0, 4, 1, 2, 5)
        q, k, v = qkv[0], qkv[1], qkv[2]  # [B_, h, nW, N, hd]
        q = q * self.scale
        attn = q @ k.transpose(-2, -1)
        attn = attn + self.earth_position_bias
        if self.nLon is not None:
            attn = attn.view(-1, self.nLon, self.num_heads, nW_, N, N) + self.attn_mask.unsqueeze(1).unsqueeze(0)
            attn = attn.view(-1, self.num_heads, nW_, N, N)
        attn = self.attn_drop(self.softmax(attn))
        out = (attn @ v).permute(0, 2, 3, 1, 4).flatten(-2, -1)
        return self.proj_drop(self.proj(out))


class EarthSpecificBlock(nn.Module):
    def __init__(self, dim, input_resolution, num_heads, window_size=(2, 6, 12), shift_size=SHIFT, mlp_ratio=4.0,
                 qkv_bias=True, qk_scale=None, drop=0.0, attn_drop=0.0, drop_path=0.0, crop_mode="legacy", shift_roll=True):
        super().__init__()
        if crop_mode not in ("legacy", "centered"):
            raise ValueError(f"crop_mode {crop_mode!r}: 'legacy' or 'centered'")
        self.dim = dim
        self.input_resolution = tuple(input_resolution)
        self.num_heads = num_heads
        self.window_size = tuple(window_size)
        self.shift_size = tuple(shift_size)
        self.mlp_ratio = mlp_ratio
        self.crop_mode = crop_mode
        self.norm1 = nn.LayerNorm(dim)
        self.padding = get_pad3d(input_resolution, window_size)
        self.pad = nn.ZeroPad3d(self.padding)
        self.pad_resolution = padded_resolution(input_resolution, window_size)
        self.drop_path = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(drop), nn.Linear(hidden, dim), nn.Dropout(drop))
        self.roll = bool(self.shift_size[0] and self.shift_size[1] and self.shift_size[2])
        self.shift_roll = shift_roll and self.roll
        attn_mask = None
        if self.roll:
            if any(s >= w for s, w in zip(self.shift_size, self.window_size)):
                raise ValueError(f"window_size {self.window_size}: each window must exceed the shift {self.shift_size}")
            attn_mask = shift_window_mask(self.pad_resolution, self.window_size, self.shift_size)
        self.attn = EarthAttention3D(dim, self.pad_resolution, self.window_size, num_heads, qkv_bias=qkv_bias, qk_scale=qk_scale,
                                     attn_drop=attn_drop, proj_drop=drop, attn_mask=attn_mask)

    def crop(self, x):
        """[B, Pl', Lat', Lon', D] -> [B, Pl, Lat, Lon, D]."""
        left, right, top, bottom, front, back = self.padding
        if self.crop_mode == "legacy":
            pl = slice(back, None)  # f61f806: Crop3D's pad_front is padding[-1] (= back) and the end is never cut
        else:
            pl = slice(front, x.shape[1] - back)
        out = x[:, pl, top: x.shape[2] - bottom, left: x.shape[3] - right, :]
        if tuple(out.shape[1:4]) != self.input_resolution:
            raise ValueError(f"crop {self.crop_mode}: {tuple(out.shape[1:4])} != {self.input_resolution} (padding {self.padding})")
        return out

    def forward(self, x):
        B = x.shape[0]
        shortcut = x
        x = self.norm1(x).unflatten(1, self.input_resolution)
        x = self.pad(x.permute(0, 4, 1, 2, 3)).permute(0, 2, 3, 4, 1)
        sp, sl, so = self.shift_size
        if self.shift_roll:
            x = torch.roll(x, shifts=(-sp, -sl, -so), dims=(1, 2, 3))
        windows = window_partition(x, self.window_size).flatten(2, 4)  # [B nLon, nW, N, D]
        y = window_reverse(self.attn(windows), self.window_size, *self.pad_resolution)
        if self.shift_roll:
            y = torch.roll(y, shifts=(sp, sl, so), dims=(1, 2, 3))
        y = self.crop(y).flatten(1, 3)
        assert y.shape[0] == B
        x = shortcut + self.drop_path(y)
        return x + self.drop_path(self.mlp(self.norm2(x)))


class Pangu(nn.Module):
    def __init__(self, embed_dim=128, num_heads=(8, 16, 16, 8), window_size=(2, 8, 16), grid_size=300, time_step=1,
                 mlp_ratio=4, noise_factor=0.1, depths=(2, 6, 6, 2), crop_mode="legacy", shift_roll=True):
        super().__init__()
        if len(num_heads) != 4 or len(depths) != 4 or len(window_size) != 3:
            raise ValueError("num_heads and depths need 4 values, window_size 3")
        self.embed_dim = embed_dim
        self.grid_size = grid_size
        self.time_steps = time_step
        self.mlp_ratio = mlp_ratio
        self.noise_factor = noise_factor
        self.depths = tuple(depths)
        n1 = -(-grid_size // PATCH[0])
        self.reduced_grid = (n1, n1)
        self.R1 = (1, n1, n1)
        self.R2 = (1, grid_size // 6, grid_size // 6)
        self.drop_path = drop_path_rates(depths)
        self.patchembed2d = PatchEmbed2D((grid_size, grid_size), PATCH, CHANNELS, embed_dim)

        def layer(depth, dim, heads, res):
            return nn.Sequential(*[
                EarthSpecificBlock(dim, res, heads, window_size, shift_size=(0, 0, 0) if i % 2 == 0 else SHIFT,
                                   mlp_ratio=mlp_ratio, drop_path=self.drop_path[i], crop_mode=crop_mode,
                                   shift_roll=shift_roll)
                for i in range(depth)])

        self.layer1 = layer(depths[0], embed_dim, num_heads[0], self.R1)
        self.downsample = DownSample(embed_dim, self.R1, self.R2)
        self.layer2 = layer(depths[1], 2 * embed_dim, num_heads[1], self.R2)
        self.layer3 = layer(depths[2], 2 * embed_dim, num_heads[2], self.R2)
        self.upsample = UpSample(2 * embed_dim, embed_dim, self.R2, self.R1)
        self.layer4 = layer(depths[3], embed_dim, num_heads[3], self.R1)
        self.patchrecovery2d = PatchRecovery2D((grid_size, grid_size), PATCH, (1 + time_step) * embed_dim, CHANNELS)

    def embed(self, x):
        """[B, 5, G, G] -> tokens [B, L1, C] (token lat * R1_lon + lon)."""
        return self.patchembed2d(x).flatten(2, 3).transpose(1, 2)

    def stack(self, z):
        """One rollout step: (new state, layer1 output = the step's skip)."""
        s = self.layer1(z)
        z = self.layer3(self.layer2(self.downsample(s)))
        return self.layer4(self.upsample(z)), s

    def forward(self, x):
        if x.ndim != 4 or tuple(x.shape[1:]) != (CHANNELS, self.grid_size, self.grid_size):
            raise ValueError(f"input {tuple(x.shape)}: expected [batch, {CHANNELS}, {self.grid_size}, {self.grid_size}]")
        z = self.embed(x)
        skips = []
        for _ in range(self.time_steps):
            if self.training:
                z = z + torch.randn_like(z) * self.noise_factor
            z, s = self.stack(z)
            skips.append(s)
            if self.training:
                z = z - torch.randn_like(z) * self.noise_factor
        lat = torch.cat([z] + skips, dim=-1)
        lat = lat.transpose(1, 2).unflatten(2, self.reduced_grid)
        return self.patchrecovery2d(lat)

    def block_info(self):
        """Per layer: padding (left, right, top, bottom, front, back), padded resolution, nW, nLon, per block
        shifted / drop_path."""
        out = {}
        for name in ("layer1", "layer2", "layer3", "layer4"):
            blocks = list(getattr(self, name))
            b0 = blocks[0]
            ws = b0.window_size
            pr = b0.pad_resolution
            out[name] = {
                "dim": b0.dim,
                "heads": b0.num_heads,
                "resolution": list(b0.input_resolution),
                "padding_lrtbfb": list(b0.padding),
                "padded_resolution": list(pr),
                "nW": b0.attn.type_of_windows,
                "nLon": pr[2] // ws[2],
                "N": ws[0] * ws[1] * ws[2],
                "shifted": [blk.roll for blk in blocks],
                "drop_path": [blk.drop_path.drop_prob if isinstance(blk.drop_path, DropPath) else 0.0 for blk in blocks],
            }
        return out
