//! The generated TypeScript against a real schema (tests/fixture.sql): key fragments of every
//! section, determinism, and a type check with `tsc` (from e2e/node_modules) of a supabase-js
//! program that uses the types (it must compile, and its `@ts-expect-error` misuses must be
//! errors) and of programs misusing them (which must not compile).

use std::path::{Path, PathBuf};
use std::process::Command;

async fn generate(schemas: &[&str]) -> String {
    let db = pgbase_testkit::test_db().await;
    let client = db.connect().await;
    client
        .batch_execute(include_str!("fixture.sql"))
        .await
        .expect("fixture applies");
    let schemas: Vec<String> = schemas.iter().map(|s| s.to_string()).collect();
    pgbase_typegen::typescript(&client, &schemas)
        .await
        .expect("types generate")
}

/// The text between `start` (first occurrence) and the first line after it that is exactly
/// `end_line` (the closing brace of that block at its indentation).
fn block<'a>(ts: &'a str, start: &str, end_line: &str) -> &'a str {
    let from = ts
        .find(start)
        .unwrap_or_else(|| panic!("{start:?} not found in:\n{ts}"));
    let rest = &ts[from..];
    let end = format!("\n{end_line}\n");
    let to = rest.find(&end).unwrap_or_else(|| {
        rest.strip_suffix(&end[..end.len() - 1])
            .map(str::len)
            .unwrap_or_else(|| panic!("end of {start:?} not found"))
    });
    &rest[..=to]
}

fn assert_has(haystack: &str, needles: &[&str]) {
    for needle in needles {
        assert!(
            haystack.contains(needle),
            "{needle:?} missing from:\n{haystack}"
        );
    }
}

#[tokio::test]
async fn tables_have_row_insert_update_and_relationships() {
    let ts = generate(&["public", "billing"]).await;
    assert!(ts.starts_with("export type Json =\n"), "{ts}");
    assert_has(
        &ts,
        &["export type Database = {", "PostgrestVersion: \"12\""],
    );

    let posts = block(&ts, "      posts: {", "      }");
    let row = block(posts, "Row: {", "        }");
    assert_has(
        row,
        &[
            "id: number\n",
            "seq: number\n",
            "author_id: string\n",
            "title: string\n",
            "body: string | null\n",
            "score: number\n",
            "ratio: number | null\n",
            "published: boolean\n",
            "moods: Database[\"public\"][\"Enums\"][\"mood\"][] | null\n",
            "attachment: string | null\n",
            "took: string | null\n",
        ],
    );
    let insert = block(posts, "Insert: {", "        }");
    assert_has(
        insert,
        &[
            "id?: never\n",
            "title_len?: never\n",
            "seq?: number\n",
            "author_id: string\n",
            "title: string\n",
            "body?: string | null\n",
            "score?: number\n",
            "published?: boolean\n",
        ],
    );
    let update = block(posts, "Update: {", "        }");
    assert_has(
        update,
        &[
            "id?: never\n",
            "title_len?: never\n",
            "author_id?: string\n",
            "title?: string\n",
        ],
    );
    assert!(!update.contains("author_id: string"), "{update}");
    assert_has(
        posts,
        &[
            "foreignKeyName: \"posts_author_id_fkey\"\n",
            "columns: [\"author_id\"]\n",
            "isOneToOne: false\n",
            "referencedRelation: \"profiles\"\n",
            "referencedColumns: [\"id\"]\n",
        ],
    );

    let profiles = block(&ts, "      profiles: {", "      }");
    assert_has(
        profiles,
        &[
            "\"display name\": string | null\n",
            "home: Database[\"public\"][\"CompositeTypes\"][\"address\"] | null\n",
            "meta: Json | null\n",
            "mood: Database[\"public\"][\"Enums\"][\"mood\"] | null\n",
            "tags: string[]\n",
            "born: string | null\n",
            "created_at: string\n",
            "tags?: string[]\n",
            "created_at?: string\n",
            // the FK to auth.users, a one-to-one (the FK column is the primary key)
            "foreignKeyName: \"profiles_id_fkey\"",
            "isOneToOne: true\n",
            "referencedRelation: \"users\"\n",
        ],
    );
    let settings = block(&ts, "      profile_settings: {", "      }");
    assert_has(
        settings,
        &["isOneToOne: true\n", "referencedRelation: \"profiles\"\n"],
    );

    let billing = block(&ts, "  billing: {", "  }");
    assert_has(
        billing,
        &[
            "invoices: {",
            "status: Database[\"public\"][\"Enums\"][\"mood\"]\n",
            "id?: number\n",
            "amount_cents: number\n",
            "foreignKeyName: \"invoices_profile_id_fkey\"",
            "Views: { [_ in never]: never }",
            "Functions: { [_ in never]: never }",
        ],
    );
}

