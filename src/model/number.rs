//! DynamoDB's Number: up to 38 significant decimal digits, magnitude 1E-130 to
//! 9.99..E+125, exact (never a float). Parsed from the wire's strings, kept normalised so that
//! `1e3`, `1000` and `1000.0` are one value (and one key), printed back as plain decimals the way
//! DynamoDB prints them.

use std::cmp::Ordering;
use std::fmt;

pub const MAX_DIGITS: u32 = 38;
/// Scientific exponents (`d.ddd × 10^e`) DynamoDB accepts.
pub const MIN_EXPONENT: i32 = -130;
pub const MAX_EXPONENT: i32 = 125;

/// Value = (-1)^negative × coefficient × 10^exponent. Normalised: the coefficient has no
/// trailing zeros, and zero is `{false, 0, 0}`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Number {
    negative: bool,
    coefficient: u128,
    exponent: i32,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum NumberError {
    NotANumber,
    Overflow,
    Underflow,
    TooPrecise,
}

impl NumberError {
    /// DynamoDB's wording for each failure; `input` is the offending text.
    pub fn message(self, input: &str) -> String {
        match self {
            NumberError::NotANumber if input.is_empty() => {
                "The parameter cannot be converted to a numeric value".into()
            }
            NumberError::NotANumber => {
                format!("The parameter cannot be converted to a numeric value: {input}")
            }
            NumberError::Overflow => "Number overflow. Attempting to store a number with magnitude larger than supported range".into(),
            NumberError::Underflow => "Number underflow. Attempting to store a number with magnitude smaller than supported range".into(),
            NumberError::TooPrecise => {
                "Attempting to store more than 38 significant digits in a Number".into()
            }
        }
    }
}

