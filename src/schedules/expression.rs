//! AWS's schedule expressions, as EventBridge rules and EventBridge Scheduler accept them:
//! `cron(minutes hours day-of-month month day-of-week year)`, `rate(N unit)` and
//! `at(yyyy-mm-ddThh:mm:ss)`, and when each next fires.
//!
//! The cron dialect: six fields; `*`, `,`, `-` and `/` everywhere; `?` in exactly one of the two
//! day fields; `L` (last day of the month, or `5L`, the month's last Thursday), `W` (`15W`, the
//! weekday nearest the 15th, never leaving the month; `LW`, the last weekday) and `#` (`3#2`, the
//! month's second Tuesday); month names `JAN`-`DEC` and day names `SUN`-`SAT`; day-of-week 1 is
//! Sunday; years 1970-2199.

use jiff::civil::{Date, DateTime, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

#[derive(Clone, Debug, PartialEq)]
pub enum Schedule {
    Cron(Cron),
    /// Every this many seconds, from a start instant.
    Rate(u64),
    /// Once, at this civil time.
    At(DateTime),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Cron {
    minutes: Vec<bool>,
    hours: Vec<bool>,
    months: Vec<bool>,
    years: Vec<bool>,
    days: Days,
}

/// The day fields: exactly one of them restricts (the other is `?`).
#[derive(Clone, Debug, PartialEq)]
enum Days {
    Month(DayOfMonth),
    Week(DayOfWeek),
}

#[derive(Clone, Debug, PartialEq)]
enum DayOfMonth {
    Set(Vec<bool>),
    Last,
    /// `L-3`: three days before the last.
    LastMinus(u8),
    LastWeekday,
    /// `15W`.
    NearestWeekday(u8),
}

#[derive(Clone, Debug, PartialEq)]
enum DayOfWeek {
    /// Index 1 = Sunday .. 7 = Saturday.
    Set(Vec<bool>),
    /// `5L`: the month's last Thursday.
    Last(u8),
    /// `3#2`: the month's second Tuesday.
    Nth(u8, u8),
}

const FIRST_YEAR: i16 = 1970;
const LAST_YEAR: i16 = 2199;

/// Why an expression is not valid (the services word the error themselves).
pub type Invalid = String;

impl Schedule {
    pub fn parse(text: &str) -> Result<Schedule, Invalid> {
        let text = text.trim();
        if let Some(body) = text.strip_prefix("cron(").and_then(|r| r.strip_suffix(')')) {
            return Cron::parse(body).map(Schedule::Cron);
        }
        if let Some(body) = text.strip_prefix("rate(").and_then(|r| r.strip_suffix(')')) {
            return parse_rate(body).map(Schedule::Rate);
        }
        if let Some(body) = text.strip_prefix("at(").and_then(|r| r.strip_suffix(')')) {
            let at: DateTime = body
                .parse()
                .ok()
                .filter(|_| body.len() == 19 && body.as_bytes()[10] == b'T')
                .ok_or_else(|| format!("at() needs yyyy-mm-ddThh:mm:ss: {body}"))?;
            return Ok(Schedule::At(at));
        }
        Err(format!("not a cron(), rate() or at() expression: {text}"))
    }

    /// The first firing strictly after `after`, in `tz` (rates count from `start`); `None`
    /// when there is none (an `at()` in the past, a cron past its last year).
    pub fn next_after(
        &self,
        after: Timestamp,
        start: Timestamp,
        tz: &TimeZone,
    ) -> Option<Timestamp> {
        match self {
            Schedule::Cron(c) => c.next_after(after, tz),
            Schedule::Rate(seconds) => {
                let every = *seconds as i64;
                let elapsed = after.as_second() - start.as_second();
                let n = if elapsed < 0 { 0 } else { elapsed / every + 1 };
                Timestamp::from_second(start.as_second() + n * every).ok()
            }
            Schedule::At(at) => tz
                .to_ambiguous_zoned_datetime(*at)
                .compatible()
                .ok()
                .map(|z| z.timestamp())
                .filter(|t| *t > after),
        }
    }
}

fn parse_rate(body: &str) -> Result<u64, Invalid> {
    let mut parts = body.split_whitespace();
    let (Some(value), Some(unit), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!("rate() needs a value and a unit: {body}"));
    };
    let value: u64 = value
        .parse()
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| format!("rate() needs a positive whole number: {value}"))?;
    // AWS wants the singular for 1 and the plural otherwise.
    let seconds = match (unit, value == 1) {
        ("minute", true) | ("minutes", false) => 60,
        ("hour", true) | ("hours", false) => 3600,
        ("day", true) | ("days", false) => 86_400,
        _ => return Err(format!("rate() unit {unit} does not fit the value {value}")),
    };
    value
        .checked_mul(seconds)
        .ok_or_else(|| format!("rate() is too long: {body}"))
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// One field's allowed values as a membership table indexed by value.
fn parse_set(
    field: &str,
    min: u32,
    max: u32,
    names: &[&str],
    what: &str,
) -> Result<Vec<bool>, Invalid> {
    let mut set = vec![false; max as usize + 1];
    let value = |s: &str| -> Result<u32, Invalid> {
        if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
            return Ok(min + i as u32);
        }
        s.parse::<u32>()
            .ok()
            .filter(|v| (min..=max).contains(v))
            .ok_or_else(|| format!("{what} value out of range: {s}"))
    };
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s
                    .parse()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("{what} step is not valid: {part}"))?;
                (r, step)
            }
            None => (part, 1),
        };
        let (lo, hi) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a)?, value(b)?)
        } else {
            let v = value(range)?;
            // `5/10` runs from 5 to the end of the range.
            (v, if part.contains('/') { max } else { v })
        };
        if lo > hi {
            return Err(format!("{what} range is reversed: {range}"));
        }
        let mut v = lo;
        while v <= hi {
            set[v as usize] = true;
            v += step;
        }
    }
    Ok(set)
}

