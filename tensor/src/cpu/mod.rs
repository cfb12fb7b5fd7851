//! CPU-side helpers shared by the ops: strided iteration over views.

pub mod strided;
