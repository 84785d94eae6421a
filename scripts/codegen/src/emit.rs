//! Turns one message spec into Rust source: struct definitions with spec
//! defaults, bounded decoding, size-first encoding and (for tests) random
//! value generation, all driven by the version ranges in the spec.

use crate::spec::{Field, Spec, StructDef, Type, Versions};
use std::collections::BTreeMap;
use std::fmt::Write;

/// Rust's reserved words that appear (or may appear) as snake-cased field names.
const RESERVED: &[&str] = &[
    "as", "async", "await", "box", "break", "const", "continue", "crate", "do", "dyn", "else",
    "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl", "in", "let", "loop",
    "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref", "return", "self",
    "static", "struct", "super", "trait", "true", "try", "type", "typeof", "unsafe", "unsized",
    "use", "virtual", "where", "while", "yield",
];

/// `ThrottleTimeMs` → `throttle_time_ms`, `isKRaftController` → `is_k_raft_controller`.
pub fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase() && next_lower)
            {
                out.push('_');
            }
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

pub fn field_ident(name: &str) -> String {
    let snake = snake_case(name);
    if RESERVED.contains(&snake.as_str()) {
        format!("{snake}_")
    } else {
        snake
    }
}

/// Everything the emitter needs to know about the message being generated.
struct Ctx<'a> {
    spec: &'a Spec,
}

impl Ctx<'_> {
    /// A boolean Rust expression over `version` that is true exactly in `range`
    /// (within the message's valid versions).
    fn cond(&self, range: Option<Versions>) -> String {
        let Some(range) = range.and_then(|r| r.intersect(self.spec.valid)) else {
            return "false".into();
        };
        let low = range.min > self.spec.valid.min;
        let high = range.max < self.spec.valid.max;
        match (low, high) {
            (false, false) => "true".into(),
            (true, false) => format!("version >= {}", range.min),
            (false, true) => format!("version <= {}", range.max),
            (true, true) if range.min == range.max => format!("version == {}", range.min),
            (true, true) => format!("version >= {} && version <= {}", range.min, range.max),
        }
    }

    fn flexible_cond(&self) -> String {
        self.cond(self.spec.flexible)
    }

    /// Whether strings/bytes/arrays of this field use compact encoding.
    fn compact(&self, field: &Field) -> String {
        match field.flexible {
            Some(range) => self.cond(range),
            None => "flexible".into(),
        }
    }
}

fn is_nullable_anywhere(field: &Field) -> bool {
    field.nullable.is_some()
}

fn base_rust_type(ty: &Type) -> String {
    match ty {
        Type::Bool => "bool".into(),
        Type::Int8 => "i8".into(),
        Type::Int16 => "i16".into(),
        Type::Uint16 => "u16".into(),
        Type::Int32 => "i32".into(),
        Type::Int64 => "i64".into(),
        Type::Float64 => "f64".into(),
        Type::Uuid => "Uuid".into(),
        Type::String => "String".into(),
        Type::Bytes | Type::Records => "Bytes".into(),
        Type::Struct(name) => name.clone(),
        Type::Array(inner) => format!("Vec<{}>", base_rust_type(inner)),
    }
}

fn rust_type(field: &Field) -> String {
    let base = base_rust_type(&field.ty);
    if is_nullable_anywhere(field) {
        format!("Option<{base}>")
    } else {
        base
    }
}

fn primitive_size(ty: &Type) -> Option<usize> {
    Some(match ty {
        Type::Bool | Type::Int8 => 1,
        Type::Int16 | Type::Uint16 => 2,
        Type::Int32 => 4,
        Type::Int64 | Type::Float64 => 8,
        Type::Uuid => 16,
        _ => return None,
    })
}

fn primitive_suffix(ty: &Type) -> &'static str {
    match ty {
        Type::Bool => "bool",
        Type::Int8 => "i8",
        Type::Int16 => "i16",
        Type::Uint16 => "u16",
        Type::Int32 => "i32",
        Type::Int64 => "i64",
        Type::Float64 => "f64",
        Type::Uuid => "uuid",
        _ => unreachable!("not a primitive"),
    }
}

fn parse_int_default(text: &str, ctx: &str) -> Result<i128, String> {
    let text = text.trim();
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let value = if let Some(hex) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        i128::from_str_radix(hex, 16)
    } else {
        digits.parse::<i128>()
    }
    .map_err(|e| format!("{ctx}: bad integer default '{text}': {e}"))?;
    Ok(if negative { -value } else { value })
}

fn escape(text: &str) -> String {
    text.chars().flat_map(char::escape_default).collect()
}

