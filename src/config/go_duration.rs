//! Go's `time.ParseDuration`, as containerd reads `dial_timeout` in
//! `hosts.toml` and the kubelet reads `metav1.Duration` values
//! (`defaultCacheDuration`, a provider's `cacheDuration`): a sequence of
//! decimal numbers, each with a unit (`ns`, `us`/`µs`, `ms`, `s`, `m`, `h`),
//! or `0` alone, with an optional sign (Go `src/time/format.go`). NPD's
//! config checks (`tests/deploy.rs`) read their durations with it too.

use std::time::Duration;

/// A duration that cannot be negative (`dial_timeout`, `defaultCacheDuration`,
/// a provider's `cacheDuration`): [`parse_nanos`], a negative one refused.
pub fn parse(s: &str) -> Result<Duration, String> {
    let nanos = parse_nanos(s)?;
    let nanos = u64::try_from(nanos).map_err(|_| format!("negative duration {s:?}"))?;
    Ok(Duration::from_nanos(nanos))
}

/// Go's `time.ParseDuration` to the letter: nanoseconds as Go's
/// `time.Duration` (an `int64`), negative ones too, overflow refused.
#[expect(
    clippy::many_single_char_names,
    reason = "Go's own names (s, d, v, f, i, u), for reading it side by side"
)]
pub fn parse_nanos(orig: &str) -> Result<i64, String> {
    const UNITS: [(&str, u64); 8] = [
        ("ns", 1),
        ("us", 1_000),
        ("\u{b5}s", 1_000),  // U+00B5 micro sign
        ("\u{3bc}s", 1_000), // U+03BC Greek mu
        ("ms", 1_000_000),
        ("s", 1_000_000_000),
        ("m", 60_000_000_000),
        ("h", 3_600_000_000_000),
    ];
    const MAX: u64 = 1 << 63;
    let invalid = || format!("time: invalid duration {orig:?}");
    let mut s = orig.as_bytes();
    let mut neg = false;
    if let Some((&c, rest)) = s.split_first() {
        if c == b'-' || c == b'+' {
            neg = c == b'-';
            s = rest;
        }
    }
    if s == b"0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut d: u64 = 0;
    while !s.is_empty() {
        // The next character must be [0-9.]
        if !(s[0] == b'.' || s[0].is_ascii_digit()) {
            return Err(invalid());
        }
        // leadingInt: [0-9]*
        let mut v: u64 = 0;
        let mut i = 0;
        while i < s.len() && s[i].is_ascii_digit() {
            if v > MAX / 10 {
                return Err(invalid());
            }
            v = v * 10 + u64::from(s[i] - b'0');
            if v > MAX {
                return Err(invalid());
            }
            i += 1;
        }
        let pre = i > 0;
        s = &s[i..];
        // leadingFraction: (\.[0-9]*)? without error on overflow
        let (mut f, mut scale, mut post) = (0u64, 1f64, false);
        if s.first() == Some(&b'.') {
            s = &s[1..];
            let mut i = 0;
            let mut overflow = false;
            while i < s.len() && s[i].is_ascii_digit() {
                if !overflow {
                    if f > (MAX - 1) / 10 {
                        overflow = true;
                    } else {
                        let y = f * 10 + u64::from(s[i] - b'0');
                        if y > MAX {
                            overflow = true;
                        } else {
                            f = y;
                            scale *= 10.0;
                        }
                    }
                }
                i += 1;
            }
            post = i > 0;
            s = &s[i..];
        }
        if !pre && !post {
            return Err(invalid());
        }
        // The unit: up to the next [0-9.]
        let i = s
            .iter()
            .position(|&c| c == b'.' || c.is_ascii_digit())
            .unwrap_or(s.len());
        if i == 0 {
            return Err(format!("time: missing unit in duration {orig:?}"));
        }
        let u = String::from_utf8_lossy(&s[..i]).into_owned();
        s = &s[i..];
        let unit = UNITS
            .iter()
            .find(|(name, _)| *name == u)
            .map(|(_, n)| *n)
            .ok_or_else(|| format!("time: unknown unit {u:?} in duration {orig:?}"))?;
        if v > MAX / unit {
            return Err(invalid());
        }
        v *= unit;
        if f > 0 {
            // As Go: float64 keeps fractions of hours nanosecond-exact.
            #[expect(
                clippy::cast_sign_loss,
                reason = "Go's uint64(float64(f) * (float64(unit) / scale))"
            )]
            let frac = (f as f64 * (unit as f64 / scale)) as u64;
            v += frac;
            if v > MAX {
                return Err(invalid());
            }
        }
        d += v;
        if d > MAX {
            return Err(invalid());
        }
    }
    if neg {
        // -(1<<63) is representable; wrapping as Go's -Duration(d).
        return Ok(0i64.wrapping_sub_unsigned(d));
    }
    i64::try_from(d).map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_containerd_reads_dial_timeout() {
        assert_eq!(parse("3s"), Ok(Duration::from_secs(3)));
        assert_eq!(parse("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        assert!(parse("3").is_err());
        assert!(parse("").is_err());
        assert!(parse("-1s").is_err());
    }

    #[test]
    fn as_a_provider_response_holds_them() {
        for (text, secs) in [
            ("6h", 21600.0),
            ("1h30m", 5400.0),
            ("90s", 90.0),
            ("1.5h", 5400.0),
            ("0s", 0.0),
            ("0", 0.0),
            ("250ms", 0.25),
        ] {
            assert_eq!(parse(text), Ok(Duration::from_secs_f64(secs)), "{text}");
        }
        for bad in ["", "6", "h", "6d", "-1h"] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    /// Forms other duration parsers take and Go refuses: the kubelet fails
    /// on a `defaultCacheDuration` like these.
    #[test]
    fn only_gos_units() {
        for bad in ["10min", "1d", "1 h", "2 hours", "1h 30m"] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn parse_nanos_matches_go() {
        // From Go's src/time/time_test.go parseDurationTests.
        const SEC: i64 = 1_000_000_000;
        let ok: &[(&str, i64)] = &[
            ("0", 0),
            ("5s", 5 * SEC),
            ("30s", 30 * SEC),
            ("1478s", 1478 * SEC),
            ("-5s", -5 * SEC),
            ("+5s", 5 * SEC),
            ("-0", 0),
            ("+0", 0),
            ("5.0s", 5 * SEC),
            ("5.6s", 5 * SEC + 600_000_000),
            ("5.s", 5 * SEC),
            (".5s", SEC / 2),
            ("1.004s", SEC + 4_000_000),
            ("100.00100s", 100 * SEC + 1_000_000),
            ("10ns", 10),
            ("11us", 11_000),
            ("12\u{b5}s", 12_000),
            ("12\u{3bc}s", 12_000),
            ("13ms", 13_000_000),
            ("14s", 14 * SEC),
            ("15m", 15 * 60 * SEC),
            ("16h", 16 * 3600 * SEC),
            ("3h30m", (3 * 3600 + 30 * 60) * SEC),
            ("10.5s4m", 4 * 60 * SEC + 10 * SEC + SEC / 2),
            ("-2m3.4s", -(2 * 60 * SEC + 3 * SEC + 400_000_000)),
            (
                "1h2m3s4ms5us6ns",
                3600 * SEC + 2 * 60 * SEC + 3 * SEC + 4_000_000 + 5_000 + 6,
            ),
            (
                "39h9m14.425s",
                39 * 3600 * SEC + 9 * 60 * SEC + 14 * SEC + 425_000_000,
            ),
            ("52763797000ns", 52_763_797_000),
            ("0.3333333333333333333h", 20 * 60 * SEC),
            ("9007199254740993ns", (1 << 53) + 1),
            ("9223372036854775807ns", i64::MAX),
            ("9223372036854775.807us", i64::MAX),
            ("-9223372036854775808ns", i64::MIN),
            ("0.100000000000000000000h", 6 * 60 * SEC),
            (
                "0.830103483285477580700h",
                49 * 60 * SEC + 48 * SEC + 372_539_827,
            ),
        ];
        for (s, want) in ok {
            assert_eq!(parse_nanos(s), Ok(*want), "{s}");
        }
        for bad in [
            "",
            "3",
            "-",
            "s",
            ".",
            "-.",
            ".s",
            "+.s",
            "1d",
            "5 minutes",
            "1.5x",
            "9223372036854775808ns",
            "9223372036854775810ns",
            "-9223372036854775809ns",
        ] {
            assert!(parse_nanos(bad).is_err(), "{bad:?} must not parse");
        }
    }
}
