import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ARGUED_STRICTER, type FramingCase, loadCorpus } from './corpus/corpus.js';
import { frame } from './corpus/frame.js';
import { HTTPParser } from './corpus/llhttp-parser.js';

/**
 * The framing corpus (test/http1/corpus/) through timbang's readers alone: each case framed as the front
 * end (requests, one after another) or the upstream connection (responses) would, against the
 * expectation the corpus records; and, where timbang accepts, through Node's own llhttp, which must frame
 * the same messages with the same bodies (a backend that reads a message otherwise is a smuggling hole).
 * The network differential against nginx and HAProxy is `npm run framing`.
 */

function llhttp(c: FramingCase): { messages: number; bodies: string[]; error: boolean } {
  const p = new HTTPParser();
  p.initialize(c.kind === 'request' ? HTTPParser.REQUEST : HTTPParser.RESPONSE, {}, 80 * 1024, 0);
  const bodies: string[] = [''];
  let messages = 0;
  let interim = false;
  // (versionMajor, versionMinor, headers, method, url, statusCode, ...): interim 1xx are not handed on.
  p[HTTPParser.kOnHeadersComplete] = (
    _a: number,
    _b: number,
    _h: unknown,
    _m: number,
    _u: string,
    status: number,
  ) => {
    interim = c.kind === 'response' && status >= 100 && status < 200 && status !== 101;
  };
  p[HTTPParser.kOnBody] = (b: Buffer) => {
    bodies[bodies.length - 1] += b.toString('latin1');
  };
  p[HTTPParser.kOnMessageComplete] = () => {
    if (interim) return;
    messages++;
    bodies.push('');
  };
  // What timbang relays: a later HTTP/1.x request line is sent as HTTP/1.1.
  const text = c.kind === 'request' ? c.bytes.replace(/ HTTP\/1\.[2-9]\r\n/, ' HTTP/1.1\r\n') : c.bytes;
  const r = p.execute(Buffer.from(text, 'latin1'));
  let error = r instanceof Error;
  if (!error && c.finish) error = p.finish() instanceof Error;
  return { messages, bodies, error };
}

const corpus = loadCorpus();

describe('the framing corpus through timbang', () => {
  it('holds cases from every source', () => {
    for (const prefix of ['llhttp/request', 'llhttp/response', 'smuggler/', 'garden/', 'rfc/'])
      expect(corpus.filter((c) => c.id.startsWith(prefix)).length).toBeGreaterThan(10);
    expect(new Set(corpus.map((c) => c.id)).size).toBe(corpus.length);
  });

  it('frames every case as the corpus expects (or refuses earlier, for an argued reason), whole and byte by byte', () => {
    const wrong: string[] = [];
    for (const c of corpus) {
      // One byte at a time, but big heads (re-joined on every read) in 97-byte pieces: quick.
      for (const step of [0, c.bytes.length > 4096 ? 97 : 1]) {
        const got = frame(c, step);
        const same = got.messages === c.expect.messages && (got.error !== '') === c.expect.error;
        // Refusing sooner than llhttp is allowed for the reasons argued in the corpus, never later.
        const stricter =
          c.id.startsWith('llhttp/') &&
          got.messages <= c.expect.messages &&
          ((got.error !== '' && (ARGUED_STRICTER[got.error] !== undefined || c.lenient !== undefined)) ||
            // llhttp's sample stops at its error, before the head ends: timbang has forwarded nothing yet.
            (got.error === '' && got.pending && (c.expect.error || c.lenient !== undefined)));
        if (!same && !stricter)
          wrong.push(
            `${c.id} (step ${step}): ${got.messages} messages${got.error ? ` then ${got.error}` : ''}; expected ${c.expect.messages}${c.expect.error ? ' then an error' : ''}`,
          );
      }
    }
    expect(wrong).toEqual([]);
  });

  it('never forwards an ambiguous request', () => {
    for (const c of corpus.filter((x) => x.ambiguous && x.kind === 'request'))
      expect(frame(c).messages, c.id).toBe(0);
  });

  it('whatever it accepts, Node (llhttp) frames the same messages with the same bodies', () => {
    const differ: string[] = [];
    for (const c of corpus) {
      if (c.head || c.reframed) continue; // llhttp cannot be told a response answers HEAD; see reframed
      const ours = frame(c);
      if (ours.messages === 0) continue; // refusing is always safe
      const theirs = llhttp(c);
      for (let i = 0; i < ours.messages; i++) {
        if (theirs.messages <= i || theirs.bodies[i] !== ours.bodies[i]) {
          differ.push(
            `${c.id}: message ${i + 1}: ours ${JSON.stringify(ours.bodies[i])}, llhttp ${theirs.messages <= i ? 'none' : JSON.stringify(theirs.bodies[i])}`,
          );
          break;
        }
      }
    }
    expect(differ).toEqual([]);
  });

  it('random splits of the same bytes across reads never change how they are framed (requests and responses)', () => {
    const whole = corpus.map((c) => frame(c));
    fc.assert(
      fc.property(fc.nat(corpus.length - 1), fc.array(fc.nat(4 * 1024), { maxLength: 40 }), (k, cuts) => {
        const c = corpus[k];
        const n = c.bytes.length;
        const split = frame(
          c,
          cuts.map((x) => (n > 1 ? 1 + (x % (n - 1)) : 0)),
        );
        // The same messages and bodies, refused or not alike (a reason may be found sooner or later).
        expect([split.messages, split.error !== '', split.bodies], c.id).toEqual([
          whole[k].messages,
          whole[k].error !== '',
          whole[k].bodies,
        ]);
      }),
      { numRuns: 3000 },
    );
  });
});
