//! wrt-tensor
