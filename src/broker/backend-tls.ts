import fs from 'node:fs';
import net from 'node:net';
import type tls from 'node:tls';
import { TimbangError } from '../errors.js';
import type { BackendTlsOptions } from './options.js';

/**
 * How the broker speaks TLS to backends written https://host:port: certificates verified by default
 * (against `ca` when given, else Node's bundled roots), SNI and the name checked set to the backend's
 * host, TLS 1.2 at least. `insecure` turns verification off, for labs.
 */
export class BackendTls {
  private readonly ca: Buffer | undefined;

  constructor(readonly opts: BackendTlsOptions) {
    if (opts.ca === undefined) return;
    try {
      this.ca = fs.readFileSync(opts.ca);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? String(err);
      throw new TimbangError('ERR_TLS', `cannot read the backend CA file ${opts.ca}: ${code}`);
    }
    if (!this.ca.includes('-----BEGIN CERTIFICATE-----'))
      throw new TimbangError('ERR_TLS', `the backend CA file ${opts.ca} holds no PEM certificate`);
  }

  /** Same settings and the same CA bytes. */
  sameAs(other: BackendTls): boolean {
    const a = this.ca;
    const b = other.ca;
    const sameCa = a === undefined || b === undefined ? a === b : a.equals(b);
    return sameCa && this.opts.insecure === other.opts.insecure;
  }

  /** The options of tls.connect to a backend (without host, port and session). */
  connectOptions(host: string): tls.ConnectionOptions {
    const options: tls.ConnectionOptions = {
      minVersion: 'TLSv1.2',
      rejectUnauthorized: !this.opts.insecure,
      ALPNProtocols: ['http/1.1'],
    };
    if (this.ca !== undefined) options.ca = this.ca;
    // SNI carries host names only (RFC 6066 §3); an IP address is still checked against the certificate.
    if (net.isIP(host) === 0) options.servername = host;
    return options;
  }
}
