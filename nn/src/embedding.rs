//! nn.Embedding: a `[num_embeddings, embedding_dim]` table initialised N(0, 1), with the `padding_idx` row
//! zeroed at init and excluded from gradients.

use crate::module::{Module, Walk};
use crate::{init, Error, Forward, Result};
use wrt_autograd::Var;
use wrt_tensor::{DType, Generator, Tensor};

pub struct Embedding {
    pub weight: Var,
    pub padding_idx: Option<usize>,
}

impl Embedding {
    pub fn new(g: &mut Generator, num_embeddings: usize, embedding_dim: usize, padding_idx: Option<usize>) -> Result<Self> {
        if let Some(p) = padding_idx.filter(|&p| p >= num_embeddings) {
            return Err(Error::Config(format!("Embedding: padding_idx {p} must be below num_embeddings {num_embeddings}")));
        }
        let w = init::normal(g, &[num_embeddings, embedding_dim], 0.0, 1.0, DType::F32)?;
        if let Some(p) = padding_idx {
            w.narrow(0, p, 1)?.copy_(&Tensor::zeros(&[1, embedding_dim], DType::F32)?)?;
        }
        Ok(Embedding { weight: Var::new(w, true), padding_idx })
    }

    /// Rows for integer `ids` (I64, any shape) -> `ids.shape + [embedding_dim]`.
    pub fn forward_ids(&self, ids: &Tensor) -> Result<Var> {
        Ok(Var::embedding(&self.weight, ids, self.padding_idx)?)
    }
}

impl Module for Embedding {
    fn visit(&self, v: &mut Walk<'_>) {
        v.param("weight", &self.weight);
    }
}

impl Forward for Embedding {
    /// `x` holds the I64 ids (a constant `Var`), so an embedding can sit in a `Sequential`.
    fn forward(&self, x: &Var) -> Result<Var> {
        self.forward_ids(x.value())
    }
}
