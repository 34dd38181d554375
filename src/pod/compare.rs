//! The kubelet's word beside the probe's: what the pod's status said when
//! the kubelet pulled (explained by [`crate::explain`]) and what the probe
//! sees now from the node it runs on. A pure function, table-tested below.

use super::{Container, ContainerKind};
use crate::code::Code;
use crate::explain::Explanation;
use crate::verdict::{TargetStatus, Verdict};

/// How the two accounts relate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Agreement {
    /// The kubelet's message shows the probe's code (or cannot rule it out).
    Agree,
    /// The kubelet saw one thing, the probe sees another.
    Disagree,
    /// The kubelet reports a pull problem without a cause the probe can read.
    Unknown,
    /// The kubelet reports no pull problem for this container.
    NoPullError,
}

impl Agreement {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Agreement::Agree => "agree",
            Agreement::Disagree => "disagree",
            Agreement::Unknown => "unknown",
            Agreement::NoPullError => "no_pull_error",
        }
    }
}

/// The relation and a sentence a person reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Comparison {
    pub agreement: Agreement,
    pub statement: String,
}

/// The kubelet's waiting reasons that are about pulling
/// (`pkg/kubelet/images/types.go`).
const PULL_REASONS: &[&str] = &[
    "ErrImagePull",
    "ImagePullBackOff",
    "ErrImageNeverPull",
    "InvalidImageName",
    "RegistryUnavailable",
    "ImageInspectError",
    "SignatureValidationFailed",
];

/// Set the kubelet's account of `container` beside the probe's verdict for
/// its image. `pod_node` is where the pod runs, `probe_node` where the probe does.
#[must_use]
pub fn compare(
    container: &Container,
    explained: Option<&Explanation>,
    verdict: &Verdict,
    pod_node: Option<&str>,
    probe_node: &str,
) -> Comparison {
    let now = verdict.code;
    let now_ok = verdict.status != TargetStatus::Fail;
    let here = match pod_node {
        Some(n) if n != probe_node => {
            format!("this pod is on {n}, the probe runs on {probe_node}")
        }
        Some(_) => format!("the probe runs on the pod's node {probe_node}"),
        None => format!("the pod is not scheduled yet; the probe runs on {probe_node}"),
    };
    let other_node = pod_node.is_some_and(|n| n != probe_node);
    let reason = container.kubelet.reason.as_deref();
    let said = explained.and_then(|e| e.code.map(|c| (c, e)));
    let (agreement, statement) = match said {
        Some((k, e)) if k == now || e.also_possible.contains(&now) => {
            let saw = if k == now {
                format!("the kubelet saw {k}, the probe sees {now} now")
            } else {
                format!(
                    "the kubelet's message fits {k} or {}; the probe tells them apart: {now}",
                    join_codes(&e.also_possible)
                )
            };
            let tail = if other_node {
                format!(": they agree, though {here}")
            } else {
                format!(": they agree ({here})")
            };
            (Agreement::Agree, format!("{saw}{tail}"))
        }
        Some((k, _)) if now_ok => {
            let why = if other_node {
                format!("intermittent, or another node: {here}")
            } else {
                format!(
                    "intermittent or fixed since ({here}); the kubelet retries on its back-off, up to every 5 minutes"
                )
            };
            (
                Agreement::Disagree,
                format!("the kubelet saw {k}, now {now}: {why}"),
            )
        }
        Some((k, _)) => {
            let why = if other_node {
                format!("the cause changed since, or the nodes differ: {here}")
            } else {
                format!("the cause changed since ({here})")
            };
            (
                Agreement::Disagree,
                format!("the kubelet saw {k}, the probe sees {now} now: {why}"),
            )
        }
        None => match reason {
            Some("ErrImageNeverPull") => (
                Agreement::Unknown,
                format!(
                    "imagePullPolicy is Never and the image is not on the node: the kubelet never pulls it (set IfNotPresent, or put the image on the node); a pull from here would give {now}"
                ),
            ),
            Some(r) if PULL_REASONS.contains(&r) => {
                let what = match &container.kubelet.message {
                    Some(_) => format!("the kubelet's message ({r}) matches no known pattern"),
                    None => format!("the kubelet says {r} without the cause"),
                };
                (
                    Agreement::Unknown,
                    format!(
                        "{what}; `kubectl describe pod` Events keep the pull error (`probe explain` reads it); the probe sees {now} now ({here})"
                    ),
                )
            }
            _ if container.kubelet.started && !now_ok => (
                Agreement::NoPullError,
                format!(
                    "the container has started, so its image was pulled or already cached then; a pull now would fail with {now} ({here}): a restart on a node without the image would hit it"
                ),
            ),
            _ if container.kubelet.started => (
                Agreement::NoPullError,
                format!("the container has started; the probe sees {now} now ({here})"),
            ),
            Some(r) => (
                Agreement::NoPullError,
                format!(
                    "the kubelet reports {r}, not a pull error; the probe sees {now} now ({here})"
                ),
            ),
            None => (
                Agreement::NoPullError,
                format!("the kubelet reports no pull error; the probe sees {now} now ({here})"),
            ),
        },
    };
    let statement = if container.kind == ContainerKind::Init && !now_ok {
        format!("{statement}; the pod's other containers wait for this init container")
    } else {
        statement
    };
    Comparison {
        agreement,
        statement,
    }
}

