//! CPU-side helpers shared by the ops: strided iteration over views, and the allocator setting.

pub mod alloc;
pub mod strided;
