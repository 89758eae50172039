//! Document-wide validation that needs no schema, run right after parsing: the spec's
//! "fragments must not form cycles" (every fragment, used or not; each cycle named as
//! graphql-js names it, though the response carries pg_graphql's one message for them,
//! `Found a cycle between fragments`), and the nesting depth of variable values. Every walk
//! here is iterative, so no document or value can overflow the stack.

use std::collections::{HashMap, HashSet};

use graphql_parser::Pos;
use graphql_parser::query::{Definition, Document, Selection, SelectionSet};
use serde_json::Value;

use crate::error::GraphqlError;

/// The fragment spreads of a selection set (through fields and inline fragments, not into
/// other fragments), in document order, with their positions.
fn spreads<'a>(set: &'a SelectionSet<'a, &'a str>) -> Vec<(&'a str, Pos)> {
    let mut out = Vec::new();
    let mut stack = vec![set.items.iter()];
    while let Some(items) = stack.last_mut() {
        let Some(item) = items.next() else {
            stack.pop();
            continue;
        };
        match item {
            Selection::Field(f) => stack.push(f.selection_set.items.iter()),
            Selection::InlineFragment(i) => stack.push(i.selection_set.items.iter()),
            Selection::FragmentSpread(s) => out.push((s.fragment_name, s.position)),
        }
    }
    out
}

/// A fragment being walked: its spreads and the next one to follow.
struct Frame<'a> {
    name: &'a str,
    spreads: Vec<(&'a str, Pos)>,
    next: usize,
}

/// Most cycle errors reported for one document (each names every fragment of its cycle, so
/// a document of many long cycles would otherwise make a huge response).
pub const MAX_CYCLE_ERRORS: usize = 20;

/// Most fragments named in the `via` list of one cycle error (the rest are counted).
const MAX_VIA: usize = 20;

/// The cycles between the document's fragments (the first [`MAX_CYCLE_ERRORS`]), as
/// graphql-js's `NoFragmentCyclesRule` reports them: `Cannot spread fragment "F" within
/// itself.` or `Cannot spread fragment "F" within itself via "G", "H".` (at the first spread
/// of the cycle). Unused fragments are checked too. The walk is depth-first like graphql-js's,
/// with an explicit stack instead of recursion.
pub fn fragment_cycles<'a>(doc: &'a Document<'a, &'a str>) -> Vec<GraphqlError> {
    let mut by_name = HashMap::new();
    let mut order = Vec::new();
    for d in &doc.definitions {
        if let Definition::Fragment(f) = d {
            by_name.insert(f.name, f);
            order.push(f.name);
        }
    }
    let mut errors = Vec::new();
    let mut visited: HashSet<&str> = HashSet::new();
    // the spreads followed from the fragment being checked, and where each fragment on the
    // current path entered it
    let mut path: Vec<(&str, Pos)> = Vec::new();
    let mut index_of: HashMap<&str, usize> = HashMap::new();
    for start in order {
        if !visited.insert(start) {
            continue;
        }
        let Some(fragment) = by_name.get(start) else {
            continue;
        };
        let mut frames = vec![Frame {
            name: start,
            spreads: spreads(&fragment.selection_set),
            next: 0,
        }];
        index_of.insert(start, 0);
        while let Some(frame) = frames.last_mut() {
            let Some(&(name, pos)) = frame.spreads.get(frame.next) else {
                index_of.remove(frame.name);
                frames.pop();
                if !frames.is_empty() {
                    path.pop();
                }
                continue;
            };
            frame.next += 1;
            path.push((name, pos));
            if let Some(&at) = index_of.get(name) {
                let cycle = &path[at..];
                let through = &cycle[..cycle.len() - 1];
                let mut via: Vec<String> = through
                    .iter()
                    .take(MAX_VIA)
                    .map(|(n, _)| format!("\"{n}\""))
                    .collect();
                if through.len() > MAX_VIA {
                    via.push(format!("and {} more", through.len() - MAX_VIA));
                }
                let message = if via.is_empty() {
                    format!("Cannot spread fragment \"{name}\" within itself.")
                } else {
                    format!(
                        "Cannot spread fragment \"{name}\" within itself via {}.",
                        via.join(", ")
                    )
                };
                errors.push(GraphqlError::at(message, cycle[0].1));
                if errors.len() == MAX_CYCLE_ERRORS {
                    return errors;
                }
                path.pop();
                continue;
            }
            let next = by_name
                .get(name)
                .filter(|_| visited.insert(name))
                .map(|f| spreads(&f.selection_set))
                .filter(|s| !s.is_empty());
            match next {
                Some(spreads) => {
                    index_of.insert(name, path.len());
                    frames.push(Frame {
                        name,
                        spreads,
                        next: 0,
                    });
                }
                None => {
                    path.pop();
                }
            }
        }
    }
    errors
}

/// Deepest nesting of arrays and objects accepted in a variable's value (serde_json's own
/// parser stops at 128, so a request body can never get past this either).
pub const MAX_INPUT_DEPTH: usize = 128;

