//! Layout = shape + strides + offset (in elements). Every view op is a pure function of the layout:
//! no data moves. Strides are non-negative (no flip views); a broadcast dimension has stride 0.

use crate::{Error, Result};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    shape: Vec<usize>,
    strides: Vec<usize>,
    offset: usize,
}

/// Row-major (C-order) strides of a shape.
pub fn contiguous_strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![0; shape.len()];
    let mut acc = 1;
    for i in (0..shape.len()).rev() {
        strides[i] = acc;
        acc *= shape[i];
    }
    strides
}

/// Normalise a possibly negative dim for a tensor of `rank` dims.
pub fn norm_dim(op: &'static str, dim: isize, rank: usize) -> Result<usize> {
    let r = rank as isize;
    let d = if dim < 0 { dim + r } else { dim };
    if d < 0 || d >= r {
        return Err(Error::DimOutOfRange { op, dim, rank });
    }
    Ok(d as usize)
}

/// Normalise a list of dims; duplicates are an error. An empty list means "all dims".
pub fn norm_dims(op: &'static str, dims: &[isize], rank: usize) -> Result<Vec<usize>> {
    if dims.is_empty() {
        return Ok((0..rank).collect());
    }
    let mut out = Vec::with_capacity(dims.len());
    for &d in dims {
        let d = norm_dim(op, d, rank)?;
        if out.contains(&d) {
            return Err(Error::InvalidArgument { op, msg: format!("dimension {d} appears more than once in {dims:?}") });
        }
        out.push(d);
    }
    out.sort_unstable();
    Ok(out)
}

/// NumPy broadcasting of two shapes.
pub fn broadcast_shapes(op: &'static str, a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let rank = a.len().max(b.len());
    let mut out = vec![0; rank];
    for i in 0..rank {
        let da = if i < rank - a.len() { 1 } else { a[i - (rank - a.len())] };
        let db = if i < rank - b.len() { 1 } else { b[i - (rank - b.len())] };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => {
                return Err(Error::ShapeMismatch {
                    op,
                    lhs: a.to_vec(),
                    rhs: b.to_vec(),
                    expected: format!("equal sizes or 1 in dimension {i} (from the right: {})", rank - i),
                })
            }
        };
    }
    Ok(out)
}

impl Layout {
    pub fn contiguous(shape: &[usize]) -> Layout {
        Layout { shape: shape.to_vec(), strides: contiguous_strides(shape), offset: 0 }
    }

