// Bundles the UI (and, once it exists, the overlay) into dist/ui/, the static files the server serves (no CDN).
//   dist/ui/index.html, dist/ui/assets/app.js, dist/ui/assets/app.css  ← ui/index.html, ui/src/main.tsx (+ its CSS)
//   dist/ui/overlay.js                                                   ← ui/src/overlay/overlay.tsx (or .ts)
import { build } from 'esbuild'
import { existsSync } from 'node:fs'
import { copyFile, mkdir } from 'node:fs/promises'

const common = {
  bundle: true, minify: true, format: 'esm', target: 'es2020', jsx: 'automatic', jsxImportSource: 'preact',
  legalComments: 'none', logLevel: 'warning',
}
const overlayEntry = ['ui/src/overlay/overlay.tsx', 'ui/src/overlay/overlay.ts'].find((file) => existsSync(file))

await mkdir('dist/ui/assets', { recursive: true })
await Promise.all([
  build({ ...common, entryPoints: ['ui/src/main.tsx'], outfile: 'dist/ui/assets/app.js', loader: { '.css': 'css' } }),
  copyFile('ui/index.html', 'dist/ui/index.html'),
  overlayEntry && build({ ...common, entryPoints: [overlayEntry], outfile: 'dist/ui/overlay.js', format: 'iife' }),
])
