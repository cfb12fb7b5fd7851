//! Pangu's `EarthSpecificBlock`: 3-D window attention (`EarthAttention3D`) with an earth-specific position
//! bias per (head, window type, query, key) and, in odd blocks, shifted windows with their attention mask,
//! then an MLP; both behind LayerNorm and residual DropPath. Spec: ../../../shared/specs/pangu.md §4-§7.
//!
//! Layout: tokens `[B, Pl * Lat * Lon, D]` of a `(Pl, Lat, Lon)` grid are zero-padded (after `norm1`) to
//! multiples of the window `(wp, wl, wo)`, rolled by `(-1, -3, -6)` in shifted blocks, and cut into windows
//! `[B * nLon, nW = nPl * nLat, N = wp * wl * wo, D]`: window type `w = iPl * nLat + iLat` (whose bias is its
//! own: latitude bands differ on Earth), row `b * nLon + iLon` (longitude is translation invariant).

use wrt_autograd::Var;
use wrt_nn::module::{Module, Walk};
use wrt_nn::{init, DropPath, Error, Forward, LayerNorm, Linear, Result};
use wrt_tensor::ops::PadMode;
use wrt_tensor::{DType, Generator, Tensor};

/// The shift of odd blocks, whatever the window (the reference's fixed `(1, 3, 6)`).
pub const SHIFT: [usize; 3] = [1, 3, 6];

/// `get_pad3d`: `(left, right, top, bottom, front, back)` padding `(Pl, Lat, Lon)` to multiples of the window;
/// each axis pads `w - n mod w` split as (floor half, rest).
pub fn pad3d(res: [usize; 3], window: [usize; 3]) -> [usize; 6] {
    let split = |n: usize, w: usize| -> (usize, usize) {
        let r = n % w;
        if r == 0 {
            (0, 0)
        } else {
            let p = w - r;
            (p / 2, p - p / 2)
        }
    };
    let (front, back) = split(res[0], window[0]);
    let (top, bottom) = split(res[1], window[1]);
    let (left, right) = split(res[2], window[2]);
    [left, right, top, bottom, front, back]
}

/// The padded resolution.
pub fn padded(res: [usize; 3], window: [usize; 3]) -> [usize; 3] {
    let p = pad3d(res, window);
    [res[0] + p[4] + p[5], res[1] + p[2] + p[3], res[2] + p[0] + p[1]]
}

/// `earth_position_index` `[N, N]`: absolute positions in pressure level and latitude, relative in
/// longitude: `(zi + wp zj) (2wo - 1) wl^2 + (hi + wl hj) (2wo - 1) + (oi - oj + wo - 1)`.
pub fn earth_position_index(window: [usize; 3]) -> Vec<i64> {
    let [wp, wl, wo] = window;
    let n = wp * wl * wo;
    let pos = |i: usize| (i / (wl * wo), (i / wo) % wl, i % wo);
    let mut idx = Vec::with_capacity(n * n);
    for i in 0..n {
        let (zi, hi, oi) = pos(i);
        for j in 0..n {
            let (zj, hj, oj) = pos(j);
            let d0 = zi + wp * zj;
            let d1 = hi + wl * hj;
            let d2 = oi + wo - 1 - oj;
            idx.push((d0 * (2 * wo - 1) * wl * wl + d1 * (2 * wo - 1) + d2) as i64);
        }
    }
    idx
}

/// The number of entries of the earth-specific bias table, `wp^2 wl^2 (2 wo - 1)`.
pub fn bias_table_len(window: [usize; 3]) -> usize {
    window[0] * window[0] * window[1] * window[1] * (2 * window[2] - 1)
}

/// Window `(iLon, w, n)` of every position of a padded `(P, L, O)` grid, in the order `partition` uses.
fn window_of(res: [usize; 3], window: [usize; 3]) -> impl Fn(usize, usize, usize) -> (usize, usize, usize) {
    let [_, l, _] = res;
    let [wp, wl, wo] = window;
    let n_lat = l / wl;
    move |p, la, o| (o / wo, (p / wp) * n_lat + la / wl, ((p % wp) * wl + la % wl) * wo + o % wo)
}

