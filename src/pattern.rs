//! The event-pattern language of EventBridge rules and Lambda's event filtering
//! (`FilterCriteria`): one implementation for both.
//!
//! A pattern is a JSON object whose keys follow the event's fields; a nested object descends
//! into the field, an array lists what the field's value may be (any of them). An event field
//! that is an array matches when any of its elements does. `$or` lists alternative patterns at
//! its level. Matchers: literal strings, numbers, booleans and null; `prefix`, `suffix` (each
//! also with `equals-ignore-case`), `equals-ignore-case`, `wildcard`, `anything-but` (a value, a
//! list, or a `prefix`/`suffix`/`equals-ignore-case`/`wildcard`), `numeric` ranges, `exists`
//! and `cidr`.

use serde_json::{Map, Value};

#[derive(Clone, Debug, PartialEq)]
pub struct Pattern {
    fields: Vec<(String, Node)>,
    /// `$or`: at least one of these must match too.
    alternatives: Vec<Pattern>,
}

#[derive(Clone, Debug, PartialEq)]
enum Node {
    Nested(Pattern),
    /// Any of these (empty: nothing matches).
    Leaf(Vec<Matcher>),
}

#[derive(Clone, Debug, PartialEq)]
enum Matcher {
    Exact(Value),
    Prefix(String, bool),
    Suffix(String, bool),
    IgnoreCase(String),
    Wildcard(String),
    AnythingBut(Box<Negated>),
    Numeric(Vec<(Cmp, f64)>),
    Exists(bool),
    Cidr(u32, u32),
}

#[derive(Clone, Debug, PartialEq)]
enum Negated {
    Values(Vec<Value>),
    Prefix(String),
    Suffix(String),
    IgnoreCase(Vec<String>),
    Wildcard(String),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Cmp {
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
}

/// Why a pattern is not valid, in the words the services use after their own prefix.
pub type PatternError = String;

impl Pattern {
    pub fn parse(text: &str) -> Result<Pattern, PatternError> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| format!("Filter is not valid JSON: {e}"))?;
        match &value {
            Value::Object(map) => parse_object(map, 1),
            _ => Err("Filter is not an object".into()),
        }
    }

    pub fn matches(&self, event: &Value) -> bool {
        self.fields.iter().all(|(name, node)| {
            let field = event.as_object().and_then(|o| o.get(name));
            match node {
                Node::Nested(p) => match field {
                    Some(Value::Array(items)) => items.iter().any(|i| p.matches(i)),
                    Some(v) => p.matches(v),
                    // A nested pattern over a missing field can still ask for absence.
                    None => p.matches(&Value::Null) && p.only_absence(),
                },
                Node::Leaf(matchers) => matchers.iter().any(|m| m.matches(field)),
            }
        }) && (self.alternatives.is_empty() || self.alternatives.iter().any(|p| p.matches(event)))
    }

    /// True when every leaf only asks for absence (`{"exists": false}`).
    fn only_absence(&self) -> bool {
        self.fields.iter().all(|(_, node)| match node {
            Node::Nested(p) => p.only_absence(),
            Node::Leaf(ms) => ms.iter().all(|m| *m == Matcher::Exists(false)),
        })
    }
}

const MAX_DEPTH: usize = 32;

fn parse_object(map: &Map<String, Value>, depth: usize) -> Result<Pattern, PatternError> {
    if depth > MAX_DEPTH {
        return Err("Filter is nested too deeply".into());
    }
    let mut pattern = Pattern {
        fields: vec![],
        alternatives: vec![],
    };
    for (key, value) in map {
        if key == "$or" {
            let Value::Array(options) = value else {
                return Err("\"$or\" must be an array of patterns".into());
            };
            if options.len() < 2 {
                return Err("\"$or\" needs at least two patterns".into());
            }
            for option in options {
                let Value::Object(o) = option else {
                    return Err("\"$or\" must be an array of patterns".into());
                };
                pattern.alternatives.push(parse_object(o, depth + 1)?);
            }
            continue;
        }
        let node = match value {
            Value::Object(o) => Node::Nested(parse_object(o, depth + 1)?),
            Value::Array(items) => {
                Node::Leaf(items.iter().map(parse_matcher).collect::<Result<_, _>>()?)
            }
            other => {
                return Err(format!(
                    "Match value must be an array or an object, at \"{key}\": {other}"
                ))
            }
        };
        pattern.fields.push((key.clone(), node));
    }
    Ok(pattern)
}

