//! The clock check: when a registry's certificate fails only on its dates
//! (expired or not yet valid by the node's clock), ask the registry what time
//! it is and check the chain again at that time. Valid then, the node's clock
//! is the fault (`CLOCK_SKEW`), not the certificate.
//!
//! The registry's time comes from the `Date` header (RFC 9110 section 6.6.1)
//! of a `GET /v2/` sent over a second handshake that accepted the chain but
//! for its dates. What it must not do: send anything secret over that
//! connection (no `Authorization`, no endpoint `header` values: they may be
//! credentials), or accept a chain with any fault but its dates. A server
//! that holds the key of a once-valid certificate could lie about the time;
//! it learns nothing from us, and the verdict only names the node's clock.

use super::client::{ERROR_BODY_LIMIT, HostClient, Req};
use super::context::Context;
use super::dial::{self, DialSpec};
use super::result::{ClockCheck, Detail, StageResult, clock_words};
use super::tls;
use crate::code::Code;
use crate::target::Endpoint;
use http::Method;

/// The registry's clock, when its certificate failed only on time at `ep`,
/// and the requests sent to learn it.
pub async fn check(ctx: &Context, ep: &Endpoint) -> (Option<ClockCheck>, u32) {
    let spec = DialSpec::for_endpoint(ep);
    let dialed = dial::dial_ignoring_cert_time(ctx, spec).await;
    let Some(io) = dialed.io else {
        return (None, 0);
    };
    let mut client = HostClient::over(ctx, spec, io);
    // No credentials and no endpoint headers: only the clock is wanted.
    let target = format!("{}/", ep.path.trim_end_matches('/'));
    let sent = client
        .send(&Req::new(Method::GET, target, ERROR_BODY_LIMIT))
        .await;
    let requests = client.requests;
    let Some(date) = sent.ok().and(client.last_date.take()) else {
        return (None, requests);
    };
    let verdict = tls::verify_at(&dialed.chain, &ep.host, &ep.tls, &ctx.trust, date.server);
    (
        Some(ClockCheck {
            date,
            valid_by_server_clock: verdict.is_ok(),
            error: verdict.err(),
        }),
        requests,
    )
}

/// The tls stage once the registry's clock is known: `CLOCK_SKEW` when the
/// chain is valid by it, else the certificate's own fault with the
/// registry's word beside it.
pub fn apply(stage: &mut StageResult, check: ClockCheck) {
    let Detail::Tls(detail) = &mut stage.detail else {
        return;
    };
    let offset = check.date.offset_seconds();
    let stated = httpdate::fmt_http_date(check.date.server);
    if check.valid_by_server_clock {
        stage.code = Code::ClockSkew;
        stage.summary = format!(
            "the certificate of {} is valid by the registry's clock (its Date: {stated}) but not by this node's: the node's clock is {} ({offset:+} s); by the node's clock: {}",
            detail.server_name,
            clock_words(offset),
            stage.summary
        );
    } else {
        stage.summary = format!(
            "{}; the registry's own clock (Date: {stated}) agrees: {}",
            stage.summary,
            check.error.as_deref().unwrap_or("not valid")
        );
    }
    detail.error = Some(stage.summary.clone());
    stage.server_date = Some(check.date.clone());
    detail.clock = Some(check);
}
