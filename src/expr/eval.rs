//! Evaluating conditions against an item, with DynamoDB's type rules: comparing values of
//! different types is false (not an error), a missing attribute compares false except for
//! `<>`, sets are equal regardless of order.

use std::cmp::Ordering;

use super::ast::{Comparator, Condition, Function, Operand, Path, PathStep};
use crate::error::{Error, Result};
use crate::model::{AttributeValue, Item, Number};

/// The value a document path points at, if there is one.
pub fn resolve<'a>(item: &'a Item, path: &Path) -> Option<&'a AttributeValue> {
    let mut steps = path.steps.iter();
    let mut current = match steps.next()? {
        PathStep::Attribute(name) => item.get(name)?,
        PathStep::Index(_) => return None,
    };
    for step in steps {
        current = match (step, current) {
            (PathStep::Attribute(name), AttributeValue::M(m)) => m.get(name)?,
            (PathStep::Index(i), AttributeValue::L(l)) => l.get(*i)?,
            _ => return None,
        };
    }
    Some(current)
}

/// Evaluates a condition; `member` names the expression in runtime validation errors.
pub fn evaluate(condition: &Condition, item: &Item, member: &str) -> Result<bool> {
    Evaluator { item, member }.condition(condition)
}

struct Evaluator<'a> {
    item: &'a Item,
    member: &'a str,
}

/// An operand's value: borrowed from the item or the expression, or computed (`size`).
enum Value<'a> {
    Ref(&'a AttributeValue),
    Owned(AttributeValue),
}

impl Value<'_> {
    fn get(&self) -> &AttributeValue {
        match self {
            Value::Ref(v) => v,
            Value::Owned(v) => v,
        }
    }
}

