// A supabase-js program typed by the generated `Database`: every line must type-check, and
// every `@ts-expect-error` line must be an error (tsc reports an unused directive otherwise).
import { createClient } from "@supabase/supabase-js"
import {
  Constants,
  type CompositeTypes,
  type Database,
  type Enums,
  type Json,
  type Tables,
  type TablesInsert,
  type TablesUpdate,
} from "./database.types"

const supabase = createClient<Database>("http://127.0.0.1:54321", "anon-key")

export async function app(): Promise<void> {
  // select with an embedded many-to-one relationship
  const { data: posts } = await supabase
    .from("posts")
    .select("id, title, body, score, moods, profiles(username, mood)")
  if (posts && posts.length > 0) {
    const id: number = posts[0].id
    const title: string = posts[0].title
    const body: string | null = posts[0].body
    const score: number = posts[0].score
    const moods: Enums<"mood">[] | null = posts[0].moods
    const username: string | undefined = posts[0].profiles?.username
    // @ts-expect-error a nullable column is not a plain string
    const bodyText: string = posts[0].body
    // @ts-expect-error a column that was not selected
    const published: boolean = posts[0].published
    void [id, title, body, score, moods, username, bodyText, published]
  }

  // inserts and updates follow Insert / Update
  await supabase.from("posts").insert({ author_id: "u1", title: "hello" })
  await supabase.from("posts").insert({ author_id: "u1", title: "hi", seq: 3, score: 1.5 })
  // @ts-expect-error GENERATED ALWAYS AS IDENTITY cannot be written
  await supabase.from("posts").insert({ author_id: "u1", title: "hello", id: 5 })
  // @ts-expect-error generated column
  await supabase.from("posts").insert({ author_id: "u1", title: "hello", title_len: 5 })
  // @ts-expect-error title is required
  await supabase.from("posts").insert({ author_id: "u1" })
  await supabase.from("posts").update({ published: true }).eq("id", 1)
  // @ts-expect-error wrong type
  await supabase.from("posts").update({ published: "yes" }).eq("id", 1)
  await supabase.from("profiles").upsert({ id: "u1", username: "ann", mood: "so-so", tags: ["a"] })
  // @ts-expect-error not a label of the enum
  await supabase.from("profiles").update({ mood: "angry" }).eq("id", "u1")

  // views: read (and write the auto-updatable one)
  const { data: titles } = await supabase.from("post_titles").select("title")
  const t: string | null | undefined = titles?.[0]?.title
  await supabase.from("post_titles").update({ title: "renamed" }).eq("id", 1)
  const { data: counts } = await supabase.from("post_counts").select("author_id, n")
  const n: number | null | undefined = counts?.[0]?.n

  // functions
  const { data: sum } = await supabase.rpc("add", { a: 1, b: 2 })
  const { data: byAuthor } = await supabase.rpc("posts_by", { author: "u1" })
  const firstTitle: string | undefined = byAuthor?.[0]?.title
  const { data: stats } = await supabase.rpc("stats")
  const total: number | undefined = stats?.total
  await supabase.rpc("ping")
  // @ts-expect-error unknown argument name
  await supabase.rpc("posts_by", { writer: "u1" })
  // @ts-expect-error no such function
  await supabase.rpc("nope")

  // another schema
  const { data: invoices } = await supabase
    .schema("billing")
    .from("invoices")
    .select("amount_cents, status")
  const cents: number | undefined = invoices?.[0]?.amount_cents

  // helper types and constants
  const row: Tables<"posts"> | null = null
  const viewRow: Tables<"post_titles"> = { id: 1, title: null, author_id: null }
  const ins: TablesInsert<"profile_settings"> = { profile_id: "u1", theme: "dark" }
  const upd: TablesUpdate<"profiles"> = { username: "bob" }
  const mood: Enums<"mood"> = "happy"
  const labels: readonly Enums<"mood">[] = Constants.public.Enums.mood
  const address: CompositeTypes<"address"> = { street: "Main St", zip: 12345 }
  const invoice: Tables<{ schema: "billing" }, "invoices"> = {
    id: 1,
    amount_cents: 100,
    profile_id: null,
    status: "sad",
  }
  const newInvoice: TablesInsert<{ schema: "billing" }, "invoices"> = { amount_cents: 5 }
  const meta: Json = { tags: ["a", 1, null, { nested: true }] }
  // @ts-expect-error not a label of the enum
  const badMood: Enums<"mood"> = "angry"
  // @ts-expect-error profiles has no column `email`
  const badRow: Tables<"profiles">["email"] = "x"
  void [sum, t, n, firstTitle, total, cents, row, viewRow, ins, upd, mood, labels, address]
  void [invoice, newInvoice, meta, badMood, badRow]
}
