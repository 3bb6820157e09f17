import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One file of the live page, as served. */
export interface PageAsset {
  readonly contentType: string;
  readonly body: Buffer;
}

/** URL path -> where the file is: the page's own files under web/live-cluster, uPlot from its package (no CDN: nodes may have no internet). */
const assetFiles: Readonly<Record<string, { readonly from: 'page' | 'uplot'; readonly file: string; readonly contentType: string }>> = {
  '/': { from: 'page', file: 'index.html', contentType: 'text/html; charset=utf-8' },
  '/page.js': { from: 'page', file: 'page.js', contentType: 'text/javascript; charset=utf-8' },
  '/page.css': { from: 'page', file: 'page.css', contentType: 'text/css; charset=utf-8' },
  '/uplot.min.js': { from: 'uplot', file: 'uPlot.iife.min.js', contentType: 'text/javascript; charset=utf-8' },
  '/uplot.min.css': { from: 'uplot', file: 'uPlot.min.css', contentType: 'text/css; charset=utf-8' },
};

/**
 * The live page's files, read on first use and kept (about 60 KB). Only the fixed paths above
 * are served: nothing of the URL reaches the file system. Throws, naming the file, when one is
 * missing (a package installed without web/).
 */
export class PageAssets {
  private readonly loaded = new Map<string, PageAsset>();

  get(path: string): PageAsset | null {
    const spec = assetFiles[path];
    if (spec === undefined) return null;
    const cached = this.loaded.get(path);
    if (cached !== undefined) return cached;
    const file = join(spec.from === 'page' ? pageDir() : uplotDir(), spec.file);
    let body: Buffer;
    try {
      body = readFileSync(file);
    } catch (error) {
      throw new Error(`the live page's file ${file} cannot be read (${(error as Error).message})`, { cause: error });
    }
    const asset = { contentType: spec.contentType, body };
    this.loaded.set(path, asset);
    return asset;
  }
}

/** web/live-cluster, found by walking up from this file (works from src/ and from dist/src/). */
function pageDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'web', 'live-cluster');
    if (existsSync(join(candidate, 'index.html'))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`cannot find web/live-cluster/index.html above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

function uplotDir(): string {
  // The package's main file is dist/uPlot.cjs.js; the browser builds sit next to it.
  return dirname(createRequire(import.meta.url).resolve('uplot'));
}