fn join_codes(codes: &[Code]) -> String {
    codes
        .iter()
        .map(|c| c.as_str())
        .collect::<Vec<_>>()
        .join(" or ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod::KubeletState;

    fn container(reason: Option<&str>, message: Option<&str>, started: bool) -> Container {
        Container {
            name: "web".to_owned(),
            image: "reg.test/web:1".to_owned(),
            kind: ContainerKind::Container,
            pull_policy: None,
            kubelet: KubeletState {
                reason: reason.map(str::to_owned),
                message: message.map(str::to_owned),
                started,
            },
        }
    }

    fn verdict(code: Code) -> Verdict {
        Verdict {
            status: if code == Code::Ok {
                TargetStatus::Ok
            } else {
                TargetStatus::Fail
            },
            code,
            category: code.category(),
            message: String::new(),
            hint: None,
            stage: None,
        }
    }

    fn run(
        reason: Option<&str>,
        message: Option<&str>,
        started: bool,
        now: Code,
        pod_node: Option<&str>,
    ) -> Comparison {
        let c = container(reason, message, started);
        let e = message.map(crate::explain::explain);
        compare(&c, e.as_ref(), &verdict(now), pod_node, "np1-0")
    }

    const TIMEOUT: &str = "rpc error: code = Unknown desc = failed to pull and unpack image \"reg.test/web:1\": failed to resolve reference \"reg.test/web:1\": failed to do request: Head \"https://reg.test/v2/web/manifests/1\": dial tcp 10.0.0.1:443: i/o timeout";
    const DENIED: &str = "failed to pull and unpack image \"reg.test/web:1\": failed to resolve reference \"reg.test/web:1\": pull access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed";

    #[test]
    fn the_issues_disagreement_reads_as_written() {
        let c = run(
            Some("ErrImagePull"),
            Some(TIMEOUT),
            false,
            Code::Ok,
            Some("np1-3"),
        );
        assert_eq!(c.agreement, Agreement::Disagree);
        assert_eq!(
            c.statement,
            "the kubelet saw TCP_TIMEOUT, now OK: intermittent, or another node: this pod is on np1-3, the probe runs on np1-0"
        );
        let same = run(
            Some("ErrImagePull"),
            Some(TIMEOUT),
            false,
            Code::Ok,
            Some("np1-0"),
        );
        assert!(
            same.statement
                .contains("intermittent or fixed since (the probe runs on the pod's node np1-0)"),
            "{}",
            same.statement
        );
    }

    #[test]
    fn table() {
        use Agreement::*;
        for (reason, message, started, now, node, want, says) in [
            (
                Some("ErrImagePull"),
                Some(TIMEOUT),
                false,
                Code::TcpTimeout,
                Some("np1-0"),
                Agree,
                "the kubelet saw TCP_TIMEOUT, the probe sees TCP_TIMEOUT now: they agree",
            ),
            (
                Some("ErrImagePull"),
                Some(TIMEOUT),
                false,
                Code::TcpTimeout,
                Some("np1-3"),
                Agree,
                "they agree, though this pod is on np1-3",
            ),
            (
                Some("ErrImagePull"),
                Some(DENIED),
                false,
                Code::ImageNotFound,
                Some("np1-0"),
                Agree,
                "the probe tells them apart: IMAGE_NOT_FOUND",
            ),
            (
                Some("ErrImagePull"),
                Some(TIMEOUT),
                false,
                Code::DnsNxdomain,
                Some("np1-0"),
                Disagree,
                "the kubelet saw TCP_TIMEOUT, the probe sees DNS_NXDOMAIN now: the cause changed since",
            ),
            (
                Some("ImagePullBackOff"),
                Some("Back-off pulling image \"reg.test/web:1\""),
                false,
                Code::AuthRequired,
                Some("np1-0"),
                Unknown,
                "matches no known pattern",
            ),
            (
                Some("ImagePullBackOff"),
                None,
                false,
                Code::AuthRequired,
                Some("np1-0"),
                Unknown,
                "the kubelet says ImagePullBackOff without the cause",
            ),
            (
                Some("ErrImageNeverPull"),
                Some("Container image \"x\" is not present with pull policy of Never"),
                false,
                Code::Ok,
                Some("np1-0"),
                Unknown,
                "imagePullPolicy is Never",
            ),
            (
                None,
                None,
                true,
                Code::Ok,
                Some("np1-0"),
                NoPullError,
                "the container has started; the probe sees OK now",
            ),
            (
                None,
                None,
                true,
                Code::TcpTimeout,
                Some("np1-0"),
                NoPullError,
                "a pull now would fail with TCP_TIMEOUT",
            ),
            (
                Some("ContainerCreating"),
                None,
                false,
                Code::Ok,
                None,
                NoPullError,
                "the kubelet reports ContainerCreating, not a pull error; the probe sees OK now (the pod is not scheduled yet",
            ),
        ] {
            let c = run(reason, message, started, now, node);
            assert_eq!(c.agreement, want, "{}", c.statement);
            assert!(
                c.statement.contains(says),
                "{says:?} not in {:?}",
                c.statement
            );
        }
    }
}
