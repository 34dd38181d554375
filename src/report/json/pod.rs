//! The `pod` object of `probe pod --json` (`CONTRACT.md`, "probe pod and
//! probe explain"): the pod, and for each container the kubelet's word
//! (`reason`, `message`, `explained`) beside the probe's (`code`, `status`),
//! with how they relate (`agreement`, `statement`).

use crate::pod::PodReport;
use crate::report::TargetReport;
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct JsonPod {
    pub namespace: String,
    pub name: String,
    /// `spec.nodeName`; the report's `node` is where the probe ran.
    pub node: Option<String>,
    pub containers: Vec<JsonContainer>,
    /// Statements about the pod as a whole (it runs on another node).
    pub findings: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct JsonContainer {
    pub name: String,
    /// As the pod spec writes it.
    pub image: String,
    /// `init`, `container` or `ephemeral`.
    pub kind: &'static str,
    pub kubelet: JsonKubelet,
    /// The verdict for this image now (the target's code and status).
    pub code: &'static str,
    pub status: &'static str,
    /// `agree`, `disagree`, `unknown` or `no_pull_error`.
    pub agreement: &'static str,
    pub statement: String,
}

#[derive(Debug, Serialize)]
pub struct JsonKubelet {
    pub reason: Option<String>,
    /// URL queries and user info cut (signed blob URLs, proxy passwords).
    pub message: Option<String>,
    /// The code `probe explain` reads in the message, or null.
    pub explained: Option<&'static str>,
}

impl JsonPod {
    #[must_use]
    pub fn new(pod: &PodReport, targets: &[TargetReport]) -> Self {
        let containers = pod
            .containers
            .iter()
            .map(|c| {
                let verdict = &targets[c.target].verdict;
                JsonContainer {
                    name: c.container.name.clone(),
                    image: c.container.image.clone(),
                    kind: c.container.kind.as_str(),
                    kubelet: JsonKubelet {
                        reason: c.container.kubelet.reason.clone(),
                        message: c.container.kubelet.message.clone(),
                        explained: c
                            .explained
                            .as_ref()
                            .and_then(|e| e.code)
                            .map(crate::code::Code::as_str),
                    },
                    code: verdict.code.as_str(),
                    status: verdict.status.as_str(),
                    agreement: c.comparison.agreement.as_str(),
                    statement: c.comparison.statement.clone(),
                }
            })
            .collect();
        Self {
            namespace: pod.namespace.clone(),
            name: pod.name.clone(),
            node: pod.node.clone(),
            containers,
            findings: pod.findings.clone(),
        }
    }
}
