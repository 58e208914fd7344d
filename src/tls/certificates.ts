import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { TimbangError } from '../errors.js';

const run = promisify(execFile);

/** Paths of a certificate and its key (PEM), and the certificate's SHA-256 fingerprint. */
export interface CertFiles {
  cert: string;
  key: string;
  fingerprint256: string;
}

/** What a certificate is for: host names and IP addresses (its subjectAltName). */
export interface CertNames {
  dns?: string[];
  ip?: string[];
}

/**
 * Short-lived certificates made with the `openssl` command (OpenSSL 3, Debian's `openssl` package),
 * for `timbang demo --tls` and the tests: Node can make keys but not X.509 certificates, and a
 * hand-written DER encoder is no place to save a dependency. P-256 keys, valid for `days` days.
 */
async function openssl(args: string[]): Promise<void> {
  try {
    await run('openssl', args, { timeout: 20_000 });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT')
      throw new TimbangError(
        'ERR_TLS',
        'making a certificate needs the openssl command (apt install openssl)',
      );
    throw new TimbangError('ERR_TLS', `openssl failed: ${(e.stderr ?? e.message).trim().split('\n')[0]}`);
  }
}

const KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function san(names: CertNames): string {
  const parts = [...(names.dns ?? []).map((n) => `DNS:${n}`), ...(names.ip ?? []).map((n) => `IP:${n}`)];
  return `subjectAltName=${parts.join(',')}`;
}

async function described(cert: string, key: string): Promise<CertFiles> {
  const x509 = new crypto.X509Certificate(await fs.readFile(cert));
  return { cert, key, fingerprint256: x509.fingerprint256 };
}

/**
 * One `openssl req -x509`: a new P-256 key and its certificate (self-signed, or signed by `signer`),
 * written to `<base>.pem` and `<base>.key`, with the given subject and extensions.
 */
async function issue(
  base: string,
  subject: string,
  extensions: string[],
  days: number,
  signer?: CertFiles,
): Promise<CertFiles> {
  const cert = `${base}.pem`;
  const key = `${base}.key`;
  const args = [
    'req',
    '-x509',
    ...KEY,
    '-keyout',
    key,
    '-out',
    cert,
    '-days',
    String(days),
    '-subj',
    subject,
  ];
  for (const ext of extensions) args.push('-addext', ext);
  if (signer !== undefined) args.push('-CA', signer.cert, '-CAkey', signer.key);
  await openssl(args);
  return described(cert, key);
}

/** A certificate authority (self-signed, may sign certificates only). */
export function makeCa(dir: string, name = 'timbang test CA', days = 2): Promise<CertFiles> {
  return issue(
    path.join(dir, 'ca'),
    `/CN=${name}`,
    ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign'],
    days,
  );
}

/**
 * A server certificate for `names`, signed by `ca`, or self-signed without one. Written as
 * `<file>.pem` and `<file>.key` in dir.
 */
export function makeCert(
  dir: string,
  file: string,
  names: CertNames,
  ca?: CertFiles,
  days = 2,
): Promise<CertFiles> {
  const cn = names.dns?.[0] ?? names.ip?.[0] ?? file;
  return issue(
    path.join(dir, file),
    `/CN=${cn}`,
    [san(names), 'basicConstraints=critical,CA:FALSE', 'extendedKeyUsage=serverAuth'],
    days,
    ca,
  );
}