#[tokio::test]
async fn views_functions_enums_and_composite_types() {
    let ts = generate(&["public", "billing"]).await;
    let views = block(&ts, "    Views: {\n      post_counts", "    }");
    let titles = block(views, "      post_titles: {", "      }");
    assert_has(
        titles,
        &[
            "title: string | null\n",
            "Insert: {",
            "Update: {",
            "title?: string | null\n",
            "foreignKeyName: \"posts_author_id_fkey\"",
        ],
    );
    let counts = block(views, "      post_counts: {", "      }");
    assert_has(
        counts,
        &["n: number | null\n", "author_id: string | null\n"],
    );
    assert!(
        !counts.contains("Insert"),
        "a materialized view is read-only:\n{counts}"
    );

    let functions = block(&ts, "    Functions: {\n      add", "    }");
    assert_has(
        functions,
        &[
            "add:\n        | { Args: { a: number; b?: number }; Returns: number }\n        | { Args: { a: string; b: string }; Returns: string }\n",
            "moods_of: { Args: { p: string }; Returns: Database[\"public\"][\"Enums\"][\"mood\"][] }\n",
            "ping: { Args: never; Returns: undefined }\n",
            "stats: { Args: never; Returns: { latest: string; total: number } }\n",
            "posts_by: { Args: { author: string }; Returns: ({ attachment: string | null; author_id: string;",
            "SetofOptions: { from: \"*\"; to: \"posts\"; isOneToOne: false; isSetofReturn: true } }\n",
        ],
    );
    assert_has(
        functions,
        &[
            "shout: { Args: { \"\": Database[\"public\"][\"Tables\"][\"profiles\"][\"Row\"] }; Returns: string }\n",
            "echo: { Args: { \"\": Json }; Returns: Json }\n",
        ],
    );
    assert!(!functions.contains("pair"), "{functions}");
    assert_has(
        &ts,
        &[
            "    Enums: {\n      mood: \"happy\" | \"sad\" | \"so-so\"\n    }\n",
            "    CompositeTypes: {\n      address: {\n        street: string | null\n        zip: number | null\n      }\n    }\n",
            "export type Tables<",
            "export type TablesInsert<",
            "export type TablesUpdate<",
            "export type Enums<",
            "export type CompositeTypes<",
            "type DefaultSchema = DatabaseWithoutInternals[\"public\"]",
            "      mood: [\"happy\", \"sad\", \"so-so\"],\n",
        ],
    );
}

#[tokio::test]
async fn only_the_requested_schemas_appear_and_output_is_deterministic() {
    let first = generate(&["public"]).await;
    let second = generate(&["public"]).await;
    assert_eq!(first, second);
    assert!(!first.contains("billing"), "{first}");
    assert!(!first.contains("invoices"), "{first}");
    // schemas are sorted whatever order they are given in
    let a = generate(&["public", "billing"]).await;
    let b = generate(&["billing", "public"]).await;
    assert_eq!(a, b);
    assert!(a.find("  billing: {") < a.find("  public: {"));
}

#[tokio::test]
async fn an_enum_outside_the_rendered_schemas_is_inlined() {
    let ts = generate(&["billing"]).await;
    assert_has(
        &ts,
        &[
            "status: \"happy\" | \"sad\" | \"so-so\"\n",
            "type DefaultSchema = DatabaseWithoutInternals[\"billing\"]",
        ],
    );
    assert!(!ts.contains("Database[\"public\"]"), "{ts}");
}

// --- type check with tsc ----------------------------------------------------------------------

fn e2e_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../e2e")
}

/// `e2e/node_modules/.bin/tsc`, or `None` (the test is skipped) unless PGBASE_REQUIRE_TOOLS=1.
fn tsc() -> Option<PathBuf> {
    let tsc = e2e_dir().join("node_modules/.bin/tsc");
    let supabase = e2e_dir().join("node_modules/@supabase/supabase-js/package.json");
    if tsc.exists() && supabase.exists() {
        return Some(tsc);
    }
    assert!(
        std::env::var("PGBASE_REQUIRE_TOOLS").as_deref() != Ok("1"),
        "PGBASE_REQUIRE_TOOLS=1 but {} or @supabase/supabase-js is missing; run `cd e2e && npm ci`",
        tsc.display()
    );
    eprintln!(
        "skipping the tsc check: {} not found (cd e2e && npm ci)",
        tsc.display()
    );
    None
}

/// Runs tsc in strict mode on `file` of `dir`; returns (success, output).
fn type_check(tsc: &Path, dir: &Path, file: &str) -> (bool, String) {
    let out = Command::new(tsc)
        .current_dir(dir)
        .args([
            "--noEmit",
            "--strict",
            "--skipLibCheck",
            "--target",
            "es2022",
            "--module",
            "esnext",
            "--moduleResolution",
            "bundler",
            "--types",
            "",
            file,
        ])
        .output()
        .expect("tsc runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test]
async fn supabase_js_programs_type_check_against_the_generated_types() {
    let Some(tsc) = tsc() else {
        return;
    };
    let ts = generate(&["public", "billing"]).await;
    // Inside e2e/ so that node_modules resolves; removed on drop (also when an assert fails).
    let dir = tempfile::Builder::new()
        .prefix(".typegen-check-")
        .tempdir_in(e2e_dir())
        .expect("temp dir in e2e/");
    let write = |name: &str, text: &str| {
        std::fs::write(dir.path().join(name), text).expect("write a .ts file");
    };
    write("database.types.ts", &ts);
    write("app.ts", include_str!("ts/app.ts"));
    write("wrong_column.ts", include_str!("ts/wrong_column.ts"));
    write("wrong_insert.ts", include_str!("ts/wrong_insert.ts"));

    let (ok, output) = type_check(&tsc, dir.path(), "app.ts");
    assert!(ok, "the typed program must compile:\n{output}\n---\n{ts}");

    let (ok, output) = type_check(&tsc, dir.path(), "wrong_column.ts");
    assert!(!ok, "reading a missing column must not compile:\n{output}");
    assert!(
        output.contains("wrong_column.ts(9,") && output.contains("titel"),
        "{output}"
    );

    let (ok, output) = type_check(&tsc, dir.path(), "wrong_insert.ts");
    assert!(
        !ok,
        "inserting a number into text must not compile:\n{output}"
    );
    assert!(output.contains("wrong_insert.ts(8,"), "{output}");
}
