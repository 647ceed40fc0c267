import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { lineChart, type LineChartSpec } from '../../bench/charts/line-chart.ts';
import { percentileChart } from '../../bench/charts/percentile-chart.ts';
import { linearScale, logScale, niceStep } from '../../bench/charts/scale.ts';
import type { LatencyPercentiles } from '../../bench/report.ts';

/** Tags balance, one <svg> root, every '&' starts an entity, no '<' or '>' loose in text or attributes. */
function assertWellFormed(svg: string): void {
  const stack: string[] = [];
  let roots = 0;
  const tag = /<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<>]*")*)\s*(\/?)>/g;
  let at = 0;
  for (let m = tag.exec(svg); m !== null; m = tag.exec(svg)) {
    const between = svg.slice(at, m.index);
    assert.doesNotMatch(between, /[<>]/, `loose angle bracket before ${m[0]}`);
    at = m.index + m[0].length;
    const [, closing, name = '', , selfClosing] = m;
    if (closing === '/') assert.equal(stack.pop(), name, `</${name}> closes another element`);
    else if (selfClosing !== '/') {
      if (stack.length === 0) roots++;
      stack.push(name);
    } else if (stack.length === 0) roots++;
  }
  assert.doesNotMatch(svg.slice(at), /[<>]/, 'loose angle bracket at the end');
  assert.deepEqual(stack, [], 'unclosed elements');
  assert.equal(roots, 1);
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  assert.doesNotMatch(svg, /&(?!(amp|lt|gt|quot|apos);)/, 'a bare &');
  assert.doesNotMatch(svg, /NaN|Infinity|undefined/);
}

/** The groups of each series: its polyline points and dots, as coordinate pairs. */
function seriesPoints(svg: string): Map<string, { lines: number[]; dots: number }> {
  const out = new Map<string, { lines: number[]; dots: number }>();
  for (const g of svg.matchAll(/<g class="series" data-name="([^"]*)"[^>]*>([\s\S]*?)<\/g>/g)) {
    const body = g[2] ?? '';
    out.set(g[1] ?? '', {
      lines: [...body.matchAll(/points="([^"]*)"/g)].map((p) => (p[1] ?? '').split(' ').length),
      dots: [...body.matchAll(/<circle /g)].length,
    });
  }
  return out;
}

function polylineYs(svg: string, name: string): number[] {
  const g = new RegExp(`data-name="${name}"[^>]*>([\\s\\S]*?)</g>`).exec(svg)?.[1] ?? '';
  return [...g.matchAll(/points="([^"]*)"/g)].flatMap((p) => (p[1] ?? '').split(' ').map((xy) => Number(xy.split(',')[1])));
}

const base: LineChartSpec = {
  title: 'Rates',
  x: { label: 'time', unit: 's' },
  left: { label: 'rate', unit: 'PUBLISH/s' },
  lines: [
    { name: 'offered', xs: [0.25, 0.5, 0.75, 1], ys: [100, 2_000, 3_100, 2_900] },
    { name: 'delivered', xs: [0.25, 0.5, 0.75, 1], ys: [90, 1_900, 3_000, 2_950] },
  ],
};

describe('bench line chart', () => {
  it('is one well-formed SVG with a title, the axis labels with units and a legend entry per line', () => {
    const svg = lineChart(base);
    assertWellFormed(svg);
    assert.match(svg, /<title>Rates<\/title>/);
    assert.match(svg, />rate \(PUBLISH\/s\)</);
    assert.match(svg, />time \(s\)</);
    const legend = /<g class="legend">([\s\S]*?)<\/g>/.exec(svg)?.[1] ?? '';
    assert.match(legend, />offered</);
    assert.match(legend, />delivered</);
  });

  it('draws one point per sample, each line in its own group', () => {
    const points = seriesPoints(lineChart(base));
    assert.deepEqual(points.get('offered'), { lines: [4], dots: 0 });
    assert.deepEqual(points.get('delivered'), { lines: [4], dots: 0 });
  });

  it('skips null, undefined and NaN samples, breaking the line there, and draws a lone sample as a dot', () => {
    const svg = lineChart({ ...base, lines: [{ name: 'gappy', xs: [1, 2, 3, 4, 5, 6, 7, 8], ys: [1, null, 2, Number.NaN, 3, undefined, 4, 5] }] });
    assertWellFormed(svg);
    assert.deepEqual(seriesPoints(svg).get('gappy'), { lines: [2], dots: 3 });
  });

  it('draws a series of one sample as a dot', () => {
    const svg = lineChart({ ...base, lines: [{ name: 'single', xs: [3], ys: [42] }] });
    assertWellFormed(svg);
    assert.deepEqual(seriesPoints(svg).get('single'), { lines: [], dots: 1 });
  });

  it('draws an all-zero series along the bottom of a 0..1 axis', () => {
    const svg = lineChart({ ...base, lines: [{ name: 'zeros', xs: [1, 2, 3], ys: [0, 0, 0] }] });
    assertWellFormed(svg);
    const ys = polylineYs(svg, 'zeros');
    assert.equal(ys.length, 3);
    assert.equal(new Set(ys).size, 1);
    assert.match(svg, /class="tick">1\.0</);
  });

  it('renders an empty chart (no line, no sample) without NaN', () => {
    assertWellFormed(lineChart({ ...base, lines: [] }));
    assertWellFormed(lineChart({ ...base, lines: [{ name: 'nothing', xs: [1, 2], ys: [null, Number.NaN] }] }));
  });

  it('escapes the title, series names, units and reference labels', () => {
    const svg = lineChart({
      ...base,
      title: 'A <b> & "c"',
      left: { label: "it's", unit: '<ms>' },
      lines: [{ name: 'x < y & z', xs: [1, 2], ys: [1, 2] }],
      horizontal: [{ value: 1.5, label: 'cap <1.5> & more' }],
    });
    assertWellFormed(svg);
    assert.match(svg, /A &lt;b&gt; &amp; &quot;c&quot;/);
    assert.match(svg, /it&apos;s \(&lt;ms&gt;\)/);
    assert.match(svg, /data-name="x &lt; y &amp; z"/);
    assert.match(svg, /cap &lt;1\.5&gt; &amp; more/);
  });

  it('draws the reference lines with their labels and widens the axes to hold them', () => {
    const svg = lineChart({ ...base, horizontal: [{ value: 5_000, label: 'capacity 5,000/s' }], vertical: [{ x: 10, label: 'ideal drain 10.0 s' }] });
    assertWellFormed(svg);
    assert.match(svg, />capacity 5,000\/s</);
    assert.match(svg, />ideal drain 10\.0 s</);
    assert.match(svg, /class="tick">5,000</);
    assert.match(svg, /class="tick">10</);
    assert.equal([...svg.matchAll(/class="reference"/g)].length, 2);
  });

  it('puts a line on the right axis with its own scale and says so in the legend', () => {
    const svg = lineChart({ ...base, right: { label: 'in flight', unit: 'requests' }, lines: [...base.lines, { name: 'in flight', xs: [1, 2], ys: [200, 1_000], axis: 'right' }] });
    assertWellFormed(svg);
    assert.match(svg, /<g class="axis y-right">/);
    assert.match(svg, />in flight \(requests\)</);
    assert.match(svg, />in flight \(right axis\)</);
  });

  it('gives the same bytes for the same data, coordinates with one decimal', () => {
    const svg = lineChart(base);
    assert.equal(lineChart(base), svg);
    for (const p of svg.matchAll(/points="([^"]*)"/g)) for (const xy of (p[1] ?? '').split(' ')) assert.match(xy, /^-?\d+\.\d,-?\d+\.\d$/);
  });
});

