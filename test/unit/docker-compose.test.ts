// docker-compose.yml cannot be run here (no Docker engine, no compose plugin), so it is read:
// a small reader for the YAML subset the file keeps to (block maps, block lists of scalars,
// JSON-style flow lists, comments), then checks of what compose would act on: services and
// their commands, that every MWI_* variable is a setting the config accepts, that the files
// the services name exist, and that the worker service can be scaled. A construct outside the
// subset fails the reader loudly instead of being misread. (js-yaml is in node_modules only as
// an eslint dependency, not ours, so it is not used.)
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

import { loadConfig } from '../../config/load.ts';
import { defaultConfig } from '../../config/schema.ts';
import { REPO_ROOT } from '../harness/process.ts';

type Node = string | Node[] | { [key: string]: Node };
type YamlMap = { [key: string]: Node };

function scalar(text: string, where: string): Node {
  const t = text.trim();
  if (t.startsWith('[')) {
    const list: unknown = JSON.parse(t); // flow lists are written JSON-style
    assert.ok(Array.isArray(list) && list.every((x) => typeof x === 'string'), `${where}: a flow list of strings`);
    return list;
  }
  if (t.startsWith('"')) return JSON.parse(t) as string;
  if (t.startsWith("'")) return t.slice(1, -1).replaceAll("''", "'");
  assert.ok(!/^[&*!|>{]/.test(t), `${where}: outside the YAML subset: ${t}`);
  return t;
}

function stripComment(line: string): string {
  // A comment starts at "#" at the line start or after a space, outside quotes.
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote !== undefined) {
      if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") {
      quote = c;
    } else if (c === '#' && (i === 0 || line[i - 1] === ' ')) {
      return line.slice(0, i);
    }
  }
  return line;
}

export function readYamlSubset(text: string): YamlMap {
  assert.ok(!text.includes('\t'), 'no tabs');
  const lines = text
    .split('\n')
    .map((raw, i) => ({ n: i + 1, indent: raw.length - raw.trimStart().length, text: stripComment(raw).trimEnd().trim() }))
    .filter((l) => l.text !== '');
  let pos = 0;
  const block = (indent: number): Node => {
    const first = lines[pos];
    if (first === undefined || first.indent < indent) return '';
    if (first.text.startsWith('- ')) {
      const list: Node[] = [];
      while (pos < lines.length && lines[pos]?.indent === first.indent && lines[pos]?.text.startsWith('- ')) {
        const l = lines[pos++] as (typeof lines)[number];
        list.push(scalar(l.text.slice(2), `line ${l.n}`));
      }
      return list;
    }
    const map: YamlMap = {};
    while (pos < lines.length && lines[pos]?.indent === first.indent) {
      const l = lines[pos++] as (typeof lines)[number];
      const m = /^([A-Za-z0-9_.-]+):(?: (.*))?$/.exec(l.text);
      assert.ok(m, `line ${l.n}: "key: value" expected, got ${l.text}`);
      const key = m[1] as string;
      assert.ok(!Object.hasOwn(map, key), `line ${l.n}: duplicate key ${key}`);
      const value = m[2];
      map[key] = value === undefined || value === '' ? block(first.indent + 1) : scalar(value, `line ${l.n}`);
    }
    assert.ok(pos >= lines.length || (lines[pos]?.indent ?? 0) < first.indent, `line ${lines[pos]?.n}: unexpected indentation`);
    return map;
  };
  const root = block(0);
  assert.ok(pos === lines.length, `line ${lines[pos]?.n}: not read`);
  assert.ok(typeof root === 'object' && !Array.isArray(root), 'the root is a map');
  return root;
}

function map(node: Node | undefined, what: string): YamlMap {
  assert.ok(typeof node === 'object' && node !== null && !Array.isArray(node), `${what} is a map`);
  return node;
}

function list(node: Node | undefined, what: string): string[] {
  assert.ok(Array.isArray(node) && node.every((x) => typeof x === 'string'), `${what} is a list of strings`);
  return node;
}

function str(node: Node | undefined, what: string): string {
  assert.ok(typeof node === 'string', `${what} is a string`);
  return node;
}

const compose = readYamlSubset(fs.readFileSync(path.join(REPO_ROOT, 'docker-compose.yml'), 'utf8'));
const services = map(compose.services, 'services');
const service = (name: string): YamlMap => map(services[name], `services.${name}`);

