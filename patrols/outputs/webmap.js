// map.html's Leaflet plugin: the plan's own layers and controls. The folium elements of
// patrols/outputs/map_elements.py write the calls into it; the data it draws is in the page's
// <script type="application/json"> blocks, read when first needed. It makes no request.
// Colours are set through element.style (CSSOM), never a style="" attribute, which the page's
// Content-Security-Policy (hashes, no 'unsafe-inline') would refuse.
(function () {
  "use strict";
  var P = (L.patrols = {});
  // One dash pattern per day when several days are shown (the first shown is solid).
  var DASHES = [null, "10 6", "2 6", "14 5 3 5", "5 5", "1 5", "20 6"];

  function readJson(id) { return JSON.parse(document.getElementById(id).textContent); }
  // Lines are stored as integer steps of 1/scale degree from the previous point (the first from
  // the origin), x then y: a third of the bytes of written-out coordinates. Decoded straight into
  // LatLngs, which Leaflet keeps as they are (a force's million street points, half the garbage).
  function decode(a, origin, scale) {
    var x = origin[0], y = origin[1], out = new Array(a.length / 2);
    for (var i = 0; i < a.length; i += 2) {
      x += a[i]; y += a[i + 1]; out[i / 2] = new L.LatLng(y / scale, x / scale);
    }
    return out;
  }
  function esc(t) {
    return String(t).replace(/[&<>"']/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c];
    });
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }
  P.esc = esc;
  P.el = el;
  function swatch(colour, cls) { var s = el("span", cls || "sw"); s.style.background = colour; return s; }
  function dashSample(colour, dash) {
    var ns = "http://www.w3.org/2000/svg", svg = document.createElementNS(ns, "svg"), ln = document.createElementNS(ns, "line");
    svg.setAttribute("width", "34"); svg.setAttribute("height", "8"); svg.setAttribute("class", "dash");
    [["x1", 1], ["y1", 4], ["x2", 33], ["y2", 4], ["stroke", colour], ["stroke-width", 3]].forEach(function (a) {
      ln.setAttribute(a[0], a[1]);
    });
    if (dash) { ln.setAttribute("stroke-dasharray", dash); }
    svg.appendChild(ln);
    return svg;
  }
  function rowsHtml(rows) {
    return rows.map(function (r) { return "<b>" + esc(r[0]) + "</b> " + esc(r[1]); }).join("<br>");
  }
  function panel(tag, id, cls) {
    var box = el(tag || "div", "panel " + (cls || ""));
    if (id) { box.id = id; }
    L.DomEvent.disableClickPropagation(box);
    L.DomEvent.disableScrollPropagation(box);
    return box;
  }
  P.readJson = readJson;
  P.decode = decode;

  // Many lines as one canvas polyline (the area's streets).
  P.lines = function (dataId, options) {
    var d = readJson(dataId);
    var line = L.polyline(d.lines.map(function (a) { return decode(a, d.origin, d.scale); }), options);
    line.patrolsBase = true;
    return line;
  };

  // The hotspot surface: one polyline per score class, wider and darker as the score grows.
  P.surface = function (dataId, options) {
    var d = readJson(dataId), group = L.featureGroup();
    group.patrolsSurface = true;
    d.classes.forEach(function (c, i) {
      if (!d.lines[i].length) { return; }
      L.polyline(d.lines[i].map(function (a) { return decode(a, d.origin, d.scale); }),
        L.extend({}, options, {color: c[0], weight: c[1]}))
        .bindTooltip("hotspot score " + c[2] + "–" + c[3] + " (harm × recency)", {sticky: true})
        .addTo(group);
    });
    return group;
  };

  // The plan's routes and what is selected: one FeatureGroup per day and shift, filled the first
  // time it is shown; either the ticked days, shifts and units (browsing) or one unit-shift.
  P.View = L.Class.extend({
    initialize: function (map, indexId) {
      var D = (this.D = readJson(indexId));
      this.map = map;
      this.slots = D.slots.map(function () { return {group: null, dataId: null, routes: null}; });
      this.slotOn = D.slots.map(function (_, i) { return D.show.indexOf(i) >= 0; });
      this.unitOn = D.units.map(function () { return true; });
      this.selected = -1;
      this.stops = {};
      this.layers = {};
      this.numbered = L.featureGroup();
      // The numbers above the station labels (tooltips are at 650), under popups (700).
      map.createPane("stopNumbers").style.zIndex = 660;
      this.handlers = [];
      this.shown = 0;
      this.daysShown = [];
      // One canvas draws every layer in the order added: a layer switched back on goes back under
      // the routes, the surface above the streets.
      map.on("overlayadd baselayerchange", function () {
        var surface = [], base = [];
        map.eachLayer(function (l) {
          if (l.patrolsSurface) { surface.push(l); } else if (l.patrolsBase) { base.push(l); }
        });
        surface.concat(base).forEach(function (l) { l.bringToBack(); });
      });
      map.attributionControl.setPrefix(false);
      map.attributionControl.addAttribution(esc(D.attribution));
    },
    addSlot: function (i, group, dataId) {
      var s = this.slots[i], self = this;
      s.group = group;
      s.dataId = dataId;
      group.on("add", function () { self._fill(i); });
    },
    onChange: function (fn) { this.handlers.push(fn); },
    route: function (r) {
      var D = this.D, x = D.routes[r];
      return {index: r, unit: D.units[x[0]], slot: D.slots[x[1]], km: x[2], busy: x[3], minutes: x[4],
        start: x[5], end: x[6], briefing: x[7], visits: x[8],
        label: D.units[x[0]][0] + " · " + D.slots[x[1]][2] + " · " + D.slots[x[1]][1]};
    },
    // Parse a day-shift's routes and make their layers (not yet on the map).
    _fill: function (i) {
      var s = this.slots[i], D = this.D, self = this;
      if (s.routes) { return; }
      s.routes = readJson(s.dataId).map(function (row) {
        var r = row[0], info = self.route(r), colour = info.unit[2], parts = [];
        self.stops[r] = row[2];
        var line = null;
        if (row[1].length >= 4) {
          line = L.polyline(decode(row[1], D.origin, D.scale), {color: colour, weight: 3, opacity: 1});
          line.bindTooltip(info.unit[0] + " (" + info.unit[1] + ") · " + info.slot[2] + " · " + info.slot[1] + ", " +
            info.km.toFixed(1) + " km: click to read this unit-shift", {sticky: true});
          line.on("click", function () { self.select(r); });
          parts.push(line);
        }
        var circles = row[2].map(function (st, k) {
          var station = st[1] === "station";
          var c = L.circleMarker([st[6], st[7]], {radius: station ? 7 : 5, color: station ? "#000" : colour,
            weight: 2, fillColor: (D.kinds[st[1]] || ["#555"])[0], fillOpacity: 1});
          c.bindPopup(function () { return self.popup(r, k); });
          parts.push(c);
          return c;
        });
        self.layers[r] = {line: line, circles: circles, group: L.featureGroup(parts)};
        return r;
      });
    },
    // A stop's popup: unit, day, shift, times, place.
    popup: function (r, k) {
      var info = this.route(r), st = this.stops[r][k], station = st[1] === "station";
      var last = this.stops[r].length - 1;
      var rows = [["unit", info.unit[0] + " (" + info.unit[1] + ")"], ["day", info.slot[2]],
        ["shift", info.slot[1] + " " + info.start + "–" + info.end],
        ["stop", station ? (k === 0 ? "leaves the station" : "back at the station") : st[0] + " of " + info.visits],
        ["kind", st[1]]];
      if (st[8]) { rows.push(["place", st[8]]); }
      if (st[11]) { rows.push(["for", st[11]]); }
      if (st[2] && !station) { rows.push(["ref", st[2]]); }
      if (!station || k === last) { rows.push(["arrive", st[3] || "—"]); }
      if (!station || k === 0) { rows.push(["leave", st[4] || "—"]); }
      if (!station) { rows.push(["dwell", st[5] === null ? "not shown" : st[5] + " min"]); }
      return '<div class="popup">' + rowsHtml(rows) + "</div>";
    },
    select: function (r) {
      r = r === null || r === undefined || r === "" ? -1 : +r;
      this.selected = r;
      this.refresh();
      // Not animated: the view is where it will stay at once (printing right after reads it).
      if (r >= 0) { this.fit({paddingTopLeft: [50, 30], paddingBottomRight: [250, 30], animate: false}); }
    },
    // Fit the map to the selected unit-shift (or the area when none is).
    fit: function (options) {
      var sel = this.selected, b = sel >= 0 && this.layers[sel] ? this.layers[sel].group.getBounds() : null;
      if (!b || !b.isValid()) { b = L.latLngBounds([this.D.bbox[1], this.D.bbox[0]], [this.D.bbox[3], this.D.bbox[2]]); }
      this.map.fitBounds(b, L.extend({maxZoom: 17}, options));
    },
    refresh: function () {
      var D = this.D, sel = this.selected, self = this, selSlot = sel >= 0 ? D.routes[sel][1] : -1;
      var shown = 0, days = [];
      this.slots.forEach(function (s, i) {
        var want = sel >= 0 ? i === selSlot : self.slotOn[i];
        if (want && days.indexOf(D.slots[i][4]) < 0) { days.push(D.slots[i][4]); }
      });
      days.sort(function (a, b) { return a - b; });
      this.daysShown = days;
      this.slots.forEach(function (s, i) {
        var want = sel >= 0 ? i === selSlot : self.slotOn[i];
        if (!want) {
          if (s.group && self.map.hasLayer(s.group)) { self.map.removeLayer(s.group); }
          return;
        }
        self._fill(i);
        var dash = days.length > 1 ? DASHES[days.indexOf(D.slots[i][4]) % DASHES.length] : null;
        s.routes.forEach(function (r) {
          var lay = self.layers[r], on = sel >= 0 ? r === sel : self.unitOn[D.routes[r][0]];
          if (lay.line) {
            lay.line.setStyle({dashArray: dash, weight: r === sel ? 5 : 3});
          }
          lay.circles.forEach(function (c, k) {
            var visit = k > 0 && k < lay.circles.length - 1;
            if (r === sel && visit) { lay.group.removeLayer(c); } else if (!lay.group.hasLayer(c)) { lay.group.addLayer(c); }
          });
          if (on) { shown += 1; if (!s.group.hasLayer(lay.group)) { s.group.addLayer(lay.group); } }
          else if (s.group.hasLayer(lay.group)) { s.group.removeLayer(lay.group); }
        });
        if (!self.map.hasLayer(s.group)) { s.group.addTo(self.map); }
      });
      this._number();
      this.shown = shown;
      if (window.patrolsMap) { window.patrolsMap.shown = shown; window.patrolsMap.selected = sel; }
      this.handlers.forEach(function (fn) { fn(self); });
    },
    // The selected unit-shift's visits as numbered markers, in the order they are made.
    _number: function () {
      var self = this, sel = this.selected;
      this.numbered.clearLayers();
      if (sel < 0) { if (this.map.hasLayer(this.numbered)) { this.map.removeLayer(this.numbered); } return; }
      var colour = this.route(sel).unit[2], stops = this.stops[sel];
      stops.forEach(function (st, k) {
        if (k === 0 || k === stops.length - 1) { return; }
        var badge = el("span", "num", String(st[0]));
        badge.style.background = colour;
        badge.style.borderColor = (self.D.kinds[st[1]] || ["#555"])[0];
        L.marker([st[6], st[7]], {icon: L.divIcon({className: "stop-num", html: badge, iconSize: [24, 24]}),
          keyboard: false, title: "stop " + st[0], pane: "stopNumbers"}).bindPopup(function () { return self.popup(sel, k); })
          .addTo(self.numbered);
      });
      this.numbered.addTo(this.map);
    },
    openStop: function (k) {
      var sel = this.selected, self = this, stops = this.stops[sel];
      if (sel < 0) { return; }
      if (k === 0 || k === stops.length - 1) {
        this.layers[sel].circles[k].openPopup();
        return;
      }
      this.numbered.eachLayer(function (m) {
        if (m.options.title === "stop " + stops[k][0]) { self.map.panTo(m.getLatLng()); m.openPopup(); }
      });
    },
    start: function () {
      this.refresh();
      window.patrolsMap.builtMs = performance.now();
      document.body.setAttribute("data-ready", "1");
    }
  });
  P.view = function (map, indexId) {
    var view = new P.View(map, indexId);
    window.patrolsMap = {map: map, view: view, routes: view.D.routes.length, shown: 0, selected: -1};
    return view;
  };

  // The sheet beside the map: pick one unit-shift, its stops in order, the summary.
  P.sheet = function (view, ids) {
    var D = view.D, pick = document.getElementById(ids.pick), links = document.getElementById(ids.links);
    var list = document.getElementById(ids.stops), summary = document.getElementById(ids.summary);
    var none = el("option", null, "All units: browse by day and shift");
    none.value = "";
    pick.appendChild(none);
    var groups = {};
    D.routes.forEach(function (x, r) {
      var slot = D.slots[x[1]];
      if (!groups[x[1]]) {
        groups[x[1]] = el("optgroup");
        groups[x[1]].label = slot[2] + " · " + slot[1];
      }
      var o = el("option", null, view.route(r).label);
      o.value = String(r);
      groups[x[1]].appendChild(o);
    });
    Object.keys(groups).map(Number).sort(function (a, b) { return a - b; })
      .forEach(function (s) { pick.appendChild(groups[s]); });
    pick.addEventListener("change", function () { view.select(pick.value); });

    function dl(rows) {
      var d = el("dl");
      rows.forEach(function (r) { d.appendChild(el("dt", null, r[0])); d.appendChild(el("dd", null, r[1])); });
      return d;
    }
    function weekSummary(box) {
      box.appendChild(dl(D.summary.rows));
      if (D.summary.notes.length) {
        box.appendChild(el("h3", null, D.summary.notes_title + " (" + D.summary.notes.length + ")"));
        var ul = el("ul");
        D.summary.notes.forEach(function (n) { ul.appendChild(el("li", null, n)); });
        box.appendChild(ul);
      }
    }
    function render() {
      var sel = view.selected;
      pick.value = sel < 0 ? "" : String(sel);
      links.textContent = "";
      summary.textContent = "";
      var tbody = list.querySelector("tbody");
      tbody.textContent = "";
      if (sel < 0) {
        list.hidden = true;
        document.body.classList.remove("has-selection");
        summary.appendChild(el("h2", null, D.title + ": shown"));
        var days = view.daysShown.length, km = 0, visits = 0, n = 0;
        D.routes.forEach(function (x) {
          if (view.slotOn[x[1]] && view.unitOn[x[0]]) { n += 1; km += x[2]; visits += x[8]; }
        });
        summary.appendChild(dl([["unit-shifts", String(n)], ["days", String(days)], ["stops", String(visits)],
          ["distance", km.toFixed(1) + " km"]]));
        summary.appendChild(el("h3", null, "The week"));
        weekSummary(summary);
        return;
      }
      var info = view.route(sel), stops = view.stops[sel];
      document.body.classList.add("has-selection");
      list.hidden = false;
      list.querySelector("h2").textContent = info.label;
      list.querySelector("p").textContent = info.unit[1] + " unit from " + (stops[0][8] || stops[0][2]) + ", " +
        info.start + "–" + info.end + ", " + info.visits + " stops, " + info.km.toFixed(1) + " km";
      stops.forEach(function (st, k) {
        var station = st[1] === "station", tr = el("tr");
        var time = station ? (k === 0 ? "leaves " + (st[4] || "—") : "back " + (st[3] || "—"))
          : (st[3] || "—") + (st[4] ? "–" + st[4] : "");
        [station ? "" : String(st[0]), time, st[8] || st[2], st[1], station || st[5] === null ? "" : st[5] + " min"]
          .forEach(function (t, c) { tr.appendChild(el("td", "c" + c, t)); });
        tr.setAttribute("data-stop", String(k));
        tr.addEventListener("click", function () { view.openStop(k); });
        tbody.appendChild(tr);
      });
      var a = el("a", "briefing", "Briefing for this unit-shift (printable page)");
      a.setAttribute("href", info.briefing);
      a.setAttribute("target", "_blank");
      a.setAttribute("rel", "noopener");
      links.appendChild(a);
      var clear = el("button", null, "show all units");
      clear.type = "button";
      clear.addEventListener("click", function () { view.select(-1); });
      links.appendChild(clear);

      summary.appendChild(el("h2", null, info.label));
      var byKind = {};
      stops.slice(1, -1).forEach(function (st) { byKind[st[1]] = (byKind[st[1]] || 0) + 1; });
      var kinds = Object.keys(byKind).map(function (k) { return byKind[k] + " " + k; }).join(", ");
      summary.appendChild(dl([["unit", info.unit[0] + " (" + info.unit[1] + ")"], ["station", stops[0][8] || stops[0][2]],
        ["shift", info.slot[2] + ", " + info.slot[1] + " " + info.start + "–" + info.end],
        ["stops", info.visits + (kinds ? " (" + kinds + ")" : "")], ["distance", info.km.toFixed(1) + " km"],
        ["shift time planned", (info.minutes ? Math.round(100 * info.busy / info.minutes) : 0) + "% (rest kept for calls)"]]));
      summary.appendChild(el("h3", null, "The week"));
      weekSummary(summary);
    }
    view.onChange(render);
    // Printing: the map is laid out at its printed size and fitted to the unit-shift, then put back.
    var before = null;
    window.addEventListener("beforeprint", function () {
      before = {centre: view.map.getCenter(), zoom: view.map.getZoom()};
      document.body.classList.add("printing");
      view.map.invalidateSize({animate: false, pan: false});
      view.fit({padding: [30, 30], animate: false});
    });
    window.addEventListener("afterprint", function () {
      document.body.classList.remove("printing");
      view.map.invalidateSize({animate: false, pan: false});
      if (before) { view.map.setView(before.centre, before.zoom, {animate: false}); }
    });
  };

  // Browsing: a day x shift grid and a box per unit; a route shows when its day-shift and its unit are ticked.
  L.Control.PatrolsBrowse = L.Control.extend({
    initialize: function (view, options) { L.setOptions(this, options); this.view = view; },
    onAdd: function () {
      var view = this.view, D = view.D, box = panel("div", "browse"), fs = el("fieldset");
      box.appendChild(fs);
      fs.appendChild(el("h3", null, "Day and shift"));
      var grid = el("table", "slots"), head = el("tr"), rows = {}, slotBoxes = [];
      head.appendChild(el("th"));
      D.shifts.forEach(function (s) { head.appendChild(el("th", null, s)); });
      grid.appendChild(head);
      D.slots.forEach(function (s, i) {
        if (!rows[s[0]]) {
          rows[s[0]] = el("tr");
          rows[s[0]].appendChild(el("th", null, s[3]));
          D.shifts.forEach(function () { rows[s[0]].appendChild(el("td")); });
          grid.appendChild(rows[s[0]]);
        }
        var cb = el("input");
        cb.type = "checkbox";
        cb.title = s[2] + " " + s[1];
        cb.setAttribute("data-slot", s[0] + "/" + s[1]);
        cb.checked = view.slotOn[i];
        cb.onchange = function () { view.slotOn[i] = cb.checked; view.refresh(); };
        slotBoxes.push(cb);
        rows[s[0]].children[1 + D.shifts.indexOf(s[1])].appendChild(cb);
      });
      fs.appendChild(grid);
      fs.appendChild(this._buttons(slotBoxes, view.slotOn));
      fs.appendChild(el("h3", null, "Units"));
      var unitBoxes = [];
      D.units.forEach(function (u, i) {
        var lab = el("label"), cb = el("input");
        cb.type = "checkbox";
        cb.setAttribute("data-unit", u[0]);
        cb.checked = true;
        cb.onchange = function () { view.unitOn[i] = cb.checked; view.refresh(); };
        unitBoxes.push(cb);
        lab.appendChild(cb);
        lab.appendChild(swatch(u[2]));
        lab.appendChild(document.createTextNode(u[0] + " (" + u[1] + ")"));
        fs.appendChild(lab);
      });
      fs.appendChild(this._buttons(unitBoxes, view.unitOn));
      // While one unit-shift is read, browsing is folded away.
      var note = el("div", "note"), back = el("button", null, "browse all units");
      note.appendChild(el("p", null, "One unit-shift is shown."));
      back.type = "button";
      back.onclick = function () { view.select(-1); };
      note.appendChild(back);
      box.appendChild(note);
      view.onChange(function () {
        fs.hidden = view.selected >= 0;
        note.hidden = view.selected < 0;
      });
      return box;
    },
    _buttons: function (boxes, state) {
      var row = el("div"), view = this.view;
      [["all", true], ["none", false]].forEach(function (b) {
        var btn = el("button", null, b[0]);
        btn.type = "button";
        btn.onclick = function () {
          boxes.forEach(function (cb, i) { cb.checked = b[1]; state[i] = b[1]; });
          view.refresh();
        };
        row.appendChild(btn);
      });
      return row;
    }
  });
  L.control.patrolsBrowse = function (view, options) { return new L.Control.PatrolsBrowse(view, options); };

  // The legend: stop kinds, stations, routes and the days shown, the hotspot surface's scale.
  L.Control.PatrolsLegend = L.Control.extend({
    initialize: function (view, options) { L.setOptions(this, options); this.view = view; },
    onAdd: function () {
      var view = this.view, D = view.D, box = panel("div", "legend");
      box.appendChild(el("h3", null, "Legend"));
      D.legend.forEach(function (k) {
        var row = el("div"), dot = swatch(D.kinds[k[0]][0], "dot");
        if (k[0] === "station") { dot.style.borderColor = "#000"; }
        row.appendChild(dot);
        row.appendChild(document.createTextNode(k[1]));
        box.appendChild(row);
      });
      var num = el("div"), badge = el("span", "num small", "3");
      badge.style.background = "#555";
      num.appendChild(badge);
      num.appendChild(document.createTextNode("stop 3 of the unit-shift shown (ring: kind)"));
      box.appendChild(num);
      var days = el("div", "days");
      box.appendChild(days);
      if (D.surface.length) {
        box.appendChild(el("h3", null, "Hotspot surface: harm × recency score"));
        var scale = el("div", "scale");
        D.surface.forEach(function (c) {
          var cell = el("span", "step"), bar = swatch(c[0], "bar");
          bar.style.height = c[1] + "px";
          cell.appendChild(bar);
          cell.appendChild(el("span", null, c[2] + "–" + c[3]));
          scale.appendChild(cell);
        });
        box.appendChild(scale);
      }
      D.extraLegend.forEach(function (x) {
        var row = el("div"), dot = swatch("transparent", "dot");
        dot.style.border = "3px solid " + x[0];
        row.appendChild(dot);
        row.appendChild(document.createTextNode(x[1]));
        box.appendChild(row);
      });
      function update() {
        days.textContent = "";
        var shown = view.daysShown;
        days.appendChild(el("h3", null, shown.length > 1 ? "Routes (colour of the unit), by day" : "Routes: colour of the unit"));
        shown.forEach(function (d, i) {
          var row = el("div");
          row.appendChild(dashSample("#333", shown.length > 1 ? DASHES[i % DASHES.length] : null));
          row.appendChild(document.createTextNode(D.days[d]));
          days.appendChild(row);
        });
      }
      view.onChange(update);
      return box;
    }
  });
  L.control.patrolsLegend = function (view, options) { return new L.Control.PatrolsLegend(view, options); };
})();
/* ==== re-plan ==== */
// What follows is inlined only in a re-plan's map (webmap.py cuts this file at the line above, so a
// plan's map is as it was). It adds to the plugin above what changed against the parent plan: a
// ring round each changed stop and an outline on its number (one dash per change), the change in
// its popup, the badge's title and a column of the stop list, the parent's dropped stops as a layer
// (and under the stop list of their unit-shift), a line on the re-plan and the legend's entries.
// A changed stop's row has two more items: st[9] the change (added, moved, retimed), st[10] in words.
(function () {
  "use strict";
  var P = L.patrols, V = P.View.prototype;

  var esc = P.esc, el = P.el;
  function rowsHtml(rows) {
    return rows.map(function (r) { return "<b>" + esc(r[0]) + "</b> " + esc(r[1]); }).join("<br>");
  }
  function changed(st) { return st.length > 9 && !!st[9]; }
  function dashOf(R, change) {
    var x = R.legend.filter(function (l) { return l[0] === change; })[0];
    return x && x[2] ? x[2] : null;
  }
  function ringSample(colour, dash) {
    var ns = "http://www.w3.org/2000/svg", svg = document.createElementNS(ns, "svg"), c = document.createElementNS(ns, "circle");
    svg.setAttribute("width", "18"); svg.setAttribute("height", "18"); svg.setAttribute("class", "ring");
    [["cx", 9], ["cy", 9], ["r", 7], ["fill", "none"], ["stroke", colour], ["stroke-width", 2.5]].forEach(function (a) {
      c.setAttribute(a[0], a[1]);
    });
    if (dash) { c.setAttribute("stroke-dasharray", dash); }
    svg.appendChild(c);
    return svg;
  }
  function droppedMark(colour, cls) {
    var mark = el("span", "dropped-mark" + (cls ? " " + cls : ""), "×");
    mark.style.borderColor = colour;
    mark.style.color = colour;
    return mark;
  }
  // The dropped stops of one unit-shift (route r).
  function droppedOf(view, r) {
    var info = view.route(r);
    return view.D.replan.dropped.filter(function (d) {
      return d[0] === info.unit[0] && d[1] === info.slot[0] && d[3] === info.slot[1];
    });
  }

  // A ring round each changed stop of a day-shift's routes, made with their layers.
  var fill = V._fill;
  V._fill = function (i) {
    var s = this.slots[i], fresh = !s.routes, self = this, R = this.D.replan;
    fill.call(this, i);
    if (!fresh || !R) { return; }
    s.routes.forEach(function (r) {
      self.stops[r].forEach(function (st, k) {
        if (!changed(st)) { return; }
        var ring = L.circleMarker([st[6], st[7]], {radius: 9, color: R.colour, weight: 3, fill: false,
          dashArray: dashOf(R, st[9])});
        ring.bindPopup(function () { return self.popup(r, k); });
        self.layers[r].group.addLayer(ring);
      });
    });
  };

  var popup = V.popup;
  V.popup = function (r, k) {
    var html = popup.call(this, r, k), st = this.stops[r][k];
    if (!changed(st)) { return html; }
    return html.replace(/<\/div>$/, '<br><b>change</b> <span class="change">' + esc(st[10]) + "</span></div>");
  };

  // The selected unit-shift's numbers: an outline on the changed ones, the change in their title.
  var number = V._number;
  V._number = function () {
    number.call(this);
    var R = this.D.replan, sel = this.selected, byTitle = {};
    if (!R || sel < 0) { return; }
    this.stops[sel].forEach(function (st) { if (changed(st)) { byTitle["stop " + st[0]] = st; } });
    this.numbered.eachLayer(function (m) {
      var st = byTitle[m.options.title], badge = m.options.icon.options.html, node = m.getElement();
      if (!st) { return; }
      badge.classList.add("chg", "chg-" + st[9]);
      badge.style.outlineColor = R.colour;
      if (node) { node.title = m.options.title + ": " + st[10]; }
    });
  };

  // The parent's stops nobody makes now: hollow crossed marks, a popup each. Like the routes, those
  // of the day-shifts and units ticked show, or those of the unit-shift read.
  P.dropped = function (view) {
    var D = view.D, R = D.replan, group = L.featureGroup();
    function indexOf(list, test) { for (var i = 0; i < list.length; i += 1) { if (test(list[i])) { return i; } } return -1; }
    var marks = R.dropped.map(function (d) {
      var rows = [["dropped", "since the parent plan"], ["unit", d[0]], ["day", d[2]], ["shift", d[3]],
        ["was at", d[4]], ["kind", d[5]]];
      if (d[9]) { rows.push(["place", d[9]]); }
      if (d[6]) { rows.push(["ref", d[6]]); }
      var m = L.marker([d[7], d[8]], {icon: L.divIcon({className: "dropped-stop", html: droppedMark(R.colour),
        iconSize: [18, 18]}), keyboard: false, title: "dropped: " + d[0] + " " + d[2] + " " + d[4]})
        .bindPopup('<div class="popup">' + rowsHtml(rows) + "</div>");
      return {mark: m, d: d, slot: indexOf(D.slots, function (s) { return s[0] === d[1] && s[1] === d[3]; }),
        unit: indexOf(D.units, function (u) { return u[0] === d[0]; })};
    });
    view.onChange(function () {
      var sel = view.selected, info = sel >= 0 ? view.route(sel) : null;
      marks.forEach(function (x) {
        var on = info ? x.d[0] === info.unit[0] && x.d[1] === info.slot[0] && x.d[3] === info.slot[1]
          : (x.slot < 0 || view.slotOn[x.slot]) && (x.unit < 0 || view.unitOn[x.unit]);
        if (on && !group.hasLayer(x.mark)) { group.addLayer(x.mark); }
        if (!on && group.hasLayer(x.mark)) { group.removeLayer(x.mark); }
      });
    });
    return group;
  };

  // The sheet: the re-plan's line at the top, a change column, the selected unit-shift's dropped stops.
  var sheet = P.sheet;
  P.sheet = function (view, ids) {
    sheet(view, ids);
    var R = view.D.replan;
    if (!R) { return; }
    var pick = document.getElementById(ids.pick).parentNode, list = document.getElementById(ids.stops);
    var line = el("p", "replan-line", R.line);
    line.style.borderLeftColor = R.colour;
    pick.parentNode.insertBefore(line, pick);
    list.querySelector("thead tr").appendChild(el("th", null, "change"));
    var gone = el("div", "dropped-list");
    list.appendChild(gone);
    view.onChange(function () {
      var sel = view.selected;
      gone.textContent = "";
      if (sel < 0) { return; }
      var stops = view.stops[sel];
      list.querySelectorAll("tbody tr").forEach(function (tr) {
        var st = stops[+tr.getAttribute("data-stop")];
        tr.appendChild(el("td", "c5", changed(st) ? st[10] : ""));
        if (changed(st)) { tr.classList.add("changed"); }
      });
      var dropped = droppedOf(view, sel);
      if (!dropped.length) { return; }
      gone.appendChild(el("h3", null, "Dropped since the parent plan (" + dropped.length + ")"));
      var ul = el("ul");
      dropped.forEach(function (d) {
        ul.appendChild(el("li", null, d[4] + " " + d[5] + (d[9] ? " · " + d[9] : "") + (d[6] ? " (" + d[6] + ")" : "")));
      });
      gone.appendChild(ul);
    });
  };

  // The legend: a ring per change and the dropped mark.
  var legend = L.Control.PatrolsLegend.prototype.onAdd;
  L.Control.PatrolsLegend.prototype.onAdd = function (map) {
    var box = legend.call(this, map), R = this.view.D.replan;
    if (!R) { return box; }
    box.appendChild(el("h3", null, "Changes since the parent plan"));
    R.legend.forEach(function (x) {
      var row = el("div", "change-key");
      row.setAttribute("data-change", x[0]);
      row.appendChild(ringSample(R.colour, x[2] || null));
      row.appendChild(document.createTextNode(x[0] + ": " + x[1]));
      box.appendChild(row);
    });
    if (!R.dropped.length) { return box; }
    var row = el("div", "change-key");
    row.setAttribute("data-change", "dropped");
    row.appendChild(droppedMark(R.colour, "small"));
    row.appendChild(document.createTextNode("dropped: made in the parent plan, not now (layer \u201c" +
      R.droppedLayer + "\u201d)"));
    box.appendChild(row);
    return box;
  };
})();