describe('bench chart scales', () => {
  it('steps by 1, 2, 2.5 or 5 times a power of ten', () => {
    assert.equal(niceStep(3_364, 6), 1_000);
    assert.equal(niceStep(3_364, 8), 500);
    assert.equal(niceStep(42.75, 10), 5);
    assert.equal(niceStep(1, 4), 0.25);
  });

  it('widens a linear domain to whole steps and labels ticks with grouping and the needed decimals', () => {
    const s = linearScale(0, 3_364, 8);
    assert.deepEqual(s.ticks, [0, 500, 1_000, 1_500, 2_000, 2_500, 3_000, 3_500]);
    assert.equal(s.labels.at(-1), '3,500');
    assert.deepEqual(linearScale(0, 0.37, 4).labels, ['0.0', '0.1', '0.2', '0.3', '0.4']);
    assert.deepEqual(linearScale(0, 0, 5).ticks.at(-1), 1);
  });

  it('puts a log domain on whole decades, with 2 and 5 between them over a short range', () => {
    const s = logScale(3, 180);
    assert.equal(s.min, 1);
    assert.equal(s.max, 1_000);
    assert.deepEqual(s.ticks, [1, 10, 100, 1_000]);
    assert.deepEqual(logScale(0.4, 9).labels, ['0.1', '0.2', '0.5', '1', '2', '5', '10']);
    assert.deepEqual(logScale(0.4, 30).labels, ['0.1', '1', '10', '100']);
    assert.ok(Number.isNaN(s.fraction(0)));
  });
});

function percentiles(p50Ms: number, count = 1_000): LatencyPercentiles {
  return { count, p50Ms, p90Ms: p50Ms * 2, p99Ms: p50Ms * 4, p999Ms: p50Ms * 8, maxMs: p50Ms * 20 };
}

describe('bench percentile chart', () => {
  it('draws five points per case over p50..max on a log axis, with a legend entry per case', () => {
    const svg = percentileChart({ title: 'Latency', cases: [{ name: 'ours', percentiles: percentiles(6) }, { name: 'raw SIPp', percentiles: percentiles(0.5) }] });
    assertWellFormed(svg);
    for (const label of ['p50', 'p90', 'p99', 'p99.9', 'max']) assert.match(svg, new RegExp(`class="tick">${label.replace('.', '\\.')}<`));
    assert.match(svg, />latency \(ms, log scale\)</);
    assert.deepEqual(seriesPoints(svg).get('ours'), { lines: [5], dots: 5 });
    assert.deepEqual(seriesPoints(svg).get('raw SIPp'), { lines: [5], dots: 5 });
  });

  it('skips a case without samples, and a percentile that is null (JSON NaN) or zero on the log axis', () => {
    const nulled = { ...percentiles(2), p999Ms: null as unknown as number, maxMs: 0 };
    const svg = percentileChart({ title: 'L', cases: [{ name: 'empty', percentiles: percentiles(Number.NaN, 0) }, { name: 'partial', percentiles: nulled }] });
    assertWellFormed(svg);
    assert.deepEqual(seriesPoints(svg).get('empty'), { lines: [], dots: 0 });
    assert.deepEqual(seriesPoints(svg).get('partial'), { lines: [3], dots: 3 });
  });

  it('escapes case names and renders a linear scale on request', () => {
    const svg = percentileChart({ title: 'L', log: false, cases: [{ name: 'a<b>&c', percentiles: percentiles(1) }] });
    assertWellFormed(svg);
    assert.match(svg, /data-name="a&lt;b&gt;&amp;c"/);
    assert.match(svg, />latency \(ms\)</);
  });
});
