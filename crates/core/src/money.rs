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

/// Renders a total in ten-thousandths (a stock value: quantity × unit
/// cost, which may exceed `i64`) exactly, with thousands separators and at
/// least two places (`123_456_700` → `"12,345.67"`, `1` → `"0.0001"`).
pub fn format_total(minor: i128) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    let whole = (abs / 10_000).to_string();
    let mut fraction = format!("{:04}", abs % 10_000);
    while fraction.len() > 2 && fraction.ends_with('0') {
        fraction.pop();
    }
    let mut grouped = String::with_capacity(whole.len() + whole.len() / 3);
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{sign}{grouped}.{fraction}")
}

/// Renders an amount in ten-thousandths (a line or order total: quantity ×
/// unit cost, summed, which may exceed `i64`) exactly, without separators
/// and with at least two places (`1_234_567` → `"123.4567"`, `0` → `"0.00"`),
/// the form the API sends money in.
pub fn format_amount(minor: i128) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    let mut fraction = format!("{:04}", abs % 10_000);
    while fraction.len() > 2 && fraction.ends_with('0') {
        fraction.pop();
    }
    format!("{sign}{}.{fraction}", abs / 10_000)
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
    fn formats_totals_exactly() {
        assert_eq!(format_total(0), "0.00");
        assert_eq!(format_total(1), "0.0001");
        assert_eq!(format_total(123_456_700), "12,345.67");
        assert_eq!(format_total(10_000_000_000), "1,000,000.00");
        assert_eq!(format_total(-999_1230), "-999.123");
        assert_eq!(
            format_total(i128::from(i64::MAX) * 1_000),
            "922,337,203,685,477,580.70"
        );
        assert_eq!(
            format_total(i128::MIN),
            "-17,014,118,346,046,923,173,168,730,371,588,410.5728"
        );
    }

    #[test]
    fn formats_amounts_exactly() {
        assert_eq!(format_amount(0), "0.00");
        assert_eq!(format_amount(1_234_567), "123.4567");
        assert_eq!(format_amount(125_000), "12.50");
        assert_eq!(
            format_amount(i128::from(i64::MAX) * 1_000),
            "922337203685477580.70"
        );
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
