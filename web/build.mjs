// Builds the static client into dist/: index.html, app/app.js (one ES module bundle) and
// app/app.css. Fails when the compressed first load (JS + CSS) is over the budget.
import { build } from 'esbuild';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

const BUDGET_BYTES = 200 * 1024;

// A file is written only when its content changes: ravis embeds dist/ and rebuilds when
// a file in it changes.
function put(path, content) {
  const bytes = Buffer.from(content);
  if (existsSync(path) && readFileSync(path).equals(bytes)) return;
  writeFileSync(path, bytes);
}

mkdirSync('dist/app', { recursive: true });
const bundle = await build({
  entryPoints: ['src/main.js'],
  bundle: true,
  format: 'esm',
  minify: true,
  target: ['es2020'],
  legalComments: 'eof',
  outfile: 'dist/app/app.js',
  write: false,
  logLevel: 'warning',
});
for (const file of bundle.outputFiles) put(file.path, file.contents);
put('dist/app/app.css', readFileSync('src/app.css'));
put('dist/index.html', readFileSync('index.html'));

const firstLoad = ['dist/index.html', 'dist/app/app.js', 'dist/app/app.css'];
let total = 0;
for (const f of firstLoad) total += gzipSync(readFileSync(f), { level: 9 }).length;
const summary = { first_load_gzip_bytes: total, budget_bytes: BUDGET_BYTES };
put('dist/app/build.json', `${JSON.stringify(summary)}\n`);
console.log(`web: first load ${(total / 1024).toFixed(1)} KiB compressed (budget ${BUDGET_BYTES / 1024} KiB)`);
if (total > BUDGET_BYTES) {
  console.error('web: over the first-load budget');
  process.exit(1);
}
