// Transcribes the HTTP samples of nodejs/llhttp's own test suite (test/request/*.md, test/response/*.md)
// into llhttp.json: each sample's bytes, as llhttp's test runner (test/md-test.ts) builds them, with the
// outcome its expected log records. Data only: no llhttp code is copied. Run once per llhttp release:
//   node test/http1/corpus/transcribe-llhttp.mjs <llhttp git dir> [ref]
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import vm from 'node:vm';

const [gitDir, ref = 'HEAD'] = process.argv.slice(2);
if (!gitDir) {
  console.error('usage: transcribe-llhttp.mjs <llhttp git dir> [ref]');
  process.exit(2);
}
const git = (...args) => execFileSync('git', ['--git-dir', gitDir, ...args], { encoding: 'latin1' });
const version = git('describe', '--tags', '--always', ref).trim();
const files = git('ls-tree', '-r', '--name-only', ref, 'test/request', 'test/response')
  .split('\n')
  .filter((f) => f.endsWith('.md'));

/** The input as md-test.ts makes it: LF is CRLF, escapes and ${js} are expanded. */
function bytesOf(block) {
  let input = block.replace(/\n$/, '');
  input = input.replace(/\\(\r\n|\r|\n)/g, '');
  input = input.replace(/\r\n|\r|\n/g, '\r\n');
  input = input.replace(/\\r/g, '\r').replace(/\\n/g, '\n').replace(/\\t/g, '\t').replace(/\\f/g, '\f');
  input = input.replace(/\\x([0-9a-fA-F]+)/g, (_, hex) => String.fromCharCode(Number.parseInt(hex, 16)));
  input = input.replace(/\\([0-7]{1,3})/g, (_, d) => String.fromCharCode(Number.parseInt(d, 8)));
  input = input.replace(/\$\{(.+?)\}/g, (_, code) => `${vm.runInNewContext(code)}`);
  return input;
}

const cases = [];
const seen = new Map();
for (const file of files) {
  const text = git('show', `${ref}:${file}`);
  const sections = text.split(/^(?=#{2,4} )/m);
  let parents = [];
  for (const section of sections) {
    const heading = /^(#{2,4}) (.*)$/m.exec(section);
    if (heading) {
      const level = heading[1].length;
      parents = [...parents.slice(0, level - 2), heading[2].trim()];
    }
    const meta = /<!-- meta=(\{.*?\}) -->\s*```http\n([\s\S]*?)```/.exec(section);
    const log = /```log\n([\s\S]*?)```/.exec(section);
    if (!meta || !log) continue;
    const m = JSON.parse(meta[1]);
    const [kind, ...mode] = m.type.split('-');
    const lines = log[1].split('\n');
    const error = lines.map((l) => /error code=(\w+) reason="?(.*?)"?$/.exec(l)).find(Boolean);
    let id = `llhttp/${file.slice(5, -3)}#${parents.join(' / ')}`;
    const n = (seen.get(id) ?? 0) + 1;
    seen.set(id, n);
    if (n > 1) id += ` (${n})`; // a heading used twice in one file
    cases.push({
      id,
      source: `nodejs/llhttp ${version}, ${file}, "${parents.join(' / ')}"`,
      kind,
      // 'finish': the peer closes after the bytes; a lenient-* mode: the expectation holds only there.
      mode: mode.join('-') || (m.skipBody ? 'skip-body' : 'strict'),
      bytes: bytesOf(meta[2]),
      llhttp: {
        messages: lines.filter((l) => l.includes('message complete')).length,
        error: error ? `${error[1]} ${error[2]}` : null,
      },
    });
  }
}
const out = new URL('./llhttp.json', import.meta.url);
writeFileSync(out, `${JSON.stringify({ source: `nodejs/llhttp ${version}`, cases }, null, 1)}\n`);
console.log(`${cases.length} cases from ${files.length} files -> ${out.pathname}`);
