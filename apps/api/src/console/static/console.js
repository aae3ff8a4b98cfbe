// DeepInfer console: the dashboard (polls /console/api/snapshot once a second) and the chat
// playground (streams /v1/chat/completions). Plain browser JavaScript: no framework, no build
// step, nothing fetched from anywhere but this server.
(function () {
  'use strict';

  const $ = (id) => document.getElementById(id);
  const ADMIN_KEY = 'deepinfer.adminKey';
  const API_KEY = 'deepinfer.apiKey';
  const COLORS = { blue: '#5b8cff', green: '#3ecf8e', amber: '#f5b84b', red: '#f0616d', violet: '#b48cff', cyan: '#47c6e6', slate: '#52607f' };

  // ---------------------------------------------------------------- views
  function showView() {
    const view = location.hash === '#playground' ? 'playground' : 'dashboard';
    for (const v of ['dashboard', 'playground']) $('view-' + v).classList.toggle('hidden', v !== view);
    for (const a of document.querySelectorAll('nav a[data-view]')) a.classList.toggle('active', a.dataset.view === view);
    if (view === 'dashboard') redrawCharts();
    if (view === 'playground') loadModel();
  }
  window.addEventListener('hashchange', showView);

  // ---------------------------------------------------------------- formatting
  const fmtInt = (n) => (n == null ? '–' : Math.round(n).toLocaleString('en-US'));
  const fmtNum = (n, digits = 1) => (n == null ? '–' : Number(n).toFixed(digits));
  const fmtTick = (v) => (v >= 100 ? fmtInt(v) : String(Number(v.toFixed(2))));
  const fmtPct = (x) => (x == null ? '–' : (100 * x).toFixed(1) + '%');
  function fmtSeconds(s) {
    if (s == null) return '–';
    if (s < 0.001) return (s * 1e6).toFixed(0) + ' µs';
    if (s < 1) return (s * 1000).toFixed(s < 0.01 ? 2 : 1) + ' ms';
    return s.toFixed(2) + ' s';
  }
  function fmtBytes(b) {
    if (!b) return '0';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (b >= 1024 && i < units.length - 1) { b /= 1024; i++; }
    return b.toFixed(b < 10 && i > 0 ? 2 : b < 100 && i > 0 ? 1 : 0) + ' ' + units[i];
  }
  function fmtUptime(s) {
    if (s < 120) return Math.round(s) + ' s';
    if (s < 7200) return Math.round(s / 60) + ' min';
    return (s / 3600).toFixed(1) + ' h';
  }
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') e.className = v;
      else if (k === 'style') e.style.cssText = v;
      else e.setAttribute(k, v);
    }
    for (const c of children) if (c != null) e.append(c instanceof Node ? c : String(c));
    return e;
  }

  // ---------------------------------------------------------------- charts (canvas, by hand)
  const charts = {};
  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 4, 5, 8, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }
  function setupCanvas(canvas) {
    const ratio = window.devicePixelRatio || 1;
    const w = canvas.clientWidth || 300;
    const h = Number(canvas.getAttribute('height')) || 170;
    if (canvas.width !== Math.round(w * ratio)) { canvas.width = Math.round(w * ratio); canvas.height = Math.round(h * ratio); canvas.style.height = h + 'px'; }
    const ctx = canvas.getContext('2d');
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, w, h);
    return { ctx, w, h };
  }
  function frame(ctx, w, h, max, fmt, pad) {
    ctx.font = '10px system-ui, sans-serif';
    ctx.strokeStyle = '#2a3450';
    ctx.fillStyle = '#8b94ad';
    ctx.lineWidth = 1;
    for (let k = 0; k <= 4; k++) {
      const y = pad.t + ((h - pad.t - pad.b) * k) / 4;
      ctx.beginPath(); ctx.moveTo(pad.l, Math.round(y) + 0.5); ctx.lineTo(w - pad.r, Math.round(y) + 0.5); ctx.stroke();
      ctx.textAlign = 'right'; ctx.textBaseline = 'middle';
      ctx.fillText(fmt(max * (1 - k / 4)), pad.l - 6, y);
    }
  }
  function legend(ctx, w, series) {
    let x = w - 8;
    ctx.textAlign = 'right'; ctx.textBaseline = 'top'; ctx.font = '10px system-ui, sans-serif';
    for (const s of [...series].reverse()) {
      ctx.fillStyle = '#8b94ad'; ctx.fillText(s.label, x, 2);
      x -= ctx.measureText(s.label).width + 6;
      ctx.fillStyle = s.color; ctx.fillRect(x - 8, 4, 8, 8);
      x -= 18;
    }
  }
  /**
   * Lines (or stacked areas) over time; spec: {series: [{label, color, key}], fmt, stacked, fill}.
   * The time axis spans the data (at least 30 s, at most the feed's history).
   */
  function drawTimeChart(canvas, points, spec, historyMs) {
    const { ctx, w, h } = setupCanvas(canvas);
    const pad = { l: 52, r: 8, t: 18, b: 18 };
    const now = points.length ? points[points.length - 1].t : Date.now();
    const span = Math.min(historyMs, Math.max(30000, points.length ? now - points[0].t : 0));
    const t0 = now - span;
    const x = (t) => pad.l + ((t - t0) / span) * (w - pad.l - pad.r);
    let max = 0;
    for (const p of points) {
      let sum = 0;
      for (const s of spec.series) { const v = p[s.key] || 0; sum += v; max = Math.max(max, spec.stacked ? sum : v); }
    }
    max = niceMax(max * 1.05);
    frame(ctx, w, h, max, spec.fmt, pad);
    const y = (v) => h - pad.b - (v / max) * (h - pad.t - pad.b);
    ctx.textAlign = 'center'; ctx.textBaseline = 'top'; ctx.fillStyle = '#8b94ad';
    const tick = [5000, 10000, 15000, 30000, 60000, 120000].find((step) => span / step <= 6) || 60000;
    for (let d = 0; d <= span; d += tick) ctx.fillText(d === 0 ? 'now' : '-' + (d >= 60000 ? d / 60000 + 'm' : d / 1000 + 's'), x(now - d), h - pad.b + 4);
    const base = points.map(() => 0);
    for (const s of spec.series) {
      const values = points.map((p, i) => (spec.stacked ? (base[i] += p[s.key] || 0) : p[s.key]));
      ctx.strokeStyle = s.color; ctx.lineWidth = 1.6; ctx.lineJoin = 'round'; ctx.beginPath();
      let open = false;
      values.forEach((v, i) => {
        if (v == null) { open = false; return; }
        const px = x(points[i].t), py = y(v);
        if (open) ctx.lineTo(px, py); else { ctx.moveTo(px, py); open = true; }
      });
      ctx.stroke();
      if (spec.fill && points.length > 1) {
        ctx.globalAlpha = 0.12; ctx.fillStyle = s.color;
        ctx.lineTo(x(points[points.length - 1].t), y(0)); ctx.lineTo(x(points[0].t), y(0)); ctx.closePath(); ctx.fill();
        ctx.globalAlpha = 1;
      }
    }
    legend(ctx, w, spec.series);
  }
  /** Stacked bars, one per recent step: prefill and decode tokens, and the batch size as dots. */
  function drawSteps(canvas, steps) {
    const { ctx, w, h } = setupCanvas(canvas);
    const pad = { l: 52, r: 30, t: 18, b: 18 };
    const max = niceMax(Math.max(1, ...steps.map((s) => s.numPrefillTokens + s.numDecodeTokens)) * 1.05);
    const maxBatch = niceMax(Math.max(1, ...steps.map((s) => s.numRequests)));
    frame(ctx, w, h, max, fmtTick, pad);
    const n = Math.max(steps.length, 16);
    const bw = (w - pad.l - pad.r) / n;
    const y = (v) => h - pad.b - (v / max) * (h - pad.t - pad.b);
    steps.forEach((s, i) => {
      const x0 = pad.l + i * bw + 1;
      ctx.fillStyle = COLORS.amber; ctx.fillRect(x0, y(s.numPrefillTokens), Math.max(1, bw - 2), y(0) - y(s.numPrefillTokens));
      ctx.fillStyle = COLORS.blue; ctx.fillRect(x0, y(s.numPrefillTokens + s.numDecodeTokens), Math.max(1, bw - 2), y(s.numPrefillTokens) - y(s.numPrefillTokens + s.numDecodeTokens));
      const by = h - pad.b - (s.numRequests / maxBatch) * (h - pad.t - pad.b);
      ctx.fillStyle = COLORS.green; ctx.beginPath(); ctx.arc(x0 + bw / 2 - 1, by, 2.5, 0, 2 * Math.PI); ctx.fill();
    });
    ctx.fillStyle = COLORS.green; ctx.textAlign = 'left'; ctx.textBaseline = 'middle';
    ctx.fillText(String(maxBatch), w - pad.r + 4, pad.t); ctx.fillText('0', w - pad.r + 4, h - pad.b);
    ctx.fillStyle = '#8b94ad'; ctx.textAlign = 'center'; ctx.textBaseline = 'top';
    if (steps.length) ctx.fillText('step ' + steps[0].stepId + ' … ' + steps[steps.length - 1].stepId, pad.l + (w - pad.l - pad.r) / 2, h - pad.b + 4);
    legend(ctx, w, [{ label: 'prefill', color: COLORS.amber }, { label: 'decode', color: COLORS.blue }, { label: 'batch', color: COLORS.green }]);
  }

  // ---------------------------------------------------------------- dashboard data
  let points = [];
  let snapshot = null;
  let lastT = undefined;
  let failures = 0;

  function adminHeaders() {
    const key = sessionStorage.getItem(ADMIN_KEY);
    return key ? { authorization: 'Bearer ' + key } : {};
  }
  function setLive(state, text) {
    $('live-dot').className = 'dot ' + state;
    $('live-text').textContent = text;
  }

  async function poll() {
    try {
      const url = '/console/api/snapshot' + (lastT !== undefined ? '?since=' + lastT : '');
      const res = await fetch(url, { headers: adminHeaders(), cache: 'no-store' });
      if (res.status === 401 || res.status === 403) {
        const body = await res.json().catch(() => ({}));
        $('admin-login').classList.remove('hidden');
        $('admin-error').textContent = sessionStorage.getItem(ADMIN_KEY) ? (body.error && body.error.message) || 'refused' : '';
        setLive('warn', 'admin key needed');
        return;
      }
      if (!res.ok) throw new Error('HTTP ' + res.status);
      const snap = await res.json();
      $('admin-login').classList.add('hidden');
      failures = 0;
      snapshot = snap;
      for (const p of snap.series) if (lastT === undefined || p.t > lastT) points.push(p);
      if (points.length) lastT = points[points.length - 1].t;
      const cut = snap.sampledAt - snap.historyMs;
      while (points.length && points[0].t < cut) points.shift();
      render(snap);
      const down = snap.services.filter((s) => s.status !== 'ok').length;
      setLive(down ? 'warn' : 'ok', 'live · ' + new Date(snap.sampledAt).toLocaleTimeString());
    } catch (err) {
      failures++;
      setLive('bad', 'no data (' + err.message + ')');
    }
  }

  function render(snap) {
    const t = snap.totals;
    const last = points[points.length - 1] || {};
    $('t-batch').textContent = fmtInt(t.lastBatchSize);
    $('t-batch-sub').textContent = 'prefill ' + fmtInt(t.lastPrefillTokens) + ' · decode ' + fmtInt(t.lastDecodeTokens) + ' tok · peak ' + fmtInt(t.peakBatchSize);
    $('t-queue').textContent = fmtInt(t.numWaitingRequests);
    $('t-running').textContent = fmtInt(t.numRunningRequests) + ' running';
    $('t-tps').textContent = fmtNum(last.tokensPerSecond, 0);
    $('t-tps-sub').textContent = 'prefill ' + fmtNum(last.prefillTokensPerSecond, 0) + ' · decode ' + fmtNum(last.decodeTokensPerSecond, 0) + ' · ' + fmtNum(last.stepsPerSecond, 0) + ' steps/s';
    $('t-hit').textContent = fmtPct(t.prefixHitRate);
    $('t-hit-tokens').textContent = fmtInt(t.prefixHitTokens);
    $('t-query-tokens').textContent = fmtInt(t.prefixQueryTokens);
    const lat = snap.latency;
    const win = Math.round(lat.windowMs / 60000) + ' min';
    $('t-ttft').textContent = fmtSeconds(lat.ttft.p50) + ' / ' + fmtSeconds(lat.ttft.p99);
    $('t-ttft-sub').textContent = fmtInt(lat.ttft.count) + ' requests, last ' + win;
    $('t-itl').textContent = fmtSeconds(lat.itl.p50) + ' / ' + fmtSeconds(lat.itl.p99);
    $('t-itl-sub').textContent = fmtInt(lat.itl.count) + ' gaps, ' + fmtInt(lat.numTokensTotal) + ' tokens served';

    const total = t.kvBlocksTotal || 1;
    const bar = $('kv-bar').children;
    bar[0].style.width = (100 * t.kvBlocksUsed) / total + '%';
    bar[1].style.width = (100 * t.kvBlocksCached) / total + '%';
    bar[2].style.width = (100 * t.kvBlocksFree) / total + '%';
    $('kv-used').textContent = fmtInt(t.kvBlocksUsed);
    $('kv-cached').textContent = fmtInt(t.kvBlocksCached);
    $('kv-free').textContent = fmtInt(t.kvBlocksFree);
    const blockSize = snap.schedulers[0] ? snap.schedulers[0].kvCache.blockSize : 0;
    $('kv-total').textContent = fmtInt(t.kvBlocksTotal) + ' blocks' + (blockSize ? ' × ' + blockSize + ' tokens' : '');

    const services = $('services-body');
    services.replaceChildren(...snap.services.map((s) => el('tr', { 'data-service': s.service }, el('td', {}, s.service), el('td', {}, el('code', {}, s.instanceId)), el('td', {}, el('span', { class: 'badge ' + s.status }, s.status)), el('td', {}, fmtUptime(s.uptimeSeconds)), el('td', {}, s.version))));
    for (const name of ['api', 'tokenizer', 'scheduler', 'executor']) {
      if (!snap.services.some((s) => s.service === name)) services.append(el('tr', { 'data-service': name }, el('td', {}, name), el('td', { class: 'muted' }, '—'), el('td', {}, el('span', { class: 'badge down' }, 'not answering')), el('td', {}), el('td', {})));
    }
    $('schedulers-body').replaceChildren(...snap.schedulers.map((s) => el('tr', {}, el('td', {}, el('code', {}, s.instanceId)), el('td', {}, s.executorId ? el('code', {}, s.executorId) : el('span', { class: 'muted' }, 'none')), el('td', {}, fmtNum(s.stepsPerSecond, 1)), el('td', {}, fmtInt(s.numRunningRequests)), el('td', {}, fmtInt(s.numWaitingRequests) + (s.draining ? ' (draining)' : '')), el('td', {}, fmtInt(s.numPreemptionsTotal)), el('td', {}, fmtInt(s.numPrefillTokensTotal) + ' / ' + fmtInt(s.numDecodeTokensTotal)))));
    renderExecutors(snap.executors);
    redrawCharts();
  }

  function renderExecutors(executors) {
    const body = $('executors-body');
    if (!executors.length) { body.className = 'muted'; body.textContent = 'no executor answered'; return; }
    body.className = '';
    body.replaceChildren(...executors.map((e) => {
      const m = e.memory;
      const onDevice = m.deviceTotalBytes > 0;
      const total = onDevice ? m.deviceTotalBytes : m.hostTotalBytes;
      const other = onDevice ? Math.max(0, m.deviceTotalBytes - m.deviceFreeBytes - m.weightsBytes - m.kvCacheBytes) : 0;
      const pct = (b) => (total ? (100 * b) / total : 0) + '%';
      const st = e.stepTimes;
      const maxCount = Math.max(1, ...st.histogram.counts);
      const bounds = st.histogram.upperBoundsMs;
      return el('div', { class: 'exec', 'data-executor': e.instanceId },
        el('dl', { class: 'kv' },
          el('dt', {}, 'instance'), el('dd', {}, el('code', {}, e.instanceId), ' ', el('span', { class: 'badge ' + (e.status === 'ready' ? 'ok' : 'starting') }, e.status || '?')),
          el('dt', {}, 'device'), el('dd', { 'data-testid': 'executor-device' }, (e.device || '?') + (e.backend ? ' · ' + e.backend + ' backend' : '') + (e.threads ? ' · ' + e.threads + ' threads' : '')),
          el('dt', {}, 'model'), el('dd', {}, e.model ? (e.model.name || '?') + ' · ' + (e.model.architecture || '') + ' · ' + (e.model.dtype || '') + ' · ' + fmtInt(e.model.numLayers) + ' layers · context ' + fmtInt(e.model.maxModelLen) : '–'),
          el('dt', {}, 'KV cache'), el('dd', {}, e.kvCache ? fmtInt(e.kvCache.numBlocks) + ' blocks × ' + e.kvCache.blockSize + ' tokens · ' + (e.kvCache.dtype || '') + ' · ' + fmtBytes(e.kvCache.bytesPerBlock) + '/block' : '–')),
        el('div', { class: 'membar', title: 'memory plan' }, el('span', { class: 'mw', style: 'width:' + pct(m.weightsBytes) }), el('span', { class: 'mk', style: 'width:' + pct(m.kvCacheBytes) }), el('span', { class: 'mo', style: 'width:' + pct(other) })),
        el('div', { class: 'legend', 'data-testid': 'memory-plan' },
          el('span', {}, el('i', { class: 'sw mw' }), 'weights ', el('b', {}, fmtBytes(m.weightsBytes))),
          el('span', {}, el('i', { class: 'sw mk' }), 'KV cache ', el('b', {}, fmtBytes(m.kvCacheBytes))),
          onDevice ? el('span', {}, el('i', { class: 'sw mo' }), 'other ', el('b', {}, fmtBytes(other))) : null,
          el('span', { class: 'muted' }, 'of ' + fmtBytes(total) + (onDevice ? ' device memory' : ' host memory'))),
        el('h2', { class: 'gap' }, 'Step time ', el('small', {}, 'last ' + fmtInt(st.count) + ' steps · p50 ' + fmtNum(st.p50Ms, 2) + ' ms · p90 ' + fmtNum(st.p90Ms, 2) + ' · p99 ' + fmtNum(st.p99Ms, 2) + ' · max ' + fmtNum(st.maxMs, 2))),
        el('div', { class: 'hist', 'data-testid': 'step-time-histogram' }, ...st.histogram.counts.map((c, i) => el('div', { style: 'height:' + (100 * c) / maxCount + '%', title: c + ' steps ' + (i < bounds.length ? '≤ ' + bounds[i] + ' ms' : '> ' + bounds[bounds.length - 1] + ' ms') }))),
        el('div', { class: 'histlabels' }, ...st.histogram.counts.map((_, i) => el('span', {}, i < bounds.length ? '≤' + bounds[i] : '>' + bounds[bounds.length - 1]))),
        el('div', { class: 'muted small' }, 'ms per step' + (e.decodeAhead ? ' · decode-ahead steps used ' + fmtInt(e.decodeAhead.used) + ', dropped ' + fmtInt(e.decodeAhead.dropped) : '')));
    }));
  }

  function redrawCharts() {
    if (!snapshot || $('view-dashboard').classList.contains('hidden')) return;
    const h = snapshot.historyMs;
    drawTimeChart($('c-tokens'), points, { fmt: fmtTick, fill: true, series: [{ label: 'generated', color: COLORS.green, key: 'tokensPerSecond' }, { label: 'prefill', color: COLORS.amber, key: 'prefillTokensPerSecond' }, { label: 'decode', color: COLORS.blue, key: 'decodeTokensPerSecond' }] }, h);
    drawTimeChart($('c-ttft'), points, { fmt: fmtSeconds, series: [{ label: 'p50', color: COLORS.blue, key: 'ttftP50' }, { label: 'p90', color: COLORS.amber, key: 'ttftP90' }, { label: 'p99', color: COLORS.red, key: 'ttftP99' }] }, h);
    drawTimeChart($('c-itl'), points, { fmt: fmtSeconds, series: [{ label: 'p50', color: COLORS.blue, key: 'itlP50' }, { label: 'p90', color: COLORS.amber, key: 'itlP90' }, { label: 'p99', color: COLORS.red, key: 'itlP99' }] }, h);
    drawTimeChart($('c-batch'), points, { fmt: fmtTick, series: [{ label: 'mean batch', color: COLORS.green, key: 'meanBatchSize' }, { label: 'running', color: COLORS.blue, key: 'numRunningRequests' }, { label: 'waiting', color: COLORS.red, key: 'numWaitingRequests' }] }, h);
    drawTimeChart($('c-kv'), points, { fmt: fmtTick, stacked: true, fill: true, series: [{ label: 'used', color: COLORS.blue, key: 'kvBlocksUsed' }, { label: 'cached', color: COLORS.violet, key: 'kvBlocksCached' }] }, h);
    drawSteps($('c-steps'), snapshot.schedulers.length ? snapshot.schedulers[0].recentSteps : []);
  }
  window.addEventListener('resize', redrawCharts);

  $('admin-login').addEventListener('submit', (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(ADMIN_KEY, $('admin-key').value);
    lastT = undefined; points = [];
    void poll();
  });

  // ---------------------------------------------------------------- playground
  let model = null;
  const history = [];
  let controller = null;

  function apiHeaders() {
    const key = sessionStorage.getItem(API_KEY);
    return Object.assign({ 'content-type': 'application/json' }, key ? { authorization: 'Bearer ' + key } : {});
  }
  async function loadModel() {
    try {
      const res = await fetch('/v1/models', { headers: apiHeaders() });
      const body = await res.json();
      if (!res.ok) throw new Error((body.error && body.error.message) || 'HTTP ' + res.status);
      model = body.data[0];
      $('model-name').textContent = model.id + ' · context ' + fmtInt(model.max_model_len);
    } catch (err) {
      $('model-name').textContent = 'unavailable: ' + err.message;
    }
  }
  for (const name of ['temperature', 'top_p']) {
    const input = $('p-' + name);
    input.addEventListener('input', () => ($('o-' + name).textContent = input.value));
  }
  $('api-key').value = sessionStorage.getItem(API_KEY) || '';
  $('api-key').addEventListener('change', () => { sessionStorage.setItem(API_KEY, $('api-key').value); void loadModel(); });

  function addMessage(role, text) {
    $('messages-empty')?.remove();
    const body = el('div', { class: 'body', 'data-testid': 'message-' + role }, text);
    const stats = el('div', { class: 'stats', 'data-testid': 'message-stats' });
    const box = el('div', { class: 'msg ' + role }, el('div', { class: 'who' }, role), body, stats);
    $('messages').append(box);
    $('messages').scrollTop = $('messages').scrollHeight;
    return { body, stats, box };
  }
  function samplingParams() {
    const num = (id) => { const v = $(id).value; return v === '' ? undefined : Number(v); };
    const params = { temperature: num('p-temperature'), top_p: num('p-top_p'), top_k: num('p-top_k'), min_p: num('p-min_p'), repetition_penalty: num('p-repetition_penalty'), max_tokens: num('p-max_tokens') };
    const seed = num('p-seed');
    if (seed !== undefined) params.seed = Math.trunc(seed);
    return params;
  }

  async function send(text) {
    addMessage('user', text);
    history.push({ role: 'user', content: text });
    const out = addMessage('assistant', '');
    out.body.classList.add('streaming');
    out.box.dataset.state = 'streaming';
    $('chat-send').disabled = true; $('chat-stop').disabled = false;
    controller = new AbortController();
    const system = $('p-system').value.trim();
    const messages = (system ? [{ role: 'system', content: system }] : []).concat(history);
    const startedAt = performance.now();
    let firstAt = null, chunks = 0, content = '', usage = null, finish = null;
    try {
      const res = await fetch('/v1/chat/completions', {
        method: 'POST', headers: apiHeaders(), signal: controller.signal,
        body: JSON.stringify(Object.assign({ model: model ? model.id : undefined, messages, stream: true, stream_options: { include_usage: true } }, samplingParams())),
      });
      if (!res.ok) {
        const body = await res.json().catch(() => ({}));
        throw new Error((body.error && body.error.message) || 'HTTP ' + res.status);
      }
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let cut;
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          const event = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
          for (const line of event.split('\n')) {
            if (!line.startsWith('data: ')) continue;
            const data = line.slice(6);
            if (data === '[DONE]') continue;
            const chunk = JSON.parse(data);
            if (chunk.error) throw new Error(chunk.error.message);
            if (chunk.usage) usage = chunk.usage;
            for (const c of chunk.choices || []) {
              const piece = c.delta && c.delta.content;
              if (piece) {
                if (firstAt === null) firstAt = performance.now();
                content += piece; chunks++;
                out.body.textContent = content;
                out.box.dataset.chunks = String(chunks);
                $('messages').scrollTop = $('messages').scrollHeight;
              }
              if (c.finish_reason) finish = c.finish_reason;
            }
          }
        }
      }
      const totalMs = performance.now() - startedAt;
      const tokens = usage ? usage.completion_tokens : chunks;
      const decodeMs = firstAt !== null ? performance.now() - firstAt : 0;
      out.stats.innerHTML = '';
      out.stats.append(
        el('span', { 'data-testid': 'completion-tokens' }, String(tokens)), ' tokens',
        usage ? ' · prompt ' + usage.prompt_tokens + (usage.prompt_tokens_details && usage.prompt_tokens_details.cached_tokens ? ' (' + usage.prompt_tokens_details.cached_tokens + ' cached)' : '') : '',
        ' · TTFT ', el('span', { 'data-testid': 'ttft-ms' }, firstAt !== null ? (firstAt - startedAt).toFixed(0) : '–'), ' ms',
        ' · total ', el('span', { 'data-testid': 'total-ms' }, totalMs.toFixed(0)), ' ms',
        tokens > 1 && decodeMs > 0 ? ' · ' + (((tokens - 1) * 1000) / decodeMs).toFixed(1) + ' tok/s' : '',
        finish ? ' · ' + finish : '', ' · ' + chunks + ' chunks');
      history.push({ role: 'assistant', content });
      out.box.dataset.state = 'done';
    } catch (err) {
      out.stats.classList.add('error');
      out.stats.textContent = err.name === 'AbortError' ? 'stopped' : 'error: ' + err.message;
      out.box.dataset.state = 'error';
      if (content) history.push({ role: 'assistant', content });
      else history.pop();
    } finally {
      out.body.classList.remove('streaming');
      $('chat-send').disabled = false; $('chat-stop').disabled = true;
      controller = null;
    }
  }
  $('chat-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const text = $('chat-input').value.trim();
    if (!text || controller) return;
    $('chat-input').value = '';
    void send(text);
  });
  $('chat-input').addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey) { ev.preventDefault(); $('chat-form').requestSubmit(); }
  });
  $('chat-stop').addEventListener('click', () => controller && controller.abort());
  $('chat-clear').addEventListener('click', () => {
    history.length = 0;
    $('messages').replaceChildren(el('div', { class: 'empty muted', id: 'messages-empty' }, 'Say something to the model. Replies stream as they are generated.'));
  });

  // ---------------------------------------------------------------- start
  showView();
  void poll();
  setInterval(() => { if (!document.hidden) void poll(); }, 1000);
})();
