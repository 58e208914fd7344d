import dgram from 'node:dgram';
import { once } from 'node:events';
import dnsPacket from 'dns-packet';

/**
 * A small authoritative DNS server on 127.0.0.1 (UDP, port 0) for tests, built on dns-packet. Its records
 * can change while a test runs, and it can fail on purpose: answer SERVFAIL, or not answer at all.
 */
export interface SrvRecord {
  target: string;
  port: number;
  weight?: number;
  priority?: number;
}

export type DnsMode = 'answer' | 'servfail' | 'silent';

export class TestDnsServer {
  readonly a = new Map<string, string[]>();
  readonly aaaa = new Map<string, string[]>();
  readonly srv = new Map<string, SrvRecord[]>();
  /** TTL of every record served, seconds. */
  ttl = 0;
  mode: DnsMode = 'answer';
  /** Queries received, by `TYPE name`. */
  readonly queries: string[] = [];
  private readonly waiters: Array<() => void> = [];

  private constructor(
    private readonly socket: dgram.Socket,
    readonly port: number,
  ) {}

  static async start(): Promise<TestDnsServer> {
    const socket = dgram.createSocket('udp4');
    socket.bind(0, '127.0.0.1');
    await once(socket, 'listening');
    const server = new TestDnsServer(socket, socket.address().port);
    socket.on('message', (msg, rinfo) => server.onMessage(msg, rinfo));
    return server;
  }

  /** `127.0.0.1:port`, for the broker's dns.servers. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Resolves once `n` more queries have arrived (whatever their answer). */
  nextQueries(n = 1): Promise<void> {
    const target = this.queries.length + n;
    return new Promise((resolve) => {
      const check = () => {
        if (this.queries.length >= target) resolve();
        else this.waiters.push(check);
      };
      check();
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }

  private onMessage(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    let query: dnsPacket.Packet;
    try {
      query = dnsPacket.decode(msg);
    } catch {
      return;
    }
    const q = query.questions?.[0];
    if (!q) return;
    this.queries.push(`${q.type} ${q.name}`);
    for (const w of this.waiters.splice(0)) w();
    if (this.mode === 'silent') return;
    const name = q.name.toLowerCase().replace(/\.$/, '');
    const known = this.a.has(name) || this.aaaa.has(name) || this.srv.has(name);
    const answers: dnsPacket.Answer[] = [];
    if (this.mode === 'answer') {
      if (q.type === 'A') {
        for (const ip of this.a.get(name) ?? [])
          answers.push({ type: 'A', name: q.name, ttl: this.ttl, data: ip });
      } else if (q.type === 'AAAA') {
        for (const ip of this.aaaa.get(name) ?? [])
          answers.push({ type: 'AAAA', name: q.name, ttl: this.ttl, data: ip });
      } else if (q.type === 'SRV') {
        for (const r of this.srv.get(name) ?? []) {
          answers.push({
            type: 'SRV',
            name: q.name,
            ttl: this.ttl,
            data: { target: r.target, port: r.port, weight: r.weight ?? 1, priority: r.priority ?? 0 },
          });
        }
      }
    }
    const rcode = this.mode === 'servfail' ? 'SERVFAIL' : known ? 'NOERROR' : 'NXDOMAIN';
    const reply = dnsPacket.encode({
      type: 'response',
      id: query.id,
      // Authoritative answer (bit 10) and the rcode in the low bits; recursion desired copied back.
      flags: dnsPacket.AUTHORITATIVE_ANSWER | dnsPacket.RECURSION_DESIRED | RCODES[rcode],
      questions: query.questions,
      answers,
    });
    this.socket.send(reply, rinfo.port, rinfo.address);
  }
}

const RCODES = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3 } as const;
