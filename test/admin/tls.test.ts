import { copyFile, writeFile } from 'node:fs/promises';
import https from 'node:https';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startBrokerWithAdmin } from '../../src/admin/run.js';
import { loadConfig } from '../../src/config/load.js';
import { mergeSettings } from '../../src/config/settings.js';
import type { CertFiles } from '../../src/tls/certificates.js';
import { httpBackend, MemoryLog, Stack } from '../helpers/backends.js';
import { handshake, TestPki } from '../helpers/tls.js';

const stack = new Stack();
let pki: TestPki;
let ca: Buffer;
let first: CertFiles;
let second: CertFiles;
let sniCert: CertFiles;

beforeAll(async () => {
  pki = await TestPki.create();
  ca = await pki.caPem();
  [first, second, sniCert] = await Promise.all([
    pki.cert('first'),
    pki.cert('second'),
    pki.cert('sni', { dns: ['api.test'] }),
  ]);
}, 30_000);
afterAll(() => pki.remove());
afterEach(() => stack.closeAll());

/** A call to the admin API over HTTPS, verified with the test CA. */
function adminCall(url: string, method = 'GET'): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = https.request(`${url}`, { method, ca, servername: 'localhost', agent: false }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => {
        text += c.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end();
  });
}

const fingerprint = async (port: number, servername = 'localhost') => {
  const { socket } = await handshake(port, { ca, servername });
  const fp = socket.getPeerCertificate().fingerprint256;
  socket.destroy();
  return fp;
};

describe('TLS from the config file, the admin listener over HTTPS, reload by the API', () => {
  it('serves what the file says and swaps certificates on POST /api/reload; a bad file changes nothing', async () => {
    const web = await httpBackend(stack, 'w');
    const live = join(pki.dir, 'live.pem');
    const liveKey = join(pki.dir, 'live.key');
    await copyFile(first.cert, live);
    await copyFile(first.key, liveKey);
    const file = join(pki.dir, 'timbang.yaml');
    const config = (cert: string, key: string) =>
      [
        'listen: 127.0.0.1:0',
        `tls: { cert: ${cert}, key: ${key}, sni: [{ servername: api.test, cert: ${sniCert.cert}, key: ${sniCert.key} }] }`,
        'listeners:',
        '  - { listen: 127.0.0.1:0, redirect: https }',
        `admin: { listen: 127.0.0.1:0, tls: { cert: ${cert}, key: ${key} } }`,
        `backendTls: { ca: ${pki.ca.cert} }`,
        'backends:',
        `  - { id: w, address: 127.0.0.1:${web.port} }`,
        '',
      ].join('\n');
    await writeFile(file, config(live, liveKey));
    const loaded = await loadConfig(file);
    const running = await startBrokerWithAdmin(mergeSettings(loaded.patch), {
      log: new MemoryLog(),
      configFile: file,
      tickMs: 100,
    });
    stack.add(() => running.close());
    const admin = running.admin!;
    expect(admin.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const state = await adminCall(`${admin.url}/api/state`);
    expect(state.status).toBe(200);
    expect(state.json.listeners).toMatchObject([
      { host: '127.0.0.1', port: running.broker.port, mode: 'http', tls: true },
      { host: '127.0.0.1', port: running.broker.listeners[1].port, mode: 'http', tls: false },
    ]);
    expect(await fingerprint(running.broker.port)).toBe(first.fingerprint256);
    expect(await fingerprint(running.broker.port, 'api.test')).toBe(sniCert.fingerprint256);
    expect(await fingerprint(admin.port)).toBe(first.fingerprint256);

    // Renewed on disk under the same names: a reload hands the new one to new handshakes.
    await copyFile(second.cert, live);
    await copyFile(second.key, liveKey);
    const reloaded = await adminCall(`${admin.url}/api/reload`, 'POST');
    expect(reloaded.status).toBe(200);
    expect(String(reloaded.json.applied)).toContain('certificates reloaded');
    expect(reloaded.json.restartNeeded).toEqual([]);
    expect(await fingerprint(running.broker.port)).toBe(second.fingerprint256);
    expect(await fingerprint(admin.port)).toBe(second.fingerprint256);

    // A file naming a key that is not the certificate's: refused, everything stays as it was.
    await writeFile(file, config(first.cert, second.key));
    const refused = await adminCall(`${admin.url}/api/reload`, 'POST');
    expect(refused.status).toBeGreaterThanOrEqual(400);
    expect(String(refused.json.error)).toContain(
      `the key ${second.key} does not match the certificate ${first.cert}`,
    );
    expect(await fingerprint(running.broker.port)).toBe(second.fingerprint256);

    // New paths in the file are applied live too.
    await writeFile(file, config(first.cert, first.key));
    expect((await adminCall(`${admin.url}/api/reload`, 'POST')).status).toBe(200);
    expect(await fingerprint(running.broker.port)).toBe(first.fingerprint256);
  });

  it('reloads certificates without a config file (what SIGHUP does for --tls-cert/--tls-key)', async () => {
    const web = await httpBackend(stack, 'w');
    const live = join(pki.dir, 'flags.pem');
    const liveKey = join(pki.dir, 'flags.key');
    await copyFile(first.cert, live);
    await copyFile(first.key, liveKey);
    const settings = mergeSettings({
      broker: {
        host: '127.0.0.1',
        port: 0,
        tls: { cert: live, key: liveKey },
        backends: [{ id: 'w', address: `127.0.0.1:${web.port}` }],
      },
      admin: { port: 0 },
    });
    const running = await startBrokerWithAdmin(settings, { log: new MemoryLog() });
    stack.add(() => running.close());
    expect(running.reload).toBeDefined();
    await copyFile(second.cert, live);
    await copyFile(second.key, liveKey);
    await running.reload!();
    expect(await fingerprint(running.broker.port)).toBe(second.fingerprint256);
    await writeFile(live, 'garbage');
    await expect(running.reload!()).rejects.toThrow(`${live} is not a PEM certificate`);
    expect(await fingerprint(running.broker.port)).toBe(second.fingerprint256);
  });
});
