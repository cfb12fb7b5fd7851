//! nn.LSTM: multi-layer, optionally bidirectional, batch_first, dropout between layers; PyTorch's parameter
//! names (`weight_ih_l{k}`, `weight_hh_l{k}`, `bias_ih_l{k}`, `bias_hh_l{k}`, `_reverse` for the backward
//! direction), gate order (i, f, g, o) and init (every parameter U(-1/sqrt(hidden), 1/sqrt(hidden))).
//!
//! Per layer and direction the input projection of all time steps is one GEMM; the recurrence is one fused
//! graph node (`lstm_scan`, one `[B, 4H] x [4H, H]` GEMM per step). `proj_size` is not supported.

use crate::dropout::{fork, lock, Stream};
use crate::lstm_scan::lstm_scan;
use crate::module::{Module, TrainFlag, Walk};
use crate::{init, Error, Result};
use wrt_autograd::Var;
use wrt_tensor::{DType, Generator, Tensor};

/// Options of `nn.LSTM(input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
/// bidirectional=False, proj_size=0)`.
#[derive(Clone, Debug, PartialEq)]
pub struct LstmConfig {
    pub num_layers: usize,
    pub bias: bool,
    /// Input and output `[B, T, *]` instead of `[T, B, *]` (the states stay `[layers * dirs, B, H]`).
    pub batch_first: bool,
    /// Dropout on the outputs of every layer but the last, in training mode.
    pub dropout: f64,
    pub bidirectional: bool,
    /// Must be 0: LSTMs with projections are not supported.
    pub proj_size: usize,
}

impl Default for LstmConfig {
    fn default() -> Self {
        LstmConfig { num_layers: 1, bias: true, batch_first: false, dropout: 0.0, bidirectional: false, proj_size: 0 }
    }
}

/// The weights of one layer and direction.
pub struct LstmCell {
    /// `[4H, in]`: rows are the i, f, g, o gates.
    pub weight_ih: Var,
    /// `[4H, H]`.
    pub weight_hh: Var,
    pub bias_ih: Option<Var>,
    pub bias_hh: Option<Var>,
}

/// `nn.LSTM`.
pub struct LSTM {
    /// Layer k, direction d at `cells[k * dirs + d]` (the order of PyTorch's `_flat_weights` and of h_n).
    pub cells: Vec<LstmCell>,
    pub input_size: usize,
    pub hidden_size: usize,
    pub num_layers: usize,
    pub batch_first: bool,
    pub dropout: f64,
    pub bidirectional: bool,
    pub training: TrainFlag,
    stream: Stream,
}

fn cfg_err(msg: String) -> Error {
    Error::Config(format!("LSTM: {msg}"))
}

impl LSTM {
    pub fn new(g: &mut Generator, input_size: usize, hidden_size: usize, cfg: LstmConfig) -> Result<Self> {
        if cfg.proj_size != 0 {
            return Err(cfg_err(format!("proj_size={} is not supported (only proj_size=0)", cfg.proj_size)));
        }
        if cfg.num_layers == 0 || hidden_size == 0 {
            return Err(cfg_err(format!("num_layers ({}) and hidden_size ({hidden_size}) must be positive", cfg.num_layers)));
        }
        if !(0.0..=1.0).contains(&cfg.dropout) {
            return Err(cfg_err(format!("dropout {} is outside [0, 1]", cfg.dropout)));
        }
        let dirs = if cfg.bidirectional { 2 } else { 1 };
        let k = 1.0 / (hidden_size as f64).sqrt();
        let mut u = |shape: &[usize]| -> Result<Var> { Ok(Var::new(init::uniform(g, shape, -k, k, DType::F32)?, true)) };
        let mut cells = Vec::with_capacity(cfg.num_layers * dirs);
        for layer in 0..cfg.num_layers {
            let inp = if layer == 0 { input_size } else { hidden_size * dirs };
            for _ in 0..dirs {
                let weight_ih = u(&[4 * hidden_size, inp])?;
                let weight_hh = u(&[4 * hidden_size, hidden_size])?;
                let (bias_ih, bias_hh) = if cfg.bias { (Some(u(&[4 * hidden_size])?), Some(u(&[4 * hidden_size])?)) } else { (None, None) };
                cells.push(LstmCell { weight_ih, weight_hh, bias_ih, bias_hh });
            }
        }
        Ok(LSTM {
            cells,
            input_size,
            hidden_size,
            num_layers: cfg.num_layers,
            batch_first: cfg.batch_first,
            dropout: cfg.dropout,
            bidirectional: cfg.bidirectional,
            training: TrainFlag::default(),
            stream: fork(g)?,
        })
    }

    pub fn num_directions(&self) -> usize {
        if self.bidirectional {
            2
        } else {
            1
        }
    }

