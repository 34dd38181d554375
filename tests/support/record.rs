//! What the recording servers of the bed (the ACR-like front, IMDS, the
//! plain-HTTP realm) saw, one JSON line per request in
//! `logs/<host>.log`, and the secrets the bed handed out.
//!
//! A record never holds a secret: form fields and query parameters named in
//! `token::SECRET_FIELDS` keep their name only, `Authorization` keeps its
//! scheme (and the user of Basic), bodies are not kept. The secrets live in
//! memory ([`Secrets`]) so tests can grep outputs for them.

use std::fs::{self, File};
use std::io::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::http::{self, Answer, Request};
use super::token::{SECRET_FIELDS, basic_credentials};

/// One request as a recording server saw it.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Recorded {
    /// Order of arrival at this server.
    pub seq: u64,
    /// The client's IP address.
    pub peer: String,
    pub method: String,
    pub path: String,
    /// Decoded query pairs; secret values replaced by `(secret)`.
    pub query: Vec<(String, String)>,
    /// Header names and values; `Authorization` reduced to its scheme.
    pub headers: Vec<(String, String)>,
    /// The `Authorization` scheme (`Basic`, `Bearer`), if any.
    pub auth_scheme: Option<String>,
    /// The user of `Authorization: Basic` (never the password).
    pub basic_user: Option<String>,
    /// Names of the form fields of an urlencoded body, in order.
    pub form_fields: Vec<String>,
    /// Form fields with values, secret ones left out.
    pub form: Vec<(String, String)>,
    /// Who the server took the caller for (an identity's name), if anyone.
    pub identity: Option<String>,
    /// The status it answered (0 when it forwarded without looking).
    pub status: u16,
}

impl Recorded {
    /// A form value or query parameter (non-secret ones only).
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .chain(&self.query)
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A header value as recorded.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether any credential came with it: an `Authorization` header, or
    /// a secret form field or query parameter.
    pub fn carries_credential(&self) -> bool {
        self.auth_scheme.is_some()
            || self
                .form_fields
                .iter()
                .chain(self.query.iter().map(|(k, _)| k))
                .any(|f| SECRET_FIELDS.contains(&f.as_str()))
    }
}

/// Appends [`Recorded`] lines to a server's log.
#[derive(Clone)]
pub struct Recorder {
    file: Arc<Mutex<File>>,
    seq: Arc<AtomicU64>,
}

impl Recorder {
    pub fn create(path: &Path) -> Recorder {
        let file = File::options()
            .create(true)
            .append(true)
            .open(path)
            .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
        Recorder {
            file: Arc::new(Mutex::new(file)),
            seq: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Records `req` and the status of `answer`, with the identity the
    /// server resolved.
    pub fn record(&self, req: &Request, answer: &Answer, identity: Option<&str>) {
        let status = match answer {
            Answer::Reply(reply) => reply.status,
            Answer::Raw(raw) => http::parse_response(raw).map_or(0, |r| r.status),
            Answer::Forward(_) => 0,
        };
        let entry = describe(
            req,
            status,
            identity,
            self.seq.fetch_add(1, Ordering::SeqCst),
        );
        let mut line = serde_json::to_string(&entry).expect("record json");
        line.push('\n');
        let mut file = self.file.lock().expect("record lock");
        file.write_all(line.as_bytes()).expect("write record");
    }
}

fn redact(pairs: Vec<(String, String)>) -> Vec<(String, String)> {
    pairs
        .into_iter()
        .map(|(k, v)| {
            let v = if SECRET_FIELDS.contains(&k.as_str()) {
                "(secret)".to_owned()
            } else {
                v
            };
            (k, v)
        })
        .collect()
}

fn describe(req: &Request, status: u16, identity: Option<&str>, seq: u64) -> Recorded {
    let auth_scheme = req
        .header("Authorization")
        .map(|v| v.split(' ').next().unwrap_or_default().to_owned());
    let headers = req
        .headers
        .iter()
        .map(|(k, v)| {
            let v = if k.eq_ignore_ascii_case("authorization") || k.eq_ignore_ascii_case("cookie") {
                v.split(' ').next().unwrap_or_default().to_owned()
            } else {
                v.clone()
            };
            (k.clone(), v)
        })
        .collect();
    let is_form = req
        .header("Content-Type")
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    let form = if is_form { req.form() } else { Vec::new() };
    Recorded {
        seq,
        peer: req.peer.map(|p| p.ip().to_string()).unwrap_or_default(),
        method: req.method.clone(),
        path: req.path().to_owned(),
        query: redact(req.query()),
        headers,
        auth_scheme,
        basic_user: basic_credentials(req).map(|(u, _)| u),
        form_fields: form.iter().map(|(k, _)| k.clone()).collect(),
        form: form
            .into_iter()
            .filter(|(k, _)| !SECRET_FIELDS.contains(&k.as_str()))
            .collect(),
        identity: identity.map(str::to_owned),
        status,
    }
}

/// The records in a server's log (empty if it has none yet); a line still
/// being written is left out.
pub fn read(path: &Path) -> Vec<Recorded> {
    let text = fs::read_to_string(path).unwrap_or_default();
    let complete = text.rfind('\n').map_or("", |end| &text[..end]);
    complete
        .split('\n')
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad record {l}: {e}")))
        .collect()
}

/// Every secret the bed handed out so far (tokens it issued); shared by the
/// servers of a world.
#[derive(Clone, Default)]
pub struct Secrets(Arc<Mutex<Vec<String>>>);

impl Secrets {
    pub fn add(&self, secret: &str) {
        self.0.lock().expect("secrets lock").push(secret.to_owned());
    }

    pub fn all(&self) -> Vec<String> {
        self.0.lock().expect("secrets lock").clone()
    }
}
