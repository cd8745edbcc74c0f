//! DynamoDB's PartiQL statements, parsed onto the expression AST (conditions, paths, update
//! actions) so that they run through the same evaluator and write pipeline as the API.

use super::lexer::{syntax, tokenize, Tok};
use crate::error::{Error, Result};
use crate::expr::ast::{
    Comparator, Condition, Function, Operand, Path, PathStep, SetValue, UpdateAction,
};
use crate::model::{AttributeValue, Item, Number};

/// What a `RETURNING` clause asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Returning {
    AllOld,
    ModifiedOld,
    AllNew,
    ModifiedNew,
}

#[derive(Debug, PartialEq)]
pub enum Statement {
    Select {
        /// `None` for `*`.
        projection: Option<Vec<Path>>,
        table: String,
        index: Option<String>,
        filter: Option<Condition>,
        /// `ORDER BY ... DESC`.
        descending: bool,
        order_by: Option<Path>,
    },
    Insert {
        table: String,
        item: Item,
    },
    Update {
        table: String,
        actions: Vec<UpdateAction>,
        filter: Option<Condition>,
        returning: Option<Returning>,
    },
    Delete {
        table: String,
        filter: Option<Condition>,
        returning: Option<Returning>,
    },
    /// `EXISTS(SELECT * FROM t WHERE <key> AND ...)`: a transaction's condition check.
    Exists {
        table: String,
        filter: Option<Condition>,
    },
}

impl Statement {
    pub fn table(&self) -> &str {
        match self {
            Statement::Select { table, .. }
            | Statement::Insert { table, .. }
            | Statement::Update { table, .. }
            | Statement::Delete { table, .. }
            | Statement::Exists { table, .. } => table,
        }
    }

    pub fn is_read(&self) -> bool {
        matches!(self, Statement::Select { .. })
    }
}

/// Parses one statement; `?` placeholders take the `parameters` in order.
pub fn parse(src: &str, parameters: &[AttributeValue]) -> Result<Statement> {
    let tokens = tokenize(src)?;
    let mut p = Parser {
        tokens,
        pos: 0,
        parameters,
        used: 0,
        order_by: None,
    };
    let statement = p.statement()?;
    if p.pos < p.tokens.len() {
        return Err(syntax(format_args!("Unexpected token: {}", p.show())));
    }
    if p.used != parameters.len() {
        return Err(parameter_count());
    }
    Ok(statement)
}

struct Parser<'a> {
    tokens: Vec<Tok>,
    pos: usize,
    parameters: &'a [AttributeValue],
    used: usize,
    /// The path of an `ORDER BY` (checked against the key schema when the table is known).
    order_by: Option<Path>,
}

