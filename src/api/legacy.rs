//! The parameters DynamoDB had before expressions (`Expected`, `QueryFilter`, `ScanFilter`,
//! `KeyConditions`, `ConditionalOperator`, `AttributesToGet`, `AttributeUpdates`), translated onto the expression AST so there is one evaluator.

use super::input::Input;
use crate::error::{Error, Result};
use crate::expr::ast::{
    Comparator, Condition, Function, Operand, Path, PathStep, SetValue, UpdateAction,
};
use crate::expr::eval::order;
use crate::expr::key_condition::{SortCondition, Term};
use crate::model::value::check_attribute_name;
use crate::model::wire::{type_mismatch, JsonKind};
use crate::model::AttributeValue;

const CONDITION: &str = "com.amazonaws.dynamodb.v20120810.ExpectedAttributeValue";

fn invalid(msg: impl std::fmt::Display) -> Error {
    Error::validation(format!("One or more parameter values were invalid: {msg}"))
}

/// DynamoDB refuses requests that mix the two styles, naming both sides.
pub fn refuse_mixing(
    input: Input<'_>,
    legacy: &[&'static str],
    expressions: &[&'static str],
) -> Result<()> {
    // Checked before anything is collected: this runs on every item request.
    if !legacy.iter().any(|n| input.has(n)) || !expressions.iter().any(|n| input.has(n)) {
        return Ok(());
    }
    let present = |names: &[&'static str]| -> Vec<&'static str> {
        names.iter().copied().filter(|n| input.has(n)).collect()
    };
    Err(Error::validation(format!(
        "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {{{}}} Expression parameters: {{{}}}",
        present(legacy).join(", "),
        present(expressions).join(", ")
    )))
}

fn attribute(name: &str) -> Operand {
    Operand::Path(Path {
        steps: vec![PathStep::Attribute(name.to_string())],
    })
}

/// Whether a legacy comparison accepts a value of this type.
fn scalar(v: &AttributeValue) -> bool {
    matches!(
        v,
        AttributeValue::S(_) | AttributeValue::N(_) | AttributeValue::B(_)
    )
}

/// Which legacy condition map is read: they share a shape, not all of their rules.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum ConditionMap {
    Expected,
    QueryFilter,
    ScanFilter,
    KeyConditions,
}

impl ConditionMap {
    fn member(self) -> &'static str {
        match self {
            ConditionMap::Expected => "Expected",
            ConditionMap::QueryFilter => "QueryFilter",
            ConditionMap::ScanFilter => "ScanFilter",
            ConditionMap::KeyConditions => "KeyConditions",
        }
    }

    /// The member as DynamoDB's constraint messages spell it.
    fn path(self) -> &'static str {
        match self {
            ConditionMap::Expected => "expected",
            ConditionMap::QueryFilter => "queryFilter",
            ConditionMap::ScanFilter => "scanFilter",
            ConditionMap::KeyConditions => "keyConditions",
        }
    }

    fn class(self) -> &'static str {
        match self {
            ConditionMap::Expected => CONDITION,
            _ => "com.amazonaws.dynamodb.v20120810.Condition",
        }
    }
}

/// `Expected`, `QueryFilter` or `ScanFilter` (with `ConditionalOperator`) as one condition.
pub fn condition(input: Input<'_>, map: ConditionMap) -> Result<Option<Condition>> {
    let operator = input.str("ConditionalOperator")?;
    let Some(entries) = input.map(map.member())? else {
        if operator.is_some() && !has_condition_map(input) {
            return Err(Error::validation(
                "ConditionalOperator can only be used when Expected or QueryFilter or ScanFilter is present",
            ));
        }
        return Ok(None);
    };
    let mut conditions = Vec::new();
    for (name, spec) in entries {
        check_attribute_name(name)?;
        let spec = Input::element(spec, map.class())?;
        conditions.push(match map {
            ConditionMap::Expected => expected_one(name, spec)?,
            _ => {
                let (operator, args) = comparison(name, spec, map)?;
                to_condition(name, operator, args)?
            }
        });
    }
    let combine = match operator {
        Some("OR") => Condition::Or,
        Some("AND") | None => Condition::And,
        Some(other) => {
            return Err(Error::validation(format!(
                "1 validation error detected: Value '{other}' at 'conditionalOperator' failed to satisfy constraint: Member must satisfy enum value set: [AND, OR]"
            )))
        }
    };
    Ok(conditions
        .into_iter()
        .reduce(|a, b| combine(Box::new(a), Box::new(b))))
}

