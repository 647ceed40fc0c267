/**
 * The runner's Node flags are written in four places: the Dockerfile's NODE_OPTIONS (what a
 * deployment runs), the npm scripts that run the service, the benchmarks and the chaos suite, and
 * the ingest benchmark's API process. They must be the same flags, so the figures and the chaos
 * bounds hold for what is deployed.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

import { REPO_ROOT } from '../harness/process.ts';

function dockerfileFlags(): string {
  const m = /^ENV NODE_OPTIONS="([^"]+)"$/m.exec(fs.readFileSync(path.join(REPO_ROOT, 'Dockerfile'), 'utf8'));
  assert.ok(m, 'the Dockerfile sets NODE_OPTIONS="..."');
  return m[1] ?? '';
}

describe('Node flags', () => {
  it('the Dockerfile bounds the young and the old generation', () => {
    const flags = dockerfileFlags().split(' ');
    assert.ok(flags.includes('--max-semi-space-size=32'), flags.join(' '));
    assert.ok(flags.some((f) => /^--max-old-space-size=\d+$/.test(f)), flags.join(' '));
  });

  it('npm start, bench and chaos run Node with the Dockerfile flags', () => {
    const flags = dockerfileFlags();
    const scripts = (JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    for (const name of ['start', 'bench', 'chaos']) {
      const script = scripts[name] ?? '';
      assert.ok(script.startsWith(`node ${flags} `), `${name}: ${script}`);
    }
  });

  it("the ingest benchmark's API process gets the Dockerfile flags", () => {
    const source = fs.readFileSync(path.join(REPO_ROOT, 'bench', 'ingest.bench.ts'), 'utf8');
    assert.ok(source.includes(`NODE_OPTIONS: '${dockerfileFlags()}'`), 'bench/ingest.bench.ts NODE_OPTIONS');
  });
});
