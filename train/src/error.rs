//! wrt-train's error: a tensor/graph failure underneath, a bad optimizer or scheduler setting, a state that
//! does not fit what it is loaded into, or a non-finite gradient norm.

#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    Autograd(wrt_autograd::Error),
    /// An invalid hyperparameter (`what` names it, as PyTorch's ValueError does).
    Config { what: &'static str, msg: String },
    /// A state_dict that does not match the optimizer or scheduler it is loaded into.
    State(String),
    /// `clip_grad_norm_` with `error_if_nonfinite` found a NaN or infinite total norm.
    NonFiniteNorm { norm_type: f64, total: f64 },
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn config(what: &'static str, msg: impl Into<String>) -> Error {
        Error::Config { what, msg: msg.into() }
    }
    pub(crate) fn state(msg: impl Into<String>) -> Error {
        Error::State(msg.into())
    }
}

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
            Error::Config { what, msg } => write!(f, "invalid {what}: {msg}"),
            Error::State(m) => write!(f, "state_dict: {m}"),
            Error::NonFiniteNorm { norm_type, total } => write!(
                f,
                "clip_grad_norm_: the total norm of order {norm_type} of the gradients is non-finite ({total}), so it \
                 cannot be clipped; pass error_if_nonfinite=false to scale by it anyway"
            ),
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
