//! Daily series read back from the ledger, for charts: movements per UTC
//! day, and a total (stock value, an item's stock) at the end of each day.
//!
//! A total at the end of a day is the total now minus what every later
//! movement changed ([`end_of_day`]); stores return the total now and the
//! per-day sums of changes from one snapshot and leave the arithmetic
//! here. Days are UTC days; the end of a day is the next midnight, so a
//! movement at exactly midnight counts for the day it starts. A window is
//! bounded ([`MAX_DAYS`]), so a series never grows with the data.
//!
//! Stock value is integer ten-thousandths (as `unit_cost`) in `i128`:
//! quantities and costs are each `i64`, and their product need not fit one.

use chrono::{DateTime, Days as ChronoDays, NaiveDate, Utc};

/// The longest window a series covers.
pub const MAX_DAYS: u32 = 366;

/// Microseconds in a day: a timestamp's day is `micros.div_euclid(DAY_MICROS)`.
pub const DAY_MICROS: i64 = 86_400_000_000;

/// A window of consecutive UTC days ending with (and including) `last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Days {
    last: NaiveDate,
    count: u32,
}

impl Days {
    /// `count` days up to and including `last`; `count` is held to
    /// `1..=MAX_DAYS`.
    pub fn ending(last: NaiveDate, count: u32) -> Self {
        Self {
            last,
            count: count.clamp(1, MAX_DAYS),
        }
    }

    pub fn count(&self) -> u32 {
        self.count
    }

    pub fn last(&self) -> NaiveDate {
        self.last
    }

    pub fn first(&self) -> NaiveDate {
        self.last - ChronoDays::new(u64::from(self.count - 1))
    }

    /// The days, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = NaiveDate> {
        self.first().iter_days().take(self.count as usize)
    }

    /// Midnight (UTC) starting the first day.
    pub fn start(&self) -> DateTime<Utc> {
        midnight(self.first())
    }

    /// Midnight (UTC) ending the last day.
    pub fn end(&self) -> DateTime<Utc> {
        end_of(self.last)
    }

    /// Midnight ending the first day: movements from then on change the
    /// end-of-day totals of the window.
    pub fn first_end(&self) -> DateTime<Utc> {
        end_of(self.first())
    }
}

/// Midnight UTC at the start of `day`.
pub fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc()
}

/// Midnight UTC at the end of `day` (the start of the next).
pub fn end_of(day: NaiveDate) -> DateTime<Utc> {
    midnight(day + ChronoDays::new(1))
}

/// The UTC day of a day number (days since 1970-01-01), as SQLite's
/// `created_at / 86400000000` gives it.
pub fn day_from_number(n: i64) -> Option<NaiveDate> {
    DateTime::from_timestamp(n.checked_mul(86_400)?, 0).map(|t| t.date_naive())
}

/// One day's figure in a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayFigure<T> {
    pub day: NaiveDate,
    pub value: T,
}

/// Every day of `days` with its figure from `sparse` (days it lacks are 0;
/// days outside the window are ignored; a day listed twice adds up).
pub fn per_day(
    days: Days,
    sparse: impl IntoIterator<Item = (NaiveDate, i64)>,
) -> Vec<DayFigure<i64>> {
    let mut out: Vec<DayFigure<i64>> = days.iter().map(|day| DayFigure { day, value: 0 }).collect();
    let first = days.first();
    for (day, n) in sparse {
        if let Some(slot) = usize::try_from((day - first).num_days())
            .ok()
            .and_then(|i| out.get_mut(i))
        {
            slot.value += n;
        }
    }
    out
}

