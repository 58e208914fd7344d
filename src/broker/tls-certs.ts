import crypto from 'node:crypto';
import fs from 'node:fs';
import tls from 'node:tls';
import { TimbangError } from '../errors.js';
import type { ListenerTls } from './options.js';

/**
 * What every TLS listener runs with, as nginx's and HAProxy's defaults do today: TLS 1.2 and 1.3 only,
 * Node's (OpenSSL's) default cipher list, and the server's order of preference.
 */
export const TLS_SERVER_DEFAULTS = { minVersion: 'TLSv1.2', honorCipherOrder: true } as const;

/** The native side of a tls.Server's secure context, as far as renewSessionTickets uses it. */
interface TicketKeyHook {
  enableTicketKeyCallback?: () => void;
  onticketkeycallback?: (name: Buffer, iv: Buffer, encrypt: boolean) => unknown[];
}

/**
 * Makes a TLS server issue a fresh session ticket on every resumed handshake, as nginx and HAProxy (with
 * OpenSSL's own ticket keys) do. Node's built-in ticket key callback accepts a valid ticket without
 * asking for a new one, so after a TLS 1.3 resumption the client gets no new ticket; clients use a TLS 1.3
 * ticket once (RFC 8446 §C.4: OpenSSL's, hence wrk's, and the browsers'), so every other new connection
 * was a full handshake (measured with wrk and Connection: close: 50% resumed, nginx 99%). Here the
 * callback answers "valid, renew" (2), so each resumption brings its successor: 98-99% resumed. The
 * server's CPU per new connection stays about the same (the saved signature costs about what the two
 * callbacks into JavaScript do: 491 against 478 µs, medians of 10 interleaved rounds, within the noise);
 * the gain is the client's (no certificate chain to check again) and nginx's behaviour.
 *
 * It uses the native secure context's ticket key hook (server._sharedCreds.context: undocumented, present
 * in Node 20, 22 and 24, the one OpenSSL's SSL_CTX_set_tlsext_ticket_key_cb calls). Where it is missing,
 * Node's own behaviour stays and this returns false. The keys are random, per server and per certificate
 * load (a reload starts new sessions, as Node's own keys did); tickets are AES-128-CBC + HMAC-SHA256 under
 * them, as with Node's and OpenSSL's own keys.
 */
export function renewSessionTickets(server: tls.Server): boolean {
  // biome-ignore lint/suspicious/noExplicitAny: _sharedCreds is Node's internal field (see above).
  const hook = (server as any)._sharedCreds?.context as TicketKeyHook | undefined;
  if (hook === undefined || typeof hook.enableTicketKeyCallback !== 'function') return false;
  const name = crypto.randomBytes(16);
  const hmacKey = crypto.randomBytes(32);
  const aesKey = crypto.randomBytes(16);
  const renew = [2, hmacKey, aesKey];
  const unknown = [0, hmacKey, aesKey]; // not ours (an old key, another process): a full handshake
  hook.onticketkeycallback = (ticketName, _iv, encrypt) =>
    encrypt ? [1, hmacKey, aesKey, name, crypto.randomBytes(16)] : ticketName.equals(name) ? renew : unknown;
  hook.enableTicketKeyCallback();
  return true;
}

/** One certificate as loaded: what a secure context is made from, and a line to log about it. */
interface LoadedPair {
  options: tls.SecureContextOptions;
  summary: string;
}

/** A listener's certificates, loaded and checked: the default one and one context per SNI name. */
export interface LoadedCertificates {
  default: tls.SecureContextOptions;
  sni: Map<string, tls.SecureContext>;
  /** One line per certificate: name, subject, expiry, fingerprint. */
  summary: string[];
}

function readPem(path: string, what: string): Buffer {
  try {
    return fs.readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new TimbangError('ERR_TLS', `cannot read the ${what} ${path}: ${code}`);
  }
}

/**
 * Reads and checks one certificate and key: both files readable, the certificate PEM, the key PEM (and
 * the passphrase right), the key the certificate's. Throws one clear line naming the file otherwise.
 */