const POW10: [u128; 39] = {
    let mut t = [1u128; 39];
    let mut i = 1;
    while i < 39 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

fn digit_count(c: u128) -> u32 {
    // c < 10^38 always holds for a stored coefficient.
    POW10.iter().position(|&p| p > c).unwrap_or(39) as u32
}

impl Number {
    pub const ZERO: Number = Number {
        negative: false,
        coefficient: 0,
        exponent: 0,
    };

    /// Parses DynamoDB's number grammar: `[+-]digits[.digits][(e|E)[+-]digits]`, a leading or
    /// trailing point allowed (`.5`, `5.`), no spaces, no NaN/Infinity.
    pub fn parse(s: &str) -> Result<Number, NumberError> {
        let b = s.as_bytes();
        let mut i = 0;
        let negative = match b.first() {
            Some(b'-') => {
                i = 1;
                true
            }
            Some(b'+') => {
                i = 1;
                false
            }
            _ => false,
        };
        let int_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let int_digits = &b[int_start..i];
        let mut frac_digits: &[u8] = &[];
        if i < b.len() && b[i] == b'.' {
            i += 1;
            let f = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            frac_digits = &b[f..i];
        }
        if int_digits.is_empty() && frac_digits.is_empty() {
            return Err(NumberError::NotANumber);
        }
        let mut exp10: i64 = 0;
        if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
            i += 1;
            let exp_negative = match b.get(i) {
                Some(b'-') => {
                    i += 1;
                    true
                }
                Some(b'+') => {
                    i += 1;
                    false
                }
                _ => false,
            };
            let e = i;
            while i < b.len() && b[i].is_ascii_digit() {
                // Saturate: anything this large is out of range anyway.
                exp10 = (exp10 * 10 + (b[i] - b'0') as i64).min(1 << 40);
                i += 1;
            }
            if i == e {
                return Err(NumberError::NotANumber);
            }
            if exp_negative {
                exp10 = -exp10;
            }
        }
        if i != b.len() {
            return Err(NumberError::NotANumber);
        }

        // All digits in order, with the exponent of the last one.
        let all = int_digits.iter().chain(frac_digits.iter());
        let total = int_digits.len() + frac_digits.len();
        let lead = all.clone().take_while(|&&d| d == b'0').count();
        if lead == total {
            return Ok(Number::ZERO);
        }
        let trail = frac_digits
            .iter()
            .rev()
            .chain(int_digits.iter().rev())
            .take_while(|&&d| d == b'0')
            .count();
        let significant = total - lead - trail;
        // Exponent of the last significant digit.
        let last_exp = exp10 - frac_digits.len() as i64 + trail as i64;
        let sci = last_exp + significant as i64 - 1;
        if sci > MAX_EXPONENT as i64 {
            return Err(NumberError::Overflow);
        }
        if sci < MIN_EXPONENT as i64 {
            return Err(NumberError::Underflow);
        }
        if significant > MAX_DIGITS as usize {
            return Err(NumberError::TooPrecise);
        }
        let coefficient = all
            .skip(lead)
            .take(significant)
            .fold(0u128, |acc, &d| acc * 10 + (d - b'0') as u128);
        Ok(Number {
            negative,
            coefficient,
            exponent: last_exp as i32,
        })
    }

    pub fn is_zero(&self) -> bool {
        self.coefficient == 0
    }

    /// Significant digits (at least 1, for zero).
    pub fn significant_digits(&self) -> u32 {
        digit_count(self.coefficient).max(1)
    }

    /// Exponent of the leading digit in scientific notation.
    fn scientific_exponent(&self) -> i32 {
        self.exponent + digit_count(self.coefficient) as i32 - 1
    }

    /// The coefficient scaled to exactly 38 digits, so that magnitudes with the same
    /// scientific exponent compare as integers.
    fn scaled(&self) -> u128 {
        self.coefficient * POW10[(MAX_DIGITS - digit_count(self.coefficient)) as usize]
    }

    fn cmp_magnitude(&self, other: &Number) -> Ordering {
        match (self.is_zero(), other.is_zero()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
            _ => self
                .scientific_exponent()
                .cmp(&other.scientific_exponent())
                .then(self.scaled().cmp(&other.scaled())),
        }
    }

    /// Order-preserving binary form, self-delimiting so keys can be concatenated:
    /// class byte (negative 0x01, zero 0x02, positive 0x03); for non-zero, the scientific
    /// exponent biased into one byte, then the digits as nibbles `d+1` ended by a 0 nibble.
    /// Every byte after the class byte is inverted for negatives, so larger magnitudes sort
    /// first. At most 22 bytes.
    pub fn encode_key(&self, out: &mut Vec<u8>) {
        if self.is_zero() {
            out.push(0x02);
            return;
        }
        out.push(if self.negative { 0x01 } else { 0x03 });
        let start = out.len();
        out.push((self.scientific_exponent() - MIN_EXPONENT) as u8);
        let mut buf = [0u8; 39];
        let mut nibbles = coefficient_digits(self.coefficient, &mut buf)
            .bytes()
            .map(|d| d - b'0' + 1)
            .chain(std::iter::once(0));
        while let Some(hi) = nibbles.next() {
            out.push(hi << 4 | nibbles.next().unwrap_or(0));
        }
        if self.negative {
            for byte in &mut out[start..] {
                *byte = !*byte;
            }
        }
    }

    /// Reads a key written by `encode_key`; returns the number and the bytes it used.
    pub fn decode_key(bytes: &[u8]) -> Option<(Number, usize)> {
        let negative = match *bytes.first()? {
            0x02 => return Some((Number::ZERO, 1)),
            0x01 => true,
            0x03 => false,
            _ => return None,
        };
        let flip = |b: u8| if negative { !b } else { b };
        let sci = flip(*bytes.get(1)?) as i32 + MIN_EXPONENT;
        let mut coefficient = 0u128;
        let mut count = 0i32;
        let mut used = 2;
        'outer: loop {
            let byte = flip(*bytes.get(used)?);
            used += 1;
            for nibble in [byte >> 4, byte & 0x0f] {
                if nibble == 0 {
                    break 'outer;
                }
                if count == MAX_DIGITS as i32 || nibble > 10 {
                    return None;
                }
                coefficient = coefficient * 10 + (nibble - 1) as u128;
                count += 1;
            }
        }
        if count == 0 {
            return None;
        }
        Some((
            Number {
                negative,
                coefficient,
                exponent: sci - count + 1,
            },
            used,
        ))
    }
}

