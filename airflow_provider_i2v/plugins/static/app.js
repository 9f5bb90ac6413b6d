// The "Video generations" page: plain JS, no framework, nothing fetched but this app's API.
(function () {
  "use strict";
  var PAGE = 50;
  var state = { offset: 0, total: 0, timer: null, ti: null };
  var $ = function (id) { return document.getElementById(id); };
  var params = new URLSearchParams(window.location.search);

  function given(v) { return v && !/^\{.*\}$/.test(v) ? v : null; }
  // A task instance's tab passes its coordinates: keep them as a fixed filter.
  if (given(params.get("task_id"))) {
    state.ti = {
      dag_id: given(params.get("dag_id")), run_id: given(params.get("run_id")),
      task_id: given(params.get("task_id")), map_index: given(params.get("map_index")) || "-1"
    };
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "className") node.className = attrs[k];
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) node.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return node;
  }

  function fmtTime(epoch) {
    if (epoch === null || epoch === undefined) return "–";
    var d = new Date(epoch * 1000);
    var pad = function (n) { return String(n).padStart(2, "0"); };
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
      pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
  }
  function ago(epoch) {
    if (epoch === null || epoch === undefined) return "";
    var s = Math.round(Date.now() / 1000 - epoch);
    if (s < 0) return "just now";
    if (s < 60) return s + " s ago";
    if (s < 3600) return Math.round(s / 60) + " min ago";
    if (s < 86400) return Math.round(s / 3600) + " h ago";
    return Math.round(s / 86400) + " d ago";
  }
  function fmtDuration(sec) {
    if (sec === null || sec === undefined) return "–";
    if (sec < 60) return sec.toFixed(1) + " s";
    var m = Math.floor(sec / 60), s = Math.round(sec % 60);
    return m + " min " + s + " s";
  }
  function fmtCost(cost) { return cost === null || cost === undefined ? "–" : "$" + cost; }
  function statusLabel(s) { return s === "submitted" ? "rendering" : s.replace("_", " "); }
  function failuresText(f) {
    var keys = Object.keys(f || {});
    return keys.length ? keys.map(function (k) { return k + " × " + f[k]; }).join(", ") : "–";
  }

  function query() {
    var q = new URLSearchParams();
    var dag = $("f-dag").value, status = $("f-status").value, since = $("f-since").value, until = $("f-until").value;
    if (state.ti) {
      Object.keys(state.ti).forEach(function (k) { if (state.ti[k] !== null) q.set(k, state.ti[k]); });
    } else if (dag) q.set("dag_id", dag);
    if (status) q.set("status", status);
    if (since) q.set("since", since);
    if (until) {  // inclusive day: until the start of the next one
      var next = new Date(until + "T00:00:00Z"); next.setUTCDate(next.getUTCDate() + 1);
      q.set("until", next.toISOString().slice(0, 10));
    }
    q.set("limit", String(PAGE));
    q.set("offset", String(state.offset));
    return q;
  }

  function tiLink(r, base) {
    var label = r.dag_id + " / " + r.task_id + (r.map_index >= 0 ? " [" + r.map_index + "]" : "");
    var a = el("a", { href: base + r.ti_path, target: "_top", title: "Open the task instance", text: label });
    var sub = r.run_id + (r.item !== null ? " · item " + r.item : "");
    return el("td", { className: "ti" }, [a, el("div", { className: "sub", text: sub })]);
  }

  function statusCell(r) {
    var td = el("td", {}, [el("span", { className: "chip s-" + r.status, text: statusLabel(r.status) })]);
    if (r.live) {
      if (r.live.progress !== null && r.live.progress !== undefined) {
        var pct = Math.round(r.live.progress * (r.live.progress <= 1 ? 100 : 1));
        td.appendChild(el("div", { className: "sub", text: "gateway: " + (r.live.status || "?") + " " + pct + " %" }));
        var bar = el("span", { className: "progress" }, [el("span", { style: "width:" + Math.min(pct, 100) + "%" })]);
        td.appendChild(bar);
      } else if (r.live.status) {
        td.appendChild(el("div", { className: "sub", text: "gateway: " + r.live.status }));
      } else if (r.live.error) {
        td.appendChild(el("div", { className: "sub", text: "gateway: " + r.live.error }));
      }
    }
    if (r.uncertain_creates) {
      td.appendChild(el("div", { className: "sub", text: r.uncertain_creates + " uncertain create(s)" }));
    }
    return td;
  }

  function videoCell(r) {
    if (!r.preview) return el("td", { className: "video sub", text: r.status === "completed" ? "no link kept" : "–" });
    var b = el("button", { type: "button", text: "▶ Play", "data-kind": r.preview.kind });
    b.addEventListener("click", function () { openPreview(r); });
    return el("td", { className: "video" }, [b, el("div", { className: "sub", text: r.preview.kind === "kept" ? "kept copy" : "gateway link" })]);
  }

  function openPreview(r) {
    var v = $("pv-video");
    $("preview").hidden = false;
    $("pv-error").hidden = true;
    $("pv-title").textContent = r.dag_id + " / " + r.task_id + (r.item !== null ? " item " + r.item : "") +
      (r.generation_id ? " · " + r.generation_id : "");
    $("pv-source").textContent = r.preview.kind === "kept"
      ? "Playing the kept copy (" + (r.preview.uri || "output_dir") + ")"
      : "Playing the gateway's temporary link (no kept copy on this server)";
    v.onerror = function () {
      $("pv-error").hidden = false;
      $("pv-error").textContent = r.preview.kind === "kept"
        ? "The kept copy could not be read."
        : "The gateway's link has expired or cannot be reached. Its links are temporary: set output_dir on the operator to keep a copy that plays here later.";
    };
    v.src = r.preview.url;
    v.play().catch(function () { /* autoplay refused: the controls remain */ });
    $("preview").scrollIntoView({ block: "nearest" });
  }

  function renderRows(data) {
    var tbody = $("rows").querySelector("tbody");
    tbody.textContent = "";
    var base = data.ui_base || "";
    if (!data.rows.length) {
      tbody.appendChild(el("tr", {}, [el("td", { colspan: "9", className: "muted", text: "No generations match." })]));
    }
    data.rows.forEach(function (r) {
      tbody.appendChild(el("tr", { "data-generation": r.generation_id || "", "data-status": r.status }, [
        tiLink(r, base),
        el("td", { className: "id" }, [r.generation_id || "–", r.model ? el("div", { className: "sub", text: r.model }) : null]),
        statusCell(r),
        el("td", { title: r.submitted_at ? new Date(r.submitted_at * 1000).toISOString() : "" },
          [fmtTime(r.submitted_at), el("div", { className: "sub", text: ago(r.submitted_at) })]),
        el("td", { title: r.finished_at ? new Date(r.finished_at * 1000).toISOString() : "", text: fmtTime(r.finished_at) }),
        el("td", { className: "num", text: fmtDuration(r.render_seconds) }),
        el("td", { className: "num cost", text: fmtCost(r.cost) }),
        el("td", {}, [r.error_code ? el("span", { className: "chip s-failed", text: r.error_code }) : "",
          r.error_message ? el("div", { className: "error-msg", text: r.error_message }) : null]),
        videoCell(r)
      ]));
    });
  }

  function renderTotals(data) {
    var all = data.totals.all;
    $("t-count").textContent = all.count.toLocaleString();
    $("t-cost").textContent = "$" + all.cost;
    var failed = Object.values(all.failures).reduce(function (a, b) { return a + b; }, 0);
    $("t-failures").textContent = String(failed);
    $("t-failures").title = failuresText(all.failures);
    [["by-day", data.totals.by_day, "day"], ["by-dag", data.totals.by_dag, "dag_id"]].forEach(function (spec) {
      var tbody = $(spec[0]).querySelector("tbody");
      tbody.textContent = "";
      spec[1].forEach(function (t) {
        tbody.appendChild(el("tr", {}, [el("td", { text: t[spec[2]] }), el("td", { className: "num", text: t.count.toLocaleString() }),
          el("td", { className: "num", text: "$" + t.cost }), el("td", { className: "sub", text: failuresText(t.failures) })]));
      });
    });
  }

  function renderDags(dags) {
    var select = $("f-dag"), current = select.value;
    while (select.options.length > 1) select.remove(1);
    dags.forEach(function (d) { select.appendChild(el("option", { value: d, text: d })); });
    select.value = dags.indexOf(current) >= 0 ? current : "";
  }

  function load() {
    clearTimeout(state.timer);
    return fetch("api/generations?" + query().toString(), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (resp) {
        if (!resp.ok) throw new Error(resp.status === 401 || resp.status === 403 ? "Sign in to Airflow to see generations." : "The API answered " + resp.status);
        return resp.json();
      })
      .then(function (data) {
        state.total = data.total;
        renderDags(data.dags);
        renderRows(data);
        renderTotals(data);
        var end = Math.min(data.offset + data.rows.length, data.total);
        $("range").textContent = data.total ? (data.offset + 1) + "–" + end + " of " + data.total.toLocaleString() : "";
        $("prev").disabled = data.offset === 0;
        $("next").disabled = end >= data.total;
        $("notice").hidden = !data.truncated;
        $("notice").textContent = data.truncated ? "Only the newest records were read: narrow the time range or pick a DAG to see older ones." : "";
        document.body.setAttribute("data-loaded", "true");
        if (data.rows.some(function (r) { return r.status === "submitted"; })) state.timer = setTimeout(load, 10000);
      })
      .catch(function (err) {
        $("notice").hidden = false;
        $("notice").textContent = err.message;
        document.body.setAttribute("data-loaded", "error");
      });
  }

  function reset() { state.offset = 0; load(); }
  ["f-dag", "f-status", "f-since", "f-until"].forEach(function (id) { $(id).addEventListener("change", reset); });
  $("f-clear").addEventListener("click", function () {
    $("f-dag").value = ""; $("f-status").value = ""; $("f-since").value = ""; $("f-until").value = "";
    state.ti = null; $("ti-filter").hidden = true; $("f-dag").disabled = false; reset();
  });
  $("prev").addEventListener("click", function () { state.offset = Math.max(0, state.offset - PAGE); load(); });
  $("next").addEventListener("click", function () { state.offset += PAGE; load(); });
  $("pv-close").addEventListener("click", function () { var v = $("pv-video"); v.pause(); v.removeAttribute("src"); $("preview").hidden = true; });

  if (given(params.get("status"))) $("f-status").value = params.get("status");
  if (state.ti) {
    $("ti-filter").hidden = false;
    $("f-dag").disabled = true;
    $("ti-filter").textContent = "Task instance: " + state.ti.dag_id + " / " + state.ti.run_id + " / " + state.ti.task_id +
      (state.ti.map_index !== "-1" ? " [" + state.ti.map_index + "]" : "");
    $("scope").textContent = "The generations of this task instance (single task or batch items).";
  } else if (given(params.get("dag_id"))) {
    var opt = el("option", { value: params.get("dag_id"), text: params.get("dag_id") });
    $("f-dag").appendChild(opt); $("f-dag").value = params.get("dag_id");
  }
  load();
})();