impl Cron {
    fn parse(body: &str) -> Result<Cron, Invalid> {
        let fields: Vec<&str> = body.split_whitespace().collect();
        let [minutes, hours, dom, months, dow, years] = fields[..] else {
            return Err(format!("cron() needs 6 fields, got {}", fields.len()));
        };
        let days = match (dom, dow) {
            ("?", "?") => return Err("only one of day-of-month and day-of-week can be ?".into()),
            (_, "?") => Days::Month(parse_dom(dom)?),
            ("?", _) => Days::Week(parse_dow(dow)?),
            _ => return Err("one of day-of-month and day-of-week must be ?".into()),
        };
        let cron = Cron {
            minutes: parse_set(minutes, 0, 59, &[], "minutes")?,
            hours: parse_set(hours, 0, 23, &[], "hours")?,
            months: parse_set(months, 1, 12, &MONTHS, "month")?,
            years: parse_set(years, FIRST_YEAR as u32, LAST_YEAR as u32, &[], "year")?,
            days,
        };
        Ok(cron)
    }

    fn day_matches(&self, date: Date) -> bool {
        let last = date.last_of_month().day();
        match &self.days {
            Days::Month(DayOfMonth::Set(set)) => set[date.day() as usize],
            Days::Month(DayOfMonth::Last) => date.day() == last,
            Days::Month(DayOfMonth::LastMinus(n)) => {
                i16::from(date.day()) == i16::from(last) - i16::from(*n)
            }
            Days::Month(DayOfMonth::LastWeekday) => date == nearest_weekday(date.last_of_month()),
            Days::Month(DayOfMonth::NearestWeekday(d)) => {
                let target = date
                    .first_of_month()
                    .saturating_add((i32::from(*d).min(i32::from(last)) - 1).days());
                date == nearest_weekday(target)
            }
            Days::Week(DayOfWeek::Set(set)) => set[aws_weekday(date.weekday()) as usize],
            Days::Week(DayOfWeek::Last(d)) => {
                aws_weekday(date.weekday()) == *d && date.day() + 7 > last
            }
            Days::Week(DayOfWeek::Nth(d, n)) => {
                aws_weekday(date.weekday()) == *d && (date.day() - 1) / 7 + 1 == *n as i8
            }
        }
    }

