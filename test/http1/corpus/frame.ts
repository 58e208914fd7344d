import { RequestReader } from '../../../src/http1/request-reader.js';
import { ResponseReader } from '../../../src/http1/response-reader.js';
import type { FramingCase } from './corpus.js';

/** How timbang's readers frame a corpus case, message after message, as the broker would. */
export interface Framed {
  messages: number;
  error: string;
  bodies: string[];
  /** The bytes end inside a head: nothing of it is forwarded (it is answered once it ends, or 408). */
  pending: boolean;
}

export class Requests extends RequestReader {
  body = '';
  constructor() {
    super(16 * 1024);
  }
  protected override onBody(data: Buffer, start: number, end: number): void {
    this.body += data.toString('latin1', start, end);
  }
}

export class Responses extends ResponseReader {
  body = '';
  protected onHeader(): void {}
  protected onHeadEnd(): void {}
  protected override onBody(data: Buffer, start: number, end: number): void {
    this.body += data.toString('latin1', start, end);
  }
}

/** Frames the bytes, split into pieces, message after message; a fresh copy per piece, as reads would be. */
export function frame(c: FramingCase, step: number | readonly number[] = 0): Framed {
  const bytes = Buffer.from(c.bytes, 'latin1');
  const reader = c.kind === 'request' ? new Requests() : new Responses();
  if (reader instanceof Responses) reader.noBody = c.head === true;
  const out: Framed = { messages: 0, error: '', bodies: [], pending: false };
  let closed = false;
  // `step`: pieces of that many bytes (0: whole), or the offsets to cut the bytes at.
  const cuts =
    typeof step === 'number'
      ? Array.from({ length: step > 0 ? Math.ceil(bytes.length / step) - 1 : 0 }, (_, k) => (k + 1) * step)
      : [...new Set(step.filter((x) => x > 0 && x < bytes.length))].sort((x, y) => x - y);
  const pieces: Buffer[] = [];
  let from = 0;
  for (const at of [...cuts, bytes.length]) {
    pieces.push(bytes.subarray(from, at));
    from = at;
  }
  for (const piece of pieces) {
    let pos = 0;
    while (pos < piece.length) {
      if (closed) {
        // No message may follow one that ends the connection: what follows is not read.
        out.error = 'bytes after the connection ends';
        return out;
      }
      pos += reader.feed(piece, pos);
      if (reader.error !== '') {
        out.error = reader.error;
        return out;
      }
      if (reader.done) {
        out.messages++;
        out.bodies.push(reader.body);
        closed = !reader.keepAlive;
        reader.reset();
        reader.body = '';
        if (reader instanceof Responses) reader.noBody = c.head === true;
      }
    }
  }
  out.pending = !reader.untouched && !reader.headRead;
  if (c.finish && reader.endsAtClose) {
    reader.finishAtClose();
    out.messages++;
    out.bodies.push(reader.body);
  }
  return out;
}
