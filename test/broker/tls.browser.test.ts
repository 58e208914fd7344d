import crypto from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { CertFiles } from '../../src/tls/certificates.js';
import { brokerFor, Stack } from '../helpers/backends.js';
import { listen } from '../helpers/net.js';
import { TestPki } from '../helpers/tls.js';

/** Debian's chromium, installed by scripts/setup-system.sh. */
const CHROMIUM = process.env.TIMBANG_CHROMIUM ?? '/usr/bin/chromium';

const stack = new Stack();
let browser: Browser;
let pki: TestPki;
let cert: CertFiles;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `chromium not found at ${CHROMIUM}: run 'sudo bash scripts/setup-system.sh' (installs Debian's chromium), or set TIMBANG_CHROMIUM`,
    );
  }
  pki = await TestPki.create();
  cert = await pki.cert('browser');
  // Chromium trusts exactly this key (its SPKI hash), nothing else: the page is still verified, by pin.
  const spki = crypto
    .createHash('sha256')
    .update(crypto.createPublicKey(await readFile(cert.cert)).export({ type: 'spki', format: 'der' }))
    .digest('base64');
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 30_000,
    args: [`--ignore-certificate-errors-spki-list=${spki}`],
  });
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await pki?.remove();
});
afterEach(() => stack.closeAll());

describe('a browser over HTTPS through the broker', () => {
  it('loads a page and its script over TLS 1.3 / HTTP/1.1; the backend sees X-Forwarded-Proto: https', async () => {
    const protos: string[] = [];
    const backend = http.createServer((req, res) => {
      protos.push(String(req.headers['x-forwarded-proto']));
      if (req.url === '/app.js') {
        res.writeHead(200, { 'content-type': 'text/javascript' });
        res.end("document.getElementById('out').textContent = 'script ran over ' + location.protocol;");
        return;
      }
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(
        '<!doctype html><title>timbang https</title><p id="out">waiting</p><script src="/app.js"></script>',
      );
    });
    const port = await listen(backend);
    stack.add(() => new Promise((r) => backend.close(() => r())));
    const { broker } = await brokerFor(stack, [port], { tls: { cert: cert.cert, key: cert.key } });

    const context = await browser.newContext();
    stack.add(() => context.close());
    const page = await context.newPage();
    const response = await page.goto(`https://localhost:${broker.port}/`);
    expect(response?.status()).toBe(200);
    const security = await response?.securityDetails();
    expect(security?.protocol).toBe('TLS 1.3');
    expect(security?.subjectName).toBe('localhost');
    await page.locator('#out').filter({ hasText: 'script ran over https:' }).waitFor({ timeout: 10_000 });
    // The page, its script (and the browser's favicon request): every one arrived as https.
    expect(protos.length).toBeGreaterThanOrEqual(2);
    expect(new Set(protos)).toEqual(new Set(['https']));
  });
});