/// The shifted-window mask `[nLon, nW, N, N]` of a padded grid: 0 where query and key come from the same
/// region of the rolled grid, -100 where the roll brought them together from different regions. Regions:
/// three bands per pressure-level and latitude axis (`< S - w`, `< S - s`, the rest) and two in longitude
/// (which wraps around the globe: only the band that came round is apart).
pub fn shift_window_mask(res: [usize; 3], window: [usize; 3], shift: [usize; 3]) -> Tensor {
    let [pp, ll, oo] = res;
    let [wp, wl, wo] = window;
    let band = |i: usize, s: usize, w: usize, sh: usize| -> usize {
        if i + w < s {
            0
        } else if i + sh < s {
            1
        } else {
            2
        }
    };
    let (n_lon, n_w, n) = (oo / wo, (pp / wp) * (ll / wl), wp * wl * wo);
    let mut label = vec![0usize; n_lon * n_w * n];
    let win = window_of(res, window);
    for p in 0..pp {
        for la in 0..ll {
            for o in 0..oo {
                let lon = if o + wo < oo + shift[2] { 0 } else { 1 };
                let (il, w, t) = win(p, la, o);
                label[(il * n_w + w) * n + t] = 9 * band(p, pp, wp, shift[0]) + 3 * band(la, ll, wl, shift[1]) + lon;
            }
        }
    }
    let mut m = vec![0f32; n_lon * n_w * n * n];
    for g in 0..n_lon * n_w {
        for i in 0..n {
            for j in 0..n {
                if label[g * n + i] != label[g * n + j] {
                    m[(g * n + i) * n + j] = -100.0;
                }
            }
        }
    }
    Tensor::from_vec(m, &[n_lon, n_w, n, n]).expect("mask shape")
}

/// `EarthAttention3D`: window attention with the earth-specific bias (a parameter per head, window type,
/// query and key: the reference stores it already gathered from its table) and the shift mask.
pub struct EarthAttention {
    /// `[1, heads, nW, N, N]`.
    pub earth_position_bias: Var,
    /// `[N, N]` (persistent buffer; used only to initialise the bias).
    pub earth_position_index: Tensor,
    /// `[nLon, nW, N, N]`, in shifted blocks only (persistent buffer).
    pub attn_mask: Option<Tensor>,
    pub qkv: Linear,
    pub proj: Linear,
    pub heads: usize,
}

impl EarthAttention {
    fn new(g: &mut Generator, dim: usize, heads: usize, window: [usize; 3], padded_res: [usize; 3], shifted: bool) -> Result<Self> {
        let n_w = (padded_res[0] / window[0]) * (padded_res[1] / window[1]);
        let n = window.iter().product::<usize>();
        let index = earth_position_index(window);
        // the table [K, nW, heads] ~ trunc_normal(0, 0.02) gathered to [1, heads, nW, N, N]
        let k = bias_table_len(window);
        let table = init::trunc_normal(g, &[k, n_w, heads], 0.0, 0.02, -2.0, 2.0, DType::F32)?.to_vec::<f32>()?;
        let mut bias = vec![0f32; heads * n_w * n * n];
        for h in 0..heads {
            for w in 0..n_w {
                for (ij, &t) in index.iter().enumerate() {
                    bias[(h * n_w + w) * n * n + ij] = table[(t as usize * n_w + w) * heads + h];
                }
            }
        }
        Ok(EarthAttention {
            earth_position_bias: Var::new(Tensor::from_vec(bias, &[1, heads, n_w, n, n])?, true),
            earth_position_index: Tensor::from_vec(index, &[n, n])?,
            attn_mask: if shifted { Some(shift_window_mask(padded_res, window, SHIFT)) } else { None },
            qkv: Linear::new(g, dim, 3 * dim, true)?,
            proj: Linear::new(g, dim, dim, true)?,
            heads,
        })
    }

