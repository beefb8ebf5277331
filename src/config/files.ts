// Checks of the files a configuration names (TLS certificate and key, DKIM private keys): readable,
// parseable and consistent. Returned as problems keyed by config path, like schema errors, so that
// `serve` and `check-config` refuse a bad file the same way a bad key is refused.
import { createPrivateKey } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import type { Config, DkimKeyConfig } from './schema.js';

export function checkConfigFiles(config: Config): string[] {
  return [...checkTls(config), ...config.dkim.keys.flatMap((key, i) => checkDkimKey(key, `dkim.keys.${i}.privateKey`))];
}

function checkTls(config: Config): string[] {
  const { cert, key, selfSigned } = config.tls;
  if (selfSigned && !existsSync(cert) && !existsSync(key)) return []; // created on first start
  const certPem = readable(cert, 'tls.cert');
  const keyPem = readable(key, 'tls.key');
  if (typeof certPem === 'string' || typeof keyPem === 'string') {
    return [certPem, keyPem].filter((p): p is string => typeof p === 'string');
  }
  try {
    createSecureContext({ cert: certPem, key: keyPem });
    return [];
  } catch (err) {
    return [`tls.cert/tls.key: ${cert} and ${key} are not a usable certificate and key: ${(err as Error).message}`];
  }
}

function checkDkimKey(key: DkimKeyConfig, where: string): string[] {
  const pem = readable(key.privateKey, where);
  if (typeof pem === 'string') return [pem];
  try {
    const parsed = createPrivateKey(pem);
    const type = parsed.asymmetricKeyType;
    if (type !== key.algorithm) {
      return [`${where}: ${key.privateKey} is a ${type ?? 'unknown'} key, but algorithm is ${key.algorithm}`];
    }
    const bits = parsed.asymmetricKeyDetails?.modulusLength ?? 0;
    if (type === 'rsa' && bits < 2048) return [`${where}: ${key.privateKey} is RSA-${bits}; DKIM needs 2048 bits or more`];
    return [];
  } catch (err) {
    return [`${where}: ${key.privateKey} is not a PEM private key: ${(err as Error).message}`];
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