fn string_of<'a>(v: &'a Value, what: &str) -> Result<&'a str, PatternError> {
    v.as_str()
        .ok_or_else(|| format!("{what} match pattern must be a string"))
}

/// `"x"` or `{"equals-ignore-case": "x"}` inside `prefix`/`suffix`.
fn affix(v: &Value, what: &str) -> Result<(String, bool), PatternError> {
    match v {
        Value::String(s) => Ok((s.clone(), false)),
        Value::Object(o) if o.len() == 1 && o.contains_key("equals-ignore-case") => Ok((
            string_of(&o["equals-ignore-case"], what)?.to_lowercase(),
            true,
        )),
        _ => Err(format!("{what} match pattern must be a string")),
    }
}

fn parse_matcher(v: &Value) -> Result<Matcher, PatternError> {
    let Value::Object(o) = v else {
        return match v {
            Value::Array(_) => {
                Err("Match value must be a string, number, boolean, null or object".into())
            }
            _ => Ok(Matcher::Exact(v.clone())),
        };
    };
    if o.len() != 1 {
        return Err(format!(
            "A match expression must have exactly one operator: {v}"
        ));
    }
    let (op, arg) = o
        .iter()
        .next()
        .ok_or_else(|| "empty match expression".to_string())?;
    Ok(match op.as_str() {
        "prefix" => {
            let (s, ci) = affix(arg, "prefix")?;
            Matcher::Prefix(s, ci)
        }
        "suffix" => {
            let (s, ci) = affix(arg, "suffix")?;
            Matcher::Suffix(s, ci)
        }
        "equals-ignore-case" => {
            Matcher::IgnoreCase(string_of(arg, "equals-ignore-case")?.to_lowercase())
        }
        "wildcard" => Matcher::Wildcard(check_wildcard(string_of(arg, "wildcard")?)?),
        "exists" => Matcher::Exists(
            arg.as_bool()
                .ok_or("exists match pattern must be either true or false")?,
        ),
        "numeric" => Matcher::Numeric(parse_numeric(arg)?),
        "cidr" => parse_cidr(string_of(arg, "cidr")?)?,
        "anything-but" => Matcher::AnythingBut(Box::new(parse_negated(arg)?)),
        other => return Err(format!("Unrecognized match type {other}")),
    })
}

fn parse_negated(arg: &Value) -> Result<Negated, PatternError> {
    match arg {
        Value::Array(values) => {
            if values.iter().any(|v| v.is_object() || v.is_array()) {
                return Err(
                    "Inside anything-but list, only strings and numbers are allowed".into(),
                );
            }
            Ok(Negated::Values(values.clone()))
        }
        Value::Object(o) if o.len() == 1 => {
            let (op, inner) = o.iter().next().ok_or("empty anything-but")?;
            match op.as_str() {
                "prefix" => Ok(Negated::Prefix(string_of(inner, "prefix")?.to_string())),
                "suffix" => Ok(Negated::Suffix(string_of(inner, "suffix")?.to_string())),
                "wildcard" => Ok(Negated::Wildcard(check_wildcard(string_of(
                    inner, "wildcard",
                )?)?)),
                "equals-ignore-case" => match inner {
                    Value::String(s) => Ok(Negated::IgnoreCase(vec![s.to_lowercase()])),
                    Value::Array(items) => Ok(Negated::IgnoreCase(
                        items
                            .iter()
                            .map(|i| string_of(i, "equals-ignore-case").map(str::to_lowercase))
                            .collect::<Result<_, _>>()?,
                    )),
                    _ => Err("equals-ignore-case match pattern must be a string".into()),
                },
                other => Err(format!("Unsupported anything-but pattern: {other}")),
            }
        }
        Value::Object(_) => Err("Unsupported anything-but pattern".into()),
        other => Ok(Negated::Values(vec![other.clone()])),
    }
}

