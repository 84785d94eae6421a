//! Reading Apache Kafka's JSON message specs into a typed model.
//!
//! The spec files are JSON with `//` line comments, so comments are stripped
//! (outside string literals) before parsing.

use serde_json::{Map, Value};
use std::fmt;
use std::path::Path;

/// An inclusive range of versions; `None` stands for "none".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Versions {
    pub min: i16,
    pub max: i16,
}

impl Versions {
    pub const ALL: Versions = Versions {
        min: 0,
        max: i16::MAX,
    };

    pub fn parse(text: &str) -> Result<Option<Versions>, String> {
        let text = text.trim();
        if text == "none" {
            return Ok(None);
        }
        let number = |s: &str| {
            s.trim()
                .parse::<i16>()
                .map_err(|e| format!("bad version '{text}': {e}"))
        };
        if let Some(min) = text.strip_suffix('+') {
            return Ok(Some(Versions {
                min: number(min)?,
                max: i16::MAX,
            }));
        }
        if let Some((min, max)) = text.split_once('-') {
            return Ok(Some(Versions {
                min: number(min)?,
                max: number(max)?,
            }));
        }
        let v = number(text)?;
        Ok(Some(Versions { min: v, max: v }))
    }

    pub fn intersect(self, other: Versions) -> Option<Versions> {
        let min = self.min.max(other.min);
        let max = self.max.min(other.max);
        (min <= max).then_some(Versions { min, max })
    }

    pub fn contains(self, v: i16) -> bool {
        self.min <= v && v <= self.max
    }
}

