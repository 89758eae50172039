// Driven by bench/mcp/run.sh: spawns `pgbase mcp --dir $PGBASE_E2E_DIR` and prints the figures.
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const sdk = join(root, 'e2e', 'node_modules', '@modelcontextprotocol', 'sdk', 'dist', 'esm', 'client');
const { Client } = await import(join(sdk, 'index.js'));
const { StdioClientTransport } = await import(join(sdk, 'stdio.js'));

const client = new Client({ name: 'pgbase-bench', version: '1.0.0' });
await client.connect(new StdioClientTransport({
  command: process.env.PGBASE_BIN,
  args: ['mcp', '--dir', process.env.PGBASE_E2E_DIR],
  env: { ...process.env, RUST_LOG: 'warn' },
}));

const text = (r) => r.content.map((c) => c.text ?? '').join('');
for (let i = 0; i < 50; i++) await client.callTool({ name: 'query', arguments: { sql: 'select 1 as one' } });
const samples = [];
for (let i = 0; i < 1000; i++) {
  const t0 = performance.now();
  const r = await client.callTool({ name: 'query', arguments: { sql: 'select 1 as one' } });
  samples.push(performance.now() - t0);
  if (r.isError) throw new Error(text(r));
}
samples.sort((a, b) => a - b);
const pct = (p) => samples[Math.floor(samples.length * p)].toFixed(2);
const described = text(await client.callTool({ name: 'describe', arguments: {} }));
const tables = (described.match(/^table /gm) ?? []).length;
await client.close();

console.log('| figure | measured | target |');
console.log('|---|---|---|');
console.log(`| query, one-row select over stdio (1000 calls) | p50 ${pct(0.5)} ms, p90 ${pct(0.9)} ms, p99 ${pct(0.99)} ms | p50 < 5 ms |`);
console.log(`| describe, ${tables}-table schema | ${described.length} bytes | < 40 KB |`);
