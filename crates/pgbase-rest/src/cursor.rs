//! A character cursor with Parsec-style error tracking, shared by the hand-written parsers.
//!
//! Failures are recorded as "expected X at position P" together with the unexpected input. The
//! furthest failure wins; failures at the same position accumulate their expectations. This
//! yields PostgREST-like details such as
//! `unexpected "c" expecting "asc", "desc", "nullsfirst" or "nullslast"`.

use crate::error::{ApiError, ShowChar};

/// Parser position and error state.
pub(crate) struct Cursor {
    chars: Vec<char>,
    pub(crate) pos: usize,
    err_pos: usize,
    /// Unexpected input from a token mismatch (Parsec's SysUnExpect), shown with `"`.
    sys_unexpected: Option<Option<char>>,
    /// Unexpected input from an end/lookahead check (Parsec's UnExpect), shown with `'`.
    user_unexpected: Option<Option<char>>,
    expected: Vec<String>,
    has_error: bool,
}

/// A snapshot of the recorded error (see [`Cursor::take_errors`]).
#[derive(Default)]
pub(crate) struct ErrState {
    has_error: bool,
    err_pos: usize,
    sys_unexpected: Option<Option<char>>,
    user_unexpected: Option<Option<char>>,
    expected: Vec<String>,
}

/// Parse failure marker; the details live in the [`Cursor`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fail;

pub(crate) type PResult<T> = Result<T, Fail>;

impl Cursor {
    pub(crate) fn new(input: &str) -> Self {
        Cursor {
            chars: input.chars().collect(),
            pos: 0,
            err_pos: 0,
            sys_unexpected: None,
            user_unexpected: None,
            expected: Vec::new(),
            has_error: false,
        }
    }

    pub(crate) fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    pub(crate) fn peek_at(&self, n: usize) -> Option<char> {
        self.chars.get(self.pos + n).copied()
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }

