// The live cluster page: every second it reads this node's /cluster.json and /events.json and
// draws them. The node asks its peers; the page talks only to the node that served it.
// Plain DOM and uPlot (served by the node as /uplot.min.js), no framework, no build step.

const refreshMs = 1000;
const fetchTimeoutMs = 3000;
/** How much history the charts keep. It lives in the page, so it survives leader changes. */
const historyMs = 5 * 60_000;
const eventsShownMax = 50;
/** Seconds a member reports ahead of the serving node's clock by more than this are dropped. */
const clockSkewMaxMs = 60_000;

/**
 * Each member's seconds, by member id, then by start time in ms. Kept per member so that a
 * member that dies keeps the seconds it served before (the node reports only reachable ones).
 */
const secondsByMember = new Map();
/** The cluster's seconds, merged from secondsByMember at each refresh, by start time in ms. */
let seconds = new Map();
const charts = { ops: null, latency: null };

const byId = (id) => document.getElementById(id);

async function getJson(path) {
  const response = await fetch(path, { cache: 'no-store', signal: AbortSignal.timeout(fetchTimeoutMs) });
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

function cell(text, className) {
  const td = document.createElement('td');
  td.textContent = String(text);
  if (className !== undefined) td.className = className;
  return td;
}

function clockTime(ms) {
  return new Date(ms).toLocaleTimeString([], { hour12: false });
}

function renderSummary(view) {
  byId('leader').textContent = view.leader === null ? 'none' : view.leader.id;
  byId('term').textContent = view.leader === null ? '-' : String(view.leader.term);
  const reachable = view.members.filter((m) => m.reachable).length;
  byId('member-count').textContent = `${view.members.length} (${reachable} reachable)`;
  byId('asked-by').textContent = view.askedBy;
  byId('updated').textContent = clockTime(view.asOfMs);
}

function renderMembers(view) {
  const rows = view.members.map((member) => {
    const tr = document.createElement('tr');
    tr.dataset.member = member.id;
    tr.dataset.reachable = String(member.reachable);
    const isLeader = view.leader !== null && view.leader.id === member.id;
    if (isLeader) tr.classList.add('leader');
    if (!member.reachable) {
      tr.classList.add('unreachable');
      tr.append(cell(member.id), cell(member.clientAddress || '-'), cell(member.voter ? 'voter' : 'learner'), cell('-'), cell('-'), cell('-'), cell('-'), cell(`unreachable: ${member.error}`, 'state-bad'));
      return tr;
    }
    const role = member.voter ? member.role : `${member.role} (learner)`;
    tr.append(
      cell(member.id),
      cell(member.clientAddress || '-'),
      cell(role),
      cell(member.term, 'number'),
      cell(member.commitIndex, 'number'),
      cell(member.appliedIndex, 'number'),
      cell(member.lagEntries, 'number'),
      cell('ok', 'state-ok'),
    );
    return tr;
  });
  byId('members').tBodies[0].replaceChildren(...rows);
}

function describeEvent(event) {
  switch (event.kind) {
    case 'leader-changed':
      return event.leader === null ? `no leader (term ${event.term})` : `leader ${event.leader} (term ${event.term})`;
    case 'snapshot-taken':
      return `snapshot taken at index ${event.index}; log compacted to ${event.compactedTo}`;
    case 'snapshot-installed':
      return `snapshot installed at index ${event.index} (term ${event.term}, ${event.ms} ms)`;
    case 'members-changed':
      return `members: ${event.voters.join(', ')}${event.learners.length > 0 ? `; learners: ${event.learners.join(', ')}` : ''}`;
    default:
      return event.kind;
  }
}

function renderEvents(events) {
  const items = events.slice(-eventsShownMax).reverse().map((event) => {
    const li = document.createElement('li');
    li.dataset.kind = event.kind;
    const time = document.createElement('time');
    time.dateTime = new Date(event.atMs).toISOString();
    time.textContent = clockTime(event.atMs);
    li.append(time, describeEvent(event));
    return li;
  });
  byId('events').replaceChildren(...items);
}

function addSamples(view) {
  for (const member of view.members) {
    if (!member.reachable) continue;
    const own = secondsByMember.get(member.id) ?? new Map();
    for (const sample of member.samples) own.set(sample.atMs, sample);
    secondsByMember.set(member.id, own);
  }
  // Summed over the members; the quantiles are the worst member's (a p99 does not add up).
  seconds = new Map();
  for (const own of secondsByMember.values()) {
    for (const [atMs, s] of own) {
      // Bounded on both sides: a member whose clock is far off must not stretch the chart.
      if (atMs < view.asOfMs - historyMs || atMs > view.asOfMs + clockSkewMaxMs) {
        own.delete(atMs);
        continue;
      }
      const seen = seconds.get(atMs);
      seconds.set(
        atMs,
        seen === undefined
          ? s
          : { atMs, writes: seen.writes + s.writes, reads: seen.reads + s.reads, errors: seen.errors + s.errors, p50Ms: Math.max(seen.p50Ms, s.p50Ms), p99Ms: Math.max(seen.p99Ms, s.p99Ms) },
      );
    }
  }
}

/**
 * uPlot's columns, one row per second from the oldest kept to the newest; null where a second
 * is missing (a gap, not a zero). `fields` read a sample; they may answer null too.
 */
function chartColumns(fields) {
  const keys = [...seconds.keys()];
  const columns = [[], ...fields.map(() => [])];
  if (keys.length === 0) return columns;
  const last = Math.max(...keys);
  for (let atMs = Math.min(...keys); atMs <= last; atMs += 1000) {
    const sample = seconds.get(atMs);
    columns[0].push(atMs / 1000);
    fields.forEach((field, i) => columns[i + 1].push(sample === undefined ? null : field(sample)));
  }
  return columns;
}

function makeChart(elementId, series) {
  const element = byId(elementId);
  const width = Math.max(300, element.clientWidth);
  return new globalThis.uPlot(
    {
      width,
      height: 220,
      scales: { x: { time: true } },
      series: [{}, ...series.map(([label, stroke, dash]) => ({ label, stroke, width: 2, ...(dash === undefined ? {} : { dash }) }))],
      axes: [{}, { size: 60 }],
      legend: { live: false },
    },
    [[], ...series.map(() => [])],
    element,
  );
}

function renderCharts() {
  if (globalThis.uPlot === undefined) throw new Error('uPlot did not load (/uplot.min.js)');
  charts.ops ??= makeChart('ops-chart', [['writes/s', '#0b5cad'], ['reads/s', '#1a7f37', [6, 4]], ['errors/s', '#b42318']]);
  charts.latency ??= makeChart('latency-chart', [['p50 ms', '#0b5cad'], ['p99 ms', '#c4320a']]);
  // A second without operations has no latency: no point rather than a zero.
  const idle = (s) => s.writes + s.reads === 0;
  charts.ops.setData(chartColumns([(s) => s.writes, (s) => s.reads, (s) => s.errors]));
  // The writes per second drawn, for tests and scripts: {"<second's start in ms>": writes}.
  byId('ops-chart').dataset.writes = JSON.stringify(Object.fromEntries([...seconds].map(([atMs, s]) => [atMs, s.writes])));
  charts.latency.setData(chartColumns([(s) => (idle(s) ? null : s.p50Ms), (s) => (idle(s) ? null : s.p99Ms)]));
}

function showProblem(message) {
  const problem = byId('problem');
  problem.hidden = message === null;
  problem.textContent = message ?? '';
}

async function refresh() {
  try {
    const [view, events] = await Promise.all([getJson('/cluster.json'), getJson('/events.json')]);
    renderSummary(view);
    renderMembers(view);
    renderEvents(events.events);
    addSamples(view);
    renderCharts();
    showProblem(null);
  } catch (error) {
    // The charts keep what they have; the next refresh tries again.
    showProblem(`cannot refresh from ${location.host}: ${error.message}`);
  }
}

async function loop() {
  for (;;) {
    const startedAt = performance.now();
    await refresh();
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, refreshMs - (performance.now() - startedAt))));
  }
}

window.addEventListener('resize', () => {
  for (const chart of Object.values(charts)) if (chart !== null) chart.setSize({ width: Math.max(300, chart.root.parentElement.clientWidth), height: 220 });
});

void loop();
