//! Source locations inside a migration file: turning Postgres' 1-based character position into
//! line and column, and splitting a file into statements (used only to find which statement
//! failed when Postgres reports no position; execution always sends the whole file).

use std::ops::Range;

/// A 1-based line and column inside a file, plus the text of that line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLocation {
    pub line: usize,
    pub column: usize,
    pub line_text: String,
}

/// Locates a 0-based *character* offset (Postgres counts characters, not bytes).
pub fn locate_offset(source: &str, char_offset: usize) -> SourceLocation {
    let mut line = 1;
    let mut line_start = 0; // byte index of the current line
    let mut column = 1;
    for (seen, (byte, ch)) in source.char_indices().enumerate() {
        if seen == char_offset {
            break;
        }
        if ch == '\n' {
            line += 1;
            column = 1;
            line_start = byte + 1;
        } else {
            column += 1;
        }
    }
    let rest = source.get(line_start..).unwrap_or("");
    let line_text = rest.lines().next().unwrap_or("").trim_end_matches('\r');
    SourceLocation {
        line,
        column,
        line_text: line_text.to_string(),
    }
}

/// Splits SQL into statements (byte ranges, without the terminating `;`), skipping empty ones.
/// Understands quotes, `E''` escapes, quoted identifiers, dollar quoting, both comment styles and
/// `BEGIN ATOMIC … END` function bodies.
pub fn split_statements(sql: &str) -> Vec<Range<usize>> {
    let bytes = sql.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    let mut atomic_depth = 0usize; // > 0 inside BEGIN ATOMIC … END
    let mut prev_word = String::new();
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let mut depth = 1;
                i += 2;
                while i < bytes.len() && depth > 0 {
                    if bytes[i] == b'/' && bytes.get(i + 1) == Some(&b'*') {
                        depth += 1;
                        i += 2;
                    } else if bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/') {
                        depth -= 1;
                        i += 2;
                    } else {
                        i += 1;
                    }
                }
                continue;
            }
            b'\'' => {
                let backslash_escapes =
                    i > 0 && matches!(bytes[i - 1], b'e' | b'E') && !is_word_byte(bytes, i - 2);
                i = skip_quoted(bytes, i, b'\'', backslash_escapes);
                continue;
            }
            b'"' => {
                i = skip_quoted(bytes, i, b'"', false);
                continue;
            }
            b'$' => {
                if let Some(end) = skip_dollar_quoted(sql, i) {
                    i = end;
                    continue;
                }
            }
            b';' if atomic_depth == 0 => {
                push_statement(sql, start..i, &mut out);
                start = i + 1;
            }
            _ if b.is_ascii_alphabetic() || b == b'_' => {
                let word_start = i;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                let word = sql[word_start..i].to_ascii_lowercase();
                let opens_block = (word == "atomic" && prev_word == "begin")
                    || (atomic_depth > 0 && word == "case");
                if opens_block {
                    atomic_depth += 1;
                } else if atomic_depth > 0 && word == "end" {
                    atomic_depth -= 1;
                }
                prev_word = word;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    push_statement(sql, start..sql.len(), &mut out);
    out
}

fn is_word_byte(bytes: &[u8], index: usize) -> bool {
    bytes
        .get(index)
        .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
}

fn push_statement(sql: &str, range: Range<usize>, out: &mut Vec<Range<usize>>) {
    let text = &sql[range.clone()];
    let leading = leading_blank_len(text);
    if leading < text.len() {
        // Start at the statement's first token, past whitespace and comments.
        out.push(range.start + leading..range.end);
    }
}

/// Length in bytes of the whitespace and comments that open `text`.
fn leading_blank_len(text: &str) -> usize {
    let mut rest = text.trim_start();
    loop {
        if let Some(after) = rest.strip_prefix("--") {
            rest = after.split_once('\n').map_or("", |(_, r)| r).trim_start();
        } else if let Some(after) = rest.strip_prefix("/*") {
            rest = after.split_once("*/").map_or("", |(_, r)| r).trim_start();
        } else {
            return text.len() - rest.len();
        }
    }
}

fn skip_quoted(bytes: &[u8], open: usize, quote: u8, backslash_escapes: bool) -> usize {
    let mut i = open + 1;
    while i < bytes.len() {
        if backslash_escapes && bytes[i] == b'\\' {
            i += 2;
            continue;
        }
        if bytes[i] == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    bytes.len()
}

/// If a dollar-quote tag (`$$` or `$tag$`) opens at `open`, returns the index after its close.
fn skip_dollar_quoted(sql: &str, open: usize) -> Option<usize> {
    let rest = &sql[open + 1..];
    let tag_len = rest.find('$')?;
    let tag = &rest[..tag_len];
    let valid_tag = tag
        .chars()
        .enumerate()
        .all(|(n, c)| c == '_' || c.is_alphabetic() || (n > 0 && c.is_ascii_digit()));
    if !valid_tag {
        return None;
    }
    let delimiter = &sql[open..open + tag_len + 2];
    let body_start = open + delimiter.len();
    match sql[body_start..].find(delimiter) {
        Some(close) => Some(body_start + close + delimiter.len()),
        None => Some(sql.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(sql: &str) -> Vec<&str> {
        split_statements(sql)
            .into_iter()
            .map(|r| sql[r].trim())
            .collect()
    }

    #[test]
    fn splits_plain_statements_and_skips_blank_ones() {
        assert_eq!(
            texts("create table a(x int);\n-- note\n;select 1; "),
            vec!["create table a(x int)", "select 1"]
        );
    }

    #[test]
    fn semicolons_inside_quotes_comments_and_bodies_do_not_split() {
        let sql = "select 'a;b', \"c;d\", E'\\';'; /* x; /* y; */ */ select $$;$$;\n\
                   create function f() returns int language sql as $body$ select 1; $body$;\n\
                   create function g() returns int language sql begin atomic select case when true then 1 end; end;\n\
                   select 2";
        let parts = texts(sql);
        assert_eq!(parts.len(), 5, "{parts:?}");
        assert!(parts[1].ends_with("select $$;$$"));
        assert!(parts[3].starts_with("create function g()"));
        assert_eq!(parts[4], "select 2");
    }

    #[test]
    fn offsets_become_line_and_column_in_characters() {
        let src = "select 1;\nselect é, bogus;\n";
        let offset = src.chars().position(|c| c == 'b').unwrap_or(0);
        let loc = locate_offset(src, offset);
        assert_eq!((loc.line, loc.column), (2, 11));
        assert_eq!(loc.line_text, "select é, bogus;");
    }
}
