//! End to end: `probe daemon` on the test bed for several rounds (issue 9).
//! Its JSON lines are read back as CONTRACT v2 reports, `/metrics` with
//! Prometheus' own `OpenMetrics` parser, `/report` against the last line; a
//! changed targets file, a registry that fails and recovers, a 429 that
//! keeps the agent away, a warm token, and SIGTERM.

mod common;
mod support;

use common::{Report, metric, parse_metrics};
use std::io::{BufRead as _, BufReader};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};
use support::http::{Reply, request};
use support::{Host, World, WorldBuilder};

/// A running agent inside a world's namespace.
struct Agent {
    child: Child,
    lines: Receiver<String>,
    addr: SocketAddr,
    ns: String,
}

impl Agent {
    fn start(w: &World, root: &Path, port: u16, node: &str, args: &[&str]) -> Agent {
        let mut child = w
            .daemon(root, port, node, args)
            .spawn()
            .expect("start probe daemon");
        let lines = common::forward_lines(child.stdout.take().unwrap(), |l| l);
        // The agent's events are JSON on stderr; each must parse.
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let v: serde_json::Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("stderr line is not JSON ({e}): {line}"));
                assert!(
                    v["fields"]["message"].is_string() || v["fields"].is_object(),
                    "{line}"
                );
            }
        });
        Agent {
            child,
            lines,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            ns: w.ns().to_owned(),
        }
    }

    /// The next report line, read as a CONTRACT v2 report.
    fn next(&self) -> (String, Report) {
        let line = self
            .lines
            .recv_timeout(Duration::from_secs(30))
            .expect("a report line within 30 s");
        let report: Report =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not a v2 report ({e}): {line}"));
        assert_eq!(report.schema, "regprobe.report/v2");
        (line, report)
    }

    /// `GET path` on the admin server: status and body.
    fn get(&self, w: &World, path: &str) -> (u16, String) {
        let (addr, path) = (self.addr, path.to_owned());
        let _ = &self.ns;
        w.run(move || {
            let r = request(addr, None, "agent", "GET", &path, &[], Vec::new())
                .expect("admin server answers");
            (r.status, String::from_utf8_lossy(&r.body).into_owned())
        })
    }

    /// SIGTERM; the exit status and how long the agent took to go.
    fn terminate(mut self) -> (Option<i32>, Duration) {
        let pid = self.child.id().to_string();
        let started = Instant::now();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        let deadline = started + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status.code(), started.elapsed());
            }
            assert!(Instant::now() < deadline, "the agent ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn target<'a>(r: &'a Report, name: &str) -> &'a common::Target {
    r.targets
        .iter()
        .find(|t| t.image.as_deref() == Some(name) || t.registry == name)
        .unwrap_or_else(|| panic!("no {name} in {r:?}"))
}

