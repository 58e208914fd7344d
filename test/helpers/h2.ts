import http2 from 'node:http2';
import net from 'node:net';

export interface H2Reply {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: Buffer;
}

/** One request on a session; resolves with the whole reply, rejects on a stream error. */
export function h2Request(
  session: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
  body?: Buffer | string,
): Promise<H2Reply> {
  return new Promise((resolve, reject) => {
    const req = session.request(headers, { endStream: body === undefined });
    const chunks: Buffer[] = [];
    let got: http2.IncomingHttpHeaders = {};
    req.on('response', (h) => {
      got = h;
    });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () =>
      resolve({ status: Number(got[':status']), headers: got, body: Buffer.concat(chunks) }),
    );
    req.on('error', reject);
    if (body !== undefined) req.end(body);
  });
}

/** A client session over h2c (prior knowledge) to 127.0.0.1:port. */
export async function h2Connect(port: number): Promise<http2.ClientHttp2Session> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    session.once('connect', () => resolve());
    session.once('error', reject);
  });
  return session;
}

export function closeSession(session: http2.ClientHttp2Session): Promise<void> {
  return new Promise((resolve) => {
    if (session.destroyed) return resolve();
    session.once('close', () => resolve());
    session.close();
    setTimeout(() => session.destroy(), 2_000).unref();
  });
}

// --- raw frames, for attacks a well-behaved client library will not send ---

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
export const FRAME = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, GOAWAY: 7, CONTINUATION: 9 } as const;
export const FLAG = { END_STREAM: 1, ACK: 1, END_HEADERS: 4 } as const;

export function frame(
  type: number,
  flags: number,
  stream: number,
  payload: Buffer = Buffer.alloc(0),
): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream & 0x7fffffff, 5);
  return Buffer.concat([h, payload]);
}

/** HPACK integer with an n-bit prefix (RFC 7541 §5.1). */
function hpackInt(value: number, prefixBits: number, first: number): number[] {
  const max = (1 << prefixBits) - 1;
  if (value < max) return [first | value];
  const out = [first | max];
  let v = value - max;
  while (v >= 128) {
    out.push((v % 128) + 128);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

/** A header block of literal fields without indexing, no Huffman: any bytes, as an attacker would send. */
export function hpack(fields: ReadonlyArray<[string, string]>): Buffer {
  const out: number[] = [];
  for (const [name, value] of fields) {
    const n = Buffer.from(name, 'latin1');
    const v = Buffer.from(value, 'latin1');
    out.push(0x00, ...hpackInt(n.length, 7, 0), ...n, ...hpackInt(v.length, 7, 0), ...v);
  }
  return Buffer.from(out);
}

export function rstStream(stream: number, code = 8 /* CANCEL */): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(code, 0);
  return frame(FRAME.RST_STREAM, 0, stream, p);
}

/** A raw client connection: sends the preface and an empty SETTINGS, collects the frames that come back. */
export class RawH2 {
  readonly socket: net.Socket;
  readonly frames: Array<{ type: number; flags: number; stream: number; payload: Buffer }> = [];
  closed = false;
  private buf = Buffer.alloc(0);

  constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.on('error', () => {});
    this.socket.on('close', () => {
      this.closed = true;
    });
    this.socket.on('data', (c: Buffer) => this.onData(c));
    this.socket.write(Buffer.concat([PREFACE, frame(FRAME.SETTINGS, 0, 0)]));
  }

  write(b: Buffer): boolean {
    return this.socket.write(b);
  }

  goaway(): { code: number } | undefined {
    const f = this.frames.find((x) => x.type === FRAME.GOAWAY);
    return f ? { code: f.payload.readUInt32BE(4) } : undefined;
  }

  settings(): Map<number, number> {
    const m = new Map<number, number>();
    for (const f of this.frames) {
      if (f.type !== FRAME.SETTINGS || (f.flags & FLAG.ACK) !== 0) continue;
      for (let i = 0; i + 6 <= f.payload.length; i += 6)
        m.set(f.payload.readUInt16BE(i), f.payload.readUInt32BE(i + 2));
    }
    return m;
  }

  private onData(c: Buffer): void {
    this.buf = Buffer.concat([this.buf, c]);
    while (this.buf.length >= 9) {
      const len = this.buf.readUIntBE(0, 3);
      if (this.buf.length < 9 + len) break;
      this.frames.push({
        type: this.buf[3],
        flags: this.buf[4],
        stream: this.buf.readUInt32BE(5) & 0x7fffffff,
        payload: this.buf.subarray(9, 9 + len),
      });
      this.buf = this.buf.subarray(9 + len);
    }
  }
}
