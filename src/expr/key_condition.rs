//! Query key conditions: a `KeyConditionExpression` (or legacy `KeyConditions`) reduced to an
//! equality on the partition key and at most one range condition on the sort key, checked
//! against the key schema with DynamoDB's messages. A GSI's multi-attribute key takes an
//! equality on every partition key attribute and conditions on its sort key attributes left to
//! right: equalities on a prefix, then at most one other condition. The engine turns the
//! result into one key range; a Query never scans and filters.

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
    /// The partition key's value (one per attribute of a multi-attribute key).
    pub partition: Vec<AttributeValue>,
    /// Equalities on the leading attributes of a multi-attribute sort key, in order.
    pub sort_prefix: Vec<AttributeValue>,
    /// The condition on the sort key attribute after `sort_prefix`.
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

/// Matches the terms to a key schema: an equality on (each attribute of) the partition key,
/// conditions on the sort key's attributes left to right, values of the schema's types.
pub fn plan(mut terms: Vec<Term>, schema: &KeySchema) -> Result<KeyCondition> {
    if terms.is_empty() || (!schema.is_multi_attribute() && terms.len() > 2) {
        return Err(Error::validation("Conditions can be of length 1 or 2 only"));
    }
    let not_supported = || Error::validation("Query key condition not supported");
    if schema.range.is_empty() && terms.len() > schema.hash.len() {
        return Err(not_supported());
    }
    let mut partition = Vec::with_capacity(schema.hash.len());
    for attr in &schema.hash {
        partition.push((
            attr,
            take(&mut terms, &attr.name).ok_or_else(|| missed(&attr.name))?,
        ));
    }
    // Left to right: an attribute may be skipped only if nothing follows, and only an
    // equality lets the next attribute have a condition.
    let mut sort = Vec::new();
    for attr in &schema.range {
        if terms.is_empty() {
            break;
        }
        let op = take(&mut terms, &attr.name).ok_or_else(|| missed(&attr.name))?;
        let last = !matches!(op, SortCondition::Eq(_));
        sort.push((attr, op));
        if last {
            break;
        }
    }
    if !terms.is_empty() {
        return Err(not_supported());
    }
    let mismatch = || {
        Error::validation(
            "One or more parameter values were invalid: Condition parameter type does not match schema type",
        )
    };
    let partition = partition
        .into_iter()
        .map(|(attr, op)| match op {
            SortCondition::Eq(v) if v.scalar_type() == Some(attr.ty) => Ok(v),
            SortCondition::Eq(_) => Err(mismatch()),
            _ => Err(not_supported()),
        })
        .collect::<Result<Vec<_>>>()?;
    if sort
        .iter()
        .any(|(attr, op)| op.values().iter().any(|v| v.scalar_type() != Some(attr.ty)))
    {
        return Err(mismatch());
    }
    let last = sort.pop().map(|(_, op)| op);
    let sort_prefix = sort
        .into_iter()
        .filter_map(|(_, op)| match op {
            SortCondition::Eq(v) => Some(v),
            _ => None,
        })
        .collect();
    Ok(KeyCondition {
        partition,
        sort_prefix,
        sort: last,
    })
}

/// Removes and returns the condition on `name`.
fn take(terms: &mut Vec<Term>, name: &str) -> Option<SortCondition> {
    let at = terms.iter().position(|(n, _)| n == name)?;
    Some(terms.remove(at).1)
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

    fn attr(name: &str, ty: ScalarType) -> KeyAttribute {
        KeyAttribute {
            name: name.into(),
            ty,
        }
    }

    fn schema(range: bool) -> KeySchema {
        KeySchema::simple(
            attr("p", ScalarType::S),
            range.then(|| attr("c", ScalarType::N)),
        )
    }

    /// A GSI key of two partition attributes (S, N) and three sort attributes (S, N, S).
    fn multi() -> KeySchema {
        KeySchema {
            hash: vec![attr("h1", ScalarType::S), attr("h2", ScalarType::N)],
            range: vec![
                attr("r1", ScalarType::S),
                attr("r2", ScalarType::N),
                attr("r3", ScalarType::S),
            ],
        }
    }

    fn plan_with(src: &str, schema: &KeySchema) -> Result<KeyCondition> {
        let values = json!({":s": {"S": "x"}, ":n": {"N": "1"}, ":m": {"N": "5"}});
        let mut p = Placeholders {
            values: item_from_json(&values).unwrap().into_iter().collect(),
            ..Default::default()
        };
        let c = Parser::new(src, ExpressionKind::KeyCondition, &mut p)?.condition()?;
        plan(terms_of_expression(&c)?, schema)
    }

    fn run(src: &str, range: bool) -> Result<KeyCondition> {
        plan_with(src, &schema(range))
    }

    fn n(v: &str) -> AttributeValue {
        AttributeValue::N(crate::model::Number::parse(v).unwrap())
    }

    #[test]
    fn plans_partition_and_sort_conditions() {
        let k = run("p = :s AND c BETWEEN :n AND :m", true).unwrap();
        assert_eq!(k.partition, vec![AttributeValue::S("x".into())]);
        assert!(k.sort_prefix.is_empty());
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
    fn multi_attribute_keys_are_planned_left_to_right() {
        let m = multi();
        let k = plan_with("h2 = :n AND h1 = :s", &m).unwrap();
        assert_eq!(k.partition, vec![AttributeValue::S("x".into()), n("1")]);
        assert_eq!((k.sort_prefix.len(), k.sort), (0, None));
        let k = plan_with("h1 = :s AND h2 = :n AND r2 > :m AND r1 = :s", &m).unwrap();
        assert_eq!(k.sort_prefix, vec![AttributeValue::S("x".into())]);
        assert_eq!(k.sort, Some(SortCondition::Gt(n("5"))));
        let k = plan_with(
            "h1 = :s AND h2 = :n AND r1 = :s AND r2 = :n AND begins_with(r3, :s)",
            &m,
        )
        .unwrap();
        assert_eq!(k.sort_prefix.len(), 2);
        assert!(matches!(k.sort, Some(SortCondition::BeginsWith(_))));
        let cases = [
            ("h1 = :s", "Query condition missed key schema element: h2"),
            ("h1 = :s AND h2 > :n", "Query key condition not supported"),
            ("h1 = :s AND h2 = :n AND r2 = :n", "Query condition missed key schema element: r1"),
            ("h1 = :s AND h2 = :n AND r1 = :s AND r3 = :s", "Query condition missed key schema element: r2"),
            ("h1 = :s AND h2 = :n AND r1 > :s AND r2 = :n", "Query key condition not supported"),
            ("h1 = :s AND h2 = :n AND r1 = :s AND x = :n", "Query condition missed key schema element: r2"),
            ("h1 = :s AND h2 = :s", "One or more parameter values were invalid: Condition parameter type does not match schema type"),
            ("h1 = :s AND h2 = :n AND r1 = :s AND r2 BETWEEN :s AND :s", "One or more parameter values were invalid: Condition parameter type does not match schema type"),
        ];
        for (src, msg) in cases {
            assert_eq!(plan_with(src, &m).unwrap_err().to_string(), msg, "{src}");
        }
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
