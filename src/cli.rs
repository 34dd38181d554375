//! Command line: clap's raw [`Args`], then validated [`Settings`] (two steps,
//! as ripgrep's `LowArgs`/`HiArgs`), so tests compare whole values.
//!
//! Every flag can also be set from the environment as `PROBE_<FLAG>`, which
//! is how the DaemonSet configures the probe. Nothing here touches the
//! network or the node's files, except reading the password from stdin.

use crate::platform::Platform;
use crate::reference::Reference;
use crate::secret::Secret;
use clap::{Parser, Subcommand};
use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

/// Probe container registries from this node the way its runtime would, and
/// say why an image cannot be pulled.
#[derive(Debug, Parser)]
#[command(name = "probe", version, about, long_about = None, max_term_width = 100)]
pub struct Args {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Probe this registry: DNS, TCP, TLS, /v2/ ping, auth (repeatable).
    #[arg(long, value_name = "HOST[:PORT]", env = "PROBE_REGISTRY", value_delimiter = ',', global = true)]
    pub registry: Vec<String>,

    /// Probe the whole chain for this image, through manifest, platform and blob (repeatable).
    #[arg(long, value_name = "REF", env = "PROBE_IMAGE", value_delimiter = ',', global = true)]
    pub image: Vec<String>,

    /// Print the JSON report instead of the human view.
    #[arg(long, env = "PROBE_JSON", global = true)]
    pub json: bool,

    /// The node's root file system: every node file is read under it.
    #[arg(long, value_name = "DIR", env = "PROBE_ROOT", default_value = "/", global = true)]
    pub root: PathBuf,

    /// Timeout of each stage (DNS, TCP, TLS, each HTTP exchange).
    #[arg(long, value_name = "DURATION", env = "PROBE_TIMEOUT", default_value = "5s", value_parser = parse_duration, global = true)]
    pub timeout: Duration,

    /// Deadline of the whole run [default: 30s].
    #[arg(long, value_name = "DURATION", env = "PROBE_DEADLINE", value_parser = parse_duration, global = true)]
    pub deadline: Option<Duration>,

    /// Platform to check image indexes for [default: this node's].
    #[arg(long, value_name = "OS/ARCH[/VARIANT]", env = "PROBE_PLATFORM", global = true)]
    pub platform: Option<String>,

    /// A Docker config.json or .dockerconfigjson (e.g. a mounted imagePullSecret) to take credentials from.
    #[arg(long, value_name = "FILE", env = "PROBE_DOCKER_CONFIG", global = true)]
    pub docker_config: Option<PathBuf>,

    /// Username for every probed registry (with --password-stdin).
    #[arg(long, env = "PROBE_USERNAME", global = true)]
    pub username: Option<String>,

    /// Read the password for --username from standard input.
    #[arg(long, env = "PROBE_PASSWORD_STDIN", global = true)]
    pub password_stdin: bool,

    /// Azure instance metadata service, for managed identities.
    #[arg(long, value_name = "URL", env = "PROBE_IMDS_ENDPOINT", default_value = "http://169.254.169.254", global = true)]
    pub imds_endpoint: String,
}

/// Subcommands; without one, `probe` probes.
#[derive(Debug, Subcommand)]
pub enum Command {}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("{e} (examples: 500ms, 5s, 1m)"))?;
    if d.is_zero() {
        return Err("must be more than zero".to_owned());
    }
    Ok(d)
}

/// A validated `--registry` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryArg {
    /// `host[:port]` as the user wrote it (without scheme).
    pub name: String,
    pub host: String,
    pub port: Option<u16>,
    /// `Some(false)` for an explicit `http://`.
    pub https: Option<bool>,
}

/// Validate `HOST[:PORT]`, optionally with `http://` or `https://` in front.
fn parse_registry(input: &str) -> Result<RegistryArg, String> {
    let (https, rest) = if let Some(r) = input.strip_prefix("https://") {
        (Some(true), r)
    } else if let Some(r) = input.strip_prefix("http://") {
        (Some(false), r)
    } else {
        (None, input)
    };
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() || rest.contains('/') {
        return Err("expected HOST[:PORT], without a path".to_owned());
    }
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (h, after) = v6.split_once(']').ok_or("unclosed '[' in IPv6 address")?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err("unexpected text after IPv6 address".to_owned()),
        };
        (h.to_owned(), port)
    } else if rest.matches(':').count() > 1 {
        (rest.to_owned(), None)
    } else {
        match rest.split_once(':') {
            Some((h, p)) => (h.to_owned(), Some(p)),
            None => (rest.to_owned(), None),
        }
    };
    let port = port
        .map(|p| p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| format!("invalid port {p:?}")))
        .transpose()?;
    let valid_name = !host.is_empty()
        && host.split('.').all(|l| {
            !l.is_empty() && l.len() <= 63 && !l.starts_with('-') && !l.ends_with('-') && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        });
    if !valid_name && host.parse::<std::net::IpAddr>().is_err() {
        return Err(format!("invalid host name {host:?}"));
    }
    let host = host.to_ascii_lowercase();
    let name = match port {
        Some(p) if host.contains(':') => format!("[{host}]:{p}"),
        Some(p) => format!("{host}:{p}"),
        None => host.clone(),
    };
    Ok(RegistryArg { name, host, port, https })
}

