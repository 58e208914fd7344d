import { afterEach, describe, expect, it } from 'vitest';
import { checkAdminExposure, isLoopbackHost, tokenMatches } from '../../src/admin/auth.js';
import { DEFAULT_ADMIN_OPTIONS } from '../../src/admin/options.js';
import { isTimbangError } from '../../src/errors.js';
import { Stack } from '../helpers/backends.js';
import { call, fakeWorker, startLab } from './helpers.js';

const stack = new Stack();
afterEach(() => stack.closeAll());
const TOKEN = 'test-token-0123456789abcdef';

describe('admin exposure', () => {
  it('knows loopback addresses: all of 127.0.0.0/8, ::1 and localhost', () => {
    for (const h of [
      '127.0.0.1',
      '127.0.0.2',
      '127.255.1.9',
      '::1',
      '[::1]',
      'localhost',
      'LOCALHOST',
      '::ffff:127.0.0.1',
    ]) {
      expect(isLoopbackHost(h), h).toBe(true);
    }
    for (const h of [
      '0.0.0.0',
      '::',
      '10.0.0.1',
      '192.168.1.5',
      '128.0.0.1',
      '127.0.0',
      'example.com',
      '::ffff:10.0.0.1',
      '',
    ]) {
      expect(isLoopbackHost(h), h).toBe(false);
    }
  });

  it('refuses to start an admin listener off loopback without a token, with one clear line', () => {
    const off = { ...DEFAULT_ADMIN_OPTIONS, host: '0.0.0.0' };
    let error: unknown;
    try {
      checkAdminExposure(off);
    } catch (err) {
      error = err;
    }
    expect(isTimbangError(error)).toBe(true);
    expect((error as Error).message).toBe(
      'the admin API on 0.0.0.0:8001 would be reachable from other machines: set --admin-token (or admin.token in the config file), or bind it to 127.0.0.1',
    );
    expect(() => checkAdminExposure({ ...off, token: TOKEN })).not.toThrow();
    expect(() => checkAdminExposure({ ...off, enabled: false })).not.toThrow();
    expect(() => checkAdminExposure({ ...DEFAULT_ADMIN_OPTIONS, host: '127.0.0.1' })).not.toThrow();
  });

  it('compares tokens as Bearer or as the Basic password a browser sends', () => {
    expect(tokenMatches(`Bearer ${TOKEN}`, TOKEN)).toBe(true);
    expect(tokenMatches(`bearer  ${TOKEN} `, TOKEN)).toBe(true);
    expect(tokenMatches(`Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}`, TOKEN)).toBe(true);
    expect(tokenMatches(`Bearer ${TOKEN}x`, TOKEN)).toBe(false);
    expect(tokenMatches(`Bearer ${TOKEN.slice(0, -1)}`, TOKEN)).toBe(false);
    expect(tokenMatches(TOKEN, TOKEN)).toBe(false);
    expect(tokenMatches('Bearer ', TOKEN)).toBe(false);
    expect(tokenMatches(undefined, TOKEN)).toBe(false);
  });
});

describe('admin token (on a loopback listener started with one)', () => {
  it('answers 401 without the token, on every path, and serves with it', async () => {
    const w = await fakeWorker(stack, '1');
    const { api } = await startLab(stack, [w.port], {}, { token: TOKEN });
    for (const path of ['/api/state', '/metrics', '/', '/app.js', '/api/events']) {
      const res = await call('GET', `${api}${path}`);
      expect(res.status, path).toBe(401);
      expect(res.json.error).toBe('this admin API needs a token: send Authorization: Bearer <token>');
      expect(res.headers['www-authenticate']).toMatch(/^Basic realm=/);
    }
    expect(
      (await call('GET', `${api}/api/state`, undefined, { authorization: 'Bearer wrong-token-0123456789' }))
        .status,
    ).toBe(401);
    const auth = { authorization: `Bearer ${TOKEN}` };
    expect((await call('GET', `${api}/api/state`, undefined, auth)).status).toBe(200);
    expect((await call('GET', `${api}/metrics`, undefined, auth)).text).toContain('timbang_requests_total');
    expect((await call('PUT', `${api}/api/strategy`, { strategy: 'rr' })).status).toBe(401);
    expect((await call('PUT', `${api}/api/strategy`, { strategy: 'rr' }, auth)).status).toBe(200);
  });

  it('refuses a token shorter than 16 characters', async () => {
    const w = await fakeWorker(stack, '1');
    await expect(startLab(stack, [w.port], {}, { token: 'short' })).rejects.toThrow(
      'the admin token must be at least 16 characters',
    );
  });
});
