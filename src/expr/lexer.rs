//! Tokens of DynamoDB's expression language, with their positions in the source text so that
//! syntax errors can quote it the way DynamoDB does.

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// A bare attribute name or a keyword/function name (told apart by the parser).
    Word(String),
    /// `#name`: an expression attribute name placeholder.
    NameRef(String),
    /// `:value`: an expression attribute value placeholder.
    ValueRef(String),
    /// Digits, as in a list index `a[3]`.
    Integer(String),
    Dot,
    LBracket,
    RBracket,
    LParen,
    RParen,
    Comma,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Plus,
    Minus,
    Eof,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    pub kind: TokenKind,
    /// Byte range in the source.
    pub start: usize,
    pub end: usize,
}

/// A character no token can start with; the text is the offending character.
#[derive(Debug, PartialEq, Eq)]
pub struct BadChar {
    pub text: String,
    pub start: usize,
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

pub fn tokenize(src: &str) -> Result<Vec<Token>, BadChar> {
    let mut tokens = Vec::new();
    let mut chars = src.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let take_word = |chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>| {
            let mut end = src.len();
            while let Some(&(i, c)) = chars.peek() {
                if !is_word_char(c) {
                    end = i;
                    break;
                }
                chars.next();
            }
            end
        };
        let kind = match c {
            '#' | ':' => {
                chars.next();
                let end = take_word(&mut chars);
                let name = src[start..end].to_string();
                if end == start + 1 {
                    return Err(BadChar {
                        text: c.to_string(),
                        start,
                    });
                }
                if c == '#' {
                    TokenKind::NameRef(name)
                } else {
                    TokenKind::ValueRef(name)
                }
            }
            c if c.is_ascii_digit() => {
                let end = take_word(&mut chars);
                let text = &src[start..end];
                if text.bytes().all(|b| b.is_ascii_digit()) {
                    TokenKind::Integer(text.to_string())
                } else {
                    TokenKind::Word(text.to_string())
                }
            }
            c if is_word_char(c) => {
                let end = take_word(&mut chars);
                TokenKind::Word(src[start..end].to_string())
            }
            _ => {
                chars.next();
                let next = chars.peek().map(|&(_, n)| n);
                let two = |chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>, k| {
                    chars.next();
                    k
                };
                match (c, next) {
                    ('<', Some('>')) => two(&mut chars, TokenKind::Ne),
                    ('<', Some('=')) => two(&mut chars, TokenKind::Le),
                    ('>', Some('=')) => two(&mut chars, TokenKind::Ge),
                    ('<', _) => TokenKind::Lt,
                    ('>', _) => TokenKind::Gt,
                    ('=', _) => TokenKind::Eq,
                    ('.', _) => TokenKind::Dot,
                    ('[', _) => TokenKind::LBracket,
                    (']', _) => TokenKind::RBracket,
                    ('(', _) => TokenKind::LParen,
                    (')', _) => TokenKind::RParen,
                    (',', _) => TokenKind::Comma,
                    ('+', _) => TokenKind::Plus,
                    ('-', _) => TokenKind::Minus,
                    _ => {
                        return Err(BadChar {
                            text: c.to_string(),
                            start,
                        })
                    }
                }
            }
        };
        let end = chars.peek().map_or(src.len(), |&(i, _)| i);
        tokens.push(Token { kind, start, end });
    }
    tokens.push(Token {
        kind: TokenKind::Eof,
        start: src.len(),
        end: src.len(),
    });
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;
    use TokenKind::*;

    fn kinds(src: &str) -> Vec<TokenKind> {
        tokenize(src).unwrap().into_iter().map(|t| t.kind).collect()
    }

    #[test]
    fn tokens_of_every_kind() {
        assert_eq!(
            kinds("a.#b[12] <> :v1 AND size(c)>=3"),
            vec![
                Word("a".into()),
                Dot,
                NameRef("#b".into()),
                LBracket,
                Integer("12".into()),
                RBracket,
                Ne,
                ValueRef(":v1".into()),
                Word("AND".into()),
                Word("size".into()),
                LParen,
                Word("c".into()),
                RParen,
                Ge,
                Integer("3".into()),
                Eof
            ]
        );
        assert_eq!(
            kinds("a<b<=c>d=e,f+g-h"),
            vec![
                Word("a".into()),
                Lt,
                Word("b".into()),
                Le,
                Word("c".into()),
                Gt,
                Word("d".into()),
                Eq,
                Word("e".into()),
                Comma,
                Word("f".into()),
                Plus,
                Word("g".into()),
                Minus,
                Word("h".into()),
                Eof
            ]
        );
    }

    #[test]
    fn positions_cover_the_source() {
        let t = tokenize("  ab <= :x").unwrap();
        assert_eq!((t[0].start, t[0].end), (2, 4));
        assert_eq!((t[1].start, t[1].end), (5, 7));
        assert_eq!((t[2].start, t[2].end), (8, 10));
        assert_eq!((t[3].start, t[3].end), (10, 10));
    }

    #[test]
    fn bad_characters() {
        assert_eq!(
            tokenize("a ! b").unwrap_err(),
            BadChar {
                text: "!".into(),
                start: 2
            }
        );
        assert_eq!(
            tokenize("a = :").unwrap_err(),
            BadChar {
                text: ":".into(),
                start: 4
            }
        );
        assert_eq!(tokenize("é").unwrap_err().text, "é");
    }
}
