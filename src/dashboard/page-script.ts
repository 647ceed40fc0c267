/**
 * The operations page's one script, served as <base>/dashboard.js. It is browser JavaScript kept
 * in a string (like the login page's HTML), because a .js file in src/ is outside the TypeScript
 * project that the type-aware lint parses with. Rules it keeps: no template literals (this is
 * one), every value from the API reaches the page as a text node or an attribute set with
 * setAttribute (never innerHTML), no inline style (the page's CSP forbids it).
 *
 * What it does: every 2 s (after the previous round finished) GET /v1/status with the session
 * cookie, plus the sweep status (`runtime.sweep`, or <base>/api/sweep while the status report has
 * none); keeps the last 5 minutes of samples and draws them as SVG line charts; the operator's
 * actions POST with X-CSRF-Token from the XSRF-TOKEN cookie. A 401 sends the browser to /login.
 */
export const PAGE_SCRIPT = String.raw`'use strict';
(function () {
  var POLL_MS = 2000;
  var WINDOW_MS = 5 * 60 * 1000;
  var SVG_NS = 'http://www.w3.org/2000/svg';
  var base = document.body.getAttribute('data-base') || '/dashboard';
  var role = null;
  var samples = [];
  var targetRows = new Map();

  function $(id) { return document.getElementById(id); }

  /** An element with attributes (set as attributes) and children (strings become text nodes). */
  function el(tag, attrs) {
    var node = document.createElement(tag);
    setAttrs(node, attrs);
    for (var i = 2; i < arguments.length; i++) append(node, arguments[i]);
    return node;
  }
  function svg(tag, attrs) {
    var node = document.createElementNS(SVG_NS, tag);
    setAttrs(node, attrs);
    for (var i = 2; i < arguments.length; i++) append(node, arguments[i]);
    return node;
  }
  function setAttrs(node, attrs) {
    if (!attrs) return;
    Object.keys(attrs).forEach(function (k) { if (attrs[k] !== undefined && attrs[k] !== null) node.setAttribute(k, String(attrs[k])); });
  }
  /** Appends each child after the first argument (strings and numbers become text nodes; null, undefined and false are skipped). */
  function append(node) {
    for (var i = 1; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === undefined || child === null || child === false) continue;
      node.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
    }
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  function setText(node, text) { node.textContent = text === undefined || text === null ? '' : String(text); }

  function time(ms) { return ms ? new Date(ms).toLocaleTimeString() : '-'; }
  function dateTime(ms) { return ms ? new Date(ms).toLocaleString() : '-'; }
  function num(v, digits) { return typeof v === 'number' && isFinite(v) ? v.toFixed(digits || 0) : '-'; }
  function duration(ms) {
    if (typeof ms !== 'number' || !isFinite(ms)) return '-';
    if (ms < 1000) return Math.round(ms) + ' ms';
    if (ms < 120000) return (ms / 1000).toFixed(1) + ' s';
    return Math.round(ms / 60000) + ' min';
  }

  function cookie(name) {
    var parts = document.cookie ? document.cookie.split(';') : [];
    for (var i = 0; i < parts.length; i++) {
      var p = parts[i].trim();
      var eq = p.indexOf('=');
      if (eq > 0 && p.slice(0, eq) === name) return decodeURIComponent(p.slice(eq + 1));
    }
    return '';
  }

  function ApiError(status, code, message) { this.status = status; this.code = code; this.message = message; }

  /** Same-origin JSON call with the session cookie; writes carry the CSRF token. */
  function api(method, url, body) {
    var headers = { accept: 'application/json' };
    if (method !== 'GET') { headers['content-type'] = 'application/json'; headers['x-csrf-token'] = cookie('XSRF-TOKEN'); }
    return fetch(url, { method: method, headers: headers, credentials: 'same-origin', cache: 'no-store', body: body === undefined ? undefined : JSON.stringify(body) })
      .then(function (res) {
        return res.text().then(function (text) {
          var data = null;
          try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
          if (res.status === 401) { window.location.assign('/login'); }
          if (!res.ok) {
            var err = data && data.error ? data.error : { code: 'HTTP_' + res.status, message: res.statusText };
            throw new ApiError(res.status, err.code, err.message);
          }
          return data;
        });
      });
  }
  function errorText(err) { return err instanceof ApiError ? err.code + ': ' + err.message : String(err && err.message ? err.message : err); }

  // ---- pauses and drain ----
  function renderControl(control) {
    var pauses = control.pauses || [];
    var global = pauses.filter(function (p) { return p.scope === 'global'; })[0];
    $('pause-banner').hidden = !global;
    if (global) {
      setText($('pause-actor'), global.actor);
      setText($('pause-reason'), global.reason);
      setText($('pause-since'), dateTime(global.since));
      setText($('pause-until'), global.until ? 'until ' + dateTime(global.until) : 'until resumed');
    }
    var targeted = pauses.filter(function (p) { return p.scope !== 'global'; });
    var box = $('target-pauses');
    clear(box);
    box.hidden = targeted.length === 0;
    targeted.forEach(function (p) {
      append(box, el('div', null, el('strong', null, 'Paused: ' + p.scope), ' by ', el('b', null, p.actor), ', ' + (p.until ? 'until ' + dateTime(p.until) : 'until resumed') + ': ', el('q', null, p.reason)));
    });
    var drain = $('drain-banner');
    clear(drain);
    drain.hidden = !control.drain;
    if (control.drain) append(drain, el('div', null, el('strong', null, 'Draining'), ' (no new sweeps) by ', el('b', null, control.drain.actor), ' since ' + dateTime(control.drain.since) + ': ', el('q', null, control.drain.reason)));
  }

  // ---- targets: breakers joined with rates by id ----
  function lastTrip(b) {
    if (!b) return '-';
    if (b.state.kind !== 'closed') return b.state.reason + (b.state.actor ? ' (' + b.state.actor + ')' : '');
    var t = b.lastTransition;
    return t ? t.from + ' -> ' + t.to + ' at ' + time(t.at) + ': ' + t.reason : '-';
  }

  function breakerAction(id) {
    var reason = el('input', { 'class': 'breaker-reason', placeholder: 'reason', maxlength: 500, 'aria-label': 'reason for ' + id });
    var isolate = el('button', { type: 'button', 'class': 'isolate-button' }, 'Isolate');
    var reset = el('button', { type: 'button', 'class': 'reset-button' }, 'Reset');
    function act(action) {
      if (!reason.value.trim()) { reason.focus(); showResult('A reason is required to ' + action + ' ' + id + '.'); return; }
      api('POST', '/v1/breakers/' + encodeURIComponent(id) + '/' + action, { reason: reason.value })
        .then(function () { reason.value = ''; showResult('Breaker ' + id + ': ' + action + ' done.'); return poll(); })
        .catch(function (err) { showResult('Breaker ' + action + ' failed: ' + errorText(err)); });
    }
    isolate.addEventListener('click', function () { act('isolate'); });
    reset.addEventListener('click', function () { act('reset'); });
    return el('td', { 'class': 'operator-only' }, el('div', { 'class': 'breaker-form' }, reason, isolate, reset));
  }

  function renderTargets(runtime) {
    var breakers = (runtime.breakers || []).filter(function (b) { return b.id !== 'dns'; });
    var rates = runtime.rates || [];
    var ids = [];
    rates.forEach(function (r) { if (ids.indexOf(r.id) < 0) ids.push(r.id); });
    breakers.forEach(function (b) { if (ids.indexOf(b.id) < 0) ids.push(b.id); });
    ids.sort();
    var tbody = $('targets').tBodies[0];
    targetRows.forEach(function (row, id) { if (ids.indexOf(id) < 0) { row.tr.remove(); targetRows.delete(id); } });
    ids.forEach(function (id) {
      var row = targetRows.get(id);
      if (!row) {
        var cells = [];
        for (var i = 0; i < 9; i++) cells.push(el('td', i >= 3 && i <= 6 ? { 'class': 'num' } : null));
        var tr = el('tr', { 'data-target': id });
        cells.forEach(function (c) { tr.appendChild(c); });
        tr.appendChild(breakerAction(id));
        row = { tr: tr, cells: cells };
        targetRows.set(id, row);
      }
      tbody.appendChild(row.tr); // keeps the sorted order; the action cell (and a reason being typed) stays
      var b = breakers.filter(function (x) { return x.id === id; })[0];
      var r = rates.filter(function (x) { return x.id === id; })[0];
      var kind = b ? b.state.kind : 'closed';
      setText(row.cells[0], id);
      setText(row.cells[1], kind + (b ? ' (' + b.okInWindow + ' ok / ' + b.failuresInWindow + ' failed)' : ''));
      row.cells[1].setAttribute('class', 'state-' + kind);
      setText(row.cells[2], lastTrip(b));
      setText(row.cells[3], r ? num(r.allowedPerSec, 1) : '-');
      setText(row.cells[4], r ? num(r.actualPerSec, 1) : '-');
      setText(row.cells[5], r ? r.inFlight + ' / ' + r.maxInFlight : '-');
      setText(row.cells[6], r ? num(r.latencyMs, 0) : '-');
      setText(row.cells[7], r ? r.phase + (r.holdUntil > Date.now() ? ' (held: ' + (r.holdReason || '') + ')' : '') : '-');
      var mix = (runtime.responses || {})[id];
      setText(row.cells[8], mix ? Object.keys(mix).sort().map(function (k) { return k + ' ' + mix[k]; }).join(' · ') : '-');
    });
    $('targets-empty').hidden = ids.length > 0;
    applyRole();
  }

  // ---- charts ----
  function niceMax(v) {
    if (!(v > 0)) return 1;
    var p = Math.pow(10, Math.floor(Math.log10(v)));
    var steps = [1, 2, 5, 10];
    for (var i = 0; i < steps.length; i++) if (v <= steps[i] * p) return steps[i] * p;
    return 10 * p;
  }

  /** One line chart: series [{ cls, label, points: [[at, value]] }] since the first sample, at least the last minute, at most WINDOW_MS. */
  function chart(title, unit, series) {
    var W = 360, H = 100, L = 30, B = 12;
    var now = Date.now();
    var span = Math.min(WINDOW_MS, Math.max(60000, samples.length > 0 ? now - samples[0].at : 0));
    var max = 0;
    series.forEach(function (s) { s.points.forEach(function (p) { if (p[1] > max) max = p[1]; }); });
    max = niceMax(max);
    function x(at) { return L + (W - L) * (1 - (now - at) / span); }
    function y(v) { return (H - B) - (H - B - 4) * (v / max); }
    var root = svg('svg', { 'class': 'chart', viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': title });
    append(root, svg('line', { 'class': 'axis', x1: L, y1: H - B, x2: W, y2: H - B }));
    append(root, svg('line', { 'class': 'axis', x1: L, y1: 4, x2: L, y2: H - B }));
    append(root, svg('text', { x: 2, y: 12 }, String(max)));
    append(root, svg('text', { x: 2, y: H - B }, '0'));
    append(root, svg('text', { x: L, y: H - 1 }, '-' + (span < 120000 ? Math.round(span / 1000) + ' s' : Math.round(span / 60000) + ' min')));
    append(root, svg('text', { x: W - 22, y: H - 1 }, 'now'));
    series.forEach(function (s) {
      var pts = s.points.filter(function (p) { return now - p[0] <= span; }).map(function (p) { return x(p[0]).toFixed(1) + ',' + y(p[1]).toFixed(1); });
      if (pts.length > 0) append(root, svg('polyline', { 'class': s.cls, points: pts.join(' ') }, svg('title', null, s.label)));
    });
    var legend = series.map(function (s) { return s.label; }).join(' vs ');
    return el('figure', null, root, el('figcaption', null, title + ': ' + legend + ' (' + unit + ')'));
  }

  function renderCharts() {
    var ids = [];
    samples.forEach(function (s) { Object.keys(s.rates).forEach(function (id) { if (ids.indexOf(id) < 0) ids.push(id); }); });
    ids.sort();
    var box = $('rate-charts');
    clear(box);
    ids.forEach(function (id) {
      var allowed = [], actual = [];
      samples.forEach(function (s) { var r = s.rates[id]; if (r) { allowed.push([s.at, r.allowed]); actual.push([s.at, r.actual]); } });
      append(box, chart('Rate to ' + id, 'requests/s', [{ cls: 'allowed', label: 'allowed', points: allowed }, { cls: 'actual', label: 'actual', points: actual }]));
    });
    var q = $('queue-chart');
    clear(q);
    append(q, chart('Queue depth', 'mailboxes, jobs', [
      { cls: 'depth', label: 'undelivered mailboxes', points: samples.map(function (s) { return [s.at, s.dirty]; }) },
      { cls: 'jobs', label: 'jobs waiting', points: samples.map(function (s) { return [s.at, s.waiting]; }) },
    ]));
  }

  function stat(dl, term, value) { append(dl, el('dt', null, term)); append(dl, el('dd', null, value)); }

  function renderQueue(runtime) {
    var dl = $('queue');
    clear(dl);
    var q = runtime.queue;
    if (!q) { stat(dl, 'Queue', 'not reported'); return; }
    stat(dl, 'Undelivered mailboxes', q.dirtyMailboxes);
    stat(dl, 'Due now', q.dueMailboxes);
    stat(dl, 'Jobs', q.jobs.waiting + ' waiting, ' + q.jobs.active + ' active, ' + q.jobs.delayed + ' delayed, ' + q.jobs.failed + ' failed');
  }

  function renderDns(runtime) {
    var b = (runtime.breakers || []).filter(function (x) { return x.id === 'dns'; })[0];
    var p = $('dns');
    clear(p);
    var c = runtime.dnsCache;
    if (c && c.locates > 0) {
      append(p, 'DNS cache (this process): ' + c.hits + ' hits, ' + c.queries + ' queries, ' + c.staleServed + ' stale answers served, ' + c.failures + ' failures, ' + num(c.queries * 1000 / c.locates, 2) + ' queries per 1,000 messages. ');
    }
    if (!b) { append(p, 'No DNS breaker evidence yet (targets given as addresses need no lookups).'); return; }
    append(p, 'DNS breaker: ', el('b', { 'class': 'state-' + b.state.kind }, b.state.kind), ', ' + b.okInWindow + ' ok / ' + b.failuresInWindow + ' failed in the window');
    if (b.state.kind !== 'closed') append(p, ': ' + b.state.reason);
    else if (b.lastTransition) append(p, '; last transition ' + b.lastTransition.from + ' -> ' + b.lastTransition.to + ' at ' + dateTime(b.lastTransition.at) + ': ' + b.lastTransition.reason);
  }

  function renderSweep(sweep) {
    var p = $('sweep-running');
    clear(p);
    var tbody = $('sweep-runs').tBodies[0];
    clear(tbody);
    if (!sweep) { append(p, 'No sweep status from this API process.'); return; }
    if (sweep.running) {
      var h = sweep.running;
      append(p, el('b', null, 'Running: '), h.mode + ' ' + h.runId + ' on ' + h.host + ' (pid ' + h.pid + '), for ' + duration(Date.now() - h.startedAt) + '; lock TTL ' + duration(h.lockTtlLeftMs));
    } else {
      append(p, 'Idle: no host holds the sweep lock. Last run ended ' + dateTime(sweep.lastEndedAt) + '.');
    }
    if (sweep.runs.length === 0) append(tbody, el('tr', null, el('td', { colspan: 12, 'class': 'muted' }, 'No runs recorded yet.')));
    sweep.runs.forEach(function (r) {
      var note = r.aborted ? r.aborted.reason + ': ' + r.aborted.message : r.heldBy ? 'lock held by ' + r.heldBy : r.targetsDown.length ? 'down: ' + r.targetsDown.map(function (t) { return t.target + ' (' + t.reason + ')'; }).join(', ') : r.dryRun ? 'dry run' : '';
      var c = r.counts;
      append(tbody, el('tr', null,
        el('td', null, dateTime(r.startedAt)), el('td', null, r.mode), el('td', null, r.trigger), el('td', null, r.host),
        el('td', { 'class': 'outcome-' + r.outcome }, r.outcome), el('td', { 'class': 'num' }, duration(r.endedAt - r.startedAt)),
        el('td', { 'class': 'num' }, c.scanned), el('td', { 'class': 'num' }, c.changed), el('td', { 'class': 'num' }, c.expiring),
        el('td', { 'class': 'num' }, c.enqueued), el('td', { 'class': 'num' }, c.skipped), el('td', null, note)));
    });
  }

  function renderAudit(runtime) {
    var tbody = $('audit').tBodies[0];
    clear(tbody);
    var entries = runtime.audit || [];
    if (entries.length === 0) append(tbody, el('tr', null, el('td', { colspan: 6, 'class': 'muted' }, 'No operator actions yet.')));
    entries.forEach(function (a) {
      append(tbody, el('tr', null, el('td', null, dateTime(a.at)), el('td', null, a.actor), el('td', null, a.action + (a.until ? ' until ' + time(a.until) : '')), el('td', null, a.subject), el('td', null, a.reason), el('td', null, a.via)));
    });
  }

  function applyRole() {
    var operator = role === 'operator';
    $('operator-controls').hidden = !operator;
    var nodes = document.querySelectorAll('.operator-only');
    for (var i = 0; i < nodes.length; i++) nodes[i].hidden = !operator;
  }

  function record(runtime) {
    var rates = {};
    (runtime.rates || []).forEach(function (r) { rates[r.id] = { allowed: r.allowedPerSec, actual: r.actualPerSec }; });
    var q = runtime.queue || { dirtyMailboxes: 0, jobs: { waiting: 0 } };
    samples.push({ at: Date.now(), rates: rates, dirty: q.dirtyMailboxes, waiting: q.jobs.waiting });
    var cutoff = Date.now() - WINDOW_MS;
    while (samples.length > 0 && samples[0].at < cutoff) samples.shift();
  }

  function sweepOf(runtime) {
    if (runtime && runtime.sweep) return Promise.resolve(runtime.sweep);
    return api('GET', base + '/api/sweep').catch(function () { return null; });
  }

  var timer = null;
  var polling = null;
  /** One round: status, then sweep; the next round starts POLL_MS after this one ends. */
  function poll() {
    if (polling) return polling;
    if (timer) { clearTimeout(timer); timer = null; }
    polling = api('GET', '/v1/status').then(function (status) {
      role = status.principal.role;
      setText($('principal'), 'signed in as ' + status.principal.actor + ' (' + role + ')');
      applyRole();
      renderControl(status.control);
      var runtime = status.runtime || {};
      record(runtime);
      renderTargets(runtime);
      renderCharts();
      renderQueue(runtime);
      renderDns(runtime);
      renderAudit(runtime);
      return sweepOf(status.runtime).then(renderSweep);
    }).then(function () {
      setText($('refresh'), 'Updated ' + time(Date.now()) + ', every ' + POLL_MS / 1000 + ' s.');
      $('refresh').setAttribute('class', 'muted');
    }, function (err) {
      setText($('refresh'), 'Status failed at ' + time(Date.now()) + ': ' + errorText(err) + ' (retrying)');
      $('refresh').setAttribute('class', 'banner error');
    }).then(function () {
      polling = null;
      timer = setTimeout(poll, POLL_MS);
    });
    return polling;
  }

  function showResult(text) { setText($('action-result'), text); }

  $('pause-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var reason = $('pause-reason-input').value.trim();
    var forText = $('pause-for-input').value.trim();
    if (!reason) { showResult('A reason is required to pause.'); return; }
    var body = { reason: reason };
    if (forText) body['for'] = forText;
    api('POST', '/v1/pause', body).then(function () { $('pause-reason-input').value = ''; showResult('Paused.'); return poll(); }, function (err) { showResult('Pause failed: ' + errorText(err)); });
  });
  $('resume-button').addEventListener('click', function () {
    var reason = $('pause-reason-input').value.trim() || 'resumed from the dashboard';
    api('POST', '/v1/resume', { reason: reason }).then(function () { $('pause-reason-input').value = ''; showResult('Resumed.'); return poll(); }, function (err) { showResult('Resume failed: ' + errorText(err)); });
  });
  $('mailbox-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var uri = $('mailbox-input').value.trim();
    var dl = $('mailbox');
    clear(dl);
    if (!uri) return;
    api('GET', '/v1/mailboxes/' + encodeURIComponent(uri)).then(function (m) {
      clear(dl);
      function counts(s) { return s.counts ? s.counts.new + ' new / ' + s.counts.old + ' old' : 'no voice counts'; }
      stat(dl, 'Mailbox', m.mailbox);
      stat(dl, 'Desired', m.desired ? 'v' + m.desired.version + ': ' + counts(m.desired) + ' (accepted ' + dateTime(m.desired.acceptedAt) + ')' : 'none');
      stat(dl, 'Delivered', m.delivered ? 'v' + m.delivered.version + ': ' + counts(m.delivered) + ' (at ' + dateTime(m.delivered.deliveredAt) + ')' : 'never');
      stat(dl, 'Pending', m.pending ? 'yes: desired state not delivered yet' : 'no');
      stat(dl, 'Last outcome', m.lastOutcome ? m.lastOutcome.kind + (m.lastOutcome.status ? ' ' + m.lastOutcome.status : '') + ': ' + m.lastOutcome.reason + ' (' + dateTime(m.lastOutcome.at) + ')' : '-');
      stat(dl, 'ETag', m.etag || '-');
      stat(dl, 'Publication expires', dateTime(m.expiresAt));
      stat(dl, 'Last attempt', dateTime(m.lastAttemptAt));
    }, function (err) {
      clear(dl);
      stat(dl, 'Lookup failed', errorText(err));
    });
  });

  void poll();
})();
`;