/// Rounds, metrics, `/report`, the warm token, a changed targets file, SIGTERM.
#[test]
fn the_agent_reports_every_round() {
    let Some(w) = support::world() else { return };
    let root = w.new_root();
    let dir = tempfile::tempdir().unwrap();
    let targets = dir.path().join("targets.yaml");
    std::fs::write(
        &targets,
        "images:\n  - registry.test/single:1\n  - token.test/public/single:1\nregistries:\n  - unknownca.test\n",
    )
    .unwrap();
    let report_file = dir.path().join("report.json");
    let agent = Agent::start(
        w,
        root.path(),
        19808,
        "aks-np1-0",
        &[
            "--interval",
            "1s",
            "--registry-interval",
            "1s",
            "--timeout",
            "2s",
            "--targets",
            targets.to_str().unwrap(),
            "--report-file",
            report_file.to_str().unwrap(),
        ],
    );
    let (_, first) = agent.next();
    assert_eq!(first.node, "aks-np1-0");
    assert_eq!(target(&first, "registry.test/single:1").code, "OK");
    assert_eq!(target(&first, "token.test/public/single:1").code, "OK");
    assert_eq!(target(&first, "unknownca.test").code, "TLS_UNTRUSTED");
    let (line, second) = agent.next();

    // The second round reuses the token and the digest: one HEAD.
    let warm = target(&second, "token.test/public/single:1");
    assert_eq!(warm.code, "OK", "{}", warm.message);
    let manifest = warm.stage("manifest").expect("a manifest stage");
    assert_eq!(
        manifest.detail["response"]["method"], "HEAD",
        "{:?}",
        manifest.detail
    );
    let auth = warm.stage("auth").unwrap();
    assert_eq!(auth.status, "skipped", "{:?}", auth.detail);
    assert!(
        auth.detail["summary"]
            .as_str()
            .unwrap()
            .contains("remembered")
    );

    // /report is the last line, /readyz and /healthz say so.
    let (status, report) = agent.get(w, "/report");
    assert_eq!(status, 200);
    let published: serde_json::Value = serde_json::from_str(&report).unwrap();
    let started_at = published["started_at"].as_str().unwrap().to_owned();
    let logged: serde_json::Value = serde_json::from_str(&line).unwrap();
    if published != logged {
        // A round may have finished between the line and the request.
        let (next_line, _) = agent.next();
        assert_eq!(
            published,
            serde_json::from_str::<serde_json::Value>(&next_line).unwrap(),
            "{started_at}"
        );
    }
    assert_eq!(agent.get(w, "/readyz").0, 200);
    assert_eq!(agent.get(w, "/healthz").0, 200);
    assert_eq!(agent.get(w, "/nothing").0, 404);
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report_file).unwrap()).unwrap();
    assert_eq!(file["schema"], "regprobe.report/v2");

    // The metrics, read by Prometheus' parser.
    let (status, page) = agent.get(w, "/metrics");
    assert_eq!(status, 200);
    let samples = parse_metrics(&page);
    let ok = [
        ("registry", "registry.test"),
        ("image", "registry.test/single:1"),
    ];
    assert_eq!(metric(&samples, "probe_success", &ok), Some(1.0));
    assert_eq!(
        metric(
            &samples,
            "probe_verdict",
            &[
                ("registry", "registry.test"),
                ("code", "OK"),
                ("category", "ok")
            ]
        ),
        Some(1.0)
    );
    let bad = [("registry", "unknownca.test"), ("image", "")];
    assert_eq!(metric(&samples, "probe_success", &bad), Some(0.0));
    assert_eq!(
        metric(
            &samples,
            "probe_verdict",
            &[
                ("registry", "unknownca.test"),
                ("code", "TLS_UNTRUSTED"),
                ("category", "config")
            ]
        ),
        Some(1.0)
    );
    assert!(metric(&samples, "probe_duration_seconds", &ok).is_some_and(|d| d > 0.0));
    assert!(
        metric(
            &samples,
            "probe_stage_duration_seconds",
            &[
                ("registry", "registry.test"),
                ("stage", "tls"),
                ("role", "upstream")
            ]
        )
        .is_some()
    );
    let expiry = metric(
        &samples,
        "probe_ssl_earliest_cert_expiry",
        &[("registry", "registry.test")],
    )
    .expect("certificate expiry");
    assert!(expiry > 1.7e9, "{expiry}");
    // Every round checks the registry here (both intervals 1s): the kinds
    // are disjoint, so none is local-only.
    assert_eq!(
        metric(&samples, "regprobe_rounds_total", &[("kind", "local")]),
        Some(0.0)
    );
    assert!(
        metric(&samples, "regprobe_rounds_total", &[("kind", "registry")])
            .is_some_and(|n| n >= 2.0)
    );
    assert!(metric(&samples, "regprobe_config_problems", &[("severity", "ok")]).is_some());
    assert_eq!(metric(&samples, "regprobe_build_info", &[]), Some(1.0));
    // Contract additions for the alert rules (issue 16): when the last round
    // of each kind ended (a registry round only here), and no node finding
    // on a node that reaches its registries.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let last = metric(
        &samples,
        "regprobe_last_round_timestamp_seconds",
        &[("kind", "registry")],
    )
    .expect("the last registry round's time");
    assert!(
        (now - 30.0..=now + 1.0).contains(&last),
        "{last} vs now {now}"
    );
    assert_eq!(
        metric(
            &samples,
            "regprobe_last_round_timestamp_seconds",
            &[("kind", "local")]
        ),
        None,
        "no local round ran"
    );
    assert!(
        samples.iter().all(|s| s.name != "regprobe_node_finding"),
        "no node finding here"
    );
    let requests = |samples: &[common::Sample]| {
        metric(
            samples,
            "regprobe_registry_requests_total",
            &[("registry", "token.test")],
        )
        .unwrap()
    };
    let before = requests(&samples);

    // A warm round: one more request to token.test, the HEAD.
    let (_, _) = agent.next();
    let (_, page) = agent.get(w, "/metrics");
    let after = requests(&parse_metrics(&page));
    assert!(
        (1.0..=2.0).contains(&(after - before)),
        "a warm round sends one HEAD per round: {before} -> {after}"
    );

    // A changed targets file: the next rounds drop unknownca.test, its series too.
    std::fs::write(&targets, "images:\n  - registry.test/single:1\n").unwrap();
    let mut dropped = false;
    for _ in 0..4 {
        let (_, r) = agent.next();
        if r.targets.iter().all(|t| t.registry != "unknownca.test") {
            assert_eq!(r.targets.len(), 1, "{r:?}");
            dropped = true;
            break;
        }
    }
    assert!(dropped, "the new targets file was not picked up");
    let (_, page) = agent.get(w, "/metrics");
    assert!(!page.contains("unknownca.test"), "{page}");

    // A broken file keeps the last good list and says so.
    std::fs::write(&targets, "images: [registry.test/single:1\n").unwrap();
    let (_, r) = agent.next();
    let (_, r) = if r
        .config_sources
        .iter()
        .any(|s| s.kind == "targets" && s.severity == "error")
    {
        (String::new(), r)
    } else {
        agent.next()
    };
    assert_eq!(r.targets.len(), 1, "the last good list stays");
    let src = r
        .config_sources
        .iter()
        .find(|s| s.kind == "targets")
        .expect("the targets file as a source");
    assert_eq!(src.severity, "error");
    assert!(
        src.message
            .as_deref()
            .unwrap()
            .contains("keeping the targets"),
        "{src:?}"
    );

    let (code, took) = agent.terminate();
    assert_eq!(code, Some(0));
    assert!(took < Duration::from_secs(2), "{took:?}");
}

