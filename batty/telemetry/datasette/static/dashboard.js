// batty dashboard: fetches the canned queries as JSON and draws each chart as inline SVG.
// No library and no CDN (issue 6): the page renders on a machine with no network access.
// When every chart has drawn, <body data-charts-drawn="N"> says so (the headless test waits on it).
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  var W = 560, H = 250, M = { top: 12, right: 14, bottom: 56, left: 56 };
  var COLORS = ["#2b6cb0", "#dd6b20", "#38a169", "#805ad5", "#c53030"];

  function el(name, attrs, text) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function svgRoot() {
    return el("svg", { viewBox: "0 0 " + W + " " + H, width: W, height: H, "class": "batty-chart" });
  }

  function niceMax(v) {
    if (v <= 0) return 1;
    var p = Math.pow(10, Math.floor(Math.log10(v))), n = v / p;
    return (n <= 1 ? 1 : n <= 2 ? 2 : n <= 5 ? 5 : 10) * p;
  }

  function yAxis(svg, max, ticks, fmt) {
    var ih = H - M.top - M.bottom;
    for (var i = 0; i <= ticks; i++) {
      var v = max * i / ticks, y = M.top + ih - ih * i / ticks;
      svg.appendChild(el("line", { x1: M.left, x2: W - M.right, y1: y, y2: y, "class": "grid" }));
      svg.appendChild(el("text", { x: M.left - 6, y: y + 4, "text-anchor": "end" }, fmt ? fmt(v) : String(Math.round(v * 100) / 100)));
    }
    svg.appendChild(el("line", { x1: M.left, x2: M.left, y1: M.top, y2: H - M.bottom, "class": "axis" }));
    svg.appendChild(el("line", { x1: M.left, x2: W - M.right, y1: H - M.bottom, y2: H - M.bottom, "class": "axis" }));
  }

  function xLabels(svg, labels, xOf) {
    var every = Math.max(1, Math.ceil(labels.length / 10));
    labels.forEach(function (label, i) {
      if (i % every) return;
      var x = xOf(i);
      svg.appendChild(el("text", { x: x, y: H - M.bottom + 14, "text-anchor": "end",
        transform: "rotate(-35 " + x + " " + (H - M.bottom + 14) + ")" }, label));
    });
  }

  // Grouped bars: labels along x, one bar per series in each group.
  function bars(labels, series) {
    var svg = svgRoot(), iw = W - M.left - M.right, ih = H - M.top - M.bottom;
    var max = niceMax(Math.max.apply(null, [0].concat(series.map(function (s) { return Math.max.apply(null, s.values.concat([0])); }))));
    yAxis(svg, max, max < 5 ? max : 5, function (v) { return String(Math.round(v)); });
    var band = iw / Math.max(labels.length, 1), bw = Math.max(1, band * 0.8 / series.length);
    series.forEach(function (s, si) {
      s.values.forEach(function (v, i) {
        var h = ih * (v || 0) / max, x = M.left + band * i + band * 0.1 + bw * si;
        var r = el("rect", { x: x, y: M.top + ih - h, width: bw, height: h, fill: COLORS[si % COLORS.length], "class": "bar" });
        r.appendChild(el("title", {}, labels[i] + ": " + s.name + " " + v));
        svg.appendChild(r);
      });
    });
    xLabels(svg, labels, function (i) { return M.left + band * i + band / 2; });
    return svg;
  }

  // Points joined by a line, y from 0 to 1 (merge confidence).
  function dots(labels, values) {
    var svg = svgRoot(), iw = W - M.left - M.right, ih = H - M.top - M.bottom;
    yAxis(svg, 1, 4, function (v) { return v.toFixed(2); });
    var step = iw / Math.max(values.length - 1, 1), pts = [];
    values.forEach(function (v, i) {
      var x = M.left + (values.length === 1 ? iw / 2 : step * i), y = M.top + ih - ih * Math.max(0, Math.min(1, v || 0));
      pts.push(x + "," + y);
      var c = el("circle", { cx: x, cy: y, r: 3, fill: COLORS[0], "class": "point" });
      c.appendChild(el("title", {}, labels[i] + ": " + v));
      svg.appendChild(c);
    });
    if (pts.length > 1) svg.insertBefore(el("polyline", { points: pts.join(" "), fill: "none", stroke: COLORS[0], "stroke-opacity": 0.4 }), svg.firstChild.nextSibling);
    // one label where the day changes, at most ten
    var days = labels.map(function (l, i) { return i && labels[i - 1] === l ? "" : l; });
    var shown = days.filter(Boolean).length, every = Math.max(1, Math.ceil(shown / 10)), k = 0;
    days = days.map(function (d) { return d && (k++ % every === 0) ? d : ""; });
    days.forEach(function (label, i) {
      if (!label) return;
      var x = M.left + (values.length === 1 ? iw / 2 : step * i);
      svg.appendChild(el("text", { x: x, y: H - M.bottom + 14, "text-anchor": "end",
        transform: "rotate(-35 " + x + " " + (H - M.bottom + 14) + ")" }, label));
    });
    return svg;
  }

  function legend(series) {
    var div = document.createElement("div");
    div.className = "legend";
    series.forEach(function (s, i) {
      var span = document.createElement("span"), sw = document.createElement("i");
      sw.style.background = COLORS[i % COLORS.length];
      span.appendChild(sw);
      span.appendChild(document.createTextNode(s.name));
      div.appendChild(span);
    });
    return div;
  }

  var DRAW = {
    daily_completions: function (rows) {
      return [bars(rows.map(function (r) { return r.day; }), [{ name: "completions", values: rows.map(function (r) { return r.completions; }) }])];
    },
    per_seat_completions: function (rows) {
      return [bars(rows.map(function (r) { return r.seat; }), [{ name: "completions", values: rows.map(function (r) { return r.value; }) }])];
    },
    daily_escalations_self_heals: function (rows) {
      var series = [
        { name: "escalations", values: rows.map(function (r) { return r.escalations; }) },
        { name: "self-heals", values: rows.map(function (r) { return r.self_heals; }) }
      ];
      return [bars(rows.map(function (r) { return r.day; }), series), legend(series)];
    },
    burn_rate: function (rows) {
      var series = [
        { name: "dollars", values: rows.map(function (r) { return r.cost_usd; }) },
        { name: "dollars per agent hour", values: rows.map(function (r) { return r.usd_per_agent_hour || 0; }) }
      ];
      return [bars(rows.map(function (r) { return r.day; }), series), legend(series)];
    },
    usage_by_seat: function (rows) {
      return [bars(rows.map(function (r) { return r.seat; }), [{ name: "dollars", values: rows.map(function (r) { return r.cost_usd || 0; }) }])];
    },
    usage_by_task: function (rows) {
      rows = rows.slice(0, 10);
      return [bars(rows.map(function (r) { return r.task; }), [{ name: "dollars", values: rows.map(function (r) { return r.cost_usd || 0; }) }])];
    },
    merge_confidence: function (rows) {
      var svg = dots(rows.map(function (r) { return r.day; }), rows.map(function (r) { return r.score; }));
      Array.prototype.forEach.call(svg.querySelectorAll("circle title"), function (t, i) { t.textContent = rows[i].task + " " + rows[i].ts + ": " + rows[i].score; });
      return [svg];
    },
    flaky_tests: function (rows) {
      var svg = bars(rows.map(function (r) { return r.test.split("::").pop(); }), [{ name: "flakes", values: rows.map(function (r) { return r.flakes; }) }]);
      Array.prototype.forEach.call(svg.querySelectorAll("rect title"), function (t, i) { if (rows[i]) t.textContent = rows[i].test + ": " + rows[i].flakes + " flakes in " + rows[i].runs + " runs (" + (rows[i].flake_rate * 100).toFixed(1) + "%)"; });
      return [svg];
    }
  };

  function fetchQuery(db, name, since) {
    var url = db + "/" + name + ".json?_shape=array&since=" + encodeURIComponent(since);
    return fetch(url).then(function (resp) {
      if (!resp.ok) throw new Error(name + ": HTTP " + resp.status);
      return resp.json();
    });
  }

  function format(v, fmt) {
    if (v === null || v === undefined) return "-";
    if (fmt === "percent") return (v * 100).toFixed(1) + "%";
    return Number(v).toLocaleString("en");
  }

  function start() {
    var root = document.getElementById("batty-dashboard");
    if (!root) return;
    var db = root.getAttribute("data-db").replace(/\/$/, "");
    var since = new URLSearchParams(window.location.search).get("since") || "";
    var tiles = Array.prototype.map.call(root.querySelectorAll(".tile"), function (tile) {
      return fetchQuery(db, tile.getAttribute("data-figure"), since).then(function (rows) {
        tile.querySelector(".n").textContent = format(rows.length ? rows[0].value : null, tile.getAttribute("data-format"));
      }).catch(function (err) { tile.querySelector(".n").textContent = "?"; tile.title = String(err); });
    });
    var drawn = 0;
    var charts = Array.prototype.map.call(root.querySelectorAll(".chart"), function (section) {
      var name = section.getAttribute("data-query"), plot = section.querySelector(".plot");
      return fetchQuery(db, name, since).then(function (rows) {
        plot.textContent = "";
        if (!rows.length) {
          var p = document.createElement("p");
          p.className = "empty";
          p.textContent = "No events yet.";
          plot.appendChild(p);
        } else {
          DRAW[name](rows).forEach(function (node) { plot.appendChild(node); });
        }
        section.setAttribute("data-drawn", String(rows.length));
        drawn += 1;
      }).catch(function (err) {
        plot.innerHTML = "";
        var p = document.createElement("p");
        p.className = "error";
        p.textContent = String(err);
        plot.appendChild(p);
        section.setAttribute("data-error", String(err));
      });
    });
    Promise.all(tiles.concat(charts)).then(function () {
      document.body.setAttribute("data-charts-drawn", String(drawn));
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