/// Deepest nesting of conditions or literals accepted (keeps recursion bounded).
const MAX_DEPTH: usize = 64;

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos)
    }

    fn show(&self) -> String {
        match self.peek() {
            Some(Tok::Ident(s) | Tok::Number(s)) => s.clone(),
            Some(Tok::Quoted(s)) => format!("\"{s}\""),
            Some(Tok::Str(s)) => format!("'{s}'"),
            Some(Tok::Param) => "?".into(),
            Some(Tok::Sym(s)) => s.to_string(),
            None => "<EOF>".into(),
        }
    }

    fn keyword(&mut self, word: &str) -> bool {
        match self.peek() {
            Some(Tok::Ident(s)) if s.eq_ignore_ascii_case(word) => {
                self.pos += 1;
                true
            }
            _ => false,
        }
    }

    fn expect_keyword(&mut self, word: &str) -> Result<()> {
        if self.keyword(word) {
            Ok(())
        } else {
            Err(syntax(format_args!(
                "Expected {word}, found {}",
                self.show()
            )))
        }
    }

    fn sym(&mut self, s: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Sym(t)) if *t == s) {
            self.pos += 1;
            return true;
        }
        false
    }

    fn expect_sym(&mut self, s: &str) -> Result<()> {
        if self.sym(s) {
            Ok(())
        } else {
            Err(syntax(format_args!("Expected {s}, found {}", self.show())))
        }
    }

    fn statement(&mut self) -> Result<Statement> {
        if self.keyword("SELECT") {
            return self.select();
        }
        if self.keyword("EXISTS") {
            self.expect_sym("(")?;
            self.expect_keyword("SELECT")?;
            let Statement::Select {
                table,
                index: None,
                filter,
                ..
            } = self.select()?
            else {
                return Err(Error::validation(
                    "Operations on indices are not supported in transactions",
                ));
            };
            self.expect_sym(")")?;
            return Ok(Statement::Exists { table, filter });
        }
        if self.keyword("INSERT") {
            self.expect_keyword("INTO")?;
            let table = self.name()?;
            self.expect_keyword("VALUE")?;
            let item = match self.literal(0)? {
                AttributeValue::M(m) => m,
                _ => {
                    return Err(Error::validation(
                        "Unsupported format in item expression. Please use struct format {...} to express item values for insert statement.",
                    ))
                }
            };
            if self.keyword("RETURNING") {
                return Err(Error::validation("RETURNING is not supported in INSERT"));
            }
            return Ok(Statement::Insert { table, item });
        }
        if self.keyword("UPDATE") {
            let table = self.name()?;
            let mut actions = Vec::new();
            loop {
                if self.keyword("SET") {
                    actions.push(self.set_action()?);
                    while self.sym(",") {
                        actions.push(self.set_action()?);
                    }
                } else if self.keyword("REMOVE") {
                    actions.push(UpdateAction::Remove(self.path()?));
                    while self.sym(",") {
                        actions.push(UpdateAction::Remove(self.path()?));
                    }
                } else {
                    break;
                }
            }
            if actions.is_empty() {
                return Err(syntax(format_args!(
                    "Expected SET or REMOVE, found {}",
                    self.show()
                )));
            }
            let filter = self.where_clause()?;
            let returning = self.returning()?;
            return Ok(Statement::Update {
                table,
                actions,
                filter,
                returning,
            });
        }
        if self.keyword("DELETE") {
            self.expect_keyword("FROM")?;
            let table = self.name()?;
            let filter = self.where_clause()?;
            let returning = self.returning()?;
            if returning.is_some_and(|r| r != Returning::AllOld) {
                return Err(Error::validation(
                    "Invalid returning clause: RETURNING. Only RETURNING ALL OLD * is allowed in DELETE statements.",
                ));
            }
            return Ok(Statement::Delete {
                table,
                filter,
                returning,
            });
        }
        Err(syntax(format_args!(
            "Expected SELECT, INSERT, UPDATE or DELETE, found {}",
            self.show()
        )))
    }

    fn select(&mut self) -> Result<Statement> {
        let projection = if self.sym("*") {
            if self.sym(",") {
                return Err(Error::validation(
                    "Other attributes should not be present in the projection when '*' is used.",
                ));
            }
            None
        } else {
            let mut paths = vec![self.path()?];
            while self.sym(",") {
                paths.push(self.path()?);
            }
            Some(paths)
        };
        self.expect_keyword("FROM")?;
        let table = self.name()?;
        let index = if self.sym(".") {
            Some(self.name()?)
        } else {
            None
        };
        let filter = self.where_clause()?;
        let mut descending = false;
        if self.keyword("ORDER") {
            self.expect_keyword("BY")?;
            if filter.is_none() {
                return Err(Error::validation(
                    "Must have WHERE clause in the statement when using ORDER BY clause.",
                ));
            }
            self.order_by = Some(self.path()?);
            if self.keyword("DESC") {
                descending = true;
            } else {
                self.keyword("ASC");
            }
        }
        Ok(Statement::Select {
            projection,
            table,
            index,
            filter,
            descending,
            order_by: self.order_by.take(),
        })
    }

    fn where_clause(&mut self) -> Result<Option<Condition>> {
        if self.keyword("WHERE") {
            Ok(Some(self.or(0)?))
        } else {
            Ok(None)
        }
    }

    fn returning(&mut self) -> Result<Option<Returning>> {
        if !self.keyword("RETURNING") {
            return Ok(None);
        }
        let all = if self.keyword("ALL") {
            true
        } else {
            self.expect_keyword("MODIFIED")?;
            false
        };
        let old = if self.keyword("OLD") {
            true
        } else {
            self.expect_keyword("NEW")?;
            false
        };
        if !self.sym("*") {
            return Err(Error::validation(
                "Expected '*' after ( MODIFIED | ALL ) ( NEW | OLD ) in RETURNING clause",
            ));
        }
        Ok(Some(match (all, old) {
            (true, true) => Returning::AllOld,
            (false, true) => Returning::ModifiedOld,
            (true, false) => Returning::AllNew,
            (false, false) => Returning::ModifiedNew,
        }))
    }

    /// A table or index name: an identifier or a quoted identifier.
    fn name(&mut self) -> Result<String> {
        match self.peek().cloned() {
            Some(Tok::Ident(s) | Tok::Quoted(s)) => {
                self.pos += 1;
                Ok(s)
            }
            _ => Err(syntax(format_args!(
                "Expected a name, found {}",
                self.show()
            ))),
        }
    }

    pub fn path(&mut self) -> Result<Path> {
        let mut steps = vec![PathStep::Attribute(self.name()?)];
        loop {
            if self.sym(".") {
                steps.push(PathStep::Attribute(self.name()?));
            } else if self.sym("[") {
                let index = match self.peek().cloned() {
                    Some(Tok::Number(n)) => n
                        .parse::<usize>()
                        .map_err(|_| syntax(format_args!("Invalid list index: {n}")))?,
                    _ => {
                        return Err(syntax(format_args!(
                            "Expected a list index, found {}",
                            self.show()
                        )))
                    }
                };
                self.pos += 1;
                self.expect_sym("]")?;
                steps.push(PathStep::Index(index));
            } else {
                return Ok(Path { steps });
            }
        }
    }

    fn set_action(&mut self) -> Result<UpdateAction> {
        let path = self.path()?;
        self.expect_sym("=")?;
        // set_add / set_delete change a set in place.
        for (function, add) in [("set_add", true), ("set_delete", false)] {
            if matches!(self.peek(), Some(Tok::Ident(s)) if s.eq_ignore_ascii_case(function)) {
                self.pos += 1;
                self.expect_sym("(")?;
                let target = self.path()?;
                if target != path {
                    return Err(syntax(format_args!(
                        "{function} must update the attribute it reads"
                    )));
                }
                self.expect_sym(",")?;
                let value = self.value()?;
                self.expect_sym(")")?;
                return Ok(if add {
                    UpdateAction::Add(path, value)
                } else {
                    UpdateAction::Delete(path, value)
                });
            }
        }
        let value = self.set_value()?;
        Ok(UpdateAction::Set(path, value))
    }

    fn set_value(&mut self) -> Result<SetValue> {
        let left = self.set_operand()?;
        if self.sym("+") {
            return Ok(SetValue::Plus(
                Box::new(left),
                Box::new(self.set_operand()?),
            ));
        }
        if self.sym("-") {
            return Ok(SetValue::Minus(
                Box::new(left),
                Box::new(self.set_operand()?),
            ));
        }
        Ok(left)
    }

    fn set_operand(&mut self) -> Result<SetValue> {
        if matches!(self.peek(), Some(Tok::Ident(s)) if s.eq_ignore_ascii_case("list_append")) {
            self.pos += 1;
            self.expect_sym("(")?;
            let a = self.set_operand()?;
            self.expect_sym(",")?;
            let b = self.set_operand()?;
            self.expect_sym(")")?;
            return Ok(SetValue::ListAppend(Box::new(a), Box::new(b)));
        }
        Ok(SetValue::Operand(self.operand(0)?))
    }

    fn or(&mut self, depth: usize) -> Result<Condition> {
        if depth > MAX_DEPTH {
            return Err(syntax("The statement is nested too deeply"));
        }
        let mut left = self.and(depth)?;
        while self.keyword("OR") {
            left = Condition::Or(Box::new(left), Box::new(self.and(depth)?));
        }
        Ok(left)
    }

    fn and(&mut self, depth: usize) -> Result<Condition> {
        let mut left = self.not(depth)?;
        while self.keyword("AND") {
            left = Condition::And(Box::new(left), Box::new(self.not(depth)?));
        }
        Ok(left)
    }

    fn not(&mut self, depth: usize) -> Result<Condition> {
        if self.keyword("NOT") {
            if depth > MAX_DEPTH {
                return Err(syntax("The statement is nested too deeply"));
            }
            return Ok(Condition::Not(Box::new(self.not(depth + 1)?)));
        }
        self.predicate(depth)
    }

    fn predicate(&mut self, depth: usize) -> Result<Condition> {
        if self.sym("(") {
            let c = self.or(depth + 1)?;
            self.expect_sym(")")?;
            return Ok(c);
        }
        if let Some(Tok::Ident(word)) = self.peek().cloned() {
            let function = match word.to_ascii_lowercase().as_str() {
                "begins_with" => Some(Function::BeginsWith),
                "contains" => Some(Function::Contains),
                "attribute_type" => Some(Function::AttributeType),
                _ => None,
            };
            if let (Some(f), Some(Tok::Sym("("))) = (function, self.tokens.get(self.pos + 1)) {
                self.pos += 2;
                let mut args = vec![self.operand(depth)?];
                while self.sym(",") {
                    args.push(self.operand(depth)?);
                }
                self.expect_sym(")")?;
                if args.len() != 2 || !matches!(args[0], Operand::Path(_)) {
                    return Err(syntax(format_args!("Invalid arguments to {word}")));
                }
                return Ok(Condition::Call(f, args));
            }
        }
        let left = self.operand(depth)?;
        if self.keyword("IS") {
            let negated = self.keyword("NOT");
            let path = match &left {
                Operand::Path(p) => p.clone(),
                _ => return Err(syntax("IS takes an attribute")),
            };
            let c = if self.keyword("MISSING") {
                Condition::Call(Function::AttributeNotExists, vec![Operand::Path(path)])
            } else {
                self.expect_keyword("NULL")?;
                Condition::Call(
                    Function::AttributeType,
                    vec![
                        Operand::Path(path),
                        Operand::Value(AttributeValue::S("NULL".into())),
                    ],
                )
            };
            return Ok(if negated {
                Condition::Not(Box::new(c))
            } else {
                c
            });
        }
        if self.keyword("BETWEEN") {
            let low = self.operand(depth)?;
            self.expect_keyword("AND")?;
            let high = self.operand(depth)?;
            return Ok(Condition::Between(left, low, high));
        }
        if self.keyword("IN") {
            let close = if self.sym("[") {
                "]"
            } else {
                self.expect_sym("(")?;
                ")"
            };
            let mut list = vec![self.operand(depth)?];
            while self.sym(",") {
                list.push(self.operand(depth)?);
            }
            self.expect_sym(close)?;
            return Ok(Condition::In(left, list));
        }
        let comparator = [
            ("=", Comparator::Eq),
            ("<>", Comparator::Ne),
            ("!=", Comparator::Ne),
            ("<=", Comparator::Le),
            (">=", Comparator::Ge),
            ("<", Comparator::Lt),
            (">", Comparator::Gt),
        ]
        .into_iter()
        .find(|(s, _)| self.sym(s))
        .map(|(_, c)| c)
        .ok_or_else(|| syntax(format_args!("Expected a comparison, found {}", self.show())))?;
        let right = self.operand(depth)?;
        Ok(Condition::Compare(left, comparator, right))
    }

    fn operand(&mut self, depth: usize) -> Result<Operand> {
        match self.peek() {
            Some(Tok::Ident(s)) if s.eq_ignore_ascii_case("size") => {
                if self.tokens.get(self.pos + 1) == Some(&Tok::Sym("(")) {
                    self.pos += 2;
                    let path = self.path()?;
                    self.expect_sym(")")?;
                    return Ok(Operand::Size(path));
                }
                Ok(Operand::Path(self.path()?))
            }
            Some(Tok::Ident(s)) if is_literal_word(s) => Ok(Operand::Value(self.literal(depth)?)),
            Some(Tok::Ident(_) | Tok::Quoted(_)) => Ok(Operand::Path(self.path()?)),
            _ => Ok(Operand::Value(self.literal(depth)?)),
        }
    }

    fn value(&mut self) -> Result<AttributeValue> {
        self.literal(0)
    }

    fn literal(&mut self, depth: usize) -> Result<AttributeValue> {
        if depth > MAX_DEPTH {
            return Err(syntax("The statement is nested too deeply"));
        }
        let token = self
            .peek()
            .cloned()
            .ok_or_else(|| syntax("Expected a value, found <EOF>"))?;
        self.pos += 1;
        Ok(match token {
            Tok::Str(s) => AttributeValue::S(s),
            Tok::Number(n) => AttributeValue::N(number(&n)?),
            Tok::Sym("-") => match self.peek().cloned() {
                Some(Tok::Number(n)) => {
                    self.pos += 1;
                    AttributeValue::N(number(&format!("-{n}"))?)
                }
                _ => return Err(syntax("Expected a number after -")),
            },
            Tok::Param => {
                let v = self
                    .parameters
                    .get(self.used)
                    .cloned()
                    .ok_or_else(parameter_count)?;
                self.used += 1;
                v
            }
            Tok::Ident(w) if w.eq_ignore_ascii_case("true") => AttributeValue::Bool(true),
            Tok::Ident(w) if w.eq_ignore_ascii_case("false") => AttributeValue::Bool(false),
            Tok::Ident(w) if w.eq_ignore_ascii_case("null") => AttributeValue::Null,
            Tok::Sym("[") => {
                let mut items = Vec::new();
                if !self.sym("]") {
                    loop {
                        items.push(self.literal(depth + 1)?);
                        if self.sym("]") {
                            break;
                        }
                        self.expect_sym(",")?;
                    }
                }
                AttributeValue::L(items)
            }
            Tok::Sym("{") => {
                let mut map = Item::new();
                if !self.sym("}") {
                    loop {
                        let key = match self.peek().cloned() {
                            Some(Tok::Str(k) | Tok::Quoted(k)) => k,
                            _ => {
                                return Err(syntax(format_args!(
                                    "Expected a map key, found {}",
                                    self.show()
                                )))
                            }
                        };
                        self.pos += 1;
                        self.expect_sym(":")?;
                        map.insert(key, self.literal(depth + 1)?);
                        if self.sym("}") {
                            break;
                        }
                        self.expect_sym(",")?;
                    }
                }
                AttributeValue::M(map)
            }
            Tok::Sym("<<") => {
                if self.sym(">>") {
                    return Err(Error::validation("Empty bags are not supported"));
                }
                let mut members = Vec::new();
                loop {
                    members.push(self.literal(depth + 1)?);
                    if self.sym(">>") {
                        break;
                    }
                    self.expect_sym(",")?;
                }
                set_of(members)?
            }
            _ => {
                self.pos -= 1;
                return Err(syntax(format_args!(
                    "Expected a value, found {}",
                    self.show()
                )));
            }
        })
    }
}

