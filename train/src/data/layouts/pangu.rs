//! Gridded forecast (Pangu): `surface` [T, Cs, H, W] float, optional `upper` [T, Cu, Z, H, W] float (absent
//! for surface-only data such as the SuperDARN convection maps), optional `lat` [H] (degrees) for
//! latitude-weighted metrics. Sample `i` is the state at step i with the next `steps` states as targets:
//! `surface` [Cs, H, W], `upper` [Cu, Z, H, W], `target_surface` [S, Cs, H, W], `target_upper`
//! [S, Cu, Z, H, W] (S = steps, default 1), all f32, normalised per surface variable and per (upper
//! variable, level).

use super::{read_float, Norm, OpenOptions};
use crate::data::h5::{ElemKind, H5Array, H5File};
use crate::data::{check_index, FieldInfo, Sample};
use crate::{Error, Result};
use std::path::Path;
use wrt_tensor::DType;

#[derive(Clone, Debug)]
pub struct PanguOptions {
    /// Number of future steps in the targets (a multi-step rollout trains on S > 1).
    pub steps: usize,
}

impl Default for PanguOptions {
    fn default() -> Self {
        PanguOptions { steps: 1 }
    }
}

pub struct PanguDataset {
    file: H5File,
    surface: H5Array,
    upper: Option<H5Array>,
    lat: Option<Vec<f32>>,
    steps: usize,
    norm: Norm,
}

impl PanguDataset {
    pub fn open(path: &Path, opts: &OpenOptions) -> Result<PanguDataset> {
        let file = H5File::open(path)?;
        let surface = file.array("surface", ElemKind::Float, &["T", "Cs", "H", "W"])?;
        let upper = file.optional_array("upper", ElemKind::Float, &["T", "Cu", "Z", "H", "W"])?;
        if let Some(u) = &upper {
            surface.same_dim(0, u, 0, "the number of time steps T")?;
            surface.same_dim(2, u, 3, "the grid height H")?;
            surface.same_dim(3, u, 4, "the grid width W")?;
        }
        let lat = match file.optional_array("lat", ElemKind::Float, &["H"])? {
            Some(l) => {
                l.expect_dim(0, surface.shape()[2], "the grid height H of 'surface'")?;
                let v = l.read_f32(&[0], l.shape())?;
                if let Some(bad) = v.iter().find(|x| !(-90.0..=90.0).contains(*x)) {
                    return Err(Error::data(format!("{}: dataset 'lat': {bad} is not a latitude in degrees [-90, 90]", path.display())));
                }
                Some(v)
            }
            None => None,
        };
        let t = surface.shape()[0];
        let steps = opts.pangu.steps;
        if steps == 0 || t <= steps {
            return Err(Error::data(format!(
                "{}: dataset 'surface': {steps}-step targets need more than {steps} time steps, found T = {t}",
                path.display()
            )));
        }
        let mut arrays = vec![(&surface, 1, 1, None)];
        if let Some(u) = &upper {
            arrays.push((u, 1, 2, None));
        }
        let norm = Norm::prepare(&file, opts, &arrays)?;
        Ok(PanguDataset { file, surface, upper, lat, steps, norm })
    }

    /// Latitudes in degrees, if the file has them.
    pub fn lat(&self) -> Option<&[f32]> {
        self.lat.as_deref()
    }

    /// cos(latitude) weights normalised to mean 1 (the weighting of latitude-weighted RMSE and ACC).
    pub fn lat_weights(&self) -> Option<Vec<f32>> {
        let lat = self.lat.as_ref()?;
        let w: Vec<f64> = lat.iter().map(|d| (*d as f64).to_radians().cos()).collect();
        let mean = w.iter().sum::<f64>() / w.len().max(1) as f64;
        Some(w.iter().map(|x| if mean > 0.0 { (x / mean) as f32 } else { 1.0 }).collect())
    }

    pub fn has_upper(&self) -> bool {
        self.upper.is_some()
    }
    pub fn steps(&self) -> usize {
        self.steps
    }
    pub fn stats(&self) -> Option<&crate::data::NormStats> {
        self.norm.stats()
    }
}

impl crate::data::Dataset for PanguDataset {
    fn len(&self) -> usize {
        self.surface.shape()[0] - self.steps
    }

    fn get(&self, index: usize, _epoch: u64) -> Result<Sample> {
        check_index(&format!("{} (pangu)", self.file.path().display()), index, self.len())?;
        let s = self.steps;
        let ss = &self.surface.shape()[1..];
        let mut out = vec![("surface".to_string(), read_float(&self.surface, &self.norm, index, 1, ss)?)];
        let mut target = vec![("target_surface".to_string(), read_float(&self.surface, &self.norm, index + 1, s, &[&[s], ss].concat())?)];
        if let Some(u) = &self.upper {
            let us = &u.shape()[1..];
            out.push(("upper".into(), read_float(u, &self.norm, index, 1, us)?));
            target.push(("target_upper".into(), read_float(u, &self.norm, index + 1, s, &[&[s], us].concat())?));
        }
        out.extend(target);
        Ok(out)
    }

    fn fields(&self) -> Vec<FieldInfo> {
        let s = self.steps;
        let ss = &self.surface.shape()[1..];
        let mut v = vec![FieldInfo::new("surface", ss, DType::F32)];
        let mut t = vec![FieldInfo::new("target_surface", &[&[s], ss].concat(), DType::F32)];
        if let Some(u) = &self.upper {
            let us = &u.shape()[1..];
            v.push(FieldInfo::new("upper", us, DType::F32));
            t.push(FieldInfo::new("target_upper", &[&[s], us].concat(), DType::F32));
        }
        v.extend(t);
        v
    }
}
