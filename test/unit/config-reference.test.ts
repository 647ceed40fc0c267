import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

import { configReference, withReference } from '../../config/reference.ts';
import { SECRET_PATHS, defaultConfig } from '../../config/schema.ts';

const README = path.join(import.meta.dirname, '..', '..', 'README.md');

/** Every leaf path of the default configuration (optional settings without a default are absent there). */
function leafPaths(tree: Record<string, unknown>, prefix: string[] = []): string[] {
  return Object.entries(tree).flatMap(([k, v]) => (v !== null && typeof v === 'object' && !Array.isArray(v) ? leafPaths(v as Record<string, unknown>, [...prefix, k]) : [[...prefix, k].join('.')]));
}

describe('configuration reference (README.md, generated from config/schema.ts)', () => {
  it('the README holds the current reference: run `npm run docs:config` when this fails', () => {
    const readme = readFileSync(README, 'utf8');
    assert.equal(withReference(readme), readme);
  });

  it('lists every setting with a description, and marks every secret', () => {
    const table = configReference();
    for (const p of [...leafPaths(defaultConfig()), ...SECRET_PATHS]) {
      const row = table.split('\n').find((l) => l.startsWith(`| \`${p}\` |`));
      assert.ok(row, `${p} is missing from the reference`);
      assert.doesNotMatch(row, /\|\s*\|$/, `${p} has no description`);
    }
    for (const p of SECRET_PATHS) assert.match(table.split('\n').find((l) => l.startsWith(`| \`${p}\` |`)) ?? '', /MWI_[A-Z_]+_FILE.*[Nn]ever logged/, p);
  });
});
