//! Query key conditions: a `KeyConditionExpression` (or legacy `KeyConditions`) reduced to an
//! equality on the partition key and at most one range condition on the sort key, checked
//! against the key schema with DynamoDB's messages. The engine turns the result into one key
//! range; a Query never scans and filters.

use super::ast::{Comparator, Condition, Function, Operand, Path, PathStep};
use super::eval::order;
use crate::error::{Error, Result};
use crate::model::schema::KeySchema;
use crate::model::AttributeValue;

/// The condition on the sort key.
#[derive(Clone, Debug, PartialEq)]
pub enum SortCondition {
    Eq(AttributeValue),
    Lt(AttributeValue),
    Le(AttributeValue),
    Gt(AttributeValue),
    Ge(AttributeValue),
    Between(AttributeValue, AttributeValue),
    BeginsWith(AttributeValue),
}

impl SortCondition {
    fn values(&self) -> Vec<&AttributeValue> {
        match self {
            SortCondition::Between(a, b) => vec![a, b],
            SortCondition::Eq(v)
            | SortCondition::Lt(v)
            | SortCondition::Le(v)
            | SortCondition::Gt(v)
            | SortCondition::Ge(v)
            | SortCondition::BeginsWith(v) => vec![v],
        }
    }

    /// Whether a sort key value satisfies the condition (checks `ExclusiveStartKey`).
    pub fn matches(&self, v: &AttributeValue) -> bool {
        use std::cmp::Ordering::*;
        let cmp = |x: &AttributeValue| order(v, x);
        match self {
            SortCondition::Eq(x) => cmp(x) == Some(Equal),
            SortCondition::Lt(x) => cmp(x) == Some(Less),
            SortCondition::Le(x) => matches!(cmp(x), Some(Less | Equal)),
            SortCondition::Gt(x) => cmp(x) == Some(Greater),
            SortCondition::Ge(x) => matches!(cmp(x), Some(Greater | Equal)),
            SortCondition::Between(a, b) => {
                matches!(cmp(a), Some(Greater | Equal)) && matches!(cmp(b), Some(Less | Equal))
            }
            SortCondition::BeginsWith(p) => match (v, p) {
                (AttributeValue::S(s), AttributeValue::S(p)) => s.starts_with(p.as_str()),
                (AttributeValue::B(s), AttributeValue::B(p)) => s.starts_with(p),
                _ => false,
            },
        }
    }
}

/// One condition on one attribute, before it is matched to the schema.
pub type Term = (String, SortCondition);

/// The planned key condition.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyCondition {
    pub partition: AttributeValue,
    pub sort: Option<SortCondition>,
}

fn invalid(msg: impl std::fmt::Display) -> Error {
    Error::validation(format!("Invalid KeyConditionExpression: {msg}"))
}

/// Splits a parsed `KeyConditionExpression` into its terms (`a AND b`, each a comparison,
/// `BETWEEN` or `begins_with` of one key attribute with values).
pub fn terms_of_expression(condition: &Condition) -> Result<Vec<Term>> {
    let mut terms = Vec::new();
    collect(condition, &mut terms)?;
    Ok(terms)
}

fn attribute_of(operand: &Operand) -> Result<Option<String>> {
    match operand {
        Operand::Path(Path { steps }) => match steps.as_slice() {
            [PathStep::Attribute(a)] => Ok(Some(a.clone())),
            _ => Err(Error::validation(
                "KeyConditionExpressions cannot have conditions on nested attributes",
            )),
        },
        Operand::Size(_) => Err(Error::validation(
            "KeyConditionExpressions cannot contain nested operations",
        )),
        Operand::Value(_) => Ok(None),
    }
}

fn value_of(operand: &Operand) -> Option<AttributeValue> {
    match operand {
        Operand::Value(v) => Some(v.clone()),
        _ => None,
    }
}

