//! Extending a newer spec set with the versions an older one still had.
//!
//! Kafka 4 dropped old versions of many APIs (KIP-896) and, with them, the
//! fields only those versions carried. Odradek serves what clients send, so
//! the codec is generated from the newest specs, extended down to the
//! oldest versions of an older release: a message keeps the newer spec's
//! shape, with its version range starting where the older spec's did, and
//! fields that existed only in the removed versions put back where they were.

use crate::spec::{Field, Spec, StructDef, Versions};

/// `current`, extended with whatever versions `older` served below it.
pub fn with_older(current: Spec, older: &Spec) -> Result<Spec, String> {
    if older.valid.min >= current.valid.min {
        return Ok(current);
    }
    let ctx = current.name.clone();
    let older_max = older.valid.max;
    let mut common_structs = Vec::with_capacity(current.common_structs.len());
    for def in &current.common_structs {
        let fields = match older.common_structs.iter().find(|d| d.name == def.name) {
            Some(old) => merge_fields(&def.fields, &old.fields, older_max, &ctx)?,
            None => def.fields.clone(),
        };
        common_structs.push(StructDef {
            name: def.name.clone(),
            fields,
        });
    }
    for old in &older.common_structs {
        if !common_structs.iter().any(|d| d.name == old.name) {
            common_structs.push(clip_struct(old, older_max));
        }
    }
    Ok(Spec {
        valid: Versions {
            min: older.valid.min,
            max: current.valid.max,
        },
        fields: merge_fields(&current.fields, &older.fields, older_max, &ctx)?,
        common_structs,
        ..current
    })
}

/// The newer fields, each widened to the versions the older one had, with
/// the fields only the older spec has inserted after their old predecessor.
fn merge_fields(
    current: &[Field],
    older: &[Field],
    older_max: i16,
    ctx: &str,
) -> Result<Vec<Field>, String> {
    let mut merged: Vec<Field> = Vec::with_capacity(current.len());
    for field in current {
        let widened = match older.iter().find(|o| o.name == field.name) {
            Some(old) => widen(field, old, older_max, ctx)?,
            None => field.clone(),
        };
        merged.push(widened);
    }
    let mut previous: Option<&str> = None;
    for old in older {
        if !current.iter().any(|f| f.name == old.name) {
            let at = match previous {
                Some(name) => merged
                    .iter()
                    .position(|f| f.name == name)
                    .map_or(0, |i| i + 1),
                None => 0,
            };
            merged.insert(at, clip(old, older_max));
        }
        previous = Some(&old.name);
    }
    Ok(merged)
}

/// A field present in both: the union of its version ranges (contiguous,
/// or the spec sets disagree in a way this merge does not guess about).
fn widen(field: &Field, old: &Field, older_max: i16, ctx: &str) -> Result<Field, String> {
    let versions = union(field.versions, close(old.versions, older_max))
        .map_err(|e| format!("{ctx}.{}: versions: {e}", field.name))?;
    let nullable = union(field.nullable, close(old.nullable, older_max))
        .map_err(|e| format!("{ctx}.{}: nullableVersions: {e}", field.name))?;
    let fields = match (&field.fields, &old.fields) {
        (Some(new), Some(old)) => Some(merge_fields(new, old, older_max, ctx)?),
        (new, _) => new.clone(),
    };
    Ok(Field {
        versions,
        nullable,
        fields,
        ..field.clone()
    })
}

/// An older-only field, its open-ended ranges closed at the older maximum.
fn clip(field: &Field, older_max: i16) -> Field {
    Field {
        versions: close(field.versions, older_max),
        nullable: close(field.nullable, older_max),
        fields: field
            .fields
            .as_ref()
            .map(|fs| fs.iter().map(|f| clip(f, older_max)).collect()),
        ..field.clone()
    }
}

fn clip_struct(def: &StructDef, older_max: i16) -> StructDef {
    StructDef {
        name: def.name.clone(),
        fields: def.fields.iter().map(|f| clip(f, older_max)).collect(),
    }
}

/// "N+" in the older spec means up to its own newest version.
fn close(versions: Option<Versions>, older_max: i16) -> Option<Versions> {
    versions.and_then(|v| {
        v.intersect(Versions {
            min: 0,
            max: older_max,
        })
    })
}

fn union(current: Option<Versions>, older: Option<Versions>) -> Result<Option<Versions>, String> {
    match (current, older) {
        (None, older) => Ok(older),
        (current, None) => Ok(current),
        (Some(c), Some(o)) => {
            // Ranges that overlap or touch join; a gap would need two ranges.
            if o.max.saturating_add(1) < c.min || c.max.saturating_add(1) < o.min {
                return Err(format!("{c} and {o} leave a gap"));
            }
            Ok(Some(Versions {
                min: c.min.min(o.min),
                max: c.max.max(o.max),
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::parse_spec;

    fn spec(valid: &str, fields: &str) -> Spec {
        let text = format!(
            r#"{{"apiKey": 1, "type": "request", "name": "XRequest", "validVersions": "{valid}",
                "flexibleVersions": "3+", "fields": [{fields}]}}"#
        );
        parse_spec("XRequest.json", &text).unwrap()
    }

    #[test]
    fn removed_versions_and_their_fields_come_back() {
        let older = spec(
            "0-5",
            r#"{"name": "A", "type": "int32", "versions": "0+"},
               {"name": "Old", "type": "bool", "versions": "0"},
               {"name": "B", "type": "string", "versions": "0+", "nullableVersions": "1+"}"#,
        );
        let current = spec(
            "2-7",
            r#"{"name": "A", "type": "int32", "versions": "0+"},
               {"name": "B", "type": "string", "versions": "2-6", "nullableVersions": "2+"},
               {"name": "C", "type": "int64", "versions": "7+"}"#,
        );
        let merged = with_older(current, &older).unwrap();
        assert_eq!(merged.valid, Versions { min: 0, max: 7 });
        let summary: Vec<(String, String, Option<String>)> = merged
            .fields
            .iter()
            .map(|f| {
                (
                    f.name.clone(),
                    f.versions.unwrap().to_string(),
                    f.nullable.map(|n| n.to_string()),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("A".into(), "0+".into(), None),
                ("Old".into(), "0".into(), None),
                ("B".into(), "0-6".into(), Some("1+".into())),
                ("C".into(), "7+".into(), None),
            ]
        );
    }

    #[test]
    fn a_spec_without_removed_versions_is_unchanged() {
        let older = spec("0-3", r#"{"name": "A", "type": "int32", "versions": "0+"}"#);
        let current = spec("0-4", r#"{"name": "A", "type": "int32", "versions": "0+"}"#);
        let merged = with_older(current, &older).unwrap();
        assert_eq!(merged.valid, Versions { min: 0, max: 4 });
        assert_eq!(merged.fields.len(), 1);
    }
}
