import { readFileSync } from 'node:fs';

/**
 * Prints the functions of a V8 .cpuprofile (from `node --cpu-prof`) that took the most self time:
 * where the process itself spent its samples, not counting what the functions it called spent.
 * Usage: node dist-bench/bench/profile-top.js FILE.cpuprofile [N=15]
 */
interface CpuNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface CpuProfile {
  nodes: CpuNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileRow {
  name: string;
  where: string;
  selfMs: number;
  share: number;
}

export function topSelf(profile: CpuProfile, n: number): { rows: ProfileRow[]; totalMs: number } {
  const byNode = new Map<number, CpuNode>();
  for (const node of profile.nodes) byNode.set(node.id, node);
  // Self time per sample: each sample's time delta belongs to the node it landed in.
  const selfUs = new Map<string, { name: string; where: string; us: number }>();
  let totalUs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byNode.get(profile.samples[i]);
    if (node === undefined) continue;
    const dt = profile.timeDeltas[i] ?? 0;
    totalUs += dt;
    const f = node.callFrame;
    const where = f.url ? `${shortUrl(f.url)}:${f.lineNumber + 1}` : '';
    const key = `${f.functionName}@${where}`;
    const row = selfUs.get(key) ?? { name: f.functionName || '(anonymous)', where, us: 0 };
    row.us += dt;
    selfUs.set(key, row);
  }
  const rows = [...selfUs.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, n)
    .map((r) => ({ name: r.name, where: r.where, selfMs: r.us / 1000, share: totalUs ? r.us / totalUs : 0 }));
  return { rows, totalMs: totalUs / 1000 };
}

function shortUrl(url: string): string {
  const i = url.indexOf('/node_modules/');
  if (i >= 0) return url.slice(i + 1);
  const d = url.indexOf('/dist/');
  if (d >= 0) return url.slice(d + 1);
  return url.replace(/^file:\/\//, '').replace(/^node:/, 'node:');
}

/**
 * Self time grouped by where the code lives: a package under node_modules, a Node core module, timbang's
 * own files, or the VM (GC, idle, native code such as the syscalls writev and writeLatin1String make).
 */
export function byModule(profile: CpuProfile): Array<{ module: string; selfMs: number; share: number }> {
  const byNode = new Map<number, CpuNode>();
  for (const node of profile.nodes) byNode.set(node.id, node);
  const totals = new Map<string, number>();
  let all = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byNode.get(profile.samples[i]);
    if (node === undefined) continue;
    const dt = profile.timeDeltas[i] ?? 0;
    all += dt;
    const key = moduleOf(node.callFrame.url, node.callFrame.functionName);
    totals.set(key, (totals.get(key) ?? 0) + dt);
  }
  return [...totals.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([module, us]) => ({ module, selfMs: us / 1000, share: all ? us / all : 0 }));
}

function moduleOf(url: string, fn: string): string {
  if (!url) return fn.startsWith('(') ? fn : `native ${fn}`;
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) return url.slice(nm + 14).split('/')[0];
  if (url.startsWith('node:')) {
    const m = url.slice(5);
    if (m.startsWith('internal/streams')) return 'node:streams';
    if (m.startsWith('internal/modules') || m.startsWith('internal/bootstrap')) return 'node:module loading';
    return `node:${m.replace(/^internal\//, '')}`;
  }
  const d = url.indexOf('/dist/');
  if (d >= 0) return `timbang ${url.slice(d + 6)}`;
  return url;
}

export function formatTop(rows: ProfileRow[], totalMs: number): string {
  const lines = ['| self ms | share | function | where |', '| ---: | ---: | --- | --- |'];
  for (const r of rows) {
    lines.push(`| ${r.selfMs.toFixed(0)} | ${(r.share * 100).toFixed(1)}% | \`${r.name}\` | ${r.where} |`);
  }
  lines.push(`\n${totalMs.toFixed(0)} ms sampled in all.`);
  return lines.join('\n');
}

if (process.argv[1]?.endsWith('profile-top.js')) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: profile-top FILE.cpuprofile [N]');
    process.exit(2);
  }
  const n = Number(process.argv[3] ?? 15);
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const { rows, totalMs } = topSelf(profile, n);
  console.log(formatTop(rows, totalMs));
  console.log('\n| self ms | share | where |\n| ---: | ---: | --- |');
  for (const m of byModule(profile).slice(0, n)) {
    console.log(`| ${m.selfMs.toFixed(0)} | ${(m.share * 100).toFixed(1)}% | ${m.module} |`);
  }
}
