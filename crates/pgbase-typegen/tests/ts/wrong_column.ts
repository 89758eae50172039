// Must NOT compile: reads a column that does not exist in the selected result.
import { createClient } from "@supabase/supabase-js"
import type { Database } from "./database.types"

const supabase = createClient<Database>("http://127.0.0.1:54321", "anon-key")

export async function wrong(): Promise<string | undefined> {
  const { data } = await supabase.from("posts").select("id, title")
  return data?.[0]?.titel
}
