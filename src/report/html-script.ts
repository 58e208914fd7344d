/**
 * The script inside the HTML report: draws the uPlot charts from the embedded JSON. Plain ES2017, no modules,
 * so the file opens from disk in any browser with no network. It leaves `window.__timbang` for tests.
 */
export const REPORT_SCRIPT = `
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('timbang-data').textContent);
  var colors = data.colors;
  var charts = [];
  function widthOf(el) { return Math.max(320, Math.floor(el.getBoundingClientRect().width)); }
  function fmt(digits) {
    return function (u, v) { return v == null ? '-' : Number(v).toFixed(digits); };
  }
  function draw(id, d, o) {
    var el = document.getElementById(id);
    if (!el) return;
    if (d.x.length === 0) { el.textContent = 'no data'; return; }
    var series = [{ label: o.xLabel, value: fmt(o.xDigits) }];
    d.series.forEach(function (s, i) {
      var one = { label: s.label, stroke: colors[i % colors.length], width: 2, spanGaps: true, value: fmt(o.yDigits) };
      if (o.step) one.paths = uPlot.paths.stepped({ align: 1 });
      series.push(one);
    });
    var x = { time: false };
    if (o.logX) { x.distr = 3; x.log = 10; }
    var y = {};
    if (o.yRange) y.range = o.yRange;
    var opts = {
      width: widthOf(el), height: 300, series: series, scales: { x: x, y: y },
      axes: [{ label: o.xLabel }, { label: o.yLabel }], cursor: { drag: { x: true, y: false } },
      legend: { live: false }
    };
    var u = new uPlot(opts, [d.x].concat(d.series.map(function (s) { return s.y; })), el);
    u.timbangId = id;
    charts.push(u);
  }
  draw('chart-cdf', data.cdf, { xLabel: 'latency (ms)', yLabel: 'fraction of requests', step: true,
    logX: data.cdfLogX, yRange: [0, 1], xDigits: 1, yDigits: 4 });
  draw('chart-throughput', data.throughput, { xLabel: 'time (s)', yLabel: 'completed requests/s', xDigits: 0, yDigits: 1 });
  draw('chart-inflight', data.inFlight, { xLabel: 'time (s)', yLabel: 'requests in flight', xDigits: 0, yDigits: 0 });
  // Strategy toggles: series i of every chart is strategy i; the table rows follow.
  var box = document.getElementById('toggles');
  function apply() {
    var inputs = box.querySelectorAll('input[data-series]');
    var rows = document.querySelectorAll('#results tbody tr');
    Array.prototype.forEach.call(inputs, function (input, i) {
      var show = input.checked;
      charts.forEach(function (u) { if (u.series[i + 1]) u.setSeries(i + 1, { show: show }); });
      if (rows[i]) rows[i].className = show ? '' : 'off';
    });
  }
  if (box) {
    box.addEventListener('change', apply);
    box.addEventListener('click', function (e) {
      var all = e.target && e.target.getAttribute && e.target.getAttribute('data-all');
      if (all === null || all === undefined) return;
      Array.prototype.forEach.call(box.querySelectorAll('input[data-series]'), function (input) { input.checked = all === '1'; });
      apply();
    });
  }
  var timer = 0;
  window.addEventListener('resize', function () {
    clearTimeout(timer);
    timer = setTimeout(function () {
      charts.forEach(function (u) { u.setSize({ width: widthOf(u.root.parentNode), height: 300 }); });
    }, 100);
  });
  window.__timbang = {
    ready: true,
    charts: charts.map(function (u) {
      return { id: u.timbangId, series: u.series.length - 1, points: u.data[0].length };
    })
  };
})();
`;