/// The total at the end of each day of `days`, from the total `now` and
/// the per-day sums of every change made after the end of the window's
/// first day (changes on later days, even after the window, are undone;
/// changes on or before the first day are ignored). A day that has not
/// ended yet gets the total now, less nothing but changes after it.
pub fn end_of_day(
    days: Days,
    now: i128,
    changes: impl IntoIterator<Item = (NaiveDate, i128)>,
) -> Vec<DayFigure<i128>> {
    let first = days.first();
    let count = days.count() as usize;
    // later[i]: the sum of changes on the window's day i (index `count`
    // collects every day after the window).
    let mut later = vec![0i128; count + 1];
    for (day, delta) in changes {
        let Ok(i) = usize::try_from((day - first).num_days()) else {
            continue;
        };
        later[i.min(count)] += delta;
    }
    let mut values = vec![0i128; count];
    let mut total = now - later[count];
    for i in (0..count).rev() {
        values[i] = total;
        total -= later[i];
    }
    days.iter()
        .zip(values)
        .map(|(day, value)| DayFigure { day, value })
        .collect()
}

/// Stock value now and at the end of each day of a window, in
/// ten-thousandths, at today's unit costs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueHistory {
    pub now: i128,
    pub days: Vec<DayFigure<i128>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn a_window_counts_back_from_its_last_day() {
        let w = Days::ending(d("2024-03-02"), 3);
        assert_eq!(w.first(), d("2024-02-29"));
        let all: Vec<_> = w.iter().collect();
        assert_eq!(all, vec![d("2024-02-29"), d("2024-03-01"), d("2024-03-02")]);
        assert_eq!(w.start().to_rfc3339(), "2024-02-29T00:00:00+00:00");
        assert_eq!(w.end().to_rfc3339(), "2024-03-03T00:00:00+00:00");
        assert_eq!(w.first_end().to_rfc3339(), "2024-03-01T00:00:00+00:00");
        assert_eq!(Days::ending(d("2024-03-02"), 0).count(), 1);
        assert_eq!(Days::ending(d("2024-03-02"), 10_000).count(), MAX_DAYS);
    }

    #[test]
    fn day_numbers_are_utc_days() {
        assert_eq!(day_from_number(0), Some(d("1970-01-01")));
        assert_eq!(day_from_number(19_783), Some(d("2024-03-01")));
        let micros = midnight(d("2024-03-01")).timestamp_micros() + DAY_MICROS - 1;
        assert_eq!(
            day_from_number(micros.div_euclid(DAY_MICROS)),
            Some(d("2024-03-01"))
        );
        assert_eq!(day_from_number(i64::MAX), None);
    }

    #[test]
    fn per_day_fills_missing_days_with_zero() {
        let w = Days::ending(d("2024-03-03"), 4);
        let got = per_day(
            w,
            [
                (d("2024-03-01"), 2),
                (d("2024-02-01"), 99), // before the window
                (d("2024-03-09"), 99), // after it
                (d("2024-03-03"), 5),
                (d("2024-03-03"), 1),
            ],
        );
        let values: Vec<i64> = got.iter().map(|f| f.value).collect();
        assert_eq!(values, vec![0, 2, 0, 6]);
        assert_eq!(got[0].day, d("2024-02-29"));
    }

    #[test]
    fn end_of_day_undoes_later_changes() {
        // Now 100; +30 on the 2nd, -10 on the 3rd, +5 after the window,
        // +1000 on the first day (already in every end-of-day figure).
        let w = Days::ending(d("2024-03-03"), 3);
        let got = end_of_day(
            w,
            100,
            [
                (d("2024-03-02"), 30),
                (d("2024-03-03"), -10),
                (d("2024-03-05"), 5),
                (d("2024-03-01"), 1000),
                (d("2024-01-01"), 7),
            ],
        );
        let values: Vec<i128> = got.iter().map(|f| f.value).collect();
        assert_eq!(values, vec![75, 105, 95]);
        assert_eq!(got[2].day, d("2024-03-03"));
    }

    #[test]
    fn end_of_day_without_changes_is_flat() {
        let w = Days::ending(d("2024-03-03"), 30);
        let got = end_of_day(w, i128::from(i64::MAX) * 3, []);
        assert_eq!(got.len(), 30);
        assert!(got.iter().all(|f| f.value == i128::from(i64::MAX) * 3));
    }
}
