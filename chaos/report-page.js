/* global document, window, uPlot, ResizeObserver */
/**
 * The script of a chaos run's report.html (inlined by chaos/report-html.ts). It reads the run's
 * data from the `report-data` script element and draws: the findings (violations with their
 * operations and explanation, lost writes), a canvas timeline (node roles, one lane per client,
 * faults as bands, the failing operations outlined), and a uPlot chart of ops/s and latency.
 * One canvas, not one element per operation, so runs of many thousands of operations stay fast.
 */
(function () {
  'use strict';
  const data = JSON.parse(document.getElementById('report-data').textContent);
  // The smallest failing set first: it is the quickest to read.
  data.violations.sort((a, b) => a.ops.length - b.ops.length);
  const OP = { lane: 0, invoke: 1, complete: 2, kind: 3, outcome: 4, key: 5, valueIn: 6, valueOut: 7, index: 8, process: 9 };
  const colors = {
    ok: '#38a169',
    fail: '#dd6b20',
    indeterminate: '#e53e3e',
    aborted: '#a0aec0',
    leader: '#2b6cb0',
    follower: '#bee3f8',
    candidate: '#f6ad55',
    'pre-candidate': '#fbd38d',
    learner: '#d6bcfa',
    down: '#718096',
    other: '#e2e8f0',
    fault: 'rgba(237, 137, 54, 0.16)',
    healing: 'rgba(237, 137, 54, 0.07)',
    faultEdge: 'rgba(221, 107, 32, 0.7)',
    violation: '#d53f8c',
    lost: '#6b46c1',
  };
  const seconds = (ms) => (ms / 1000).toFixed(3) + ' s';
  const byIndex = new Map(data.ops.map((op) => [op[OP.index], op]));
  const violationOps = new Map();
  for (const v of data.violations) for (const i of v.ops) violationOps.set(i, v);
  const blockedOps = new Set(data.violations.map((v) => v.blocked));
  const lostOps = new Map();
  for (const l of data.lost) for (const i of l.ops) lostOps.set(i, l);

  const el = (tag, attrs, ...children) => {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (name === 'class') node.className = value;
      else if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value);
    }
    for (const child of children) node.append(child instanceof window.Node ? child : document.createTextNode(String(child)));
    return node;
  };
  const body = document.body;

  const hasFindings = data.violations.length > 0 || data.lost.length > 0 || data.problems.length > 0 || data.notes.length > 0;

  // Header.
  body.append(
    el('h1', {}, data.title + ' ', el('span', { class: 'badge ' + (data.passed ? 'passed' : 'failed'), id: 'verdict' }, data.passed ? 'PASSED' : 'FAILED')),
    el('div', { class: 'summary' }, data.summary),
    el('ul', { class: 'about' }, ...data.about.map((line) => el('li', {}, line))),
    el(
      'nav',
      { id: 'contents' },
      ...[...(hasFindings ? [['#findings', 'findings']] : []), ['#timeline-title', 'timeline'], ['#rates-title', 'throughput and latency'], ['#faults-title', 'faults']].map(([href, text]) => el('a', { href }, text)),
    ),
  );

  // Append lists grow long; what tells them apart is their end (the whole value is the cell's title).
  const short = (text) => (text.length > 48 ? '…' + text.slice(-48) : text);

  // Findings: what failed the run, first.
  const opRow = (index, blocked) => {
    const op = byIndex.get(index);
    if (op === undefined) return el('tr', {}, el('td', {}, '#' + index));
    const end = op[OP.complete] === null ? 'never' : seconds(op[OP.complete]);
    return el(
      'tr',
      { class: blocked ? 'blocked' : '', 'data-op': String(index), onclick: () => focusOn([index]) },
      el('td', {}, '#' + index + (blocked ? ' (stuck)' : '')),
      el('td', {}, data.lanes[op[OP.lane]] + ' (p' + op[OP.process] + ')'),
      el('td', {}, op[OP.kind]),
      el('td', {}, op[OP.key]),
      el('td', { title: op[OP.valueIn] }, short(op[OP.valueIn])),
      el('td', { title: op[OP.valueOut] }, op[OP.outcome] + (op[OP.valueOut] === '' ? '' : ': ' + short(op[OP.valueOut]))),
      el('td', {}, seconds(op[OP.invoke])),
      el('td', {}, end),
    );
  };
  // A set the shrink could not finish may be large: the table shows its last rows, the timeline all.
  const tableRowsMax = 200;
  const opTable = (indexes, blocked) => {
    const sorted = [...indexes].sort((a, b) => byIndex.get(a)[OP.invoke] - byIndex.get(b)[OP.invoke]);
    const shown = sorted.slice(-tableRowsMax);
    return el(
      'table',
      { class: 'ops' },
      el('tr', {}, ...['op', 'client', 'kind', 'key', 'sent', 'outcome: got', 'invoked', 'completed'].map((h) => el('th', {}, h))),
      ...(shown.length < sorted.length ? [el('tr', {}, el('td', { colspan: '8' }, (sorted.length - shown.length) + ' earlier operations not listed'))] : []),
      ...shown.map((i) => opRow(i, i === blocked)),
    );
  };
  if (hasFindings) {
    const findings = el('section', { id: 'findings' }, el('h2', {}, 'Findings'));
    if (data.violations.length > 1) findings.append(el('p', {}, data.violations.length + ' keys are not linearizable; each has its failing set below (the smallest one open), all marked on the timeline.'));
    data.violations.forEach((v, i) => {
      const details = el(
        'details',
        { class: 'finding violation', 'data-key': v.key },
        el('summary', {}, el('strong', {}, 'Key ' + JSON.stringify(v.key) + ' is not linearizable: ' + v.ops.length + ' operations that cannot be ordered' + (v.minimal ? ' (none can be dropped)' : ' (small, not proven minimal)'))),
        el('p', { class: 'explanation' }, v.explanation),
        el('button', { onclick: () => focusOn(v.ops) }, 'show on the timeline'),
        opTable(v.ops, v.blocked),
      );
      if (i === 0) details.setAttribute('open', '');
      findings.append(details);
    });
    data.lost.forEach((l, i) => {
      const details = el(
        'details',
        { class: 'finding lost', 'data-key': l.key },
        el('summary', {}, el('strong', {}, 'Key ' + JSON.stringify(l.key) + ' lost acknowledged writes')),
        el('p', { class: 'explanation' }, l.text),
        ...(l.ops.length > 0 ? [el('button', { onclick: () => focusOn(l.ops) }, 'show on the timeline'), opTable(l.ops, -1)] : []),
      );
      if (i === 0 && data.violations.length === 0) details.setAttribute('open', '');
      findings.append(details);
    });
    if (data.notes.length > 0) findings.append(el('ul', { class: 'notes' }, ...data.notes.map((n) => el('li', {}, n))));
    if (data.problems.length > 0) findings.append(el('h3', {}, 'Problems'), el('ul', { class: 'problems' }, ...data.problems.map((p) => el('li', {}, p))));
    body.append(findings);
  }

  // Timeline.
  const swatch = (color, label) => el('span', {}, el('span', { class: 'swatch', style: 'background:' + color }), label);
  const outline = (color, label) => el('span', {}, el('span', { class: 'swatch', style: 'background:#fff;border:2px solid ' + color }), label);
  const canvas = el('canvas', { id: 'timeline-canvas' });
  const tooltip = el('div', { id: 'tooltip' });
  body.append(
    el('h2', { id: 'timeline-title' }, 'Timeline'),
    el(
      'div',
      { class: 'legend' },
      swatch(colors.ok, 'ok'),
      swatch(colors.fail, 'failed (compare failed)'),
      swatch(colors.indeterminate, 'indeterminate (timeout, unknown outcome)'),
      swatch(colors.aborted, 'aborted'),
      outline(colors.violation, 'cannot be linearized'),
      outline(colors.lost, 'lost write'),
      swatch('rgba(237, 137, 54, 0.4)', 'fault in effect'),
      swatch('rgba(237, 137, 54, 0.15)', 'healing'),
      swatch(colors.leader, 'leader'),
      swatch(colors.follower, 'follower'),
      swatch(colors.candidate, 'candidate'),
      swatch(colors['pre-candidate'], 'pre-candidate'),
      swatch(colors.learner, 'learner'),
      swatch(colors.down, 'no answer'),
    ),
    el('div', { class: 'controls' }, el('button', { id: 'fit', onclick: () => { focused = new Set(); setView(data.startMs, data.endMs); } }, 'fit the run'), 'wheel: zoom, drag: pan, hover: details, double-click: fit'),
    el('div', { class: 'timeline-wrap', id: 'timeline' }, canvas, tooltip),
  );

  const gutter = 120;
  const axisHeight = 22;
  const faultRowHeight = 18;
  const roleLane = 16;
  const clientLane = 22;
  const gap = 10;
  const roleTop = axisHeight + faultRowHeight;
  const clientTop = roleTop + data.roles.length * roleLane + gap;
  const height = clientTop + data.lanes.length * clientLane + 8;
  const lanes = data.lanes.map(() => []);
  for (const op of data.ops) lanes[op[OP.lane]].push(op);
  for (const lane of lanes) lane.sort((a, b) => a[OP.invoke] - b[OP.invoke]);
  const opEnd = (op) => (op[OP.complete] === null ? data.endMs : op[OP.complete]);

  let view = { from: data.startMs, to: data.endMs };
  let width = 800;
  const plotWidth = () => Math.max(10, width - gutter - 10);
  const xOf = (t) => gutter + ((t - view.from) / (view.to - view.from)) * plotWidth();
  const tOf = (x) => view.from + ((x - gutter) / plotWidth()) * (view.to - view.from);
  let chart = null;
  // The operations "show on the timeline" picked: outlined boldly and labelled; other marks stay thin.
  let focused = new Set();

  function setView(from, to) {
    const span = Math.max(1, to - from);
    view = { from, to: from + span };
    draw();
    if (chart !== null) chart.setScale('x', { min: view.from / 1000, max: view.to / 1000 });
  }

  function focusOn(indexes) {
    focused = new Set(indexes);
    const ops = indexes.map((i) => byIndex.get(i)).filter((op) => op !== undefined);
    if (ops.length === 0) return;
    const from = Math.min(...ops.map((op) => op[OP.invoke]));
    const to = Math.max(...ops.map((op) => (op[OP.complete] === null ? op[OP.invoke] : op[OP.complete])));
    // Some context either side: the roles and faults around the set explain it.
    const margin = Math.max(200, (to - from) * 0.25);
    setView(from - margin, to + margin);
    document.getElementById('timeline').scrollIntoView({ behavior: 'auto', block: 'center' });
  }

  function draw() {
    const ratio = window.devicePixelRatio || 1;
    width = canvas.parentElement.clientWidth;
    canvas.width = Math.floor(width * ratio);
    canvas.height = Math.floor(height * ratio);
    canvas.style.height = height + 'px';
    const ctx = canvas.getContext('2d');
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    ctx.font = '11px system-ui, sans-serif';
    ctx.textBaseline = 'middle';

    // Time axis.
    const span = view.to - view.from;
    const steps = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 60000, 120000, 300000];
    const step = steps.find((s) => (s / span) * plotWidth() >= 70) || 600000;
    ctx.fillStyle = '#4a5568';
    ctx.strokeStyle = '#edf2f7';
    for (let t = Math.ceil(view.from / step) * step; t <= view.to; t += step) {
      const x = xOf(t);
      ctx.beginPath();
      ctx.moveTo(x, axisHeight - 4);
      ctx.lineTo(x, height);
      ctx.stroke();
      ctx.fillText((t / 1000).toFixed(step < 1000 ? 3 : 0) + ' s', x + 2, axisHeight / 2);
    }

    // Lane labels.
    ctx.fillStyle = '#2d3748';
    ctx.fillText('faults', 6, axisHeight + faultRowHeight / 2);
    data.roles.forEach((role, i) => ctx.fillText(role.node, 6, roleTop + i * roleLane + roleLane / 2));
    data.lanes.forEach((name, i) => ctx.fillText(name, 6, clientTop + i * clientLane + clientLane / 2));

    ctx.save();
    ctx.beginPath();
    ctx.rect(gutter, 0, plotWidth(), height);
    ctx.clip();

    // Faults: in effect (injected until healing began), then healing (until the heal was confirmed).
    for (const fault of data.faults) {
      const x0 = xOf(fault.fromMs);
      const x1 = xOf(fault.healFromMs === null ? fault.fromMs : fault.healFromMs);
      const x2 = xOf(fault.toMs === null ? data.endMs : fault.toMs);
      ctx.fillStyle = colors.fault;
      ctx.fillRect(x0, axisHeight, Math.max(1, x1 - x0), height - axisHeight);
      ctx.fillStyle = colors.healing;
      ctx.fillRect(x1, axisHeight, Math.max(0, x2 - x1), height - axisHeight);
      ctx.fillStyle = colors.faultEdge;
      ctx.fillRect(x0, axisHeight, 1, height - axisHeight);
      ctx.fillStyle = '#9c4221';
      ctx.fillText('#' + fault.index + ' ' + fault.name, x0 + 3, axisHeight + faultRowHeight / 2);
    }

    // Node roles.
    data.roles.forEach((role, i) => {
      const y = roleTop + i * roleLane + 2;
      for (const span of role.spans) {
        const x0 = xOf(span.fromMs);
        const x1 = Math.max(x0 + 1, xOf(span.toMs));
        ctx.fillStyle = colors[span.role] || colors.other;
        ctx.fillRect(x0, y, x1 - x0, roleLane - 4);
        if (x1 - x0 > 40 && span.term !== null) {
          ctx.fillStyle = span.role === 'leader' || span.role === 'down' ? '#fff' : '#1a202c';
          ctx.fillText(span.role + ' t' + span.term, x0 + 3, y + (roleLane - 4) / 2);
        }
      }
    });

    // Operations: determinate ones as bars, indeterminate ones as a thin line to the end.
    const pxPerMs = plotWidth() / span;
    lanes.forEach((lane, i) => {
      const y = clientTop + i * clientLane + 3;
      const h = clientLane - 6;
      for (const op of lane) {
        const end = opEnd(op);
        if (end < view.from || op[OP.invoke] > view.to) continue;
        const x0 = xOf(op[OP.invoke]);
        const w = Math.max(1, (end - op[OP.invoke]) * pxPerMs);
        ctx.fillStyle = colors[op[OP.outcome]];
        if (op[OP.outcome] === 'indeterminate') ctx.fillRect(x0, y + h - 3, w, 3);
        else ctx.fillRect(x0, y, w, h);
      }
    });

    // Marked operations on top: the failing sets, then the lost writes.
    const mark = (indexes, color, labelOf) => {
      ctx.strokeStyle = color;
      const ordered = focused.size === 0 ? indexes : [...indexes.filter((i) => !focused.has(i)), ...indexes.filter((i) => focused.has(i))];
      for (const index of ordered) {
        const dim = focused.size > 0 && !focused.has(index);
        ctx.globalAlpha = dim ? 0.45 : 1;
        ctx.lineWidth = dim ? 1 : 2;
        const op = byIndex.get(index);
        const y = clientTop + op[OP.lane] * clientLane + 1;
        const x0 = xOf(op[OP.invoke]);
        const w = Math.max(3, (opEnd(op) - op[OP.invoke]) * pxPerMs);
        ctx.fillStyle = colors[op[OP.outcome]];
        ctx.fillRect(x0, y + 2, w, clientLane - 6);
        ctx.strokeRect(x0 - 1, y, w + 2, clientLane - 2);
        const label = dim ? '' : labelOf(index);
        if (label !== '') {
          ctx.fillStyle = color;
          ctx.fillText(label, x0 + w + 4, y + clientLane / 2);
        }
      }
      ctx.lineWidth = 1;
      ctx.globalAlpha = 1;
    };
    mark([...violationOps.keys()], colors.violation, (i) => (blockedOps.has(i) ? '#' + i + ' stuck here' : focused.has(i) || pxPerMs > 0.2 ? '#' + i : ''));
    mark([...lostOps.keys()], colors.lost, (i) => (focused.has(i) || pxPerMs > 0.2 ? 'lost? #' + i : ''));
    ctx.restore();
  }

  // Hover details.
  function hit(x, y) {
    const t = tOf(x);
    const slack = 3 * ((view.to - view.from) / plotWidth());
    if (y >= axisHeight && y < roleTop) {
      const fault = data.faults.find((f) => t >= f.fromMs - slack && t <= (f.toMs === null ? data.endMs : f.toMs) + slack);
      if (fault) {
        const heal = fault.healFromMs === null ? '' : ', healing from ' + seconds(fault.healFromMs);
        return '#' + fault.index + ' ' + fault.description + ' [' + fault.status + ']\nfrom ' + seconds(fault.fromMs) + heal + (fault.toMs === null ? '' : ', healed at ' + seconds(fault.toMs));
      }
      return null;
    }
    if (y >= roleTop && y < roleTop + data.roles.length * roleLane) {
      const role = data.roles[Math.floor((y - roleTop) / roleLane)];
      const span = role && role.spans.find((s) => t >= s.fromMs - slack && t <= s.toMs + slack);
      return span ? role.node + ': ' + span.role + (span.term === null ? '' : ' in term ' + span.term) + '\n' + seconds(span.fromMs) + ' .. ' + seconds(span.toMs) : null;
    }
    const laneIndex = Math.floor((y - clientTop) / clientLane);
    const lane = lanes[laneIndex];
    if (!lane) return null;
    let found = null;
    for (const op of lane) {
      if (op[OP.invoke] - slack > t) break;
      if (t <= opEnd(op) + slack && (found === null || found[OP.outcome] === 'indeterminate')) found = op;
    }
    if (found === null) return null;
    const op = found;
    const lines = ['#' + op[OP.index] + ' ' + data.lanes[op[OP.lane]] + ' (process ' + op[OP.process] + ')', op[OP.kind] + ' key ' + JSON.stringify(op[OP.key])];
    if (op[OP.valueIn] !== '') lines.push('value in:  ' + op[OP.valueIn]);
    lines.push('outcome:   ' + op[OP.outcome] + (op[OP.valueOut] === '' ? '' : ', value out: ' + op[OP.valueOut]));
    lines.push('invoked:   ' + seconds(op[OP.invoke]));
    lines.push(op[OP.complete] === null ? 'completed: never (outcome unknown)' : 'completed: ' + seconds(op[OP.complete]) + ' (' + (op[OP.complete] - op[OP.invoke]).toFixed(1) + ' ms)');
    const v = violationOps.get(op[OP.index]);
    if (v) lines.push('part of the failing set of key ' + JSON.stringify(v.key) + (blockedOps.has(op[OP.index]) ? ' (the one stuck)' : ''));
    if (lostOps.has(op[OP.index])) lines.push('acknowledged, and missing from the final state');
    return lines.join('\n');
  }

  let drag = null;
  canvas.addEventListener('mousedown', (event) => {
    drag = { x: event.offsetX, view: { ...view } };
    canvas.style.cursor = 'grabbing';
  });
  window.addEventListener('mouseup', () => {
    drag = null;
    canvas.style.cursor = 'grab';
  });
  canvas.addEventListener('mousemove', (event) => {
    if (drag !== null) {
      const dt = ((event.offsetX - drag.x) / plotWidth()) * (drag.view.to - drag.view.from);
      setView(drag.view.from - dt, drag.view.to - dt);
      tooltip.style.display = 'none';
      return;
    }
    const text = hit(event.offsetX, event.offsetY);
    if (text === null) {
      tooltip.style.display = 'none';
      return;
    }
    tooltip.textContent = text;
    tooltip.style.display = 'block';
    const left = Math.min(event.offsetX + 14, width - tooltip.offsetWidth - 4);
    tooltip.style.left = Math.max(0, left) + 'px';
    tooltip.style.top = event.offsetY + 14 + 'px';
  });
  canvas.addEventListener('mouseleave', () => (tooltip.style.display = 'none'));
  canvas.addEventListener('dblclick', () => setView(data.startMs, data.endMs));
  canvas.addEventListener(
    'wheel',
    (event) => {
      event.preventDefault();
      const t = tOf(event.offsetX);
      const factor = event.deltaY > 0 ? 1.25 : 0.8;
      setView(t - (t - view.from) * factor, t + (view.to - t) * factor);
    },
    { passive: false },
  );

  // Throughput and latency.
  body.append(el('h2', { id: 'rates-title' }, 'Throughput and latency'), el('div', { class: 'legend' }, 'completed operations per second, and the latency of those (median, 99th percentile, worst), per second of the run; faults shaded'), el('div', { id: 'rates' }));
  if (typeof uPlot === 'function') {
    const s = data.series;
    const faultBands = (u) => {
      const ctx = u.ctx;
      ctx.save();
      for (const fault of data.faults) {
        const x0 = u.valToPos(fault.fromMs / 1000, 'x', true);
        const x1 = u.valToPos((fault.healFromMs === null ? fault.fromMs : fault.healFromMs) / 1000, 'x', true);
        ctx.fillStyle = colors.fault;
        ctx.fillRect(x0, u.bbox.top, Math.max(1, x1 - x0), u.bbox.height);
        ctx.fillStyle = '#9c4221';
        ctx.font = 11 * (window.devicePixelRatio || 1) + 'px system-ui, sans-serif';
        ctx.fillText('#' + fault.index + ' ' + fault.name, x0 + 3, u.bbox.top + 12 * (window.devicePixelRatio || 1));
      }
      ctx.strokeStyle = colors.violation;
      ctx.lineWidth = 2;
      for (const v of data.violations) {
        const op = byIndex.get(v.blocked);
        if (op === undefined) continue;
        const x = u.valToPos(op[OP.invoke] / 1000, 'x', true);
        ctx.beginPath();
        ctx.moveTo(x, u.bbox.top);
        ctx.lineTo(x, u.bbox.top + u.bbox.height);
        ctx.stroke();
      }
      ctx.restore();
    };
    chart = new uPlot(
      {
        width: Math.max(300, body.clientWidth - 10),
        height: 260,
        scales: { x: { time: false }, ms: { auto: true } },
        axes: [
          { label: 'seconds since the harness started' },
          { label: 'ops/s', scale: 'y' },
          { label: 'latency ms', scale: 'ms', side: 1, grid: { show: false } },
        ],
        series: [
          { label: 's' },
          { label: 'ops/s', stroke: '#2b6cb0', width: 2, scale: 'y' },
          { label: 'p50 ms', stroke: '#38a169', scale: 'ms' },
          { label: 'p99 ms', stroke: '#dd6b20', scale: 'ms' },
          { label: 'max ms', stroke: '#e53e3e', dash: [4, 4], scale: 'ms' },
        ],
        hooks: { draw: [faultBands] },
      },
      [s.t, s.opsPerSecond, s.p50Ms, s.p99Ms, s.maxMs],
      document.getElementById('rates'),
    );
  }

  // The faults as a list.
  if (data.faults.length > 0) {
    body.append(
      el('h2', { id: 'faults-title' }, 'Faults'),
      el(
        'table',
        { class: 'faults', id: 'fault-list' },
        el('tr', {}, ...['#', 'fault', 'status', 'from', 'healing from', 'healed'].map((h) => el('th', {}, h))),
        ...data.faults.map((f) => el('tr', {}, el('td', {}, String(f.index)), el('td', {}, f.description), el('td', {}, f.status), el('td', {}, seconds(f.fromMs)), el('td', {}, f.healFromMs === null ? '-' : seconds(f.healFromMs)), el('td', {}, f.toMs === null ? '-' : seconds(f.toMs)))),
      ),
    );
  }

  draw();
  new ResizeObserver(() => {
    draw();
    if (chart !== null) chart.setSize({ width: Math.max(300, body.clientWidth - 10), height: 260 });
  }).observe(canvas.parentElement);
  // For tests and anyone scripting the page: what was drawn.
  window.chaosReport = {
    lanes: data.lanes.length,
    operations: data.ops.length,
    faults: data.faults.length,
    violations: data.violations.length,
    marked: violationOps.size + lostOps.size,
    view: () => ({ fromMs: view.from, toMs: view.to, focused: focused.size }),
    laneCenterY: (lane) => clientTop + lane * clientLane + clientLane / 2,
  };
})();
