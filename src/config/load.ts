// The one configuration loader: find the file, parse YAML, apply defaults and the strict schema, resolve
// relative paths against the file's directory, and hand back a deeply frozen, typed Config.
// Every problem is reported with the key path it concerns; callers exit with EX_CONFIG (78).
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { configSchema, type Config } from './schema.js';

export const DEFAULT_CONFIG_PATH = '/etc/smarthost/smarthost.yaml';
export const EX_CONFIG = 78;

export class ConfigError extends Error {
  readonly code = 'SMARTHOST_E_CONFIG';
  constructor(
    readonly file: string,
    readonly problems: readonly string[],
  ) {
    super(`${file}: invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** `--config PATH`, else $SMARTHOST_CONFIG, else /etc/smarthost/smarthost.yaml. */
export function resolveConfigPath(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return resolve(flag ?? env['SMARTHOST_CONFIG'] ?? DEFAULT_CONFIG_PATH);
}

export function loadConfig(file: string): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [`cannot read the configuration file: ${(err as Error).message}`]);
  }
  return parseConfig(text, file);
}

/** Parse and validate configuration text; `file` names the source and anchors relative paths. */
export function parseConfig(text: string, file: string): Config {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => `YAML syntax: ${e.message.split('\n')[0]}`),
    );
  }
  const raw: unknown = doc.toJS() ?? {};
  const result = configSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(file, result.error.issues.map(describeIssue));
  return deepFreeze(resolvePaths(result.data, dirname(resolve(file))));
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const where = issue.path.length > 0 ? issue.path.map(String).join('.') : '(top level)';
  if (issue.code === 'unrecognized_keys') {
    const prefix = issue.path.length > 0 ? `${where}.` : '';
    return issue.keys.map((key) => `${prefix}${key}: unknown key`).join('; ');
  }
  return `${where}: ${issue.message}`;
}

type Mutable = z.output<typeof configSchema>;

function resolvePaths(config: Mutable, base: string): Mutable {
  const at = (p: string): string => resolve(base, p);
  config.spool.path = at(config.spool.path);
  config.tls.cert = at(config.tls.cert);
  config.tls.key = at(config.tls.key);
  config.dkim.keyDir = at(config.dkim.keyDir);
  for (const key of config.dkim.keys) key.privateKey = at(key.privateKey);
  if (config.devSink) config.devSink.dir = at(config.devSink.dir);
  return config;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
