//! Load errors: every problem names the file, the line and the field.

use std::fmt;
use std::path::PathBuf;

/// One problem found in a policy file, printed as
/// `samples/policies/david.yaml:14: spec.actions[1].verbs[2]: unknown verb "exce" (did you mean "exec"?)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file as it was named to the loader.
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// Field path such as `spec.actions[1].verbs[2]`; empty for syntax errors.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        f.write_str(": ")?;
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

/// Why a policy set could not be loaded. A set with any error is rejected
/// whole: it is never partly applied.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A file or directory could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// One or more files are invalid; all problems found are listed.
    #[error("{}", Diagnostics(.0))]
    Invalid(Vec<Diagnostic>),
}

struct Diagnostics<'a>(&'a [Diagnostic]);

impl fmt::Display for Diagnostics<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl LoadError {
    /// The diagnostics, if this is a validation error.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            LoadError::Invalid(d) => d,
            LoadError::Io { .. } => &[],
        }
    }
}
