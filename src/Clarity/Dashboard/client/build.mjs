// Bundles every client/entries/*.js into ../../wwwroot/js/ and every client/entries/*.css into ../../wwwroot/css/
// (ES modules, minified). Run by src/Clarity/Clarity.csproj before static web assets are collected.
import { build } from 'esbuild';
import { readdirSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const entries = join(here, 'entries');
const wwwroot = join(here, '..', '..', 'wwwroot');
const files = readdirSync(entries).sort();
const js = files.filter(f => f.endsWith('.js')).map(f => join(entries, f));
const css = files.filter(f => f.endsWith('.css')).map(f => join(entries, f));

const common = { bundle: true, minify: true, sourcemap: false, legalComments: 'none', logLevel: 'warning', target: ['es2022', 'chrome110', 'firefox115', 'safari16'] };
mkdirSync(join(wwwroot, 'js'), { recursive: true });
mkdirSync(join(wwwroot, 'css'), { recursive: true });
await Promise.all([
  js.length && build({ ...common, entryPoints: js, outdir: join(wwwroot, 'js'), format: 'esm', splitting: false }),
  css.length && build({ ...common, entryPoints: css, outdir: join(wwwroot, 'css'), loader: { '.svg': 'dataurl', '.woff2': 'file' } }),
]);