fn check_wildcard(s: &str) -> Result<String, PatternError> {
    if s.contains("**") {
        return Err("Consecutive wildcard characters at pos".into());
    }
    Ok(s.to_string())
}

fn parse_numeric(arg: &Value) -> Result<Vec<(Cmp, f64)>, PatternError> {
    let Value::Array(items) = arg else {
        return Err("Value of numeric must be an array.".into());
    };
    if items.is_empty() || items.len() % 2 != 0 || items.len() > 4 {
        return Err("Bad numeric range operator".into());
    }
    let mut out = Vec::new();
    for pair in items.chunks(2) {
        let op = match pair[0].as_str() {
            Some("<") => Cmp::Lt,
            Some("<=") => Cmp::Le,
            Some("=") => Cmp::Eq,
            Some(">=") => Cmp::Ge,
            Some(">") => Cmp::Gt,
            _ => return Err(format!("Unrecognized numeric range operator: {}", pair[0])),
        };
        let n = pair[1]
            .as_f64()
            .ok_or("Value of numeric range must be a number")?;
        out.push((op, n));
    }
    let lower = out
        .iter()
        .filter(|(c, _)| matches!(c, Cmp::Gt | Cmp::Ge))
        .count();
    let upper = out
        .iter()
        .filter(|(c, _)| matches!(c, Cmp::Lt | Cmp::Le))
        .count();
    let equal = out.iter().filter(|(c, _)| *c == Cmp::Eq).count();
    if lower > 1 || upper > 1 || (equal > 0 && out.len() > 1) {
        return Err("Bad numeric range operator".into());
    }
    Ok(out)
}

fn parse_cidr(s: &str) -> Result<Matcher, PatternError> {
    let bad = || format!("Malformed CIDR, one '/' required: {s}");
    let (addr, bits) = s.split_once('/').ok_or_else(bad)?;
    let addr: std::net::Ipv4Addr = addr.parse().map_err(|_| bad())?;
    let bits: u32 = bits.parse().ok().filter(|b| *b <= 32).ok_or_else(bad)?;
    let mask = if bits == 0 {
        0
    } else {
        u32::MAX << (32 - bits)
    };
    Ok(Matcher::Cidr(u32::from(addr) & mask, mask))
}

/// `*` matches any run of characters (none included).
fn wildcard_matches(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(i) => rest = &rest[i + middle.len()..],
            None => return false,
        }
    }
    true
}

fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

impl Matcher {
    /// Whether the field's value (`None`: absent) matches; an array matches by any element.
    fn matches(&self, field: Option<&Value>) -> bool {
        if let Matcher::Exists(wanted) = self {
            // An empty array counts as absent, as EventBridge treats it.
            let present = field.is_some_and(|v| !matches!(v, Value::Array(a) if a.is_empty()));
            return present == *wanted;
        }
        match field {
            None => false,
            Some(Value::Array(items)) => match self {
                // anything-but must hold for every element.
                Matcher::AnythingBut(_) => items.iter().all(|i| self.matches_one(i)),
                _ => items.iter().any(|i| self.matches_one(i)),
            },
            Some(v) => self.matches_one(v),
        }
    }