export function loadPair(certPath: string, keyPath: string, passphrase: string | undefined): LoadedPair {
  const cert = readPem(certPath, 'certificate');
  const key = readPem(keyPath, 'key');
  let x509: crypto.X509Certificate;
  try {
    x509 = new crypto.X509Certificate(cert);
  } catch {
    throw new TimbangError('ERR_TLS', `${certPath} is not a PEM certificate`);
  }
  let privateKey: crypto.KeyObject;
  try {
    privateKey = crypto.createPrivateKey({ key, passphrase, format: 'pem' });
  } catch (err) {
    const message = String((err as Error).message);
    if (/passphrase|decrypt/i.test(message))
      throw new TimbangError('ERR_TLS', `cannot decrypt the key ${keyPath}: wrong or missing passphrase`);
    throw new TimbangError('ERR_TLS', `${keyPath} is not a PEM private key`);
  }
  if (!x509.checkPrivateKey(privateKey))
    throw new TimbangError('ERR_TLS', `the key ${keyPath} does not match the certificate ${certPath}`);
  const options: tls.SecureContextOptions = { cert, key, passphrase, ...TLS_SERVER_DEFAULTS };
  try {
    tls.createSecureContext(options); // what OpenSSL itself refuses (e.g. a key too weak for its policy)
  } catch (err) {
    throw new TimbangError('ERR_TLS', `${certPath}: ${(err as Error).message}`);
  }
  const expires = new Date(x509.validTo);
  const expired = expires.getTime() < Date.now() ? ' EXPIRED' : '';
  return {
    options,
    summary: `${certPath} (${x509.subject.replaceAll('\n', ', ')}; until ${expires.toISOString().slice(0, 10)}${expired}; sha256 ${x509.fingerprint256})`,
  };
}

/** Loads a listener's certificates; throws a TimbangError (ERR_TLS) naming the first bad file. */
export function loadCertificates(files: ListenerTls): LoadedCertificates {
  const main = loadPair(files.cert, files.key, files.passphrase);
  const sni = new Map<string, tls.SecureContext>();
  const summary = [`default ${main.summary}`];
  for (const entry of files.sni ?? []) {
    const pair = loadPair(entry.cert, entry.key, entry.passphrase);
    sni.set(entry.servername.toLowerCase(), tls.createSecureContext(pair.options));
    summary.push(`${entry.servername} ${pair.summary}`);
  }
  return { default: main.options, sni, summary };
}

/** The context for a ClientHello's server name: exact name first, then `*.` one label up. */
export function findContext(
  sni: ReadonlyMap<string, tls.SecureContext>,
  servername: string,
): tls.SecureContext | undefined {
  if (sni.size === 0) return undefined;
  const name = servername.toLowerCase();
  const exact = sni.get(name);
  if (exact !== undefined) return exact;
  const dot = name.indexOf('.');
  return dot > 0 ? sni.get(`*${name.slice(dot)}`) : undefined;
}

/**
 * The certificates of one TLS listener (or the admin's), swappable while it runs: a reload loads and
 * checks the new files first, and only then hands them to new handshakes (server.setSecureContext and a
 * new SNI map); connections already open keep the context they were made with.
 */
export class CertStore {
  private loaded: LoadedCertificates;
  private readonly servers: tls.Server[] = [];

  constructor(private files: ListenerTls) {
    this.loaded = loadCertificates(files);
  }

  get summary(): readonly string[] {
    return this.loaded.summary;
  }

  /** The options a tls.Server starts with: the default certificate and the SNI lookup. */
  serverOptions(): tls.TlsOptions {
    return { ...this.loaded.default, SNICallback: this.sniCallback };
  }

  attach(server: tls.Server): void {
    this.servers.push(server);
    renewSessionTickets(server);
  }

  /** SNI: the name's own certificate, or the default one (a falsy context means the server's default). */
  readonly sniCallback = (
    servername: string,
    cb: (err: Error | null, ctx?: tls.SecureContext) => void,
  ): void => {
    cb(null, findContext(this.loaded.sni, servername));
  };

  /** The files now in use: the default pair and every SNI pair. */
  get paths(): string[] {
    const f = this.files;
    return [f.cert, f.key, ...(f.sni ?? []).flatMap((e) => [e.cert, e.key])];
  }

  /**
   * Loads `files` (by default the same paths again) and returns what applies them; throws, changing
   * nothing, when a file is bad. Two steps so a reload of several listeners is all or nothing.
   */
  prepare(files: ListenerTls = this.files): () => void {
    const next = loadCertificates(files);
    return () => {
      this.files = files;
      this.loaded = next;
      for (const server of this.servers) {
        server.setSecureContext(next.default);
        renewSessionTickets(server); // the new context has Node's ticket callback again
      }
    };
  }
}
