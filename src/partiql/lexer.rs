//! Tokens of DynamoDB's PartiQL subset.

use crate::error::{Error, Result};

#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    /// A bare identifier or keyword (keywords are told apart by the parser, ignoring case).
    Ident(String),
    /// `"name"`: a quoted identifier, never a keyword.
    Quoted(String),
    /// `'text'`: a string literal.
    Str(String),
    Number(String),
    /// `?`: the next of the statement's `Parameters`.
    Param,
    /// Punctuation and operators: `. , ( ) [ ] { } : = <> != < <= > >= + - * << >>`.
    Sym(&'static str),
}

const SYMBOLS: [&str; 21] = [
    "<<", ">>", "<>", "!=", "<=", ">=", ".", ",", "(", ")", "[", "]", "{", "}", ":", "=", "<", ">",
    "+", "-", "*",
];

pub fn syntax(msg: impl std::fmt::Display) -> Error {
    Error::validation(format!(
        "Statement wasn't well formed, can't be processed: {msg}"
    ))
}

pub fn tokenize(src: &str) -> Result<Vec<Tok>> {
    let mut out = Vec::new();
    let mut rest = src;
    while let Some(c) = rest.chars().next() {
        if c.is_whitespace() {
            rest = &rest[c.len_utf8()..];
            continue;
        }
        if c == '\'' || c == '"' {
            let (text, used) = quoted(rest, c)?;
            out.push(if c == '\'' {
                Tok::Str(text)
            } else {
                Tok::Quoted(text)
            });
            rest = &rest[used..];
            continue;
        }
        if c.is_ascii_digit() {
            let len = number_len(rest);
            out.push(Tok::Number(rest[..len].to_string()));
            rest = &rest[len..];
            continue;
        }
        if c.is_alphabetic() || c == '_' {
            let len = rest
                .char_indices()
                .find(|(_, c)| !(c.is_alphanumeric() || *c == '_'))
                .map_or(rest.len(), |(i, _)| i);
            out.push(Tok::Ident(rest[..len].to_string()));
            rest = &rest[len..];
            continue;
        }
        if c == '?' {
            out.push(Tok::Param);
            rest = &rest[1..];
            continue;
        }
        match SYMBOLS.iter().find(|s| rest.starts_with(**s)) {
            Some(s) => {
                out.push(Tok::Sym(s));
                rest = &rest[s.len()..];
            }
            None => return Err(syntax(format_args!("Unexpected character: {c}"))),
        }
    }
    Ok(out)
}

/// A quoted string or identifier; the quote doubled stands for itself. Returns the text and
/// the bytes used.
fn quoted(src: &str, quote: char) -> Result<(String, usize)> {
    let mut text = String::new();
    let mut chars = src.char_indices().skip(1).peekable();
    while let Some((i, c)) = chars.next() {
        if c == quote {
            if matches!(chars.peek(), Some((_, n)) if *n == quote) {
                chars.next();
                text.push(quote);
                continue;
            }
            return Ok((text, i + 1));
        }
        text.push(c);
    }
    Err(syntax("Unterminated quoted text"))
}

fn number_len(src: &str) -> usize {
    let b = src.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize| {
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
    };
    digits(&mut i);
    if i < b.len() && b[i] == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
        i += 1;
        digits(&mut i);
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        let mut j = i + 1;
        if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
            j += 1;
        }
        if j < b.len() && b[j].is_ascii_digit() {
            i = j;
            digits(&mut i);
        }
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        let t =
            tokenize(r#"SELECT "a""b", x FROM t WHERE n >= -1.5e3 AND s = 'it''s' AND v IN <<?>>"#)
                .unwrap();
        assert_eq!(t[1], Tok::Quoted("a\"b".into()));
        assert!(t.contains(&Tok::Sym(">=")));
        assert!(t.contains(&Tok::Number("1.5e3".into())));
        assert!(t.contains(&Tok::Str("it's".into())));
        assert!(t.contains(&Tok::Sym("<<")) && t.contains(&Tok::Param));
        assert!(tokenize("SELECT 'open").is_err());
        assert!(tokenize("SELECT ;").is_err());
    }
}