fn has_condition_map(input: Input<'_>) -> bool {
    ["Expected", "QueryFilter", "ScanFilter"]
        .iter()
        .any(|m| input.has(m))
}

/// `KeyConditions` as key-condition terms.
pub fn key_conditions(input: Input<'_>) -> Result<Option<Vec<Term>>> {
    let Some(entries) = input.map("KeyConditions")? else {
        return Ok(None);
    };
    let mut terms = Vec::with_capacity(entries.len());
    for (name, spec) in entries {
        let spec = Input::element(spec, ConditionMap::KeyConditions.class())?;
        let (operator, args) = comparison(name, spec, ConditionMap::KeyConditions)?;
        let mut args = args.into_iter();
        let mut next = || {
            args.next()
                .ok_or_else(|| Error::Internal("arity was checked".into()))
        };
        let term = match operator {
            "EQ" => SortCondition::Eq(next()?),
            "LT" => SortCondition::Lt(next()?),
            "LE" => SortCondition::Le(next()?),
            "GT" => SortCondition::Gt(next()?),
            "GE" => SortCondition::Ge(next()?),
            "BEGINS_WITH" => SortCondition::BeginsWith(next()?),
            "BETWEEN" => SortCondition::Between(next()?, next()?),
            _ => {
                return Err(Error::validation(
                    "Attempted conditional constraint is not an indexable operation",
                ))
            }
        };
        terms.push((name.clone(), term));
    }
    Ok(Some(terms))
}

const OPERATORS: [&str; 13] = [
    "EQ",
    "NE",
    "LE",
    "LT",
    "GE",
    "GT",
    "NOT_NULL",
    "NULL",
    "CONTAINS",
    "NOT_CONTAINS",
    "BEGINS_WITH",
    "IN",
    "BETWEEN",
];

/// One `Expected` entry: either `Exists`/`Value`, or a comparison.
fn expected_one(name: &str, spec: Input<'_>) -> Result<Condition> {
    let value = spec
        .raw("Value")
        .map(AttributeValue::from_json)
        .transpose()?;
    let exists = spec.bool("Exists")?;
    if spec.has("ComparisonOperator") {
        if exists.is_some() {
            return Err(invalid(format_args!(
                "Exists and ComparisonOperator cannot be used together for Attribute: {name}"
            )));
        }
        let (operator, args) = comparison(name, spec, ConditionMap::Expected)?;
        return to_condition(name, operator, args);
    }
    if spec.has("AttributeValueList") {
        return Err(invalid(format_args!(
            "AttributeValueList can only be used with a ComparisonOperator for Attribute: {name}"
        )));
    }
    match (exists.unwrap_or(true), value) {
        (true, Some(v)) => Ok(Condition::Compare(
            attribute(name),
            Comparator::Eq,
            Operand::Value(v),
        )),
        (true, None) => Err(invalid(format_args!(
            "Value must be provided when Exists is {} for Attribute: {name}",
            exists.map_or("null".to_string(), |e| e.to_string())
        ))),
        (false, Some(_)) => Err(invalid(format_args!(
            "Value cannot be used when Exists is false for Attribute: {name}"
        ))),
        (false, None) => Ok(Condition::Call(
            Function::AttributeNotExists,
            vec![attribute(name)],
        )),
    }
}

