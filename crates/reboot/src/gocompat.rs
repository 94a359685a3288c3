//! Parsers that accept exactly what kured's Go flag library accepts.
//!
//! kured reads its flags with `spf13/pflag`, so values are Go values: durations follow
//! `time.ParseDuration` (`1h0m0s`, `90s`, `1.5h`, `300ms`), booleans follow `strconv.ParseBool`,
//! and the sentinel and reboot commands are split with `google/shlex`. Drydock must accept the
//! same strings so existing manifests keep working, and print durations the way Go does in the
//! start-up log lines.

use jiff::SignedDuration;

const NANOS_PER_MICRO: i128 = 1_000;
const NANOS_PER_MILLI: i128 = 1_000_000;
const NANOS_PER_SECOND: i128 = 1_000_000_000;
const NANOS_PER_MINUTE: i128 = 60 * NANOS_PER_SECOND;
const NANOS_PER_HOUR: i128 = 60 * NANOS_PER_MINUTE;

/// Parses a Go `time.Duration` string, as `time.ParseDuration` does.
///
/// A duration is an optional sign followed by one or more `<decimal><unit>` pairs, where the
/// unit is one of `ns`, `us` (or `µs`, `μs`), `ms`, `s`, `m`, `h`; the lone string `0` is also
/// accepted. The result must fit Go's `int64` nanoseconds.
pub fn parse_duration(s: &str) -> Result<SignedDuration, String> {
    let original = s;
    let (negative, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(SignedDuration::ZERO);
    }
    if rest.is_empty() {
        return Err(format!("invalid duration {original:?}"));
    }
    let mut total: i128 = 0;
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
            return Err(format!("invalid duration {original:?}"));
        }
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| *c == '.' || c.is_ascii_digit())
            .map_or(rest.len(), |(i, _)| i);
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let unit_nanos = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => NANOS_PER_MICRO,
            "ms" => NANOS_PER_MILLI,
            "s" => NANOS_PER_SECOND,
            "m" => NANOS_PER_MINUTE,
            "h" => NANOS_PER_HOUR,
            "" => return Err(format!("missing unit in duration {original:?}")),
            other => return Err(format!("unknown unit {other:?} in duration {original:?}")),
        };
        let whole: i128 = if int_part.is_empty() {
            0
        } else {
            int_part
                .parse::<i128>()
                .map_err(|_| format!("invalid duration {original:?}"))?
        };
        let mut value = whole
            .checked_mul(unit_nanos)
            .ok_or_else(|| format!("invalid duration {original:?}"))?;
        if !frac_part.is_empty() {
            // Go scales the fraction by the unit and truncates; more than 18 digits add nothing.
            let digits = &frac_part[..frac_part.len().min(18)];
            let numerator: i128 = digits
                .parse()
                .map_err(|_| format!("invalid duration {original:?}"))?;
            let scale = 10_i128.pow(u32::try_from(digits.len()).unwrap_or(18));
            value += numerator * unit_nanos / scale;
        }
        total = total
            .checked_add(value)
            .filter(|t| *t <= i128::from(i64::MAX))
            .ok_or_else(|| format!("invalid duration {original:?}: out of range"))?;
    }
    let nanos = i64::try_from(if negative { -total } else { total })
        .map_err(|_| format!("invalid duration {original:?}: out of range"))?;
    Ok(SignedDuration::from_nanos(nanos))
}

/// Formats a duration as Go's `time.Duration.String` does (`1h0m0s`, `1m30s`, `1.5s`, `0s`).
pub fn format_duration(d: SignedDuration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let abs = nanos.unsigned_abs();
    let frac = |value: u128, unit: u128, digits: usize| -> String {
        let whole = value / unit;
        let rem = value % unit;
        if rem == 0 {
            whole.to_string()
        } else {
            let text = format!("{rem:0digits$}");
            format!("{whole}.{}", text.trim_end_matches('0'))
        }
    };
    if abs < 1_000 {
        return format!("{sign}{abs}ns");
    }
    if abs < 1_000_000 {
        return format!("{sign}{}µs", frac(abs, 1_000, 3));
    }
    if abs < 1_000_000_000 {
        return format!("{sign}{}ms", frac(abs, 1_000_000, 6));
    }
    let hours = abs / 3_600_000_000_000;
    let minutes = (abs / 60_000_000_000) % 60;
    let seconds = frac(abs % 60_000_000_000, 1_000_000_000, 9);
    if hours > 0 {
        format!("{sign}{hours}h{minutes}m{seconds}s")
    } else if minutes > 0 {
        format!("{sign}{minutes}m{seconds}s")
    } else {
        format!("{sign}{seconds}s")
    }
}

/// Parses a boolean as Go's `strconv.ParseBool` does.
pub fn parse_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        other => Err(format!("invalid boolean {other:?}")),
    }
}

