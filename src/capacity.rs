//! Capacity units as DynamoDB charges them, and the `ConsumedCapacity` structure.

use serde_json::{json, Value};

/// Read units: one per 4 KB (at least one), half for an eventually consistent read.
pub fn read_units(size: usize, consistent: bool) -> f64 {
    let units = size.div_ceil(4096).max(1) as f64;
    if consistent {
        units
    } else {
        units / 2.0
    }
}

/// Write units: one per 1 KB (at least one).
pub fn write_units(size: usize) -> f64 {
    size.div_ceil(1024).max(1) as f64
}

/// What `ReturnConsumedCapacity` asked for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ReturnCapacity {
    None,
    Total,
    Indexes,
}

impl ReturnCapacity {
    pub fn parse(s: Option<&str>) -> ReturnCapacity {
        match s {
            Some("TOTAL") => ReturnCapacity::Total,
            Some("INDEXES") => ReturnCapacity::Indexes,
            _ => ReturnCapacity::None,
        }
    }

    /// The `ConsumedCapacity` member for an operation on one table, if asked for.
    pub fn report(self, table: &str, units: f64) -> Option<Value> {
        match self {
            ReturnCapacity::None => None,
            ReturnCapacity::Total => Some(json!({"TableName": table, "CapacityUnits": units})),
            ReturnCapacity::Indexes => Some(json!({
                "TableName": table, "CapacityUnits": units, "Table": {"CapacityUnits": units}
            })),
        }
    }
}

/// Units consumed per table, in first-use order, by an operation over several tables.
#[derive(Default)]
pub struct TableUnits(Vec<(String, f64)>);

impl TableUnits {
    pub fn add(&mut self, table: &str, units: f64) {
        match self.0.iter_mut().find(|(t, _)| t == table) {
            Some((_, u)) => *u += units,
            None => self.0.push((table.to_string(), units)),
        }
    }
}

impl ReturnCapacity {
    /// The `ConsumedCapacity` list of a multi-table operation, if asked for.
    pub fn report_tables(self, units: TableUnits) -> Option<Value> {
        (self != ReturnCapacity::None).then(|| {
            Value::Array(
                units
                    .0
                    .into_iter()
                    .filter_map(|(table, u)| self.report(&table, u))
                    .collect(),
            )
        })
    }
}

pub const RETURN_CAPACITY_VALUES: &[&str] = &["INDEXES", "TOTAL", "NONE"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_round_up() {
        assert_eq!(read_units(1, true), 1.0);
        assert_eq!(read_units(4097, true), 2.0);
        assert_eq!(read_units(4097, false), 1.0);
        assert_eq!(read_units(0, false), 0.5);
        assert_eq!(write_units(1024), 1.0);
        assert_eq!(write_units(1025), 2.0);
    }
}
