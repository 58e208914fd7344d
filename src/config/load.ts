import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { type Document, isMap, isScalar, LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { TimbangError } from '../errors.js';
import { parseDurationMs } from './duration.js';
import { type ConfigFile, configSchema, configToPatch } from './schema.js';
import type { SettingsPatch } from './settings.js';

export interface LoadedConfig {
  path: string;
  file: ConfigFile;
  patch: SettingsPatch;
}

/**
 * Reads and validates a config file: JSON when it ends in .json, YAML otherwise (YAML also reads JSON).
 * Any problem throws one ERR_BAD_CONFIG listing every issue by path, one per line.
 */
export async function loadConfig(path: string): Promise<LoadedConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : String(code);
    throw new TimbangError('ERR_BAD_CONFIG', `cannot read config file '${path}': ${why}`, { cause: err });
  }
  const file = parseConfigText(text, path);
  return { path, file, patch: configToPatch(file) };
}

/** One problem, with where it is in the file when that can be told. */
interface Problem {
  text: string;
  path?: ReadonlyArray<PropertyKey>;
  /** An unknown key: the position of the key itself. */
  key?: string;
}

/** Parses and validates config text; `source` names it in messages and picks JSON by its extension. */
export function parseConfigText(text: string, source: string): ConfigFile {
  const json = extname(source).toLowerCase() === '.json';
  if (json) parseJson(text, source);
  // JSON is YAML too: parsing it as YAML as well gives every value its line.
  const lines = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true, lineCounter: lines });
  if (doc.errors.length > 0) {
    throw badConfig(
      source,
      doc.errors.map((e) => {
        const at = e.linePos?.[0];
        const message = e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
        return at ? `line ${at.line}, column ${at.col}: ${message}` : message;
      }),
    );
  }
  const raw: unknown = doc.toJS();
  const problems: Problem[] = [];
  const result = configSchema.safeParse(raw ?? {});
  if (!result.success) for (const issue of result.error.issues) problems.push(...describeIssue(issue, raw));
  problems.push(...crossChecks(raw));
  if (problems.length > 0) {
    // In file order, each with its line, so a long file's problems read top to bottom.
    const located = problems.map((p) => ({ at: offsetOf(doc, p), text: p.text }));
    located.sort((a, b) => (a.at ?? Number.MAX_SAFE_INTEGER) - (b.at ?? Number.MAX_SAFE_INTEGER));
    throw badConfig(
      source,
      located.map((p) => (p.at === undefined ? p.text : `line ${lines.linePos(p.at).line}: ${p.text}`)),
    );
  }
  return result.data as ConfigFile;
}

function parseJson(text: string, source: string): void {
  try {
    JSON.parse(text);
  } catch (err) {
    throw badConfig(source, [`not valid JSON: ${(err as Error).message}`]);
  }
}

/** Where in the text the problem's value (or unknown key) starts. */
function offsetOf(doc: Document, p: Problem): number | undefined {
  if (p.path === undefined) return undefined;
  let node: unknown = p.path.length === 0 ? doc.contents : doc.getIn(p.path as unknown[], true);
  if (p.key !== undefined && isMap(node)) {
    node = node.items.find((pair) => isScalar(pair.key) && pair.key.value === p.key)?.key;
  }
  const range = (node as { range?: [number, number, number] } | undefined)?.range;
  return range?.[0];
}

function badConfig(source: string, problems: string[]): TimbangError {
  const head =
    problems.length === 1
      ? `config file ${source} has a problem:`
      : `config file ${source} has ${problems.length} problems:`;
  return new TimbangError('ERR_BAD_CONFIG', `${head}\n${problems.map((p) => `  ${p}`).join('\n')}`);
}

/** `backends[1].weight` from ['backends', 1, 'weight']. */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out;
}

function describeIssue(issue: z.core.$ZodIssue, raw: unknown): Problem[] {
  const path = issue.path;
  const where = formatPath(path);
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => ({
      text: `${where === '' ? key : `${where}.${key}`}: unknown setting${suggest(key, knownKeys(path))}`,
      path,
      key,
    }));
  }
  if (where === '')
    return [{ text: `(top level): must be a mapping of settings, e.g. 'strategy: round-robin'` }];
  if (valueAt(raw, path) === undefined) return [{ text: `${where}: is required`, path: path.slice(0, -1) }];
  return [{ text: `${where}: ${issue.message}`, path }];
}

/** The value at a path of parsed data, or undefined when the path does not exist. */
export function valueAt(data: unknown, path: ReadonlyArray<PropertyKey>): unknown {
  let node = data;
  for (const part of path) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<PropertyKey, unknown>)[part];
  }
  return node;
}

/** Problems zod's shape cannot see: ids that collide (given or implied by position) and eject bounds. */
function crossChecks(raw: unknown): Problem[] {
  const problems: Problem[] = [];
  if (!isRecord(raw)) return problems;
  if (Array.isArray(raw.backends)) {
    const seen = new Map<string, number>();
    raw.backends.forEach((b: unknown, i: number) => {
      if (!isRecord(b)) return;
      const given = typeof b.id === 'string' || typeof b.id === 'number';
      const id = given ? String(b.id).trim() : String(i + 1);
      const first = seen.get(id);
      if (first === undefined) seen.set(id, i);
      else {
        const text = `backends[${i}].id: '${id}' is already the id of backends[${first}]`;
        problems.push({ text, path: given ? ['backends', i, 'id'] : ['backends', i] });
      }
    });
  }
  const dns = raw.dns;
  if (isRecord(dns) && dns.minTtl !== undefined && dns.maxTtl !== undefined) {
    const min = typeof dns.minTtl === 'number' ? dns.minTtl : parseDurationMs(String(dns.minTtl));
    const max = typeof dns.maxTtl === 'number' ? dns.maxTtl : parseDurationMs(String(dns.maxTtl));
    if (min !== undefined && max !== undefined && min > max) {
      problems.push({ text: 'dns.maxTtl: must be >= dns.minTtl', path: ['dns', 'maxTtl'] });
    }
  }
  const ej = raw.ejection;
  if (isRecord(ej) && typeof ej.baseMs === 'number' && typeof ej.maxMs === 'number' && ej.baseMs > ej.maxMs) {
    problems.push({ text: 'ejection.maxMs: must be >= ejection.baseMs', path: ['ejection', 'maxMs'] });
  }
  return problems;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The keys the schema accepts at a path, for "did you mean" hints. */
function knownKeys(path: ReadonlyArray<PropertyKey>): string[] {
  // biome-ignore lint/suspicious/noExplicitAny: walking zod's internal shape generically, read-only
  let node: any = configSchema;
  for (const part of path) {
    while (node?.def?.innerType) node = node.def.innerType;
    if (typeof part === 'number') node = node?.def?.element;
    else node = node?.def?.shape?.[part];
  }
  while (node?.def?.innerType) node = node.def.innerType;
  return Object.keys(node?.def?.shape ?? {});
}

function suggest(key: string, known: string[]): string {
  let best: string | undefined;
  let bestDistance = key.length >= 5 ? 4 : 3;
  for (const k of known) {
    const d = distance(key.toLowerCase(), k.toLowerCase());
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return best === undefined ? `; valid here: ${known.join(', ')}` : ` (did you mean '${best}'?)`;
}

/** Levenshtein distance; keys are short. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}
