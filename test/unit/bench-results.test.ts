import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';

import { ratio, type BenchResult } from '../../bench/report.ts';
import { renderReportDocument } from '../../bench/report-document.ts';
import { readResults, writeReport } from '../../bench/results-dir.ts';
import { mergeResults, normaliseResults, type RunEnvironment } from '../../bench/results-file.ts';

function env(date: string): RunEnvironment {
  return { date, node: 'v24.0.0', nodeFlags: '(none)', cpuModel: 'cpu', cpus: 2, platform: 'Linux', loadAverageAtStart: [0.5, 0.4, 0.3] };
}

function result(name: string, ours: number): BenchResult {
  return {
    name,
    description: `${name} benchmark`,
    rows: [
      { label: 'ours', value: ours, unit: 'tx/s' },
      { label: 'reference', value: 100, unit: 'tx/s' },
    ],
    ratios: [ratio('ours / reference', ours / 100, 1.5, { ours: 'ours', reference: 'reference' }), ratio('no goal, no rows', 1)],
    notes: [],
  };
}

const ALL = ['alpha', 'beta', 'gamma'];
const first = mergeResults(undefined, env('2026-01-01T00:00:00.000Z'), ALL.map((n) => ({ name: n, elapsedMs: 1_000, result: result(n, 200) })), ALL);

describe('bench results merge', () => {
  it('keeps the other benchmarks of a partial run with their own dates, and replaces the ones it ran', () => {
    const second = mergeResults(first, env('2026-02-01T00:00:00.000Z'), [{ name: 'beta', elapsedMs: 2_000, result: result('beta', 120) }], ALL);
    assert.deepEqual(second.benchmarks.map((b) => [b.name, b.run.date]), [
      ['alpha', '2026-01-01T00:00:00.000Z'],
      ['beta', '2026-02-01T00:00:00.000Z'],
      ['gamma', '2026-01-01T00:00:00.000Z'],
    ]);
    assert.equal(second.benchmarks[1]?.result?.rows[0]?.value, 120);
    assert.deepEqual(second.lastRun.benchmarks, ['beta']);
  });

  it('records a crash but keeps the result it replaced, and drops benchmarks that no longer exist', () => {
    const crashed = mergeResults(first, env('2026-03-01T00:00:00.000Z'), [{ name: 'alpha', elapsedMs: 5, error: 'Error: boom' }], ['alpha', 'beta']);
    assert.deepEqual(crashed.benchmarks.map((b) => b.name), ['alpha', 'beta']);
    const alpha = crashed.benchmarks[0];
    assert.equal(alpha?.error, 'Error: boom');
    assert.equal(alpha?.lastResult?.run.date, '2026-01-01T00:00:00.000Z');
    const again = mergeResults(crashed, env('2026-03-02T00:00:00.000Z'), [{ name: 'alpha', elapsedMs: 5, error: 'Error: boom again' }], ['alpha', 'beta']);
    assert.equal(again.benchmarks[0]?.lastResult?.run.date, '2026-01-01T00:00:00.000Z');
  });

  it('reads the earlier one-run file shape, giving each entry the file environment', () => {
    const legacy = { ...env('2025-12-01T00:00:00.000Z'), benchmarks: [{ name: 'beta', elapsedMs: 3, result: result('beta', 150) }] };
    const file = normaliseResults(JSON.parse(JSON.stringify(legacy)));
    assert.equal(file.benchmarks[0]?.run.date, '2025-12-01T00:00:00.000Z');
    assert.equal(file.benchmarks[0]?.run.cpus, 2);
    assert.deepEqual(file.lastRun.benchmarks, ['beta']);
    assert.throws(() => normaliseResults({ nothing: true }), /not a benchmark results file/);
  });
});

describe('bench report document', () => {
  it('opens with a summary line per ratio with a goal or named rows, marks the last run, and links each chart', () => {
    const withLatency: BenchResult = { ...result('beta', 120), percentiles: { ours: { count: 10, p50Ms: 1, p90Ms: 2, p99Ms: 3, p999Ms: 4, maxMs: 5 } } };
    const merged = mergeResults(first, env('2026-02-01T00:00:00.000Z'), [{ name: 'beta', elapsedMs: 2_000, result: withLatency }], ALL);
    const doc = renderReportDocument(merged, ALL);
    const summary = doc.markdown.slice(doc.markdown.indexOf('## Summary'), doc.markdown.indexOf('## Runs'));
    assert.match(summary, /\| beta \| 120 tx\/s \| 100 tx\/s \| ours \/ reference: 1\.200 \| >= 1\.5 \| FAIL \|/);
    assert.match(summary, /\| alpha \| 200 tx\/s \| 100 tx\/s \| ours \/ reference: 2\.000 \| >= 1\.5 \| PASS \|/);
    assert.doesNotMatch(summary, /no goal, no rows/);
    assert.match(doc.markdown, /a partial run \(1 of 3\)/);
    assert.match(doc.markdown, /\| beta \| 2026-02-01T00:00:00\.000Z \(last run\) \|/);
    assert.match(doc.markdown, /\| alpha \| 2026-01-01T00:00:00\.000Z \|/);
    assert.deepEqual(doc.charts.map((c) => c.fileName), ['beta-latency.svg']);
    assert.match(doc.markdown, /!\[beta: latency per transaction\]\(beta-latency\.svg\)/);
    assert.match(doc.markdown, /\| ours \| 1\.00 \| 2\.00 \| 3\.00 \| 4\.00 \| 5\.00 \| 10 \|/);
  });

  it('writes the report and keeps only the latest charts; the JSON reads back to the same results', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-results-'));
    try {
      writeFileSync(path.join(dir, 'old-run-chart.svg'), '<svg/>');
      const withLatency: BenchResult = { ...result('beta', 120), percentiles: { ours: { count: 10, p50Ms: 1, p90Ms: 2, p99Ms: 3, p999Ms: 4, maxMs: Number.NaN } } };
      const merged = mergeResults(first, env('2026-02-01T00:00:00.000Z'), [{ name: 'beta', elapsedMs: 2_000, result: withLatency }], ALL);
      writeReport(merged, ALL, dir);
      assert.deepEqual(readdirSync(dir).sort(), ['beta-latency.svg', 'latest.json', 'latest.md']);
      const back = readResults(dir);
      assert.ok(back);
      assert.deepEqual(back.benchmarks.map((b) => [b.name, b.run.date]), merged.benchmarks.map((b) => [b.name, b.run.date]));
      assert.equal(back.benchmarks[1]?.result?.percentiles?.ours?.maxMs, null); // NaN does not survive JSON
      writeReport(back, ALL, dir); // re-rendering from the file alone works
      assert.match(readFileSync(path.join(dir, 'latest.md'), 'utf8'), /\| ours \| 1\.00 \| 2\.00 \| 3\.00 \| 4\.00 \| n\/a \| 10 \|/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