    /// Walks civil time from the minute after `after`, skipping whole years, months, days and
    /// hours that cannot match.
    fn next_after(&self, after: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let start = tz.to_datetime(after);
        let mut t = start
            .with()
            .second(0)
            .subsec_nanosecond(0)
            .build()
            .ok()?
            .checked_add(1.minute())
            .ok()?;
        loop {
            let year = t.year();
            if year > LAST_YEAR {
                return None;
            }
            if year < FIRST_YEAR || !self.years[year as usize] {
                t = DateTime::new(year + 1, 1, 1, 0, 0, 0, 0).ok()?;
                continue;
            }
            if !self.months[t.month() as usize] {
                t = t
                    .date()
                    .first_of_month()
                    .checked_add(1.month())
                    .ok()?
                    .to_datetime(jiff::civil::Time::midnight());
                continue;
            }
            if !self.day_matches(t.date()) {
                t = t
                    .date()
                    .tomorrow()
                    .ok()?
                    .to_datetime(jiff::civil::Time::midnight());
                continue;
            }
            if !self.hours[t.hour() as usize] {
                t = t
                    .with()
                    .minute(0)
                    .build()
                    .ok()?
                    .checked_add(1.hour())
                    .ok()?;
                continue;
            }
            if !self.minutes[t.minute() as usize] {
                t = t.checked_add(1.minute()).ok()?;
                continue;
            }
            // A civil time in a daylight-saving gap fires at the instant after the gap; one in
            // a fold fires once, at its first occurrence.
            let instant = tz
                .to_ambiguous_zoned_datetime(t)
                .compatible()
                .ok()?
                .timestamp();
            if instant > after {
                return Some(instant);
            }
            t = t.checked_add(1.minute()).ok()?;
        }
    }
}

/// 1 = Sunday .. 7 = Saturday.
fn aws_weekday(w: Weekday) -> u8 {
    w.to_sunday_one_offset() as u8
}

/// The weekday nearest `date` without leaving its month (Saturday → Friday, Sunday → Monday,
/// except at the month's edges).
fn nearest_weekday(date: Date) -> Date {
    match date.weekday() {
        Weekday::Saturday if date.day() == 1 => date.saturating_add(2.days()),
        Weekday::Saturday => date.saturating_sub(1.day()),
        Weekday::Sunday if date == date.last_of_month() => date.saturating_sub(2.days()),
        Weekday::Sunday => date.saturating_add(1.day()),
        _ => date,
    }
}

fn parse_dom(field: &str) -> Result<DayOfMonth, Invalid> {
    match field {
        "L" => return Ok(DayOfMonth::Last),
        "LW" => return Ok(DayOfMonth::LastWeekday),
        _ => {}
    }
    if let Some(n) = field.strip_prefix("L-") {
        let n: u8 = n
            .parse()
            .ok()
            .filter(|n| (1..=30).contains(n))
            .ok_or("day-of-month L- offset is not valid")?;
        return Ok(DayOfMonth::LastMinus(n));
    }
    if let Some(d) = field.strip_suffix('W') {
        let d: u8 = d
            .parse()
            .ok()
            .filter(|d| (1..=31).contains(d))
            .ok_or("day-of-month W day is not valid")?;
        return Ok(DayOfMonth::NearestWeekday(d));
    }
    parse_set(field, 1, 31, &[], "day-of-month").map(DayOfMonth::Set)
}