impl fmt::Display for Versions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.max == i16::MAX {
            write!(f, "{}+", self.min)
        } else if self.min == self.max {
            write!(f, "{}", self.min)
        } else {
            write!(f, "{}-{}", self.min, self.max)
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Type {
    Bool,
    Int8,
    Int16,
    Uint16,
    Int32,
    Int64,
    Float64,
    Uuid,
    String,
    Bytes,
    Records,
    Struct(String),
    Array(Box<Type>),
}

impl Type {
    fn parse(text: &str) -> Type {
        if let Some(inner) = text.strip_prefix("[]") {
            return Type::Array(Box::new(Type::parse(inner)));
        }
        match text {
            "bool" => Type::Bool,
            "int8" => Type::Int8,
            "int16" => Type::Int16,
            "uint16" => Type::Uint16,
            "int32" => Type::Int32,
            "int64" => Type::Int64,
            "float64" => Type::Float64,
            "uuid" => Type::Uuid,
            "string" => Type::String,
            "bytes" => Type::Bytes,
            "records" => Type::Records,
            other => Type::Struct(other.to_string()),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Field {
    pub name: String,
    pub ty: Type,
    pub versions: Option<Versions>,
    pub nullable: Option<Versions>,
    pub tagged: Option<Versions>,
    pub tag: Option<u32>,
    /// The spec's default, as written (strings unquoted, numbers as text).
    pub default: Option<String>,
    pub ignorable: bool,
    /// Field-level override of flexible encoding (used by RequestHeader.ClientId).
    pub flexible: Option<Option<Versions>>,
    pub about: String,
    /// Inline struct definition carried by this field, if any.
    pub fields: Option<Vec<Field>>,
}

#[derive(Clone, Debug)]
pub struct StructDef {
    pub name: String,
    pub fields: Vec<Field>,
}

#[derive(Clone, Debug)]
pub struct Spec {
    pub file_name: String,
    pub name: String,
    pub kind: String,
    pub api_key: Option<i16>,
    pub valid: Versions,
    pub flexible: Option<Versions>,
    pub latest_version_unstable: bool,
    pub fields: Vec<Field>,
    pub common_structs: Vec<StructDef>,
}

/// Removes `//` comments that are outside string literals.
pub fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            if c == '\\' {
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        if c == '"' {
            in_string = true;
            out.push(c);
        } else if c == '/' && chars.peek() == Some(&'/') {
            for skipped in chars.by_ref() {
                if skipped == '\n' {
                    out.push('\n');
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn str_attr<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    obj.get(key).and_then(Value::as_str)
}

fn versions_attr(
    obj: &Map<String, Value>,
    key: &str,
    ctx: &str,
) -> Result<Option<Versions>, String> {
    match str_attr(obj, key) {
        None => Ok(None),
        Some(text) => Versions::parse(text).map_err(|e| format!("{ctx}: {key}: {e}")),
    }
}

fn parse_fields(value: Option<&Value>, ctx: &str) -> Result<Vec<Field>, String> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    let list = value
        .as_array()
        .ok_or_else(|| format!("{ctx}: fields is not an array"))?;
    list.iter().map(|f| parse_field(f, ctx)).collect()
}

fn parse_field(value: &Value, ctx: &str) -> Result<Field, String> {
    let obj = value
        .as_object()
        .ok_or_else(|| format!("{ctx}: field is not an object"))?;
    let name = str_attr(obj, "name")
        .ok_or_else(|| format!("{ctx}: field without name"))?
        .to_string();
    let ctx = format!("{ctx}.{name}");
    let ty = Type::parse(str_attr(obj, "type").ok_or_else(|| format!("{ctx}: no type"))?);
    let versions = versions_attr(obj, "versions", &ctx)?;
    let default = match obj.get("default") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Bool(b)) => Some(b.to_string()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(other) => return Err(format!("{ctx}: unsupported default {other}")),
    };
    let flexible = match str_attr(obj, "flexibleVersions") {
        None => None,
        Some(text) => Some(Versions::parse(text).map_err(|e| format!("{ctx}: {e}"))?),
    };
    let tag = match obj.get("tag") {
        None => None,
        // Most specs write the tag as a number; at least one writes it as a string.
        Some(Value::Number(n)) => Some(
            n.as_u64()
                .and_then(|t| u32::try_from(t).ok())
                .ok_or_else(|| format!("{ctx}: bad tag"))?,
        ),
        Some(Value::String(s)) => Some(
            s.parse::<u32>()
                .map_err(|e| format!("{ctx}: bad tag '{s}': {e}"))?,
        ),
        Some(other) => return Err(format!("{ctx}: bad tag {other}")),
    };
    let fields = match obj.get("fields") {
        None => None,
        Some(v) => Some(parse_fields(Some(v), &ctx)?),
    };
    Ok(Field {
        name,
        ty,
        versions,
        nullable: versions_attr(obj, "nullableVersions", &ctx)?,
        tagged: versions_attr(obj, "taggedVersions", &ctx)?,
        tag,
        default,
        ignorable: obj
            .get("ignorable")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        flexible,
        about: str_attr(obj, "about").unwrap_or("").to_string(),
        fields,
    })
}

/// A spec whose `validVersions` is `"none"`: the message no longer exists.
pub fn is_removed(file_name: &str, text: &str) -> Result<bool, String> {
    let json: Value =
        serde_json::from_str(&strip_comments(text)).map_err(|e| format!("{file_name}: {e}"))?;
    Ok(json.get("validVersions").and_then(Value::as_str) == Some("none"))
}

pub fn parse_spec(file_name: &str, text: &str) -> Result<Spec, String> {
    let json: Value =
        serde_json::from_str(&strip_comments(text)).map_err(|e| format!("{file_name}: {e}"))?;
    let obj = json
        .as_object()
        .ok_or_else(|| format!("{file_name}: not an object"))?;
    let name = str_attr(obj, "name")
        .ok_or_else(|| format!("{file_name}: no name"))?
        .to_string();
    let valid = versions_attr(obj, "validVersions", &name)?
        .ok_or_else(|| format!("{name}: no validVersions"))?;
    let flexible = versions_attr(obj, "flexibleVersions", &name)?;
    let common_structs = match obj.get("commonStructs") {
        None => Vec::new(),
        Some(v) => v
            .as_array()
            .ok_or_else(|| format!("{name}: commonStructs is not an array"))?
            .iter()
            .map(|s| {
                let s = s
                    .as_object()
                    .ok_or_else(|| format!("{name}: common struct is not an object"))?;
                let sname = str_attr(s, "name")
                    .ok_or_else(|| format!("{name}: common struct without name"))?;
                Ok(StructDef {
                    name: sname.to_string(),
                    fields: parse_fields(s.get("fields"), sname)?,
                })
            })
            .collect::<Result<Vec<_>, String>>()?,
    };
    Ok(Spec {
        file_name: file_name.to_string(),
        kind: str_attr(obj, "type").unwrap_or("").to_string(),
        api_key: obj.get("apiKey").and_then(Value::as_i64).map(|k| k as i16),
        valid,
        flexible,
        latest_version_unstable: obj
            .get("latestVersionUnstable")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        fields: parse_fields(obj.get("fields"), &name)?,
        common_structs,
        name,
    })
}

/// Reads every `*.json` spec in `dir`, sorted by file name so output order is stable.
pub fn read_specs(dir: &Path) -> Result<(Vec<Spec>, u64), String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| format!("reading {}: {e}", dir.display()))?
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".json"))
        .collect();
    names.sort();
    let mut digest = Fnv64::new();
    let mut specs = Vec::with_capacity(names.len());
    for name in &names {
        let text =
            std::fs::read_to_string(dir.join(name)).map_err(|e| format!("reading {name}: {e}"))?;
        digest.write(name.as_bytes());
        digest.write(text.as_bytes());
        if is_removed(name, &text)? {
            // An API Kafka 4 removed (KIP-896): its spec stays, without versions.
            continue;
        }
        specs.push(parse_spec(name, &text)?);
    }
    Ok((specs, digest.finish()))
}

/// FNV-1a, to name the spec set in generated headers without another dependency.
struct Fnv64(u64);

impl Fnv64 {
    fn new() -> Self {
        Fnv64(0xcbf2_9ce4_8422_2325)
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_comments_but_not_urls_in_strings() {
        let text = "{ // hi\n \"a\": \"http://x\" // there\n}";
        let stripped = strip_comments(text);
        assert!(stripped.contains("http://x"));
        assert!(!stripped.contains("hi"));
        assert!(!stripped.contains("there"));
    }

    #[test]
    fn parses_version_ranges() {
        assert_eq!(
            Versions::parse("3+").unwrap(),
            Some(Versions {
                min: 3,
                max: i16::MAX
            })
        );
        assert_eq!(
            Versions::parse("0-12").unwrap(),
            Some(Versions { min: 0, max: 12 })
        );
        assert_eq!(
            Versions::parse("7").unwrap(),
            Some(Versions { min: 7, max: 7 })
        );
        assert_eq!(Versions::parse("none").unwrap(), None);
        assert!(Versions::parse("x+").is_err());
    }
}
