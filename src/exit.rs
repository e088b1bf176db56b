//! SPEC's exit codes, and the error that carries one up to `main`.
//!
//! Library code returns typed errors; the command layer decides which exit code a failure
//! means and wraps it in [`Exit`]. Anything else that reaches `main` is a runtime error (1).

use std::fmt;

/// Exit codes fixed by SPEC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Code {
    Ok = 0,
    Runtime = 1,
    Usage = 2,
    Refused = 3,
    VerifyFailed = 4,
}

/// A failure whose exit code is already decided, with the message for the operator.
#[derive(Debug)]
pub struct Exit {
    pub code: Code,
    pub message: String,
}

impl Exit {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Exit {
            code,
            message: message.into(),
        }
    }

    /// Bad flags, bad values, bad config: exit 2.
    pub fn usage(message: impl Into<String>) -> Self {
        Exit::new(Code::Usage, message)
    }

    /// A safety guard refused to delete: exit 3.
    pub fn refused(message: impl Into<String>) -> Self {
        Exit::new(Code::Refused, message)
    }

    /// A verification found a mismatch: exit 4.
    pub fn verify_failed(message: impl Into<String>) -> Self {
        Exit::new(Code::VerifyFailed, message)
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Exit {}
