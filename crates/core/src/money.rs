//! Exact money: unit costs are decimals with at most four places, kept as
//! integer ten-thousandths in storage so that no backend rounds them.

use rust_decimal::Decimal;

pub const SCALE: u32 = 4;
/// Ten-thousandths up to this bound fit any backend's BIGINT with room.
const MAX_MINOR: i64 = 100_000_000_000_000_000; // 10^13 currency units

/// Parses a decimal string such as `"12.50"` into ten-thousandths.
pub fn parse_unit_cost(s: &str) -> Result<i64, &'static str> {
    let s = s.trim();
    if s.is_empty() || s.len() > 40 {
        return Err("must be a decimal string such as \"12.50\"");
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-' || b == b'+')
    {
        return Err("must be a decimal string such as \"12.50\"");
    }
    let d = Decimal::from_str_exact(s).map_err(|_| "must be a decimal string such as \"12.50\"")?;
    if d.is_sign_negative() && !d.is_zero() {
        return Err("must be zero or more");
    }
    if d.normalize().scale() > SCALE {
        return Err("must have at most 4 decimal places");
    }
    let minor = d
        .checked_mul(Decimal::from(10_000))
        .and_then(|m| i64::try_from(m.normalize()).ok())
        .filter(|m| *m <= MAX_MINOR)
        .ok_or("is too large")?;
    Ok(minor.max(0))
}

/// Renders ten-thousandths as a decimal string with at least two places
/// (`1250000` → `"125.00"`, `1234567` → `"123.4567"`).
pub fn format_unit_cost(minor: i64) -> String {
    let d = Decimal::new(minor, SCALE).normalize();
    if d.scale() < 2 {
        let mut d = d;
        d.rescale(2);
        d.to_string()
    } else {
        d.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_and_formats_exactly() {
        assert_eq!(parse_unit_cost("12.50"), Ok(125_000));
        assert_eq!(parse_unit_cost("0"), Ok(0));
        assert_eq!(parse_unit_cost("0.0001"), Ok(1));
        assert_eq!(format_unit_cost(125_000), "12.50");
        assert_eq!(format_unit_cost(0), "0.00");
        assert_eq!(format_unit_cost(1_234_567), "123.4567");
    }

    #[test]
    fn rejects_bad_costs() {
        assert!(parse_unit_cost("-1").is_err());
        assert!(parse_unit_cost("1.00001").is_err());
        assert!(parse_unit_cost("abc").is_err());
        assert!(parse_unit_cost("1e5").is_err());
        assert!(parse_unit_cost("").is_err());
        assert!(parse_unit_cost("99999999999999999999").is_err());
    }

    proptest! {
        #[test]
        fn round_trips(minor in 0i64..MAX_MINOR) {
            let text = format_unit_cost(minor);
            prop_assert_eq!(parse_unit_cost(&text), Ok(minor));
        }

        #[test]
        fn never_panics(s in ".{0,50}") {
            let _ = parse_unit_cost(&s);
        }
    }
}
