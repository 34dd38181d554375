//! `probe npd` as node-problem-detector's custom plugin monitor runs it
//! (issue 9): exit 0 OK, 1 a problem, 2 unknown, one line of at most 80
//! characters on stdout.

mod support;

fn npd(w: &support::World, root: &std::path::Path, args: &[&str]) -> (Option<i32>, String) {
    let out = w
        .command(env!("CARGO_BIN_EXE_probe"))
        .arg("npd")
        .arg("--root")
        .arg(root)
        .args(args)
        .output()
        .expect("run probe npd");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        stdout.lines().count(),
        1,
        "one line: {stdout:?} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout.trim_end_matches('\n').to_owned();
    assert!(
        line.chars().count() <= 80,
        "{} characters: {line}",
        line.chars().count()
    );
    (out.status.code(), line)
}

#[test]
fn ok_problem_and_unknown() {
    let Some(w) = support::world() else { return };
    let (code, line) = npd(
        w,
        w.root(),
        &[
            "--registry",
            "registry.test",
            "--image",
            "token.test/public/single:1",
        ],
    );
    assert_eq!(code, Some(0), "{line}");
    assert_eq!(line, "ok: 2 registry target(s) reachable");

    let (code, line) = npd(
        w,
        w.root(),
        &[
            "--registry",
            "registry.test",
            "--registry",
            "unknownca.test",
        ],
    );
    assert_eq!(code, Some(1), "{line}");
    assert_eq!(line, "unknownca.test: TLS_UNTRUSTED (config)");

    let (code, line) = npd(
        w,
        w.root(),
        &[
            "--registry",
            "unknownca.test",
            "--registry",
            "nosuch.test",
            "--timeout",
            "2s",
        ],
    );
    assert_eq!(code, Some(1), "{line}");
    assert!(line.ends_with(" +1 more"), "{line}");

    // A long name is shortened, never the code.
    let long = format!("{}.{}.test", "a".repeat(60), "b".repeat(30));
    let (code, line) = npd(w, w.root(), &["--registry", &long, "--timeout", "2s"]);
    assert_eq!(code, Some(1), "{line}");
    assert!(line.ends_with(": DNS_NXDOMAIN (name)"), "{line}");

    // A round that cannot run at all is unknown, not a problem of the node.
    let (code, line) = npd(w, w.root(), &["--registry", "Not A Host"]);
    assert_eq!(code, Some(2), "{line}");
    assert!(line.starts_with("unknown: --registry"), "{line}");
    let (code, line) = npd(
        w,
        std::path::Path::new("/nonexistent-root"),
        &["--registry", "registry.test"],
    );
    assert_eq!(code, Some(2), "{line}");
    assert!(line.starts_with("unknown: "), "{line}");
}
