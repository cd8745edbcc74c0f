//! The expression members of a request: `ExpressionAttributeNames` and
//! `ExpressionAttributeValues` read and checked once, each expression parsed against them, and
//! at the end DynamoDB's errors for placeholders no expression used.

use serde_json::Map;

use super::input::Input;
use crate::error::{Error, Result};
use crate::expr::ast::{Condition, Path, UpdateAction};
use crate::expr::{ExpressionKind, Parser, Placeholders};
use crate::model::value::check_attribute_name;
use crate::model::wire::{type_mismatch, JsonKind};
use crate::model::AttributeValue;

pub struct Expressions {
    placeholders: Placeholders,
    names_given: bool,
    values_given: bool,
    parsed: usize,
}

impl Expressions {
    pub fn read(input: Input<'_>) -> Result<Expressions> {
        let mut placeholders = Placeholders::default();
        let names = input.map("ExpressionAttributeNames")?;
        for (k, v) in names.into_iter().flatten() {
            let name = v
                .as_str()
                .ok_or_else(|| type_mismatch(v, JsonKind::String))?;
            check_attribute_name(name)?;
            placeholders.names.insert(k.clone(), name.to_string());
        }
        let values = input.map("ExpressionAttributeValues")?;
        for (k, v) in values.into_iter().flatten() {
            let value = AttributeValue::from_json(v).map_err(|e| match e {
                Error::Validation(msg) => Error::validation(format!(
                    "ExpressionAttributeValues contains invalid value: {msg} for key {k}"
                )),
                other => other,
            })?;
            placeholders.values.insert(k.clone(), value);
        }
        let given = |m: Option<&Map<String, serde_json::Value>>| m.is_some();
        Ok(Expressions {
            placeholders,
            names_given: given(names),
            values_given: given(values),
            parsed: 0,
        })
    }

    fn parser<'a>(&'a mut self, src: &'a str, kind: ExpressionKind) -> Result<Parser<'a>> {
        self.parsed += 1;
        Parser::new(src, kind, &mut self.placeholders)
    }

    /// Parses the condition in `member` (ConditionExpression, FilterExpression, ...), if given.
    pub fn condition(
        &mut self,
        input: Input<'_>,
        member: &str,
        kind: ExpressionKind,
    ) -> Result<Option<Condition>> {
        match input.str(member)? {
            Some(src) => Ok(Some(self.parser(src, kind)?.condition()?)),
            None => Ok(None),
        }
    }

    pub fn update(&mut self, input: Input<'_>) -> Result<Option<Vec<UpdateAction>>> {
        match input.str("UpdateExpression")? {
            Some(src) => Ok(Some(self.parser(src, ExpressionKind::Update)?.update()?)),
            None => Ok(None),
        }
    }

    pub fn projection(&mut self, input: Input<'_>) -> Result<Option<Vec<Path>>> {
        match input.str("ProjectionExpression")? {
            Some(src) => Ok(Some(
                self.parser(src, ExpressionKind::Projection)?.projection()?,
            )),
            None => Ok(None),
        }
    }

    /// DynamoDB's checks once every expression of the request is parsed.
    pub fn finish(self) -> Result<()> {
        let p = &self.placeholders;
        for (given, what, defined) in [
            (
                self.names_given,
                "ExpressionAttributeNames",
                p.names.is_empty(),
            ),
            (
                self.values_given,
                "ExpressionAttributeValues",
                p.values.is_empty(),
            ),
        ] {
            if given && self.parsed == 0 {
                return Err(Error::validation(format!(
                    "{what} can only be specified when using expressions"
                )));
            }
            if given && defined {
                return Err(Error::validation(format!("{what} must not be empty")));
            }
        }
        let unused = |keys: Vec<&String>, what: &str| -> Result<()> {
            if keys.is_empty() {
                return Ok(());
            }
            let mut keys: Vec<&str> = keys.into_iter().map(String::as_str).collect();
            keys.sort_unstable();
            Err(Error::validation(format!(
                "Value provided in {what} unused in expressions: keys: {{{}}}",
                keys.join(", ")
            )))
        };
        unused(
            p.names
                .keys()
                .filter(|k| !p.used_names.contains(*k))
                .collect(),
            "ExpressionAttributeNames",
        )?;
        unused(
            p.values
                .keys()
                .filter(|k| !p.used_values.contains(*k))
                .collect(),
            "ExpressionAttributeValues",
        )
    }
}