    pub(crate) fn bump(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    /// Does the input at the cursor start with `s`?
    pub(crate) fn looking_at(&self, s: &str) -> bool {
        (self.pos..)
            .zip(s.chars())
            .all(|(i, c)| self.chars.get(i) == Some(&c))
    }

    /// Case-insensitive [`Cursor::looking_at`] for ASCII `s`.
    pub(crate) fn looking_at_ci(&self, s: &str) -> bool {
        (self.pos..).zip(s.chars()).all(|(i, c)| {
            self.chars
                .get(i)
                .is_some_and(|d| d.eq_ignore_ascii_case(&c))
        })
    }

    fn record(&mut self, pos: usize, unexpected: Option<char>, user: bool, expected: &str) {
        if !self.has_error || pos > self.err_pos {
            self.has_error = true;
            self.err_pos = pos;
            self.sys_unexpected = None;
            self.user_unexpected = None;
            self.expected.clear();
        } else if pos < self.err_pos {
            return;
        }
        if user {
            if self.user_unexpected.is_none() {
                self.user_unexpected = Some(unexpected);
            }
        } else if self.sys_unexpected.is_none() {
            self.sys_unexpected = Some(unexpected);
        }
        if !expected.is_empty() && !self.expected.iter().any(|e| e == expected) {
            self.expected.push(expected.to_owned());
        }
    }

    /// Records a token mismatch at the cursor: expected `label`, found the current character.
    pub(crate) fn expected(&mut self, label: &str) {
        let c = self.peek();
        self.record(self.pos, c, false, label);
    }

    /// Records an end/lookahead failure at the cursor (shown as `unexpected 'c'`).
    pub(crate) fn expected_end(&mut self, label: &str) {
        let c = self.peek();
        self.record(self.pos, c, true, label);
    }

    /// Consumes `c` or records `"c"` as expected.
    pub(crate) fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            self.expected(&format!("{}", ShowChar(Some(c), false)));
            false
        }
    }

    /// Consumes `s` or records `"s"` as expected at the token start, with the first mismatching
    /// character as the unexpected input (as Parsec's `string` does).
    pub(crate) fn eat_str(&mut self, s: &str) -> bool {
        let mut i = self.pos;
        for c in s.chars() {
            let got = self.chars.get(i).copied();
            if got != Some(c) {
                self.record(self.pos, got, false, &format!("\"{s}\""));
                return false;
            }
            i += 1;
        }
        self.pos = i;
        true
    }

    /// Skips spaces and tabs.
    pub(crate) fn ws(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.pos += 1;
        }
    }

    /// Succeeds at end of input, else records `end of input` as expected.
    pub(crate) fn eof(&mut self) -> PResult<()> {
        if self.at_end() {
            Ok(())
        } else {
            self.expected_end("end of input");
            Err(Fail)
        }
    }

    /// Collects the chars in `[from, to)`.
    pub(crate) fn slice(&self, from: usize, to: usize) -> String {
        self.chars
            .get(from..to.min(self.chars.len()))
            .map(|s| s.iter().collect())
            .unwrap_or_default()
    }

    /// The PGRST100 error for the recorded failure; `source` is e.g.
    /// `failed to parse select parameter (id,x[])`.
    pub(crate) fn error(&self, source: &str) -> ApiError {
        let column = self.err_pos + 1;
        let message = format!("\"{source}\" (line 1, column {column})");
        let mut details = String::new();
        if let Some(u) = self.user_unexpected {
            details.push_str(&format!("unexpected {}", ShowChar(u, true)));
        } else if let Some(u) = self.sys_unexpected {
            details.push_str(&format!("unexpected {}", ShowChar(u, false)));
        } else {
            details.push_str("unknown parse error");
        }
        if let Some((last, init)) = self.expected.split_last() {
            details.push_str(" expecting ");
            if !init.is_empty() {
                details.push_str(&init.join(", "));
                details.push_str(" or ");
            }
            details.push_str(last);
        }
        ApiError::query_param(message, details)
    }

    /// Removes and returns the recorded error state.
    pub(crate) fn take_errors(&mut self) -> ErrState {
        let st = ErrState {
            has_error: self.has_error,
            err_pos: self.err_pos,
            sys_unexpected: self.sys_unexpected.take(),
            user_unexpected: self.user_unexpected.take(),
            expected: std::mem::take(&mut self.expected),
        };
        self.has_error = false;
        self.err_pos = 0;
        st
    }

    /// Merges an earlier error state back: the furthest wins, equal positions combine (the
    /// earlier state's expectations first).
    pub(crate) fn merge_errors(&mut self, earlier: ErrState) {
        if !earlier.has_error {
            return;
        }
        if !self.has_error || earlier.err_pos > self.err_pos {
            self.has_error = true;
            self.err_pos = earlier.err_pos;
            self.sys_unexpected = earlier.sys_unexpected;
            self.user_unexpected = earlier.user_unexpected;
            self.expected = earlier.expected;
        } else if earlier.err_pos == self.err_pos {
            if earlier.sys_unexpected.is_some() {
                self.sys_unexpected = earlier.sys_unexpected;
            }
            if earlier.user_unexpected.is_some() {
                self.user_unexpected = earlier.user_unexpected;
            }
            let mut merged = earlier.expected;
            for e in self.expected.drain(..) {
                if !merged.contains(&e) {
                    merged.push(e);
                }
            }
            self.expected = merged;
        }
    }

    /// Position of the recorded error (0 when none).
    pub(crate) fn error_pos(&self) -> usize {
        if self.has_error { self.err_pos } else { 0 }
    }

    /// Records a custom failure (e.g. a semantic check) at `pos`.
    pub(crate) fn fail_at(&mut self, pos: usize, label: &str) {
        let c = self.chars.get(pos).copied();
        self.record(pos, c, false, label);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn furthest_error_wins_and_merges() {
        let mut c = Cursor::new("id.ac");
        c.pos = 3;
        assert!(!c.eat_str("asc"));
        assert!(!c.eat_str("desc"));
        c.pos = 2;
        c.expected_end("end of input");
        let e = c.error("failed to parse order (id.ac)");
        assert_eq!(
            e.message,
            "\"failed to parse order (id.ac)\" (line 1, column 4)"
        );
        assert_eq!(
            e.body()["details"],
            "unexpected \"c\" expecting \"asc\" or \"desc\""
        );
    }

    #[test]
    fn helpers() {
        let mut c = Cursor::new("AbC d");
        assert!(c.looking_at_ci("abc"));
        assert!(!c.looking_at("abc"));
        assert_eq!(c.slice(0, 99), "AbC d");
        c.pos = 3;
        c.ws();
        assert_eq!(c.peek(), Some('d'));
        assert_eq!(c.peek_at(1), None);
        assert!(c.eof().is_err());
        c.bump();
        assert!(c.eof().is_ok());
        c.fail_at(0, "x");
    }
}
