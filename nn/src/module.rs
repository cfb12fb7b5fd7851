//! The `Module` trait: a module lists its parameters, buffers and children once, in `visit`, and everything
//! else — dotted PyTorch names (`blocks.3.attn.qkv.weight`), state_dict save/load, parameter counts, train/eval
//! switching — is derived from that single walk (the name is never typed twice).

use crate::{Error, Result};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use wrt_autograd::Var;
use wrt_tensor::Tensor;

/// What a module shows a walk over it.
pub trait Visitor {
    fn param(&mut self, name: &str, p: &Var);
    fn buffer(&mut self, _name: &str, _b: &Tensor) {}
    fn mode(&mut self, _flag: &TrainFlag) {}
    /// A random stream the module draws from in training (dropout); checkpoints save its state by name.
    fn rng(&mut self, _name: &str, _stream: &crate::dropout::Stream) {}
}

/// A module: parameters (trainable `Var` leaves), buffers (persistent tensors such as running statistics)
/// and children, visited in PyTorch's registration order.
pub trait Module: Send + Sync {
    fn visit(&self, v: &mut Walk<'_>);
}

/// A walk in progress: tracks the dotted prefix and forwards to a visitor.
pub struct Walk<'a> {
    prefix: String,
    visitor: &'a mut dyn Visitor,
}

impl<'a> Walk<'a> {
    pub fn new(visitor: &'a mut dyn Visitor) -> Walk<'a> {
        Walk { prefix: String::new(), visitor }
    }
    fn full(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.prefix)
        }
    }
    pub fn param(&mut self, name: &str, p: &Var) {
        let n = self.full(name);
        self.visitor.param(&n, p);
    }
    pub fn buffer(&mut self, name: &str, b: &Tensor) {
        let n = self.full(name);
        self.visitor.buffer(&n, b);
    }
    pub fn mode(&mut self, flag: &TrainFlag) {
        self.visitor.mode(flag);
    }
    /// Report a random stream under `name` (relative to this module, like a parameter).
    pub fn rng(&mut self, name: &str, stream: &crate::dropout::Stream) {
        let n = self.full(name);
        self.visitor.rng(&n, stream);
    }
    /// Visit a child module under `name`.
    pub fn child(&mut self, name: &str, m: &dyn Module) {
        let saved = std::mem::replace(&mut self.prefix, String::new());
        self.prefix = if saved.is_empty() { name.to_string() } else { format!("{saved}.{name}") };
        m.visit(self);
        self.prefix = saved;
    }
    /// Visit children `name.0`, `name.1`, ... (nn.ModuleList / nn.Sequential numbering).
    pub fn list<M: Module>(&mut self, name: &str, ms: &[M]) {
        for (i, m) in ms.iter().enumerate() {
            let n = if name.is_empty() { i.to_string() } else { format!("{name}.{i}") };
            self.child(&n, m);
        }
    }
}

/// Train/eval mode of a module with mode-dependent behaviour (dropout, batch norm). Shared through `&self`
/// so that `set_training` needs no `&mut` walk.
#[derive(Debug)]
pub struct TrainFlag(AtomicBool);

impl Default for TrainFlag {
    fn default() -> Self {
        TrainFlag(AtomicBool::new(true))
    }
}

impl TrainFlag {
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
    pub fn set(&self, on: bool) {
        self.0.store(on, Ordering::Relaxed)
    }
}

/// Parameters and buffers in one list, in visit order (PyTorch's state_dict order: per module, its
/// parameters then its buffers).
struct StateDict(Vec<(String, Tensor)>);

impl Visitor for StateDict {
    fn param(&mut self, name: &str, p: &Var) {
        self.0.push((name.to_string(), p.value().clone()));
    }
    fn buffer(&mut self, name: &str, b: &Tensor) {
        self.0.push((name.to_string(), b.clone()));
    }
}

struct Collect<'a> {
    params: Option<&'a mut Vec<(String, Var)>>,
    buffers: Option<&'a mut Vec<(String, Tensor)>>,
    mode: Option<bool>,
}

impl Visitor for Collect<'_> {
    fn param(&mut self, name: &str, p: &Var) {
        if let Some(v) = self.params.as_deref_mut() {
            v.push((name.to_string(), p.clone()));
        }
    }
    fn buffer(&mut self, name: &str, b: &Tensor) {
        if let Some(v) = self.buffers.as_deref_mut() {
            v.push((name.to_string(), b.clone()));
        }
    }
    fn mode(&mut self, flag: &TrainFlag) {
        if let Some(m) = self.mode {
            flag.set(m);
        }
    }
}

