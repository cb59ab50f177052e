// Bundles the UI and the overlay into dist/ui/, the static files the server serves (no CDN, no network).
import { build } from 'esbuild'
import { copyFile, mkdir } from 'node:fs/promises'

const common = { bundle: true, minify: true, format: 'esm', target: 'es2020', jsx: 'automatic', jsxImportSource: 'preact', logLevel: 'warning' }

await mkdir('dist/ui/assets', { recursive: true })
await Promise.all([
  build({ ...common, entryPoints: ['ui/src/main.tsx'], outfile: 'dist/ui/assets/app.js' }),
  copyFile('ui/index.html', 'dist/ui/index.html'),
])