fn parameter_count() -> Error {
    Error::validation("Number of parameters in request and statement don't match.")
}

fn is_literal_word(s: &str) -> bool {
    ["true", "false", "null"]
        .iter()
        .any(|w| s.eq_ignore_ascii_case(w))
}

fn number(text: &str) -> Result<Number> {
    Number::parse(text).map_err(|e| Error::validation(e.message(text)))
}

/// `<<...>>`: a string, number or binary set, all members of one type, no duplicates.
fn set_of(members: Vec<AttributeValue>) -> Result<AttributeValue> {
    let json: Vec<serde_json::Value> = members
        .iter()
        .map(|m| serde_json::to_value(m).map_err(|e| Error::Internal(e.to_string())))
        .collect::<Result<_>>()?;
    let kind = match members.first() {
        Some(AttributeValue::S(_)) => "SS",
        Some(AttributeValue::N(_)) => "NS",
        Some(AttributeValue::B(_)) => "BS",
        _ => {
            return Err(Error::validation(
                "Unsupported data type in Bag. DynamoDB only supports either numbers or strings in bags",
            ))
        }
    };
    let scalar = &kind[..1];
    let mut elements = Vec::with_capacity(json.len());
    for v in &json {
        match v.get(scalar) {
            Some(e) => elements.push(e.clone()),
            None => return Err(syntax("A set's members must be of one type")),
        }
    }
    AttributeValue::from_json(&serde_json::json!({ kind: elements }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(src: &str) -> Statement {
        parse(src, &[]).unwrap()
    }

    #[test]
    fn select_statements() {
        let s = p(
            r#"SELECT a, "b".c[1] FROM "tab"."idx" WHERE pk = 'x' AND n BETWEEN 1 AND 5 ORDER BY sk DESC"#,
        );
        let Statement::Select {
            projection,
            table,
            index,
            filter,
            descending,
            order_by,
        } = s
        else {
            panic!()
        };
        assert!(order_by.is_some());
        assert_eq!(table, "tab");
        assert_eq!(index.as_deref(), Some("idx"));
        assert_eq!(projection.unwrap().len(), 2);
        assert!(matches!(filter, Some(Condition::And(..))));
        assert!(descending);
        assert!(matches!(
            p("select * from t"),
            Statement::Select {
                projection: None,
                ..
            }
        ));
    }

    #[test]
    fn literals_and_parameters() {
        let s = parse(
            "INSERT INTO t VALUE {'p': ?, 'l': [1, -2.5, 'x', true, null], 'm': {'k': <<'a', 'b'>>}}",
            &[AttributeValue::S("key".into())],
        )
        .unwrap();
        let Statement::Insert { item, .. } = s else {
            panic!()
        };
        assert_eq!(item["p"], AttributeValue::S("key".into()));
        let AttributeValue::L(l) = &item["l"] else {
            panic!()
        };
        assert_eq!(l.len(), 5);
        assert!(
            matches!(&item["m"], AttributeValue::M(m) if matches!(m["k"], AttributeValue::SS(_)))
        );
    }

    #[test]
    fn updates_and_deletes() {
        let s = p("UPDATE t SET a = a + 1, s = set_add(s, <<'x'>>) REMOVE b WHERE pk = 'k' RETURNING ALL NEW *");
        let Statement::Update {
            actions, returning, ..
        } = s
        else {
            panic!()
        };
        assert_eq!(actions.len(), 3);
        assert!(matches!(actions[1], UpdateAction::Add(..)));
        assert_eq!(returning, Some(Returning::AllNew));
        assert!(matches!(
            p("DELETE FROM t WHERE pk = 'k' AND x IS NOT MISSING"),
            Statement::Delete {
                filter: Some(_),
                ..
            }
        ));
    }

    #[test]
    fn errors() {
        for bad in [
            "SELEC * FROM t",
            "SELECT FROM t",
            "SELECT * FROM t WHERE",
            "UPDATE t WHERE a = 1",
            "INSERT INTO t VALUE [1]",
            "SELECT * FROM t WHERE a = <<1, 'x'>>",
            "SELECT * FROM t extra",
            "SELECT *, a FROM t",
            "SELECT * FROM t ORDER BY a",
            "SELECT * FROM t WHERE a = <<>>",
            "DELETE FROM t WHERE a = 1 RETURNING ALL NEW *",
            "INSERT INTO t VALUE {'a': 1} RETURNING ALL OLD *",
        ] {
            assert!(parse(bad, &[]).is_err(), "{bad}");
        }
        let e = parse("SELECT * FROM t WHERE a = ?", &[]).unwrap_err();
        assert!(e.to_string().contains("parameters"), "{e}");
        let deep = format!(
            "SELECT * FROM t WHERE {}a = 1{}",
            "(".repeat(500),
            ")".repeat(500)
        );
        assert!(parse(&deep, &[]).is_err());
    }
}
