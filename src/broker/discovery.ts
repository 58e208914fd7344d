import { Resolver } from 'node:dns/promises';
import type { Backend, BackendSpec } from '../balancer/types.js';
import type { BrokerControl } from './control.js';
import { type DiscoveryTarget, isDiscoveryAddress, parseDiscoveryUrl } from './discovery-target.js';
import type { DnsOptions } from './options.js';

/**
 * Backends from DNS, re-resolved while the broker runs (HAProxy's `server-template` + `resolvers`, nginx's
 * `resolve`, Envoy's STRICT_DNS). Each `dns://` or `srv://` entry of `backends` is a group whose members
 * are the addresses its name resolves to. A lookup's answer is applied as a diff through BrokerControl:
 * new addresses join (with slow start), vanished ones are drained and leave once their requests ended (the
 * same removal as DELETE /api/backends/:id), changed weights are set. A failed or empty lookup changes
 * nothing: the last good set stays, the failure is logged, shown in /api/state and counted in metrics, and
 * the lookup is retried with a doubling backoff. This module owns its timers; the balancing core never
 * sees DNS.
 */

/** One address a group resolved to. */
export interface ResolvedHost {
  /** host:port, as the pool formats it ([v6]:port). */
  address: string;
  weight: number;
}

export interface Resolution {
  hosts: ResolvedHost[];
  /** Smallest TTL of the records used, seconds. */
  ttlS: number;
}

/** What /api/state shows per group. */
export interface DnsGroupView {
  id: string;
  url: string;
  /** Addresses in the last good answer. */
  hosts: number;
  /** 'ok' after a good lookup; 'stale' while lookups fail and the last good set is kept; 'pending' before any. */
  status: 'ok' | 'stale' | 'pending';
  /** Lookups failed in a row. */
  failures: number;
  lastError: string | undefined;
  /** Unix ms of the last good lookup (undefined: none yet). */
  lastOkAt: number | undefined;
  /** ms until the next lookup. */
  nextInMs: number;
}

/** A `dns://` or `srv://` entry of `backends`. */
export interface DnsGroupSpec {
  id: string;
  target: DiscoveryTarget;
  /** Multiplies every member's weight (SRV weights are normalised to a mean of 1 first). */
  weight: number;
}

/** The DNS group entries of a backends list (ids by position, as for static backends). */
export function dnsGroups(backends: readonly BackendSpec[]): DnsGroupSpec[] {
  const groups: DnsGroupSpec[] = [];
  backends.forEach((spec, i) => {
    if (!isDiscoveryAddress(spec.address)) return;
    groups.push({
      id: spec.id ?? String(i + 1),
      target: parseDiscoveryUrl(spec.address),
      weight: spec.weight ?? 1,
    });
  });
  return groups;
}

/** The fixed-address entries of a backends list. */
export function staticBackends(backends: readonly BackendSpec[]): BackendSpec[] {
  return backends.filter((s) => !isDiscoveryAddress(s.address));
}

/** The pool id of a group member: `<group>@<host:port>` ('@' is not allowed in configured ids). */
export function memberId(groupId: string, address: string): string {
  return `${groupId}@${address}`;
}

/** The TTL clamped to [minTtlMs, maxTtlMs], or the fixed interval when one is set. */
export function refreshDelayMs(ttlS: number, o: DnsOptions): number {
  if (o.intervalMs > 0) return o.intervalMs;
  // A floor of 10 ms whatever the settings: Consul's default TTL is 0, which would be a busy loop.
  return Math.max(10, Math.min(o.maxTtlMs, Math.max(o.minTtlMs, ttlS * 1000)));
}

/** After `failures` failed lookups in a row: minTtl, doubling, at most maxTtl (and at most 30 s). */
export function retryDelayMs(failures: number, o: DnsOptions): number {
  const base = Math.max(o.minTtlMs, 100);
  return Math.min(o.maxTtlMs, 30_000, base * 2 ** Math.min(20, Math.max(0, failures - 1)));
}

const NO_RECORDS = new Set(['ENODATA', 'ENOTFOUND']);

