//! Lambda's runtimes, and how each starts on this machine: `provided.*` runs the package's own
//! `bootstrap`; Python and Node run a small runtime client of ours (embedded in the binary)
//! that speaks the Runtime API and calls the handler with Lambda's `event` and `context`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::error::{validation, LambdaError, LambdaResult};

/// Every runtime Lambda's API accepts (botocore's `Runtime` enum).
const LAMBDA_RUNTIMES: &[&str] = &[
    "nodejs",
    "nodejs4.3",
    "nodejs6.10",
    "nodejs8.10",
    "nodejs10.x",
    "nodejs12.x",
    "nodejs14.x",
    "nodejs16.x",
    "java8",
    "java8.al2",
    "java11",
    "python2.7",
    "python3.6",
    "python3.7",
    "python3.8",
    "python3.9",
    "dotnetcore1.0",
    "dotnetcore2.0",
    "dotnetcore2.1",
    "dotnetcore3.1",
    "dotnet6",
    "dotnet8",
    "nodejs4.3-edge",
    "go1.x",
    "ruby2.5",
    "ruby2.7",
    "provided",
    "provided.al2",
    "nodejs18.x",
    "python3.10",
    "java17",
    "ruby3.2",
    "ruby3.3",
    "ruby3.4",
    "python3.11",
    "nodejs20.x",
    "provided.al2023",
    "python3.12",
    "java21",
    "python3.13",
    "nodejs22.x",
    "nodejs24.x",
    "python3.14",
    "java25",
    "dotnet10",
    "ruby4.0",
];

/// Runtimes Lambda no longer lets a function be created or updated with.
const DEPRECATED: &[&str] = &[
    "nodejs",
    "nodejs4.3",
    "nodejs6.10",
    "nodejs8.10",
    "nodejs10.x",
    "nodejs12.x",
    "nodejs14.x",
    "nodejs16.x",
    "nodejs4.3-edge",
    "python2.7",
    "python3.6",
    "python3.7",
    "python3.8",
    "dotnetcore1.0",
    "dotnetcore2.0",
    "dotnetcore2.1",
    "dotnetcore3.1",
    "dotnet6",
    "go1.x",
    "ruby2.5",
    "ruby2.7",
    "java8",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    /// The package's `bootstrap` executable.
    Provided,
    Python,
    Node,
}

/// Checks a runtime as CreateFunction does and says how it runs here.
pub fn parse(name: &str) -> LambdaResult<Runtime> {
    if !LAMBDA_RUNTIMES.contains(&name) {
        return Err(validation(&[format!(
            "Value '{name}' at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: [{}] or be a valid ARN",
            LAMBDA_RUNTIMES.join(", ")
        )]));
    }
    if DEPRECATED.contains(&name) {
        return Err(LambdaError::InvalidParameterValue(format!(
            "The runtime parameter of {name} is no longer supported for creating or updating AWS Lambda functions. We recommend you use a supported runtime while creating or updating functions."
        )));
    }
    if name.starts_with("provided") {
        Ok(Runtime::Provided)
    } else if name.starts_with("python") {
        Ok(Runtime::Python)
    } else if name.starts_with("nodejs") {
        Ok(Runtime::Node)
    } else {
        // Java, .NET and Ruby need runtime clients that no package registry here ships.
        Err(LambdaError::InvalidParameterValue(format!(
            "The runtime parameter of {name} is not supported by dynarock. Supported: provided.al2023, provided.al2, python3.9 to python3.14, nodejs18.x to nodejs24.x"
        )))
    }
}

const PYTHON_BOOTSTRAP: &str = include_str!("bootstrap/python.py");
const NODE_BOOTSTRAP: &str = include_str!("bootstrap/node.mjs");

/// How to start an instance: a program, its arguments, and a note for the log when the
/// interpreter is not the one the runtime names.
pub struct Launch {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub note: Option<String>,
}

