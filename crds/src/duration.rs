//! Go duration syntax (`time.ParseDuration`), as Kubernetes `metav1.Duration` fields use it:
//! "300ms", "3s", "1m", "5m30s", "1h2m3.5s". This module owns the parser; callers turn the result
//! into unit-carrying types such as [`crate::values::HoldTime`].

pub use crate::error::DurationError;
use std::fmt;
use std::time::Duration;

/// Parses a Go duration string into a non-negative [`Duration`].
pub fn parse_go_duration(input: &str) -> Result<Duration, DurationError> {
    let s = input.trim();
    if s.is_empty() {
        return Err(DurationError::DurationEmpty);
    }
    let (negative, mut rest) = match s.as_bytes()[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(DurationError::DurationSyntax(input.to_string()));
    }
    // Total in nanoseconds, kept as u128 and checked against Go's i64 limit at the end.
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let int_part = &rest[..int_len];
        rest = &rest[int_len..];
        let mut frac_part = "";
        if let Some(after_dot) = rest.strip_prefix('.') {
            let frac_len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
            frac_part = &after_dot[..frac_len];
            rest = &after_dot[frac_len..];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(DurationError::DurationSyntax(input.to_string()));
        }
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map(|(i, _)| i)
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let unit_nanos: u128 = match unit {
            "" => return Err(DurationError::DurationMissingUnit(input.to_string())),
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            other => {
                return Err(DurationError::DurationUnknownUnit {
                    input: input.to_string(),
                    unit: other.to_string(),
                })
            }
        };
        let overflow = || DurationError::DurationOverflow(input.to_string());
        let int_value: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| overflow())?
        };
        let mut nanos = int_value.checked_mul(unit_nanos).ok_or_else(overflow)?;
        if !frac_part.is_empty() {
            // Go keeps as many fractional digits as fit; nanosecond precision is plenty here.
            let digits = &frac_part[..frac_part.len().min(18)];
            let frac_value: u128 = digits.parse().map_err(|_| overflow())?;
            let scale = 10u128.pow(digits.len() as u32);
            nanos = nanos
                .checked_add(frac_value * unit_nanos / scale)
                .ok_or_else(overflow)?;
        }
        total = total.checked_add(nanos).ok_or_else(overflow)?;
        if total > i64::MAX as u128 {
            return Err(overflow());
        }
    }
    if negative && total != 0 {
        return Err(DurationError::DurationNegative(input.to_string()));
    }
    let secs = (total / 1_000_000_000) as u64;
    let sub = (total % 1_000_000_000) as u32;
    Ok(Duration::new(secs, sub))
}

/// Formats a [`Duration`] the way Go's `Duration.String()` does ("1m30s", "250ms", "0s").
pub fn format_go_duration(d: Duration) -> String {
    GoDuration(d).to_string()
}

/// Display adapter printing a [`Duration`] in Go syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GoDuration(pub Duration);

impl fmt::Display for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d.is_zero() {
            return f.write_str("0s");
        }
        if d < Duration::from_secs(1) {
            let n = d.as_nanos();
            return if n % 1_000_000 == 0 {
                write!(f, "{}ms", n / 1_000_000)
            } else if n % 1_000 == 0 {
                write!(f, "{}µs", n / 1_000)
            } else {
                write!(f, "{n}ns")
            };
        }
        let total = d.as_secs();
        let (h, m, s) = (total / 3600, (total % 3600) / 60, total % 60);
        if h > 0 {
            write!(f, "{h}h{m}m")?;
        } else if m > 0 {
            write!(f, "{m}m")?;
        }
        let nanos = d.subsec_nanos();
        if nanos == 0 {
            write!(f, "{s}s")
        } else {
            let frac = format!("{nanos:09}");
            write!(f, "{s}.{}s", frac.trim_end_matches('0'))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_syntax() {
        let cases = [
            ("0", Duration::ZERO),
            ("0s", Duration::ZERO),
            ("3s", Duration::from_secs(3)),
            ("1m", Duration::from_secs(60)),
            ("5m30s", Duration::from_secs(330)),
            ("1h2m3.5s", Duration::from_millis(3_723_500)),
            ("250ms", Duration::from_millis(250)),
            ("1.5h", Duration::from_secs(5400)),
            ("10us", Duration::from_micros(10)),
            ("10µs", Duration::from_micros(10)),
            ("7ns", Duration::from_nanos(7)),
            (".5s", Duration::from_millis(500)),
            ("+90s", Duration::from_secs(90)),
            ("-0s", Duration::ZERO),
        ];
        for (input, want) in cases {
            assert_eq!(parse_go_duration(input).ok(), Some(want), "{input}");
        }
    }

    #[test]
    fn rejects_bad_syntax() {
        assert!(matches!(
            parse_go_duration(""),
            Err(DurationError::DurationEmpty)
        ));
        assert!(matches!(
            parse_go_duration("10"),
            Err(DurationError::DurationMissingUnit(_))
        ));
        assert!(matches!(
            parse_go_duration("3 s"),
            Err(DurationError::DurationUnknownUnit { .. })
        ));
        assert!(matches!(
            parse_go_duration("3d"),
            Err(DurationError::DurationUnknownUnit { .. })
        ));
        assert!(matches!(
            parse_go_duration("s"),
            Err(DurationError::DurationSyntax(_))
        ));
        assert!(matches!(
            parse_go_duration("-"),
            Err(DurationError::DurationSyntax(_))
        ));
        assert!(matches!(
            parse_go_duration("-3s"),
            Err(DurationError::DurationNegative(_))
        ));
        assert!(matches!(
            parse_go_duration("9999999999h"),
            Err(DurationError::DurationOverflow(_))
        ));
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(format_go_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_go_duration(Duration::from_secs(9)), "9s");
        assert_eq!(format_go_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(
            format_go_duration(Duration::from_millis(3_723_500)),
            "1h2m3.5s"
        );
        assert_eq!(format_go_duration(Duration::ZERO), "0s");
    }
}