/// The non-null default of a field's base type.
fn base_default(field: &Field, ctx: &str) -> Result<String, String> {
    let given = field.default.as_deref().filter(|d| *d != "null");
    Ok(match &field.ty {
        Type::Bool => match given {
            None | Some("false") => "false".into(),
            Some("true") => "true".into(),
            Some(other) => return Err(format!("{ctx}: bad bool default {other}")),
        },
        Type::Int8 | Type::Int16 | Type::Uint16 | Type::Int32 | Type::Int64 => {
            let value = match given {
                None => 0,
                Some(text) => parse_int_default(text, ctx)?,
            };
            let suffix = primitive_suffix(&field.ty);
            let fits = match field.ty {
                Type::Int8 => i8::try_from(value).is_ok(),
                Type::Int16 => i16::try_from(value).is_ok(),
                Type::Uint16 => u16::try_from(value).is_ok(),
                Type::Int32 => i32::try_from(value).is_ok(),
                _ => i64::try_from(value).is_ok(),
            };
            if !fits {
                return Err(format!("{ctx}: default {value} does not fit {suffix}"));
            }
            format!("{value}{suffix}")
        }
        Type::Float64 => {
            let value: f64 = match given {
                None => 0.0,
                Some(text) => text
                    .parse()
                    .map_err(|e| format!("{ctx}: bad float default: {e}"))?,
            };
            format!("{value:?}f64")
        }
        Type::Uuid => "Uuid::ZERO".into(),
        Type::String => match given {
            None | Some("") => "String::new()".into(),
            Some(text) => format!("String::from(\"{}\")", escape(text)),
        },
        Type::Bytes | Type::Records => "Bytes::new()".into(),
        Type::Array(inner) => format!("Vec::<{}>::new()", base_rust_type(inner)),
        Type::Struct(name) => format!("{name}::default()"),
    })
}

fn default_expr(field: &Field, ctx: &str) -> Result<String, String> {
    let base = base_default(field, ctx)?;
    if !is_nullable_anywhere(field) {
        if field.default.as_deref() == Some("null") {
            return Err(format!(
                "{ctx}: null default on a field that is never nullable"
            ));
        }
        return Ok(base);
    }
    if field.default.as_deref() == Some("null") {
        Ok("None".into())
    } else {
        Ok(format!("Some({base})"))
    }
}

/// Collects every struct a message defines, inline or common, keyed by name.
fn collect_structs(spec: &Spec) -> Result<Vec<StructDef>, String> {
    let mut out: Vec<StructDef> = vec![StructDef {
        name: spec.name.clone(),
        fields: spec.fields.clone(),
    }];
    fn walk(fields: &[Field], out: &mut Vec<StructDef>, owner: &str) -> Result<(), String> {
        for field in fields {
            let Some(inner) = &field.fields else { continue };
            let name = match &field.ty {
                Type::Struct(n) => n.clone(),
                Type::Array(t) => match t.as_ref() {
                    Type::Struct(n) => n.clone(),
                    other => {
                        return Err(format!(
                            "{owner}.{}: fields on array of {other:?}",
                            field.name
                        ))
                    }
                },
                other => return Err(format!("{owner}.{}: fields on {other:?}", field.name)),
            };
            if out.iter().any(|s| s.name == name) {
                return Err(format!("{owner}: struct {name} defined twice"));
            }
            out.push(StructDef {
                name: name.clone(),
                fields: inner.clone(),
            });
            walk(inner, out, &name)?;
        }
        Ok(())
    }
    walk(&spec.fields, &mut out, &spec.name)?;
    for common in &spec.common_structs {
        if out.iter().any(|s| s.name == common.name) {
            return Err(format!(
                "{}: common struct {} clashes",
                spec.name, common.name
            ));
        }
        out.push(common.clone());
        walk(&common.fields, &mut out, &common.name)?;
    }
    Ok(out)
}

fn check_field(field: &Field, ctx: &str) -> Result<(), String> {
    if field.tag.is_some() != field.tagged.is_some() {
        return Err(format!("{ctx}: tag and taggedVersions must come together"));
    }
    if field.tag.is_some() && field.tagged != field.versions {
        return Err(format!(
            "{ctx}: taggedVersions differing from versions is not supported"
        ));
    }
    if let Type::Array(inner) = &field.ty {
        if matches!(inner.as_ref(), Type::Array(_) | Type::Records) {
            return Err(format!("{ctx}: array of {inner:?} is not supported"));
        }
    }
    Ok(())
}

