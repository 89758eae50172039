// Must NOT compile: inserts a number into a text column.
import { createClient } from "@supabase/supabase-js"
import type { Database } from "./database.types"

const supabase = createClient<Database>("http://127.0.0.1:54321", "anon-key")

export async function wrong(): Promise<void> {
  await supabase.from("profile_settings").insert({ profile_id: "u1", theme: 42 })
}