impl Number {
    pub fn negate(self) -> Number {
        Number {
            negative: !self.negative && !self.is_zero(),
            ..self
        }
    }

    /// Exact sum; `TooPrecise` when it needs more than 38 digits, `Overflow`/`Underflow` out
    /// of DynamoDB's range.
    pub fn checked_add(self, other: Number) -> Result<Number, NumberError> {
        if self.is_zero() {
            return Ok(other);
        }
        if other.is_zero() {
            return Ok(self);
        }
        // Both coefficients as decimal digits scaled to the smaller exponent. The exponents of
        // valid numbers differ by less than 300, so this stays small.
        let exponent = self.exponent.min(other.exponent);
        let scaled = |n: &Number| -> Vec<u8> {
            let mut d: Vec<u8> = n
                .coefficient
                .to_string()
                .bytes()
                .map(|b| b - b'0')
                .collect();
            d.extend(std::iter::repeat_n(0, (n.exponent - exponent) as usize));
            d
        };
        let (a, b) = (scaled(&self), scaled(&other));
        let (negative, digits) = if self.negative == other.negative {
            (self.negative, add_digits(&a, &b))
        } else {
            match compare_digits(&a, &b) {
                Ordering::Equal => return Ok(Number::ZERO),
                Ordering::Greater => (self.negative, sub_digits(&a, &b)),
                Ordering::Less => (other.negative, sub_digits(&b, &a)),
            }
        };
        let text: String = digits.iter().map(|d| (b'0' + d) as char).collect();
        let n = Number::parse(&format!(
            "{}{text}e{exponent}",
            if negative { "-" } else { "" }
        ))?;
        Ok(n)
    }

    pub fn checked_sub(self, other: Number) -> Result<Number, NumberError> {
        self.checked_add(other.negate())
    }
}

fn trim_leading(d: &[u8]) -> &[u8] {
    let first = d.iter().position(|&x| x != 0).unwrap_or(d.len());
    &d[first..]
}

fn compare_digits(a: &[u8], b: &[u8]) -> Ordering {
    let (a, b) = (trim_leading(a), trim_leading(b));
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// Most significant digit first.
fn add_digits(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(a.len().max(b.len()) + 1);
    let (mut i, mut j, mut carry) = (a.len(), b.len(), 0u8);
    while i > 0 || j > 0 || carry > 0 {
        let x = if i > 0 {
            i -= 1;
            a[i]
        } else {
            0
        };
        let y = if j > 0 {
            j -= 1;
            b[j]
        } else {
            0
        };
        let s = x + y + carry;
        out.push(s % 10);
        carry = s / 10;
    }
    out.reverse();
    out
}

/// `a - b` for `a >= b`.
fn sub_digits(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(a.len());
    let (mut i, mut j, mut borrow) = (a.len(), b.len(), 0i8);
    while i > 0 {
        i -= 1;
        let y = if j > 0 {
            j -= 1;
            b[j] as i8
        } else {
            0
        };
        let mut d = a[i] as i8 - y - borrow;
        borrow = (d < 0) as i8;
        if d < 0 {
            d += 10;
        }
        out.push(d as u8);
    }
    out.reverse();
    out
}

impl From<u64> for Number {
    fn from(v: u64) -> Number {
        let (mut coefficient, mut exponent) = (v as u128, 0);
        while coefficient != 0 && coefficient % 10 == 0 {
            coefficient /= 10;
            exponent += 1;
        }
        Number {
            negative: false,
            coefficient,
            exponent,
        }
    }
}

impl Ord for Number {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self.negative, other.negative) {
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
            (false, false) => self.cmp_magnitude(other),
            (true, true) => other.cmp_magnitude(self),
        }
    }
}

