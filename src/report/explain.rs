//! Renderers for `probe explain`: the contract JSON (`CONTRACT.md`, "probe
//! pod and probe explain") and a few lines for a person.
//!
//! The only place that knows the JSON shape of an explanation. Renderers
//! write to any `io::Write`; they decide nothing about what a message means.

use crate::code::{Category, Code};
use crate::explain::Explanation;
use serde::Serialize;
use std::io::{self, Write};

/// The contract's object, field for field.
#[derive(Serialize)]
struct Json<'a> {
    code: Option<Code>,
    category: Option<Category>,
    also_possible: &'a [Code],
    matched: Option<&'a str>,
    hint: &'a str,
}

/// One JSON object and a newline.
pub fn write_json(e: &Explanation, out: &mut dyn Write) -> io::Result<()> {
    let json = Json {
        code: e.code,
        category: e.category,
        also_possible: &e.also_possible,
        matched: e.matched.as_deref(),
        hint: &e.hint,
    };
    serde_json::to_writer_pretty(&mut *out, &json)?;
    writeln!(out)
}

/// The human view: the code and category, what decided, the hint, what else
/// it could be.
pub fn write_text(e: &Explanation, out: &mut dyn Write) -> io::Result<()> {
    match (e.code, e.category) {
        (Some(code), Some(category)) => writeln!(out, "{code} ({category})")?,
        _ => writeln!(out, "no known pull error")?,
    }
    if let Some(image) = &e.image {
        writeln!(out, "  image:         {image}")?;
    }
    if let Some(matched) = &e.matched {
        writeln!(out, "  matched:       {matched}")?;
    }
    if !e.also_possible.is_empty() {
        let also: Vec<&str> = e.also_possible.iter().map(|c| c.as_str()).collect();
        writeln!(out, "  also possible: {}", also.join(", "))?;
    }
    writeln!(out, "  hint: {}", e.hint)?;
    if let Some(source) = e.source {
        writeln!(out, "  text from: {source}")?;
    }
    Ok(())
}

/// `--json` or the human view.
pub fn write(e: &Explanation, json: bool, out: &mut dyn Write) -> io::Result<()> {
    if json {
        write_json(e, out)
    } else {
        write_text(e, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(e: &Explanation, json: bool) -> String {
        let mut out = Vec::new();
        write(e, json, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn json_has_exactly_the_contract_fields() {
        let e = crate::explain::explain(
            "Failed to pull image \"a/b:1\": rpc error: code = Unknown desc = failed to pull and unpack image \"docker.io/a/b:1\": failed to resolve reference \"docker.io/a/b:1\": pull access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed",
        );
        let v: serde_json::Value = serde_json::from_str(&render(&e, true)).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            ["also_possible", "category", "code", "hint", "matched"]
        );
        assert_eq!(v["code"], "AUTH_REQUIRED");
        assert_eq!(v["category"], "credentials");
        assert_eq!(
            v["also_possible"],
            serde_json::json!(["IMAGE_NOT_FOUND", "ACCESS_DENIED"])
        );
        assert!(
            v["matched"]
                .as_str()
                .unwrap()
                .starts_with("pull access denied")
        );
    }

    #[test]
    fn unknown_is_null_in_json_and_said_in_text() {
        let e = crate::explain::explain("all good");
        let v: serde_json::Value = serde_json::from_str(&render(&e, true)).unwrap();
        assert!(v["code"].is_null() && v["category"].is_null() && v["matched"].is_null());
        assert_eq!(v["also_possible"], serde_json::json!([]));
        let text = render(&e, false);
        assert!(text.starts_with("no known pull error\n"), "{text}");
        assert!(text.contains("hint: "), "{text}");
    }

    #[test]
    fn text_names_code_category_match_and_alternatives() {
        let e = crate::explain::explain(
            "pinging container registry noaddr.test: Get \"https://noaddr.test/v2/\": dial tcp: lookup noaddr.test on 10.77.0.2:53: no such host",
        );
        let text = render(&e, false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "DNS_NXDOMAIN (name)");
        assert_eq!(
            lines[1],
            "  matched:       lookup noaddr.test on 10.77.0.2:53: no such host"
        );
        assert_eq!(lines[2], "  also possible: DNS_NO_ADDRESS");
        assert!(
            lines[3].starts_with("  hint: noaddr.test does not resolve"),
            "{text}"
        );
    }
}
