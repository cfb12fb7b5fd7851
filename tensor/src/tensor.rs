//! `Tensor`: shared storage + layout + dtype + device. Cloning is cheap (an Arc); views share storage.

use crate::cpu::strided;
use crate::layout::{contiguous_strides, norm_dim};
use crate::storage::{CpuStorage, Storage};
use crate::{map_cpu, DType, Device, Error, Layout, Result, WithDType};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

#[derive(Clone)]
pub struct Tensor {
    storage: Arc<RwLock<Storage>>,
    layout: Layout,
    dtype: DType,
    device: Device,
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tensor[{:?}, {}, {}]", self.shape(), self.dtype, self.device)
    }
}

impl Tensor {
    // ---------------------------------------------------------------- construction

    pub(crate) fn from_storage(s: CpuStorage, shape: &[usize]) -> Tensor {
        debug_assert_eq!(s.len(), shape.iter().product::<usize>(), "storage length matches shape");
        let dtype = s.dtype();
        Tensor {
            storage: Arc::new(RwLock::new(Storage::Cpu(s))),
            layout: Layout::contiguous(shape),
            dtype,
            device: Device::Cpu,
        }
    }

    /// A new tensor from a Vec in row-major order.
    pub fn from_vec<T: WithDType>(data: Vec<T>, shape: &[usize]) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        if data.len() != n {
            return Err(Error::BadShape {
                op: "from_vec",
                shape: shape.to_vec(),
                expected: format!("a shape with {} elements (the data's length)", data.len()),
            });
        }
        Ok(Tensor::from_storage(T::into_storage(data), shape))
    }

    pub fn from_slice<T: WithDType>(data: &[T], shape: &[usize]) -> Result<Tensor> {
        Tensor::from_vec(data.to_vec(), shape)
    }

    /// A 0-d tensor.
    pub fn scalar<T: WithDType>(v: T) -> Tensor {
        Tensor::from_storage(T::into_storage(vec![v]), &[])
    }

    /// A bool tensor from `bool`s.
    pub fn from_bools(data: &[bool], shape: &[usize]) -> Result<Tensor> {
        let t = Tensor::from_vec(data.iter().map(|&b| b as u8).collect::<Vec<u8>>(), shape)?;
        Ok(t.retag(DType::Bool))
    }

    /// Raw storage built by an op: the single place where op results become tensors.
    pub fn from_cpu_storage(s: CpuStorage, shape: &[usize]) -> Result<Tensor> {
        if s.len() != shape.iter().product::<usize>() {
            return Err(Error::BadShape {
                op: "from_cpu_storage",
                shape: shape.to_vec(),
                expected: format!("{} elements", s.len()),
            });
        }
        Ok(Tensor::from_storage(s, shape))
    }

    /// Reinterpret U8 storage as Bool and back (same bytes).
    pub(crate) fn retag(self, dtype: DType) -> Tensor {
        let shape = self.shape().to_vec();
        let s = match self.into_cpu_storage_contig() {
            CpuStorage::U8(v) | CpuStorage::Bool(v) if dtype == DType::Bool => CpuStorage::Bool(v),
            CpuStorage::U8(v) | CpuStorage::Bool(v) if dtype == DType::U8 => CpuStorage::U8(v),
            other => other,
        };
        Tensor::from_storage(s, &shape)
    }

    // ---------------------------------------------------------------- accessors

    pub fn shape(&self) -> &[usize] {
        self.layout.shape()
    }
    pub fn dims(&self) -> &[usize] {
        self.layout.shape()
    }
    pub fn strides(&self) -> &[usize] {
        self.layout.strides()
    }
    pub fn layout(&self) -> &Layout {
        &self.layout
    }
    pub fn rank(&self) -> usize {
        self.layout.rank()
    }
    pub fn numel(&self) -> usize {
        self.layout.numel()
    }
    pub fn dtype(&self) -> DType {
        self.dtype
    }
    pub fn device(&self) -> Device {
        self.device
    }
    pub fn is_contiguous(&self) -> bool {
        self.layout.is_contiguous()
    }
    /// Size of `dim` (negative counts from the end).
    pub fn size(&self, dim: isize) -> Result<usize> {
        Ok(self.shape()[norm_dim("size", dim, self.rank())?])
    }
    /// True when both tensors share one storage buffer.
    pub fn same_storage(&self, other: &Tensor) -> bool {
        Arc::ptr_eq(&self.storage, &other.storage)
    }

    pub(crate) fn read(&self) -> RwLockReadGuard<'_, Storage> {
        self.storage.read().expect("storage lock poisoned: a thread panicked while writing this tensor")
    }
    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, Storage> {
        self.storage.write().expect("storage lock poisoned: a thread panicked while writing this tensor")
    }

    /// Run `f` on the CPU storage and this tensor's layout.
    pub fn with_cpu<R>(&self, f: impl FnOnce(&CpuStorage, &Layout) -> R) -> R {
        match &*self.read() {
            Storage::Cpu(s) => f(s, &self.layout),
        }
    }

    /// Typed access to the storage slice (the whole buffer) and layout.
    pub fn with_slice<T: WithDType, R>(&self, op: &'static str, f: impl FnOnce(&[T], &Layout) -> R) -> Result<R> {
        self.with_cpu(|s, l| match T::slice(s) {
            Some(v) => Ok(f(v, l)),
            None => Err(Error::DType { op, got: self.dtype, expected: format!("{:?}", T::DTYPE) }),
        })
    }

    /// Mutable typed access to this tensor's elements, which must be contiguous (in-place optimizer updates).
    pub fn with_slice_mut<T: WithDType, R>(&self, op: &'static str, f: impl FnOnce(&mut [T]) -> R) -> Result<R> {
        let range = self.layout.contiguous_range().ok_or_else(|| Error::InvalidArgument {
            op,
            msg: format!("in-place update needs a contiguous tensor, got strides {:?}", self.strides()),
        })?;
        match &mut *self.write() {
            Storage::Cpu(s) => match T::slice_mut(s) {
                Some(v) => Ok(f(&mut v[range])),
                None => Err(Error::DType { op, got: self.dtype, expected: format!("{:?}", T::DTYPE) }),
            },
        }
    }

    /// Borrow the elements of a contiguous tensor as a typed slice (no copy). The storage stays read-locked
    /// while the returned guard lives.
    pub fn data<T: WithDType>(&self) -> Result<TensorData<'_, T>> {
        let range = self.layout.contiguous_range().ok_or_else(|| Error::InvalidArgument {
            op: "data",
            msg: format!("needs a contiguous tensor, got strides {:?}", self.strides()),
        })?;
        let guard = self.read();
        let ok = match &*guard {
            Storage::Cpu(s) => T::slice(s).is_some(),
        };
        if !ok {
            return Err(Error::DType { op: "data", got: self.dtype, expected: format!("{:?}", T::DTYPE) });
        }
        Ok(TensorData { guard, range, _t: std::marker::PhantomData })
    }

    /// Copy the elements out in row-major order.
    pub fn to_vec<T: WithDType>(&self) -> Result<Vec<T>> {
        if self.dtype == DType::Bool && T::DTYPE == DType::U8 {
            return self.to_dtype(DType::U8)?.to_vec();
        }
        self.with_slice("to_vec", |s: &[T], l| strided::copy(s, l))
    }

    /// Elements converted to f64 (any dtype): handy in tests and metrics.
    pub fn to_vec_f64(&self) -> Result<Vec<f64>> {
        self.to_dtype(DType::F64)?.to_vec::<f64>()
    }

    /// The single value of a one-element tensor.
    pub fn item<T: WithDType>(&self) -> Result<T> {
        if self.numel() != 1 {
            return Err(Error::BadShape { op: "item", shape: self.shape().to_vec(), expected: "one element".into() });
        }
        Ok(self.to_vec::<T>()?[0])
    }

    pub fn item_f64(&self) -> Result<f64> {
        if self.numel() != 1 {
            return Err(Error::BadShape { op: "item", shape: self.shape().to_vec(), expected: "one element".into() });
        }
        Ok(self.to_vec_f64()?[0])
    }

    // ---------------------------------------------------------------- device

    pub fn to_device(&self, device: Device) -> Result<Tensor> {
        match device {
            Device::Cpu => Ok(self.clone()),
            Device::Cuda(_) => Err(cuda_unavailable("to_device")),
        }
    }

    /// Both tensors must be on one device (every binary op checks this first).
    pub fn same_device(&self, other: &Tensor, op: &'static str) -> Result<()> {
        if self.device != other.device {
            return Err(Error::Device { op, got: other.device, expected: format!("{} (the first operand's device)", self.device) });
        }
        Ok(())
    }

    // ---------------------------------------------------------------- views (no copy)

    fn with_layout(&self, layout: Layout) -> Tensor {
        Tensor { storage: self.storage.clone(), layout, dtype: self.dtype, device: self.device }
    }

    /// View with a new shape (one -1 allowed). Errors when the strides cannot express it without a copy.
    pub fn view(&self, shape: &[isize]) -> Result<Tensor> {
        Ok(self.with_layout(self.layout.view("view", shape)?))
    }

    /// Like `view`, but copies when a view is impossible (PyTorch's `reshape`).
    pub fn reshape(&self, shape: &[isize]) -> Result<Tensor> {
        match self.layout.view("reshape", shape) {
            Ok(l) => Ok(self.with_layout(l)),
            Err(Error::NeedsCopy { .. }) => self.contiguous()?.view(shape),
            Err(e) => Err(e),
        }
    }

    /// `reshape` with a usize shape.
    pub fn reshape_to(&self, shape: &[usize]) -> Result<Tensor> {
        self.reshape(&shape.iter().map(|&x| x as isize).collect::<Vec<_>>())
    }

    pub fn permute(&self, dims: &[isize]) -> Result<Tensor> {
        Ok(self.with_layout(self.layout.permute(dims)?))
    }
    pub fn transpose(&self, a: isize, b: isize) -> Result<Tensor> {
        Ok(self.with_layout(self.layout.transpose(a, b)?))
    }
    /// Transpose of the last two dims (`.mT`).
    pub fn t(&self) -> Result<Tensor> {
        if self.rank() < 2 {
            return Err(Error::BadShape { op: "t", shape: self.shape().to_vec(), expected: "rank >= 2".into() });
        }
        self.transpose(-2, -1)
    }
    pub fn narrow(&self, dim: isize, start: usize, len: usize) -> Result<Tensor> {
        Ok(self.with_layout(self.layout.narrow(dim, start, len)?))
    }
    /// Python slicing `x[start:end:step]` along `dim` (negative start/end count from the end; clamped).
    pub fn slice(&self, dim: isize, start: isize, end: isize, step: usize) -> Result<Tensor> {
        Ok(self.with_layout(self.layout.slice(dim, start, end, step)?))
    }
    /// `x.select(dim, i)`: index one position and drop the dim.
    pub fn select(&self, dim: isize, i: usize) -> Result<Tensor> {
        Ok(self.with_layout(self.layout.select(dim, i)?))
    }
    pub fn squeeze(&self, dims: &[isize]) -> Result<Tensor> {
        Ok(self.with_layout(self.layout.squeeze(dims)?))
    }
    pub fn unsqueeze(&self, dim: isize) -> Result<Tensor> {
        Ok(self.with_layout(self.layout.unsqueeze(dim)?))
    }
    pub fn expand(&self, sizes: &[isize]) -> Result<Tensor> {
        Ok(self.with_layout(self.layout.expand(sizes)?))
    }
    pub fn broadcast_to(&self, shape: &[usize]) -> Result<Tensor> {
        Ok(self.with_layout(self.layout.broadcast_to(shape)?))
    }
    pub fn flatten(&self, start: isize, end: isize) -> Result<Tensor> {
        match self.layout.flatten(start, end) {
            Ok(l) => Ok(self.with_layout(l)),
            Err(Error::NeedsCopy { .. }) => self.contiguous()?.flatten(start, end),
            Err(e) => Err(e),
        }
    }

    /// Split `dim` into pieces of `size` (the last may be smaller), as views.
    pub fn split(&self, size: usize, dim: isize) -> Result<Vec<Tensor>> {
        let d = norm_dim("split", dim, self.rank())?;
        if size == 0 {
            return Err(Error::InvalidArgument { op: "split", msg: "split size must be positive".into() });
        }
        let n = self.shape()[d];
        (0..n.div_ceil(size).max(1)).map(|i| self.narrow(d as isize, i * size, size.min(n - i * size))).collect()
    }

    /// Split `dim` into pieces of the given sizes, which must add up to the dim's size.
    pub fn split_sizes(&self, sizes: &[usize], dim: isize) -> Result<Vec<Tensor>> {
        let d = norm_dim("split_sizes", dim, self.rank())?;
        if sizes.iter().sum::<usize>() != self.shape()[d] {
            return Err(Error::InvalidArgument {
                op: "split_sizes",
                msg: format!("sizes {sizes:?} do not add up to {} (size of dimension {d})", self.shape()[d]),
            });
        }
        let mut start = 0;
        sizes
            .iter()
            .map(|&s| {
                let t = self.narrow(d as isize, start, s);
                start += s;
                t
            })
            .collect()
    }

    /// `chunks` pieces along `dim` of size ceil(n / chunks), like `torch.chunk`.
    pub fn chunk(&self, chunks: usize, dim: isize) -> Result<Vec<Tensor>> {
        if chunks == 0 {
            return Err(Error::InvalidArgument { op: "chunk", msg: "chunks must be positive".into() });
        }
        let n = self.size(dim)?;
        self.split(n.div_ceil(chunks).max(1), dim)
    }

    // ---------------------------------------------------------------- copies

    /// A contiguous tensor: `self` when already contiguous and starting at offset 0 of a buffer of its size,
    /// else a copy.
    pub fn contiguous(&self) -> Result<Tensor> {
        if self.is_contiguous() && self.layout.offset() == 0 && self.read_len() == self.numel() {
            return Ok(self.clone());
        }
        Ok(Tensor::from_storage(self.cpu_storage_contig(), self.shape()))
    }

    fn read_len(&self) -> usize {
        match &*self.read() {
            Storage::Cpu(s) => s.len(),
        }
    }

    /// The elements in row-major order as a fresh CpuStorage.
    pub fn cpu_storage_contig(&self) -> CpuStorage {
        self.with_cpu(|s, l| map_cpu!(s, v => strided::copy(v, l)))
    }

    /// Like `cpu_storage_contig` but moves the buffer out when this tensor owns it alone and is contiguous.
    pub(crate) fn into_cpu_storage_contig(self) -> CpuStorage {
        let whole = self.is_contiguous() && self.layout.offset() == 0 && self.read_len() == self.numel();
        if !whole {
            return self.cpu_storage_contig();
        }
        // Take the buffer itself when no other tensor shares it; otherwise copy.
        let Tensor { storage, layout, dtype, device } = self;
        match Arc::try_unwrap(storage) {
            Ok(lock) => match lock.into_inner().expect("storage lock poisoned") {
                Storage::Cpu(s) => s,
            },
            Err(storage) => Tensor { storage, layout, dtype, device }.cpu_storage_contig(),
        }
    }

    /// A copy that owns fresh storage (PyTorch's `clone()`).
    pub fn deep_clone(&self) -> Tensor {
        Tensor::from_storage(self.cpu_storage_contig(), self.shape())
    }

    /// Copy `src` (broadcast to this shape) into this tensor's elements, in place.
    pub fn copy_(&self, src: &Tensor) -> Result<()> {
        if src.dtype != self.dtype {
            return Err(Error::DType { op: "copy_", got: src.dtype, expected: format!("{} (the destination's dtype)", self.dtype) });
        }
        if self.layout.strides().iter().zip(self.shape()).any(|(&s, &n)| s == 0 && n > 1) {
            return Err(Error::InvalidArgument { op: "copy_", msg: "destination is a broadcast view (stride 0)".into() });
        }
        let src = src.broadcast_to(self.shape())?.cpu_storage_contig();
        let layout = self.layout.clone();
        match &mut *self.write() {
            Storage::Cpu(dst) => match (dst, &src) {
                (CpuStorage::F32(d), CpuStorage::F32(s)) => strided::scatter_into(d, &layout, s),
                (CpuStorage::F64(d), CpuStorage::F64(s)) => strided::scatter_into(d, &layout, s),
                (CpuStorage::F16(d), CpuStorage::F16(s)) => strided::scatter_into(d, &layout, s),
                (CpuStorage::BF16(d), CpuStorage::BF16(s)) => strided::scatter_into(d, &layout, s),
                (CpuStorage::I64(d), CpuStorage::I64(s)) => strided::scatter_into(d, &layout, s),
                (CpuStorage::U8(d), CpuStorage::U8(s)) | (CpuStorage::Bool(d), CpuStorage::Bool(s)) => {
                    strided::scatter_into(d, &layout, s)
                }
                _ => unreachable!("dtypes were checked equal above"),
            },
        }
        Ok(())
    }

    /// Number of bytes of this view's elements.
    pub fn nbytes(&self) -> usize {
        self.numel() * self.dtype.size_in_bytes()
    }

    /// Contiguous strides for this tensor's shape (helper for kernels).
    pub fn contiguous_strides(&self) -> Vec<usize> {
        contiguous_strides(self.shape())
    }

    /// Length of the storage behind this tensor (for memory accounting in tests).
    pub fn storage_len(&self) -> usize {
        self.read_len()
    }

    /// The dtype check used by ops that need two operands of one dtype.
    pub fn same_dtype(&self, other: &Tensor, op: &'static str) -> Result<()> {
        if self.dtype != other.dtype {
            return Err(Error::DType { op, got: other.dtype, expected: format!("{} (the first operand's dtype)", self.dtype) });
        }
        Ok(())
    }
}

/// A read-locked, typed view of a contiguous tensor's elements (see `Tensor::data`).
pub struct TensorData<'a, T> {
    guard: RwLockReadGuard<'a, Storage>,
    range: std::ops::Range<usize>,
    _t: std::marker::PhantomData<T>,
}

impl<T: WithDType> std::ops::Deref for TensorData<'_, T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        match &*self.guard {
            Storage::Cpu(s) => &T::slice(s).expect("dtype checked when the guard was made")[self.range.clone()],
        }
    }
}

pub(crate) fn cuda_unavailable(op: &'static str) -> Error {
    if cfg!(feature = "cuda") {
        Error::Device { op, got: Device::Cuda(0), expected: "cpu: the CUDA backend lands with the CUDA issue".into() }
    } else {
        Error::CudaNotCompiled { op }
    }
}
