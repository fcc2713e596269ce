"""The clinic page and its script, served by ``clinic_server`` (self-contained: no external files).

The script opens ``api/events``, keeps one table row per patient and updates only the rows that
changed; a click on a column heading sorts by it, in the order of the board's ``SORT_KEYS``
(offline first; longest bout, most sat, most lopsided, lowest battery, newest prompt first;
patients not heard of on that column last). Every value is set as text, never as markup.
"""

PAGE_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sitload clinic</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
  h1 { font-size: 1.3em; margin: 0 0 .2em; }
  #summary { color: #555; margin-bottom: .8em; }
  #connection.down { color: #b00020; font-weight: bold; }
  table { border-collapse: collapse; width: 100%; }
  th, td { padding: .25em .6em; border-bottom: 1px solid #ddd; text-align: left; white-space: nowrap; }
  th { background: #f4f4f4; cursor: pointer; user-select: none; position: sticky; top: 0; }
  th[aria-sort] { background: #dfe8f5; }
  td.num { text-align: right; font-variant-numeric: tabular-nums; }
  tr.offline td { color: #999; }
  .sitting { color: #8a4b00; font-weight: bold; }
  .low { color: #b00020; font-weight: bold; }
  .yes { color: #1b6e20; } .no { color: #b00020; }
</style>
</head>
<body>
<h1>sitload clinic</h1>
<div id="summary"><span id="count">0 patients</span> &middot; <span id="sitting">0 sitting</span>
  &middot; <span id="connection">connecting</span></div>
<table>
<thead><tr id="heads">
  <th data-sort="device" aria-sort="ascending">patient</th><th data-sort="online">gateway</th><th>sensor</th>
  <th data-sort="battery">battery</th><th data-sort="posture">now</th><th data-sort="bout">bout</th>
  <th data-sort="today">sat today</th><th data-sort="asymmetry">load</th>
  <th data-sort="prompt">last prompt</th><th>answer</th><th>acted on</th><th data-sort="updated">heard</th>
</tr></thead>
<tbody id="patients"></tbody>
</table>
<script src="clinic.js"></script>
</body>
</html>
"""

PAGE_JS = r"""'use strict';
const rows = new Map();      // device -> row document
const elements = new Map();  // device -> <tr>
const FIELDS = ['device', 'online', 'sensor', 'battery', 'posture', 'bout', 'today', 'load',
                'prompt', 'answer', 'acted', 'heard'];
let sortKey = 'device';
let pending = false;

const SORT = {  // null: not heard of on that column (last)
  device: null,
  online: (r) => r.online === null ? null : Number(r.online),
  posture: (r) => r.posture,
  bout: (r) => r.bout_minutes === null ? null : -r.bout_minutes,
  today: (r) => r.sitting_today_min === null ? null : -r.sitting_today_min,
  asymmetry: (r) => r.asymmetry_si === null ? null : -Math.abs(r.asymmetry_si),
  battery: (r) => r.battery,
  prompt: (r) => r.last_prompt ? -r.last_prompt.created : null,
  updated: (r) => r.updated === null ? null : -r.updated,
};

function compare(a, b) {
  const key = SORT[sortKey];
  if (key) {
    const x = key(a), y = key(b);
    if ((x == null) !== (y == null)) return x == null ? 1 : -1;
    if (x != null && x !== y) return x < y ? -1 : 1;
  }
  return a.device < b.device ? -1 : a.device > b.device ? 1 : 0;
}

const onOff = (v) => v === null ? '?' : (v ? 'online' : 'offline');
function minutes(m) {
  if (m === null) return '';
  const whole = Math.round(m);
  return whole >= 60 ? `${Math.floor(whole / 60)} h ${String(whole % 60).padStart(2, '0')} min` : `${whole} min`;
}
const clock = (t) => new Date(t * 1000).toLocaleTimeString([], {hour: '2-digit', minute: '2-digit'});

function load(r) {
  const parts = [];
  if (r.asymmetry_si !== null) parts.push(`SI ${r.asymmetry_si > 0 ? '+' : ''}${r.asymmetry_si.toFixed(0)} %`);
  if (r.lean_side && r.lean_side !== 'none') parts.push(`leans ${r.lean_side}`);
  if (r.crossed && r.crossed !== 'none') parts.push(`${r.crossed} leg crossed`);
  return parts.join(', ');
}

function cells(r, now) {
  const p = r.last_prompt;
  return {
    device: r.device, online: onOff(r.online), sensor: onOff(r.sensor_online),
    battery: r.battery === null ? '' : `${r.battery} %`, posture: r.posture || '',
    bout: r.posture === 'sitting' ? minutes(r.bout_minutes) : '', today: minutes(r.sitting_today_min),
    load: load(r), prompt: p ? `${p.kind} ${clock(p.created)}` : '', answer: p && p.answer ? p.answer : '',
    acted: !p ? '' : p.acted_on === null ? 'open' : (p.acted_on ? 'yes' : 'no'),
    heard: r.updated === null ? '' : `${Math.max(0, Math.round(now - r.updated))} s ago`,
  };
}

function draw(tr, r, now) {
  const text = cells(r, now);
  tr.className = r.online === false ? 'offline' : '';
  FIELDS.forEach((field, i) => {
    const td = tr.children[i];
    if (td.textContent !== text[field]) td.textContent = text[field];
  });
  tr.children[4].className = r.posture === 'sitting' ? 'sitting' : '';
  tr.children[3].className = 'num' + (r.battery !== null && r.battery < 20 ? ' low' : '');
  tr.children[10].className = text.acted === 'yes' ? 'yes' : text.acted === 'no' ? 'no' : '';
}

function row(device) {
  let tr = elements.get(device);
  if (!tr) {
    tr = document.createElement('tr');
    tr.dataset.device = device;
    FIELDS.forEach((field) => {
      const td = document.createElement('td');
      td.dataset.field = field;
      if (['bout', 'today', 'heard'].includes(field)) td.className = 'num';
      tr.appendChild(td);
    });
    elements.set(device, tr);
  }
  return tr;
}

function render() {
  pending = false;
  const now = Date.now() / 1000;
  const body = document.getElementById('patients');
  const ordered = [...rows.values()].sort(compare);
  ordered.forEach((r, i) => {
    const tr = row(r.device);
    if (tr.dataset.version !== String(r.version_seen)) { draw(tr, r, now); tr.dataset.version = String(r.version_seen); }
    if (body.children[i] !== tr) body.insertBefore(tr, body.children[i] || null);
  });
  document.getElementById('count').textContent = `${rows.size} patients`;
  document.getElementById('sitting').textContent =
    `${ordered.filter((r) => r.posture === 'sitting' && r.online !== false).length} sitting`;
  document.body.dataset.version = String(version);
}

function later() { if (!pending) { pending = true; requestAnimationFrame(render); } }

let version = 0;
function listen() {
  const events = new EventSource('api/events');
  const status = document.getElementById('connection');
  events.onopen = () => { status.textContent = 'live'; status.className = ''; };
  events.onerror = () => { status.textContent = 'connection to sitload lost, retrying'; status.className = 'down'; };
  events.onmessage = (e) => {
    const doc = JSON.parse(e.data);
    version = doc.version;
    for (const r of doc.patients) { r.version_seen = doc.version; rows.set(r.device, r); }
    later();
  };
}

document.querySelectorAll('#heads th[data-sort]').forEach((th) => th.addEventListener('click', () => {
  sortKey = th.dataset.sort;
  document.querySelectorAll('#heads th').forEach((h) => h.removeAttribute('aria-sort'));
  th.setAttribute('aria-sort', 'descending');
  later();
}));
setInterval(() => {  // the "heard" ages
  const now = Date.now() / 1000;
  for (const [device, tr] of elements) tr.children[11].textContent = cells(rows.get(device), now).heard;
}, 1000);
listen();
"""