/// A `ComparisonOperator` with its arguments (`AttributeValueList`, or `Value` in `Expected`),
/// checked as DynamoDB checks them.
fn comparison<'a>(
    name: &str,
    spec: Input<'a>,
    map: ConditionMap,
) -> Result<(&'a str, Vec<AttributeValue>)> {
    let operator = spec.str("ComparisonOperator")?;
    let value = spec
        .raw("Value")
        .filter(|_| map == ConditionMap::Expected)
        .map(AttributeValue::from_json)
        .transpose()?;
    let list: Option<Vec<AttributeValue>> = spec
        .list("AttributeValueList")?
        .map(|l| l.iter().map(AttributeValue::from_json).collect())
        .transpose()?;
    let path = format!("{}.{name}.member.comparisonOperator", map.path());
    let Some(operator) = operator else {
        return Err(Error::validation(format!(
            "1 validation error detected: Value null at '{path}' failed to satisfy constraint: Member must not be null"
        )));
    };
    if !OPERATORS.contains(&operator) {
        return Err(Error::validation(format!(
            "1 validation error detected: Value '{operator}' at '{path}' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
            OPERATORS.join(", ")
        )));
    }
    if value.is_some() && list.is_some() {
        return Err(invalid(format_args!(
            "Value and AttributeValueList cannot be used together for Attribute: {name}"
        )));
    }
    let args: Vec<AttributeValue> = list.or_else(|| value.map(|v| vec![v])).unwrap_or_default();
    let arity_ok = match operator {
        "NULL" | "NOT_NULL" => args.is_empty(),
        "IN" => !args.is_empty(),
        "BETWEEN" => args.len() == 2,
        _ => args.len() == 1,
    };
    if !arity_ok {
        return Err(invalid(format_args!(
            "Invalid number of argument(s) for the {operator} ComparisonOperator"
        )));
    }
    if let Some(first) = args.first() {
        if args.iter().any(|a| a.type_name() != first.type_name()) {
            return Err(invalid(
                "AttributeValues inside AttributeValueList must be of same type",
            ));
        }
    }
    // Ordered comparisons, prefixes and ranges take only strings, numbers and binaries; key
    // conditions compare for equality sets as well, nothing else; other maps compare any value
    // for equality (lists and maps included).
    let accepted = |v: &AttributeValue| match operator {
        "BEGINS_WITH" => matches!(v, AttributeValue::S(_) | AttributeValue::B(_)),
        "LE" | "LT" | "GE" | "GT" | "BETWEEN" | "CONTAINS" | "NOT_CONTAINS" | "IN" => scalar(v),
        _ if map != ConditionMap::KeyConditions => true,
        _ => {
            scalar(v)
                || matches!(
                    v,
                    AttributeValue::SS(_) | AttributeValue::NS(_) | AttributeValue::BS(_)
                )
        }
    };
    if let Some(bad) = args.iter().find(|v| !accepted(v)) {
        return Err(invalid(format_args!(
            "ComparisonOperator {operator} is not valid for {} AttributeValue type",
            bad.type_name()
        )));
    }
    if operator == "BETWEEN" && order(&args[0], &args[1]) == Some(std::cmp::Ordering::Greater) {
        return Err(Error::validation(
            "The BETWEEN condition was provided a range where the lower bound is greater than the upper bound",
        ));
    }
    Ok((operator, args))
}

fn to_condition(name: &str, operator: &str, args: Vec<AttributeValue>) -> Result<Condition> {
    if operator == "IN" {
        let list = args.into_iter().map(Operand::Value).collect();
        return Ok(Condition::In(attribute(name), list));
    }
    let mut values = args.into_iter().map(Operand::Value);
    let (first, second) = (values.next(), values.next());
    let take = |v: Option<Operand>| v.ok_or_else(|| Error::Internal("arity was checked".into()));
    let path = attribute(name);
    let comparator = match operator {
        "EQ" => Some(Comparator::Eq),
        "NE" => Some(Comparator::Ne),
        "LE" => Some(Comparator::Le),
        "LT" => Some(Comparator::Lt),
        "GE" => Some(Comparator::Ge),
        "GT" => Some(Comparator::Gt),
        _ => None,
    };
    if let Some(c) = comparator {
        return Ok(Condition::Compare(path, c, take(first)?));
    }
    Ok(match operator {
        "NULL" => Condition::Call(Function::AttributeNotExists, vec![path]),
        "NOT_NULL" => Condition::Call(Function::AttributeExists, vec![path]),
        "CONTAINS" => Condition::Call(Function::Contains, vec![path, take(first)?]),
        "NOT_CONTAINS" => Condition::Not(Box::new(Condition::Call(
            Function::Contains,
            vec![path, take(first)?],
        ))),
        "BEGINS_WITH" => Condition::Call(Function::BeginsWith, vec![path, take(first)?]),
        _ => Condition::Between(path, take(first)?, take(second)?),
    })
}

