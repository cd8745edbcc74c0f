//! IAM identity policies: their JSON grammar, and evaluation as IAM evaluates a principal's
//! identity policies: an explicit `Deny` that matches wins, then any matching `Allow`;
//! otherwise the request is implicitly denied.
//!
//! A statement matches when its `Action` (or `NotAction`) and `Resource` (or `NotResource`)
//! patterns match (`*` and `?` wildcards; actions ignore case, ARNs do not) and every
//! condition holds. Conditions: the `String*`, `Numeric*`, `Bool`, `Arn*` and `Null`
//! operators, `IfExists`, and the `ForAllValues:`/`ForAnyValue:` set qualifiers; values and
//! resources may use `${aws:username}` and `${aws:userid}`.

use serde_json::{Map, Value};

/// The default (no statement) allows nothing.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Policy {
    statements: Vec<Statement>,
}

#[derive(Debug, Clone, PartialEq)]
struct Statement {
    allow: bool,
    actions: Patterns,
    resources: Patterns,
    conditions: Vec<Condition>,
}

/// `Action` or `NotAction` (likewise `Resource`/`NotResource`).
#[derive(Debug, Clone, PartialEq)]
struct Patterns {
    negated: bool,
    patterns: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Test {
    Equals { ignore_case: bool },
    Like,
    Numeric(std::cmp::Ordering, bool),
    Bool,
    Null,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Qualifier {
    Single,
    ForAllValues,
    ForAnyValue,
}

#[derive(Debug, Clone, PartialEq)]
struct Condition {
    test: Test,
    /// `StringNotEquals`, `NumericNotEquals`, `ArnNotLike`, ...
    negated: bool,
    qualifier: Qualifier,
    if_exists: bool,
    /// Condition keys are not case-sensitive: kept in lower case.
    key: String,
    values: Vec<String>,
}

/// What a request asks for, in IAM's terms.
pub struct Request<'a> {
    /// `service:Operation`, e.g. `dynamodb:GetItem`.
    pub action: &'a str,
    pub resource: &'a str,
    /// Condition keys in lower case, each with its values (a single-valued key has one).
    pub keys: &'a [(&'a str, Vec<String>)],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    ExplicitDeny,
    ImplicitDeny,
}