/// SIGTERM in the middle of a round: the round is abandoned, exit 0.
#[test]
fn sigterm_during_a_round_exits_at_once() {
    let Some(w) = support::world() else { return };
    let agent = Agent::start(
        w,
        w.root(),
        19809,
        "aks-np1-1",
        &[
            "--interval",
            "1s",
            "--timeout",
            "20s",
            "--registry",
            "blackhole.test",
        ],
    );
    // The first round starts within a second and hangs on the blackhole.
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(agent.get(w, "/readyz").0, 503, "no round finished yet");
    let (code, took) = agent.terminate();
    assert_eq!(code, Some(0));
    assert!(took < Duration::from_secs(2), "{took:?}");
}

/// `PROBE_LOG` picks the agent's events: `info` by default, none at `warn`,
/// and per-target directives (`regprobe::daemon=info`) as tracing reads them.
#[test]
fn probe_log_picks_the_agents_events() {
    let Some(w) = support::world() else { return };
    let events = |level: Option<&str>| {
        let mut cmd = w.command(env!("CARGO_BIN_EXE_probe"));
        cmd.env("NODE_NAME", "aks-np1-0").env_remove("PROBE_LOG");
        if let Some(level) = level {
            cmd.env("PROBE_LOG", level);
        }
        let out = cmd
            .args(["daemon", "--max-rounds", "1", "--interval", "1s"])
            .args(["--listen", "127.0.0.1:0", "--registry", "registry.test"])
            .arg("--root")
            .arg(w.root())
            .output()
            .expect("run probe daemon");
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
        String::from_utf8_lossy(&out.stderr)
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("stderr line is not JSON ({e}): {l}"));
                v["fields"]["event"].as_str().unwrap_or_default().to_owned()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(events(None), ["start", "stop"]);
    assert_eq!(events(Some("")), ["start", "stop"], "empty is unset");
    assert_eq!(events(Some("warn")), Vec::<String>::new());
    assert_eq!(
        events(Some("error,regprobe::daemon=info")),
        ["start", "stop"]
    );
    assert_eq!(events(Some("info,regprobe=off")), Vec::<String>::new());
}