/// Parses an integer flag value as pflag does (`strconv.ParseInt(s, 0, 64)`: decimal, or with
/// a `0x`, `0o` or `0b` prefix, optional sign).
pub fn parse_int(s: &str) -> Result<i64, String> {
    let err = || format!("invalid integer {s:?}");
    let (negative, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let digits = digits.replace('_', "");
    let lower = digits.to_ascii_lowercase();
    let magnitude = if let Some(hex) = lower.strip_prefix("0x") {
        i128::from_str_radix(hex, 16)
    } else if let Some(oct) = lower.strip_prefix("0o") {
        i128::from_str_radix(oct, 8)
    } else if let Some(bin) = lower.strip_prefix("0b") {
        i128::from_str_radix(bin, 2)
    } else if lower.len() > 1 && lower.starts_with('0') {
        i128::from_str_radix(&lower[1..], 8)
    } else {
        lower.parse::<i128>()
    }
    .map_err(|_| err())?;
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return Err(err());
    }
    i64::try_from(if negative { -magnitude } else { magnitude }).map_err(|_| err())
}

/// Splits a command line into words as `google/shlex` does: blanks separate words, single
/// quotes are literal, double quotes allow `\"` and `\\` escapes, a backslash escapes the next
/// character, and `#` at the start of a word begins a comment.
pub fn shlex_split(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let Some(&first) = chars.peek() else {
            return Ok(words);
        };
        if first == '#' {
            // A comment runs to the end of the line.
            while chars.next_if(|c| *c != '\n').is_some() {}
            continue;
        }
        let mut word = String::new();
        while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
            match c {
                '\'' => loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err(format!("unterminated single quote in {s:?}")),
                    }
                },
                '"' => loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some('\n') => {}
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err(format!("unterminated double quote in {s:?}")),
                        },
                        Some(c) => word.push(c),
                        None => return Err(format!("unterminated double quote in {s:?}")),
                    }
                },
                '\\' => match chars.next() {
                    Some('\n') => {}
                    Some(c) => word.push(c),
                    None => return Err(format!("trailing backslash in {s:?}")),
                },
                c => word.push(c),
            }
        }
        words.push(word);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dur(s: &str) -> i64 {
        parse_duration(s).unwrap().as_nanos() as i64
    }

    #[test]
    fn go_durations_parse_to_the_same_nanoseconds_as_go() {
        assert_eq!(dur("1h0m0s"), 3_600_000_000_000);
        assert_eq!(dur("30m"), 1_800_000_000_000);
        assert_eq!(dur("1.5h"), 5_400_000_000_000);
        assert_eq!(dur("300ms"), 300_000_000);
        assert_eq!(dur("2h45m"), 9_900_000_000_000);
        assert_eq!(dur("1µs"), 1_000);
        assert_eq!(dur("1us"), 1_000);
        assert_eq!(dur("0"), 0);
        assert_eq!(dur("-1m"), -60_000_000_000);
        assert_eq!(dur(".5s"), 500_000_000);
    }

    #[test]
    fn malformed_go_durations_are_refused() {
        for bad in [
            "",
            "1",
            "h",
            "1d",
            "1h-1m",
            "1.s.",
            "-",
            "1e3s",
            "9999999999h",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn durations_print_like_go() {
        for s in [
            "1h0m0s", "0s", "1m30s", "1.5s", "300ms", "1µs", "5ns", "-2m0s", "30m0s",
        ] {
            assert_eq!(format_duration(parse_duration(s).unwrap()), s);
        }
    }

    #[test]
    fn booleans_follow_strconv_parse_bool() {
        assert_eq!(parse_bool("T"), Ok(true));
        assert_eq!(parse_bool("False"), Ok(false));
        assert!(parse_bool("yes").is_err());
    }

    #[test]
    fn integers_accept_sign_and_go_prefixes() {
        assert_eq!(parse_int("39"), Ok(39));
        assert_eq!(parse_int("-1"), Ok(-1));
        assert_eq!(parse_int("0x10"), Ok(16));
        assert!(parse_int("1.5").is_err());
        assert!(parse_int("").is_err());
        assert!(parse_int("--1").is_err());
    }

    #[test]
    fn shlex_splits_like_google_shlex() {
        assert_eq!(
            shlex_split("/bin/systemctl reboot").unwrap(),
            ["/bin/systemctl", "reboot"]
        );
        assert_eq!(
            shlex_split(r#"sh -c "! needs-restarting --reboothint""#).unwrap(),
            ["sh", "-c", "! needs-restarting --reboothint"]
        );
        assert_eq!(shlex_split("a 'b c' d\\ e").unwrap(), ["a", "b c", "d e"]);
        assert!(shlex_split("   ").unwrap().is_empty());
        assert!(shlex_split("echo 'oops").is_err());
    }
}
