/** The chaos run's table (stdout and results/latest.md) and its JSON twin (results/latest.json). */
import type { Figure, ScenarioResult } from './types.ts';

export type Verdict = 'PASS' | 'LOST' | 'CRASHED' | 'TIMED OUT' | 'SKIPPED';

export interface ScenarioOutcome {
  result: ScenarioResult;
  verdict: Verdict;
  /** Set when the scenario threw, timed out or the runner process saw an uncaught error meanwhile. */
  problem?: string;
}

export interface RunReport {
  date: string;
  node: string;
  host: { cpus: number; loadAverageAtStart: number[]; loadAverageAtEnd: number[] };
  seed: number;
  command: string;
  totalMs: number;
  exitCode: number;
  scenarios: ScenarioOutcome[];
}

export function verdictOf(result: ScenarioResult, problem: string | undefined, timedOut: boolean): Verdict {
  if (timedOut) return 'TIMED OUT';
  if (problem !== undefined) return 'CRASHED';
  return result.lost === 0 ? 'PASS' : 'LOST';
}

function seconds(ms: number): string {
  return ms >= 60_000 ? `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s` : `${(ms / 1000).toFixed(1)} s`;
}

function figures(f: Record<string, Figure>): string {
  return Object.entries(f)
    .map(([k, v]) => `${k} ${v}`)
    .join('; ');
}

const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function renderTable(outcomes: readonly ScenarioOutcome[]): string {
  const rows = ['| scenario | what was tried | trials | lost | key figures | time | verdict |', '|---|---|---:|---:|---|---:|---|'];
  for (const { result: r, verdict } of outcomes) {
    rows.push(`| ${[r.name, cell(r.tried), String(r.trials), String(r.lost), cell(figures(r.figures)), seconds(r.durationMs), verdict].join(' | ')} |`);
  }
  return rows.join('\n');
}

export function renderMarkdown(report: RunReport): string {
  const lines = [
    '# Chaos suite: latest run',
    '',
    `${report.date}; node ${report.node}; ${report.host.cpus} CPUs; load average ${report.host.loadAverageAtStart.map((n) => n.toFixed(2)).join(' ')} at start, ` +
      `${report.host.loadAverageAtEnd.map((n) => n.toFixed(2)).join(' ')} at end; seed ${report.seed}; \`${report.command}\`; ` +
      `total ${seconds(report.totalMs)}; exit ${report.exitCode}.`,
    '',
    renderTable(report.scenarios),
    '',
    '## What counts as lost',
    '',
  ];
  for (const { result: r, problem } of report.scenarios) {
    lines.push(`- **${r.name}**: ${r.lostMeans}`);
    if (problem !== undefined) lines.push(`  - problem: ${cell(problem)}`);
    for (const f of r.failures ?? []) lines.push(`  - ${cell(f)}`);
  }
  return `${lines.join('\n')}\n`;
}
