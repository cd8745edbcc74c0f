//! A recursive-descent parser for condition, filter and projection expressions, with
//! DynamoDB's error messages. Precedence, loosest first: OR, AND, NOT, then comparisons,
//! BETWEEN, IN and function calls; parentheses group.

use std::collections::{HashMap, HashSet};

use super::ast::{
    Comparator, Condition, Function, Operand, Path, PathStep, SetValue, UpdateAction,
};
use super::lexer::{tokenize, Token, TokenKind};
use super::reserved::is_reserved;
use crate::error::{Error, Result};
use crate::model::AttributeValue;

/// DynamoDB's limit on the text of one expression.
pub const MAX_EXPRESSION_BYTES: usize = 4096;
/// Most operands of `IN`.
pub const MAX_IN_OPERANDS: usize = 100;
/// Nesting deeper than this is refused (and keeps the recursion bounded).
const MAX_DEPTH: usize = 100;

/// Which request member an expression came from; it names the expression in errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpressionKind {
    Condition,
    Filter,
    KeyCondition,
    Projection,
    Update,
}

impl ExpressionKind {
    pub fn member(self) -> &'static str {
        match self {
            ExpressionKind::Condition => "ConditionExpression",
            ExpressionKind::Filter => "FilterExpression",
            ExpressionKind::KeyCondition => "KeyConditionExpression",
            ExpressionKind::Projection => "ProjectionExpression",
            ExpressionKind::Update => "UpdateExpression",
        }
    }
}

/// `ExpressionAttributeNames` and `ExpressionAttributeValues` of a request, and which of them
/// its expressions used (the rest are an error once every expression is parsed).
#[derive(Default)]
pub struct Placeholders {
    pub names: HashMap<String, String>,
    pub values: HashMap<String, AttributeValue>,
    pub used_names: HashSet<String>,
    pub used_values: HashSet<String>,
}

pub struct Parser<'a> {
    src: &'a str,
    tokens: Vec<Token>,
    /// For each `(` token, the index of its matching `)`.
    closing: Vec<Option<usize>>,
    pos: usize,
    kind: ExpressionKind,
    placeholders: &'a mut Placeholders,
    depth: usize,
}

