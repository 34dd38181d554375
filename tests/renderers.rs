//! Every renderer writes a library-made `Report` into a `Vec<u8>`, with no
//! process and no stdout (issue 7): the daemon, `/report` and `summarize`
//! render the same values the CLI does.

use clap::Parser as _;
use regprobe::cli::{Args, Settings};
use regprobe::report::{self, Report};

/// A report from the library itself: a node root with nothing in it, and a
/// registry on a loopback port where nothing listens.
fn report(extra: &[&str]) -> Report {
    let dir = tempfile::tempdir().unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let registry = format!("127.0.0.1:{closed}");
    let mut command_line = vec![
        "probe".to_owned(),
        "--root".to_owned(),
        dir.path().display().to_string(),
        "--registry".to_owned(),
        registry,
    ];
    command_line.extend(extra.iter().map(|s| (*s).to_owned()));
    let args = Args::try_parse_from(command_line).unwrap();
    let settings = Settings::from_args(&args, &mut &b""[..]).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    match settings.mode {
        regprobe::cli::Mode::Plan => rt.block_on(regprobe::run::plan(&settings)).unwrap(),
        _ => rt.block_on(regprobe::run::probe(&settings)).unwrap(),
    }
}

#[test]
fn json_text_and_plan_render_into_a_buffer() {
    let probed = report(&[]);
    assert_eq!(probed.targets[0].verdict.code.as_str(), "TCP_REFUSED");

    let mut json = Vec::new();
    report::json::write(&probed, false, &mut json).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&json).lines().count(),
        1,
        "one line"
    );
    let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(v["schema"], "regprobe.report/v2");
    assert_eq!(v["targets"][0]["code"], "TCP_REFUSED");
    assert_eq!(
        v["targets"][0]["endpoints"][0]["credential"]["kind"],
        "anonymous"
    );
    assert!(v["node_finding"].is_null());
    assert_eq!(
        v["config_sources"][0]["severity"], "error",
        "no resolv.conf under the root: {v:#}"
    );

    let mut text = Vec::new();
    report::text::write(&probed, &mut text).unwrap();
    // Styles are the caller's business: anstream strips them off a non-terminal.
    let text = anstream::adapter::strip_str(&String::from_utf8(text).unwrap()).to_string();
    assert!(text.contains("TCP_REFUSED (network)"), "{text}");
    assert!(text.contains("hint: nothing listens"), "{text}");

    let planned = report(&["plan"]);
    let mut plan = Vec::new();
    report::plan::write(&planned, &mut plan).unwrap();
    let plan = anstream::adapter::strip_str(&String::from_utf8(plan).unwrap()).to_string();
    assert!(plan.contains("(upstream)"), "{plan}");
    assert!(plan.contains("credential    none (anonymous)"), "{plan}");
    let mut plan_json = Vec::new();
    report::json::write(&planned, true, &mut plan_json).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&plan_json).unwrap();
    assert!(
        v.get("status").is_none() && v.get("node_finding").is_none(),
        "{v:#}"
    );
    assert!(v["targets"][0]["endpoints"][0]["plan"].is_object());

    // The CLI's own choice of renderer, and its exit status.
    let mut out = Vec::new();
    regprobe::app::render(&probed, false, &mut out).unwrap();
    assert!(String::from_utf8_lossy(&out).contains("TCP_REFUSED"));
    assert_eq!(regprobe::app::exit_status(&probed), 3);
    assert_eq!(regprobe::app::exit_status(&planned), 0);
}
