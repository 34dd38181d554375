//! Command line: clap's raw [`Args`], then validated [`Settings`] (two steps,
//! as ripgrep's `LowArgs`/`HiArgs`), so tests compare whole values.
//!
//! Every flag can also be set from the environment as `PROBE_<FLAG>`, which
//! is how the DaemonSet configures the probe. Nothing here touches the
//! network or the node's files, except reading the password from stdin.

use crate::oci::Platform;
use crate::reference::Reference;
use crate::secret::Secret;
use crate::target::{RegistryHost, registry_host};
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
    #[arg(
        long,
        value_name = "HOST[:PORT]",
        env = "PROBE_REGISTRY",
        value_delimiter = ',',
        global = true
    )]
    pub registry: Vec<String>,

    /// Probe the whole chain for this image, through manifest, platform and blob (repeatable).
    #[arg(
        long,
        value_name = "REF",
        env = "PROBE_IMAGE",
        value_delimiter = ',',
        global = true
    )]
    pub image: Vec<String>,

    /// Print the JSON report instead of the human view.
    #[arg(long, env = "PROBE_JSON", global = true)]
    pub json: bool,

    /// The node's root file system: every node file is read under it.
    #[arg(
        long,
        value_name = "DIR",
        env = "PROBE_ROOT",
        default_value = "/",
        global = true
    )]
    pub root: PathBuf,

    /// Timeout of each stage (DNS, TCP, TLS, each HTTP exchange).
    #[arg(long, value_name = "DURATION", env = "PROBE_TIMEOUT", default_value = "5s", value_parser = parse_duration, global = true)]
    pub timeout: Duration,

    /// Deadline of the whole run [default: 30s].
    #[arg(long, value_name = "DURATION", env = "PROBE_DEADLINE", value_parser = parse_duration, global = true)]
    pub deadline: Option<Duration>,

    /// Platform to check image indexes for [default: this node's].
    #[arg(
        long,
        value_name = "OS/ARCH[/VARIANT]",
        env = "PROBE_PLATFORM",
        global = true
    )]
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
    #[arg(
        long,
        value_name = "URL",
        env = "PROBE_IMDS_ENDPOINT",
        default_value = "http://169.254.169.254",
        global = true
    )]
    pub imds_endpoint: String,
}

/// Subcommands; without one, `probe` probes.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print what would be probed, without touching the network: endpoints in
    /// the runtime's order, TLS material, credential sources, proxies.
    Plan,
    /// Summarize the agents' reports (`kubectl logs -l app=regprobe --prefix`):
    /// a node x target matrix and cluster-wide verdicts, newest report per node.
    Summarize {
        /// The log text to read; `-` or nothing reads standard input.
        #[arg(value_name = "FILE|-")]
        file: Option<PathBuf>,
        /// Print every node on its own row instead of grouping identical rows.
        #[arg(long)]
        wide: bool,
    },
    /// Map a pull error message (as `kubectl describe pod` or the pod's
    /// `state.waiting.message` shows it) to a code, category and hint,
    /// without touching the network or the node.
    Explain {
        /// The kubelet/containerd/CRI-O/Docker message, or `-` to read it from standard input.
        #[arg(value_name = "MESSAGE")]
        message: String,
    },
    /// Probe exactly what one pod pulls: its images (init containers too),
    /// with its imagePullSecrets, read from `kubectl get pod/NAME
    /// secret/NAME -o json`; beside what the kubelet reported.
    Pod {
        /// The pod (and its secrets) as `kubectl get -o json|yaml` prints them; `-` or nothing reads standard input.
        #[arg(value_name = "FILE|-")]
        file: Option<PathBuf>,
    },
    /// The DaemonSet agent: probe on an interval, log one JSON report line per
    /// round, serve /metrics, /healthz, /readyz and /report.
    Daemon(DaemonArgs),
    /// One round for node-problem-detector's custom plugin monitor: exit 0 ok,
    /// 1 problem, 2 unknown; one line of at most 80 characters.
    Npd,
}

