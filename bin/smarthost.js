#!/usr/bin/env node
// Launcher for the `smarthost` command: runs the compiled CLI from dist/.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli/index.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('smarthost: dist/ is missing; run `npm run build` (npm install does it) first\n');
  process.exit(70);
}
await import(entry.href);
