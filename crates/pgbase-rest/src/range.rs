//! Row ranges: `limit`/`offset`, the `Range` request header, and how they combine
//! (PostgREST's `RangeQuery.hs`), plus the `Content-Range` header value for responses.

use crate::error::{ApiError, RangeError};

/// A window of rows: skip `offset`, then take at most `limit` (unbounded when `None`).
/// `limit: Some(0)` is the explicit empty page (`limit=0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RowRange {
    /// Rows to skip.
    pub offset: u64,
    /// Maximum rows to return.
    pub limit: Option<u64>,
}

impl Default for RowRange {
    fn default() -> Self {
        RowRange::ALL
    }
}

impl RowRange {
    /// Every row.
    pub const ALL: RowRange = RowRange {
        offset: 0,
        limit: None,
    };

    /// Is this the unrestricted range?
    pub fn is_all(&self) -> bool {
        *self == RowRange::ALL
    }

    /// The exclusive end (`offset + limit`), `None` when unbounded.
    pub fn end(&self) -> Option<u64> {
        self.limit.map(|l| self.offset.saturating_add(l))
    }

    /// The rows both ranges contain; `None` if they do not overlap.
    pub fn intersect(&self, other: &RowRange) -> Option<RowRange> {
        let offset = self.offset.max(other.offset);
        let end = match (self.end(), other.end()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        match end {
            Some(e) if e <= offset => None,
            Some(e) => Some(RowRange {
                offset,
                limit: Some(e - offset),
            }),
            None => Some(RowRange {
                offset,
                limit: None,
            }),
        }
    }

    /// Caps the limit at `max_rows` (`db-max-rows`).
    #[must_use]
    pub fn cap(&self, max_rows: Option<u64>) -> RowRange {
        match max_rows {
            None => *self,
            Some(m) => RowRange {
                offset: self.offset,
                limit: Some(self.limit.map_or(m, |l| l.min(m))),
            },
        }
    }
}

/// Parses a `Range` header value `first-[last]` (e.g. `0-9`, `10-`). Values that do not have
/// this shape are ignored (`None`), as upstream does; `last < first` is
/// [`RangeError::LowerGtUpper`].
pub fn parse_range_header(value: &str) -> Option<Result<RowRange, RangeError>> {
    let (lo, hi) = value.split_once('-')?;
    if lo.is_empty() || !lo.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !hi.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let offset = lo.parse::<u64>().ok()?;
    if hi.is_empty() {
        return Some(Ok(RowRange {
            offset,
            limit: None,
        }));
    }
    let last = hi.parse::<u64>().ok()?;
    if last < offset {
        return Some(Err(RangeError::LowerGtUpper));
    }
    Some(Ok(RowRange {
        offset,
        limit: Some((last - offset).saturating_add(1)),
    }))
}

/// Combines the root `limit`/`offset` with the `Range` header (honoured only on GET) into the
/// top-level range. `limit=0` wins over the header; an empty intersection is `PGRST103`.
pub fn top_level_range(
    query: RowRange,
    range_header: Option<&str>,
    is_get: bool,
) -> Result<RowRange, ApiError> {
    if query.limit == Some(0) {
        return Ok(query);
    }
    let header = match range_header.filter(|_| is_get).and_then(parse_range_header) {
        None => RowRange::ALL,
        Some(Ok(r)) => r,
        Some(Err(e)) => return Err(ApiError::invalid_range(e)),
    };
    header
        .intersect(&query)
        .ok_or_else(|| ApiError::invalid_range(RangeError::NegativeLimit))
}

/// `Content-Range` value for a response: `{first}-{last}/{total|*}`, with `*` as the range part
/// when no rows were returned.
pub fn content_range(offset: u64, rows: u64, total: Option<u64>) -> String {
    let total_s = total.map_or_else(|| "*".to_owned(), |t| t.to_string());
    if rows == 0 || total == Some(0) {
        format!("*/{total_s}")
    } else {
        format!("{}-{}/{total_s}", offset, offset.saturating_add(rows - 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(offset: u64, limit: Option<u64>) -> RowRange {
        RowRange { offset, limit }
    }

    #[test]
    fn header_parsing() {
        assert_eq!(parse_range_header("0-9"), Some(Ok(r(0, Some(10)))));
        assert_eq!(parse_range_header("10-"), Some(Ok(r(10, None))));
        assert_eq!(parse_range_header("5-5"), Some(Ok(r(5, Some(1)))));
        assert_eq!(
            parse_range_header("9-0"),
            Some(Err(RangeError::LowerGtUpper))
        );
        assert_eq!(parse_range_header("items=0-9"), None);
        assert_eq!(parse_range_header("-9"), None);
        assert_eq!(parse_range_header("a-b"), None);
        assert_eq!(parse_range_header(""), None);
        assert_eq!(
            parse_range_header("0-18446744073709551615"),
            Some(Ok(r(0, Some(u64::MAX))))
        );
        assert_eq!(parse_range_header("0-99999999999999999999999"), None);
    }

    #[test]
    fn intersections() {
        assert_eq!(r(0, Some(10)).intersect(&r(5, None)), Some(r(5, Some(5))));
        assert_eq!(r(0, Some(10)).intersect(&r(20, None)), None);
        assert_eq!(RowRange::ALL.intersect(&r(3, Some(2))), Some(r(3, Some(2))));
        assert_eq!(RowRange::ALL.intersect(&RowRange::ALL), Some(RowRange::ALL));
        assert!(RowRange::default().is_all());
        assert_eq!(r(2, Some(3)).end(), Some(5));
        assert_eq!(r(2, None).cap(Some(100)), r(2, Some(100)));
        assert_eq!(r(2, Some(5)).cap(Some(100)), r(2, Some(5)));
        assert_eq!(r(2, Some(5)).cap(None), r(2, Some(5)));
    }

    #[test]
    fn top_level() {
        let q = r(0, Some(5));
        assert_eq!(top_level_range(q, Some("2-20"), true), Ok(r(2, Some(3))));
        // Range ignored on non-GET.
        assert_eq!(top_level_range(q, Some("2-20"), false), Ok(q));
        // Garbage header ignored.
        assert_eq!(top_level_range(q, Some("bytes=1-2"), true), Ok(q));
        // limit=0 bypasses the header.
        assert_eq!(
            top_level_range(r(0, Some(0)), Some("5-9"), true),
            Ok(r(0, Some(0)))
        );
        let e = top_level_range(RowRange::ALL, Some("9-1"), true).unwrap_err();
        assert_eq!(e.code(), "PGRST103");
        assert_eq!(e.status().as_u16(), 416);
        assert_eq!(
            e.body()["details"],
            "The lower boundary must be lower than or equal to the upper boundary in the Range header."
        );
        let e = top_level_range(r(20, None), Some("0-9"), true).unwrap_err();
        assert_eq!(e.code(), "PGRST103");
    }

    #[test]
    fn content_ranges() {
        assert_eq!(content_range(0, 10, None), "0-9/*");
        assert_eq!(content_range(0, 10, Some(100)), "0-9/100");
        assert_eq!(content_range(0, 0, None), "*/*");
        assert_eq!(content_range(0, 0, Some(0)), "*/0");
    }
}