impl<'a> Evaluator<'a> {
    fn operand(&self, operand: &'a Operand) -> Result<Option<Value<'a>>> {
        Ok(match operand {
            Operand::Value(v) => Some(Value::Ref(v)),
            Operand::Path(p) => resolve(self.item, p).map(Value::Ref),
            // An attribute with no size (a number, a boolean, null) has none: as DynamoDB does
            // today, the comparison is false rather than an error.
            Operand::Size(p) => match resolve(self.item, p) {
                None => None,
                Some(v) => {
                    let n = match v {
                        AttributeValue::S(s) => s.len(),
                        AttributeValue::B(b) => b.len(),
                        AttributeValue::SS(s) => s.len(),
                        AttributeValue::NS(s) => s.len(),
                        AttributeValue::BS(s) => s.len(),
                        AttributeValue::L(l) => l.len(),
                        AttributeValue::M(m) => m.len(),
                        _ => return Ok(None),
                    };
                    Some(Value::Owned(AttributeValue::N(Number::from(n as u64))))
                }
            },
        })
    }

    fn condition(&self, c: &'a Condition) -> Result<bool> {
        Ok(match c {
            Condition::And(a, b) => self.condition(a)? && self.condition(b)?,
            Condition::Or(a, b) => self.condition(a)? || self.condition(b)?,
            Condition::Not(a) => !self.condition(a)?,
            Condition::Compare(a, cmp, b) => {
                let (a, b) = (self.operand(a)?, self.operand(b)?);
                match (a, b) {
                    (Some(a), Some(b)) => compare(a.get(), *cmp, b.get()),
                    // A missing attribute is "not equal" to anything, and nothing else.
                    _ => *cmp == Comparator::Ne,
                }
            }
            Condition::Between(v, low, high) => {
                match (self.operand(v)?, self.operand(low)?, self.operand(high)?) {
                    (Some(v), Some(low), Some(high)) => {
                        compare(v.get(), Comparator::Ge, low.get())
                            && compare(v.get(), Comparator::Le, high.get())
                    }
                    _ => false,
                }
            }
            Condition::In(v, list) => match self.operand(v)? {
                None => false,
                Some(v) => {
                    let mut found = false;
                    for candidate in list {
                        if let Some(c) = self.operand(candidate)? {
                            found |= equal(v.get(), c.get());
                        }
                    }
                    found
                }
            },
            Condition::Call(function, args) => self.call(*function, args)?,
        })
    }

    fn call(&self, function: Function, args: &'a [Operand]) -> Result<bool> {
        let first = self.operand(&args[0])?;
        Ok(match function {
            Function::AttributeExists => first.is_some(),
            Function::AttributeNotExists => first.is_none(),
            Function::AttributeType => {
                let wanted = match self.operand(&args[1])? {
                    Some(v) => match v.get() {
                        AttributeValue::S(t) if TYPE_NAMES.contains(&t.as_str()) => t.clone(),
                        other => {
                            return Err(Error::validation(format!(
                                "Invalid {}: Invalid attribute type name found in type: {}; valid types: {}",
                                self.member,
                                match other {
                                    AttributeValue::S(t) => t.clone(),
                                    o => o.type_name().to_string(),
                                },
                                TYPE_NAMES.join(", ")
                            )))
                        }
                    },
                    None => return Ok(false),
                };
                first.is_some_and(|v| v.get().type_name() == wanted)
            }
            Function::BeginsWith => match (first, self.operand(&args[1])?) {
                (Some(a), Some(b)) => match (a.get(), b.get()) {
                    (AttributeValue::S(a), AttributeValue::S(b)) => a.starts_with(b.as_str()),
                    (AttributeValue::B(a), AttributeValue::B(b)) => a.starts_with(b),
                    _ => false,
                },
                _ => false,
            },
            Function::Contains => match (first, self.operand(&args[1])?) {
                (Some(a), Some(b)) => contains(a.get(), b.get()),
                _ => false,
            },
        })
    }
}

pub const TYPE_NAMES: &[&str] = &["S", "SS", "N", "NS", "B", "BS", "BOOL", "NULL", "L", "M"];

fn contains(haystack: &AttributeValue, needle: &AttributeValue) -> bool {
    match (haystack, needle) {
        (AttributeValue::S(h), AttributeValue::S(n)) => h.contains(n.as_str()),
        (AttributeValue::B(h), AttributeValue::B(n)) => {
            n.is_empty() || h.windows(n.len()).any(|w| w == n.as_slice())
        }
        (AttributeValue::SS(h), AttributeValue::S(n)) => h.contains(n),
        (AttributeValue::NS(h), AttributeValue::N(n)) => h.contains(n),
        (AttributeValue::BS(h), AttributeValue::B(n)) => h.contains(n),
        (AttributeValue::L(h), n) => h.iter().any(|e| equal(e, n)),
        _ => false,
    }
}

/// Equality as DynamoDB defines it: numbers by value, sets regardless of order.
pub fn equal(a: &AttributeValue, b: &AttributeValue) -> bool {
    use AttributeValue as V;
    fn same_set<T: PartialEq>(a: &[T], b: &[T]) -> bool {
        a.len() == b.len() && a.iter().all(|x| b.contains(x))
    }
    match (a, b) {
        (V::SS(a), V::SS(b)) => same_set(a, b),
        (V::NS(a), V::NS(b)) => same_set(a, b),
        (V::BS(a), V::BS(b)) => same_set(a, b),
        (V::L(a), V::L(b)) => a.len() == b.len() && a.iter().zip(b).all(|(x, y)| equal(x, y)),
        (V::M(a), V::M(b)) => {
            a.len() == b.len() && a.iter().all(|(k, x)| b.get(k).is_some_and(|y| equal(x, y)))
        }
        _ => a == b,
    }
}

/// The order of two values, where DynamoDB defines one: numbers, strings and binaries, each
/// only against its own type.
pub fn order(a: &AttributeValue, b: &AttributeValue) -> Option<Ordering> {
    use AttributeValue as V;
    match (a, b) {
        (V::N(x), V::N(y)) => Some(x.cmp(y)),
        (V::S(x), V::S(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        (V::B(x), V::B(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn compare(a: &AttributeValue, cmp: Comparator, b: &AttributeValue) -> bool {
    let order = || order(a, b);
    match cmp {
        Comparator::Eq => equal(a, b),
        Comparator::Ne => !equal(a, b),
        Comparator::Lt => order() == Some(Ordering::Less),
        Comparator::Le => matches!(order(), Some(Ordering::Less | Ordering::Equal)),
        Comparator::Gt => order() == Some(Ordering::Greater),
        Comparator::Ge => matches!(order(), Some(Ordering::Greater | Ordering::Equal)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::{ExpressionKind, Parser, Placeholders};
    use crate::model::{item_from_json, AttributeValue};
    use serde_json::json;

    fn item() -> Item {
        item_from_json(&json!({
            "s": {"S": "hello"}, "n": {"N": "10"}, "b": {"B": "AQID"}, "t": {"BOOL": true},
            "ss": {"SS": ["a", "b"]}, "ns": {"NS": ["1", "2"]},
            "l": {"L": [{"S": "x"}, {"M": {"deep": {"N": "5"}}}]},
            "m": {"M": {"k": {"S": "v"}, "nest": {"L": [{"N": "7"}]}}}
        }))
        .unwrap()
    }

    fn check(src: &str, values: serde_json::Value) -> Result<bool> {
        let mut p = Placeholders::default();
        if let serde_json::Value::Object(m) = values {
            for (k, v) in m {
                p.values.insert(k, AttributeValue::from_json(&v).unwrap());
            }
        }
        let c = Parser::new(src, ExpressionKind::Condition, &mut p)?.condition()?;
        evaluate(&c, &item(), "ConditionExpression")
    }

    fn yes(src: &str, values: serde_json::Value) {
        assert!(check(src, values.clone()).unwrap(), "{src} {values}");
    }

    fn no(src: &str, values: serde_json::Value) {
        assert!(!check(src, values.clone()).unwrap(), "{src} {values}");
    }

    #[test]
    fn comparisons_follow_type_rules() {
        yes("n = :v", json!({":v": {"N": "10.0"}}));
        yes("n > :v", json!({":v": {"N": "9"}}));
        yes("n <= :v", json!({":v": {"N": "10"}}));
        yes("s < :v", json!({":v": {"S": "help"}}));
        yes("b >= :v", json!({":v": {"B": "AQI="}}));
        // Different types: never ordered, never equal.
        no("n > :v", json!({":v": {"S": "1"}}));
        no("n = :v", json!({":v": {"S": "10"}}));
        yes("n <> :v", json!({":v": {"S": "10"}}));
        // Sets and lists are not ordered.
        no("ss > :v", json!({":v": {"SS": ["a"]}}));
        // Sets are equal regardless of order.
        yes("ss = :v", json!({":v": {"SS": ["b", "a"]}}));
        yes(
            "m = :v",
            json!({":v": {"M": {"nest": {"L": [{"N": "7.0"}]}, "k": {"S": "v"}}}}),
        );
    }

    #[test]
    fn missing_attributes() {
        no("nope = :v", json!({":v": {"N": "1"}}));
        no("nope < :v", json!({":v": {"N": "1"}}));
        yes("nope <> :v", json!({":v": {"N": "1"}}));
        no(
            "nope BETWEEN :a AND :b",
            json!({":a": {"N": "1"}, ":b": {"N": "2"}}),
        );
        no("nope IN (:v)", json!({":v": {"N": "1"}}));
        yes("attribute_not_exists(nope)", json!({}));
        no("attribute_exists(l[5])", json!({}));
    }

    #[test]
    fn paths_reach_nested_values() {
        yes("l[1].deep = :v", json!({":v": {"N": "5"}}));
        yes("m.nest[0] = :v", json!({":v": {"N": "7"}}));
        no("l.deep = :v", json!({":v": {"N": "5"}}));
        no("s[0] = :v", json!({":v": {"S": "h"}}));
    }

    #[test]
    fn between_and_in() {
        yes(
            "n BETWEEN :a AND :b",
            json!({":a": {"N": "10"}, ":b": {"N": "11"}}),
        );
        no(
            "n BETWEEN :a AND :b",
            json!({":a": {"N": "11"}, ":b": {"N": "12"}}),
        );
        yes(
            "s IN (:a, :b)",
            json!({":a": {"S": "x"}, ":b": {"S": "hello"}}),
        );
        no("s IN (:a)", json!({":a": {"S": "x"}}));
    }

    #[test]
    fn functions() {
        yes("attribute_exists(m.k)", json!({}));
        yes("attribute_type(ss, :t)", json!({":t": {"S": "SS"}}));
        no("attribute_type(ss, :t)", json!({":t": {"S": "L"}}));
        yes("begins_with(s, :p)", json!({":p": {"S": "he"}}));
        no("begins_with(n, :p)", json!({":p": {"S": "1"}}));
        yes("begins_with(b, :p)", json!({":p": {"B": "AQ=="}}));
        yes("contains(s, :p)", json!({":p": {"S": "ell"}}));
        yes("contains(ss, :p)", json!({":p": {"S": "b"}}));
        yes("contains(ns, :p)", json!({":p": {"N": "2.0"}}));
        yes("contains(l, :p)", json!({":p": {"S": "x"}}));
        no("contains(ss, :p)", json!({":p": {"N": "1"}}));
        yes("size(s) = :n", json!({":n": {"N": "5"}}));
        yes(
            "size(ss) = :n AND size(l) = :n AND size(m) = :n",
            json!({":n": {"N": "2"}}),
        );
        no("size(nope) = :n", json!({":n": {"N": "0"}}));
    }

    #[test]
    fn runtime_type_errors() {
        // A stored type that does not fit is no error: the condition is false.
        no("size(n) = :v", json!({":v": {"N": "1"}}));
        no("size(n) > :v OR size(t) < :v", json!({":v": {"N": "1"}}));
        let e = check("attribute_type(s, :t)", json!({":t": {"S": "STRING"}})).unwrap_err();
        assert_eq!(e.to_string(), "Invalid ConditionExpression: Invalid attribute type name found in type: STRING; valid types: S, SS, N, NS, B, BS, BOOL, NULL, L, M");
    }

    #[test]
    fn logic() {
        yes(
            "n = :a OR n = :b",
            json!({":a": {"N": "1"}, ":b": {"N": "10"}}),
        );
        no(
            "n = :a AND n = :b",
            json!({":a": {"N": "1"}, ":b": {"N": "10"}}),
        );
        yes("NOT n = :a", json!({":a": {"N": "1"}}));
        yes(
            "NOT (n = :a AND t = :t)",
            json!({":a": {"N": "1"}, ":t": {"BOOL": true}}),
        );
    }
}