/** A or AAAA answer of one family; no records of it is an empty list, any other error is thrown. */
async function family(
  lookup: Promise<Array<{ address: string; ttl: number }>>,
): Promise<Array<{ address: string; ttl: number }>> {
  try {
    return await lookup;
  } catch (err) {
    if (NO_RECORDS.has((err as NodeJS.ErrnoException).code ?? '')) return [];
    throw err;
  }
}

/** A and AAAA of a name, with TTLs. */
async function addressesOf(
  resolver: Resolver,
  name: string,
): Promise<Array<{ address: string; ttl: number }>> {
  const [v4, v6] = await Promise.all([
    family(resolver.resolve4(name, { ttl: true })),
    family(resolver.resolve6(name, { ttl: true })),
  ]);
  return [...v4, ...v6];
}

function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/**
 * Looks a group up once. SRV: only the records of the lowest priority (RFC 2782: the others are
 * fallbacks), each target's A/AAAA addresses on the record's port; weights normalised to a mean of 1 (a
 * weight of 0, "rarely", gets a hundredth of the mean). node:dns does not give SRV records' TTLs, so an
 * SRV group's TTL is the smallest of its targets' address records. Throws on failure; may return no hosts.
 */
export async function resolveGroup(resolver: Resolver, g: DnsGroupSpec): Promise<Resolution> {
  const t = g.target;
  if (t.kind === 'dns') {
    const records = await addressesOf(resolver, t.name);
    const ttl = records.reduce((m, r) => Math.min(m, r.ttl), Number.POSITIVE_INFINITY);
    const seen = new Set<string>();
    const hosts: ResolvedHost[] = [];
    for (const r of records) {
      const address = hostPort(r.address, t.port);
      if (seen.has(address)) continue;
      seen.add(address);
      hosts.push({ address, weight: g.weight });
    }
    return { hosts, ttlS: Number.isFinite(ttl) ? ttl : 0 };
  }
  let srv: Array<{ name: string; port: number; priority: number; weight: number }>;
  try {
    srv = await resolver.resolveSrv(t.name);
  } catch (err) {
    if (NO_RECORDS.has((err as NodeJS.ErrnoException).code ?? '')) return { hosts: [], ttlS: 0 };
    throw err;
  }
  if (srv.length === 0) return { hosts: [], ttlS: 0 };
  const top = Math.min(...srv.map((r) => r.priority));
  const records = srv.filter((r) => r.priority === top);
  const positive = records.filter((r) => r.weight > 0);
  const mean = positive.length === 0 ? 1 : positive.reduce((s, r) => s + r.weight, 0) / positive.length;
  const weights = new Map<string, number>();
  let ttl = Number.POSITIVE_INFINITY;
  const answers = await Promise.all(records.map((r) => addressesOf(resolver, r.name)));
  records.forEach((r, i) => {
    const share = positive.length === 0 ? 1 : (r.weight > 0 ? r.weight : mean / 100) / mean;
    for (const a of answers[i]) {
      ttl = Math.min(ttl, a.ttl);
      const address = hostPort(a.address, r.port);
      weights.set(address, (weights.get(address) ?? 0) + share * g.weight);
    }
  });
  const hosts = [...weights].map(([address, weight]) => ({ address, weight: round(weight) }));
  return { hosts, ttlS: Number.isFinite(ttl) ? ttl : 0 };
}

function round(w: number): number {
  return Math.max(0.001, Math.round(w * 1000) / 1000);
}

class Group {
  /** Members this group added, by address. */
  readonly members = new Map<string, Backend>();
  hosts = 0;
  failures = 0;
  lookups = 0;
  failedLookups = 0;
  lastError: string | undefined = undefined;
  lastOkAt: number | undefined = undefined;
  nextAt = 0;
  timer: NodeJS.Timeout | undefined = undefined;
  /** Bumped when the group is replaced or removed, so a lookup in flight is ignored when it lands. */
  generation = 0;

  constructor(public spec: DnsGroupSpec) {}
}

export interface DiscoveryLog {
  event(message: string): void;
}

/**
 * The discovery loop: one timer per group, a lookup when it fires, the answer applied through
 * BrokerControl. Options are read at each lookup, so a reload's new TTL bounds apply from the next one.
 */
export class Discovery {
  private readonly groups = new Map<string, Group>();
  private resolver: Resolver;
  private resolverKey: string;
  private closed = false;

