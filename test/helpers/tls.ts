import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { type CertFiles, type CertNames, makeCa, makeCert } from '../../src/tls/certificates.js';

/** A test CA made at test time, in a temporary directory, and certificates it signs. */
export class TestPki {
  private constructor(
    readonly dir: string,
    readonly ca: CertFiles,
  ) {}

  static async create(): Promise<TestPki> {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'timbang-tls-'));
    return new TestPki(dir, await makeCa(dir));
  }

  /** A certificate signed by this CA; `localhost` and 127.0.0.1 unless names say otherwise. */
  cert(file: string, names: CertNames = { dns: ['localhost'], ip: ['127.0.0.1'] }): Promise<CertFiles> {
    return makeCert(this.dir, file, names, this.ca);
  }

  /** A certificate signed by nobody this CA knows. */
  selfSigned(file: string, names: CertNames = { dns: ['localhost'], ip: ['127.0.0.1'] }): Promise<CertFiles> {
    return makeCert(this.dir, file, names);
  }

  async caPem(): Promise<Buffer> {
    return fs.readFile(this.ca.cert);
  }

  async remove(): Promise<void> {
    await fs.rm(this.dir, { recursive: true, force: true });
  }
}

/**
 * Opens a TLS connection and resolves once the handshake is done (or rejects with its error): the peer
 * certificate, the ALPN choice and the socket, for the caller to use and destroy.
 */
export function handshake(
  port: number,
  options: tls.ConnectionOptions,
): Promise<{ socket: tls.TLSSocket; cn: string; alpn: string | false }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ...options });
    socket.once('secureConnect', () => {
      const subject = socket.getPeerCertificate().subject;
      resolve({ socket, cn: String(subject?.CN ?? ''), alpn: socket.alpnProtocol ?? false });
    });
    socket.once('error', reject);
  });
}
