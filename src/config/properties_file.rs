//! Java `.properties` files, the format of Kafka's `server.properties`:
//! `key=value`, `key: value` or `key value`; `#` and `!` comment lines;
//! a line ending in an odd number of backslashes continues on the next;
//! `\t`, `\n`, `\r`, `\f`, `\uXXXX` and `\<char>` escapes.

/// The file's settings in order, or the first line that cannot be read.
pub fn parse(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut settings = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((number, line)) = lines.next() {
        let mut logical = line.trim_start().to_string();
        if logical.is_empty() || logical.starts_with('#') || logical.starts_with('!') {
            continue;
        }
        while ends_in_continuation(&logical) {
            logical.pop();
            match lines.next() {
                Some((_, next)) => logical.push_str(next.trim_start()),
                None => break,
            }
        }
        let (key, value) = split_key(&logical);
        let key = unescape(key).map_err(|e| format!("line {}: {e}", number + 1))?;
        let value = unescape(value).map_err(|e| format!("line {}: {e}", number + 1))?;
        if key.is_empty() {
            return Err(format!("line {}: no setting name", number + 1));
        }
        settings.push((key, value));
    }
    Ok(settings)
}

fn ends_in_continuation(line: &str) -> bool {
    line.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 1
}

/// The key ends at the first unescaped `=`, `:` or whitespace; the
/// separator and the whitespace around it are dropped.
fn split_key(line: &str) -> (&str, &str) {
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'=' | b':' | b' ' | b'\t' | b'\x0c' => break,
            _ => i += 1,
        }
    }
    let i = i.min(bytes.len());
    let key = &line[..i];
    let mut rest = line[i..].trim_start_matches([' ', '\t', '\x0c']);
    if let Some(after) = rest.strip_prefix(['=', ':']) {
        rest = after.trim_start_matches([' ', '\t', '\x0c']);
    }
    (key, rest)
}

fn unescape(text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\x0c'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                let code = u32::from_str_radix(&hex, 16)
                    .ok()
                    .filter(|_| hex.len() == 4)
                    .and_then(char::from_u32)
                    .ok_or_else(|| format!("bad escape \\u{hex}"))?;
                out.push(code);
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn kafkas_server_properties_forms() {
        let text = "# comment\n! another\n\nprocess.roles=broker,controller\nnode.id = 1\nlisteners: PLAINTEXT://:9092,\\\n    CONTROLLER://:9093\nlog.dirs /tmp/kraft\nescaped\\=key=a\\u0041\\tb\nempty=\n";
        let settings = parse(text).unwrap();
        let pairs: Vec<(&str, &str)> = settings
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("process.roles", "broker,controller"),
                ("node.id", "1"),
                ("listeners", "PLAINTEXT://:9092,CONTROLLER://:9093"),
                ("log.dirs", "/tmp/kraft"),
                ("escaped=key", "aA\tb"),
                ("empty", ""),
            ]
        );
        assert!(parse("a=\\u00zz").is_err());
        assert_eq!(
            parse("a=b\\\\\nc=d").unwrap().len(),
            2,
            "an escaped backslash does not continue"
        );
    }
}
