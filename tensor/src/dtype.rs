//! Element types, and the `WithDType` trait that ties a Rust type to its `DType` and storage variant.

use crate::storage::CpuStorage;
use half::{bf16, f16};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    F32,
    F64,
    F16,
    BF16,
    I64,
    U8,
    /// Stored as one byte per element, 0 or 1.
    Bool,
}

impl DType {
    pub fn size_in_bytes(self) -> usize {
        match self {
            DType::F32 => 4,
            DType::F64 | DType::I64 => 8,
            DType::F16 | DType::BF16 => 2,
            DType::U8 | DType::Bool => 1,
        }
    }

    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64 | DType::F16 | DType::BF16)
    }

    /// The name used by safetensors headers and PyTorch (`F32`, `BF16`, `I64`, `BOOL` ...).
    pub fn safetensors_name(self) -> &'static str {
        match self {
            DType::F32 => "F32",
            DType::F64 => "F64",
            DType::F16 => "F16",
            DType::BF16 => "BF16",
            DType::I64 => "I64",
            DType::U8 => "U8",
            DType::Bool => "BOOL",
        }
    }

    pub fn parse(s: &str) -> crate::Result<DType> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "f32" | "float32" | "float" => DType::F32,
            "f64" | "float64" | "double" => DType::F64,
            "f16" | "float16" | "half" => DType::F16,
            "bf16" | "bfloat16" => DType::BF16,
            "i64" | "int64" | "long" => DType::I64,
            "u8" | "uint8" => DType::U8,
            "bool" => DType::Bool,
            _ => {
                return Err(crate::Error::InvalidArgument {
                    op: "DType::parse",
                    msg: format!("unknown dtype '{s}': expected one of f32, f64, f16, bf16, i64, u8, bool"),
                })
            }
        })
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", format!("{self:?}").to_lowercase())
    }
}

/// A Rust element type with a `DType`. Bool has no Rust type of its own: it is `u8` storage tagged Bool.
pub trait WithDType: Copy + Send + Sync + PartialOrd + std::fmt::Debug + Default + 'static + bytemuck::Pod {
    const DTYPE: DType;
    fn to_f64(self) -> f64;
    fn from_f64(v: f64) -> Self;
    fn to_f32(self) -> f32;
    fn from_f32(v: f32) -> Self;
    fn into_storage(v: Vec<Self>) -> CpuStorage;
    fn slice(s: &CpuStorage) -> Option<&[Self]>;
    fn slice_mut(s: &mut CpuStorage) -> Option<&mut [Self]>;
}

macro_rules! with_dtype {
    ($ty:ty, $variant:ident, $to64:expr, $from64:expr, $to32:expr, $from32:expr $(, $alt:ident)?) => {
        impl WithDType for $ty {
            const DTYPE: DType = DType::$variant;
            #[inline(always)]
            fn to_f64(self) -> f64 {
                $to64(self)
            }
            #[inline(always)]
            fn from_f64(v: f64) -> Self {
                $from64(v)
            }
            #[inline(always)]
            fn to_f32(self) -> f32 {
                $to32(self)
            }
            #[inline(always)]
            fn from_f32(v: f32) -> Self {
                $from32(v)
            }
            fn into_storage(v: Vec<Self>) -> CpuStorage {
                CpuStorage::$variant(v)
            }
            fn slice(s: &CpuStorage) -> Option<&[Self]> {
                match s {
                    CpuStorage::$variant(v) $(| CpuStorage::$alt(v))? => Some(v),
                    _ => None,
                }
            }
            fn slice_mut(s: &mut CpuStorage) -> Option<&mut [Self]> {
                match s {
                    CpuStorage::$variant(v) $(| CpuStorage::$alt(v))? => Some(v),
                    _ => None,
                }
            }
        }
    };
}

with_dtype!(f32, F32, |x: f32| x as f64, |v: f64| v as f32, |x| x, |v| v);
with_dtype!(f64, F64, |x| x, |v| v, |x: f64| x as f32, |v: f32| v as f64);
with_dtype!(f16, F16, |x: f16| x.to_f64(), f16::from_f64, |x: f16| x.to_f32(), f16::from_f32);
with_dtype!(bf16, BF16, |x: bf16| x.to_f64(), bf16::from_f64, |x: bf16| x.to_f32(), bf16::from_f32);
with_dtype!(i64, I64, |x: i64| x as f64, |v: f64| v as i64, |x: i64| x as f32, |v: f32| v as i64);
// Bool storage is u8 too, so generic code over u8 serves Bool (the op re-tags its result).
with_dtype!(u8, U8, |x: u8| x as f64, |v: f64| v as u8, |x: u8| x as f32, |v: f32| v as u8, Bool);

/// Run `$body` with the type alias `$T` set to the Rust type of `$dtype` (Bool -> u8).
#[macro_export]
macro_rules! with_type {
    ($dtype:expr, $T:ident => $body:expr) => {
        match $dtype {
            $crate::DType::F32 => { type $T = f32; $body }
            $crate::DType::F64 => { type $T = f64; $body }
            $crate::DType::F16 => { type $T = half::f16; $body }
            $crate::DType::BF16 => { type $T = half::bf16; $body }
            $crate::DType::I64 => { type $T = i64; $body }
            $crate::DType::U8 | $crate::DType::Bool => { type $T = u8; $body }
        }
    };
}

/// Wrap a Vec as storage of `dtype` (which must be T's dtype, or Bool for u8).
pub fn storage_of<T: WithDType>(v: Vec<T>, dtype: DType) -> CpuStorage {
    crate::cpu::alloc::keep_freed_memory();
    match T::into_storage(v) {
        CpuStorage::U8(v) if dtype == DType::Bool => CpuStorage::Bool(v),
        s => s,
    }
}