fn collect(condition: &Condition, terms: &mut Vec<Term>) -> Result<()> {
    let term = match condition {
        Condition::And(a, b) => {
            collect(a, terms)?;
            return collect(b, terms);
        }
        Condition::Or(..) => {
            return Err(invalid(
                "Invalid operator used in KeyConditionExpression: OR",
            ))
        }
        Condition::Not(_) => {
            return Err(invalid(
                "Invalid operator used in KeyConditionExpression: NOT",
            ))
        }
        Condition::In(..) => {
            return Err(invalid(
                "Invalid operator used in KeyConditionExpression: IN",
            ))
        }
        Condition::Call(f, args) => {
            match f {
                Function::BeginsWith => {
                    let name = attribute_of(&args[0])?.ok_or_else(|| {
                    invalid("Invalid condition in KeyConditionExpression: begins_with operator must have the key attribute as its first operand")
                })?;
                    if attribute_of(&args[1])?.is_some() {
                        return Err(invalid("Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition"));
                    }
                    let prefix = value_of(&args[1]).ok_or_else(|| invalid("Invalid condition in KeyConditionExpression: No key attribute specified"))?;
                    if !matches!(prefix, AttributeValue::S(_) | AttributeValue::B(_)) {
                        return Err(invalid(format_args!(
                        "Incorrect operand type for operator or function; operator or function: begins_with, operand type: {}",
                        prefix.type_name()
                    )));
                    }
                    (name, SortCondition::BeginsWith(prefix))
                }
                other => {
                    return Err(invalid(format_args!(
                        "Invalid operator used in KeyConditionExpression: {}",
                        other.name()
                    )))
                }
            }
        }
        Condition::Between(subject, low, high) => {
            let name = attribute_of(subject)?.ok_or_else(|| {
                invalid("Invalid condition in KeyConditionExpression: BETWEEN operator must have the key attribute as its first operand")
            })?;
            if attribute_of(low)?.is_some() || attribute_of(high)?.is_some() {
                return Err(invalid("Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition"));
            }
            match (value_of(low), value_of(high)) {
                (Some(l), Some(h)) => (name, SortCondition::Between(l, h)),
                _ => return Err(Error::Internal("BETWEEN bounds are values".into())),
            }
        }
        Condition::Compare(left, comparator, right) => {
            let (l, r) = (attribute_of(left)?, attribute_of(right)?);
            // `:v < k` is `k > :v`.
            let (name, value, comparator) = match (l, r) {
                (Some(_), Some(_)) => return Err(invalid("Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition")),
                (None, None) => return Err(invalid("Invalid condition in KeyConditionExpression: No key attribute specified")),
                (Some(name), None) => (name, value_of(right), *comparator),
                (None, Some(name)) => (name, value_of(left), flip(*comparator)),
            };
            let value = value.ok_or_else(|| Error::Internal("comparison operand".into()))?;
            let op = match comparator {
                Comparator::Eq => SortCondition::Eq(value),
                Comparator::Lt => SortCondition::Lt(value),
                Comparator::Le => SortCondition::Le(value),
                Comparator::Gt => SortCondition::Gt(value),
                Comparator::Ge => SortCondition::Ge(value),
                Comparator::Ne => {
                    return Err(invalid(
                        "Invalid operator used in KeyConditionExpression: <>",
                    ))
                }
            };
            (name, op)
        }
    };
    if terms.iter().any(|(n, _)| *n == term.0) {
        return Err(invalid(
            "KeyConditionExpressions must only contain one condition per key",
        ));
    }
    terms.push(term);
    Ok(())
}

fn flip(c: Comparator) -> Comparator {
    match c {
        Comparator::Lt => Comparator::Gt,
        Comparator::Le => Comparator::Ge,
        Comparator::Gt => Comparator::Lt,
        Comparator::Ge => Comparator::Le,
        other => other,
    }
}

/// Matches the terms to a key schema: an equality on the partition key, at most one condition
/// on the sort key, values of the schema's types.
pub fn plan(mut terms: Vec<Term>, schema: &KeySchema) -> Result<KeyCondition> {
    if terms.len() > 2 || terms.is_empty() {
        return Err(Error::validation("Conditions can be of length 1 or 2 only"));
    }
    let hash = &schema.hash.name;
    if schema.range.is_none() && terms.len() > 1 {
        return Err(Error::validation("Query key condition not supported"));
    }
    let Some(at) = terms.iter().position(|(n, _)| n == hash) else {
        return Err(missed(hash));
    };
    let (_, partition) = terms.remove(at);
    let sort = match (terms.pop(), &schema.range) {
        (None, _) => None,
        (Some((name, op)), Some(range)) if name == range.name => Some((op, range.ty)),
        (Some(_), Some(range)) => return Err(missed(&range.name)),
        (Some(_), None) => return Err(Error::validation("Query key condition not supported")),
    };
    let mismatch = || {
        Error::validation(
            "One or more parameter values were invalid: Condition parameter type does not match schema type",
        )
    };
    let partition = match partition {
        SortCondition::Eq(v) if v.scalar_type() == Some(schema.hash.ty) => v,
        SortCondition::Eq(_) => return Err(mismatch()),
        _ => return Err(Error::validation("Query key condition not supported")),
    };
    if let Some((op, ty)) = &sort {
        if op.values().iter().any(|v| v.scalar_type() != Some(*ty)) {
            return Err(mismatch());
        }
    }
    Ok(KeyCondition {
        partition,
        sort: sort.map(|(op, _)| op),
    })
}