/// Expression decoding one array element (never null) from `buf`.
fn element_decode(ctx: &Ctx, ty: &Type, compact: &str, name: &str) -> String {
    match ty {
        Type::String => format!("required(read_string(buf, {compact})?, \"{name}\")"),
        Type::Bytes => format!("required(read_bytes(buf, {compact})?, \"{name}\")"),
        Type::Struct(s) => format!("{s}::decode(buf, version)"),
        t if primitive_size(t).is_some() => format!("read_{}(buf)", primitive_suffix(t)),
        other => {
            let _ = ctx;
            unreachable!("element type {other:?} rejected earlier")
        }
    }
}

fn element_encode(ty: &Type, compact: &str) -> String {
    match ty {
        Type::String => format!("put_string(buf, Some(e.as_str()), {compact})"),
        Type::Bytes => format!("put_bytes(buf, Some(&e[..]), {compact})"),
        Type::Struct(_) => "e.encode(buf, version)".into(),
        t => format!("put_{}(buf, *e)", primitive_suffix(t)),
    }
}

fn element_size(ty: &Type, compact: &str) -> String {
    match ty {
        Type::String => format!("size_string(Some(e.as_str()), {compact})"),
        Type::Bytes => format!("size_bytes(Some(&e[..]), {compact})"),
        Type::Struct(_) => "e.encoded_size(version)".into(),
        t => format!("{}", primitive_size(t).unwrap_or(0)),
    }
}

fn element_random(ty: &Type) -> String {
    match ty {
        Type::String => "rng.string()".into(),
        Type::Bytes => "rng.bytes()".into(),
        Type::Struct(s) => format!("{s}::random(rng, version)"),
        t => format!("rng.{}()", primitive_suffix(t)),
    }
}

/// Statement decoding `field` from `buf` into `this`.
fn decode_stmt(ctx: &Ctx, field: &Field, owner: &str) -> String {
    let ident = field_ident(&field.name);
    let name = format!("{owner}.{}", field.name);
    let compact = ctx.compact(field);
    let null_ok = ctx.cond(field.nullable);
    let nullable = is_nullable_anywhere(field);
    let optional = match &field.ty {
        Type::String => Some(format!("read_string(buf, {compact})?")),
        Type::Bytes | Type::Records => Some(format!("read_bytes(buf, {compact})?")),
        Type::Array(inner) => {
            let elem = element_decode(ctx, inner, &compact, &name);
            Some(format!("read_array(buf, {compact}, |buf| {elem})?"))
        }
        _ => None,
    };
    if let Some(read) = optional {
        return if nullable {
            format!("this.{ident} = check_decoded_null({read}, {null_ok}, \"{name}\")?;")
        } else {
            format!("this.{ident} = required({read}, \"{name}\")?;")
        };
    }
    match &field.ty {
        Type::Struct(s) if nullable => format!(
            "this.{ident} = if {null_ok} {{ read_nullable_struct(buf, |buf| {s}::decode(buf, version))? }} else {{ Some({s}::decode(buf, version)?) }};"
        ),
        Type::Struct(s) => format!("this.{ident} = {s}::decode(buf, version)?;"),
        t => format!("this.{ident} = read_{}(buf)?;", primitive_suffix(t)),
    }
}

/// Statement encoding `self.<field>` into `buf`.
fn encode_stmt(ctx: &Ctx, field: &Field, owner: &str) -> String {
    let ident = field_ident(&field.name);
    let name = format!("{owner}.{}", field.name);
    let compact = ctx.compact(field);
    let null_ok = ctx.cond(field.nullable);
    let nullable = is_nullable_anywhere(field);
    let value = |opt: &str, plain: &str| {
        if nullable {
            format!("check_encoded_null(self.{ident}.{opt}, {null_ok}, \"{name}\")?")
        } else {
            format!("Some({plain})")
        }
    };
    match &field.ty {
        Type::String => {
            format!("put_string(buf, {}, {compact})?;", value("as_deref()", &format!("self.{ident}.as_str()")))
        }
        Type::Bytes | Type::Records => {
            format!("put_bytes(buf, {}, {compact})?;", value("as_deref()", &format!("&self.{ident}[..]")))
        }
        Type::Array(inner) => format!(
            "put_array(buf, {}, {compact}, |buf, e| {})?;",
            value("as_deref()", &format!("self.{ident}.as_slice()")),
            element_encode(inner, &compact)
        ),
        Type::Struct(_) if nullable => format!(
            "match check_encoded_null(self.{ident}.as_ref(), {null_ok}, \"{name}\")? {{ None => put_i8(buf, -1)?, Some(v) => {{ if {null_ok} {{ put_i8(buf, 1)?; }} v.encode(buf, version)?; }} }}"
        ),
        Type::Struct(_) => format!("self.{ident}.encode(buf, version)?;"),
        t => format!("put_{}(buf, self.{ident})?;", primitive_suffix(t)),
    }
}

