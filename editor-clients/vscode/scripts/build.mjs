// Bundles the extension (Node, CommonJS, `vscode` provided by the host) and the chat
// webview script (browser IIFE) with esbuild, so the .vsix needs no node_modules.
import { build } from 'esbuild';

const common = { bundle: true, sourcemap: true, minify: false, logLevel: 'warning' };

await Promise.all([
  build({
    ...common,
    entryPoints: ['src/extension.ts'],
    outfile: 'dist/extension.js',
    platform: 'node',
    format: 'cjs',
    target: 'node18',
    external: ['vscode'],
  }),
  build({
    ...common,
    entryPoints: ['src/webview/chat.ts'],
    outfile: 'dist/webview/chat.js',
    platform: 'browser',
    format: 'iife',
    target: 'es2020',
  }),
]);
