// The commands that smarthost suggests in its messages ("change it with: …"), written so that they
// work when pasted into the shell that ran smarthost: the program as that shell finds it
// ("smarthost" when that name on PATH is this installation, "npx smarthost" inside the checkout,
// else the launcher's full path), and `--config FILE` unless the file in use is the one found
// without it ($SMARTHOST_CONFIG, else /etc/smarthost/smarthost.yaml).
import { existsSync, realpathSync } from 'node:fs';
import { delimiter, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveConfigPath } from '../config/load.js';

/** The package root (two directories up, from dist/platform/ and src/platform/ alike). */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const LAUNCHER = join(ROOT, 'bin', 'smarthost.js');

/** `smarthost ARGS [--config FILE]` as it can be typed in `cwd`. */
export function commandHint(args: string, configPath: string, cwd: string = process.cwd()): string {
  const config = resolve(configPath) === resolveConfigPath(undefined) ? '' : ` --config ${shellWord(pathFrom(cwd, configPath))}`;
  return `${programName(cwd)} ${args}${config}`;
}

function programName(cwd: string): string {
  if (onPath()) return 'smarthost';
  return isInside(cwd, ROOT) ? 'npx smarthost' : shellWord(LAUNCHER);
}

/** Whether `smarthost` on PATH is this installation's launcher. */
function onPath(): boolean {
  const launcher = realPath(LAUNCHER);
  return (process.env['PATH'] ?? '')
    .split(delimiter)
    .filter((dir) => dir !== '')
    .some((dir) => {
      const candidate = join(dir, 'smarthost');
      return existsSync(candidate) && realPath(candidate) === launcher;
    });
}

function realPath(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

function isInside(path: string, dir: string): boolean {
  const rel = relative(dir, path);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

/** The path relative to `cwd` when it is below it, else absolute. */
function pathFrom(cwd: string, path: string): string {
  const absolute = resolve(path);
  return isInside(absolute, cwd) ? relative(cwd, absolute) || '.' : absolute;
}

function shellWord(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}
