import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import type { TlsOptions } from 'node:tls';
import { tempDir } from './files.js';

// Certificates for the TLS proxy, made with openssl in a temporary directory: a CA, a server
// certificate signed by it (for `host`, or already expired), and a client certificate.
export interface TestCerts {
  dir: string;
  /** Paths, for --ca / --cert / --key. */
  ca: string;
  clientCert: string;
  clientKey: string;
  /** What startProxy({ tls }) needs to serve the server certificate. */
  server: TlsOptions;
}

export function makeCerts(opts: { host?: string; expired?: boolean } = {}): TestCerts {
  const dir = tempDir();
  const ssl = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  ssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=wq-test-ca', '-keyout', 'ca.key', '-out', 'ca.pem']);
  const host = opts.host ?? 'localhost';
  for (const name of ['server', 'client']) {
    ssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${name === 'server' ? host : 'wq-client'}`, '-keyout', `${name}.key`, '-out', `${name}.csr`]);
    writeFileSync(`${dir}/${name}.ext`, name === 'server' ? `subjectAltName=DNS:${host}\n` : 'extendedKeyUsage=clientAuth\n');
    // -days -1: notAfter a day before notBefore (now), so the certificate has already expired.
    const days = name === 'server' && opts.expired ? '-1' : '1';
    ssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', days, '-extfile', `${name}.ext`, '-out', `${name}.pem`]);
  }
  const read = (f: string) => readFileSync(`${dir}/${f}`);
  return {
    dir,
    ca: `${dir}/ca.pem`,
    clientCert: `${dir}/client.pem`,
    clientKey: `${dir}/client.key`,
    server: { key: read('server.key'), cert: read('server.pem'), ca: read('ca.pem') },
  };
}
