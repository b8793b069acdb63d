// The audit events viewer. It reads events from the list endpoint a page at
// a time and writes every field into the page as text (textContent and
// attribute values only, never markup). The filters are the form fields of
// #filters, each named after the query parameter it sets, and are kept in
// the page's URL, whose query is the API's query.
'use strict';

(() => {
  const root = document.documentElement;
  const api = {
    list: root.dataset.list,
    download: root.dataset.download,
    maxLimit: Number(root.dataset.maxLimit) || 1000,
    keyHeader: root.dataset.keyHeader,
  };
  const FIRST_PAGE = Math.min(100, api.maxLimit); // the first request, shown at once
  const PAGE = Math.min(1000, api.maxLimit); // later requests
  const CHUNK = 100; // rows added to the table at a time
  const PREFETCH = 10000; // events read ahead for the histogram
  const KEY = 'auditevents.key';
  const $ = (id) => document.getElementById(id);
  const form = $('filters');
  const status = $('status');
  const table = $('events');
  const svg = $('histogram-svg');
  const SVG = 'http://www.w3.org/2000/svg';

  // The state of the current query.
  let q = null;

  // ---- Text: every value is shown through these.

  // Characters that reorder or hide text, and control characters, are
  // shown by their code point so that nothing can disguise a field.
  const HIDDEN = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/g;

  // text returns a node showing s literally.
  function text(s) {
    s = s == null ? '' : String(s);
    HIDDEN.lastIndex = 0;
    if (!HIDDEN.test(s)) return document.createTextNode(s);
    const frag = document.createDocumentFragment();
    let last = 0;
    s.replace(HIDDEN, (c, i) => {
      if (i > last) frag.append(s.slice(last, i));
      const mark = document.createElement('span');
      mark.className = 'ctl';
      mark.textContent = 'U+' + c.codePointAt(0).toString(16).toUpperCase().padStart(4, '0');
      frag.append(mark);
      last = i + c.length;
      return c;
    });
    if (last < s.length) frag.append(s.slice(last));
    return frag;
  }

  function el(tag, cls, ...children) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    e.append(...children);
    return e;
  }

  // ---- Time.

  const pad = (n, w = 2) => String(n).padStart(w, '0');
  function localTime(d) {
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }
  // inputValue formats d for a datetime-local field.
  function inputValue(d) {
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
  }
  // apiDate formats d as the API's RFC 3339 in UTC, to the second.
  const apiDate = (d) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
  // parseDate reads a date as the API accepts it, or returns null.
  function parseDate(s) {
    const m = /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)$/.exec(s);
    const d = m ? new Date(Date.UTC(+m[1], m[2] - 1, +m[3], +m[4], +m[5], +m[6])) : new Date(s.replace(' ', 'T'));
    return isNaN(d) ? null : d;
  }
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'local time';

  // ---- The URL, the form and the query.

  // filterParams returns the page URL's filters as the API's parameters.
  function filterParams() {
    const p = new URLSearchParams(location.search);
    p.delete('limit');
    p.delete('cursor');
    return p;
  }

  function formToParams() {
    const p = new URLSearchParams();
    for (const f of form.elements) {
      if (!f.name) continue;
      let v = f.value.trim();
      if (!v) continue;
      if (f.type === 'datetime-local') {
        const d = new Date(v);
        if (isNaN(d)) continue;
        // The end of the range takes in its whole minute.
        if (f.name === 'max-date') d.setSeconds(59);
        v = apiDate(d);
      }
      p.set(f.name, v);
    }
    return p;
  }

  function paramsToForm(p) {
    for (const f of form.elements) {
      if (!f.name) continue;
      const v = p.get(f.name) || '';
      if (f.type === 'datetime-local') {
        const d = v && parseDate(v);
        f.value = d ? inputValue(d) : '';
      } else if (f.tagName === 'SELECT' && v && ![...f.options].some((o) => o.value === v)) {
        f.append(new Option(v, v)); // a value the page does not list, kept
        f.value = v;
      } else {
        f.value = v;
      }
    }
  }

  function navigate(p) {
    const qs = p.toString();
    history.pushState(null, '', qs ? '?' + qs : location.pathname);
    start();
  }

  // ---- Requests.

  function headers() {
    const h = { Accept: 'application/json' };
    const key = api.keyHeader && sessionStorage.getItem(KEY);
    if (key) h[api.keyHeader] = key;
    return h;
  }

  // ApiError is a response the page shows as it is.
  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function failure(res) {
    let msg = '';
    try {
      const body = JSON.parse(await res.text());
      if (body && Array.isArray(body.errors)) msg = body.errors.join('; ');
    } catch (_) { /* not the API's error body */ }
    switch (res.status) {
      case 401: return new ApiError(401, 'Not signed in: the server did not accept the credentials.');
      case 403: return new ApiError(403, 'Not allowed: this account may not read audit events.');
      case 400: return new ApiError(400, 'The server refused the filters: ' + (msg || 'bad request') + '.');
      default: return new ApiError(res.status, `The server failed (${res.status}${msg ? ': ' + msg : ''}).`);
    }
  }

  async function get(url, signal) {
    let res;
    try {
      res = await fetch(url, { headers: headers(), credentials: 'same-origin', cache: 'no-store', signal });
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      throw new ApiError(0, 'Could not reach the server: ' + e.message);
    }
    if (!res.ok) throw await failure(res);
    return res;
  }

  // nextCursor returns the cursor of a Link: <...>; rel="next" header.
  function nextCursor(res) {
    const link = res.headers.get('Link') || '';
    for (const part of link.split(',')) {
      const m = /<([^>]*)>\s*;.*rel="?next"?/.exec(part);
      if (m) return new URL(m[1], location.href).searchParams.get('cursor');
    }
    return null;
  }

  // fetchPage reads the next page of the current query into q.events.
  async function fetchPage(limit) {
    const cur = q;
    const p = new URLSearchParams(cur.params);
    p.set('limit', limit);
    if (cur.cursor) p.set('cursor', cur.cursor);
    const res = await get(api.list + '?' + p, cur.abort.signal);
    const body = await res.json();
    const events = Array.isArray(body) ? body : (body && body.auditEvents) || [];
    if (cur !== q) return false;
    cur.received = performance.now();
    for (const e of events) cur.times.push(Date.parse(e.timestamp));
    cur.events.push(...events);
    cur.cursor = nextCursor(res);
    cur.done = !cur.cursor;
    return true;
  }

  // ---- Loading.

  function setState(state, message, isError) {
    root.dataset.state = state;
    table.setAttribute('aria-busy', state === 'loading' || state === 'partial' ? 'true' : 'false');
    status.className = 'status' + (isError ? ' error' : '');
    status.replaceChildren(text(message));
  }

  function countText() {
    const n = q.events.length.toLocaleString();
    if (q.done) return q.events.length === 1 ? '1 event' : `${n} events`;
    return `${n} events so far; more are loading`;
  }

  async function start() {
    if (q) q.abort.abort();
    const params = filterParams();
    paramsToForm(params);
    q = { params, events: [], times: [], cursor: null, done: false, shown: 0, abort: new AbortController(), fetching: null, focus: 0 };
    const cur = q;
    for (const c of table.querySelectorAll('.chunk')) c.remove();
    table.setAttribute('aria-rowcount', '-1');
    $('export').disabled = true;
    $('load-more').hidden = true;
    $('histogram').hidden = true;
    const signinLink = $('signin-link');
    if (signinLink) signinLink.hidden = true;
    setState('loading', 'Loading events…');
    try {
      const t0 = performance.now();
      await more(FIRST_PAGE);
      if (cur !== q) return;
      performance.measure('auditevents:first-response', { start: t0, end: cur.received });
      // The time from the response to the first rows on screen.
      const received = cur.received;
      requestAnimationFrame(() => setTimeout(() => {
        if (cur === q) performance.measure('auditevents:first-render', { start: received, end: performance.now() });
      }, 0));
      // Read ahead for the histogram, a page at a time.
      while (cur === q && !cur.done && cur.events.length < PREFETCH) {
        await more(PAGE);
      }
    } catch (e) {
      if (cur === q) showError(e);
    }
  }

  // more reads the next page of at most limit events and shows what it
  // read. A call while a page is being read waits for that page instead, so
  // pages are read one at a time, in order.
  function more(limit = PAGE) {
    if (!q.fetching) {
      const cur = q;
      cur.fetching = fetchPage(limit).then(() => {
        cur.fetching = null;
        if (cur === q) afterPage();
      }, (e) => {
        cur.fetching = null;
        throw e;
      });
    }
    return q.fetching;
  }

  function afterPage() {
    const n = q.events.length;
    $('export').disabled = n === 0;
    if (n === 0) {
      setState('empty', q.params.toString() ? 'No events match these filters.' : 'No events yet.');
    } else {
      setState(q.done ? 'done' : 'partial', countText());
    }
    if (q.done) table.setAttribute('aria-rowcount', String(n + 1));
    if (q.shown === 0 || nearEnd()) renderMore();
    updateMore();
    drawHistogram();
  }

  function showError(e) {
    if (e.name === 'AbortError') return;
    setState('error', e.message, true);
    if (e.status === 401) {
      const link = $('signin-link');
      if (link) link.hidden = false;
      if (api.keyHeader) showSignin(e.message);
    }
  }

  // ---- The table.

  const COLUMNS = [
    (e) => { const c = cell('time', ''); c.title = e.timestamp + ' (UTC)'; const d = new Date(e.timestamp); c.append(text(isNaN(d) ? e.timestamp : localTime(d))); return c; },
    (e) => cell('', e.user),
    (e) => cell('', e.action),
    (e) => cell('', e.resourceKind),
    (e) => cell('', e.resourceName),
    (e) => cell('', e.configuration),
    (e) => cell('', e.description),
  ];

  function cell(cls, value) {
    const c = el('span', cls);
    c.setAttribute('role', 'cell');
    if (value !== '') {
      c.append(text(value));
      if (value != null && c.title === '') c.title = String(value);
    }
    return c;
  }

  // renderMore adds the next CHUNK rows that have been read to the table.
  function renderMore() {
    const from = q.shown;
    const to = Math.min(q.events.length, from + CHUNK);
    if (to <= from) return;
    const group = el('div', 'chunk');
    group.setAttribute('role', 'rowgroup');
    for (let i = from; i < to; i++) {
      const e = q.events[i];
      const row = el('div', 'row');
      row.setAttribute('role', 'row');
      row.setAttribute('aria-rowindex', String(i + 2));
      row.tabIndex = i === q.focus ? 0 : -1;
      row.dataset.i = String(i);
      row.dataset.id = e.id == null ? '' : String(e.id);
      for (const col of COLUMNS) row.append(col(e));
      group.append(row);
    }
    table.append(group);
    q.shown = to;
    updateMore();
  }

  function updateMore() {
    $('load-more').hidden = q.shown >= q.events.length && q.done;
  }

  function nearEnd() {
    const r = $('more').getBoundingClientRect();
    return r.top < innerHeight + 800;
  }

  // fill adds rows, and reads pages, while the end of the table is near.
  async function fill() {
    const cur = q;
    try {
      while (cur === q && nearEnd()) {
        if (q.shown < q.events.length) renderMore();
        else if (!q.done) await more();
        else break;
      }
    } catch (e) {
      if (cur === q) showError(e);
    }
    // The observer reports changes only. Rows added here may have moved the
    // end away and a scroll brought it back before it looked again, so it
    // is asked for the state afresh.
    observer.unobserve($('more'));
    observer.observe($('more'));
  }

  const observer = new IntersectionObserver((entries) => {
    if (q && entries.some((x) => x.isIntersecting)) fill();
  }, { rootMargin: '800px' });
  observer.observe($('more'));

  $('load-more').addEventListener('click', async () => {
    if (q.shown < q.events.length) renderMore();
    else if (!q.done) {
      try { await more(); renderMore(); } catch (e) { showError(e); }
    }
  });

  // ---- Keyboard: one row is in the tab order; the arrows move it.

  function rowAt(i) { return table.querySelector(`.row[data-i="${i}"]`); }

  async function focusRow(i) {
    i = Math.max(0, i);
    while (i >= q.shown && (q.shown < q.events.length || !q.done)) {
      if (q.shown >= q.events.length) await more();
      renderMore();
    }
    i = Math.min(i, q.shown - 1);
    const old = rowAt(q.focus);
    if (old) old.tabIndex = -1;
    q.focus = i;
    const row = rowAt(i);
    if (row) {
      row.tabIndex = 0;
      row.focus();
      row.scrollIntoView({ block: 'nearest' });
    }
  }

  table.addEventListener('keydown', (ev) => {
    const row = ev.target.closest && ev.target.closest('.chunk .row');
    if (!row) return;
    const i = Number(row.dataset.i);
    const step = { ArrowDown: 1, ArrowUp: -1, PageDown: 10, PageUp: -10, j: 1, k: -1 }[ev.key];
    if (step) { ev.preventDefault(); focusRow(i + step).catch(showError); }
    else if (ev.key === 'Home') { ev.preventDefault(); focusRow(0); }
    else if (ev.key === 'End') { ev.preventDefault(); focusRow(q.shown - 1); }
    else if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); openDetail(i); }
  });
  table.addEventListener('click', (ev) => {
    const row = ev.target.closest('.chunk .row');
    if (!row) return;
    const i = Number(row.dataset.i);
    const old = rowAt(q.focus);
    if (old) old.tabIndex = -1;
    q.focus = i;
    row.tabIndex = 0;
    openDetail(i);
  });

  // ---- The detail panel: every field, the unknown ones too.

  const KNOWN = [
    ['id', 'ID'], ['timestamp', 'Time (UTC)'], ['account', 'Account'], ['user', 'User'], ['action', 'Action'],
    ['resourceKind', 'Kind'], ['resourceName', 'Resource'], ['configuration', 'Configuration'], ['description', 'Description'],
  ];
  let detailEvent = null;

  function openDetail(i) {
    const e = q.events[i];
    detailEvent = e;
    const dl = $('detail-fields');
    dl.replaceChildren();
    const add = (label, value) => {
      const v = typeof value === 'object' && value !== null ? JSON.stringify(value, null, 2) : value;
      dl.append(el('dt', '', text(label)), el('dd', v === '' || v == null ? 'empty' : '', text(v === '' || v == null ? '(empty)' : v)));
    };
    const d = new Date(e.timestamp);
    add('Time (' + zone + ')', isNaN(d) ? '' : localTime(d));
    for (const [k, label] of KNOWN) add(label, e[k]);
    for (const k of Object.keys(e).sort()) {
      if (!KNOWN.some(([known]) => known === k)) add(k, e[k]);
    }
    $('copied').textContent = '';
    $('detail').showModal();
  }

  async function copy(s, what) {
    try {
      await navigator.clipboard.writeText(s);
      $('copied').textContent = what + ' copied';
    } catch (_) {
      $('copied').textContent = 'Copying is not allowed here; select the text instead.';
    }
  }

  $('detail-close').addEventListener('click', () => $('detail').close());
  $('copy-id').addEventListener('click', () => copy(String(detailEvent.id), 'ID'));
  $('copy-json').addEventListener('click', () => copy(JSON.stringify(detailEvent, null, 2), 'JSON'));
  $('detail').addEventListener('close', () => {
    const row = rowAt(q.focus);
    if (row) row.focus();
  });

  // ---- The histogram: events per day, or per hour for short ranges,
  // counted from the events read, drawn as SVG. A bar narrows the range.

  const HOUR = 3600e3;
  const DAY = 24 * HOUR;

  function floorBucket(t, hourly) {
    const d = new Date(t);
    d.setMinutes(0, 0, 0);
    if (!hourly) d.setHours(0);
    return d;
  }
  function nextBucket(d, hourly, days) {
    const n = new Date(d);
    if (hourly) n.setHours(n.getHours() + 1);
    else n.setDate(n.getDate() + days);
    return n;
  }

  let drawPending = false;
  function drawHistogram() {
    if (drawPending) return;
    drawPending = true;
    requestAnimationFrame(() => { drawPending = false; draw(); });
  }

  function draw() {
    const times = q.times;
    const fig = $('histogram');
    if (times.length === 0) { fig.hidden = true; return; }
    const min = parseDate(q.params.get('min-date') || '');
    const max = parseDate(q.params.get('max-date') || '');
    // Events come newest first.
    // The range chosen, where it is known to hold the events read.
    const newest = max ? Math.max(times[0], Math.min(max.getTime(), Date.now())) : times[0];
    const oldest = min && q.done ? Math.min(min.getTime(), times[times.length - 1]) : times[times.length - 1];
    const hourly = newest - oldest <= 2 * DAY;
    const span = Math.ceil((newest - oldest) / DAY) + 1;
    const days = hourly ? 1 : Math.max(1, Math.ceil(span / 120));
    const buckets = [];
    for (let b = floorBucket(oldest, hourly); b.getTime() <= newest; b = nextBucket(b, hourly, days)) {
      buckets.push({ start: b, end: nextBucket(b, hourly, days), n: 0 });
    }
    let j = 0;
    for (let i = times.length - 1; i >= 0; i--) { // oldest first
      while (j < buckets.length - 1 && times[i] >= buckets[j].end.getTime()) j++;
      if (times[i] >= buckets[j].start.getTime() && times[i] < buckets[j].end.getTime()) buckets[j].n++;
    }
    fig.hidden = false;
    const unit = hourly ? 'hour' : days === 1 ? 'day' : days + ' days';
    const top = Math.max(...buckets.map((b) => b.n));
    $('histogram-caption').textContent = (q.done ? `Events per ${unit}` : `Events per ${unit} among the newest ${times.length.toLocaleString()} read so far`) +
      ` (${zone}); choose a bar to see its events.`;
    const W = svg.clientWidth || 800;
    const H = 96;
    const left = 34, bottom = 16, top0 = 6;
    svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
    const bw = (W - left) / buckets.length;
    const nodes = [];
    const line = document.createElementNS(SVG, 'line');
    line.setAttribute('x1', left); line.setAttribute('x2', W);
    line.setAttribute('y1', H - bottom + 0.5); line.setAttribute('y2', H - bottom + 0.5);
    nodes.push(line, label(0, top0 + 8, top.toLocaleString()), label(0, H - bottom, '0'));
    const every = Math.ceil(buckets.length / Math.max(1, Math.floor((W - left) / 90)));
    buckets.forEach((b, i) => {
      const g = document.createElementNS(SVG, 'g');
      g.setAttribute('class', 'b');
      g.setAttribute('tabindex', '0');
      g.setAttribute('role', 'button');
      const when = hourly ? `${localTime(b.start).slice(0, 13)}:00` : localTime(b.start).slice(0, 10) + (days > 1 ? ' to ' + localTime(new Date(b.end - 1)).slice(0, 10) : '');
      g.setAttribute('aria-label', `${b.n.toLocaleString()} events, ${when}`);
      g.dataset.count = String(b.n);
      g.dataset.min = apiDate(b.start);
      g.dataset.max = apiDate(new Date(b.end.getTime() - 1000));
      const x = left + i * bw;
      const hit = rect(x, top0, bw, H - bottom - top0, 'h');
      const h = top ? Math.max(b.n ? 1 : 0, (H - bottom - top0) * b.n / top) : 0;
      const bar = rect(x + Math.min(1, bw * 0.1), H - bottom - h, Math.max(1, bw - Math.min(2, bw * 0.2)), h, 'v');
      const title = document.createElementNS(SVG, 'title');
      title.textContent = `${when}: ${b.n.toLocaleString()} events`;
      g.append(title, hit, bar);
      nodes.push(g);
      if (i % every === 0) nodes.push(label(x, H - 3, hourly ? localTime(b.start).slice(11, 13) + ':00' : localTime(b.start).slice(5, 10)));
    });
    svg.replaceChildren(...nodes);
  }

  function rect(x, y, w, h, cls) {
    const r = document.createElementNS(SVG, 'rect');
    r.setAttribute('x', x.toFixed(1)); r.setAttribute('y', y.toFixed(1));
    r.setAttribute('width', w.toFixed(1)); r.setAttribute('height', Math.max(0, h).toFixed(1));
    r.setAttribute('class', cls);
    return r;
  }
  function label(x, y, s) {
    const t = document.createElementNS(SVG, 'text');
    t.setAttribute('x', x); t.setAttribute('y', y);
    t.textContent = s;
    return t;
  }

  function chooseBar(g) {
    const p = new URLSearchParams(q.params);
    p.set('min-date', g.dataset.min);
    p.set('max-date', g.dataset.max);
    navigate(p);
  }
  svg.addEventListener('click', (ev) => {
    const g = ev.target.closest('.b');
    if (g) chooseBar(g);
  });
  svg.addEventListener('keydown', (ev) => {
    const g = ev.target.closest('.b');
    if (!g) return;
    if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); chooseBar(g); }
    else if (ev.key === 'ArrowRight' || ev.key === 'ArrowLeft') {
      ev.preventDefault();
      const sib = ev.key === 'ArrowRight' ? g.nextElementSibling : g.previousElementSibling;
      const to = sib && sib.classList.contains('b') ? sib : sib && (ev.key === 'ArrowRight' ? sib.nextElementSibling : sib.previousElementSibling);
      if (to && to.classList.contains('b')) to.focus();
    }
  });
  new ResizeObserver(() => { if (q && q.times.length) drawHistogram(); }).observe(svg);

  // ---- Export: the download endpoint, with the page's filters.

  $('export').addEventListener('click', async () => {
    const button = $('export');
    button.disabled = true;
    const was = status.textContent;
    status.textContent = 'Preparing the CSV file…';
    try {
      const res = await get(api.download + (q.params.toString() ? '?' + q.params : ''));
      const blob = await res.blob();
      const m = /filename="?([^";]+)"?/.exec(res.headers.get('Content-Disposition') || '');
      const a = document.createElement('a');
      a.href = URL.createObjectURL(blob);
      a.download = m ? m[1] : 'audit-events.csv';
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 60e3);
      status.textContent = was;
    } catch (e) {
      showError(e);
    } finally {
      button.disabled = false;
    }
  });

  // ---- Filters, sign-in, start.

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    navigate(formToParams());
  });
  $('clear').addEventListener('click', () => {
    form.reset();
    navigate(new URLSearchParams());
  });
  addEventListener('popstate', start);

  function showSignin(message) {
    $('app').hidden = true;
    $('signout').hidden = true;
    $('signin').hidden = false;
    const hint = $('signin').querySelector('.error');
    if (hint) hint.remove();
    if (message) $('signin-form').prepend(el('p', 'error', text(message)));
    $('signin-key').focus();
  }

  $('signin-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(KEY, $('signin-key').value);
    $('signin-key').value = '';
    $('signin').hidden = true;
    $('app').hidden = false;
    $('signout').hidden = false;
    start();
  });
  $('signout').addEventListener('click', () => {
    sessionStorage.removeItem(KEY);
    if (q) q.abort.abort();
    showSignin('');
  });

  $('time-header').textContent = 'Time (' + zone + ')';
  // On a narrow screen the filters start folded, unless some are set.
  const narrow = matchMedia('(max-width: 720px)');
  if (narrow.matches && !filterParams().toString()) $('filters-box').open = false;
  narrow.addEventListener('change', () => { if (!narrow.matches) $('filters-box').open = true; });
  if (api.keyHeader && !sessionStorage.getItem(KEY)) {
    showSignin('');
  } else {
    $('signout').hidden = !api.keyHeader;
    start();
  }
})();