  constructor(
    private readonly control: BrokerControl,
    private readonly options: { dns: DnsOptions },
    private readonly log: DiscoveryLog,
  ) {
    this.resolver = createResolver(options.dns);
    this.resolverKey = resolverKey(options.dns);
  }

  /** Starts the groups and waits for each one's first lookup (members join without slow start). */
  async start(groups: readonly DnsGroupSpec[]): Promise<void> {
    await Promise.all(groups.map((g) => this.addGroup(g, true)));
  }

  /** Whether a pool backend was added by a group (a reload of static backends leaves it alone). */
  owns(b: Backend): boolean {
    for (const g of this.groups.values()) if (g.members.get(b.address) === b) return true;
    return false;
  }

  get size(): number {
    return this.groups.size;
  }

  /**
   * Applies a reload's groups: new ones start, vanished ones drain all their members, a group whose URL
   * or weight changed is looked up again now. Returns what changed, for the reload's report.
   */
  reload(next: readonly DnsGroupSpec[]): string[] {
    const applied: string[] = [];
    const key = resolverKey(this.options.dns);
    if (key !== this.resolverKey) {
      this.resolver = createResolver(this.options.dns);
      this.resolverKey = key;
    }
    const wanted = new Map(next.map((g) => [g.id, g]));
    for (const [id, g] of this.groups) {
      const spec = wanted.get(id);
      if (spec && spec.target.url === g.spec.target.url) {
        if (spec.weight !== g.spec.weight) {
          // Same name, new weight: look it up again now, which reweighs every member.
          applied.push(`dns group ${id} weight ${g.spec.weight} -> ${spec.weight}`);
          g.spec = spec;
          g.generation++;
          if (g.timer) clearTimeout(g.timer);
          g.timer = undefined;
          void this.lookup(g, false);
        }
        continue;
      }
      this.dropGroup(g);
      applied.push(
        `dns group ${id} ${g.spec.target.url} removed (draining its ${g.members.size} backend(s))`,
      );
    }
    for (const g of next) {
      if (this.groups.has(g.id)) continue;
      applied.push(`dns group ${g.id} ${g.target.url} added`);
      void this.addGroup(g, false);
    }
    return applied;
  }

  view(): DnsGroupView[] {
    const now = Date.now();
    return [...this.groups.values()].map((g) => ({
      id: g.spec.id,
      url: g.spec.target.url,
      hosts: g.hosts,
      status:
        g.lastOkAt === undefined ? (g.failures > 0 ? 'stale' : 'pending') : g.failures > 0 ? 'stale' : 'ok',
      failures: g.failures,
      lastError: g.lastError,
      lastOkAt: g.lastOkAt,
      nextInMs: Math.max(0, g.nextAt - now),
    }));
  }

  /** Per group: lookups and failed lookups so far, and the hosts of the last good answer (for metrics). */
  counters(): Array<{ id: string; lookups: number; failed: number; hosts: number; stale: boolean }> {
    return [...this.groups.values()].map((g) => ({
      id: g.spec.id,
      lookups: g.lookups,
      failed: g.failedLookups,
      hosts: g.hosts,
      stale: g.failures > 0,
    }));
  }

  /** Stops every timer; members stay in the pool (the broker is closing). */
  close(): void {
    this.closed = true;
    for (const g of this.groups.values()) {
      g.generation++;
      if (g.timer) clearTimeout(g.timer);
      g.timer = undefined;
    }
  }

  private addGroup(spec: DnsGroupSpec, initial: boolean): Promise<void> {
    const g = new Group(spec);
    this.groups.set(spec.id, g);
    return this.lookup(g, initial);
  }

  private dropGroup(g: Group): void {
    g.generation++;
    if (g.timer) clearTimeout(g.timer);
    this.groups.delete(g.spec.id);
    for (const b of g.members.values()) void this.control.remove(b.id);
  }