    /// `x [B * nLon, nW, N, D]` -> the same shape; `b` is the batch (to split rows into (b, iLon)).
    /// `softmax(q k^T / sqrt(hd) + earth bias (+ shift mask)) v` per head, window type and longitude window,
    /// in the fused attention kernel (the bias gets its gradient from there).
    fn forward(&self, x: &Var, b: usize) -> Result<Var> {
        let s = x.shape().to_vec();
        let (bw, n_w, n, d) = (s[0], s[1], s[2], s[3]);
        let (h, n_lon) = (self.heads, bw / b);
        let hd = d / h;
        // [B_, nW, N, 3, h, hd] -> q, k, v [B, nLon, h, nW, N, hd] (row b * nLon + iLon of B_)
        let qkv = self.qkv.forward(x)?.reshape_to(&[b, n_lon, n_w, n, 3, h, hd])?.permute(&[4, 0, 1, 5, 2, 3, 6])?;
        let (q, k, v) = (qkv.select(0, 0)?, qkv.select(0, 1)?, qkv.select(0, 2)?);
        // [1, 1, h, nW, N, N], plus the mask [1, nLon, 1, nW, N, N] in shifted blocks
        let mut bias = self.earth_position_bias.unsqueeze(0)?;
        if let Some(m) = &self.attn_mask {
            bias = bias.add(&Var::constant(m.reshape(&[1, n_lon as isize, 1, n_w as isize, n as isize, n as isize])?))?;
        }
        let scale = (hd as f64).powf(-0.5);
        let out = wrt_autograd::fused::scaled_dot_product_attention_biased(&q, &k, &v, &bias, Some(scale))?;
        // [B, nLon, h, nW, N, hd] -> [B_, nW, N, h * hd]
        let out = out.permute(&[0, 1, 3, 4, 2, 5])?.reshape_to(&[bw, n_w, n, d])?;
        self.proj.forward(&out)
    }
}

impl Module for EarthAttention {
    fn visit(&self, v: &mut Walk<'_>) {
        v.param("earth_position_bias", &self.earth_position_bias);
        v.buffer("earth_position_index", &self.earth_position_index);
        if let Some(m) = &self.attn_mask {
            v.buffer("attn_mask", m);
        }
        v.child("qkv", &self.qkv);
        v.child("proj", &self.proj);
    }
}

/// The block's MLP, `nn.Sequential(Linear, GELU, Dropout, Linear, Dropout)`: keys `mlp.0`, `mlp.3`.
pub struct Mlp {
    pub fc1: Linear,
    pub fc2: Linear,
}

impl Module for Mlp {
    fn visit(&self, v: &mut Walk<'_>) {
        v.child("0", &self.fc1);
        v.child("3", &self.fc2);
    }
}

impl Forward for Mlp {
    fn forward(&self, x: &Var) -> Result<Var> {
        self.fc2.forward(&wrt_autograd::fused::gelu(&self.fc1.forward(x)?, false)?)
    }
}

/// `EarthSpecificBlock(dim, input_resolution, heads, window, shift, mlp_ratio, drop_path)`.
pub struct EarthBlock {
    pub norm1: LayerNorm,
    pub norm2: LayerNorm,
    pub mlp: Mlp,
    pub attn: EarthAttention,
    pub drop_path: DropPath,
    pub res: [usize; 3],
    pub window: [usize; 3],
    pub shifted: bool,
}

impl Module for EarthBlock {
    fn visit(&self, v: &mut Walk<'_>) {
        v.child("norm1", &self.norm1);
        v.child("norm2", &self.norm2);
        v.child("mlp", &self.mlp);
        v.child("attn", &self.attn);
        v.child("drop_path", &self.drop_path);
    }
}

impl EarthBlock {
    #[allow(clippy::too_many_arguments)]
    pub fn new(g: &mut Generator, dim: usize, res: [usize; 3], heads: usize, window: [usize; 3], shifted: bool, mlp_ratio: f64, drop_path: f64) -> Result<Self> {
        if heads == 0 || dim % heads != 0 {
            return Err(Error::Config(format!("pangu: dim {dim} is not divisible by {heads} heads")));
        }
        let hidden = (dim as f64 * mlp_ratio) as usize;
        let norm1 = LayerNorm::new(&[dim])?;
        let norm2 = LayerNorm::new(&[dim])?;
        let attn = EarthAttention::new(g, dim, heads, window, padded(res, window), shifted)?;
        let drop_path = DropPath::new(drop_path, g)?;
        let mlp = Mlp { fc1: Linear::new(g, dim, hidden, true)?, fc2: Linear::new(g, hidden, dim, true)? };
        Ok(EarthBlock { norm1, norm2, mlp, attn, drop_path, res, window, shifted })
    }

    /// `[B, Pl' , Lat', Lon', D]` -> windows `[B * nLon, nW, N, D]`.
    fn partition(&self, x: &Var) -> Result<Var> {
        let s = x.shape().to_vec();
        let [wp, wl, wo] = self.window;
        let (b, np, nl, no, d) = (s[0], s[1] / wp, s[2] / wl, s[3] / wo, s[4]);
        Ok(x.reshape_to(&[b, np, wp, nl, wl, no, wo, d])?.permute(&[0, 5, 1, 3, 2, 4, 6, 7])?.reshape_to(&[b * no, np * nl, wp * wl * wo, d])?)
    }

