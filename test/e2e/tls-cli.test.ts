import { copyFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { CertFiles } from '../../src/tls/certificates.js';
import { brokerFor, httpBackend, Stack, waitFor } from '../helpers/backends.js';
import { runCli } from '../helpers/cli.js';
import { handshake, TestPki } from '../helpers/tls.js';

const stack = new Stack();
let pki: TestPki;
let ca: Buffer;
let first: CertFiles;
let second: CertFiles;

beforeAll(async () => {
  pki = await TestPki.create();
  ca = await pki.caPem();
  [first, second] = await Promise.all([pki.cert('first'), pki.cert('second')]);
}, 30_000);
afterAll(() => pki.remove());
afterEach(() => stack.closeAll());

const fingerprint = async (port: number) => {
  const { socket } = await handshake(port, { ca, servername: 'localhost' });
  const fp = socket.getPeerCertificate().fingerprint256;
  socket.destroy();
  return fp;
};

describe('timbang broker --tls-cert/--tls-key', () => {
  it('serves HTTPS and reloads the certificate on SIGHUP; a bad one is refused and the old one kept', async () => {
    const web = await httpBackend(stack, 'w');
    const cert = join(pki.dir, 'cli.pem');
    const key = join(pki.dir, 'cli.key');
    await copyFile(first.cert, cert);
    await copyFile(first.key, key);
    const broker = runCli([
      'broker',
      '--port',
      '0',
      '--no-admin',
      '--tls-cert',
      cert,
      '--tls-key',
      key,
      '--backends',
      `127.0.0.1:${web.port}`,
    ]);
    stack.add(() => broker.stop());
    const port = Number((await broker.waitFor(/listening on 127\.0\.0\.1:(\d+) \(HTTPS/))[1]);
    await broker.waitFor(
      /TLS certificate: default .*cli\.pem \(CN=localhost; until \d{4}-\d\d-\d\d; sha256 /,
    );
    expect(await fingerprint(port)).toBe(first.fingerprint256);

    await writeFile(key, 'not a key');
    broker.child.kill('SIGHUP');
    await broker.waitFor(/reload refused, the old certificates stay: .*cli\.key is not a PEM private key/);
    expect(await fingerprint(port)).toBe(first.fingerprint256);

    await copyFile(second.cert, cert);
    await copyFile(second.key, key);
    broker.child.kill('SIGHUP');
    await waitFor(() => (broker.output().match(/certificates reloaded/g) ?? []).length >= 1, 5_000, 'reload');
    expect(await fingerprint(port)).toBe(second.fingerprint256);
  });

  it('refuses half a certificate or a bad file with one line and exit 2', async () => {
    for (const [args, message] of [
      [['--tls-cert', first.cert], /--tls-cert and --tls-key go together/],
      [['--tls-cert', first.cert, '--tls-key', second.key], /does not match the certificate/],
      [
        ['--tls-cert', join(pki.dir, 'none.pem'), '--tls-key', first.key],
        /cannot read the certificate .*none\.pem: ENOENT/,
      ],
      [['--backend-ca', join(pki.dir, 'none.pem')], /cannot read the backend CA file/],
    ] as const) {
      const cli = runCli(['broker', '--port', '0', '--no-admin', ...args]);
      const { code } = await cli.exited;
      expect(code, cli.output()).toBe(2);
      expect(cli.output()).toMatch(message);
      expect(cli.output()).not.toMatch(/\n\s+at /);
    }
  });

  it('timbang client speaks HTTPS: --ca verifies, without it the certificate is refused, --insecure skips', async () => {
    const web = await httpBackend(stack, 'w');
    const { broker } = await brokerFor(stack, [web.port], { tls: { cert: first.cert, key: first.key } });
    const client = async (...extra: string[]) => {
      const cli = runCli([
        'client',
        'Short',
        '--protocol',
        'http',
        '--retries',
        '0',
        '--host',
        'localhost',
        '--port',
        String(broker.port),
        ...extra,
      ]);
      const { code } = await cli.exited;
      return { code, out: cli.output() };
    };
    const ok = await client('--ca', pki.ca.cert);
    expect(ok.code, ok.out).toBe(0);
    expect(ok.out).toMatch(/^\[Client\] Received: /);
    expect(web.requests.at(-1)?.headers['x-forwarded-proto']).toBe('https');
    const refused = await client('--tls');
    expect(refused.code).toBe(1);
    expect(refused.out).toMatch(/SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY|certificate/i);
    const insecure = await client('--insecure');
    expect(insecure.code, insecure.out).toBe(0);
    // A load run over HTTPS.
    const load = await client('--ca', pki.ca.cert, '-n', '20', '-c', '2', '--quiet');
    expect(load.code, load.out).toBe(0);
    expect(web.requests.length).toBe(22);
    const wrongProtocol = runCli(['client', '--tls', '--port', String(broker.port)]);
    expect((await wrongProtocol.exited).code).toBe(2);
    expect(wrongProtocol.output()).toMatch(/need --protocol http/);
  });
});