impl PartialOrd for Number {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Plain decimal notation, as DynamoDB returns numbers (`1E+3` comes back as `1000`). Written
/// straight to the formatter: every number in every answer goes through here.
impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_zero() {
            return f.write_str("0");
        }
        if self.negative {
            f.write_str("-")?;
        }
        let mut buf = [0u8; 39];
        let digits = coefficient_digits(self.coefficient, &mut buf);
        let n = digits.len() as i32;
        if self.exponent >= 0 {
            f.write_str(digits)?;
            write_zeros(f, self.exponent as usize)
        } else if n + self.exponent > 0 {
            let (int, frac) = digits.split_at((n + self.exponent) as usize);
            f.write_str(int)?;
            f.write_str(".")?;
            f.write_str(frac)
        } else {
            f.write_str("0.")?;
            write_zeros(f, (-(n + self.exponent)) as usize)?;
            f.write_str(digits)
        }
    }
}

fn write_zeros(f: &mut fmt::Formatter<'_>, n: usize) -> fmt::Result {
    (0..n).try_for_each(|_| f.write_str("0"))
}

/// The decimal digits of `v`, written into the tail of `buf` (39 digits hold any u128).
fn coefficient_digits(v: u128, buf: &mut [u8; 39]) -> &str {
    let mut i = buf.len();
    let mut push = |digit: u8| {
        i -= 1;
        buf[i] = b'0' + digit;
    };
    // A u128 division is a library call; nearly every coefficient fits in 64 bits.
    let mut wide = v;
    while wide > u128::from(u64::MAX) {
        push((wide % 10) as u8);
        wide /= 10;
    }
    let mut narrow = wide as u64;
    loop {
        push((narrow % 10) as u8);
        narrow /= 10;
        if narrow == 0 {
            break;
        }
    }
    // Only ASCII digits were written.
    std::str::from_utf8(&buf[i..]).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bigdecimal::BigDecimal;
    use proptest::prelude::*;
    use std::str::FromStr;

    fn n(s: &str) -> Number {
        Number::parse(s).unwrap()
    }

    #[test]
    fn accepts_dynamodb_grammar() {
        for s in [
            "3", "-7.1234", "-17e5", "-17.4E37", "+3", ".123", "0001.23", "1e+5", "0e1000", "5.",
        ] {
            assert!(Number::parse(s).is_ok(), "{s}");
        }
        for s in [
            "NaN",
            "Infinity",
            "-Infinity",
            "dog",
            " 1",
            "1 ",
            "",
            "-",
            ".",
            "1e",
            "1e+",
            "--1",
            "1.2.3",
            "0x10",
            "1_000",
        ] {
            assert_eq!(Number::parse(s), Err(NumberError::NotANumber), "{s}");
        }
    }

    #[test]
    fn normalises_and_prints_plain() {
        assert_eq!(n("1e3"), n("1000"));
        assert_eq!(n("1000.000"), n("1000"));
        assert_eq!(n("1e3").to_string(), "1000");
        assert_eq!(n("-0").to_string(), "0");
        assert_eq!(n("0.00").to_string(), "0");
        assert_eq!(n("1.50").to_string(), "1.5");
        assert_eq!(n("+0001.23").to_string(), "1.23");
        assert_eq!(n("-.5").to_string(), "-0.5");
        assert_eq!(n("12e-5").to_string(), "0.00012");
        assert_eq!(n("1e2").to_string(), "100");
        assert_eq!(n("1E-130").to_string(), format!("0.{}1", "0".repeat(129)));
    }

    #[test]
    fn range_and_precision_limits() {
        assert!(Number::parse("9.9999999999999999999999999999999999999E+125").is_ok());
        assert_eq!(Number::parse("1e126"), Err(NumberError::Overflow));
        assert_eq!(Number::parse("11e125"), Err(NumberError::Overflow));
        assert_eq!(Number::parse("-1e126"), Err(NumberError::Overflow));
        assert!(Number::parse("1e-130").is_ok());
        assert_eq!(Number::parse("1e-131"), Err(NumberError::Underflow));
        assert_eq!(Number::parse("0.9e-130"), Err(NumberError::Underflow));
        assert!(Number::parse("3.1415926535897932384626433832795028841").is_ok());
        assert_eq!(
            Number::parse("3.14159265358979323846264338327950288419"),
            Err(NumberError::TooPrecise)
        );
        // Trailing and leading zeros are not significant.
        assert!(Number::parse(&format!("1.{}", "0".repeat(60))).is_ok());
        assert!(Number::parse(&format!("{}1", "0".repeat(60))).is_ok());
        assert_eq!(
            Number::parse("1e99999999999999999999999"),
            Err(NumberError::Overflow)
        );
        assert_eq!(n("0e99999999999999999999"), Number::ZERO);
    }

    #[test]
    fn arithmetic_is_exact() {
        let sum = |a: &str, b: &str| n(a).checked_add(n(b)).map(|x| x.to_string());
        assert_eq!(
            sum("1", "10000000000000000000000"),
            Ok("10000000000000000000001".into())
        );
        assert_eq!(sum("0.1", "0.2"), Ok("0.3".into()));
        assert_eq!(sum("-5", "3"), Ok("-2".into()));
        assert_eq!(sum("5", "-5"), Ok("0".into()));
        assert_eq!(sum("-1.5", "-1.5"), Ok("-3".into()));
        assert_eq!(
            n("10000000000000000000000")
                .checked_sub(n("1"))
                .map(|x| x.to_string()),
            Ok("9999999999999999999999".into())
        );
        assert_eq!(sum("9e125", "9e125"), Err(NumberError::Overflow));
        assert_eq!(sum("1e50", "1"), Err(NumberError::TooPrecise));
        assert_eq!(sum("1e-130", "-1e-130"), Ok("0".into()));
    }

    #[test]
    fn from_integers_is_normalised() {
        assert_eq!(Number::from(0), Number::ZERO);
        assert_eq!(Number::from(1000), n("1e3"));
        assert_eq!(Number::from(u64::MAX).to_string(), u64::MAX.to_string());
    }

    #[test]
    fn key_encoding_is_at_most_22_bytes() {
        let mut k = Vec::new();
        n("-1.2345678901234567890123456789012345678E-130").encode_key(&mut k);
        assert!(k.len() <= 22, "{}", k.len());
    }

    fn number_text() -> impl Strategy<Value = String> {
        (any::<bool>(), "[0-9]{1,38}", prop::option::of(-150i32..150))
            .prop_map(|(neg, digits, exp)| {
                let mut s = String::new();
                if neg {
                    s.push('-');
                }
                s.push_str(&digits);
                if let Some(e) = exp {
                    s.push_str(&format!("e{e}"));
                }
                s
            })
            .prop_filter("in range", |s| Number::parse(s).is_ok())
    }

    fn key(x: &Number) -> Vec<u8> {
        let mut v = Vec::new();
        x.encode_key(&mut v);
        v
    }

    proptest! {
        #[test]
        fn order_matches_bigdecimal(a in number_text(), b in number_text()) {
            let (x, y) = (n(&a), n(&b));
            let (bx, by) = (BigDecimal::from_str(&a).unwrap(), BigDecimal::from_str(&b).unwrap());
            prop_assert_eq!(x.cmp(&y), bx.cmp(&by));
            prop_assert_eq!(key(&x).cmp(&key(&y)), bx.cmp(&by));
        }

        #[test]
        fn addition_matches_bigdecimal(a in number_text(), b in number_text()) {
            let exact = BigDecimal::from_str(&a).unwrap() + BigDecimal::from_str(&b).unwrap();
            if let Ok(sum) = n(&a).checked_add(n(&b)) {
                prop_assert_eq!(BigDecimal::from_str(&sum.to_string()).unwrap(), exact);
            }
        }

        #[test]
        fn display_is_the_same_value(a in number_text()) {
            let x = n(&a);
            let printed = x.to_string();
            prop_assert_eq!(BigDecimal::from_str(&printed).unwrap(), BigDecimal::from_str(&a).unwrap());
            prop_assert_eq!(n(&printed), x);
        }

        #[test]
        fn key_round_trips_and_delimits_itself(a in number_text(), tail in prop::collection::vec(any::<u8>(), 0..4)) {
            let x = n(&a);
            let mut k = key(&x);
            let len = k.len();
            k.extend_from_slice(&tail);
            prop_assert_eq!(Number::decode_key(&k), Some((x, len)));
        }
    }
}