    /// The inverse of `partition`, to `[B, Pl', Lat', Lon', D]`.
    fn reverse(&self, w: &Var, b: usize, pad_res: [usize; 3]) -> Result<Var> {
        let [wp, wl, wo] = self.window;
        let (np, nl, no, d) = (pad_res[0] / wp, pad_res[1] / wl, pad_res[2] / wo, w.shape()[3]);
        Ok(w.reshape_to(&[b, no, np, nl, wp, wl, wo, d])?.permute(&[0, 2, 4, 3, 5, 1, 6, 7])?.reshape_to(&[b, pad_res[0], pad_res[1], pad_res[2], d])?)
    }

    pub fn forward(&self, x: &Var) -> Result<Var> {
        let (b, l, d) = (x.shape()[0], x.shape()[1], x.shape()[2]);
        let [pl, lat, lon] = self.res;
        if l != pl * lat * lon {
            return Err(Error::Config(format!("pangu block: {l} tokens for a {pl} x {lat} x {lon} grid")));
        }
        let pads = pad3d(self.res, self.window);
        let pad_res = padded(self.res, self.window);
        // pad after norm1, so padding tokens are exact zeros; F.pad order: last dim first (D unpadded)
        let h = self.norm1.forward(x)?.reshape_to(&[b, pl, lat, lon, d])?;
        let mut h = h.pad(&[0, 0, pads[0], pads[1], pads[2], pads[3], pads[4], pads[5]], PadMode::Constant(0.0))?;
        let (sp, sl, so) = (SHIFT[0] as isize, SHIFT[1] as isize, SHIFT[2] as isize);
        if self.shifted {
            h = h.roll(&[-sp, -sl, -so], &[1, 2, 3])?;
        }
        let w = self.attn.forward(&self.partition(&h)?, b)?;
        let mut h = self.reverse(&w, b, pad_res)?;
        if self.shifted {
            h = h.roll(&[sp, sl, so], &[1, 2, 3])?;
        }
        // the reference's Crop3D keeps pressure levels [back pad ..] (with Pl = 1 padded to 2: the padded
        // plane, a quirk its weights were trained with), latitude and longitude centred
        let keep = pad_res[0] - pads[5];
        let h = h.narrow(1, pads[5], keep)?;
        if keep != pl {
            return Err(Error::Config(format!("pangu block: cropping {} levels leaves {keep}, expected {pl}", pad_res[0])));
        }
        let h = h.narrow(2, pads[2], lat)?.narrow(3, pads[0], lon)?.reshape_to(&[b, l, d])?;
        let x = x.add(&self.drop_path.forward(&h)?)?;
        Ok(x.add(&self.drop_path.forward(&self.mlp.forward(&self.norm2.forward(&x)?)?)?)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_and_index_follow_the_spec() {
        // the seed's layers: R1 (1, 75, 75) and R2 (1, 50, 50) with window (2, 8, 16)
        assert_eq!(pad3d([1, 75, 75], [2, 8, 16]), [2, 3, 2, 3, 0, 1]);
        assert_eq!(padded([1, 75, 75], [2, 8, 16]), [2, 80, 80]);
        assert_eq!(pad3d([1, 50, 50], [2, 8, 16]), [7, 7, 3, 3, 0, 1]);
        assert_eq!(bias_table_len([2, 8, 16]), 4 * 64 * 31);
        assert_eq!(bias_table_len([2, 4, 8]), 960);
        let idx = earth_position_index([2, 4, 8]);
        assert_eq!(idx.len(), 64 * 64);
        assert!(idx.iter().all(|&i| (0..960).contains(&i)));
        // token 0 = (0,0,0) against itself: d2 = wo - 1
        assert_eq!(idx[0], 7);
    }

    #[test]
    fn mask_separates_regions_the_roll_joined() {
        // (P=2, wp=2, s=1): the two planes never attend to each other in shifted blocks
        let m = shift_window_mask([2, 8, 8], [2, 4, 8], SHIFT).to_vec::<f32>().unwrap();
        let n = 64;
        // window type 0, token 0 (plane 0) and token 32 (plane 1)
        assert_eq!(m[32], -100.0);
        assert_eq!(m[1], 0.0);
        assert!(m[..n * n].iter().all(|&v| v == 0.0 || v == -100.0));
    }
}
