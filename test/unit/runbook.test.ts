// The README's operator runbook stays true to what exists: every alert rule in
// ops/prometheus/alerts.yml has a row in the runbook's alert table (and no row names an alert
// that is gone), and every `mwi <command>` the runbook tells on-call to type is a real command.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

import { buildProgram } from '../../src/cli/main.ts';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const ALERTS = readFileSync(new URL('../../ops/prometheus/alerts.yml', import.meta.url), 'utf8');

function section(markdown: string, heading: string): string {
  const start = markdown.indexOf(`\n## ${heading}\n`);
  assert.ok(start >= 0, `README has a "## ${heading}" section`);
  const end = markdown.indexOf('\n## ', start + 1);
  return markdown.slice(start, end < 0 ? undefined : end);
}

const RUNBOOK = section(README, 'Operator runbook');

describe('README operator runbook', () => {
  it('has one alert-table row per alert rule, and none for a rule that does not exist', () => {
    const rules = [...ALERTS.matchAll(/^\s*- alert: (\w+)\s*$/gm)].map((m) => m[1]);
    assert.ok(rules.length >= 10, `alerts.yml parsed (${rules.length} rules)`);
    const rows = [...RUNBOOK.matchAll(/^\| `(\w+)` \|/gm)].map((m) => m[1]);
    assert.deepEqual([...rows].sort(), [...rules].sort());
  });

  it('only names mwi commands that the CLI has', () => {
    const program = buildProgram();
    const commands = new Set(program.commands.map((c) => c.name()));
    const used = [...RUNBOOK.matchAll(/\bmwi(?: --)? ([a-z][a-z-]+)/g)].map((m) => m[1] ?? '');
    assert.ok(used.length >= 5, `runbook names mwi commands (${used.join(', ')})`);
    for (const name of used) assert.ok(commands.has(name), `mwi ${name} is a command (have: ${[...commands].join(', ')})`);
  });
});
