//! Capacity as DynamoDB charges and limits it: units per read and write, the
//! `ConsumedCapacity` structure, the buckets that throttle, and the errors a throttled request
//! gets.

pub mod bucket;
pub mod hot_keys;
mod throttled;

use serde_json::{json, Map, Value};

pub use throttled::{Limit, Reason, Throttled};

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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Read,
    Write,
}

/// Units one secondary index consumed.
#[derive(Clone, Debug, PartialEq)]
pub struct IndexUnits {
    pub name: String,
    pub global: bool,
    pub units: f64,
}

/// Units an operation consumed on one table: on the table itself and on each index.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Consumed {
    pub table: f64,
    pub indexes: Vec<IndexUnits>,
}

impl Consumed {
    pub fn table(units: f64) -> Consumed {
        Consumed {
            table: units,
            indexes: Vec::new(),
        }
    }

    pub fn total(&self) -> f64 {
        self.table + self.indexes.iter().map(|i| i.units).sum::<f64>()
    }

    /// Transactions cost twice as much.
    pub fn doubled(mut self) -> Consumed {
        self.table *= 2.0;
        for i in &mut self.indexes {
            i.units *= 2.0;
        }
        self
    }

    pub fn add(&mut self, other: &Consumed) {
        self.table += other.table;
        for o in &other.indexes {
            match self.indexes.iter_mut().find(|i| i.name == o.name) {
                Some(i) => i.units += o.units,
                None => self.indexes.push(o.clone()),
            }
        }
    }

    pub fn add_index(&mut self, name: &str, global: bool, units: f64) {
        self.add(&Consumed {
            table: 0.0,
            indexes: vec![IndexUnits {
                name: name.to_string(),
                global,
                units,
            }],
        });
    }
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
    pub fn report(self, table: &str, consumed: &Consumed) -> Option<Value> {
        let mut out = json!({"TableName": table, "CapacityUnits": consumed.total()});
        match self {
            ReturnCapacity::None => return None,
            ReturnCapacity::Total => {}
            ReturnCapacity::Indexes => {
                out["Table"] = json!({"CapacityUnits": consumed.table});
                for (global, member) in [
                    (false, "LocalSecondaryIndexes"),
                    (true, "GlobalSecondaryIndexes"),
                ] {
                    let of_kind: Map<String, Value> = consumed
                        .indexes
                        .iter()
                        .filter(|i| i.global == global)
                        .map(|i| (i.name.clone(), json!({"CapacityUnits": i.units})))
                        .collect();
                    if !of_kind.is_empty() {
                        out[member] = Value::Object(of_kind);
                    }
                }
            }
        }
        Some(out)
    }
}

/// Units consumed per table, in first-use order, by an operation over several tables.
#[derive(Default)]
pub struct TableUnits(Vec<(String, Consumed)>);

impl TableUnits {
    pub fn add(&mut self, table: &str, consumed: &Consumed) {
        match self.0.iter_mut().find(|(t, _)| t == table) {
            Some((_, c)) => c.add(consumed),
            None => self.0.push((table.to_string(), consumed.clone())),
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
                    .iter()
                    .filter_map(|(table, c)| self.report(table, c))
                    .collect(),
            )
        })
    }
}

impl ReturnCapacity {
    /// The list of a transaction, whose entries DynamoDB also gives as read or write units.
    pub fn report_transaction(self, units: TableUnits, op: Op) -> Option<Value> {
        let mut list = self.report_tables(units)?;
        let member = match op {
            Op::Read => "ReadCapacityUnits",
            Op::Write => "WriteCapacityUnits",
        };
        for entry in list.as_array_mut().into_iter().flatten() {
            entry[member] = entry["CapacityUnits"].clone();
        }
        Some(list)
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

    #[test]
    fn indexes_report_each_index_under_its_kind_and_total_sums_them() {
        let mut c = Consumed::table(2.0);
        c.add_index("byDate", true, 1.0);
        c.add_index("byName", false, 3.0);
        c.add_index("byDate", true, 1.0);
        let total = ReturnCapacity::Total.report("T", &c).unwrap();
        assert_eq!(total, json!({"TableName": "T", "CapacityUnits": 7.0}));
        let by_index = ReturnCapacity::Indexes.report("T", &c).unwrap();
        assert_eq!(
            by_index,
            json!({"TableName": "T", "CapacityUnits": 7.0, "Table": {"CapacityUnits": 2.0},
                   "GlobalSecondaryIndexes": {"byDate": {"CapacityUnits": 2.0}},
                   "LocalSecondaryIndexes": {"byName": {"CapacityUnits": 3.0}}})
        );
        assert_eq!(ReturnCapacity::None.report("T", &c), None);
    }
}
