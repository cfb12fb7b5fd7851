//! wrt-autograd's error: a tensor error from an op, or a misuse of the graph.

#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    Tensor(wrt_tensor::Error),
    /// Backward twice through a freed graph, non-scalar backward without a gradient, ...
    Graph(String),
    /// An error raised while running the backward rule of `op`.
    InBackward { op: &'static str, source: Box<Error> },
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn context(self, op: &'static str) -> Error {
        Error::InBackward { op, source: Box::new(self) }
    }
}

impl From<wrt_tensor::Error> for Error {
    fn from(e: wrt_tensor::Error) -> Self {
        Error::Tensor(e)
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Tensor(e) => write!(f, "{e}"),
            Error::Graph(m) => write!(f, "autograd: {m}"),
            Error::InBackward { op, source } => write!(f, "in the backward of '{op}': {source}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Tensor(e) => Some(e),
            Error::InBackward { source, .. } => Some(source.as_ref()),
            Error::Graph(_) => None,
        }
    }
}