/// `probe daemon`'s own flags (the global ones apply too).
#[derive(Debug, Clone, clap::Args)]
pub struct DaemonArgs {
    /// Address to serve /metrics, /healthz, /readyz and /report on (`:9808` is every address).
    #[arg(
        long,
        value_name = "[HOST]:PORT",
        env = "PROBE_LISTEN",
        default_value = ":9808"
    )]
    pub listen: String,
    /// How often the node-local checks run (DNS, TCP, proxy, TLS: no cost to a registry).
    #[arg(long, value_name = "DURATION", env = "PROBE_INTERVAL", default_value = "1m", value_parser = parse_duration)]
    pub interval: Duration,
    /// How often the checks that cost a registry a request run (ping, token, manifest, blob).
    #[arg(long, value_name = "DURATION", env = "PROBE_REGISTRY_INTERVAL", default_value = "15m", value_parser = parse_duration)]
    pub registry_interval: Duration,
    /// A YAML or JSON file `{registries: [...], images: [...]}` (a mounted `ConfigMap`), re-read when it changes.
    #[arg(long, value_name = "FILE", env = "PROBE_TARGETS")]
    pub targets: Option<PathBuf>,
    /// Write the latest report to FILE (atomically) after each round.
    #[arg(long, value_name = "FILE", env = "PROBE_REPORT_FILE")]
    pub report_file: Option<PathBuf>,
    /// The number of nodes running the agent: each target's registry checks are then shared across them.
    #[arg(long, value_name = "N", env = "PROBE_CLUSTER_SIZE")]
    pub cluster_size: Option<u32>,
    /// With --cluster-size, about how many nodes check each target's registry per registry round.
    #[arg(
        long,
        value_name = "K",
        env = "PROBE_REGISTRY_PROBES_PER_ROUND",
        default_value_t = 3
    )]
    pub registry_probes_per_round: u32,
    /// Stop after this many rounds (benchmarks and tests).
    #[arg(long, value_name = "N", env = "PROBE_MAX_ROUNDS", hide = true)]
    pub max_rounds: Option<u64>,
}

/// Validated `probe daemon` settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DaemonSettings {
    pub listen: std::net::SocketAddr,
    pub interval: Duration,
    pub registry_interval: Duration,
    pub targets: Option<PathBuf>,
    pub report_file: Option<PathBuf>,
    pub cluster_size: Option<u32>,
    pub registry_probes_per_round: u32,
    pub max_rounds: Option<u64>,
}

impl DaemonSettings {
    fn from_args(a: &DaemonArgs) -> Result<Self, UsageError> {
        let listen = if a.listen.starts_with(':') {
            format!("0.0.0.0{}", a.listen)
        } else {
            a.listen.clone()
        };
        let listen = listen
            .parse()
            .map_err(|e| UsageError(format!("--listen {:?}: {e}", a.listen)))?;
        if a.cluster_size == Some(0) {
            return Err(UsageError("--cluster-size must be at least 1".to_owned()));
        }
        if a.registry_probes_per_round == 0 {
            return Err(UsageError(
                "--registry-probes-per-round must be at least 1".to_owned(),
            ));
        }
        Ok(Self {
            listen,
            interval: a.interval,
            registry_interval: a.registry_interval.max(a.interval),
            targets: a.targets.clone(),
            report_file: a.report_file.clone(),
            cluster_size: a.cluster_size,
            registry_probes_per_round: a.registry_probes_per_round,
            max_rounds: a.max_rounds,
        })
    }
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("{e} (examples: 500ms, 5s, 1m)"))?;
    if d.is_zero() {
        return Err("must be more than zero".to_owned());
    }
    Ok(d)
}

/// What the run does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Probe,
    /// `probe daemon`: rounds on an interval ([`Settings::daemon`]).
    Daemon,
    /// `probe npd`: one round, one line.
    Npd,
    /// `probe plan`: targets and endpoints only, no network.
    Plan,
    /// `probe pod`: the targets are the pod's images, never the node's registries.
    Pod,
}

