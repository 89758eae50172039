//! The `Prefer` request header (RFC 7240) as PostgREST interprets it
//! (`ApiRequest/Preferences.hs`), and the `Preference-Applied` response header.
//!
//! Several `Prefer` headers and comma-separated values are combined; values are trimmed; for
//! each kind of preference the first recognised value wins. Unrecognised values are collected in
//! [`Preferences::invalid`]; with `handling=strict` they are an error (`PGRST122`).

use crate::error::ApiError;

/// `return=`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreferReturn {
    /// `return=minimal` (the default for writes).
    Minimal,
    /// `return=headers-only` (adds `Location` on single-row POST).
    HeadersOnly,
    /// `return=representation`.
    Representation,
}

/// `count=`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreferCount {
    /// `count=exact`
    Exact,
    /// `count=planned` (EXPLAIN estimate)
    Planned,
    /// `count=estimated` (exact up to `db-max-rows`, then planned)
    Estimated,
}

/// `resolution=` (upsert on POST)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreferResolution {
    /// `resolution=merge-duplicates` → `ON CONFLICT DO UPDATE`
    MergeDuplicates,
    /// `resolution=ignore-duplicates` → `ON CONFLICT DO NOTHING`
    IgnoreDuplicates,
}

/// `missing=`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreferMissing {
    /// `missing=default`: missing payload keys take the column default.
    Default,
    /// `missing=null`: missing payload keys are null (the default behaviour).
    Null,
}

/// `handling=`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreferHandling {
    /// `handling=strict`: unknown preferences are an error; enables `max-affected`.
    Strict,
    /// `handling=lenient`: unknown preferences are ignored (the default).
    Lenient,
}

/// `tx=`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreferTx {
    /// `tx=commit`
    Commit,
    /// `tx=rollback`
    Rollback,
}

/// `params=` (v12 legacy, removed in v13)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreferParams {
    /// `params=single-object`: the whole body goes to a single json parameter.
    SingleObject,
}

/// Options that decide which preferences are honoured.
#[derive(Clone, Copy, Default)]
pub struct PreferenceOptions<'a> {
    /// `db-tx-end` is one of the `*-allow-override` values: honour `tx=`.
    pub allow_tx_override: bool,
    /// Is this a time zone the database knows (`pg_timezone_names`)? `None` accepts any
    /// non-empty value (the database will validate it).
    pub is_timezone: Option<&'a dyn Fn(&str) -> bool>,
}

/// Everything the `Prefer` headers asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preferences {
    /// `resolution=`
    pub resolution: Option<PreferResolution>,
    /// `return=`
    pub representation: Option<PreferReturn>,
    /// `params=`
    pub params: Option<PreferParams>,
    /// `count=`
    pub count: Option<PreferCount>,
    /// `tx=` (only when overriding is allowed)
    pub transaction: Option<PreferTx>,
    /// `missing=`
    pub missing: Option<PreferMissing>,
    /// `handling=`
    pub handling: Option<PreferHandling>,
    /// `timezone=` (only accepted zones)
    pub timezone: Option<String>,
    /// `max-affected=` (effective only with `handling=strict`)
    pub max_affected: Option<i64>,
    /// Preferences that were not recognised, as sent.
    pub invalid: Vec<String>,
}

fn lookup<T: Copy>(table: &[(&str, T)], pref: &str) -> Option<T> {
    table.iter().find(|(s, _)| *s == pref).map(|(_, v)| *v)
}

const RESOLUTION: [(&str, PreferResolution); 2] = [
    (
        "resolution=merge-duplicates",
        PreferResolution::MergeDuplicates,
    ),
    (
        "resolution=ignore-duplicates",
        PreferResolution::IgnoreDuplicates,
    ),
];
const RETURN: [(&str, PreferReturn); 3] = [
    ("return=representation", PreferReturn::Representation),
    ("return=minimal", PreferReturn::Minimal),
    ("return=headers-only", PreferReturn::HeadersOnly),
];
const PARAMS: [(&str, PreferParams); 1] = [("params=single-object", PreferParams::SingleObject)];
const COUNT: [(&str, PreferCount); 3] = [
    ("count=exact", PreferCount::Exact),
    ("count=planned", PreferCount::Planned),
    ("count=estimated", PreferCount::Estimated),
];
const TX: [(&str, PreferTx); 2] = [
    ("tx=commit", PreferTx::Commit),
    ("tx=rollback", PreferTx::Rollback),
];
const MISSING: [(&str, PreferMissing); 2] = [
    ("missing=default", PreferMissing::Default),
    ("missing=null", PreferMissing::Null),
];
const HANDLING: [(&str, PreferHandling); 2] = [
    ("handling=strict", PreferHandling::Strict),
    ("handling=lenient", PreferHandling::Lenient),
];

