// Checks of the files a configuration names (TLS certificate and key, DKIM private keys): readable,
// parseable and consistent. Returned as problems keyed by config path, like schema errors, so that
// `serve` and `check-config` refuse a bad file the same way a bad key is refused. DKIM keys are read
// here for the signer too (readConfigFiles, loadDkimKeys), so the daemon and check-config judge them
// alike, and the daemon reads each file once.
import { existsSync, readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { parseSigningKey, type SigningKey } from '../dkim/key-file.js';
import type { Config, DkimKeyConfig } from './schema.js';

export function checkConfigFiles(config: Config): string[] {
  const createdAtStart = (entry: DkimKeyConfig): boolean => entry.create === true && !existsSync(entry.privateKey);
  return [...checkTls(config), ...loadDkimKeys(config.dkim.keys, createdAtStart).problems];
}

export interface ConfigFiles {
  readonly tls: TlsFiles;
  readonly dkimKeys: readonly SigningKey[];
}

/** For the daemon: every file the configuration names, read once, or every problem with them. */
export function readConfigFiles(config: Config): ConfigFiles | string[] {
  const tls = readTlsFiles(config);
  const dkim = loadDkimKeys(config.dkim.keys);
  if (Array.isArray(tls) || dkim.problems.length > 0) return [...(Array.isArray(tls) ? tls : []), ...dkim.problems];
  return { tls, dkimKeys: dkim.keys };
}

export interface LoadedDkimKeys {
  readonly keys: SigningKey[];
  /** One line per key that cannot be used, naming its config path and file. */
  readonly problems: string[];
}

/** Read and parse every configured DKIM key (each file once), but those `skip` says. */
export function loadDkimKeys(entries: readonly DkimKeyConfig[], skip: (entry: DkimKeyConfig) => boolean = () => false): LoadedDkimKeys {
  const keys: SigningKey[] = [];
  const problems: string[] = [];
  entries.forEach((entry, i) => {
    if (skip(entry)) return;
    const key = loadDkimKey(entry, `dkim.keys.${i}.privateKey`);
    if (typeof key === 'string') problems.push(key);
    else keys.push(key);
  });
  return { keys, problems };
}

/** The parsed key, or a problem string naming the config path and the file. */
export function loadDkimKey(entry: DkimKeyConfig, where: string): SigningKey | string {
  const pem = readable(entry.privateKey, where);
  if (typeof pem === 'string') return pem;
  try {
    return parseSigningKey(entry, pem);
  } catch (err) {
    return `${where}: ${(err as Error).message}`;
  }
}

function checkTls(config: Config): string[] {
  const { cert, key, selfSigned } = config.tls;
  if (selfSigned && !existsSync(cert) && !existsSync(key)) return []; // created on first start
  const files = readTlsFiles(config);
  return Array.isArray(files) ? files : [];
}

export interface TlsFiles {
  readonly cert: Buffer;
  readonly key: Buffer;
}

/** The certificate and key, read once and checked to be a usable pair, or the problems. */
export function readTlsFiles(config: Config): TlsFiles | string[] {
  const { cert, key } = config.tls;
  const certPem = readable(cert, 'tls.cert');
  const keyPem = readable(key, 'tls.key');
  if (typeof certPem === 'string' || typeof keyPem === 'string') {
    return [certPem, keyPem].filter((p): p is string => typeof p === 'string');
  }
  try {
    createSecureContext({ cert: certPem, key: keyPem });
    return { cert: certPem, key: keyPem };
  } catch (err) {
    return [`tls.cert/tls.key: ${cert} and ${key} are not a usable certificate and key: ${(err as Error).message}`];
  }
}

/** The file's contents, or a problem string naming the key and the reason. */
function readable(file: string, where: string): Buffer | string {
  try {
    return readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    return `${where}: cannot read ${file}: ${reason}`;
  }
}