impl<'a> Parser<'a> {
    pub fn new(
        src: &'a str,
        kind: ExpressionKind,
        placeholders: &'a mut Placeholders,
    ) -> Result<Parser<'a>> {
        let invalid = |msg: String| Error::validation(format!("Invalid {}: {msg}", kind.member()));
        if src.len() > MAX_EXPRESSION_BYTES {
            return Err(invalid(format!(
                "Expression size has exceeded the maximum allowed size; expression size: {}",
                src.len()
            )));
        }
        let tokens = tokenize(src).map_err(|bad| {
            invalid(format!(
                "Syntax error; token: \"{}\", near: \"{}\"",
                bad.text,
                near_text(src, bad.start)
            ))
        })?;
        if tokens.len() == 1 {
            return Err(invalid("The expression can not be empty;".into()));
        }
        let mut closing = vec![None; tokens.len()];
        let mut open = Vec::new();
        for (i, t) in tokens.iter().enumerate() {
            match t.kind {
                TokenKind::LParen => open.push(i),
                TokenKind::RParen => {
                    if let Some(o) = open.pop() {
                        closing[o] = Some(i);
                    }
                }
                _ => {}
            }
        }
        Ok(Parser {
            src,
            tokens,
            closing,
            pos: 0,
            kind,
            placeholders,
            depth: 0,
        })
    }

    fn invalid(&self, msg: impl std::fmt::Display) -> Error {
        Error::validation(format!("Invalid {}: {msg}", self.kind.member()))
    }

    fn peek(&self) -> &TokenKind {
        &self.tokens[self.pos].kind
    }

    fn advance(&mut self) -> Token {
        let t = self.tokens[self.pos].clone();
        if self.pos + 1 < self.tokens.len() {
            self.pos += 1;
        }
        t
    }

    /// DynamoDB's syntax error: the offending token and the text around it.
    fn syntax_error(&self) -> Error {
        let t = &self.tokens[self.pos];
        let token = if t.kind == TokenKind::Eof {
            "<EOF>".to_string()
        } else {
            self.src[t.start..t.end].to_string()
        };
        let from = if self.pos > 0 {
            self.tokens[self.pos - 1].start
        } else {
            t.start
        };
        let near = self.src[from..t.end].trim_end();
        self.invalid(format!(
            "Syntax error; token: \"{token}\", near: \"{near}\""
        ))
    }

    fn expect(&mut self, kind: TokenKind) -> Result<()> {
        if *self.peek() == kind {
            self.advance();
            Ok(())
        } else {
            Err(self.syntax_error())
        }
    }

    fn is_keyword(&self, keyword: &str) -> bool {
        matches!(self.peek(), TokenKind::Word(w) if w.eq_ignore_ascii_case(keyword))
    }

    fn finish(&self) -> Result<()> {
        match self.peek() {
            TokenKind::Eof => Ok(()),
            _ => Err(self.syntax_error()),
        }
    }

    /// A whole condition (ConditionExpression, FilterExpression, KeyConditionExpression).
    pub fn condition(mut self) -> Result<Condition> {
        let c = self.or()?;
        self.finish()?;
        Ok(c)
    }

    /// A whole ProjectionExpression: paths separated by commas.
    pub fn projection(mut self) -> Result<Vec<Path>> {
        let mut paths = vec![self.path()?];
        while *self.peek() == TokenKind::Comma {
            self.advance();
            paths.push(self.path()?);
        }
        self.finish()?;
        Ok(paths)
    }

    /// A whole UpdateExpression: SET, REMOVE, ADD and DELETE clauses, each at most once.
    pub fn update(mut self) -> Result<Vec<UpdateAction>> {
        let mut actions = Vec::new();
        let mut seen: Vec<String> = Vec::new();
        while *self.peek() != TokenKind::Eof {
            let TokenKind::Word(word) = self.peek().clone() else {
                return Err(self.syntax_error());
            };
            let clause = word.to_ascii_uppercase();
            if !["SET", "REMOVE", "ADD", "DELETE"].contains(&clause.as_str()) {
                return Err(self.syntax_error());
            }
            if seen.contains(&clause) {
                return Err(self.invalid(format!(
                    "The \"{clause}\" section can only be used once in an update expression;"
                )));
            }
            self.advance();
            loop {
                let path = self.path()?;
                let action = match clause.as_str() {
                    "SET" => {
                        self.expect(TokenKind::Eq)?;
                        UpdateAction::Set(path, self.set_value()?)
                    }
                    "REMOVE" => UpdateAction::Remove(path),
                    _ => {
                        let value = match self.operand()? {
                            Operand::Value(v) => v,
                            _ => return Err(self.syntax_error()),
                        };
                        if clause == "ADD" {
                            UpdateAction::Add(path, value)
                        } else {
                            UpdateAction::Delete(path, value)
                        }
                    }
                };
                actions.push(action);
                if *self.peek() != TokenKind::Comma {
                    break;
                }
                self.advance();
            }
            seen.push(clause);
        }
        Ok(actions)
    }

    /// `operand [+|- operand]`, where operands may be `if_not_exists` and `list_append`.
    fn set_value(&mut self) -> Result<SetValue> {
        let left = self.set_operand()?;
        let combine = match self.peek() {
            TokenKind::Plus => SetValue::Plus,
            TokenKind::Minus => SetValue::Minus,
            _ => return Ok(left),
        };
        self.advance();
        let right = self.set_operand()?;
        Ok(combine(Box::new(left), Box::new(right)))
    }

    fn set_operand(&mut self) -> Result<SetValue> {
        // `(value)`: a parenthesised operand or sum, as in `SET a = ((b[1]) + (c.d))`.
        if *self.peek() == TokenKind::LParen {
            self.advance();
            let inner = self.nested(Self::set_value)?;
            self.expect(TokenKind::RParen)?;
            return Ok(inner);
        }
        match self.function_name().as_deref() {
            Some("if_not_exists") => {
                self.advance();
                self.expect(TokenKind::LParen)?;
                let path = self.path()?;
                self.expect(TokenKind::Comma)?;
                let fallback = self.argument()?;
                self.expect(TokenKind::RParen)?;
                Ok(SetValue::IfNotExists(path, Box::new(fallback)))
            }
            Some("list_append") => {
                self.advance();
                self.expect(TokenKind::LParen)?;
                let a = self.argument()?;
                self.expect(TokenKind::Comma)?;
                let b = self.argument()?;
                self.expect(TokenKind::RParen)?;
                Ok(SetValue::ListAppend(Box::new(a), Box::new(b)))
            }
            Some(
                f @ ("attribute_exists"
                | "attribute_not_exists"
                | "attribute_type"
                | "begins_with"
                | "contains"
                | "size"),
            ) => Err(self.invalid(format!(
                "The function is not allowed in an update expression; function: {f}"
            ))),
            Some(f) => Err(self.invalid(format!("Invalid function name; function: {f}"))),
            None => Ok(SetValue::Operand(self.operand()?)),
        }
    }

    /// A function's argument in an update: `if_not_exists` may be nested, `list_append` may
    /// not (DynamoDB refuses `list_append(list_append(...), ...)` after parsing it).
    fn argument(&mut self) -> Result<SetValue> {
        let value = self.nested(Self::set_operand)?;
        if matches!(value, SetValue::ListAppend(..)) {
            return Err(self.invalid(
                "The function is not allowed to be used this way in an expression; function: list_append",
            ));
        }
        Ok(value)
    }

    fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.invalid("The expression is nested too deeply;"));
        }
        let r = f(self);
        self.depth -= 1;
        r
    }

    fn or(&mut self) -> Result<Condition> {
        self.chain("OR", Self::and, Condition::Or)
    }

    fn and(&mut self) -> Result<Condition> {
        self.chain("AND", Self::not, Condition::And)
    }

    /// `operand (KEYWORD operand)*`, folded to the left.
    fn chain(
        &mut self,
        keyword: &str,
        operand: fn(&mut Self) -> Result<Condition>,
        combine: fn(Box<Condition>, Box<Condition>) -> Condition,
    ) -> Result<Condition> {
        let mut left = operand(self)?;
        while self.is_keyword(keyword) {
            self.advance();
            let right = operand(self)?;
            left = combine(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Condition> {
        if self.is_keyword("NOT") {
            self.advance();
            let inner = self.nested(Self::not)?;
            return Ok(Condition::Not(Box::new(inner)));
        }
        self.primary()
    }

    /// Whether the parenthesis at `open` wraps an operand: what follows its match compares.
    fn wraps_operand(&self, open: usize) -> bool {
        let after = self.closing[open].and_then(|close| self.tokens.get(close + 1));
        match after.map(|t| &t.kind) {
            Some(
                TokenKind::Eq
                | TokenKind::Ne
                | TokenKind::Lt
                | TokenKind::Le
                | TokenKind::Gt
                | TokenKind::Ge,
            ) => true,
            Some(TokenKind::Word(w)) => {
                w.eq_ignore_ascii_case("BETWEEN") || w.eq_ignore_ascii_case("IN")
            }
            _ => false,
        }
    }

    fn primary(&mut self) -> Result<Condition> {
        if *self.peek() == TokenKind::LParen && !self.wraps_operand(self.pos) {
            self.advance();
            let inner_start = self.pos;
            let inner = self.nested(Self::or)?;
            // `((...))`: DynamoDB refuses a group that only wraps another group.
            if self.tokens[inner_start].kind == TokenKind::LParen
                && self.closing[inner_start] == Some(self.pos - 1)
            {
                return Err(self.invalid("The expression has redundant parentheses;"));
            }
            self.expect(TokenKind::RParen)?;
            return Ok(inner);
        }
        if let Some(function) = self.function_name() {
            if function != "size" {
                return self.call(&function);
            }
        }
        let left = self.operand()?;
        let comparator = match self.peek() {
            TokenKind::Eq => Some(Comparator::Eq),
            TokenKind::Ne => Some(Comparator::Ne),
            TokenKind::Lt => Some(Comparator::Lt),
            TokenKind::Le => Some(Comparator::Le),
            TokenKind::Gt => Some(Comparator::Gt),
            TokenKind::Ge => Some(Comparator::Ge),
            _ => None,
        };
        if let Some(comparator) = comparator {
            self.advance();
            let right = self.operand()?;
            return Ok(Condition::Compare(left, comparator, right));
        }
        if self.is_keyword("BETWEEN") {
            self.advance();
            let low = self.operand()?;
            if !self.is_keyword("AND") {
                return Err(self.syntax_error());
            }
            self.advance();
            let high = self.operand()?;
            self.check_between_bounds(&low, &high)?;
            return Ok(Condition::Between(left, low, high));
        }
        if self.is_keyword("IN") {
            self.advance();
            self.expect(TokenKind::LParen)?;
            let mut list = vec![self.operand()?];
            while *self.peek() == TokenKind::Comma {
                self.advance();
                list.push(self.operand()?);
            }
            self.expect(TokenKind::RParen)?;
            if list.len() > MAX_IN_OPERANDS {
                return Err(self.invalid(format!(
                    "The IN operator is provided with too many operands; number of operands: {}",
                    list.len()
                )));
            }
            return Ok(Condition::In(left, list));
        }
        Err(self.syntax_error())
    }

    /// Bounds given as values must be of one type and in order, as DynamoDB checks up front.
    fn check_between_bounds(&self, low: &Operand, high: &Operand) -> Result<()> {
        let (Operand::Value(l), Operand::Value(h)) = (low, high) else {
            return Ok(());
        };
        let shown = |v: &AttributeValue| {
            let text = match v {
                AttributeValue::S(s) => s.clone(),
                AttributeValue::N(n) => n.to_string(),
                other => serde_json::to_value(other)
                    .ok()
                    .and_then(|j| j.get(other.type_name()).map(|x| x.to_string()))
                    .unwrap_or_default(),
            };
            format!("AttributeValue: {{{}:{text}}}", v.type_name())
        };
        let problem = if l.type_name() != h.type_name() {
            "requires same data type for lower and upper bounds"
        } else if super::eval::order(l, h) == Some(std::cmp::Ordering::Greater) {
            "requires upper bound to be greater than or equal to lower bound"
        } else {
            return Ok(());
        };
        Err(self.invalid(format!(
            "The BETWEEN operator {problem}; lower bound operand: {}, upper bound operand: {}",
            shown(l),
            shown(h)
        )))
    }

    /// The name of a function about to be called (a word followed by `(`).
    fn function_name(&self) -> Option<String> {
        match (self.peek(), self.tokens.get(self.pos + 1).map(|t| &t.kind)) {
            (TokenKind::Word(w), Some(TokenKind::LParen)) => Some(w.clone()),
            _ => None,
        }
    }

    fn call(&mut self, name: &str) -> Result<Condition> {
        let function = match name {
            "attribute_exists" => Function::AttributeExists,
            "attribute_not_exists" => Function::AttributeNotExists,
            "attribute_type" => Function::AttributeType,
            "begins_with" => Function::BeginsWith,
            "contains" => Function::Contains,
            "if_not_exists" | "list_append" => {
                return Err(self.invalid(format!(
                    "The function is not allowed to be used this way in an expression; function: {name}"
                )))
            }
            _ => return Err(self.invalid(format!("Invalid function name; function: {name}"))),
        };
        self.advance();
        self.expect(TokenKind::LParen)?;
        let mut args = vec![self.operand()?];
        while *self.peek() == TokenKind::Comma {
            self.advance();
            args.push(self.operand()?);
        }
        self.expect(TokenKind::RParen)?;
        let arity = match function {
            Function::AttributeExists | Function::AttributeNotExists => 1,
            _ => 2,
        };
        if args.len() != arity {
            return Err(self.invalid(format!(
                "Incorrect number of operands for operator or function; operator or function: {}, number of operands: {}",
                function.name(),
                args.len()
            )));
        }
        if !matches!(args[0], Operand::Path(_))
            && function != Function::Contains
            && function != Function::BeginsWith
        {
            return Err(self.invalid(format!(
                "Operator or function requires a document path; operator or function: {}",
                function.name()
            )));
        }
        Ok(Condition::Call(function, args))
    }

    fn operand(&mut self) -> Result<Operand> {
        // `(operand)`, as DynamoDB accepts wherever an operand stands.
        if *self.peek() == TokenKind::LParen {
            self.advance();
            let inner = self.nested(Self::operand)?;
            self.expect(TokenKind::RParen)?;
            return Ok(inner);
        }
        if let Some(function) = self.function_name() {
            if function != "size" {
                return Err(self.invalid(format!(
                    "The function is not allowed to be used this way in an expression; function: {function}"
                )));
            }
            self.advance();
            self.expect(TokenKind::LParen)?;
            let path = self.path()?;
            self.expect(TokenKind::RParen)?;
            return Ok(Operand::Size(path));
        }
        if let TokenKind::ValueRef(name) = self.peek().clone() {
            self.advance();
            let value = self.placeholders.values.get(&name).cloned().ok_or_else(|| {
                self.invalid(format!(
                    "An expression attribute value used in expression is not defined; attribute value: {name}"
                ))
            })?;
            self.placeholders.used_values.insert(name);
            return Ok(Operand::Value(value));
        }
        Ok(Operand::Path(self.path()?))
    }

    /// `name`, `#ref`, then any `.name`, `.#ref` or `[index]` steps.
    pub fn path(&mut self) -> Result<Path> {
        let mut steps = vec![PathStep::Attribute(self.attribute_name()?)];
        loop {
            match self.peek() {
                TokenKind::Dot => {
                    self.advance();
                    steps.push(PathStep::Attribute(self.attribute_name()?));
                }
                TokenKind::LBracket => {
                    self.advance();
                    let TokenKind::Integer(digits) = self.peek().clone() else {
                        return Err(self.syntax_error());
                    };
                    let index = digits.parse::<usize>().map_err(|_| {
                        self.invalid(format!("List index is too large; index: {digits}"))
                    })?;
                    self.advance();
                    self.expect(TokenKind::RBracket)?;
                    steps.push(PathStep::Index(index));
                }
                _ => return Ok(Path { steps }),
            }
        }
    }

    fn attribute_name(&mut self) -> Result<String> {
        match self.peek().clone() {
            TokenKind::Word(w) if !w.starts_with(|c: char| c.is_ascii_digit()) => {
                if is_reserved(&w) {
                    return Err(self.invalid(format!(
                        "Attribute name is a reserved keyword; reserved keyword: {w}"
                    )));
                }
                self.advance();
                Ok(w)
            }
            TokenKind::NameRef(r) => {
                let name = self.placeholders.names.get(&r).cloned().ok_or_else(|| {
                    self.invalid(format!(
                        "An expression attribute name used in the document path is not defined; attribute name: {r}"
                    ))
                })?;
                self.placeholders.used_names.insert(r);
                self.advance();
                Ok(name)
            }
            _ => Err(self.syntax_error()),
        }
    }
}

/// The source around a bad character: the word before it and the character itself.
fn near_text(src: &str, at: usize) -> &str {
    let before = src[..at].trim_end();
    // Past the last whitespace character (which may be wider than one byte).
    let from = before
        .char_indices()
        .rev()
        .find(|(_, c)| c.is_whitespace())
        .map_or(0, |(i, c)| i + c.len_utf8());
    let end = src[at..].chars().next().map_or(at, |c| at + c.len_utf8());
    &src[from..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Number;

    #[test]
    fn syntax_errors_quote_text_around_wide_whitespace() {
        // Found by the fuzzer: U+0085 is whitespace two bytes wide.
        let src = "GGGGG\u{85}ASCMb\u{10}.V";
        let e = Parser::new(src, ExpressionKind::Condition, &mut placeholders()).err();
        assert_eq!(
            e.unwrap().to_string(),
            "Invalid ConditionExpression: Syntax error; token: \"\u{10}\", near: \"ASCMb\u{10}\""
        );
    }

    fn placeholders() -> Placeholders {
        let mut p = Placeholders::default();
        p.names.insert("#s".into(), "status".into());
        p.names.insert("#dot".into(), "a.b".into());
        p.values.insert(":v".into(), AttributeValue::S("x".into()));
        p.values
            .insert(":n".into(), AttributeValue::N(Number::parse("1").unwrap()));
        p
    }

    fn cond(src: &str) -> Result<Condition> {
        let mut p = placeholders();
        Parser::new(src, ExpressionKind::Condition, &mut p)?.condition()
    }

    fn err(src: &str) -> String {
        cond(src).unwrap_err().to_string()
    }

    fn path(names: &[&str]) -> Operand {
        Operand::Path(Path {
            steps: names
                .iter()
                .map(|n| PathStep::Attribute(n.to_string()))
                .collect(),
        })
    }

    fn s(v: &str) -> Operand {
        Operand::Value(AttributeValue::S(v.into()))
    }

    #[test]
    fn operands_may_stand_in_parentheses() {
        let size = |p: &str| {
            Operand::Size(Path {
                steps: vec![PathStep::Attribute(p.into())],
            })
        };
        assert_eq!(
            cond("(size(a)) = :v").unwrap(),
            Condition::Compare(size("a"), Comparator::Eq, s("x"))
        );
        assert_eq!(
            cond("((size(a)) = :v) AND (b) = (:v)").unwrap(),
            Condition::And(
                Box::new(Condition::Compare(size("a"), Comparator::Eq, s("x"))),
                Box::new(Condition::Compare(path(&["b"]), Comparator::Eq, s("x")))
            )
        );
        assert!(matches!(
            cond("(a) BETWEEN (:v) AND :v").unwrap(),
            Condition::Between(..)
        ));
        assert!(matches!(
            cond("(a) IN ((:v), :v)").unwrap(),
            Condition::In(..)
        ));
        // A group is still a group, and an unclosed one an error.
        assert!(matches!(cond("(a = :v)").unwrap(), Condition::Compare(..)));
        assert!(err("(a = :v").starts_with("Invalid ConditionExpression: Syntax error"));
    }

    #[test]
    fn precedence_or_and_not() {
        // a = :v OR b = :v AND NOT c = :v  ==  a = :v OR (b = :v AND (NOT c = :v))
        let c = cond("a = :v OR b = :v AND NOT c = :v").unwrap();
        let eq = |n: &str| Condition::Compare(path(&[n]), Comparator::Eq, s("x"));
        assert_eq!(
            c,
            Condition::Or(
                Box::new(eq("a")),
                Box::new(Condition::And(
                    Box::new(eq("b")),
                    Box::new(Condition::Not(Box::new(eq("c"))))
                ))
            )
        );
        let grouped = cond("(a = :v OR b = :v) and c = :v").unwrap();
        assert!(matches!(grouped, Condition::And(..)));
    }

    #[test]
    fn every_construct_parses() {
        for src in [
            "a <> :v",
            "a < :v",
            "a <= :v",
            "a > :v",
            "a >= :v",
            "a BETWEEN :n AND :n",
            "a in (:v, :n)",
            "attribute_exists(#s)",
            "attribute_not_exists(a.b[2].c)",
            "attribute_type(a, :v)",
            "begins_with(a, :v)",
            "contains(a, :v)",
            "size(a) > :n",
            "NOT (a = :v)",
            "#dot = :v",
            "a[0][1] = :v",
        ] {
            assert!(cond(src).is_ok(), "{src}: {:?}", cond(src));
        }
    }

    #[test]
    fn paths_resolve_names_and_indexes() {
        let mut p = placeholders();
        let paths = Parser::new("#s, a.#dot[3], c", ExpressionKind::Projection, &mut p)
            .unwrap()
            .projection()
            .unwrap();
        assert_eq!(paths[0].steps, vec![PathStep::Attribute("status".into())]);
        assert_eq!(
            paths[1].steps,
            vec![
                PathStep::Attribute("a".into()),
                PathStep::Attribute("a.b".into()),
                PathStep::Index(3)
            ]
        );
        assert!(p.used_names.contains("#s") && p.used_names.contains("#dot"));
        assert!(p.used_values.is_empty());
    }

    #[test]
    fn syntax_errors_quote_the_source() {
        assert_eq!(
            err("a ="),
            "Invalid ConditionExpression: Syntax error; token: \"<EOF>\", near: \"=\""
        );
        assert_eq!(
            err("a = :v b"),
            "Invalid ConditionExpression: Syntax error; token: \"b\", near: \":v b\""
        );
        assert_eq!(
            err("contains (a, :v"),
            "Invalid ConditionExpression: Syntax error; token: \"<EOF>\", near: \":v\""
        );
        assert_eq!(
            err("a ! :v"),
            "Invalid ConditionExpression: Syntax error; token: \"!\", near: \"a !\""
        );
        assert_eq!(
            err(""),
            "Invalid ConditionExpression: The expression can not be empty;"
        );
    }

    #[test]
    fn between_bounds_are_checked() {
        assert_eq!(
            err("a BETWEEN :n AND :v"),
            "Invalid ConditionExpression: The BETWEEN operator requires same data type for lower and upper bounds; lower bound operand: AttributeValue: {N:1}, upper bound operand: AttributeValue: {S:x}"
        );
        let mut p = placeholders();
        p.values.insert(
            ":big".into(),
            AttributeValue::N(Number::parse("20").unwrap()),
        );
        let e = Parser::new("a BETWEEN :big AND :n", ExpressionKind::Condition, &mut p)
            .unwrap()
            .condition()
            .unwrap_err();
        assert_eq!(e.to_string(), "Invalid ConditionExpression: The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: AttributeValue: {N:20}, upper bound operand: AttributeValue: {N:1}");
        assert!(cond("a BETWEEN :n AND :n").is_ok());
    }

    #[test]
    fn list_append_only_stands_outermost() {
        let update = |src: &str| {
            let mut p = placeholders();
            Parser::new(src, ExpressionKind::Update, &mut p).and_then(Parser::update)
        };
        for src in [
            "SET a = list_append(list_append(:v, :v), :v)",
            "SET a = if_not_exists(a, list_append(:v, :v))",
        ] {
            assert_eq!(
                update(src).unwrap_err().to_string(),
                "Invalid UpdateExpression: The function is not allowed to be used this way in an expression; function: list_append",
                "{src}"
            );
        }
        for src in [
            "SET a = list_append(if_not_exists(a, :v), :v)",
            "SET a = if_not_exists(a, if_not_exists(b, :v))",
        ] {
            assert!(update(src).is_ok(), "{src}");
        }
    }

    #[test]
    fn redundant_parentheses() {
        for src in [
            "((a = :v))",
            "a = :v AND ((a = :v AND (a = :v)))",
            "NOT ((a = :v))",
        ] {
            assert_eq!(
                err(src),
                "Invalid ConditionExpression: The expression has redundant parentheses;",
                "{src}"
            );
        }
        for src in [
            "(a = :v) AND (b = :v)",
            "((a = :v) AND (b = :v))",
            "(attribute_exists(a))",
        ] {
            assert!(cond(src).is_ok(), "{src}");
        }
    }

    #[test]
    fn semantic_errors() {
        assert_eq!(
            err("status = :v"),
            "Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: status"
        );
        assert_eq!(
            err("#x = :v"),
            "Invalid ConditionExpression: An expression attribute name used in the document path is not defined; attribute name: #x"
        );
        assert_eq!(
            err("a = :x"),
            "Invalid ConditionExpression: An expression attribute value used in expression is not defined; attribute value: :x"
        );
        assert_eq!(
            err("nope(a)"),
            "Invalid ConditionExpression: Invalid function name; function: nope"
        );
        assert_eq!(
            err("begins_with(a)"),
            "Invalid ConditionExpression: Incorrect number of operands for operator or function; operator or function: begins_with, number of operands: 1"
        );
        assert_eq!(
            err("attribute_exists(:v)"),
            "Invalid ConditionExpression: Operator or function requires a document path; operator or function: attribute_exists"
        );
        let long = format!("a = :v AND {}", "b = :v AND ".repeat(400));
        assert!(err(&long).contains("Expression size has exceeded the maximum allowed size"));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let src = format!("{}a = :v{}", "(".repeat(5000), ")".repeat(5000));
        let mut p = placeholders();
        // Over 4 KB: refused before parsing.
        assert!(Parser::new(&src, ExpressionKind::Filter, &mut p).is_err());
        let src = format!("{}a = :v{}", "(".repeat(1500), ")".repeat(1500));
        assert!(cond(&src)
            .unwrap_err()
            .to_string()
            .contains("nested too deeply"));
        let nots = format!("{}a = :v", "NOT ".repeat(900));
        assert!(cond(&nots).is_err());
    }

    proptest::proptest! {
        /// Whatever the text, parsing ends in a value or an error: no panic, no stack overflow.
        #[test]
        fn parsing_never_panics(src in "[a-c#:()\\[\\]0-9 ,.=<>+-]{0,60}|(NOT |AND |OR |SET |REMOVE |ADD |DELETE |size|if_not_exists|list_append|begins_with|\\(|\\)|#s|:v|:n|a|b|\\.|\\[1\\]| = | < |, | BETWEEN | IN ){0,40}") {
            for kind in [ExpressionKind::Condition, ExpressionKind::Projection, ExpressionKind::Update] {
                let mut p = placeholders();
                if let Ok(parser) = Parser::new(&src, kind, &mut p) {
                    let _ = match kind {
                        ExpressionKind::Projection => parser.projection().map(|_| ()),
                        ExpressionKind::Update => parser.update().map(|_| ()),
                        _ => parser.condition().map(|_| ()),
                    };
                }
            }
        }
    }

    #[test]
    fn in_is_limited_to_100_operands() {
        let list = vec![":v"; 101].join(", ");
        assert!(err(&format!("a IN ({list})")).contains("too many operands"));
        let list = vec![":v"; 100].join(", ");
        assert!(cond(&format!("a IN ({list})")).is_ok());
    }
}

/// AST → text → AST: whatever the parser builds, printing it back and parsing that gives the
/// same tree (parenthesised fully, so precedence is exercised through the printed form).
#[cfg(test)]
mod round_trip {
    use super::*;
    use crate::model::Number;
    use proptest::prelude::*;

    fn values() -> Vec<AttributeValue> {
        vec![
            AttributeValue::S("x".into()),
            AttributeValue::N(Number::from(7)),
            AttributeValue::L(vec![]),
            AttributeValue::NS(vec![Number::from(1)]),
            AttributeValue::SS(vec!["s".into()]),
        ]
    }

    fn placeholders() -> Placeholders {
        let mut p = Placeholders::default();
        p.names.insert("#r".into(), "status".into());
        for (i, v) in values().into_iter().enumerate() {
            p.values.insert(format!(":v{i}"), v);
        }
        p
    }

    fn value_name(v: &AttributeValue) -> String {
        let i = values().iter().position(|x| x == v).unwrap_or(0);
        format!(":v{i}")
    }

    fn path_text(p: &Path) -> String {
        let mut out = String::new();
        for step in &p.steps {
            match step {
                PathStep::Attribute(a) if a == "status" => {
                    out.push_str(if out.is_empty() { "#r" } else { ".#r" })
                }
                PathStep::Attribute(a) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(a);
                }
                PathStep::Index(i) => out.push_str(&format!("[{i}]")),
            }
        }
        out
    }

    fn operand_text(o: &Operand) -> String {
        match o {
            Operand::Path(p) => path_text(p),
            Operand::Value(v) => value_name(v),
            Operand::Size(p) => format!("size({})", path_text(p)),
        }
    }

    fn condition_text(c: &Condition) -> String {
        let op = |c: Comparator| match c {
            Comparator::Eq => "=",
            Comparator::Ne => "<>",
            Comparator::Lt => "<",
            Comparator::Le => "<=",
            Comparator::Gt => ">",
            Comparator::Ge => ">=",
        };
        match c {
            Condition::Compare(a, c, b) => {
                format!("{} {} {}", operand_text(a), op(*c), operand_text(b))
            }
            Condition::Between(a, b, c) => format!(
                "{} BETWEEN {} AND {}",
                operand_text(a),
                operand_text(b),
                operand_text(c)
            ),
            Condition::In(a, l) => format!(
                "{} IN ({})",
                operand_text(a),
                l.iter().map(operand_text).collect::<Vec<_>>().join(", ")
            ),
            Condition::Call(f, args) => format!(
                "{}({})",
                f.name(),
                args.iter().map(operand_text).collect::<Vec<_>>().join(", ")
            ),
            Condition::Not(c) => format!("NOT ({})", condition_text(c)),
            Condition::And(a, b) => format!("({}) AND ({})", condition_text(a), condition_text(b)),
            Condition::Or(a, b) => format!("({}) or ({})", condition_text(a), condition_text(b)),
        }
    }

    fn path() -> impl Strategy<Value = Path> {
        (
            prop_oneof![
                Just("a".to_string()),
                Just("b_2".to_string()),
                Just("status".to_string())
            ],
            prop::collection::vec(
                prop_oneof![
                    (0usize..5).prop_map(PathStep::Index),
                    prop_oneof![Just("c"), Just("status")]
                        .prop_map(|s| PathStep::Attribute(s.to_string())),
                ],
                0..3,
            ),
        )
            .prop_map(|(first, rest)| {
                let mut steps = vec![PathStep::Attribute(first)];
                steps.extend(rest);
                Path { steps }
            })
    }

    fn operand() -> impl Strategy<Value = Operand> {
        prop_oneof![
            path().prop_map(Operand::Path),
            (0..3usize).prop_map(|i| Operand::Value(values()[i].clone())),
            path().prop_map(Operand::Size),
        ]
    }

    fn condition() -> impl Strategy<Value = Condition> {
        let comparator = prop_oneof![
            Just(Comparator::Eq),
            Just(Comparator::Ne),
            Just(Comparator::Lt),
            Just(Comparator::Le),
            Just(Comparator::Gt),
            Just(Comparator::Ge)
        ];
        let leaf = prop_oneof![
            (operand(), comparator, operand()).prop_map(|(a, c, b)| Condition::Compare(a, c, b)),
            (operand(), operand(), operand())
                .prop_filter("valid BETWEEN bounds", |(_, low, high)| match (low, high) {
                    (Operand::Value(l), Operand::Value(h)) => {
                        l.type_name() == h.type_name()
                            && crate::expr::eval::order(l, h) != Some(std::cmp::Ordering::Greater)
                    }
                    _ => true,
                })
                .prop_map(|(a, b, c)| Condition::Between(a, b, c)),
            (operand(), prop::collection::vec(operand(), 1..4))
                .prop_map(|(a, l)| Condition::In(a, l)),
            path().prop_map(|p| Condition::Call(Function::AttributeExists, vec![Operand::Path(p)])),
            (path(), operand()).prop_map(|(p, o)| Condition::Call(
                Function::BeginsWith,
                vec![Operand::Path(p), o]
            )),
            (operand(), operand())
                .prop_map(|(a, b)| Condition::Call(Function::Contains, vec![a, b])),
        ];
        leaf.prop_recursive(4, 24, 2, |inner| {
            prop_oneof![
                inner.clone().prop_map(|c| Condition::Not(Box::new(c))),
                (inner.clone(), inner.clone())
                    .prop_map(|(a, b)| Condition::And(Box::new(a), Box::new(b))),
                (inner.clone(), inner).prop_map(|(a, b)| Condition::Or(Box::new(a), Box::new(b))),
            ]
        })
    }

    fn set_value_text(v: &SetValue) -> String {
        match v {
            SetValue::Operand(o) => operand_text(o),
            SetValue::IfNotExists(p, f) => {
                format!("if_not_exists({}, {})", path_text(p), set_value_text(f))
            }
            SetValue::ListAppend(a, b) => {
                format!("list_append({}, {})", set_value_text(a), set_value_text(b))
            }
            SetValue::Plus(a, b) => format!("{} + {}", set_value_text(a), set_value_text(b)),
            SetValue::Minus(a, b) => format!("{} - {}", set_value_text(a), set_value_text(b)),
        }
    }

    /// Prints actions clause by clause, in the order the parser returns them.
    fn update_text(actions: &[UpdateAction]) -> String {
        let mut clauses = Vec::new();
        for (keyword, pick) in [("SET", 0), ("REMOVE", 1), ("ADD", 2), ("DELETE", 3)] {
            let items: Vec<String> = actions
                .iter()
                .filter_map(|a| match (a, pick) {
                    (UpdateAction::Set(p, v), 0) => {
                        Some(format!("{} = {}", path_text(p), set_value_text(v)))
                    }
                    (UpdateAction::Remove(p), 1) => Some(path_text(p)),
                    (UpdateAction::Add(p, v), 2) | (UpdateAction::Delete(p, v), 3) => {
                        Some(format!("{} {}", path_text(p), value_name(v)))
                    }
                    _ => None,
                })
                .collect();
            if !items.is_empty() {
                clauses.push(format!("{keyword} {}", items.join(", ")));
            }
        }
        clauses.join(" ")
    }

    fn set_operand() -> impl Strategy<Value = SetValue> {
        let leaf = prop_oneof![
            path().prop_map(|p| SetValue::Operand(Operand::Path(p))),
            (0..3usize).prop_map(|i| SetValue::Operand(Operand::Value(values()[i].clone()))),
        ];
        // Function arguments nest `if_not_exists`; `list_append` only stands outermost.
        let argument = leaf.prop_recursive(2, 6, 2, |inner| {
            (path(), inner).prop_map(|(p, f)| SetValue::IfNotExists(p, Box::new(f)))
        });
        prop_oneof![
            argument.clone(),
            (argument.clone(), argument)
                .prop_map(|(a, b)| SetValue::ListAppend(Box::new(a), Box::new(b))),
        ]
    }

    fn set_value() -> impl Strategy<Value = SetValue> {
        prop_oneof![
            set_operand(),
            (set_operand(), set_operand())
                .prop_map(|(a, b)| SetValue::Plus(Box::new(a), Box::new(b))),
            (set_operand(), set_operand())
                .prop_map(|(a, b)| SetValue::Minus(Box::new(a), Box::new(b))),
        ]
    }

    fn update_actions() -> impl Strategy<Value = Vec<UpdateAction>> {
        (
            prop::collection::vec((path(), set_value()), 0..3),
            prop::collection::vec(path(), 0..3),
            prop::collection::vec(path(), 0..2),
            prop::collection::vec(path(), 0..2),
        )
            .prop_map(|(sets, removes, adds, deletes)| {
                let mut actions: Vec<UpdateAction> = sets
                    .into_iter()
                    .map(|(p, v)| UpdateAction::Set(p, v))
                    .collect();
                actions.extend(removes.into_iter().map(UpdateAction::Remove));
                actions.extend(
                    adds.into_iter()
                        .map(|p| UpdateAction::Add(p, values()[3].clone())),
                );
                actions.extend(
                    deletes
                        .into_iter()
                        .map(|p| UpdateAction::Delete(p, values()[4].clone())),
                );
                actions
            })
            .prop_filter("at least one action", |a| !a.is_empty())
    }

    proptest! {
        #[test]
        fn updates_survive_printing_and_parsing(actions in update_actions()) {
            let text = update_text(&actions);
            let mut p = placeholders();
            let parsed = Parser::new(&text, ExpressionKind::Update, &mut p).and_then(Parser::update);
            prop_assert_eq!(parsed.ok(), Some(actions), "{}", text);
        }

        #[test]
        fn conditions_survive_printing_and_parsing(c in condition()) {
            let text = condition_text(&c);
            let mut p = placeholders();
            let parsed = Parser::new(&text, ExpressionKind::Condition, &mut p).and_then(Parser::condition);
            prop_assert_eq!(parsed.ok(), Some(c), "{}", text);
        }

        #[test]
        fn projections_survive_printing_and_parsing(paths in prop::collection::vec(path(), 1..5)) {
            let text = paths.iter().map(path_text).collect::<Vec<_>>().join(", ");
            let mut p = placeholders();
            let parsed = Parser::new(&text, ExpressionKind::Projection, &mut p).and_then(Parser::projection);
            prop_assert_eq!(parsed.ok(), Some(paths), "{}", text);
        }
    }
}
