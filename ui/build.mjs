// Bundles the UI (and, once it exists, the overlay) into dist/ui/, the static files the server serves (no CDN).
//   <out>/index.html, <out>/assets/app.js, <out>/assets/app.css  ← ui/index.html, ui/src/main.tsx (+ the CSS it imports)
//   <out>/overlay.js                                               ← ui/src/overlay/overlay.tsx (or .ts), when present
// `node ui/build.mjs` writes dist/ui; `node ui/build.mjs --outdir DIR` writes elsewhere (tests build into a temp dir).
import { build } from 'esbuild'
import { existsSync } from 'node:fs'
import { copyFile, mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { parseArgs } from 'node:util'

const { values } = parseArgs({ options: { outdir: { type: 'string', default: 'dist/ui' } } })
const out = values.outdir
const common = {
  bundle: true, minify: true, format: 'esm', target: 'es2020', jsx: 'automatic', jsxImportSource: 'preact',
  legalComments: 'none', logLevel: 'warning',
}
const overlayEntry = ['ui/src/overlay/overlay.tsx', 'ui/src/overlay/overlay.ts'].find((file) => existsSync(file))

await mkdir(join(out, 'assets'), { recursive: true })
await Promise.all([
  build({ ...common, entryPoints: ['ui/src/main.tsx'], outfile: join(out, 'assets/app.js') }),
  copyFile('ui/index.html', join(out, 'index.html')),
  overlayEntry && build({ ...common, entryPoints: [overlayEntry], outfile: join(out, 'overlay.js'), format: 'iife' }),
])
