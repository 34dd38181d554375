//! Go's `time.ParseDuration`, as containerd reads `dial_timeout` in
//! `hosts.toml` and the kubelet reads `metav1.Duration` values
//! (`defaultCacheDuration`, a provider's `cacheDuration`): a sequence of
//! decimal numbers, each with a unit (`ns`, `us`/`µs`, `ms`, `s`, `m`, `h`),
//! or `0` alone (Go `src/time/format.go`).

use std::time::Duration;

/// Go's `time.ParseDuration` (`3s`, `1h30m`, `1.5h`, `250ms`, `0`), for
/// durations that cannot be negative: a negative one is refused.
pub fn parse(s: &str) -> Result<Duration, String> {
    let bad = || format!("time: invalid duration {s:?}");
    let body = s.strip_prefix('+').unwrap_or(s);
    if body.starts_with('-') {
        return Err(format!("negative duration {s:?}"));
    }
    if body == "0" {
        return Ok(Duration::ZERO);
    }
    if body.is_empty() {
        return Err(bad());
    }
    let mut total = 0f64;
    let mut rest = body;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let (num, after) = rest.split_at(num_end);
        if num.is_empty() || num == "." {
            return Err(bad());
        }
        let value: f64 = num.parse().map_err(|_| bad())?;
        let unit_end = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_end);
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(format!("time: unknown unit {unit:?} in duration {s:?}")),
        };
        total += value * scale;
        rest = next;
    }
    Duration::try_from_secs_f64(total).map_err(|_| bad())
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
}
