//! The CLI's error: usage and config mistakes exit with 2 (as clap's own usage errors do), failures while
//! running with 1. Printed as `error: ...` followed by the causes, one per line.

use std::fmt;

#[derive(Debug)]
pub enum CliError {
    /// Bad arguments (already rendered by clap, or our own message).
    Usage(String),
    /// A config file or flag value that does not validate.
    Config(wrt_train::Error),
    /// Something failed while running (training, reading a file to inspect, a child process).
    Runtime(wrt_train::Error),
    /// A plain runtime message.
    Failed(String),
}

impl CliError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) | CliError::Config(_) => 2,
            CliError::Runtime(_) | CliError::Failed(_) => 1,
        }
    }

    /// The message and its causes, as printed.
    pub fn report(&self) -> String {
        let mut out = match self {
            // clap's rendering already starts with "error:".
            CliError::Usage(m) if m.starts_with("error:") => return m.trim_end().to_string(),
            _ => format!("error: {self}"),
        };
        let mut source = match self {
            CliError::Config(e) | CliError::Runtime(e) => std::error::Error::source(e),
            _ => None,
        };
        while let Some(s) = source {
            out += &format!("\n  caused by: {s}");
            source = s.source();
        }
        out
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(m) | CliError::Failed(m) => write!(f, "{m}"),
            CliError::Config(e) | CliError::Runtime(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for CliError {}
