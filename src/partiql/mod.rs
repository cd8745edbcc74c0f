//! PartiQL: DynamoDB's SQL-compatible statements (ExecuteStatement, BatchExecuteStatement,
//! ExecuteTransaction), parsed onto the expression AST.

mod lexer;
pub mod parser;
