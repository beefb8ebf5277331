// Types for the part of mailauth's internals the signer uses: the relaxed body canonicaliser and
// hasher (mailauth exports no types for it). Pinned to the mailauth version in package.json.
declare module 'mailauth/lib/dkim/body/relaxed.js' {
  export class RelaxedHash {
    constructor(algorithm?: 'sha256' | 'sha1', maxBodyLength?: number);
    update(chunk: Buffer | null, final?: boolean): void;
    digest(encoding: 'base64'): string;
  }
}