/// The nesting depth of a JSON value (a scalar is 0, `[1]` is 1), counted without recursion.
pub fn json_depth(value: &Value) -> usize {
    let mut max = 0;
    let mut stack = vec![(value, 0usize)];
    while let Some((v, depth)) = stack.pop() {
        max = max.max(depth);
        match v {
            Value::Array(items) => stack.extend(items.iter().map(|i| (i, depth + 1))),
            Value::Object(fields) => stack.extend(fields.values().map(|i| (i, depth + 1))),
            _ => {}
        }
    }
    max
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cycles(q: &str) -> Vec<String> {
        let doc = graphql_parser::parse_query::<&str>(q).expect("parses");
        fragment_cycles(&doc)
            .iter()
            .map(|e| e.to_string())
            .collect()
    }

    #[test]
    fn cycles_are_named_as_graphql_js_names_them() {
        assert_eq!(
            cycles("{ ...F } fragment F on Query { ...F }"),
            ["Cannot spread fragment \"F\" within itself."]
        );
        assert_eq!(
            cycles("{ ...F } fragment F on Query { ...G } fragment G on Query { ...F }"),
            ["Cannot spread fragment \"F\" within itself via \"G\"."]
        );
        assert_eq!(
            cycles(
                "fragment A on T { ...B } fragment B on T { ...C } fragment C on T { ...A }
                 { __typename }"
            ),
            ["Cannot spread fragment \"A\" within itself via \"B\", \"C\"."]
        );
        // through fields and inline fragments; unused fragments too
        assert_eq!(
            cycles(
                "{ __typename }
                 fragment F on blog { account { blogCollection { edges { node { ... on blog { ...F } } } } } }"
            ),
            ["Cannot spread fragment \"F\" within itself."]
        );
        // graphql-js's own cases: two cycles through one fragment, and a cycle reached from
        // a fragment outside it
        assert_eq!(
            cycles(
                "fragment A on T { ...B ...C } fragment B on T { ...A } fragment C on T { ...A }"
            ),
            [
                "Cannot spread fragment \"A\" within itself via \"B\".",
                "Cannot spread fragment \"A\" within itself via \"C\"."
            ]
        );
        assert_eq!(
            cycles("fragment X on T { ...Y } fragment Y on T { ...Z } fragment Z on T { ...Y }"),
            ["Cannot spread fragment \"Y\" within itself via \"Z\"."]
        );
        assert_eq!(
            cycles(
                "fragment A on T { ...B } fragment B on T { ...C } fragment C on T { ...O }
                 fragment X on T { ...Y } fragment Y on T { ...Z } fragment Z on T { ...O }
                 fragment O on T { ...P } fragment P on T { ...A ...X }"
            ),
            [
                "Cannot spread fragment \"A\" within itself via \"B\", \"C\", \"O\", \"P\".",
                "Cannot spread fragment \"O\" within itself via \"P\", \"X\", \"Y\", \"Z\"."
            ]
        );
        assert!(
            cycles(
                "{ ...A ...B } fragment A on T { ...B ...B } fragment B on T { x ...C }
                 fragment C on T { y ...Missing }"
            )
            .is_empty()
        );
    }

    /// graphql-parser places a spread at its fragment name.
    #[test]
    fn cycle_errors_point_at_the_first_spread() {
        let doc = graphql_parser::parse_query::<&str>("{ a }\nfragment F on T { b { ...F } }")
            .expect("parses");
        let GraphqlError::Validation { pos, .. } = &fragment_cycles(&doc)[0] else {
            panic!("a validation error");
        };
        assert_eq!(
            *pos,
            Some(graphql_parser::Pos {
                line: 2,
                column: 26
            })
        );
    }

    #[test]
    fn long_fragment_chains_are_walked_without_recursion() {
        let mut q = String::from("{ ...F0 }\n");
        for i in 0..20_000 {
            q.push_str(&format!("fragment F{i} on T {{ ...F{} }}\n", i + 1));
        }
        q.push_str("fragment F20000 on T { ...F0 }\n");
        let found = std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(move || cycles(&q))
            .expect("spawn")
            .join()
            .expect("no overflow");
        assert_eq!(found.len(), 1);
        assert!(
            found[0].starts_with("Cannot spread fragment \"F0\" within itself via \"F1\", \"F2\"")
        );
    }

    #[test]
    fn many_long_cycles_are_reported_a_few_times() {
        // every fragment of a 5 000 long chain also spreads the first one: 5 000 cycles
        let mut q = String::from("{ ...F0 }\n");
        for i in 0..5_000 {
            q.push_str(&format!("fragment F{i} on T {{ ...F{} ...F0 }}\n", i + 1));
        }
        q.push_str("fragment F5000 on T { a }\n");
        let found = cycles(&q);
        assert_eq!(found.len(), MAX_CYCLE_ERRORS);
        let names: String = (1..=20).map(|i| format!("\"F{i}\", ")).collect();
        let first = &found[0];
        assert!(first.len() < 500, "{} characters", first.len());
        assert_eq!(
            first,
            &format!("Cannot spread fragment \"F0\" within itself via {names}and 4979 more.")
        );
    }

    #[test]
    fn json_depth_counts_containers() {
        assert_eq!(json_depth(&serde_json::json!(1)), 0);
        assert_eq!(json_depth(&serde_json::json!({"a": [1, {"b": []}]})), 3);
    }
}