/// Expression giving the encoded size of `self.<field>`.
fn size_expr(ctx: &Ctx, field: &Field) -> String {
    let ident = field_ident(&field.name);
    let compact = ctx.compact(field);
    let null_ok = ctx.cond(field.nullable);
    let nullable = is_nullable_anywhere(field);
    let value = |opt: &str, plain: &str| {
        if nullable {
            format!("self.{ident}.{opt}")
        } else {
            format!("Some({plain})")
        }
    };
    match &field.ty {
        Type::String => format!("size_string({}, {compact})", value("as_deref()", &format!("self.{ident}.as_str()"))),
        Type::Bytes | Type::Records => {
            format!("size_bytes({}, {compact})", value("as_deref()", &format!("&self.{ident}[..]")))
        }
        Type::Array(inner) => format!(
            "size_array({}, {compact}, |e| {})",
            value("as_deref()", &format!("self.{ident}.as_slice()")),
            element_size(inner, &compact)
        ),
        Type::Struct(_) if nullable => format!(
            "match self.{ident}.as_ref() {{ None => 1, Some(v) => usize::from({null_ok}) + v.encoded_size(version) }}"
        ),
        Type::Struct(_) => format!("self.{ident}.encoded_size(version)"),
        t => format!("{}", primitive_size(t).unwrap_or(0)),
    }
}

fn random_expr(ctx: &Ctx, field: &Field) -> String {
    let null_ok = ctx.cond(field.nullable);
    let base = match &field.ty {
        Type::Array(inner) => format!("vec_of(rng, |rng| {})", element_random(inner)),
        Type::Records => "rng.bytes()".into(),
        other => element_random(other),
    };
    if is_nullable_anywhere(field) {
        format!("maybe(rng, {null_ok}, |rng| {base})")
    } else {
        base
    }
}