    fn matches_one(&self, v: &Value) -> bool {
        let text = v.as_str();
        match self {
            Matcher::Exact(expected) => same_value(expected, v),
            Matcher::Prefix(p, false) => text.is_some_and(|t| t.starts_with(p.as_str())),
            Matcher::Prefix(p, true) => {
                text.is_some_and(|t| t.to_lowercase().starts_with(p.as_str()))
            }
            Matcher::Suffix(s, false) => text.is_some_and(|t| t.ends_with(s.as_str())),
            Matcher::Suffix(s, true) => {
                text.is_some_and(|t| t.to_lowercase().ends_with(s.as_str()))
            }
            Matcher::IgnoreCase(s) => text.is_some_and(|t| t.to_lowercase() == *s),
            Matcher::Wildcard(w) => text.is_some_and(|t| wildcard_matches(w, t)),
            Matcher::Numeric(ranges) => v.as_f64().is_some_and(|n| {
                ranges.iter().all(|(cmp, bound)| match cmp {
                    Cmp::Lt => n < *bound,
                    Cmp::Le => n <= *bound,
                    Cmp::Eq => n == *bound,
                    Cmp::Ge => n >= *bound,
                    Cmp::Gt => n > *bound,
                })
            }),
            Matcher::Cidr(network, mask) => text
                .and_then(|t| t.parse::<std::net::Ipv4Addr>().ok())
                .is_some_and(|ip| u32::from(ip) & mask == *network),
            Matcher::AnythingBut(negated) => !match negated.as_ref() {
                Negated::Values(values) => values.iter().any(|x| same_value(x, v)),
                Negated::Prefix(p) => text.is_some_and(|t| t.starts_with(p.as_str())),
                Negated::Suffix(s) => text.is_some_and(|t| t.ends_with(s.as_str())),
                Negated::IgnoreCase(list) => text.is_some_and(|t| list.contains(&t.to_lowercase())),
                Negated::Wildcard(w) => text.is_some_and(|t| wildcard_matches(w, t)),
            },
            Matcher::Exists(_) => unreachable!("handled in matches"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(pattern: &str, event: Value) -> bool {
        Pattern::parse(pattern).unwrap().matches(&event)
    }

    fn record(name: &str, status: &str, n: &str) -> Value {
        json!({"eventName": name, "dynamodb": {"Keys": {"pk": {"S": "a#1"}},
               "NewImage": {"status": {"S": status}, "n": {"N": n}, "tags": {"SS": ["x", "y"]}}}})
    }

    #[test]
    fn exact_values_and_nesting() {
        let p = r#"{"eventName": ["INSERT", "MODIFY"], "dynamodb": {"NewImage": {"status": {"S": ["active"]}}}}"#;
        assert!(check(p, record("INSERT", "active", "1")));
        assert!(!check(p, record("REMOVE", "active", "1")));
        assert!(!check(p, record("INSERT", "done", "1")));
        assert!(!check(p, json!({"eventName": "INSERT"})));
        // Arrays in the event match by any element.
        assert!(check(
            r#"{"dynamodb": {"NewImage": {"tags": {"SS": ["y"]}}}}"#,
            record("INSERT", "a", "1")
        ));
        assert!(check(r#"{"n": [5]}"#, json!({"n": 5.0})));
        assert!(check(r#"{"v": [null]}"#, json!({"v": null})));
        assert!(!check(r#"{"v": []}"#, json!({"v": 1})));
    }

    #[test]
    fn string_matchers() {
        let e = record("INSERT", "Active-Now", "1");
        let at =
            |m: &str| format!(r#"{{"dynamodb": {{"NewImage": {{"status": {{"S": [{m}]}}}}}}}}"#);
        assert!(check(&at(r#"{"prefix": "Act"}"#), e.clone()));
        assert!(!check(&at(r#"{"prefix": "act"}"#), e.clone()));
        assert!(check(
            &at(r#"{"prefix": {"equals-ignore-case": "act"}}"#),
            e.clone()
        ));
        assert!(check(&at(r#"{"suffix": "Now"}"#), e.clone()));
        assert!(check(
            &at(r#"{"suffix": {"equals-ignore-case": "NOW"}}"#),
            e.clone()
        ));
        assert!(check(
            &at(r#"{"equals-ignore-case": "active-now"}"#),
            e.clone()
        ));
        assert!(check(&at(r#"{"wildcard": "A*-*w"}"#), e.clone()));
        assert!(!check(&at(r#"{"wildcard": "A*x"}"#), e.clone()));
        assert!(check(
            &at(r#"{"anything-but": ["done", "gone"]}"#),
            e.clone()
        ));
        assert!(!check(&at(r#"{"anything-but": "Active-Now"}"#), e.clone()));
        assert!(!check(
            &at(r#"{"anything-but": {"prefix": "Act"}}"#),
            e.clone()
        ));
        assert!(check(
            &at(r#"{"anything-but": {"suffix": "x"}}"#),
            e.clone()
        ));
        assert!(!check(
            &at(r#"{"anything-but": {"equals-ignore-case": ["ACTIVE-NOW"]}}"#),
            e.clone()
        ));
        assert!(!check(&at(r#"{"anything-but": {"wildcard": "*Now"}}"#), e));
    }

    #[test]
    fn numeric_exists_and_cidr() {
        let n = |v: f64| json!({"n": v});
        let p = r#"{"n": [{"numeric": [">", 0, "<=", 5]}]}"#;
        assert!(check(p, n(5.0)) && check(p, n(0.5)));
        assert!(!check(p, n(0.0)) && !check(p, n(6.0)));
        assert!(!check(p, json!({"n": "3"})));
        assert!(check(r#"{"n": [{"numeric": ["=", 3]}]}"#, n(3.0)));
        assert!(check(r#"{"a": [{"exists": true}]}"#, json!({"a": 1})));
        assert!(!check(r#"{"a": [{"exists": true}]}"#, json!({"b": 1})));
        assert!(check(r#"{"a": [{"exists": false}]}"#, json!({"b": 1})));
        assert!(check(
            r#"{"a": {"b": [{"exists": false}]}}"#,
            json!({"c": 1})
        ));
        assert!(check(
            r#"{"ip": [{"cidr": "10.0.0.0/24"}]}"#,
            json!({"ip": "10.0.0.7"})
        ));
        assert!(!check(
            r#"{"ip": [{"cidr": "10.0.0.0/24"}]}"#,
            json!({"ip": "10.0.1.7"})
        ));
    }

    #[test]
    fn or_alternatives() {
        let p = r#"{"eventName": ["INSERT"], "$or": [{"a": [1]}, {"b": [{"prefix": "x"}]}]}"#;
        assert!(check(p, json!({"eventName": "INSERT", "a": 1})));
        assert!(check(p, json!({"eventName": "INSERT", "b": "xy"})));
        assert!(!check(p, json!({"eventName": "INSERT", "a": 2, "b": "y"})));
        assert!(!check(p, json!({"eventName": "MODIFY", "a": 1})));
    }

    #[test]
    fn invalid_patterns_are_refused() {
        for bad in [
            "[]",
            "not json",
            r#"{"a": "x"}"#,
            r#"{"a": [{"prefix": 1}]}"#,
            r#"{"a": [{"numeric": [">", "x"]}]}"#,
            r#"{"a": [{"numeric": [">", 1, ">", 2]}]}"#,
            r#"{"a": [{"unknown": 1}]}"#,
            r#"{"a": [{"exists": "yes"}]}"#,
            r#"{"a": [{"prefix": "a", "suffix": "b"}]}"#,
            r#"{"$or": [{"a": [1]}]}"#,
            r#"{"a": [{"anything-but": [{"x": 1}]}]}"#,
            r#"{"a": [{"wildcard": "a**b"}]}"#,
            r#"{"a": [{"cidr": "10.0.0.0"}]}"#,
        ] {
            assert!(Pattern::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn wildcards_against_a_brute_force_matcher() {
        // Every pattern over {a, b, *} up to length 4 against every text over {a, b} up to 5.
        fn brute(p: &[u8], t: &[u8]) -> bool {
            match (p.first(), t.first()) {
                (None, None) => true,
                (Some(b'*'), _) => brute(&p[1..], t) || (!t.is_empty() && brute(p, &t[1..])),
                (Some(c), Some(d)) if c == d => brute(&p[1..], &t[1..]),
                _ => false,
            }
        }
        fn words(alphabet: &[u8], max: usize) -> Vec<String> {
            let mut out = vec![String::new()];
            let mut frontier = vec![String::new()];
            for _ in 0..max {
                frontier = frontier
                    .iter()
                    .flat_map(|w| alphabet.iter().map(move |c| format!("{w}{}", *c as char)))
                    .collect();
                out.extend(frontier.clone());
            }
            out
        }
        for p in words(b"ab*", 4).iter().filter(|p| !p.contains("**")) {
            for t in words(b"ab", 5) {
                assert_eq!(
                    wildcard_matches(p, &t),
                    brute(p.as_bytes(), t.as_bytes()),
                    "{p} {t}"
                );
            }
        }
    }
}