/// A registry that fails and recovers shows in consecutive rounds and in
/// `probe_success`; one that answers 429 with `Retry-After` is left alone.
#[test]
fn a_registry_that_fails_then_recovers_and_one_that_asks_for_quiet() {
    if !support::require_netns() {
        return;
    }
    let up = Arc::new(AtomicBool::new(false));
    let limited = Arc::new(AtomicUsize::new(0));
    let (up2, limited2) = (Arc::clone(&up), Arc::clone(&limited));
    let w = WorldBuilder::new()
        .host(Host::handler(
            "flappy.test",
            Ipv4Addr::new(10, 77, 0, 97),
            move |_| {
                if up2.load(Ordering::SeqCst) {
                    Reply::new(200)
                        .header("Docker-Distribution-API-Version", "registry/2.0")
                        .body("{}")
                        .into()
                } else {
                    Reply::new(503).body("down for maintenance").into()
                }
            },
        ))
        .host(Host::handler(
            "quiet.test",
            Ipv4Addr::new(10, 77, 0, 98),
            move |_| {
                limited2.fetch_add(1, Ordering::SeqCst);
                Reply::new(429)
                    .header("Retry-After", "3600")
                    .body(r#"{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}"#)
                    .into()
            },
        ))
        .build();
    let agent = Agent::start(
        &w,
        w.root(),
        19810,
        "aks-np1-2",
        &[
            "--interval",
            "1s",
            "--registry-interval",
            "1s",
            "--timeout",
            "2s",
            "--registry",
            "flappy.test",
            "--registry",
            "quiet.test",
        ],
    );
    let (_, r) = agent.next();
    assert_eq!(target(&r, "flappy.test").code, "REGISTRY_ERROR");
    assert_eq!(target(&r, "quiet.test").code, "RATE_LIMITED");
    let samples = parse_metrics(&agent.get(&w, "/metrics").1);
    assert_eq!(
        metric(&samples, "probe_success", &[("registry", "flappy.test")]),
        Some(0.0)
    );
    up.store(true, Ordering::SeqCst);
    // The round running now may have started before the flip.
    let (_, mut r) = agent.next();
    if target(&r, "flappy.test").code != "OK" {
        r = agent.next().1;
    }
    assert_eq!(target(&r, "flappy.test").code, "OK");
    let samples = parse_metrics(&agent.get(&w, "/metrics").1);
    assert_eq!(
        metric(&samples, "probe_success", &[("registry", "flappy.test")]),
        Some(1.0)
    );
    // quiet.test was asked once, then left alone, and still reads RATE_LIMITED.
    let quiet = target(&r, "quiet.test");
    assert_eq!(quiet.code, "RATE_LIMITED");
    assert!(quiet.message.contains("left alone"), "{}", quiet.message);
    assert_eq!(
        limited.load(Ordering::SeqCst),
        1,
        "no request after the 429"
    );
    assert_eq!(
        metric(
            &samples,
            "regprobe_registry_requests_total",
            &[("registry", "quiet.test")]
        ),
        Some(1.0)
    );
    drop(agent);
}

/// Issue 19: a cold round pings a registry once, not once per image; the
/// one-shot run keeps pinging per target. `regprobe_registry_requests_total`
/// counts exactly what the registry saw.
#[test]
fn a_cold_round_pings_each_registry_once() {
    if !support::require_netns() {
        return;
    }
    let seen = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let log = Arc::clone(&seen);
    let w = WorldBuilder::new()
        .host(Host::handler(
            "counted.test",
            Ipv4Addr::new(10, 77, 0, 96),
            move |req| {
                log.lock()
                    .unwrap()
                    .push(format!("{} {}", req.method, req.path()));
                if req.path() == "/v2/" {
                    Reply::new(200)
                        .header("Docker-Distribution-API-Version", "registry/2.0")
                        .body("{}")
                        .into()
                } else {
                    Reply::registry_error(404, "MANIFEST_UNKNOWN", "manifest unknown").into()
                }
            },
        ))
        .build();
    let images = [
        "--image",
        "counted.test/team/a:1",
        "--image",
        "counted.test/team/b:1",
        "--image",
        "counted.test/team/c:1",
    ];
    let pings = |from: usize| {
        seen.lock().unwrap()[from..]
            .iter()
            .filter(|r| r.ends_with(" /v2/"))
            .count()
    };
    // One-shot: a ping per target, as before.
    let out = w.probe(w.root(), &[&images[..], &["--json"]].concat());
    assert_eq!(out.status.code(), Some(4), "IMAGE_NOT_FOUND");
    let one_shot = seen.lock().unwrap().len();
    assert_eq!(pings(0), 3);

    let agent = Agent::start(
        &w,
        w.root(),
        19814,
        "aks-np1-3",
        &[&images[..], &["--interval", "1s", "--timeout", "2s"]].concat(),
    );
    let (_, r) = agent.next();
    for t in &r.targets {
        assert_eq!(t.code, "IMAGE_NOT_FOUND", "{}", t.message);
    }
    let sent = seen.lock().unwrap().len() - one_shot;
    assert_eq!(
        pings(one_shot),
        1,
        "{:?}",
        &seen.lock().unwrap()[one_shot..]
    );
    assert_eq!(sent, one_shot - 2, "the same requests less two pings");
    let samples = parse_metrics(&agent.get(&w, "/metrics").1);
    assert_eq!(
        metric(
            &samples,
            "regprobe_registry_requests_total",
            &[("registry", "counted.test")]
        ),
        Some(sent as f64)
    );
    drop(agent);
}