/// What the run does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Probe,
}

/// Validated settings for one run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub mode: Mode,
    pub registries: Vec<RegistryArg>,
    pub images: Vec<Reference>,
    /// The image strings as given, for remarks ("`nginx` means ...").
    pub image_inputs: Vec<String>,
    pub json: bool,
    pub root: PathBuf,
    pub timeout: Duration,
    pub deadline: Duration,
    pub platform: Platform,
    pub docker_config: Option<PathBuf>,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub imds_endpoint: url::Url,
}

/// A usage error: exit status 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The default run deadline.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(30);

impl Settings {
    /// Validate arguments. `stdin` supplies the password for `--password-stdin`.
    pub fn from_args(args: &Args, stdin: &mut dyn Read) -> Result<Self, UsageError> {
        let mut registries = Vec::new();
        for r in &args.registry {
            registries.push(parse_registry(r).map_err(|e| UsageError(format!("--registry {r:?}: {e}")))?);
        }
        let mut images = Vec::new();
        for i in &args.image {
            images.push(Reference::parse(i).map_err(|e| UsageError(format!("--image: {e}")))?);
        }
        let platform = match &args.platform {
            Some(p) => Platform::parse(p).map_err(|e| UsageError(format!("--platform: {e}")))?,
            None => Platform::host(),
        };
        let password = if args.password_stdin {
            if args.username.is_none() {
                return Err(UsageError("--password-stdin needs --username".to_owned()));
            }
            let mut buf = String::new();
            stdin
                .take(64 * 1024)
                .read_to_string(&mut buf)
                .map_err(|e| UsageError(format!("--password-stdin: cannot read standard input: {e}")))?;
            let pw = buf.trim_end_matches(['\n', '\r']).to_owned();
            if pw.is_empty() {
                return Err(UsageError("--password-stdin: standard input was empty".to_owned()));
            }
            Some(Secret::new(pw))
        } else {
            None
        };
        if args.username.is_some() && password.is_none() {
            return Err(UsageError("--username needs --password-stdin".to_owned()));
        }
        let imds_endpoint = url::Url::parse(&args.imds_endpoint)
            .map_err(|e| UsageError(format!("--imds-endpoint {:?}: {e}", args.imds_endpoint)))?;
        let deadline = args.deadline.unwrap_or(DEFAULT_DEADLINE);
        Ok(Self {
            mode: Mode::Probe,
            registries,
            images,
            image_inputs: args.image.clone(),
            json: args.json,
            root: args.root.clone(),
            timeout: args.timeout,
            deadline,
            platform,
            docker_config: args.docker_config.clone(),
            username: args.username.clone(),
            password,
            imds_endpoint,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(argv: &[&str], stdin: &str) -> Result<Settings, UsageError> {
        let mut full = vec!["probe"];
        full.extend_from_slice(argv);
        let args = Args::try_parse_from(full).map_err(|e| UsageError(e.to_string()))?;
        Settings::from_args(&args, &mut stdin.as_bytes())
    }

    #[test]
    fn defaults() {
        let s = settings(&[], "").unwrap();
        assert_eq!(s.timeout, Duration::from_secs(5));
        assert_eq!(s.deadline, DEFAULT_DEADLINE);
        assert_eq!(s.root, PathBuf::from("/"));
        assert_eq!(s.platform, Platform::host());
        assert!(!s.json);
    }

    #[test]
    fn password_comes_from_stdin_and_is_secret() {
        let s = settings(&["--username", "bob", "--password-stdin"], "s3cret\n").unwrap();
        assert_eq!(s.password.as_ref().unwrap().expose(), "s3cret");
        assert!(!format!("{s:?}").contains("s3cret"));
        assert!(settings(&["--password-stdin"], "x").is_err());
        assert!(settings(&["--username", "bob"], "").is_err());
    }

    #[test]
    fn registry_values() {
        let r = parse_registry("MyReg.azurecr.io").unwrap();
        assert_eq!((r.name.as_str(), r.port, r.https), ("myreg.azurecr.io", None, None));
        let r = parse_registry("http://reg.test:5000").unwrap();
        assert_eq!((r.name.as_str(), r.port, r.https), ("reg.test:5000", Some(5000), Some(false)));
        let r = parse_registry("[::1]:5000").unwrap();
        assert_eq!((r.host.as_str(), r.name.as_str()), ("::1", "[::1]:5000"));
        for bad in ["", "reg.test/v2", "reg.test:0", "reg.test:99999", "bad host", "-x.test", "[::1"] {
            assert!(parse_registry(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bad_values_are_usage_errors() {
        assert!(settings(&["--timeout", "0s"], "").is_err());
        assert!(settings(&["--timeout", "soon"], "").is_err());
        assert!(settings(&["--platform", "linux"], "").is_err());
        assert!(settings(&["--imds-endpoint", "not a url"], "").is_err());
    }
}
