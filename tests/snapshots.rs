//! Snapshots (insta) of what a person reads: `--help` and the human report.
//! The report is rendered from a real run of the `probe` binary against a
//! registry that refuses connections on loopback, with durations redacted.

use std::process::Command;

fn redact_durations(text: &str) -> String {
    // "   12ms" columns and "in 34ms" totals vary from run to run.
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let words: Vec<String> = line
            .split(' ')
            .map(|w| {
                let digits = w.trim_end_matches("ms");
                if w.ends_with("ms")
                    && !digits.is_empty()
                    && digits.chars().all(|c| c.is_ascii_digit())
                {
                    "[ms]".to_owned()
                } else {
                    w.to_owned()
                }
            })
            .collect();
        out.push_str(&words.join(" "));
        out.push('\n');
    }
    out
}

#[test]
fn help() {
    let out = Command::new(env!("CARGO_BIN_EXE_probe"))
        .arg("--help")
        .env("COLUMNS", "100")
        .output()
        .unwrap();
    assert!(out.status.success());
    insta::assert_snapshot!(String::from_utf8_lossy(&out.stdout));
}

#[test]
fn plan_help() {
    let out = Command::new(env!("CARGO_BIN_EXE_probe"))
        .args(["plan", "--help"])
        .env("COLUMNS", "100")
        .output()
        .unwrap();
    assert!(out.status.success());
    insta::assert_snapshot!(String::from_utf8_lossy(&out.stdout));
}

#[test]
fn human_report_of_a_refused_registry() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("etc")).unwrap();
    std::fs::write(root.path().join("etc/hostname"), "node-1\n").unwrap();
    // A loopback port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let registry = format!("127.0.0.1:{port}");
    let out = Command::new(env!("CARGO_BIN_EXE_probe"))
        .args(["--registry", &registry, "--root"])
        .arg(root.path())
        .env_remove("NODE_NAME")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let text = String::from_utf8_lossy(&out.stdout)
        .replace(&port.to_string(), "[port]")
        .replace(root.path().to_str().unwrap(), "[root]");
    insta::assert_snapshot!(redact_durations(&text));
}