/** The service's environment with compose's ${VAR:?message} interpolations given a value. */
function environment(name: string): Record<string, string> {
  const env = map(service(name).environment ?? {}, `services.${name}.environment`);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    assert.equal(typeof v, 'string', `${name}.${k} is a scalar`);
    out[k] = (v as string).replace(/\$\{[A-Z_]+(?::?[?-][^}]*)?\}/g, 'interpolated-value');
  }
  return out;
}

describe('docker-compose.yml', () => {
  it('reads as the YAML subset with the expected services and volume', () => {
    assert.deepEqual(Object.keys(services).sort(), ['api', 'presence', 'redis', 'send', 'worker']);
    assert.ok(Object.hasOwn(map(compose.volumes, 'volumes'), 'redis-data'));
  });

  it('keeps Redis on AOF with fsync every second and no RDB snapshots, on the named volume', () => {
    const cmd = list(service('redis').command, 'redis.command').join(' ');
    assert.match(cmd, /--appendonly yes/);
    assert.match(cmd, /--appendfsync everysec/);
    assert.deepEqual(list(service('redis').command, 'redis.command').slice(-2), ['--save', '']);
    assert.ok(list(service('redis').volumes, 'redis.volumes').includes('redis-data:/data'));
  });

  it('runs the API as `mwi start --no-workers` against the shared Redis, after Redis is healthy', () => {
    const api = service('api');
    assert.equal(api.build, '.');
    assert.deepEqual(api.command, ['start', '--no-workers']);
    assert.equal(environment('api').MWI_REDIS__URL, 'redis://redis:6379');
    assert.equal(map(map(api.depends_on, 'api.depends_on').redis, 'api.depends_on.redis').condition, 'service_healthy');
    assert.match(list(map(api.healthcheck, 'api.healthcheck').test, 'api.healthcheck.test').join(' '), /\/healthz/);
  });

  it('runs scalable workers: node workers/delivery-worker.ts, no container_name, no published ports', () => {
    const worker = service('worker');
    assert.deepEqual(worker.entrypoint, ['node', 'workers/delivery-worker.ts']);
    assert.ok(fs.existsSync(path.join(REPO_ROOT, 'workers', 'delivery-worker.ts')), 'the worker entrypoint exists');
    assert.equal(worker.container_name, undefined);
    assert.equal(worker.ports, undefined);
    assert.equal(environment('worker').MWI_REDIS__URL, 'redis://redis:6379');
  });

  it('gives API and workers more time to stop than delivery.shutdownDeadlineMs', () => {
    const deadlineSec = defaultConfig().delivery.shutdownDeadlineMs / 1000;
    for (const name of ['api', 'worker']) {
      const grace = /^(\d+)s$/.exec(str(service(name).stop_grace_period, `${name}.stop_grace_period`));
      assert.ok(grace && Number(grace[1]) > deadlineSec, `${name}.stop_grace_period > ${deadlineSec}s`);
    }
  });

  it('sets only MWI_* variables the configuration accepts, with valid values', () => {
    for (const name of ['api', 'worker', 'send']) {
      const env = environment(name);
      assert.ok(Object.keys(env).every((k) => k.startsWith('MWI_')), `${name}: only MWI_* variables`);
      assert.doesNotThrow(() => loadConfig({ env, readFile: () => { throw new Error('no files here'); } }), `${name}: environment accepted by loadConfig`);
    }
  });

  it('builds from directories that hold a Dockerfile, and the image holds the worker entrypoint', () => {
    for (const [name, svc] of Object.entries(services)) {
      if (map(svc, name).build === undefined) continue;
      const build = str(map(svc, name).build, `${name}.build`);
      assert.ok(fs.existsSync(path.join(REPO_ROOT, build, 'Dockerfile')), `${name}: ${build}/Dockerfile`);
    }
    assert.match(fs.readFileSync(path.join(REPO_ROOT, 'Dockerfile'), 'utf8'), /^COPY workers \.\/workers$/m);
  });

  it('the reader refuses what it does not understand', () => {
    assert.throws(() => readYamlSubset('a: &anchor 1\n'));
    assert.throws(() => readYamlSubset('a:\n  b: 1\n c: 2\n'));
    assert.throws(() => readYamlSubset('a: 1\na: 2\n'));
    assert.deepEqual(readYamlSubset('a:\n  - "x # not a comment"\n  - y # comment\nb: ["p", ""]\n'), { a: ['x # not a comment', 'y'], b: ['p', ''] });
  });
});