fn missed(name: &str) -> Error {
    Error::validation(format!("Query condition missed key schema element: {name}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::{ExpressionKind, Parser, Placeholders};
    use crate::model::schema::KeyAttribute;
    use crate::model::{item_from_json, ScalarType};
    use serde_json::json;

    fn schema(range: bool) -> KeySchema {
        KeySchema {
            hash: KeyAttribute {
                name: "p".into(),
                ty: ScalarType::S,
            },
            range: range.then(|| KeyAttribute {
                name: "c".into(),
                ty: ScalarType::N,
            }),
        }
    }

    fn run(src: &str, range: bool) -> Result<KeyCondition> {
        let values = json!({":s": {"S": "x"}, ":n": {"N": "1"}, ":m": {"N": "5"}});
        let mut p = Placeholders {
            values: item_from_json(&values).unwrap().into_iter().collect(),
            ..Default::default()
        };
        let c = Parser::new(src, ExpressionKind::KeyCondition, &mut p)?.condition()?;
        plan(terms_of_expression(&c)?, &schema(range))
    }

    fn n(v: &str) -> AttributeValue {
        AttributeValue::N(crate::model::Number::parse(v).unwrap())
    }

    #[test]
    fn plans_partition_and_sort_conditions() {
        let k = run("p = :s AND c BETWEEN :n AND :m", true).unwrap();
        assert_eq!(k.partition, AttributeValue::S("x".into()));
        assert_eq!(k.sort, Some(SortCondition::Between(n("1"), n("5"))));
        let k = run(":n < c AND p = :s", true).unwrap();
        assert_eq!(k.sort, Some(SortCondition::Gt(n("1"))));
        assert_eq!(run("p = :s", false).unwrap().sort, None);
    }

    #[test]
    fn refuses_what_dynamodb_refuses() {
        let cases = [
            ("p = :s OR c = :n", "Invalid KeyConditionExpression: Invalid operator used in KeyConditionExpression: OR"),
            ("c = :n", "Query condition missed key schema element: p"),
            ("p = :s AND x = :n", "Query condition missed key schema element: c"),
            ("p < :s", "Query key condition not supported"),
            ("p = :n", "One or more parameter values were invalid: Condition parameter type does not match schema type"),
            ("p = :s AND p = :s", "Invalid KeyConditionExpression: KeyConditionExpressions must only contain one condition per key"),
            ("p.x = :s", "KeyConditionExpressions cannot have conditions on nested attributes"),
            ("attribute_exists(p)", "Invalid KeyConditionExpression: Invalid operator used in KeyConditionExpression: attribute_exists"),
            ("p = :s AND begins_with(c, :n)", "Invalid KeyConditionExpression: Incorrect operand type for operator or function; operator or function: begins_with, operand type: N"),
        ];
        for (src, msg) in cases {
            assert_eq!(run(src, true).unwrap_err().to_string(), msg, "{src}");
        }
        assert_eq!(
            run("p = :s AND c = :n", false).unwrap_err().to_string(),
            "Query key condition not supported"
        );
    }

    #[test]
    fn sort_conditions_match_values() {
        assert!(SortCondition::Between(n("1"), n("5")).matches(&n("5")));
        assert!(!SortCondition::Lt(n("1")).matches(&n("1")));
        let p = SortCondition::BeginsWith(AttributeValue::S("ab".into()));
        assert!(p.matches(&AttributeValue::S("abc".into())));
        assert!(!p.matches(&AttributeValue::S("b".into())));
    }
}