fn emit_struct(
    ctx: &Ctx,
    def: &StructDef,
    top_level: bool,
    out: &mut String,
) -> Result<(), String> {
    let name = &def.name;
    for field in &def.fields {
        check_field(field, &format!("{name}.{}", field.name))?;
    }
    let regular: Vec<&Field> = def.fields.iter().filter(|f| f.tag.is_none()).collect();
    let mut tagged: Vec<&Field> = def.fields.iter().filter(|f| f.tag.is_some()).collect();
    tagged.sort_by_key(|f| f.tag);
    if tagged.windows(2).any(|w| w[0].tag == w[1].tag) {
        return Err(format!("{name}: duplicate tag"));
    }
    let valid = ctx.spec.valid;
    let flexible = ctx.flexible_cond();

    // Definition.
    let _ = writeln!(out, "/// `{name}` (versions {valid}).");
    let _ = writeln!(out, "#[derive(Debug, Clone, PartialEq)]");
    let _ = writeln!(out, "pub struct {name} {{");
    for field in &def.fields {
        let versions = field.versions.map_or("none".to_string(), |v| v.to_string());
        let about = field.about.replace('\n', " ");
        let mut notes = format!("versions {versions}");
        if let Some(n) = field.nullable {
            let _ = write!(notes, ", nullable {n}");
        }
        if let Some(tag) = field.tag {
            let _ = write!(notes, ", tag {tag}");
        }
        let _ = writeln!(out, "    /// {} ({notes})", about.trim());
        let _ = writeln!(
            out,
            "    pub {}: {},",
            field_ident(&field.name),
            rust_type(field)
        );
    }
    let _ = writeln!(out, "}}\n");

    // Defaults from the spec.
    let _ = writeln!(out, "impl Default for {name} {{");
    let _ = writeln!(out, "    fn default() -> Self {{");
    let _ = writeln!(out, "        Self {{");
    for field in &def.fields {
        let default = default_expr(field, &format!("{name}.{}", field.name))?;
        let _ = writeln!(out, "            {}: {default},", field_ident(&field.name));
    }
    let _ = writeln!(out, "        }}\n    }}\n}}\n");

    // Decoding.
    let _ = writeln!(out, "impl Decode for {name} {{");
    let _ = writeln!(
        out,
        "    fn decode(buf: &mut Bytes, version: i16) -> Result<Self, DecodeError> {{"
    );
    if top_level {
        let _ = writeln!(
            out,
            "        if !({}..={}).contains(&version) {{ return Err(DecodeError::UnsupportedVersion {{ message: \"{name}\", version }}); }}",
            valid.min, valid.max
        );
    }
    let _ = writeln!(out, "        let flexible = {flexible};");
    let _ = writeln!(out, "        let mut this = Self::default();");
    for field in &regular {
        let cond = ctx.cond(field.versions);
        if cond == "false" {
            continue;
        }
        let _ = writeln!(
            out,
            "        if {cond} {{ {} }}",
            decode_stmt(ctx, field, name)
        );
    }
    let _ = writeln!(out, "        if flexible {{");
    let _ = writeln!(out, "            let count = read_tagged_count(buf)?;");
    let _ = writeln!(out, "            for _ in 0..count {{");
    let _ = writeln!(
        out,
        "                let (tag, mut field_buf) = read_tagged_field(buf)?;"
    );
    if tagged.is_empty() {
        let _ = writeln!(
            out,
            "                let _ = (tag, &mut field_buf); // unknown tags are skipped"
        );
    } else {
        let _ = writeln!(out, "                let buf = &mut field_buf;");
        let _ = writeln!(out, "                match tag {{");
        for field in &tagged {
            let cond = ctx.cond(field.tagged);
            let tag = field.tag.unwrap_or(0);
            let _ = writeln!(
                out,
                "                    {tag} if {cond} => {{ {} }}",
                decode_stmt(ctx, field, name)
            );
        }
        let _ = writeln!(
            out,
            "                    _ => {{}} // unknown tags are skipped"
        );
        let _ = writeln!(out, "                }}");
    }
    let _ = writeln!(out, "            }}\n        }}");
    let _ = writeln!(out, "        Ok(this)\n    }}\n}}\n");

    // Encoding and size.
    let mut encode = String::new();
    let mut size = String::new();
    for field in &regular {
        let cond = ctx.cond(field.versions);
        let ident = field_ident(&field.name);
        let fname = format!("{name}.{}", field.name);
        let default = default_expr(field, &fname)?;
        let guard = if field.ignorable || cond == "true" {
            String::new()
        } else {
            format!(" else if self.{ident} != {default} {{ return Err(EncodeError::FieldNotInVersion {{ field: \"{fname}\", version }}); }}")
        };
        if cond == "false" {
            if !field.ignorable {
                let _ = writeln!(encode, "        if self.{ident} != {default} {{ return Err(EncodeError::FieldNotInVersion {{ field: \"{fname}\", version }}); }}");
            }
            continue;
        }
        let _ = writeln!(
            encode,
            "        if {cond} {{ {} }}{guard}",
            encode_stmt(ctx, field, name)
        );
        let _ = writeln!(
            size,
            "        if {cond} {{ size += {}; }}",
            size_expr(ctx, field)
        );
    }
    let _ = writeln!(encode, "        if flexible {{");
    let _ = writeln!(encode, "            let mut tagged = 0u32;");
    let _ = writeln!(size, "        if flexible {{");
    let _ = writeln!(size, "            let mut tagged = 0u32;");
    for field in &tagged {
        let cond = ctx.cond(field.tagged);
        let ident = field_ident(&field.name);
        let default = default_expr(field, &format!("{name}.{}", field.name))?;
        let _ = writeln!(
            encode,
            "            if {cond} && self.{ident} != {default} {{ tagged += 1; }}"
        );
    }
    let _ = writeln!(encode, "            put_uvarint(buf, tagged)?;");
    for field in &tagged {
        let cond = ctx.cond(field.tagged);
        let ident = field_ident(&field.name);
        let default = default_expr(field, &format!("{name}.{}", field.name))?;
        let tag = field.tag.unwrap_or(0);
        let _ = writeln!(
            encode,
            "            if {cond} && self.{ident} != {default} {{ put_uvarint(buf, {tag})?; put_uvarint(buf, to_u32({}, \"{name}.{}\")?)?; {} }}",
            size_expr(ctx, field),
            field.name,
            encode_stmt(ctx, field, name)
        );
        let _ = writeln!(
            size,
            "            if {cond} && self.{ident} != {default} {{ tagged += 1; let field_size = {}; size += size_uvarint({tag}) + size_uvarint(field_size as u32) + field_size; }}",
            size_expr(ctx, field)
        );
    }
    let _ = writeln!(encode, "        }}");
    let _ = writeln!(
        size,
        "            size += size_uvarint(tagged);\n        }}"
    );

    let _ = writeln!(out, "impl Encode for {name} {{");
    let _ = writeln!(
        out,
        "    fn encode(&self, buf: &mut BytesMut, version: i16) -> Result<(), EncodeError> {{"
    );
    if top_level {
        let _ = writeln!(
            out,
            "        if !({}..={}).contains(&version) {{ return Err(EncodeError::UnsupportedVersion {{ message: \"{name}\", version }}); }}",
            valid.min, valid.max
        );
    }
    let _ = writeln!(out, "        let flexible = {flexible};");
    out.push_str(&encode);
    let _ = writeln!(out, "        Ok(())\n    }}\n");
    let _ = writeln!(out, "    fn encoded_size(&self, version: i16) -> usize {{");
    let _ = writeln!(out, "        let flexible = {flexible};");
    let _ = writeln!(out, "        let mut size = 0usize;");
    out.push_str(&size);
    let _ = writeln!(out, "        size\n    }}\n}}\n");

    // Random values for property tests.
    let _ = writeln!(out, "#[cfg(test)]");
    let _ = writeln!(out, "impl Random for {name} {{");
    let _ = writeln!(out, "    fn random(rng: &mut Rng, version: i16) -> Self {{");
    let _ = writeln!(out, "        let mut this = Self::default();");
    for field in regular.iter().chain(tagged.iter()) {
        let cond = ctx.cond(field.versions);
        if cond == "false" {
            continue;
        }
        let ident = field_ident(&field.name);
        let coin = if field.tag.is_some() {
            " && rng.bool()"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "        if {cond}{coin} {{ this.{ident} = {}; }}",
            random_expr(ctx, field)
        );
    }
    let _ = writeln!(out, "        this\n    }}\n}}\n");
    Ok(())
}

