// map.html's own script: draws the plan held in #plan-data with the Leaflet inlined above it.
// It makes no request of any kind: the base layer is the area's streets, drawn on a canvas.
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("plan-data").textContent);
  var S = D.scale, OX = D.origin[0], OY = D.origin[1];

  // Lines are stored as integer steps of 1/scale degree from the previous point (smaller file).
  function line(a) {
    var x = OX, y = OY, out = new Array(a.length / 2);
    for (var i = 0; i < a.length; i += 2) { x += a[i]; y += a[i + 1]; out[i / 2] = [y / S, x / S]; }
    return out;
  }
  function esc(t) {
    return String(t).replace(/[&<>"']/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c];
    });
  }
  function popup(rows) {
    return '<div class="popup">' + rows.map(function (r) {
      return "<b>" + esc(r[0]) + "</b> " + esc(r[1]);
    }).join("<br>") + "</div>";
  }
  function el(tag, attrs, html) {
    var e = document.createElement(tag);
    for (var k in attrs) { e.setAttribute(k, attrs[k]); }
    if (html !== undefined) { e.innerHTML = html; }
    return e;
  }

  var canvas = L.canvas({padding: 0.3});
  var map = L.map("map", {renderer: canvas, preferCanvas: true, zoomSnap: 0.25});
  map.fitBounds([[D.bbox[1], D.bbox[0]], [D.bbox[3], D.bbox[2]]]);
  L.control.scale({imperial: false}).addTo(map);
  map.attributionControl.setPrefix(false);
  map.attributionControl.addAttribution(D.attribution);

  var base = {};
  if (D.tile) {
    base.tiles = L.tileLayer(D.tile.url, {attribution: D.tile.attribution, maxZoom: 19});
  }
  base.streets = L.polyline(D.streets.map(line), {
    color: "#a9adb3", weight: 1, opacity: 1, interactive: false, renderer: canvas});
  if (D.hot.length) {
    var top = D.hot[0][0] || 1, hot = [];
    D.hot.forEach(function (h) {
      hot.push(L.polyline(line(h[1]), {color: D.style.surface, weight: 2 + 7 * h[0] / top,
        opacity: 0.25 + 0.45 * h[0] / top, renderer: canvas}).bindTooltip("score " + h[0].toFixed(1)));
    });
    base.surface = L.layerGroup(hot);
  }
  if (D.hotspots.length) {
    base.points = L.layerGroup(D.hotspots.map(function (h) {
      return L.circleMarker([h[1], h[2]], {radius: 4, color: D.style.surface, weight: 1,
        fillColor: D.style.surface, fillOpacity: 0.6, renderer: canvas})
        .bindTooltip(h[0] + " score " + h[3].toFixed(1));
    }));
  }
  if (D.sites.length) {
    base.sites = L.layerGroup(D.sites.map(function (s) {
      return L.circleMarker([s[4], s[5]], {radius: 9, color: D.style.site, weight: 3,
        fillColor: D.style.site, fillOpacity: 0.15, renderer: canvas})
        .bindPopup(popup([["site", s[0]], ["kind", s[1]], ["tier", s[2]], ["label", s[3]]]));
    }));
  }
  var baseNames = {tiles: "Map tiles", streets: "Streets", surface: "Hotspot surface (harm × recency)",
                   points: "Hotspot patrol points", sites: D.text.sites};
  var baseOn = {tiles: true, streets: true, surface: true, points: false, sites: true};

  // One layer group per unit-shift; shown when both its day+shift and its unit are ticked.
  var routes = D.routes.map(function (r) {
    var unit = D.units[r.u], slot = D.slots[r.s], colour = unit[2], parts = [];
    if (r.path.length >= 4) {
      parts.push(L.polyline(line(r.path), {color: colour, weight: 3, opacity: 1, renderer: canvas})
        .bindTooltip(unit[0] + " (" + unit[1] + ") " + slot[2] + ", " + r.km.toFixed(1) + " km"));
    }
    r.stops.forEach(function (s) {
      var kind = s[1], station = kind === "station";
      var rows = [["unit", unit[0]], ["stop", station ? (s[0] ? "back at station" : "leave station")
        : "#" + s[0]], ["kind", kind]];
      if (s[2]) { rows.push(["ref", s[2]]); }
      if (s[7]) { rows.push(["place", s[7]]); }
      rows.push(["arrive", s[3] || "—"]);
      if (!station) { rows.push(["dwell", s[4] === null ? "not shown" : s[4] + " min"]); }
      parts.push(L.circleMarker([s[5], s[6]], {radius: station ? 7 : 5, color: station ? "#000" : colour,
        weight: 2, fillColor: D.style.kind[kind] || "#555", fillOpacity: 1, renderer: canvas})
        .bindPopup(popup(rows)));
    });
    return L.layerGroup(parts);
  });

  var slotOn = D.slots.map(function (_, i) { return D.show.indexOf(i) >= 0; });
  var unitOn = D.units.map(function () { return true; });
  function refresh() {
    var shown = 0;
    D.routes.forEach(function (r, i) {
      var want = slotOn[r.s] && unitOn[r.u];
      if (want) { shown += 1; if (!map.hasLayer(routes[i])) { routes[i].addTo(map); } }
      else if (map.hasLayer(routes[i])) { map.removeLayer(routes[i]); }
    });
    window.patrolsMap.shown = shown;
  }
  function setBase(key, on) {
    if (!base[key]) { return; }
    if (on) { base[key].addTo(map); } else { map.removeLayer(base[key]); }
  }

  // The control panel: base layers, a day x shift grid, units (their colour is their legend).
  var Panel = L.Control.extend({
    onAdd: function () {
      var box = el("div", {"class": "panel", id: "layers"});
      L.DomEvent.disableClickPropagation(box);
      L.DomEvent.disableScrollPropagation(box);
      box.appendChild(el("h3", {}, "Layers"));
      ["tiles", "streets", "surface", "points", "sites"].forEach(function (k) {
        if (!base[k]) { return; }
        var lab = el("label"), cb = el("input", {type: "checkbox", "data-layer": k});
        cb.checked = baseOn[k];
        setBase(k, cb.checked);
        cb.onchange = function () { setBase(k, cb.checked); };
        lab.appendChild(cb);
        lab.appendChild(document.createTextNode(" " + baseNames[k]));
        box.appendChild(lab);
      });

      box.appendChild(el("h3", {}, "Day and shift"));
      var grid = el("table", {"class": "slots"}), head = el("tr"), days = [], seen = {};
      head.appendChild(el("th"));
      D.shifts.forEach(function (s) { head.appendChild(el("th", {}, esc(s))); });
      grid.appendChild(head);
      var slotBoxes = [];
      D.slots.forEach(function (s, i) {
        if (!(s[0] in seen)) { seen[s[0]] = el("tr"); seen[s[0]].appendChild(el("th", {}, esc(s[3])));
          days.push(s[0]); D.shifts.forEach(function () { seen[s[0]].appendChild(el("td")); }); }
        var cb = el("input", {type: "checkbox", "data-slot": s[0] + "/" + s[1], title: s[2]});
        cb.checked = slotOn[i];
        cb.onchange = function () { slotOn[i] = cb.checked; refresh(); };
        slotBoxes.push(cb);
        seen[s[0]].children[1 + D.shifts.indexOf(s[1])].appendChild(cb);
      });
      days.forEach(function (d) { grid.appendChild(seen[d]); });
      box.appendChild(grid);
      box.appendChild(buttons(slotBoxes, slotOn));

      box.appendChild(el("h3", {}, "Units"));
      var unitBoxes = [];
      D.units.forEach(function (u, i) {
        var lab = el("label"), cb = el("input", {type: "checkbox", "data-unit": u[0]});
        cb.checked = true;
        cb.onchange = function () { unitOn[i] = cb.checked; refresh(); };
        unitBoxes.push(cb);
        lab.appendChild(cb);
        lab.appendChild(el("span", {"class": "sw", style: "background:" + u[2]}));
        lab.appendChild(document.createTextNode(u[0] + " (" + u[1] + ")"));
        box.appendChild(lab);
      });
      box.appendChild(buttons(unitBoxes, unitOn));
      return box;
    }
  });
  function buttons(boxes, state) {
    var row = el("div");
    [["all", true], ["none", false]].forEach(function (b) {
      var btn = el("button", {type: "button"}, b[0]);
      btn.onclick = function () {
        boxes.forEach(function (cb, i) { cb.checked = b[1]; state[i] = b[1]; });
        refresh();
      };
      row.appendChild(btn);
    });
    return row;
  }

  var Legend = L.Control.extend({
    onAdd: function () {
      var box = el("div", {"class": "panel", id: "legend"}), rows = ["<h3>Legend</h3>"];
      D.legend.forEach(function (k) {
        rows.push('<div><span class="dot" style="background:' + D.style.kind[k[0]] +
          (k[0] === "station" ? ";border-color:#000" : "") + '"></span>' + esc(k[1]) + "</div>");
      });
      rows.push('<div><span class="sw" style="height:3px;background:#555"></span>route (colour of its unit)</div>');
      rows.push('<div><span class="sw" style="height:6px;opacity:.6;background:' + D.style.surface +
        '"></span>hotspot surface: wider = more harm</div>');
      if (D.sites.length) {
        rows.push('<div><span class="dot" style="background:transparent;border:3px solid ' + D.style.site +
          '"></span>' + esc(D.text.sites) + "</div>");
      }
      box.innerHTML = rows.join("");
      return box;
    }
  });

  var Summary = L.Control.extend({
    onAdd: function () {
      var box = el("div", {"class": "panel summary", id: "summary"}), m = D.summary;
      var html = "<h3>" + esc(D.title) + "</h3><dl>";
      m.rows.forEach(function (r) { html += "<dt>" + esc(r[0]) + "</dt><dd>" + esc(r[1]) + "</dd>"; });
      html += "</dl>";
      if (m.notes.length) {
        html += "<h3>" + esc(m.notes_title) + " (" + m.notes.length + ")</h3><ul>" + m.notes.map(function (u) {
          return "<li>" + esc(u) + "</li>"; }).join("") + "</ul>";
      }
      box.innerHTML = html;
      L.DomEvent.disableScrollPropagation(box);
      return box;
    }
  });

  window.patrolsMap = {map: map, routes: D.routes.length, shown: 0};
  new Panel({position: "topright"}).addTo(map);
  new Summary({position: "topleft"}).addTo(map);
  new Legend({position: "bottomleft"}).addTo(map);
  refresh();
  // Readiness and build time for the browser test: everything above ran and drew.
  window.patrolsMap.builtMs = performance.now();
  document.body.setAttribute("data-ready", "1");
})();