/// The runtime clients, written once per process into `dir`, and the interpreter found for
/// each runtime (probed once: a name on the PATH may be a version manager's shim that fails).
pub struct Bootstraps {
    dir: PathBuf,
    interpreters: Mutex<HashMap<String, (PathBuf, Option<String>)>>,
}

impl Bootstraps {
    pub fn install(dir: &Path) -> std::io::Result<Bootstraps> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("python.py"), PYTHON_BOOTSTRAP)?;
        std::fs::write(dir.join("node.mjs"), NODE_BOOTSTRAP)?;
        Ok(Bootstraps {
            dir: dir.to_path_buf(),
            interpreters: Mutex::new(HashMap::new()),
        })
    }

    pub fn launch(&self, runtime_name: &str, code: &Path) -> Launch {
        let client = match parse_known(runtime_name) {
            Runtime::Provided => {
                return Launch {
                    program: code.join("bootstrap"),
                    args: vec![],
                    note: None,
                }
            }
            Runtime::Python => vec!["-u".into(), self.path("python.py")],
            Runtime::Node => vec![self.path("node.mjs")],
        };
        let (program, note) = self.interpreter(runtime_name);
        Launch {
            program,
            args: client,
            note,
        }
    }

    fn path(&self, file: &str) -> String {
        self.dir.join(file).to_string_lossy().into_owned()
    }

    /// `python3.12` or `node` of the runtime's version where one runs here; the machine's
    /// `python3` or `node` otherwise, with a note for the log.
    fn interpreter(&self, runtime_name: &str) -> (PathBuf, Option<String>) {
        let mut cache = self.interpreters.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .entry(runtime_name.to_string())
            .or_insert_with(|| find_interpreter(runtime_name))
            .clone()
    }
}

fn find_interpreter(runtime_name: &str) -> (PathBuf, Option<String>) {
    let (exact, fallback, wanted) = match runtime_name.strip_prefix("nodejs") {
        Some(v) => {
            let major = v.trim_end_matches(".x").to_string();
            (format!("node{major}"), "node", major)
        }
        None => (runtime_name.to_string(), "python3", String::new()),
    };
    if version_of(&exact).is_some() {
        return (PathBuf::from(exact), None);
    }
    let installed = version_of(fallback).unwrap_or_else(|| "(not found)".into());
    // The machine's node may be the very version asked for.
    let same =
        !wanted.is_empty() && installed.trim_start_matches('v').split('.').next() == Some(&wanted);
    let note = (!same).then(|| {
        format!(
            "{runtime_name} is not installed here: running on the machine's {fallback} {installed}"
        )
    });
    (PathBuf::from(fallback), note)
}

/// What `program --version` prints, if it runs.
fn version_of(program: &str) -> Option<String> {
    let out = std::process::Command::new(program)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let text = if out.stdout.is_empty() {
        out.stderr
    } else {
        out.stdout
    };
    Some(String::from_utf8_lossy(&text).trim().to_string())
}

/// A stored runtime was validated when it was stored.
fn parse_known(name: &str) -> Runtime {
    if name.starts_with("python") {
        Runtime::Python
    } else if name.starts_with("nodejs") {
        Runtime::Node
    } else {
        Runtime::Provided
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtimes_are_checked_as_lambda_checks_them() {
        assert_eq!(parse("python3.12").unwrap(), Runtime::Python);
        assert_eq!(parse("nodejs20.x").unwrap(), Runtime::Node);
        assert_eq!(parse("provided.al2023").unwrap(), Runtime::Provided);
        assert!(
            matches!(parse("cobol"), Err(LambdaError::Validation(m)) if m.starts_with("1 validation error detected: Value 'cobol' at 'runtime'"))
        );
        assert!(
            matches!(parse("python2.7"), Err(LambdaError::InvalidParameterValue(m)) if m.contains("no longer supported"))
        );
    }
}