/// Extension methods every module gets from `visit`.
pub trait ModuleExt: Module {
    /// Parameters with their dotted names, in registration order (`model.named_parameters()`).
    fn named_parameters(&self) -> Vec<(String, Var)> {
        let mut params = Vec::new();
        self.visit(&mut Walk::new(&mut Collect { params: Some(&mut params), buffers: None, mode: None }));
        params
    }
    fn parameters(&self) -> Vec<Var> {
        self.named_parameters().into_iter().map(|(_, p)| p).collect()
    }
    /// Every random stream with its dotted name (`blocks.0.attn.dropout.rng`). Streams shared between
    /// layers appear once per layer; restoring a shared stream twice writes the same state.
    fn named_rngs(&self) -> Vec<(String, crate::dropout::Stream)> {
        struct Rngs(Vec<(String, crate::dropout::Stream)>);
        impl Visitor for Rngs {
            fn param(&mut self, _: &str, _: &Var) {}
            fn rng(&mut self, name: &str, s: &crate::dropout::Stream) {
                self.0.push((name.to_string(), s.clone()));
            }
        }
        let mut r = Rngs(Vec::new());
        self.visit(&mut Walk::new(&mut r));
        r.0
    }
    fn named_buffers(&self) -> Vec<(String, Tensor)> {
        let mut buffers = Vec::new();
        self.visit(&mut Walk::new(&mut Collect { params: None, buffers: Some(&mut buffers), mode: None }));
        buffers
    }
    /// Number of parameter elements.
    fn num_parameters(&self) -> usize {
        self.named_parameters().iter().map(|(_, p)| p.value().numel()).sum()
    }
    /// `model.train()` / `model.eval()`.
    fn set_training(&self, on: bool) {
        self.visit(&mut Walk::new(&mut Collect { params: None, buffers: None, mode: Some(on) }));
    }
    fn train(&self) {
        self.set_training(true)
    }
    fn eval(&self) {
        self.set_training(false)
    }
    /// Parameters and buffers by name, sharing storage with the module (`model.state_dict()`).
    fn state_dict(&self) -> Vec<(String, Tensor)> {
        let mut sd = StateDict(Vec::new());
        self.visit(&mut Walk::new(&mut sd));
        sd.0
    }
    /// Copy tensors into the module's parameters and buffers in place. `strict`: every key must match both
    /// ways. Shapes and dtypes must match exactly (cast first if you mean to change precision).
    fn load_state_dict(&self, sd: &BTreeMap<String, Tensor>, strict: bool) -> Result<()> {
        let own = self.state_dict();
        let names: std::collections::BTreeSet<&String> = own.iter().map(|(n, _)| n).collect();
        let missing: Vec<String> = own.iter().filter(|(n, _)| !sd.contains_key(n)).map(|(n, _)| n.clone()).collect();
        let unexpected: Vec<String> = sd.keys().filter(|k| !names.contains(k)).cloned().collect();
        if strict && (!missing.is_empty() || !unexpected.is_empty()) {
            return Err(Error::Keys { missing, unexpected });
        }
        for (name, dst) in &own {
            let Some(src) = sd.get(name) else { continue };
            if src.shape() != dst.shape() || src.dtype() != dst.dtype() {
                return Err(Error::Mismatch {
                    key: name.clone(),
                    expected: format!("{:?} {}", dst.shape(), dst.dtype()),
                    found: format!("{:?} {}", src.shape(), src.dtype()),
                });
            }
        }
        for (name, dst) in &own {
            if let Some(src) = sd.get(name) {
                dst.copy_(src)?;
            }
        }
        Ok(())
    }
    /// Save the state_dict as safetensors (PyTorch names and dtypes; loads with `safetensors.torch.load_file`).
    fn save_safetensors(&self, path: impl AsRef<std::path::Path>) -> Result<()> {
        Ok(wrt_tensor::io::save(path, &self.state_dict(), None)?)
    }
    /// Load a safetensors state_dict written by PyTorch (`safetensors.torch.save_file(model.state_dict())`) or wrt.
    fn load_safetensors(&self, path: impl AsRef<std::path::Path>, strict: bool) -> Result<()> {
        let sd = wrt_tensor::io::load(path)?;
        self.load_state_dict(&sd, strict)
    }
}

impl<M: Module + ?Sized> ModuleExt for M {}
