//! Small `key=value` files (meta.properties, topic metadata, checkpoints),
//! written atomically: temp file, fsync, rename, fsync the directory.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

pub type Properties = BTreeMap<String, String>;

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
}

fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

pub fn parse(text: &str) -> Properties {
    text.lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), unescape(v)))
        .collect()
}

pub fn read(path: &Path) -> io::Result<Option<Properties>> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(parse(&text))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!("reading {}: {e}", path.display()),
        )),
    }
}

/// Fsyncs a directory so that a create, rename or delete inside it survives a crash.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

pub fn write_atomically(path: &Path, contents: &[u8]) -> io::Result<()> {
    write_atomically_inner(path, contents)
        .map_err(|e| io::Error::new(e.kind(), format!("writing {}: {e}", path.display())))
}

fn write_atomically_inner(path: &Path, contents: &[u8]) -> io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path without parent"))?;
    let tmp = path.with_extension("tmp");
    {
        let mut file = File::create(&tmp)?;
        file.write_all(contents)?;
        file.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    sync_dir(dir)
}

pub fn write(path: &Path, properties: &Properties) -> io::Result<()> {
    let mut text = String::new();
    for (k, v) in properties {
        text.push_str(k);
        text.push('=');
        text.push_str(&escape(v));
        text.push('\n');
    }
    write_atomically(path, text.as_bytes())
        .map_err(|e| io::Error::new(e.kind(), format!("writing {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_with_newlines_and_equals_round_trip() {
        let dir = std::env::temp_dir().join(format!("odradek-props-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("x.properties");
        let mut props = Properties::new();
        props.insert("a".into(), "line1\nline2=\\x".into());
        props.insert("b".into(), String::new());
        write(&path, &props).unwrap();
        assert_eq!(read(&path).unwrap(), Some(props));
        fs::remove_dir_all(&dir).unwrap();
    }
}
