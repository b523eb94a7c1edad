import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCertificates {
  readonly dir: string;
  readonly caFile: string;
  readonly ca: Buffer;
  /** Server certificate for 127.0.0.1 / localhost; its key is encrypted with `keyPassword`. */
  readonly certFile: string;
  readonly keyFile: string;
  readonly keyPassword: string;
  /** A client certificate signed by the CA. */
  readonly clientCert: Buffer;
  readonly clientKey: Buffer;
  /** A client certificate from a CA the server does not trust. */
  readonly strangerCert: Buffer;
  readonly strangerKey: Buffer;
  remove(): void;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

/** A throwaway CA, a server certificate and client certificates, made with the openssl CLI in a temp dir. */
export function makeCertificates(): TestCertificates {
  const dir = mkdtempSync(join(tmpdir(), 'pgwarden-rest-tls-'));
  const keyPassword = 'kEy-pass';
  const selfSigned = (name: string, cn: string): void =>
    openssl(dir, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${cn}`]);
  const signed = (name: string, cn: string, ca: string, extensions: string, passOut?: string): void => {
    openssl(dir, ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`]);
    openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', extensions]);
    if (passOut) openssl(dir, ['pkey', '-in', `${name}.key`, '-out', `${name}.enc.key`, '-aes256', '-passout', `pass:${passOut}`]);
  };
  selfSigned('ca', 'pgwarden test CA');
  selfSigned('other-ca', 'stranger CA');
  execFileSync('sh', ['-c', `printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\nextendedKeyUsage=serverAuth\\n' > server.ext; printf 'extendedKeyUsage=clientAuth\\n' > client.ext`], { cwd: dir });
  signed('server', 'localhost', 'ca', 'server.ext', keyPassword);
  signed('client', 'operator', 'ca', 'client.ext');
  signed('stranger', 'stranger', 'other-ca', 'client.ext');
  const file = (name: string): Buffer => readFileSync(join(dir, name));
  return {
    dir,
    caFile: join(dir, 'ca.crt'),
    ca: file('ca.crt'),
    certFile: join(dir, 'server.crt'),
    keyFile: join(dir, 'server.enc.key'),
    keyPassword,
    clientCert: file('client.crt'),
    clientKey: file('client.key'),
    strangerCert: file('stranger.crt'),
    strangerKey: file('stranger.key'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