pub fn module_name(spec: &Spec) -> String {
    snake_case(&spec.name)
}

/// Emits one message module.
pub fn emit_message(spec: &Spec, header: &str) -> Result<String, String> {
    let ctx = Ctx { spec };
    let structs = collect_structs(spec)?;
    let mut out = String::new();
    out.push_str(header);
    let _ = writeln!(
        out,
        "//! `{}`: {} (spec file `{}`).\n",
        spec.name,
        describe_kind(spec),
        spec.file_name
    );
    out.push_str("#![allow(unused_mut, unused_variables, unused_imports, clippy::all)]\n\n");
    out.push_str("use bytes::{Bytes, BytesMut};\n");
    out.push_str("use crate::protocol::wire::*;\n");
    out.push_str("#[cfg(test)]\nuse crate::protocol::testing::*;\n\n");
    let flex = spec
        .flexible
        .map_or("None".to_string(), |f| format!("Some({})", f.min));
    let api_key = spec
        .api_key
        .map_or("None".to_string(), |k| format!("Some({k})"));
    let name = &spec.name;
    let _ = writeln!(out, "impl Message for {name} {{");
    let _ = writeln!(out, "    const NAME: &'static str = \"{name}\";");
    let _ = writeln!(out, "    const API_KEY: Option<i16> = {api_key};");
    let _ = writeln!(
        out,
        "    const VERSIONS: (i16, i16) = ({}, {});",
        spec.valid.min, spec.valid.max
    );
    let _ = writeln!(out, "    const FLEXIBLE_SINCE: Option<i16> = {flex};");
    let _ = writeln!(out, "}}\n");
    for (i, def) in structs.iter().enumerate() {
        emit_struct(&ctx, def, i == 0, &mut out)?;
    }
    Ok(out)
}

fn describe_kind(spec: &Spec) -> String {
    match spec.api_key {
        Some(k) => format!("{} for API key {k}, versions {}", spec.kind, spec.valid),
        None => format!("{}, versions {}", spec.kind, spec.valid),
    }
}