/// The first preference found in `table` wins.
fn pick<T: Copy>(prefs: &[&str], table: &[(&str, T)]) -> Option<T> {
    prefs.iter().find_map(|p| lookup(table, p))
}

fn name_of<T: Copy + PartialEq>(table: &[(&'static str, T)], v: T) -> Option<&'static str> {
    table.iter().find(|(_, x)| *x == v).map(|(s, _)| *s)
}

impl Preferences {
    /// Parses the values of every `Prefer` header of a request.
    pub fn parse<'h>(
        headers: impl IntoIterator<Item = &'h str>,
        opts: PreferenceOptions<'_>,
    ) -> Self {
        let prefs: Vec<&str> = headers
            .into_iter()
            .flat_map(|h| h.split(','))
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect();
        let mut out = Preferences {
            resolution: pick(&prefs, &RESOLUTION),
            representation: pick(&prefs, &RETURN),
            params: pick(&prefs, &PARAMS),
            count: pick(&prefs, &COUNT),
            transaction: None,
            missing: pick(&prefs, &MISSING),
            handling: pick(&prefs, &HANDLING),
            timezone: None,
            max_affected: None,
            invalid: Vec::new(),
        };
        if opts.allow_tx_override {
            out.transaction = pick(&prefs, &TX);
        }
        let tz = prefs.iter().find_map(|p| p.strip_prefix("timezone="));
        let tz_ok = tz.is_some_and(|z| match opts.is_timezone {
            Some(f) => f(z),
            None => !z.trim().is_empty(),
        });
        if tz_ok {
            out.timezone = tz.map(str::to_owned);
        }
        out.max_affected = prefs
            .iter()
            .find_map(|p| p.strip_prefix("max-affected="))
            .and_then(|n| n.trim().parse::<i64>().ok());
        let known = |p: &str| {
            lookup(&RESOLUTION, p).is_some()
                || lookup(&RETURN, p).is_some()
                || lookup(&PARAMS, p).is_some()
                || lookup(&COUNT, p).is_some()
                || lookup(&TX, p).is_some()
                || lookup(&MISSING, p).is_some()
                || lookup(&HANDLING, p).is_some()
                || (p.starts_with("timezone=") && tz_ok)
                || p.starts_with("max-affected=")
        };
        out.invalid = prefs
            .iter()
            .filter(|p| !known(p))
            .map(|p| (*p).to_owned())
            .collect();
        out
    }

    /// `PGRST122` when `handling=strict` and some preference was not recognised.
    pub fn check_strict(&self) -> Result<(), ApiError> {
        if self.handling == Some(PreferHandling::Strict) && !self.invalid.is_empty() {
            Err(ApiError::invalid_preferences(&self.invalid))
        } else {
            Ok(())
        }
    }

    /// Is `handling=strict` in effect?
    pub fn is_strict(&self) -> bool {
        self.handling == Some(PreferHandling::Strict)
    }

    /// `max-affected`, only when `handling=strict` (as upstream).
    pub fn effective_max_affected(&self) -> Option<i64> {
        if self.is_strict() {
            self.max_affected
        } else {
            None
        }
    }

    /// Should the total be counted exactly (`count=exact|estimated`)?
    pub fn should_count(&self) -> bool {
        matches!(
            self.count,
            Some(PreferCount::Exact | PreferCount::Estimated)
        )
    }

    /// The `Preference-Applied` value for the honoured preferences, in PostgREST's order
    /// (resolution, missing, return, params, count, tx, handling, timezone, max-affected).
    /// The response layer clears the fields it did not honour before calling this.
    pub fn applied_header(&self) -> Option<String> {
        let mut vals: Vec<String> = Vec::new();
        let mut push = |s: Option<&str>| {
            if let Some(s) = s {
                vals.push(s.to_owned());
            }
        };
        push(self.resolution.and_then(|v| name_of(&RESOLUTION, v)));
        push(self.missing.and_then(|v| name_of(&MISSING, v)));
        push(self.representation.and_then(|v| name_of(&RETURN, v)));
        push(self.params.and_then(|v| name_of(&PARAMS, v)));
        push(self.count.and_then(|v| name_of(&COUNT, v)));
        push(self.transaction.and_then(|v| name_of(&TX, v)));
        push(self.handling.and_then(|v| name_of(&HANDLING, v)));
        if let Some(tz) = &self.timezone {
            vals.push(format!("timezone={tz}"));
        }
        if let Some(n) = self.effective_max_affected() {
            vals.push(format!("max-affected={n}"));
        }
        if vals.is_empty() {
            None
        } else {
            Some(vals.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(h: &[&str]) -> Preferences {
        Preferences::parse(h.iter().copied(), PreferenceOptions::default())
    }

    #[test]
    fn comma_joined_and_multiple_headers() {
        let p = parse(&[
            "return=representation, count=exact",
            "resolution=merge-duplicates",
        ]);
        assert_eq!(p.representation, Some(PreferReturn::Representation));
        assert_eq!(p.count, Some(PreferCount::Exact));
        assert_eq!(p.resolution, Some(PreferResolution::MergeDuplicates));
        assert!(p.invalid.is_empty());
        assert!(p.should_count());
    }

    #[test]
    fn first_value_wins_and_spaces_trimmed() {
        let p = parse(&["  count=planned ,count=exact", "count=estimated"]);
        assert_eq!(p.count, Some(PreferCount::Planned));
        assert!(!p.should_count());
        let p = parse(&[
            "resolution=ignore-duplicates",
            "resolution=merge-duplicates",
        ]);
        assert_eq!(p.resolution, Some(PreferResolution::IgnoreDuplicates));
    }

    #[test]
    fn all_kinds() {
        let tz = |z: &str| z == "America/Lima";
        let p = Preferences::parse(
            [
                "return=headers-only, missing=default, handling=strict, tx=rollback, timezone=America/Lima, max-affected=5, params=single-object",
            ],
            PreferenceOptions {
                allow_tx_override: true,
                is_timezone: Some(&tz),
            },
        );
        assert_eq!(p.representation, Some(PreferReturn::HeadersOnly));
        assert_eq!(p.missing, Some(PreferMissing::Default));
        assert_eq!(p.handling, Some(PreferHandling::Strict));
        assert_eq!(p.transaction, Some(PreferTx::Rollback));
        assert_eq!(p.timezone.as_deref(), Some("America/Lima"));
        assert_eq!(p.max_affected, Some(5));
        assert_eq!(p.effective_max_affected(), Some(5));
        assert_eq!(p.params, Some(PreferParams::SingleObject));
        assert!(p.check_strict().is_ok());
        assert_eq!(
            p.applied_header().as_deref(),
            Some(
                "missing=default, return=headers-only, params=single-object, tx=rollback, handling=strict, timezone=America/Lima, max-affected=5"
            )
        );
    }

    #[test]
    fn tx_needs_override_but_is_not_invalid() {
        let p = parse(&["tx=rollback, handling=strict"]);
        assert_eq!(p.transaction, None);
        assert!(p.invalid.is_empty());
        assert!(p.check_strict().is_ok());
    }

    #[test]
    fn unknown_preferences() {
        let p = parse(&["return=minimal, foo=bar, count=none"]);
        assert_eq!(p.invalid, vec!["foo=bar", "count=none"]);
        assert!(p.check_strict().is_ok());
        let p = parse(&["handling=strict, foo=bar", "baz"]);
        let e = p.check_strict().unwrap_err();
        assert_eq!(e.code(), "PGRST122");
        assert_eq!(e.status().as_u16(), 400);
        assert_eq!(
            e.message(),
            "Invalid preferences given with handling=strict"
        );
        assert_eq!(e.body()["details"], "Invalid preferences: foo=bar, baz");
        let p = parse(&["handling=lenient, foo"]);
        assert!(p.check_strict().is_ok());
    }

    #[test]
    fn timezone_validation() {
        let tz = |z: &str| z == "UTC";
        let opts = PreferenceOptions {
            allow_tx_override: false,
            is_timezone: Some(&tz),
        };
        let p = Preferences::parse(["timezone=Mars/Base, handling=strict"], opts);
        assert_eq!(p.timezone, None);
        assert_eq!(p.invalid, vec!["timezone=Mars/Base"]);
        assert!(p.check_strict().is_err());
        let p = Preferences::parse(["timezone=UTC"], opts);
        assert_eq!(p.timezone.as_deref(), Some("UTC"));
    }

    #[test]
    fn max_affected_only_with_strict() {
        let p = parse(&["max-affected=10"]);
        assert_eq!(p.max_affected, Some(10));
        assert_eq!(p.effective_max_affected(), None);
        assert_eq!(p.applied_header(), None);
        let p = parse(&["max-affected=abc, handling=strict"]);
        assert_eq!(p.max_affected, None);
        assert!(p.invalid.is_empty());
        assert_eq!(parse(&[]).applied_header(), None);
        assert_eq!(parse(&[""]).invalid, Vec::<String>::new());
    }
}
