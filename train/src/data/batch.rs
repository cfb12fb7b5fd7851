//! A batch: the named fields of several samples stacked on a new dim 0, plus the dataset indices they came
//! from (for predictions written next to their inputs, and for tests of the sampling order).

use crate::{Error, Result};
use wrt_tensor::Tensor;

/// One sample: named tensors, in the order the dataset lists them.
pub type Sample = Vec<(String, Tensor)>;

#[derive(Clone, Debug)]
pub struct Batch {
    pub fields: Vec<(String, Tensor)>,
    pub indices: Vec<usize>,
}

impl Batch {
    /// The field called `name`; the error lists the fields that exist.
    pub fn get(&self, name: &str) -> Result<&Tensor> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, t)| t).ok_or_else(|| {
            let have: Vec<&str> = self.fields.iter().map(|(n, _)| n.as_str()).collect();
            Error::data(format!("batch has no field '{name}' (it has: {})", have.join(", ")))
        })
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.indices.len()
    }

    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    pub fn names(&self) -> Vec<&str> {
        self.fields.iter().map(|(n, _)| n.as_str()).collect()
    }
}

/// Stack samples (each with its dataset index) into a batch. Every sample must have the same field names in
/// the same order, and a field the same shape and dtype in every sample.
pub fn collate(samples: Vec<(usize, Sample)>) -> Result<Batch> {
    let Some((first_index, first)) = samples.first() else {
        return Err(Error::data("cannot collate an empty list of samples into a batch"));
    };
    let names: Vec<String> = first.iter().map(|(n, _)| n.clone()).collect();
    let mut columns: Vec<Vec<Tensor>> = vec![Vec::with_capacity(samples.len()); names.len()];
    let mut indices = Vec::with_capacity(samples.len());
    for (index, sample) in samples.iter() {
        let these: Vec<&str> = sample.iter().map(|(n, _)| n.as_str()).collect();
        if these != names.iter().map(String::as_str).collect::<Vec<_>>() {
            return Err(Error::data(format!(
                "sample {index} has fields [{}] but sample {first_index} has [{}]; a batch needs the same fields in every sample",
                these.join(", "),
                names.join(", ")
            )));
        }
        for (k, (name, t)) in sample.iter().enumerate() {
            let head = &first[k].1;
            if t.shape() != head.shape() || t.dtype() != head.dtype() {
                return Err(Error::data(format!(
                    "field '{name}' is {:?} {} in sample {index} but {:?} {} in sample {first_index}; samples of a batch must agree",
                    t.shape(),
                    t.dtype(),
                    head.shape(),
                    head.dtype()
                )));
            }
            columns[k].push(t.clone());
        }
        indices.push(*index);
    }
    let mut fields = Vec::with_capacity(names.len());
    for (name, col) in names.into_iter().zip(columns) {
        fields.push((name, Tensor::stack(&col, 0)?));
    }
    Ok(Batch { fields, indices })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(v: f32) -> Sample {
        vec![
            ("x".to_string(), Tensor::from_vec(vec![v, v + 1.0], &[2]).unwrap()),
            ("y".to_string(), Tensor::scalar(v as i64)),
        ]
    }

    #[test]
    fn stacks_fields_on_dim0_and_names_missing_field() {
        let b = collate(vec![(3, sample(1.0)), (7, sample(5.0))]).unwrap();
        assert_eq!(b.len(), 2);
        assert_eq!(b.indices, vec![3, 7]);
        assert_eq!(b.get("x").unwrap().shape(), &[2, 2]);
        assert_eq!(b.get("x").unwrap().to_vec::<f32>().unwrap(), vec![1.0, 2.0, 5.0, 6.0]);
        assert_eq!(b.get("y").unwrap().to_vec::<i64>().unwrap(), vec![1, 5]);
        let e = b.get("label").unwrap_err().to_string();
        assert!(e.contains("'label'") && e.contains("x, y"), "{e}");
    }

    #[test]
    fn mismatched_samples_are_errors() {
        let mut odd = sample(2.0);
        odd[0].1 = Tensor::from_vec(vec![1f32, 2.0, 3.0], &[3]).unwrap();
        assert!(collate(vec![(0, sample(1.0)), (1, odd)]).unwrap_err().to_string().contains("field 'x'"));
        let renamed = vec![("z".to_string(), Tensor::scalar(1f32))];
        assert!(collate(vec![(0, sample(1.0)), (1, renamed)]).is_err());
        assert!(collate(vec![]).is_err());
    }
}
