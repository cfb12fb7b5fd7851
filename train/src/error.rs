//! wrt-train's error: a tensor/graph failure underneath, a bad optimizer or scheduler setting, a state that
//! does not fit what it is loaded into, a non-finite gradient norm, or bad user input (a file, a dataset, a
//! config key, a checkpoint) named together with what was expected and what was found.

#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    Autograd(wrt_autograd::Error),
    /// An invalid hyperparameter (`what` names it, as PyTorch's ValueError does).
    Config { what: &'static str, msg: String },
    /// A state_dict that does not match the optimizer or scheduler it is loaded into.
    State(String),
    /// `clip_grad_norm_` with `error_if_nonfinite` found a NaN or infinite total norm.
    NonFiniteNorm { norm_type: f64, total: f64 },
    /// A file that cannot be opened, read or written.
    Io { path: String, msg: String },
    /// Data that does not fit its layout: the message names the file, the dataset, what was expected and found.
    Data(String),
    /// A config file or command-line problem: where (file and line when known), the key, what is wrong.
    ConfigKey { file: String, line: Option<usize>, key: String, msg: String },
    /// A checkpoint that cannot be written or used (corrupt, truncated, from another model).
    Checkpoint { path: String, msg: String },
    /// A logger or plot that could not be written.
    Log(String),
    /// A metric fed inconsistent inputs.
    Metric(String),
    /// A module problem: a state_dict that does not fit, a bad layer setting.
    Nn(wrt_nn::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn config(what: &'static str, msg: impl Into<String>) -> Error {
        Error::Config { what, msg: msg.into() }
    }
    pub(crate) fn state(msg: impl Into<String>) -> Error {
        Error::State(msg.into())
    }
    pub fn io(path: impl AsRef<std::path::Path>, e: impl std::fmt::Display) -> Error {
        Error::Io { path: path.as_ref().display().to_string(), msg: e.to_string() }
    }
    pub fn data(msg: impl Into<String>) -> Error {
        Error::Data(msg.into())
    }
    pub fn checkpoint(path: impl AsRef<std::path::Path>, msg: impl Into<String>) -> Error {
        Error::Checkpoint { path: path.as_ref().display().to_string(), msg: msg.into() }
    }
}

impl From<wrt_autograd::Error> for Error {
    fn from(e: wrt_autograd::Error) -> Self {
        Error::Autograd(e)
    }
}

impl From<wrt_nn::Error> for Error {
    fn from(e: wrt_nn::Error) -> Self {
        match e {
            wrt_nn::Error::Autograd(e) => Error::Autograd(e),
            e => Error::Nn(e),
        }
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
            Error::Config { what, msg } => write!(f, "invalid {what}: {msg}"),
            Error::State(m) => write!(f, "state_dict: {m}"),
            Error::NonFiniteNorm { norm_type, total } => write!(
                f,
                "clip_grad_norm_: the total norm of order {norm_type} of the gradients is non-finite ({total}), so it \
                 cannot be clipped; pass error_if_nonfinite=false to scale by it anyway"
            ),
            Error::Io { path, msg } => write!(f, "{path}: {msg}"),
            Error::Data(m) => write!(f, "data: {m}"),
            Error::ConfigKey { file, line, key, msg } => match line {
                Some(l) => write!(f, "{file}:{l}: {key}: {msg}"),
                None => write!(f, "{file}: {key}: {msg}"),
            },
            Error::Checkpoint { path, msg } => write!(f, "checkpoint {path}: {msg}"),
            Error::Log(m) => write!(f, "logger: {m}"),
            Error::Metric(m) => write!(f, "metric: {m}"),
            Error::Nn(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Autograd(e) => Some(e),
            _ => None,
        }
    }
}
