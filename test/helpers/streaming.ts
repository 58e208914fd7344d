import type http from 'node:http';
import type https from 'node:https';

/** A backend handler: a POST is answered with the number of bytes it carried, anything else with `size` bytes. */
export function bigBodyHandler(size: number): (req: http.IncomingMessage, res: http.ServerResponse) => void {
  return (req, res) => {
    if (req.method === 'POST') {
      let n = 0;
      req.on('data', (c: Buffer) => {
        n += c.length;
      });
      req.on('end', () => res.end(String(n)));
      return;
    }
    res.writeHead(200, { 'content-length': size });
    pump(res, size, 120);
  };
}

/** Writes `size` bytes of `fill` in 64 KiB pieces, waiting for 'drain' whenever a write says so; then ends. */
function pump(out: http.ServerResponse | http.ClientRequest, size: number, fill: number): void {
  const chunk = Buffer.alloc(64 * 1024, fill);
  let sent = 0;
  const next = () => {
    while (sent < size) {
      sent += chunk.length;
      if (!out.write(chunk)) return void out.once('drain', next);
    }
    out.end();
  };
  next();
}

type Request = (
  options: https.RequestOptions,
  callback: (res: http.IncomingMessage) => void,
) => http.ClientRequest;

/**
 * Through a proxy in front of bigBodyHandler(size): downloads `size` bytes with GET /big, then uploads as
 * many with POST /up, sampling this process's RSS every 20 ms. Returns the bytes downloaded, what the
 * backend said it got, and the RSS growth at its peak (client, proxy and backend share this process).
 */
export async function streamBothWays(
  request: Request,
  options: https.RequestOptions,
  size: number,
): Promise<{ downloaded: number; uploaded: string; rssGrowth: number }> {
  const before = process.memoryUsage().rss;
  let peak = before;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 20);
  try {
    const downloaded = await new Promise<number>((resolve, reject) => {
      const req = request({ ...options, path: '/big', agent: false }, (res) => {
        let n = 0;
        res.on('data', (c: Buffer) => {
          n += c.length;
        });
        res.on('end', () => resolve(n));
      });
      req.on('error', reject);
      req.end();
    });
    const uploaded = await new Promise<string>((resolve, reject) => {
      const req = request(
        { ...options, method: 'POST', path: '/up', agent: false, headers: { 'content-length': size } },
        (res) => {
          let text = '';
          res.on('data', (c: Buffer) => {
            text += c.toString();
          });
          res.on('end', () => resolve(text));
        },
      );
      req.on('error', reject);
      pump(req, size, 121);
    });
    return { downloaded, uploaded, rssGrowth: peak - before };
  } finally {
    clearInterval(sampler);
  }
}