    /// The dropout stream (for checkpointing its state).
    pub fn stream(&self) -> &Stream {
        &self.stream
    }

    /// `(output, (h_n, c_n))`. Input `[T, B, in]` (`[B, T, in]` with batch_first, `[T, in]` unbatched);
    /// `state` = `(h0, c0)`, each `[layers * dirs, B, H]` (`[layers * dirs, H]` unbatched), zeros if None.
    /// Output `[T, B, dirs * H]` (batch_first: `[B, T, dirs * H]`); h_n, c_n shaped as h0.
    pub fn forward(&self, x: &Var, state: Option<(&Var, &Var)>) -> Result<(Var, (Var, Var))> {
        let batched = match x.rank() {
            3 => true,
            2 => false,
            _ => return Err(cfg_err(format!("expected input [T, B, {}] (or batch_first / unbatched), got {:?}", self.input_size, x.shape()))),
        };
        // to [T, B, in]
        let x = if !batched {
            x.unsqueeze(1)?
        } else if self.batch_first {
            x.transpose(0, 1)?
        } else {
            x.clone()
        };
        let (t, b) = (x.shape()[0], x.shape()[1]);
        if x.shape()[2] != self.input_size || t == 0 {
            return Err(cfg_err(format!("expected input width {} and at least one time step, got shape {:?}", self.input_size, x.shape())));
        }
        let (dirs, hid) = (self.num_directions(), self.hidden_size);
        let n_states = self.num_layers * dirs;
        let (h0, c0) = match state {
            Some((h0, c0)) => {
                let want: Vec<usize> = if batched { vec![n_states, b, hid] } else { vec![n_states, hid] };
                if h0.shape() != want.as_slice() || c0.shape() != want.as_slice() {
                    return Err(cfg_err(format!("expected h0 and c0 of shape {want:?}, got {:?} and {:?}", h0.shape(), c0.shape())));
                }
                if batched {
                    (h0.clone(), c0.clone())
                } else {
                    (h0.unsqueeze(1)?, c0.unsqueeze(1)?)
                }
            }
            None => {
                let z = Var::constant(Tensor::zeros(&[n_states, b, hid], x.dtype())?);
                (z.clone(), z)
            }
        };
        let training = self.training.get();
        let mut input = x;
        let (mut h_n, mut c_n) = (Vec::with_capacity(n_states), Vec::with_capacity(n_states));
        for layer in 0..self.num_layers {
            let width = input.shape()[2];
            let flat = input.reshape(&[-1, width as isize])?;
            let mut outs = Vec::with_capacity(dirs);
            for d in 0..dirs {
                let idx = layer * dirs + d;
                let cell = &self.cells[idx];
                // input projection of every step in one GEMM, both biases folded in
                let mut xproj = flat.matmul(&cell.weight_ih.t()?)?;
                if let (Some(bi), Some(bh)) = (&cell.bias_ih, &cell.bias_hh) {
                    xproj = xproj.add(&bi.add(bh)?)?;
                }
                let xproj = xproj.reshape_to(&[t, b, 4 * hid])?;
                let r = lstm_scan(&xproj, &cell.weight_hh, &h0.select(0, idx)?, &c0.select(0, idx)?, d == 1)?;
                outs.push(r.hs);
                h_n.push(r.h_n);
                c_n.push(r.c_n);
            }
            input = if dirs == 1 { outs.pop().expect("one direction") } else { Var::cat(&outs, -1)? };
            if training && self.dropout > 0.0 && layer + 1 < self.num_layers {
                input = input.dropout(self.dropout, true, &mut lock(&self.stream))?;
            }
        }
        let (mut h_n, mut c_n) = (Var::stack(&h_n, 0)?, Var::stack(&c_n, 0)?);
        let out = if !batched {
            h_n = h_n.squeeze(&[1])?;
            c_n = c_n.squeeze(&[1])?;
            input.squeeze(&[1])?
        } else if self.batch_first {
            input.transpose(0, 1)?
        } else {
            input
        };
        Ok((out, (h_n, c_n)))
    }
}

impl Module for LSTM {
    fn visit(&self, v: &mut Walk<'_>) {
        let dirs = self.num_directions();
        for (idx, c) in self.cells.iter().enumerate() {
            let suffix = format!("l{}{}", idx / dirs, if idx % dirs == 1 { "_reverse" } else { "" });
            v.param(&format!("weight_ih_{suffix}"), &c.weight_ih);
            v.param(&format!("weight_hh_{suffix}"), &c.weight_hh);
            if let Some(b) = &c.bias_ih {
                v.param(&format!("bias_ih_{suffix}"), b);
            }
            if let Some(b) = &c.bias_hh {
                v.param(&format!("bias_hh_{suffix}"), b);
            }
        }
        v.mode(&self.training);
        v.rng("rng", &self.stream);
    }
}
