//! CPU kernels: rayon for parallelism, `std::arch` SIMD chosen once at run time, scalar fallback.

pub mod activation;
pub mod attention;
pub mod conv;
pub mod elementwise;
pub mod gemm;
pub mod norm;
pub mod pool;
pub mod reduce;
pub mod softmax;
pub mod vmath;