  private async lookup(g: Group, initial: boolean): Promise<void> {
    const generation = g.generation;
    const o = this.options.dns;
    let delay: number;
    try {
      const answer = await resolveGroup(this.resolver, g.spec);
      if (this.closed || g.generation !== generation) return;
      g.lookups++;
      if (answer.hosts.length === 0) throw new EmptyAnswer();
      delay = refreshDelayMs(answer.ttlS, o);
      const recovered = g.failures > 0;
      g.failures = 0;
      g.lastError = undefined;
      g.lastOkAt = Date.now();
      g.hosts = answer.hosts.length;
      const changes = this.apply(g, answer.hosts, initial);
      if (changes !== '' || recovered || initial) {
        this.log.event(
          `dns: ${g.spec.target.url} gives ${answer.hosts.length} host(s)${changes}${recovered ? ' (lookups work again)' : ''}; next lookup in ${formatMs(delay)}`,
        );
      }
    } catch (err) {
      if (this.closed || g.generation !== generation) return;
      g.lookups++;
      g.failures++;
      g.failedLookups++;
      g.lastError = describe(err);
      delay = retryDelayMs(g.failures, o);
      this.log.event(
        `dns: lookup of ${g.spec.target.url} failed (${g.lastError}); keeping the last ${g.members.size} host(s); retry in ${formatMs(delay)}`,
      );
    }
    g.nextAt = Date.now() + delay;
    g.timer = setTimeout(() => {
      g.timer = undefined;
      void this.lookup(g, false);
    }, delay);
    g.timer.unref();
  }

  /** Applies one good answer as a diff; returns ' (+a -r ~w)' or '' when nothing changed. */
  private apply(g: Group, hosts: readonly ResolvedHost[], initial: boolean): string {
    const control = this.control;
    let added = 0;
    let removed = 0;
    let reweighed = 0;
    const wanted = new Map(hosts.map((h) => [h.address, h.weight]));
    for (const [address, b] of g.members) {
      if (wanted.has(address)) continue;
      if (control.isRemoving(b)) continue;
      removed++;
      void control.remove(b.id).then((gone) => {
        if (gone && g.members.get(address) === b) g.members.delete(address);
      });
    }
    for (const h of hosts) {
      const b = g.members.get(h.address);
      if (b && control.broker.balancer.pool.get(b.id) === b) {
        // Back in the answer while it drains: keep it (no new backend, its connections stay).
        if (control.isRemoving(b)) {
          control.undrain(b.id);
          added++;
        }
        if (b.weight !== h.weight) {
          control.setWeight(b.id, h.weight);
          reweighed++;
        }
        continue;
      }
      const id = memberId(g.spec.id, h.address);
      const leaving = control.broker.balancer.pool.get(id);
      if (leaving && control.isRemoving(leaving) && leaving.address === h.address) {
        // Still draining from an earlier answer (or a replaced group): take it back rather than add a twin.
        control.undrain(id);
        if (leaving.weight !== h.weight) control.setWeight(id, h.weight);
        g.members.set(h.address, leaving);
        added++;
        continue;
      }
      try {
        const nb = control.addBackend({ id, address: h.address, weight: h.weight }, !initial);
        g.members.set(h.address, nb);
        added++;
      } catch (err) {
        this.log.event(`dns: cannot add ${h.address} from ${g.spec.target.url}: ${describe(err)}`);
      }
    }
    if (added + removed + reweighed === 0) return '';
    const parts = [`+${added}`, `-${removed}`];
    if (reweighed > 0) parts.push(`~${reweighed} reweighed`);
    return ` (${parts.join(' ')})`;
  }
}

class EmptyAnswer extends Error {
  readonly code = 'EMPTY';
  constructor() {
    super('no addresses in the answer');
  }
}

function describe(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e instanceof EmptyAnswer) return 'empty answer';
  if (e?.code === 'ESERVFAIL') return 'SERVFAIL';
  if (e?.code === 'ETIMEOUT') return 'timed out';
  if (e?.code === 'ECONNREFUSED') return 'DNS server refused';
  if (e?.code === 'ENOTFOUND') return 'no such name';
  return e?.code ?? e?.message ?? String(err);
}

function formatMs(ms: number): string {
  return ms >= 1000 ? `${Math.round(ms / 100) / 10} s` : `${Math.round(ms)} ms`;
}

function createResolver(o: DnsOptions): Resolver {
  const r = new Resolver({ timeout: o.timeoutMs, tries: 2 });
  if (o.servers.length > 0) r.setServers(o.servers);
  return r;
}

function resolverKey(o: DnsOptions): string {
  return `${o.servers.join(',')}|${o.timeoutMs}`;
}