/// `AttributesToGet`: top-level names, taken literally (no placeholders, no reserved words).
pub fn attributes_to_get(input: Input<'_>) -> Result<Option<Vec<Path>>> {
    let Some(list) = input.list("AttributesToGet")? else {
        return Ok(None);
    };
    let mut names: Vec<&str> = Vec::with_capacity(list.len());
    for v in list {
        let name = v
            .as_str()
            .ok_or_else(|| type_mismatch(v, JsonKind::String))?;
        check_attribute_name(name)?;
        if names.contains(&name) {
            return Err(invalid(format_args!(
                "Duplicate value in attribute name: {name}"
            )));
        }
        names.push(name);
    }
    if names.is_empty() {
        return Err(Error::validation(
            "1 validation error detected: Value '[]' at 'attributesToGet' failed to satisfy constraint: Member must have length greater than or equal to 1",
        ));
    }
    Ok(Some(
        names
            .into_iter()
            .map(|n| Path {
                steps: vec![PathStep::Attribute(n.to_string())],
            })
            .collect(),
    ))
}

const VALUE_UPDATE: &str = "com.amazonaws.dynamodb.v20120810.AttributeValueUpdate";

/// `AttributeUpdates` (the legacy UpdateItem) as update actions: PUT sets, DELETE removes an
/// attribute or set members, ADD adds to numbers and sets and appends to lists.
pub fn attribute_updates(input: Input<'_>) -> Result<Option<Vec<UpdateAction>>> {
    let Some(updates) = input.map("AttributeUpdates")? else {
        return Ok(None);
    };
    let mut actions = Vec::with_capacity(updates.len());
    for (name, spec) in updates {
        check_attribute_name(name)?;
        let spec = Input::element(spec, VALUE_UPDATE)?;
        let value = spec
            .raw("Value")
            .map(AttributeValue::from_json)
            .transpose()?;
        let action = spec.str("Action")?.unwrap_or("PUT");
        let path = Path {
            steps: vec![PathStep::Attribute(name.clone())],
        };
        let is_set = |v: &AttributeValue| {
            matches!(
                v,
                AttributeValue::SS(_) | AttributeValue::NS(_) | AttributeValue::BS(_)
            )
        };
        actions.push(match (action, value) {
            ("DELETE", None) => UpdateAction::Remove(path),
            ("DELETE", Some(v)) if is_set(&v) => UpdateAction::Delete(path, v),
            ("ADD", Some(AttributeValue::L(items))) => {
                let current = SetValue::IfNotExists(
                    path.clone(),
                    Box::new(SetValue::Operand(Operand::Value(AttributeValue::L(Vec::new())))),
                );
                let added = SetValue::Operand(Operand::Value(AttributeValue::L(items)));
                UpdateAction::Set(path, SetValue::ListAppend(Box::new(current), Box::new(added)))
            }
            ("ADD", Some(v)) if is_set(&v) || matches!(v, AttributeValue::N(_)) => {
                UpdateAction::Add(path, v)
            }
            ("PUT", Some(v)) => UpdateAction::Set(path, SetValue::Operand(Operand::Value(v))),
            ("PUT" | "ADD", None) => {
                return Err(invalid(
                    "Only DELETE action is allowed when no attribute value is specified",
                ))
            }
            ("ADD" | "DELETE", Some(v)) => {
                return Err(invalid(format_args!(
                    "{action} action is not supported for the type {}",
                    v.type_name()
                )))
            }
            (other, _) => {
                return Err(Error::validation(format!(
                    "1 validation error detected: Value '{other}' at 'attributeUpdates.{name}.member.action' failed to satisfy constraint: Member must satisfy enum value set: [ADD, PUT, DELETE]"
                )))
            }
        });
    }
    Ok(Some(actions))
}
