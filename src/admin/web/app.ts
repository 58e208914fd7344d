import type UPlot from 'uplot';
import type {
  BackendView,
  EventView,
  HelloMessage,
  HistoryView,
  StateView,
  TickMessage,
} from '../snapshot.js';

/**
 * The dashboard, as it runs in the browser. It is type-checked here with the DOM library and served as
 * the text of this function (`(dashboardApp)()`), so it must reference nothing outside its own body
 * (type imports are erased). State arrives by Server-Sent Events, one message per tick; the page only
 * sends requests when the operator acts. It leaves `window.__timbang` for the browser tests.
 */
export function dashboardApp(): void {
  const MAX_POINTS = 600;
  const uPlot = (window as unknown as { uPlot: typeof UPlot }).uPlot;
  const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
  const cards = new Map<string, { el: HTMLElement; total: number }>();
  const hook = {
    ticks: 0,
    state: undefined as StateView | undefined,
    connected: false,
    charts: {} as Record<string, UPlot>,
  };
  (window as unknown as { __timbang: typeof hook }).__timbang = hook;
  let history: HistoryView = { t: [], rps: [], inFlight: [], p50Ms: [], p99Ms: [] };
  let rateChart: UPlot | undefined;
  let latencyChart: UPlot | undefined;

  const fmtMs = (v: number | null): string =>
    v === null ? '–' : v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${Math.round(v)} ms`;
  const fmtRate = (v: number): string => (v >= 10 ? v.toFixed(0) : v.toFixed(1));

  function say(text: string, isError = false): void {
    const el = $('message');
    el.textContent = text;
    el.className = isError ? 'error' : 'ok';
  }

  async function api(method: string, path: string, body?: unknown): Promise<unknown> {
    const res = await fetch(path, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = (await res.json().catch(() => ({}))) as { error?: string };
    if (!res.ok) throw new Error(data.error ?? `${res.status} ${res.statusText}`);
    return data;
  }

  function act(what: string, run: () => Promise<unknown>): void {
    run().then(
      () => say(what),
      (err: Error) => say(err.message, true),
    );
  }

  function field(card: HTMLElement, name: string): HTMLElement {
    return card.querySelector(`[data-field="${name}"]`) as HTMLElement;
  }

  function makeCard(b: BackendView): HTMLElement {
    const el = document.createElement('article');
    el.className = 'card';
    el.dataset.testid = 'backend-card';
    el.dataset.id = b.id;
    el.innerHTML = `
      <header><b class="id"></b><span class="addr"></span><span class="badge" data-field="state"></span></header>
      <div class="flight"><span class="big" data-field="inFlight">0</span><small>in flight</small>
        <div class="bar" title="its share of all requests in flight"><i data-field="bar"></i></div><div class="hits" data-field="hits"></div></div>
      <dl>
        <dt title="tries started on this worker, retries included">tries</dt><dd data-field="total"></dd><dt title="tries started per second">tries/s</dt><dd data-field="rps"></dd>
        <dt>p50</dt><dd data-field="p50"></dd><dt>p99</dt><dd data-field="p99"></dd>
        <dt>errors</dt><dd data-field="errors"></dd><dt>weight</dt><dd data-field="weightText"></dd>
        <dt>tunnels</dt><dd data-field="tunnels"></dd>
      </dl>
      <p class="reason" data-field="reason"></p>
      <footer>
        <input type="number" min="0.001" step="any" aria-label="weight" data-field="weight">
        <button data-action="weight" aria-label="Set weight">Set</button>
        <button data-action="drain" data-field="drainButton">Drain</button>
        <button data-action="remove" class="danger">Remove</button>
      </footer>`;
    (el.querySelector('.id') as HTMLElement).textContent = `worker ${b.id}`;
    (el.querySelector('.addr') as HTMLElement).textContent = b.address;
    const id = encodeURIComponent(b.id);
    el.addEventListener('click', (e) => {
      const action = (e.target as HTMLElement).dataset.action;
      if (action === 'weight') {
        const weight = Number((field(el, 'weight') as HTMLInputElement).value);
        act(`worker ${b.id}: weight ${weight}`, () => api('PATCH', `/api/backends/${id}`, { weight }));
      } else if (action === 'drain') {
        const undrain = el.classList.contains('state-draining');
        act(`worker ${b.id}: ${undrain ? 'back in rotation' : 'draining'}`, () =>
          api('POST', `/api/backends/${id}/${undrain ? 'undrain' : 'drain'}`),
        );
      } else if (action === 'remove') {
        act(`worker ${b.id}: removing (drains first)`, () => api('DELETE', `/api/backends/${id}`));
      }
    });
    (field(el, 'weight') as HTMLInputElement).value = String(b.weight);
    return el;
  }

  function renderCards(state: StateView): void {
    const container = $('cards');
    const seen = new Set<string>();
    const allInFlight = Math.max(1, state.totals.inFlight);
    for (const b of state.backends) {
      seen.add(b.id);
      let entry = cards.get(b.id);
      if (!entry) {
        entry = { el: makeCard(b), total: b.total };
        cards.set(b.id, entry);
        container.appendChild(entry.el);
      }
      const el = entry.el;
      el.className = `card state-${b.state}${b.removing ? ' removing' : ''}`;
      field(el, 'state').textContent = b.removing ? 'REMOVING' : b.state.toUpperCase();
      field(el, 'inFlight').textContent = String(b.inFlight);
      field(el, 'bar').style.width = `${Math.round((100 * b.inFlight) / allInFlight)}%`;
      field(el, 'total').textContent = String(b.total);
      field(el, 'tunnels').textContent = String(b.tunnels);
      field(el, 'rps').textContent = fmtRate(b.rps);
      field(el, 'p50').textContent = fmtMs(b.p50Ms);
      field(el, 'p99').textContent = fmtMs(b.p99Ms);
      field(el, 'errors').textContent = String(b.errors);
      field(el, 'weightText').textContent = String(b.weight);
      field(el, 'reason').textContent = b.state === 'up' ? '' : (b.reason ?? '');
      field(el, 'drainButton').textContent = b.state === 'draining' ? 'Undrain' : 'Drain';
      const weightInput = field(el, 'weight') as HTMLInputElement;
      if (document.activeElement !== weightInput) weightInput.value = String(b.weight);
      // One dot per new job, so a learner sees each one land.
      const hits = field(el, 'hits');
      for (let i = 0; i < Math.min(20, b.total - entry.total); i++) {
        const dot = document.createElement('i');
        dot.addEventListener('animationend', () => dot.remove());
        hits.appendChild(dot);
      }
      entry.total = b.total;
    }
    for (const [id, entry] of cards) {
      if (!seen.has(id)) {
        entry.el.remove();
        cards.delete(id);
      }
    }
  }

  function renderState(state: StateView): void {
    hook.state = state;
    $('listen').textContent = `broker ${state.listen.host}:${state.listen.port} · up ${state.uptimeS} s`;
    const select = $<HTMLSelectElement>('strategy');
    if (select.options.length === 0) {
      for (const name of state.strategies) select.add(new Option(name, name));
    }
    if (document.activeElement !== select) select.value = state.strategy;
    const t = state.totals;
    $('totals').innerHTML = '';
    const tries = state.backends.reduce((n, b) => n + b.total, 0);
    // Requests count each client request once (as timbang client does); tries add the retries.
    const items: Array<[string, string, string]> = [
      [
        'requests',
        String(t.requests),
        'client requests answered, each once whatever its retries (what timbang client counts)',
      ],
      [
        'tries',
        String(tries),
        'tries started on the workers: requests plus retries (the cards add up to this)',
      ],
      ['in flight', String(t.inFlight), 'requests in flight now (an open tunnel is one)'],
      ['tunnels', String(t.tunnels), 'open WebSocket and other Upgrade tunnels'],
      ['tries/s', fmtRate(t.rps), 'tries started per second'],
      ['p50', fmtMs(t.p50Ms), 'median time of a whole request, last 30 s'],
      ['p99', fmtMs(t.p99Ms), '99th percentile of a whole request, last 30 s'],
      ['errors', String(t.errors), 'requests that failed (after their retries)'],
      ['retries', String(t.retries), 'extra tries the broker made'],
      [
        'not retried',
        String(t.retriesRefused ?? 0),
        'failed requests the retry budget did not let the broker retry',
      ],
      [
        'HTTP/1 · HTTP/2 · line',
        `${t.protocols.h1} · ${t.protocols.h2} · ${t.protocols.line}`,
        'requests answered, by the protocol they came in (backends are always spoken to in HTTP/1.1)',
      ],
    ];
    for (const [label, value, title] of items) {
      const div = document.createElement('div');
      div.title = title;
      div.dataset.total = label;
      div.innerHTML = '<b></b><small></small>';
      (div.firstChild as HTMLElement).textContent = value;
      (div.lastChild as HTMLElement).textContent = label;
      $('totals').appendChild(div);
    }
    renderCards(state);
  }

  function renderEvents(events: EventView[]): void {
    const list = $('events');
    for (const e of events) {
      const li = document.createElement('li');
      li.className = `ev-${e.kind}${e.level ? ` ev-${e.level}` : ''}`;
      li.textContent = `${new Date(e.t).toLocaleTimeString()}  ${e.message}`;
      list.insertBefore(li, list.firstChild);
    }
    while (list.childNodes.length > 50) list.removeChild(list.lastChild as Node);
  }

  function chartWidth(id: string): number {
    return Math.max(300, Math.floor(($(id).parentElement as HTMLElement).getBoundingClientRect().width) - 8);
  }

  function makeCharts(): void {
    // Whole seconds on the time axis: history is short when the page opens.
    const time: UPlot.Axis = {
      stroke: '#889',
      space: 70,
      incrs: [1, 2, 5, 10, 15, 30, 60, 120, 300],
      values: (_u, splits) => splits.map((v) => new Date(v * 1000).toLocaleTimeString()),
    };
    const axes = (label: string): UPlot.Axis[] => [time, { label, stroke: '#889', size: 56 }];
    // The cards' unit: ms below a second, seconds above, on the axis and in the legend alike.
    const msAxis: UPlot.Axis = {
      label: 'latency',
      stroke: '#889',
      size: 64,
      values: (_u, splits) => splits.map((v) => fmtMs(v)),
    };
    const msValue = (_u: UPlot, v: number | null): string => fmtMs(v);
    rateChart = new uPlot(
      {
        width: chartWidth('chart-rate'),
        height: 220,
        series: [
          {},
          { label: 'tries/s', stroke: '#3b82f6', width: 2, points: { show: false } },
          { label: 'in flight', stroke: '#f59e0b', width: 2, points: { show: false } },
        ],
        axes: axes('tries/s · in flight'),
        legend: { live: false },
      },
      [history.t, history.rps, history.inFlight],
      $('chart-rate'),
    );
    latencyChart = new uPlot(
      {
        width: chartWidth('chart-latency'),
        height: 220,
        series: [
          {},
          // No line across a gap: a tick without requests has no latency (null), and says so.
          { label: 'p50', stroke: '#10b981', width: 2, spanGaps: false, value: msValue, points: { size: 5 } },
          { label: 'p99', stroke: '#ef4444', width: 2, spanGaps: false, value: msValue, points: { size: 5 } },
        ],
        axes: [time, msAxis],
        legend: { live: false },
      },
      [history.t, history.p50Ms, history.p99Ms] as UPlot.AlignedData,
      $('chart-latency'),
    );
    hook.charts = { rate: rateChart, latency: latencyChart };
    window.addEventListener('resize', () => {
      rateChart?.setSize({ width: chartWidth('chart-rate'), height: 220 });
      latencyChart?.setSize({ width: chartWidth('chart-latency'), height: 220 });
    });
  }

  function redrawCharts(): void {
    rateChart?.setData([history.t, history.rps, history.inFlight]);
    latencyChart?.setData([history.t, history.p50Ms, history.p99Ms] as UPlot.AlignedData);
  }

  function connect(): void {
    const source = new EventSource('/api/events');
    const conn = $('conn');
    source.addEventListener('hello', (e) => {
      const hello = JSON.parse((e as MessageEvent).data) as HelloMessage;
      history = hello.history;
      hook.connected = true;
      conn.textContent = 'live';
      conn.className = 'conn live';
      $('events').innerHTML = '';
      renderEvents(hello.events);
      renderState(hello.state);
      if (!rateChart) makeCharts();
      else redrawCharts();
    });
    source.addEventListener('tick', (e) => {
      const tick = JSON.parse((e as MessageEvent).data) as TickMessage;
      hook.ticks++;
      const p = tick.point;
      history.t.push(p.t);
      history.rps.push(p.rps);
      history.inFlight.push(p.inFlight);
      history.p50Ms.push(p.p50Ms);
      history.p99Ms.push(p.p99Ms);
      if (history.t.length > MAX_POINTS) for (const s of Object.values(history)) s.shift();
      renderState(tick.state);
      renderEvents(tick.events);
      redrawCharts();
    });
    source.addEventListener('error', () => {
      hook.connected = false;
      conn.textContent = 'reconnecting…';
      conn.className = 'conn down';
    });
  }

  $<HTMLSelectElement>('strategy').addEventListener('change', (e) => {
    const strategy = (e.target as HTMLSelectElement).value;
    act(`strategy: ${strategy}`, () => api('PUT', '/api/strategy', { strategy }));
  });
  $('lab').addEventListener('click', () => {
    const button = $<HTMLButtonElement>('lab');
    button.disabled = true;
    say('lab: 10 Long and 10 Short jobs on their way…');
    api('POST', '/api/lab', { long: 10, short: 10 })
      .then(
        (r) => {
          const by = (r as { byBackend: Record<string, { long: number; short: number }> }).byBackend;
          const parts = Object.keys(by).map(
            (id) => `worker ${id}: ${by[id].long} Long, ${by[id].short} Short`,
          );
          say(`lab done: ${parts.join(' · ')}`);
        },
        (err: Error) => say(err.message, true),
      )
      .finally(() => {
        button.disabled = false;
      });
  });
  // Record: the broker keeps what it sees until Stop; the links download it as simulate --json does.
  let recording = false;
  $('record').addEventListener('click', () => {
    const button = $<HTMLButtonElement>('record');
    const action = recording ? 'stop' : 'start';
    api('POST', '/api/record', { action }).then(
      (r) => {
        recording = !recording;
        button.textContent = recording ? '■ Stop recording' : '● Record again';
        button.className = recording ? 'on' : '';
        $('dl-jsonl').hidden = recording;
        $('dl-csv').hidden = recording;
        const n = (r as { records: Array<{ completed: number }> }).records.reduce(
          (a, x) => a + x.completed,
          0,
        );
        say(
          recording
            ? 'recording: every request the broker answers from now on'
            : `recorded ${n} request(s): download them with the links beside Record`,
        );
      },
      (err: Error) => say(err.message, true),
    );
  });
  $<HTMLFormElement>('add').addEventListener('submit', (e) => {
    e.preventDefault();
    const form = e.target as HTMLFormElement;
    const data = new FormData(form);
    const body: { address: string; id?: string; weight?: number } = {
      address: String(data.get('address')).trim(),
    };
    const id = String(data.get('id') ?? '').trim();
    const weight = String(data.get('weight') ?? '').trim();
    if (id) body.id = id;
    if (weight) body.weight = Number(weight);
    act(`added ${body.address}`, async () => {
      await api('POST', '/api/backends', body);
      form.reset();
    });
  });
  connect();
}