impl Policy {
    /// Parses a policy document; a malformed one is refused with the place and the reason.
    pub fn parse(text: &str) -> Result<Policy, String> {
        let doc: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let doc = doc.as_object().ok_or("a policy is a JSON object")?;
        for key in doc.keys() {
            if !matches!(key.as_str(), "Version" | "Id" | "Statement") {
                return Err(format!("unknown member {key}"));
            }
        }
        if let Some(v) = doc.get("Version") {
            if !matches!(v.as_str(), Some("2012-10-17" | "2008-10-17")) {
                return Err("Version must be 2012-10-17 or 2008-10-17".into());
            }
        }
        let statements = match doc.get("Statement") {
            Some(Value::Array(list)) => list.iter().collect(),
            Some(one @ Value::Object(_)) => vec![one],
            _ => return Err("Statement must be an object or a list of objects".into()),
        };
        let statements = statements
            .into_iter()
            .enumerate()
            .map(|(i, s)| statement(s).map_err(|e| format!("Statement {}: {e}", i + 1)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Policy { statements })
    }

    pub fn evaluate(&self, request: &Request<'_>, username: &str) -> Decision {
        let mut allowed = false;
        for s in self
            .statements
            .iter()
            .filter(|s| s.matches(request, username))
        {
            if !s.allow {
                return Decision::ExplicitDeny;
            }
            allowed = true;
        }
        if allowed {
            Decision::Allow
        } else {
            Decision::ImplicitDeny
        }
    }
}

fn statement(v: &Value) -> Result<Statement, String> {
    let s = v.as_object().ok_or("a statement is a JSON object")?;
    for key in s.keys() {
        match key.as_str() {
            "Sid" | "Effect" | "Action" | "NotAction" | "Resource" | "NotResource"
            | "Condition" => {}
            "Principal" | "NotPrincipal" => {
                return Err(format!(
                    "{key} has no place in an identity policy (it applies to its principal)"
                ))
            }
            other => return Err(format!("unknown member {other}")),
        }
    }
    let allow = match s.get("Effect").and_then(Value::as_str) {
        Some("Allow") => true,
        Some("Deny") => false,
        _ => return Err("Effect must be Allow or Deny".into()),
    };
    let actions = patterns(s, "Action", "NotAction")?;
    for a in &actions.patterns {
        if a != "*" && !a.contains(':') {
            return Err(format!("action {a} must be service:Operation"));
        }
    }
    Ok(Statement {
        allow,
        actions,
        resources: patterns(s, "Resource", "NotResource")?,
        conditions: match s.get("Condition") {
            None => Vec::new(),
            Some(Value::Object(c)) => conditions(c)?,
            Some(_) => return Err("Condition must be an object".into()),
        },
    })
}

fn strings(v: &Value, what: &str) -> Result<Vec<String>, String> {
    let one = |v: &Value| match v {
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(format!("{what} must be a string or a list of strings")),
    };
    match v {
        Value::Array(list) if !list.is_empty() => list.iter().map(one).collect(),
        Value::Array(_) => Err(format!("{what} must not be empty")),
        other => Ok(vec![one(other)?]),
    }
}

fn patterns(s: &Map<String, Value>, member: &str, not: &str) -> Result<Patterns, String> {
    match (s.get(member), s.get(not)) {
        (Some(v), None) => Ok(Patterns {
            negated: false,
            patterns: strings(v, member)?,
        }),
        (None, Some(v)) => Ok(Patterns {
            negated: true,
            patterns: strings(v, not)?,
        }),
        _ => Err(format!("give exactly one of {member} and {not}")),
    }
}

fn conditions(block: &Map<String, Value>) -> Result<Vec<Condition>, String> {
    let mut out = Vec::new();
    for (operator, keys) in block {
        let (qualifier, rest) = match operator.split_once(':') {
            Some(("ForAllValues", rest)) => (Qualifier::ForAllValues, rest),
            Some(("ForAnyValue", rest)) => (Qualifier::ForAnyValue, rest),
            Some(_) => return Err(format!("unknown condition qualifier in {operator}")),
            None => (Qualifier::Single, operator.as_str()),
        };
        let (name, if_exists) = match rest.strip_suffix("IfExists") {
            Some(name) if name != "Null" => (name, true),
            _ => (rest, false),
        };
        let (test, negated) =
            operator_of(name).ok_or_else(|| format!("unknown condition operator {operator}"))?;
        let keys = keys
            .as_object()
            .ok_or_else(|| format!("{operator} must map condition keys to values"))?;
        for (key, values) in keys {
            out.push(Condition {
                test,
                negated,
                qualifier,
                if_exists,
                key: key.to_ascii_lowercase(),
                values: strings(values, key)?,
            });
        }
    }
    Ok(out)
}

fn operator_of(name: &str) -> Option<(Test, bool)> {
    use std::cmp::Ordering::*;
    let equals = |ignore_case| Test::Equals { ignore_case };
    Some(match name {
        "StringEquals" | "ArnEquals" => (equals(false), false),
        "StringNotEquals" | "ArnNotEquals" => (equals(false), true),
        "StringEqualsIgnoreCase" => (equals(true), false),
        "StringNotEqualsIgnoreCase" => (equals(true), true),
        "StringLike" | "ArnLike" => (Test::Like, false),
        "StringNotLike" | "ArnNotLike" => (Test::Like, true),
        "NumericEquals" => (Test::Numeric(Equal, false), false),
        "NumericNotEquals" => (Test::Numeric(Equal, false), true),
        "NumericLessThan" => (Test::Numeric(Less, false), false),
        "NumericLessThanEquals" => (Test::Numeric(Less, true), false),
        "NumericGreaterThan" => (Test::Numeric(Greater, false), false),
        "NumericGreaterThanEquals" => (Test::Numeric(Greater, true), false),
        "Bool" => (Test::Bool, false),
        "Null" => (Test::Null, false),
        _ => return None,
    })
}

impl Statement {
    fn matches(&self, r: &Request<'_>, username: &str) -> bool {
        let action = self
            .actions
            .patterns
            .iter()
            .any(|p| glob(p, r.action, true));
        let resource = self
            .resources
            .patterns
            .iter()
            .any(|p| glob(&substitute(p, username), r.resource, false));
        action != self.actions.negated
            && resource != self.resources.negated
            && self.conditions.iter().all(|c| c.holds(r, username))
    }
}

impl Condition {
    fn holds(&self, r: &Request<'_>, username: &str) -> bool {
        let context = r
            .keys
            .iter()
            .find(|(k, _)| *k == self.key)
            .map(|(_, v)| v.as_slice())
            .filter(|v| !v.is_empty());
        if self.test == Test::Null {
            return self
                .values
                .iter()
                .any(|v| v.eq_ignore_ascii_case("true") == context.is_none());
        }
        let Some(values) = context else {
            // A missing key: vacuously true for "for all values", else only with IfExists.
            return self.qualifier == Qualifier::ForAllValues || self.if_exists;
        };
        let expected: Vec<String> = self
            .values
            .iter()
            .map(|v| substitute(v, username))
            .collect();
        let one = |v: &String| expected.iter().any(|e| self.test.compare(e, v)) != self.negated;
        match self.qualifier {
            Qualifier::ForAllValues => values.iter().all(one),
            Qualifier::ForAnyValue | Qualifier::Single => values.iter().any(one),
        }
    }
}

impl Test {
    /// Whether the context value `actual` passes against one condition value.
    fn compare(self, expected: &str, actual: &str) -> bool {
        match self {
            Test::Equals { ignore_case: true } => expected.eq_ignore_ascii_case(actual),
            Test::Equals { ignore_case: false } => expected == actual,
            Test::Like => glob(expected, actual, false),
            Test::Bool => expected.eq_ignore_ascii_case(actual),
            Test::Numeric(order, or_equal) => {
                match (actual.parse::<f64>(), expected.parse::<f64>()) {
                    (Ok(a), Ok(e)) => a.partial_cmp(&e).is_some_and(|o| {
                        o == order || (or_equal && o == std::cmp::Ordering::Equal)
                    }),
                    _ => false,
                }
            }
            Test::Null => false,
        }
    }
}

/// Policy variables: `${aws:username}` and `${aws:userid}` (the principal's name), and the
/// escapes `${*}`, `${?}` and `${$}` for literal characters.
fn substitute(text: &str, username: &str) -> String {
    if !text.contains("${") {
        return text.to_string();
    }
    text.replace("${aws:username}", username)
        .replace("${aws:userid}", username)
        .replace("${*}", "\u{1}")
        .replace("${?}", "\u{2}")
        .replace("${$}", "$")
}

/// `*` matches any run of characters and `?` one; `\u{1}` and `\u{2}` (escaped `*` and `?`)
/// match themselves.
pub fn glob(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let same = |a: char, b: char| match a {
        '\u{1}' => b == '*',
        '\u{2}' => b == '?',
        _ if ignore_case => a.eq_ignore_ascii_case(&b),
        _ => a == b,
    };
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < t.len() {
        if i < p.len() && (p[i] == '?' || (p[i] != '*' && same(p[i], t[j]))) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some((i, j));
            i += 1;
        } else if let Some((si, sj)) = star {
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    p[i..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TABLE: &str = "arn:aws:dynamodb:us-east-1:000000000000:table/Orders";

    fn decide(
        policy: &str,
        action: &str,
        resource: &str,
        keys: &[(&str, Vec<String>)],
    ) -> Decision {
        let p = Policy::parse(policy).unwrap();
        p.evaluate(
            &Request {
                action,
                resource,
                keys,
            },
            "alice",
        )
    }

    #[test]
    fn an_explicit_deny_wins_over_any_allow_and_nothing_allows_by_default() {
        let policy = r#"{"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"},
            {"Effect": "Deny", "Action": ["dynamodb:Delete*"], "Resource": "arn:aws:dynamodb:*:*:table/Orders"}]}"#;
        assert_eq!(
            decide(policy, "dynamodb:GetItem", TABLE, &[]),
            Decision::Allow
        );
        assert_eq!(
            decide(policy, "dynamodb:DeleteItem", TABLE, &[]),
            Decision::ExplicitDeny
        );
        assert_eq!(
            decide(policy, "lambda:InvokeFunction", TABLE, &[]),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn not_action_and_not_resource_match_everything_else() {
        let policy = r#"{"Statement": {"Effect": "Allow", "NotAction": "dynamodb:DeleteTable",
            "NotResource": "arn:aws:dynamodb:*:*:table/Secret*"}}"#;
        assert_eq!(
            decide(policy, "dynamodb:PutItem", TABLE, &[]),
            Decision::Allow
        );
        assert_eq!(
            decide(policy, "dynamodb:DeleteTable", TABLE, &[]),
            Decision::ImplicitDeny
        );
        let secret = "arn:aws:dynamodb:us-east-1:000000000000:table/SecretStuff";
        assert_eq!(
            decide(policy, "dynamodb:PutItem", secret, &[]),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn leading_keys_with_the_username_and_set_qualifiers() {
        let policy = r#"{"Statement": {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*",
            "Condition": {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["${aws:username}"]}}}}"#;
        let keys = |v: &[&str]| {
            vec![(
                "dynamodb:leadingkeys",
                v.iter().map(|s| s.to_string()).collect(),
            )]
        };
        assert_eq!(
            decide(policy, "dynamodb:GetItem", TABLE, &keys(&["alice"])),
            Decision::Allow
        );
        assert_eq!(
            decide(policy, "dynamodb:GetItem", TABLE, &keys(&["alice", "bob"])),
            Decision::ImplicitDeny
        );
        let any = policy.replace("ForAllValues", "ForAnyValue");
        assert_eq!(
            decide(&any, "dynamodb:GetItem", TABLE, &keys(&["alice", "bob"])),
            Decision::Allow
        );
        // A request without the key: true for all values of nothing, false for any value.
        assert_eq!(
            decide(policy, "dynamodb:GetItem", TABLE, &[]),
            Decision::Allow
        );
        assert_eq!(
            decide(&any, "dynamodb:GetItem", TABLE, &[]),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn null_if_exists_like_and_numbers() {
        let policy = r#"{"Statement": {"Effect": "Allow", "Action": "dynamodb:Query", "Resource": "*",
            "Condition": {"StringEqualsIfExists": {"dynamodb:Select": "SPECIFIC_ATTRIBUTES"},
                          "StringLike": {"aws:SourceIp": "10.0.*"},
                          "Null": {"dynamodb:ReturnValues": "true"},
                          "NumericLessThanEquals": {"x:n": 5}}}}"#;
        let base = || {
            vec![
                ("aws:sourceip", vec!["10.0.3.4".to_string()]),
                ("x:n", vec!["5".to_string()]),
            ]
        };
        assert_eq!(
            decide(policy, "dynamodb:Query", TABLE, &base()),
            Decision::Allow
        );
        let mut with_select = base();
        with_select.push(("dynamodb:select", vec!["ALL_ATTRIBUTES".into()]));
        assert_eq!(
            decide(policy, "dynamodb:Query", TABLE, &with_select),
            Decision::ImplicitDeny
        );
        let mut returning = base();
        returning.push(("dynamodb:returnvalues", vec!["ALL_OLD".into()]));
        assert_eq!(
            decide(policy, "dynamodb:Query", TABLE, &returning),
            Decision::ImplicitDeny
        );
        let mut big = base();
        big[1].1 = vec!["6".into()];
        assert_eq!(
            decide(policy, "dynamodb:Query", TABLE, &big),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn malformed_policies_are_refused_with_the_reason() {
        let bad = |p: &str| Policy::parse(p).unwrap_err();
        assert!(bad("{").contains("not JSON"));
        assert!(
            bad(r#"{"Statement": [{"Effect": "Maybe", "Action": "*", "Resource": "*"}]}"#)
                .starts_with("Statement 1: Effect")
        );
        assert!(bad(r#"{"Statement": {"Effect": "Allow", "Action": "*"}}"#).contains("Resource"));
        assert!(
            bad(r#"{"Statement": {"Effect": "Allow", "Action": "GetItem", "Resource": "*"}}"#)
                .contains("service:Operation")
        );
        assert!(bad(
            r#"{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*",
            "Condition": {"StringSorta": {"a": "b"}}}}"#
        )
        .contains("unknown condition operator StringSorta"));
        assert!(bad(r#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}}"#)
            .contains("Principal"));
    }

    #[test]
    fn wildcards() {
        assert!(glob("dynamodb:Get*", "dynamodb:GetItem", false));
        assert!(glob("DYNAMODB:getitem", "dynamodb:GetItem", true));
        assert!(!glob("DYNAMODB:getitem", "dynamodb:GetItem", false));
        assert!(glob(
            "arn:aws:dynamodb:*:*:table/T/index/*",
            "arn:aws:dynamodb:r:1:table/T/index/byDate",
            false
        ));
        assert!(!glob(
            "arn:aws:dynamodb:*:*:table/T",
            "arn:aws:dynamodb:r:1:table/T/index/x",
            false
        ));
        assert!(glob("a?c", "abc", false));
        assert!(!glob("a?c", "ac", false));
        assert!(glob(&substitute("file${*}", "u"), "file*", false));
        assert!(!glob(&substitute("file${*}", "u"), "files", false));
    }

    proptest! {
        /// `*` alone matches anything; a pattern without wildcards matches only itself.
        #[test]
        fn wildcard_identities(text in "[a-zA-Z0-9:/_.-]{0,40}", other in "[a-zA-Z0-9:/_.-]{0,40}") {
            prop_assert!(glob("*", &text, false));
            prop_assert_eq!(glob(&text, &other, false), text == other);
            let prefix: String = text.chars().take(5).collect::<String>() + "*";
            prop_assert!(glob(&prefix, &text, false));
        }
    }
}