/// Validated settings for one run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub mode: Mode,
    pub registries: Vec<RegistryHost>,
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
    /// `probe daemon`'s own settings.
    pub daemon: Option<DaemonSettings>,
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
            registries.push(registry_host(r).map_err(|e| UsageError(format!("--registry: {e}")))?);
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
                .map_err(|e| {
                    UsageError(format!("--password-stdin: cannot read standard input: {e}"))
                })?;
            let pw = buf.trim_end_matches(['\n', '\r']).to_owned();
            if pw.is_empty() {
                return Err(UsageError(
                    "--password-stdin: standard input was empty".to_owned(),
                ));
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
        let mode = match args.command {
            None => Mode::Probe,
            Some(Command::Plan) => Mode::Plan,
            // app::main_with answers these before any settings are made.
            Some(Command::Summarize { .. }) => {
                return Err(UsageError(
                    "`probe summarize` reads reports, it does not probe".to_owned(),
                ));
            }
            Some(Command::Daemon(_)) => Mode::Daemon,
            Some(Command::Npd) => Mode::Npd,
            Some(Command::Pod { ref file }) => {
                if !args.image.is_empty() || !args.registry.is_empty() {
                    return Err(UsageError(
                        "`probe pod` probes the pod's images: --image and --registry do not apply"
                            .to_owned(),
                    ));
                }
                let from_stdin = file.as_ref().is_none_or(|f| f.as_os_str() == "-");
                if from_stdin && args.password_stdin {
                    return Err(UsageError(
                        "`probe pod -` reads the pod from standard input: give the pod as a file to use --password-stdin"
                            .to_owned(),
                    ));
                }
                Mode::Pod
            }
            Some(Command::Explain { .. }) => {
                return Err(UsageError("explain takes no probe settings".to_owned()));
            }
        };
        Ok(Self {
            mode,
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
            daemon: match &args.command {
                Some(Command::Daemon(d)) => Some(DaemonSettings::from_args(d)?),
                _ => None,
            },
        })
    }

    /// The same settings probing these registries and images instead (an
    /// agent's targets file), validated like the flags.
    pub fn with_targets(
        &self,
        registries: &[String],
        images: &[String],
    ) -> Result<Self, UsageError> {
        let mut s = self.clone();
        s.registries = registries
            .iter()
            .map(|r| registry_host(r).map_err(|e| UsageError(format!("registry {r:?}: {e}"))))
            .collect::<Result<_, _>>()?;
        s.images = images
            .iter()
            .map(|i| Reference::parse(i).map_err(|e| UsageError(format!("image {i:?}: {e}"))))
            .collect::<Result<_, _>>()?;
        s.image_inputs = images.to_vec();
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(flags: &[&str], stdin: &str) -> Result<Settings, UsageError> {
        let mut argv_full = vec!["probe"];
        argv_full.extend_from_slice(flags);
        let args = Args::try_parse_from(argv_full).map_err(|e| UsageError(e.to_string()))?;
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
    fn registries_and_images_are_validated() {
        let s = settings(
            &[
                "--registry",
                "MyReg.azurecr.io",
                "--registry",
                "http://reg.test:5000",
                "--image",
                "nginx",
            ],
            "",
        )
        .unwrap();
        assert_eq!(s.registries[0].domain(), "myreg.azurecr.io");
        assert_eq!(s.registries[1].port, Some(5000));
        assert_eq!(s.images[0].to_string(), "docker.io/library/nginx:latest");
        assert!(settings(&["--registry", "reg.test/v2"], "").is_err());
        assert!(settings(&["--image", "Bad/Upper:tag"], "").is_err());
    }

    #[test]
    fn plan_takes_the_global_flags() {
        let s = settings(&["plan", "--registry", "reg.test:5000", "--json"], "").unwrap();
        assert_eq!(s.mode, Mode::Plan);
        assert!(s.json);
        assert_eq!(s.registries[0].domain(), "reg.test:5000");
        assert_eq!(settings(&[], "").unwrap().mode, Mode::Probe);
    }

    #[test]
    fn bad_values_are_usage_errors() {
        assert!(settings(&["--timeout", "0s"], "").is_err());
        assert!(settings(&["--timeout", "soon"], "").is_err());
        assert!(settings(&["--platform", "linux"], "").is_err());
        assert!(settings(&["--imds-endpoint", "not a url"], "").is_err());
    }
}