/// Emits `mod.rs`: module list, the API key table, and request/response enums.
pub fn emit_mod(specs: &[Spec], header: &str) -> Result<String, String> {
    let mut out = String::new();
    out.push_str(header);
    out.push_str(
        "//! Every Kafka message, generated from the spec set named above, and the API table.\n\n",
    );
    out.push_str("#![allow(clippy::all)]\n\n");
    out.push_str("use bytes::{Bytes, BytesMut};\nuse crate::protocol::wire::{Decode, DecodeError, Encode, EncodeError};\n\n");
    for spec in specs {
        let module = module_name(spec);
        let _ = writeln!(out, "pub mod {module};");
        let _ = writeln!(out, "pub use {module}::{};", spec.name);
    }
    out.push('\n');

    // Pair requests and responses by API key.
    let mut apis: BTreeMap<i16, (&Spec, &Spec)> = BTreeMap::new();
    for request in specs.iter().filter(|s| s.kind == "request") {
        let key = request
            .api_key
            .ok_or_else(|| format!("{}: request without apiKey", request.name))?;
        let response = specs
            .iter()
            .find(|s| s.kind == "response" && s.api_key == Some(key))
            .ok_or_else(|| format!("{}: no response spec", request.name))?;
        if response.valid != request.valid {
            return Err(format!(
                "{}: request and response versions differ",
                request.name
            ));
        }
        if apis.insert(key, (request, response)).is_some() {
            return Err(format!("API key {key} defined twice"));
        }
    }
    let variant = |s: &Spec| s.name.trim_end_matches("Request").to_string();

    out.push_str("/// Every API key in the spec set.\n");
    out.push_str("#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]\n#[repr(i16)]\npub enum ApiKey {\n");
    for (key, (request, _)) in &apis {
        let _ = writeln!(out, "    {} = {key},", variant(request));
    }
    out.push_str("}\n\n");
    out.push_str("impl ApiKey {\n");
    out.push_str(
        "    /// All API keys, in key order.\n    pub const ALL: &'static [ApiKey] = &[\n",
    );
    for (request, _) in apis.values() {
        let _ = writeln!(out, "        ApiKey::{},", variant(request));
    }
    out.push_str("    ];\n\n");
    out.push_str("    pub fn from_i16(key: i16) -> Option<ApiKey> {\n        match key {\n");
    for (key, (request, _)) in &apis {
        let _ = writeln!(
            out,
            "            {key} => Some(ApiKey::{}),",
            variant(request)
        );
    }
    out.push_str("            _ => None,\n        }\n    }\n\n");
    out.push_str("    /// The API's name as Kafka spells it.\n    pub fn name(self) -> &'static str {\n        match self {\n");
    for (request, _) in apis.values() {
        let _ = writeln!(out, "            ApiKey::{0} => \"{0}\",", variant(request));
    }
    out.push_str("        }\n    }\n\n");
    out.push_str("    /// The versions the spec defines (not what the broker implements).\n    pub fn spec_versions(self) -> (i16, i16) {\n        match self {\n");
    for (request, _) in apis.values() {
        let _ = writeln!(
            out,
            "            ApiKey::{} => ({}, {}),",
            variant(request),
            request.valid.min,
            request.valid.max
        );
    }
    out.push_str("        }\n    }\n\n");
    out.push_str("    /// Whether the spec marks its newest version as unstable.\n    pub fn latest_version_unstable(self) -> bool {\n        match self {\n");
    for (request, _) in apis.values() {
        let _ = writeln!(
            out,
            "            ApiKey::{} => {},",
            variant(request),
            request.latest_version_unstable
        );
    }
    out.push_str("        }\n    }\n\n");
    out.push_str("    /// First flexible version of the request, if any.\n    pub fn flexible_since(self) -> Option<i16> {\n        match self {\n");
    for (request, _) in apis.values() {
        let flex = request
            .flexible
            .map_or("None".to_string(), |f| format!("Some({})", f.min));
        let _ = writeln!(out, "            ApiKey::{} => {flex},", variant(request));
    }
    out.push_str("        }\n    }\n\n");
    // ControlledShutdown v0 alone used request header v0; Kafka 4 removed the API.
    let controlled_shutdown = apis
        .values()
        .any(|(request, _)| variant(request) == "ControlledShutdown");
    if controlled_shutdown {
        out.push_str(
            "    /// Request header version: v2 for flexible versions, v1 otherwise (v0 only for ControlledShutdown v0).\n    pub fn request_header_version(self, version: i16) -> i16 {\n        if self == ApiKey::ControlledShutdown && version == 0 {\n            return 0;\n        }\n        match self.flexible_since() {\n            Some(since) if version >= since => 2,\n            _ => 1,\n        }\n    }\n\n",
        );
    } else {
        out.push_str(
            "    /// Request header version: v2 for flexible versions, v1 otherwise.\n    pub fn request_header_version(self, version: i16) -> i16 {\n        match self.flexible_since() {\n            Some(since) if version >= since => 2,\n            _ => 1,\n        }\n    }\n\n",
        );
    }
    out.push_str(
        "    /// Response header version: v1 for flexible versions, v0 otherwise; ApiVersions always answers with v0\n    /// so that a client can read the error of a version it sent too new.\n    pub fn response_header_version(self, version: i16) -> i16 {\n        if self == ApiKey::ApiVersions {\n            return 0;\n        }\n        match self.flexible_since() {\n            Some(since) if version >= since => 1,\n            _ => 0,\n        }\n    }\n}\n\n",
    );

    for (kind, pick) in [("Request", 0usize), ("Response", 1usize)] {
        let lower = kind.to_lowercase();
        let _ = writeln!(out, "/// Any {lower} body, tagged by its API.");
        let _ = writeln!(
            out,
            "#[derive(Debug, Clone, PartialEq)]\npub enum {kind}Body {{"
        );
        for (request, response) in apis.values() {
            let spec = if pick == 0 { request } else { response };
            let _ = writeln!(out, "    {}({}),", variant(request), spec.name);
        }
        out.push_str("}\n\n");
        let _ = writeln!(out, "impl {kind}Body {{");
        let _ = writeln!(
            out,
            "    /// Decodes the body of a {lower} for `api_key` at `version`."
        );
        let _ = writeln!(out, "    pub fn decode(api_key: ApiKey, buf: &mut Bytes, version: i16) -> Result<Self, DecodeError> {{");
        out.push_str("        Ok(match api_key {\n");
        for (request, response) in apis.values() {
            let spec = if pick == 0 { request } else { response };
            let _ = writeln!(
                out,
                "            ApiKey::{0} => {kind}Body::{0}({1}::decode(buf, version)?),",
                variant(request),
                spec.name
            );
        }
        out.push_str("        })\n    }\n\n");
        out.push_str("    pub fn api_key(&self) -> ApiKey {\n        match self {\n");
        for (request, _) in apis.values() {
            let _ = writeln!(
                out,
                "            {kind}Body::{0}(_) => ApiKey::{0},",
                variant(request)
            );
        }
        out.push_str("        }\n    }\n\n");
        out.push_str(
            "    /// A random body for property and differential tests.\n    #[cfg(test)]\n",
        );
        out.push_str("    pub fn random(api_key: ApiKey, rng: &mut crate::protocol::testing::Rng, version: i16) -> Self {\n");
        out.push_str("        use crate::protocol::testing::Random;\n        match api_key {\n");
        for (request, response) in apis.values() {
            let spec = if pick == 0 { request } else { response };
            let _ = writeln!(
                out,
                "            ApiKey::{0} => {kind}Body::{0}({1}::random(rng, version)),",
                variant(request),
                spec.name
            );
        }
        out.push_str("        }\n    }\n}\n\n");
        let _ = writeln!(out, "impl Encode for {kind}Body {{");
        out.push_str("    fn encode(&self, buf: &mut BytesMut, version: i16) -> Result<(), EncodeError> {\n        match self {\n");
        for (request, _) in apis.values() {
            let _ = writeln!(
                out,
                "            {kind}Body::{}(m) => m.encode(buf, version),",
                variant(request)
            );
        }
        out.push_str("        }\n    }\n\n");
        out.push_str("    fn encoded_size(&self, version: i16) -> usize {\n        match self {\n");
        for (request, _) in apis.values() {
            let _ = writeln!(
                out,
                "            {kind}Body::{}(m) => m.encoded_size(version),",
                variant(request)
            );
        }
        out.push_str("        }\n    }\n}\n\n");
    }

    out.push_str("/// Round-trips a random value of every message at every version; returns how many were checked.\n");
    out.push_str("#[cfg(test)]\npub(crate) fn round_trip_every_message(seed: u64) -> Result<usize, String> {\n");
    out.push_str("    let mut checked = 0;\n");
    for spec in specs {
        let _ = writeln!(
            out,
            "    checked += crate::protocol::testing::round_trip::<{}>(seed)?;",
            spec.name
        );
    }
    out.push_str("    Ok(checked)\n}\n");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_cases_kafka_names() {
        assert_eq!(snake_case("ThrottleTimeMs"), "throttle_time_ms");
        assert_eq!(snake_case("isKRaftController"), "is_k_raft_controller");
        assert_eq!(snake_case("TopicID"), "topic_id");
        assert_eq!(snake_case("Type"), "type");
        assert_eq!(field_ident("Type"), "type_");
        assert_eq!(snake_case("ProducerId"), "producer_id");
    }

    #[test]
    fn parses_integer_defaults() {
        assert_eq!(parse_int_default("0x7fffffff", "t").unwrap(), 0x7fff_ffff);
        assert_eq!(
            parse_int_default("-2147483648", "t").unwrap(),
            -2_147_483_648
        );
        assert!(parse_int_default("zz", "t").is_err());
    }
}
