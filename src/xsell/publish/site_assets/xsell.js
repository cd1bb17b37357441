/* xsell country page: loads the country's rows on demand (site/data/<country>/<dataset>-<n>.js,
   one chunk after the other), searches them as one types and shows the first matches.
   Values are put into the page with textContent only, never as HTML. */
(function () {
  "use strict";
  var LIMIT = 500;
  var LABELLED = { sales_rep: true, last_order: true };
  var page = JSON.parse(document.getElementById("xsell-page").textContent);
  var sets = {};
  var fmt = formatters(page.lang, page.currency);

  Object.keys(page.datasets).forEach(function (name) {
    var section = document.getElementById("section-" + name);
    sets[name] = {
      name: name, spec: page.datasets[name], chunks: [], loaded: 0, requested: false, timer: null,
      section: section, input: section.querySelector("input[type=search]"),
      status: section.querySelector(".status"), body: section.querySelector("tbody")
    };
    sets[name].input.addEventListener("input", function () { schedule(name, 150); });
  });

  window.xsell = window.xsell || {};
  window.xsell.chunk = function (chunk) {
    var set = sets[chunk.dataset];
    if (!set || chunk.country !== page.country) { return; }
    set.chunks[chunk.part] = prepare(chunk, set.spec);
    set.loaded += chunk.rows;
    if (chunk.part + 1 < chunk.parts) { request(set, chunk.part + 1); }
    schedule(set.name, set.loaded >= set.spec.rows ? 0 : 50);
  };

  function request(set, part) {
    set.requested = true;
    var script = document.createElement("script");
    script.src = "data/" + encodeURIComponent(page.stem) + "/" + set.name + "-" + part + ".js";
    script.onerror = function () { set.status.textContent = "cannot load " + script.src; };
    document.head.appendChild(script);
  }

  function show(name) {
    Object.keys(sets).forEach(function (other) {
      var on = other === name;
      sets[other].section.hidden = !on;
      document.getElementById("tab-" + other).setAttribute("aria-selected", on ? "true" : "false");
    });
    if (!sets[name].requested) { request(sets[name], 0); }
    status(sets[name], 0, 0);
  }
  Array.prototype.forEach.call(document.querySelectorAll("nav.tabs button"), function (button) {
    button.addEventListener("click", function () { show(button.getAttribute("data-dataset")); });
  });

  /* -- data --------------------------------------------------------------------------------- */
  function prepare(chunk, spec) {
    var cols = chunk.columns, lower = {};
    spec.search.forEach(function (key) {
      var col = cols[key];
      lower[key] = col.d ? col.d.map(function (s) { return s.toLowerCase(); }) : null;
    });
    var key = cols[spec.key], n = chunk.rows, groupOf = new Int32Array(n), totals = [];
    var value = cols.expected_value ? cols.expected_value.v : null;
    for (var i = 0, g = -1; i < n; i++) {
      if (i === 0 || key.c[i] !== key.c[i - 1]) { g = i; totals[g] = 0; }
      groupOf[i] = g;
      if (value && value[i] !== null) { totals[g] += value[i]; }
    }
    return { n: n, cols: cols, lower: lower, groupOf: groupOf, totals: totals };
  }

  function cell(chunk, key, i) {
    var col = chunk.cols[key];
    if (!col) { return null; }
    return col.d ? col.d[col.c[i]] : col.v[i];
  }

  function matches(set, query) {
    var terms = query.toLowerCase().split(/\s+/).filter(Boolean), found = [], total = 0;
    set.chunks.forEach(function (chunk, c) {
      if (!chunk) { return; }
      var hits = terms.map(function (term) {
        return set.spec.search.map(function (key) {
          var words = chunk.lower[key], flags = new Uint8Array(words ? words.length : 0);
          for (var j = 0; j < flags.length; j++) { flags[j] = words[j].indexOf(term) >= 0 ? 1 : 0; }
          return { codes: chunk.cols[key].c, flags: flags };
        });
      });
      for (var i = 0; i < chunk.n; i++) {
        var ok = true;
        for (var t = 0; t < hits.length && ok; t++) {
          var any = false;
          for (var k = 0; k < hits[t].length && !any; k++) { any = hits[t][k].flags[hits[t][k].codes[i]] === 1; }
          ok = any;
        }
        if (ok) { total++; if (found.length < LIMIT) { found.push([c, i]); } }
      }
    });
    return { rows: found, total: total };
  }

  /* -- drawing ------------------------------------------------------------------------------ */
  function schedule(name, delay) {
    var set = sets[name];
    clearTimeout(set.timer);
    set.timer = setTimeout(function () { draw(set); }, delay);
  }

  function status(set, shown, total) {
    var texts = page.texts, text;
    if (set.loaded < set.spec.rows) {
      text = texts.loading.replace("{loaded}", number(set.loaded)).replace("{total}", number(set.spec.rows));
    } else if (total === 0) {
      text = texts.no_match;
    } else {
      text = texts.showing.replace("{shown}", number(shown)).replace("{matching}", number(total));
    }
    set.status.textContent = text;
  }

  function draw(set) {
    var result = matches(set, set.input.value.trim());
    var body = document.createElement("tbody"), spec = set.spec, last = null;
    result.rows.forEach(function (at) {
      var chunk = set.chunks[at[0]], i = at[1], group = at[0] + ":" + chunk.groupOf[i];
      var key = cell(chunk, spec.key, i);
      if (group !== last) {
        body.appendChild(groupRow(spec, chunk, i, set.name));
        last = group;
      }
      var tr = document.createElement("tr");
      tr.className = "row";
      tr.setAttribute("data-group", key);
      spec.columns.forEach(function (col) {
        var td = document.createElement("td");
        td.className = "col-" + col;
        td.textContent = fmt(col, cell(chunk, col, i));
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    set.body.parentNode.replaceChild(body, set.body);
    set.body = body;
    status(set, result.rows.length, result.total);
  }

  function groupRow(spec, chunk, i, name) {
    var tr = document.createElement("tr"), th = document.createElement("th");
    tr.className = "group";
    tr.setAttribute("data-group", cell(chunk, spec.key, i));
    th.colSpan = spec.columns.length;
    th.scope = "rowgroup";
    spec.group.forEach(function (key) {
      var value = cell(chunk, key, i);
      if (value === null || value === "" || (key === "customer_id" && value === cell(chunk, "customer", i))) { return; }
      var span = document.createElement("span");
      span.className = "g-" + key;
      span.title = spec.headers[key] || "";
      span.textContent = (LABELLED[key] ? spec.headers[key] + ": " : "") + fmt(key, value);
      th.appendChild(span);
    });
    if (name === "calls" && chunk.cols.expected_value) {
      var total = document.createElement("span");
      total.className = "g-total";
      total.title = spec.headers.expected_value;
      total.textContent = "Σ " + fmt("expected_value", chunk.totals[chunk.groupOf[i]]);
      th.appendChild(total);
    }
    tr.appendChild(th);
    return tr;
  }

  function number(n) { return new Intl.NumberFormat(page.lang).format(n); }

  function formatters(lang, currency) {
    var nf = function (options) { return new Intl.NumberFormat(lang, options); };
    var money;
    try {
      money = /^[A-Z]{3}$/.test(currency) ? nf({ style: "currency", currency: currency, maximumFractionDigits: 0 }) : nf({ maximumFractionDigits: 0 });
    } catch (e) {
      money = nf({ maximumFractionDigits: 0 });
    }
    var by = {
      score: nf({ style: "percent", maximumFractionDigits: 0 }),
      confidence: nf({ style: "percent", maximumFractionDigits: 0 }),
      support: nf({ style: "percent", maximumFractionDigits: 2 }),
      lift: nf({ minimumFractionDigits: 1, maximumFractionDigits: 1 }),
      expected_value: money
    };
    var ratio = nf({ minimumFractionDigits: 2, maximumFractionDigits: 2 });
    var date = new Intl.DateTimeFormat(lang, { timeZone: "UTC" });
    return function (key, value) {
      if (value === null || value === undefined || value === "") { return ""; }
      if (key === "price_ratio") { return ratio.format(value) + "\u00d7"; }
      if (key === "last_order") {
        var p = String(value).split("-");
        return date.format(new Date(Date.UTC(+p[0], +p[1] - 1, +p[2])));
      }
      if (by[key] && typeof value === "number") { return by[key].format(value); }
      return String(value);
    };
  }

  /* rows load after the page itself: scripts added before the load event would hold it back */
  if (document.readyState === "complete") {
    show(Object.keys(sets)[0]);
  } else {
    window.addEventListener("load", function () { show(Object.keys(sets)[0]); });
  }
})();
