//! wrt-nn's error: an op failure, or a state_dict that does not fit the module.

#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    Autograd(wrt_autograd::Error),
    /// Keys of a state_dict that the module lacks or that the state_dict lacks (strict loading).
    Keys { missing: Vec<String>, unexpected: Vec<String> },
    /// A tensor whose shape or dtype differs from the module's.
    Mismatch { key: String, expected: String, found: String },
    Config(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl From<wrt_autograd::Error> for Error {
    fn from(e: wrt_autograd::Error) -> Self {
        Error::Autograd(e)
    }
}

impl From<wrt_tensor::Error> for Error {
    fn from(e: wrt_tensor::Error) -> Self {
        Error::Autograd(e.into())
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Autograd(e) => write!(f, "{e}"),
            Error::Keys { missing, unexpected } => {
                write!(f, "state_dict does not match the model:")?;
                if !missing.is_empty() {
                    write!(f, " missing keys {missing:?}")?;
                }
                if !unexpected.is_empty() {
                    write!(f, " unexpected keys {unexpected:?}")?;
                }
                Ok(())
            }
            Error::Mismatch { key, expected, found } => write!(f, "state_dict entry '{key}': expected {expected}, found {found}"),
            Error::Config(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for Error {}
