//! DynamoDB's expression language: lexer, parser and AST (evaluation and updates build on
//! them).

pub mod ast;
pub mod eval;
pub mod key_condition;
mod lexer;
pub mod parser;
pub mod project;
mod reserved;
pub mod update;

pub use parser::{ExpressionKind, Parser, Placeholders};
