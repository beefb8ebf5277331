// A certificate authority for tests, made at run time: a CA certificate (give it to the daemon as
// delivery.tls.caFile) and server certificates it signs for any names. One RSA key pair serves the CA
// and another all the server certificates, so issuing a certificate costs a signature, not a key
// generation. node:crypto makes the keys; node-forge assembles and signs the X.509 structures.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import forge from 'node-forge';

export interface Issued {
  readonly cert: string;
  readonly key: string;
}

export class TestCa {
  private constructor(
    readonly certPem: string,
    private readonly caCert: forge.pki.Certificate,
    private readonly caKey: forge.pki.rsa.PrivateKey,
    private readonly leafKeyPem: string,
    private readonly leafPublic: forge.pki.rsa.PublicKey,
  ) {}

  static create(name = 'smarthost test CA'): TestCa {
    const ca = keyPair();
    const leaf = keyPair();
    const cert = forge.pki.createCertificate();
    cert.publicKey = ca.publicKey;
    fill(cert, [{ name: 'commonName', value: name }]);
    cert.setIssuer(cert.subject.attributes);
    cert.setExtensions([
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
      { name: 'subjectKeyIdentifier' },
    ]);
    cert.sign(ca.privateKey, forge.md.sha256.create());
    return new TestCa(forge.pki.certificateToPem(cert), cert, ca.privateKey, leaf.pem, leaf.publicKey);
  }

  /** A server certificate for these DNS names (the first is also the common name), signed by this CA. */
  issue(names: readonly string[]): Issued {
    const cert = forge.pki.createCertificate();
    cert.publicKey = this.leafPublic;
    fill(cert, [{ name: 'commonName', value: names[0] ?? 'localhost' }]);
    cert.setIssuer(this.caCert.subject.attributes);
    cert.setExtensions([
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: names.map((value) => ({ type: 2, value })) },
    ]);
    cert.sign(this.caKey, forge.md.sha256.create());
    return { cert: forge.pki.certificateToPem(cert), key: this.leafKeyPem };
  }
}

function keyPair(): { privateKey: forge.pki.rsa.PrivateKey; publicKey: forge.pki.rsa.PublicKey; pem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  return {
    privateKey: forge.pki.privateKeyFromPem(pem) as forge.pki.rsa.PrivateKey,
    publicKey: forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString()) as forge.pki.rsa.PublicKey,
    pem,
  };
}

function fill(cert: forge.pki.Certificate, subject: forge.pki.CertificateField[]): void {
  cert.serialNumber = `01${randomBytes(15).toString('hex')}`;
  cert.validity.notBefore = new Date(Date.now() - 3_600_000);
  cert.validity.notAfter = new Date(Date.now() + 7 * 86_400_000);
  cert.setSubject(subject);
}
