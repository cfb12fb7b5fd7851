//! Containers: `Sequential` (boxed layers applied in order, children named 0, 1, 2 ... as nn.Sequential)
//! and `ModuleList` (a typed `Vec<M>`, children named 0, 1, 2 ... as nn.ModuleList).

use crate::module::{Module, Walk};
use crate::{Forward, Result};
use wrt_autograd::Var;

/// A module with one input and one output: what a `Sequential` holds.
pub trait Layer: Module + Forward {}

impl<T: Module + Forward> Layer for T {}

/// `nn.Sequential`: `forward` applies each layer to the previous one's output.
#[derive(Default)]
pub struct Sequential {
    pub layers: Vec<Box<dyn Layer>>,
}

impl Sequential {
    pub fn new() -> Self {
        Sequential { layers: Vec::new() }
    }
    /// Append a layer (builder style): `Sequential::new().add(conv).add(ReLU)`.
    #[allow(clippy::should_implement_trait)]
    pub fn add(mut self, layer: impl Layer + 'static) -> Self {
        self.layers.push(Box::new(layer));
        self
    }
    pub fn push(&mut self, layer: impl Layer + 'static) {
        self.layers.push(Box::new(layer));
    }
    pub fn len(&self) -> usize {
        self.layers.len()
    }
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }
}

impl Module for Sequential {
    fn visit(&self, v: &mut Walk<'_>) {
        for (i, l) in self.layers.iter().enumerate() {
            let m: &dyn Module = &**l;
            v.child(&i.to_string(), m);
        }
    }
}

impl Forward for Sequential {
    fn forward(&self, x: &Var) -> Result<Var> {
        let mut y = x.clone();
        for l in &self.layers {
            y = l.forward(&y)?;
        }
        Ok(y)
    }
}

/// `nn.ModuleList`: modules of one type, indexed like a `Vec` (it derefs to one); no `forward` of its own.
pub struct ModuleList<M>(pub Vec<M>);

impl<M> Default for ModuleList<M> {
    fn default() -> Self {
        ModuleList(Vec::new())
    }
}

impl<M> From<Vec<M>> for ModuleList<M> {
    fn from(v: Vec<M>) -> Self {
        ModuleList(v)
    }
}

impl<M> std::ops::Deref for ModuleList<M> {
    type Target = Vec<M>;
    fn deref(&self) -> &Vec<M> {
        &self.0
    }
}

impl<M> std::ops::DerefMut for ModuleList<M> {
    fn deref_mut(&mut self) -> &mut Vec<M> {
        &mut self.0
    }
}

impl<M: Module> Module for ModuleList<M> {
    fn visit(&self, v: &mut Walk<'_>) {
        v.list("", &self.0);
    }
}
