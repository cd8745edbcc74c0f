//! The data model: values, numbers, items and their JSON form. A leaf: depends on nothing but
//! `error`.

pub mod number;
pub mod parse;
pub mod schema;
pub mod value;
pub mod wire;

pub use number::Number;
pub use parse::item_from_json;
pub use value::{item_size, AttributeValue, Item, ScalarType};