    pub fn new(shape: Vec<usize>, strides: Vec<usize>, offset: usize) -> Layout {
        assert_eq!(shape.len(), strides.len(), "layout invariant: shape and strides have the same rank");
        Layout { shape, strides, offset }
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
    pub fn strides(&self) -> &[usize] {
        &self.strides
    }
    pub fn offset(&self) -> usize {
        self.offset
    }
    pub fn rank(&self) -> usize {
        self.shape.len()
    }
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// True when the elements are laid out in row-major order without gaps (size-1 dims may have any stride).
    pub fn is_contiguous(&self) -> bool {
        let mut acc = 1;
        for i in (0..self.shape.len()).rev() {
            if self.shape[i] != 1 && self.strides[i] != acc {
                return false;
            }
            acc *= self.shape[i];
        }
        true
    }

    /// For a contiguous layout: the range of storage it covers.
    pub fn contiguous_range(&self) -> Option<std::ops::Range<usize>> {
        self.is_contiguous().then(|| self.offset..self.offset + self.numel())
    }

    /// One past the largest storage index touched (0 for an empty tensor).
    pub fn storage_extent(&self) -> usize {
        if self.numel() == 0 {
            return self.offset;
        }
        self.offset + self.shape.iter().zip(&self.strides).map(|(&n, &s)| (n - 1) * s).sum::<usize>() + 1
    }

    /// View with a new shape; fails (NeedsCopy) when the strides cannot express it, like `torch.view`.
    /// One dim may be -1 (inferred).
    pub fn view(&self, op: &'static str, target: &[isize]) -> Result<Layout> {
        let shape = infer_shape(op, target, self.numel())?;
        if self.is_contiguous() {
            return Ok(Layout { strides: contiguous_strides(&shape), shape, offset: self.offset });
        }
        match view_strides(&self.shape, &self.strides, &shape) {
            Some(strides) => Ok(Layout { shape, strides, offset: self.offset }),
            None => Err(Error::NeedsCopy { op, shape: self.shape.clone(), strides: self.strides.clone(), target: shape }),
        }
    }

    pub fn permute(&self, dims: &[isize]) -> Result<Layout> {
        let rank = self.rank();
        if dims.len() != rank {
            return Err(Error::InvalidArgument {
                op: "permute",
                msg: format!("got {} dims {dims:?} for a tensor of rank {rank}", dims.len()),
            });
        }
        let mut seen = vec![false; rank];
        let mut shape = Vec::with_capacity(rank);
        let mut strides = Vec::with_capacity(rank);
        for &d in dims {
            let d = norm_dim("permute", d, rank)?;
            if seen[d] {
                return Err(Error::InvalidArgument { op: "permute", msg: format!("dimension {d} repeated in {dims:?}") });
            }
            seen[d] = true;
            shape.push(self.shape[d]);
            strides.push(self.strides[d]);
        }
        Ok(Layout { shape, strides, offset: self.offset })
    }

    pub fn transpose(&self, a: isize, b: isize) -> Result<Layout> {
        let a = norm_dim("transpose", a, self.rank())?;
        let b = norm_dim("transpose", b, self.rank())?;
        let mut l = self.clone();
        l.shape.swap(a, b);
        l.strides.swap(a, b);
        Ok(l)
    }

    /// Elements `start, start+step, ...` below `end` along `dim` (Python's `x[start:end:step]`, clamped like Python).
    pub fn slice(&self, dim: isize, start: isize, end: isize, step: usize) -> Result<Layout> {
        let d = norm_dim("slice", dim, self.rank())?;
        if step == 0 {
            return Err(Error::InvalidArgument { op: "slice", msg: "step must be positive".into() });
        }
        let n = self.shape[d] as isize;
        let clamp = |i: isize| if i < 0 { (i + n).max(0) } else { i.min(n) };
        let (s, e) = (clamp(start), clamp(end));
        let len = if e > s { ((e - s) as usize).div_ceil(step) } else { 0 };
        let mut l = self.clone();
        if len > 0 {
            l.offset += s as usize * self.strides[d];
        }
        l.shape[d] = len;
        l.strides[d] *= step;
        Ok(l)
    }

    /// `length` elements from `start` along `dim`; out of range is an error (PyTorch's `narrow`).
    pub fn narrow(&self, dim: isize, start: usize, length: usize) -> Result<Layout> {
        let d = norm_dim("narrow", dim, self.rank())?;
        if start + length > self.shape[d] {
            return Err(Error::InvalidArgument {
                op: "narrow",
                msg: format!("start {start} + length {length} exceeds size {} of dimension {d}", self.shape[d]),
            });
        }
        let mut l = self.clone();
        if length > 0 {
            l.offset += start * self.strides[d];
        }
        l.shape[d] = length;
        Ok(l)
    }

    /// Drop `dim` by selecting index `i` (like `x[:, i]`).
    pub fn select(&self, dim: isize, i: usize) -> Result<Layout> {
        let d = norm_dim("select", dim, self.rank())?;
        if i >= self.shape[d] {
            return Err(Error::IndexOutOfBounds { op: "select", index: i as i64, size: self.shape[d] });
        }
        let mut l = self.clone();
        l.offset += i * self.strides[d];
        l.shape.remove(d);
        l.strides.remove(d);
        Ok(l)
    }

    /// Remove size-1 dims: all of them (`dims` empty) or the listed ones (a listed dim of size != 1 is kept, like PyTorch).
    pub fn squeeze(&self, dims: &[isize]) -> Result<Layout> {
        let which = if dims.is_empty() {
            (0..self.rank()).filter(|&i| self.shape[i] == 1).collect::<Vec<_>>()
        } else {
            norm_dims("squeeze", dims, self.rank())?.into_iter().filter(|&i| self.shape[i] == 1).collect()
        };
        let mut l = Layout { shape: vec![], strides: vec![], offset: self.offset };
        for i in 0..self.rank() {
            if !which.contains(&i) {
                l.shape.push(self.shape[i]);
                l.strides.push(self.strides[i]);
            }
        }
        Ok(l)
    }

    pub fn unsqueeze(&self, dim: isize) -> Result<Layout> {
        let d = norm_dim("unsqueeze", dim, self.rank() + 1)?;
        let mut l = self.clone();
        let stride = if d < self.rank() { self.strides[d] * self.shape[d] } else { 1 };
        l.shape.insert(d, 1);
        l.strides.insert(d, stride);
        Ok(l)
    }

    /// Broadcast to `shape` (new leading dims, size-1 dims stretched with stride 0).
    pub fn broadcast_to(&self, shape: &[usize]) -> Result<Layout> {
        let r = shape.len();
        if r < self.rank() {
            return Err(Error::ShapeMismatch {
                op: "broadcast_to",
                lhs: self.shape.clone(),
                rhs: shape.to_vec(),
                expected: "a target of at least the same rank".into(),
            });
        }
        let lead = r - self.rank();
        let mut strides = vec![0; r];
        for i in 0..self.rank() {
            let (have, want) = (self.shape[i], shape[lead + i]);
            strides[lead + i] = if have == want {
                self.strides[i]
            } else if have == 1 {
                0
            } else {
                return Err(Error::ShapeMismatch {
                    op: "broadcast_to",
                    lhs: self.shape.clone(),
                    rhs: shape.to_vec(),
                    expected: format!("size {want} or 1 in dimension {}", lead + i),
                });
            };
        }
        Ok(Layout { shape: shape.to_vec(), strides, offset: self.offset })
    }

    /// PyTorch `expand`: -1 keeps a dim's size.
    pub fn expand(&self, sizes: &[isize]) -> Result<Layout> {
        let lead = sizes.len().checked_sub(self.rank()).ok_or_else(|| Error::InvalidArgument {
            op: "expand",
            msg: format!("{} sizes given for a tensor of rank {}", sizes.len(), self.rank()),
        })?;
        let mut shape = Vec::with_capacity(sizes.len());
        for (i, &s) in sizes.iter().enumerate() {
            shape.push(if s == -1 && i >= lead {
                self.shape[i - lead]
            } else if s < 0 {
                return Err(Error::InvalidArgument { op: "expand", msg: format!("size {s} at dimension {i}") });
            } else {
                s as usize
            });
        }
        self.broadcast_to(&shape)
    }

    /// Merge dims `start..=end` into one (a view when possible).
    pub fn flatten(&self, start: isize, end: isize) -> Result<Layout> {
        if self.rank() == 0 {
            return self.view("flatten", &[1]);
        }
        let s = norm_dim("flatten", start, self.rank())?;
        let e = norm_dim("flatten", end, self.rank())?;
        if s > e {
            return Err(Error::InvalidArgument { op: "flatten", msg: format!("start dim {s} after end dim {e}") });
        }
        let mut target: Vec<isize> = self.shape[..s].iter().map(|&x| x as isize).collect();
        target.push(self.shape[s..=e].iter().product::<usize>() as isize);
        target.extend(self.shape[e + 1..].iter().map(|&x| x as isize));
        self.view("flatten", &target)
    }

    /// Storage offset of a multi-index.
    pub fn offset_of(&self, index: &[usize]) -> usize {
        self.offset + index.iter().zip(&self.strides).map(|(i, s)| i * s).sum::<usize>()
    }
}

/// Resolve a target shape with at most one -1 against a known element count.
pub fn infer_shape(op: &'static str, target: &[isize], numel: usize) -> Result<Vec<usize>> {
    let mut infer = None;
    let mut known = 1usize;
    for (i, &s) in target.iter().enumerate() {
        if s == -1 {
            if infer.replace(i).is_some() {
                return Err(Error::InvalidArgument { op, msg: format!("only one dimension can be -1 in {target:?}") });
            }
        } else if s < 0 {
            return Err(Error::InvalidArgument { op, msg: format!("invalid size {s} in {target:?}") });
        } else {
            known *= s as usize;
        }
    }
    let mut shape: Vec<usize> = target.iter().map(|&s| s.max(0) as usize).collect();
    if let Some(i) = infer {
        if known == 0 || numel % known != 0 {
            return Err(Error::BadShape { op, shape: shape.clone(), expected: format!("a shape with {numel} elements") });
        }
        shape[i] = numel / known;
    } else if known != numel {
        return Err(Error::BadShape { op, shape, expected: format!("a shape with {numel} elements") });
    }
    Ok(shape)
}

/// Strides for viewing (shape, strides) as `target` without a copy, if possible
/// (the algorithm of PyTorch's `computeStride`: each group of merged/split dims must be contiguous within itself).
fn view_strides(shape: &[usize], strides: &[usize], target: &[usize]) -> Option<Vec<usize>> {
    let numel: usize = shape.iter().product();
    let mut out = vec![0; target.len()];
    if numel == 0 {
        return Some(contiguous_strides(target));
    }
    let mut view_d = target.len() as isize - 1;
    let mut chunk_base_stride = *strides.last().unwrap_or(&1);
    let mut tensor_numel = 1usize;
    let mut view_numel = 1usize;
    for tensor_d in (0..shape.len()).rev() {
        tensor_numel *= shape[tensor_d];
        if tensor_d == 0 || (shape[tensor_d - 1] != 1 && strides[tensor_d - 1] != tensor_numel * chunk_base_stride) {
            while view_d >= 0 && (view_numel < tensor_numel || target[view_d as usize] == 1) {
                out[view_d as usize] = view_numel * chunk_base_stride;
                view_numel *= target[view_d as usize];
                view_d -= 1;
            }
            if view_numel != tensor_numel {
                return None;
            }
            if tensor_d > 0 {
                chunk_base_stride = strides[tensor_d - 1];
                tensor_numel = 1;
                view_numel = 1;
            }
        }
    }
    if view_d != -1 {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_of_transposed_needs_copy() {
        let l = Layout::contiguous(&[2, 3]).transpose(0, 1).unwrap();
        assert!(!l.is_contiguous());
        assert!(matches!(l.view("view", &[6]), Err(Error::NeedsCopy { .. })));
        // splitting a dim of a permuted tensor is still a view
        let l = Layout::contiguous(&[4, 6]).transpose(0, 1).unwrap(); // [6,4] strides [1,6]
        let v = l.view("view", &[2, 3, 4]).unwrap();
        assert_eq!(v.strides(), &[3, 1, 6]);
    }

    #[test]
    fn slice_step_and_narrow() {
        let l = Layout::contiguous(&[10]).slice(0, 1, 8, 3).unwrap();
        assert_eq!((l.shape(), l.strides(), l.offset()), (&[3][..], &[3][..], 1));
        let l = Layout::contiguous(&[4, 5]).narrow(1, 2, 3).unwrap();
        assert_eq!((l.shape(), l.strides(), l.offset()), (&[4, 3][..], &[5, 1][..], 2));
        assert!(Layout::contiguous(&[4, 5]).narrow(1, 3, 3).is_err());
    }

    #[test]
    fn broadcasting() {
        assert_eq!(broadcast_shapes("t", &[3, 1, 5], &[4, 1]).unwrap(), vec![3, 4, 5]);
        assert!(broadcast_shapes("t", &[3], &[4]).is_err());
        let l = Layout::contiguous(&[3, 1]).broadcast_to(&[2, 3, 4]).unwrap();
        assert_eq!(l.strides(), &[0, 1, 0]);
    }

    #[test]
    fn squeeze_unsqueeze_flatten() {
        let l = Layout::contiguous(&[2, 1, 3]);
        assert_eq!(l.squeeze(&[]).unwrap().shape(), &[2, 3]);
        assert_eq!(l.squeeze(&[0]).unwrap().shape(), &[2, 1, 3]);
        assert_eq!(l.unsqueeze(-1).unwrap().shape(), &[2, 1, 3, 1]);
        assert_eq!(l.flatten(0, -1).unwrap().shape(), &[6]);
        assert!(infer_shape("v", &[-1, 4], 6).is_err());
        assert_eq!(infer_shape("v", &[-1, 3], 6).unwrap(), vec![2, 3]);
    }
}