fn parse_dow(field: &str) -> Result<DayOfWeek, Invalid> {
    let day = |s: &str| -> Result<u8, Invalid> {
        if let Some(i) = DAYS.iter().position(|n| n.eq_ignore_ascii_case(s)) {
            return Ok(i as u8 + 1);
        }
        s.parse::<u8>()
            .ok()
            .filter(|d| (1..=7).contains(d))
            .ok_or_else(|| format!("day-of-week value out of range: {s}"))
    };
    if field == "L" {
        return Ok(DayOfWeek::Last(7));
    }
    if let Some(d) = field.strip_suffix('L') {
        return Ok(DayOfWeek::Last(day(d)?));
    }
    if let Some((d, n)) = field.split_once('#') {
        let n: u8 = n
            .parse()
            .ok()
            .filter(|n| (1..=5).contains(n))
            .ok_or("day-of-week # must be 1 to 5")?;
        return Ok(DayOfWeek::Nth(day(d)?, n));
    }
    parse_set(field, 1, 7, &DAYS, "day-of-week").map(DayOfWeek::Set)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn next(expr: &str, after: &str) -> String {
        let s = Schedule::parse(expr).unwrap();
        s.next_after(at(after), at(after), &TimeZone::UTC)
            .unwrap()
            .to_string()
    }

    #[test]
    fn expressions_aws_accepts_and_refuses() {
        for ok in [
            "cron(0/5 * * * ? *)",
            "cron(0 12 ? * MON-FRI *)",
            "cron(15 10 ? * 6L 2026-2027)",
            "cron(0 8 1W * ? *)",
            "cron(0 8 LW * ? *)",
            "cron(0 18 ? * 2#1 *)",
            "cron(5 0 * * ? *)",
            "cron(0,30 9-17 ? JAN,MAR * *)",
            "cron(0 0 L * ? *)",
            "cron(0 0 L-2 * ? *)",
            "rate(1 minute)",
            "rate(5 minutes)",
            "rate(1 hour)",
            "rate(12 hours)",
            "rate(1 day)",
            "rate(7 days)",
            "at(2027-01-01T09:30:00)",
        ] {
            assert!(Schedule::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "cron(* * * * * *)",
            "cron(0 12 ? * ? *)",
            "cron(0 12 * * *)",
            "cron(60 * * * ? *)",
            "cron(0 24 * * ? *)",
            "cron(0 0 32 * ? *)",
            "cron(0 0 ? * 8 *)",
            "cron(0 0 * 13 ? *)",
            "cron(0 0 * * ? 1969)",
            "cron(0 0 * * ? 2200)",
            "cron(0/0 * * * ? *)",
            "cron(5-1 * * * ? *)",
            "cron(0 0 ? * 2#6 *)",
            "rate(1 minutes)",
            "rate(5 minute)",
            "rate(0 minutes)",
            "rate(-1 minutes)",
            "rate(5 seconds)",
            "rate(minutes)",
            "at(2027-01-01)",
            "at(2027-01-01 09:30:00)",
            "every 5 minutes",
        ] {
            assert!(Schedule::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn next_firings() {
        assert_eq!(
            next("cron(0/5 * * * ? *)", "2026-12-05T03:37:26Z"),
            "2026-12-05T03:40:00Z"
        );
        assert_eq!(
            next("cron(0 12 ? * MON-FRI *)", "2026-12-05T13:00:00Z"),
            "2026-12-07T12:00:00Z"
        );
        // The last Friday of February 2028 (a leap year) is the 25th.
        assert_eq!(
            next("cron(0 9 ? FEB 6L *)", "2028-02-01T00:00:00Z"),
            "2028-02-25T09:00:00Z"
        );
        assert_eq!(
            next("cron(0 0 L FEB ? *)", "2028-01-01T00:00:00Z"),
            "2028-02-29T00:00:00Z"
        );
        // 1 Aug 2026 is a Saturday: 1W is Monday the 3rd (never July 31).
        assert_eq!(
            next("cron(0 8 1W * ? *)", "2026-07-31T00:00:00Z"),
            "2026-08-03T08:00:00Z"
        );
        // 31 May 2026 is a Sunday: LW is Friday the 29th.
        assert_eq!(
            next("cron(0 8 LW * ? *)", "2026-05-01T00:00:00Z"),
            "2026-05-29T08:00:00Z"
        );
        // The second Tuesday of January 2027 is the 12th.
        assert_eq!(
            next("cron(0 18 ? * 3#2 *)", "2027-01-01T00:00:00Z"),
            "2027-01-12T18:00:00Z"
        );
        assert_eq!(
            next("cron(0 0 1 1 ? 2030)", "2026-01-01T00:00:00Z"),
            "2030-01-01T00:00:00Z"
        );
        assert_eq!(
            next("rate(5 minutes)", "2026-12-05T03:00:00Z"),
            "2026-12-05T03:05:00Z"
        );
        let past = Schedule::parse("cron(0 0 1 1 ? 1999)").unwrap();
        assert!(past
            .next_after(
                at("2026-01-01T00:00:00Z"),
                at("2026-01-01T00:00:00Z"),
                &TimeZone::UTC
            )
            .is_none());
    }

    #[test]
    fn daylight_saving_in_new_york() {
        let ny = TimeZone::get("America/New_York").unwrap();
        let s = Schedule::parse("cron(30 2 * * ? *)").unwrap();
        // 2:30 does not exist on 8 March 2026: it fires at 3:30 EDT (07:30Z).
        let t = s
            .next_after(at("2026-03-08T05:00:00Z"), at("2026-03-08T05:00:00Z"), &ny)
            .unwrap();
        assert_eq!(t.to_string(), "2026-03-08T07:30:00Z");
        // 1:30 happens twice on 1 November 2026: it fires once, at the first (EDT, 05:30Z).
        let s = Schedule::parse("cron(30 1 * * ? *)").unwrap();
        let first = s
            .next_after(at("2026-11-01T04:00:00Z"), at("2026-11-01T04:00:00Z"), &ny)
            .unwrap();
        assert_eq!(first.to_string(), "2026-11-01T05:30:00Z");
        let second = s.next_after(first, first, &ny).unwrap();
        assert_eq!(second.to_string(), "2026-11-02T06:30:00Z");
    }

    /// The day fields of the property test, decided independently: by listing the month's
    /// days and picking from the list.
    fn oracle_day(dom: &str, dow: &str, date: Date) -> bool {
        let month: Vec<Date> = (1..=date.last_of_month().day())
            .map(|d| date.with().day(d).build().unwrap())
            .collect();
        let weekdays: Vec<Date> = month
            .iter()
            .copied()
            .filter(|d| !matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday))
            .collect();
        let nearest = |target: i8| {
            *weekdays
                .iter()
                .min_by_key(|d| (d.day() - target).abs())
                .unwrap()
        };
        let of_weekday = |n: i8| -> Vec<Date> {
            month
                .iter()
                .copied()
                .filter(|d| d.weekday().to_sunday_one_offset() == n)
                .collect()
        };
        let last = month.len() as i8;
        match (dom, dow) {
            ("*", "?") => true,
            ("L", "?") => date.day() == last,
            ("LW", "?") => date == *weekdays.last().unwrap(),
            ("15W", "?") => date == nearest(15),
            ("L-3", "?") => date.day() == last - 3,
            ("?", "MON-FRI") => weekdays.contains(&date),
            ("?", "SAT,SUN") => !weekdays.contains(&date),
            ("?", "1") => date.weekday() == Weekday::Sunday,
            ("?", "6L") => date == *of_weekday(6).last().unwrap(),
            ("?", "2#3") => of_weekday(2).get(2) == Some(&date),
            (d, "?") => date.day() == d.parse::<i8>().unwrap(),
            other => panic!("no oracle for {other:?}"),
        }
    }

    /// Every minute of the window, checked field by field: the independent implementation.
    fn brute_force(c: &Cron, days: (&str, &str), after: Timestamp) -> Option<Timestamp> {
        let mut t =
            Timestamp::from_second(after.as_second() - after.as_second().rem_euclid(60) + 60)
                .ok()?;
        for _ in 0..(400 * 24 * 60) {
            let d = TimeZone::UTC.to_datetime(t);
            if c.years[d.year() as usize]
                && c.months[d.month() as usize]
                && oracle_day(days.0, days.1, d.date())
                && c.hours[d.hour() as usize]
                && c.minutes[d.minute() as usize]
            {
                return Some(t);
            }
            t = t.checked_add(1.minute()).ok()?;
        }
        None
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
        #[test]
        fn next_fire_agrees_with_a_minute_walker(
            minute in proptest::sample::select(vec!["*", "0", "0/15", "5,35", "10-20", "59"]),
            hour in proptest::sample::select(vec!["*", "0", "12", "9-17", "0/6", "23"]),
            days in proptest::sample::select(vec![
                ("*", "?"), ("1", "?"), ("15", "?"), ("L", "?"), ("LW", "?"), ("15W", "?"), ("31", "?"),
                ("L-3", "?"), ("?", "MON-FRI"), ("?", "1"), ("?", "6L"), ("?", "2#3"), ("?", "SAT,SUN"),
            ]),
            month in proptest::sample::select(vec!["*", "FEB", "1-6", "2/3"]),
            start in 0i64..(4 * 365 * 86_400),
        ) {
            let expr = format!("cron({minute} {hour} {} {month} {} *)", days.0, days.1);
            let Ok(Schedule::Cron(c)) = Schedule::parse(&expr) else { panic!("{expr}") };
            // From 2027 on, across a leap year.
            let after = Timestamp::from_second(1_798_761_600 + start).unwrap();
            let fast = c.next_after(after, &TimeZone::UTC);
            let slow = brute_force(&c, days, after);
            if slow.is_some() {
                proptest::prop_assert_eq!(fast, slow, "{}", expr);
            }
        }
    }
}
