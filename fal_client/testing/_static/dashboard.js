// The fal emulator dashboard: plain JavaScript, no build step, nothing loaded from elsewhere.
//
// It reads the control API under /__emulator/ and keeps itself current from the change events
// at /__emulator/events (Server-Sent Events): each event names the lists that changed, and only
// those are fetched again. There is no polling: if the event stream breaks, the page stops
// changing (and says so in the header), which is what the browser tests check.
"use strict";

(() => {
  const API = "/__emulator";

  const state = {
    key: null, // the emulator's API key, for the "Try an app" form and job cancels
    apps: [],
    selectedJob: null,
    jobs: { IN_QUEUE: [], IN_PROGRESS: [], COMPLETED: [] },
    faultKinds: [],
    expanded: new Set(), // details rows open in the requests and webhooks tables
  };

  // --- small helpers --------------------------------------------------------------------

  // h("div", {class: "x", dataset: {id: 1}, onclick: f}, "text", child, ...): text is never
  // parsed as HTML, so nothing an app returns can run as script here.
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name === "class") el.className = value;
      else if (name === "dataset") Object.assign(el.dataset, value);
      else if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
      else el.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child === undefined || child === null || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  // Render Markdown `code` spans (app descriptions use them) safely.
  function withCode(text) {
    const parts = String(text || "").split("`");
    return parts.map((part, i) => (i % 2 ? h("code", {}, part) : part));
  }

  function pad(n, width = 2) {
    return String(n).padStart(width, "0");
  }

  function clock(seconds, withMs = true) {
    if (!seconds) return "";
    const d = new Date(seconds * 1000);
    const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
    return withMs ? `${time}.${pad(d.getMilliseconds(), 3)}` : time;
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "";
    if (seconds < 1) return `${(seconds * 1000).toFixed(1)} ms`;
    return `${seconds.toFixed(2)} s`;
  }

  function bytes(n) {
    if (n < 1024) return `${n} B`;
    if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
    return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  }

  function truncate(text, length) {
    return text.length > length ? `${text.slice(0, length)}…` : text;
  }

  function shortId(id) {
    return id ? id.slice(0, 8) : "";
  }

  function statusChip(code) {
    if (code === null || code === undefined) return h("span", { class: "chip" }, "…");
    const kind = code >= 500 || code === 499 ? "bad" : code >= 400 ? "warn" : "ok";
    return h("span", { class: `chip ${kind}`, dataset: { statusCode: code } }, code);
  }

  function pretty(value) {
    return JSON.stringify(value, null, 2);
  }

  async function getList(path) {
    const response = await fetch(API + path, { cache: "no-store" });
    if (!response.ok) throw new Error(`${path}: ${response.status}`);
    return { items: await response.json(), total: Number(response.headers.get("X-Total-Count") || 0) };
  }

  function setCount(topic, n) {
    for (const el of document.querySelectorAll(`[data-count="${topic}"]`)) el.textContent = n;
  }

  function fill(tbody, rows, emptyText, columns) {
    tbody.replaceChildren(...rows);
    if (!rows.length) tbody.append(h("tr", {}, h("td", { colspan: columns, class: "empty" }, emptyText)));
  }

  // A stored file's bytes through the control API: unlike its CDN URL, neither recorded as a
  // request nor subject to faults, so looking at the dashboard never changes what a test sees.
  function contentUrl(url) {
    const match = /\/cdn\/files\/([^/]+)\//.exec(url || "");
    if (!match) return null;
    try {
      if (new URL(url, location.href).origin !== location.origin) return null;
    } catch (_) {
      return null;
    }
    return `${API}/files/${match[1]}/content`;
  }

  // --- live updates ---------------------------------------------------------------------

  const refreshers = {
    apps: refreshApps,
    jobs: refreshJobs,
    requests: refreshRequests,
    files: refreshFiles,
    webhooks: refreshWebhooks,
    streams: refreshStreams,
    faults: refreshFaults,
  };
  const running = {};
  const again = {};

  // One fetch per list at a time; a change arriving meanwhile triggers one more.
  function refresh(topic) {
    if (!(topic in refreshers)) return;
    if (running[topic]) {
      again[topic] = true;
      return;
    }
    running[topic] = refreshers[topic]()
      .catch((error) => console.warn("refresh", topic, error))
      .finally(() => {
        running[topic] = null;
        if (again[topic]) {
          again[topic] = false;
          refresh(topic);
        }
      });
  }

  function setLive(mode) {
    const el = document.getElementById("live");
    el.dataset.state = mode;
    el.textContent = mode === "live" ? "live" : mode === "reconnecting" ? "reconnecting…" : "connecting…";
  }

  function connect() {
    const source = new EventSource(`${API}/events`);
    source.addEventListener("hello", (event) => {
      setLive("live");
      for (const topic of JSON.parse(event.data).topics) refresh(topic);
    });
    source.addEventListener("change", (event) => {
      const topics = JSON.parse(event.data).topics;
      for (const topic of topics) refresh(topic);
      if (topics.includes("jobs") && state.selectedJob) refreshJobDetail();
    });
    source.addEventListener("error", () => setLive("reconnecting"));
  }

  // --- tabs -------------------------------------------------------------------------------

  function showTab() {
    const name = (location.hash || "#queue").slice(1).split("/")[0] || "queue";
    const known = document.querySelector(`[data-panel="${name}"]`) ? name : "queue";
    for (const panel of document.querySelectorAll("[data-panel]")) panel.hidden = panel.dataset.panel !== known;
    for (const link of document.querySelectorAll("[data-tab]")) link.classList.toggle("active", link.dataset.tab === known);
  }

  // --- apps -------------------------------------------------------------------------------

  async function refreshApps() {
    const { items, total } = await getList("/apps");
    state.apps = items;
    setCount("apps", total);
    renderApps();
    const select = document.getElementById("try-app");
    const chosen = select.value;
    select.replaceChildren(
      ...items.filter((app) => app.kind !== "realtime").map((app) => h("option", { value: app.name }, app.name)),
    );
    if (chosen && items.some((app) => app.name === chosen)) select.value = chosen;
    else prefillExample();
    document.getElementById("app-names").replaceChildren(...items.map((app) => h("option", { value: app.name })));
  }

  function renderApps() {
    const queued = {};
    const active = {};
    for (const job of state.jobs.IN_QUEUE) queued[job.app] = (queued[job.app] || 0) + 1;
    for (const job of state.jobs.IN_PROGRESS) active[job.app] = (active[job.app] || 0) + 1;
    const rows = state.apps.map((app) => {
      const inputs = Object.entries(app.inputs || {});
      return h(
        "tr",
        { dataset: { app: app.name } },
        h("td", {}, h("code", {}, app.name)),
        h("td", {}, app.kind),
        h("td", { class: "num" }, app.workers),
        h("td", { class: "num", dataset: { queued: app.name } }, queued[app.name] || 0),
        h("td", { class: "num", dataset: { running: app.name } }, active[app.name] || 0),
        h(
          "td",
          {},
          h("div", {}, withCode(app.description || "")),
          inputs.length
            ? h("ul", { class: "inputs" }, inputs.map(([name, text]) => h("li", {}, h("code", {}, name), " ", withCode(text))))
            : null,
        ),
      );
    });
    fill(document.querySelector("#apps-table tbody"), rows, "No apps registered.", 6);
  }

  function prefillExample() {
    const name = document.getElementById("try-app").value;
    const app = state.apps.find((candidate) => candidate.name === name);
    document.getElementById("try-input").value = pretty(app && app.example ? app.example : {});
  }

  async function submitTry(event) {
    event.preventDefault();
    const output = document.getElementById("try-output");
    const app = document.getElementById("try-app").value;
    const via = document.querySelector('input[name="via"]:checked').value;
    output.hidden = false;
    let input;
    try {
      input = JSON.parse(document.getElementById("try-input").value || "{}");
    } catch (error) {
      output.textContent = `The input is not JSON: ${error.message}`;
      return;
    }
    output.textContent = "…";
    const response = await fetch(`/${via}/${app}`, {
      method: "POST",
      headers: { Authorization: `Key ${state.key}`, "Content-Type": "application/json" },
      body: JSON.stringify(input),
    });
    const text = await response.text();
    let body = text;
    try {
      body = pretty(JSON.parse(text));
    } catch (_) {
      // not JSON: show it as it came
    }
    output.textContent = `${response.status}\n${body}`;
    const requestId = response.headers.get("x-fal-request-id");
    if (requestId) {
      selectJob(requestId);
      if (via === "queue") location.hash = "#queue";
    }
  }

  // --- the queue --------------------------------------------------------------------------

  async function refreshJobs() {
    const [queued, active, done] = await Promise.all([
      getList("/jobs?status=IN_QUEUE&limit=200"),
      getList("/jobs?status=IN_PROGRESS&limit=200"),
      getList("/jobs?status=COMPLETED&order=desc&limit=60"),
    ]);
    queued.items.sort((a, b) => a.queue_position - b.queue_position || a.submitted_at - b.submitted_at);
    state.jobs = { IN_QUEUE: queued.items, IN_PROGRESS: active.items, COMPLETED: done.items };
    const totals = { IN_QUEUE: queued.total, IN_PROGRESS: active.total, COMPLETED: done.total };
    setCount("jobs", queued.total + active.total + done.total);
    for (const [status, jobs] of Object.entries(state.jobs)) {
      document.querySelector(`[data-column-count="${status}"]`).textContent = totals[status];
      const column = document.querySelector(`[data-column="${status}"]`);
      column.replaceChildren(...jobs.map(jobCard));
      if (!jobs.length) column.append(h("div", { class: "empty" }, emptyColumnText(status)));
    }
    renderApps();
  }

  function emptyColumnText(status) {
    if (status === "IN_QUEUE") return "Nothing waiting.";
    if (status === "IN_PROGRESS") return "Nothing running.";
    return "No completed jobs yet: send one from the Apps tab, or with curl.";
  }

  function jobCard(job) {
    const failed = job.status === "COMPLETED" && (job.status_code || 0) >= 400;
    let right;
    if (job.status === "IN_QUEUE") {
      right = h("span", { class: "chip queued", dataset: { position: job.queue_position } }, `position ${job.queue_position}`);
    } else if (job.status === "IN_PROGRESS") {
      right = h("span", { class: "chip running" }, "running");
    } else {
      right = statusChip(job.status_code);
    }
    let meta;
    if (job.status === "COMPLETED") {
      meta = [job.cancelled ? "cancelled · " : "", job.error_type ? `${job.error_type} · ` : "", job.started_at ? duration(job.finished_at - job.started_at) : "never ran"];
    } else if (job.status === "IN_PROGRESS") {
      meta = [`started ${clock(job.started_at, false)}`];
    } else {
      meta = [`submitted ${clock(job.submitted_at, false)}`];
    }
    return h(
      "div",
      {
        class: `job${state.selectedJob === job.request_id ? " selected" : ""}`,
        dataset: { requestId: job.request_id, status: job.status, failed: failed ? "true" : "false" },
        onclick: () => selectJob(job.request_id),
        title: job.request_id,
      },
      h("div", { class: "line" }, h("span", { class: "app" }, job.app), right),
      // Only the queue has a queue: a waiting job's "via" would always say so.
      h("div", { class: "line meta" }, h("span", { class: "mono" }, job.status === "IN_QUEUE" ? shortId(job.request_id) : `${shortId(job.request_id)} · ${job.via}`), h("span", {}, meta)),
    );
  }

  function selectJob(requestId) {
    state.selectedJob = requestId;
    for (const card of document.querySelectorAll(".job")) card.classList.toggle("selected", card.dataset.requestId === requestId);
    refreshJobDetail();
  }

  let detailRunning = null;
  let detailAgain = false;

  function refreshJobDetail() {
    if (detailRunning) {
      detailAgain = true;
      return;
    }
    detailRunning = loadJobDetail()
      .catch((error) => console.warn("job detail", error))
      .finally(() => {
        detailRunning = null;
        if (detailAgain) {
          detailAgain = false;
          refreshJobDetail();
        }
      });
  }

  async function loadJobDetail() {
    const requestId = state.selectedJob;
    const panel = document.getElementById("job-detail");
    if (!requestId) return;
    const response = await fetch(`${API}/jobs/${encodeURIComponent(requestId)}`, { cache: "no-store" });
    if (requestId !== state.selectedJob) return;
    if (response.status === 404) {
      panel.replaceChildren(h("p", { class: "hint" }, `Job ${requestId} is gone (expired, or the emulator was reset).`));
      return;
    }
    renderJobDetail(panel, await response.json());
  }

  function renderJobDetail(panel, job) {
    const failed = job.status === "COMPLETED" && (job.status_code || 0) >= 400;
    const rows = [
      ["Request id", h("code", {}, job.request_id)],
      ["Endpoint", h("code", {}, job.endpoint)],
      ["Via", `${job.via}${job.priority !== "normal" ? ` (${job.priority} priority)` : ""}`],
      ["Submitted", clock(job.submitted_at)],
      ["Started", clock(job.started_at)],
      ["Finished", clock(job.finished_at)],
    ];
    if (job.status === "IN_QUEUE") rows.push(["Queue position", h("span", { dataset: { field: "queue_position" } }, job.queue_position)]);
    if (job.started_at && job.finished_at) rows.push(["Ran for", duration(job.finished_at - job.started_at)]);
    if (job.status_code !== null) rows.push(["Status", statusChip(job.status_code)]);
    if (job.error_type) rows.push(["Error type", h("code", {}, job.error_type)]);
    if (job.webhook_url) rows.push(["Webhook", h("code", {}, job.webhook_url)]);
    const statusClass = job.status === "COMPLETED" ? (failed ? "bad" : "ok") : job.status === "IN_PROGRESS" ? "running" : "queued";
    const children = [
      h("h3", {}, job.app, " ", h("span", { class: `chip ${statusClass}`, dataset: { field: "status" } }, job.cancelled && job.status !== "COMPLETED" ? "CANCELLING" : job.status)),
      h("dl", {}, rows.map(([name, value]) => [h("dt", {}, name), h("dd", {}, value)])),
    ];
    if (job.status !== "COMPLETED" && job.via === "queue" && !job.cancelled) {
      children.push(h("button", { type: "button", class: "danger small", onclick: () => cancelJob(job) }, "Cancel job"));
    }
    if (job.arguments !== null && job.arguments !== undefined) {
      children.push(h("h4", {}, "Input"), h("pre", { class: "json" }, pretty(job.arguments)));
    }
    children.push(h("h4", {}, `Logs (${job.logs.length})`));
    children.push(
      job.logs.length
        ? h(
            "ul",
            { class: "logs", id: "job-logs" },
            job.logs.map((line) => h("li", {}, h("span", { class: `level level-${line.level}` }, line.level), " ", line.message)),
          )
        : h("p", { class: "hint", id: "job-logs" }, "No logs yet."),
    );
    if (job.status === "COMPLETED") {
      if (failed) {
        children.push(h("h4", {}, "Error"));
        children.push(h("pre", { class: "json error-box", id: "job-error" }, [job.error || "", "\n", job.result !== null ? pretty(job.result) : job.result_text || ""].join("")));
      } else {
        children.push(h("h4", {}, "Result"));
        const images = imagesIn(job.result);
        if (images.length) children.push(h("div", { class: "thumbs" }, images.map((src) => h("a", { href: src, target: "_blank" }, h("img", { src, alt: "result image" })))));
        children.push(h("pre", { class: "json", id: "job-result" }, job.result !== null ? pretty(job.result) : job.result_text || ""));
      }
    }
    panel.replaceChildren(...children);
  }

  function imagesIn(value, found = []) {
    if (Array.isArray(value)) {
      for (const item of value) imagesIn(item, found);
    } else if (value && typeof value === "object") {
      const type = value.content_type || "";
      if (typeof value.url === "string" && (type.startsWith("image/") || /\.(png|jpe?g|webp|gif)$/i.test(value.url))) {
        const src = contentUrl(value.url);
        if (src) found.push(src);
      }
      for (const item of Object.values(value)) if (item && typeof item === "object") imagesIn(item, found);
    }
    return found.slice(0, 8);
  }

  async function cancelJob(job) {
    const root = job.endpoint.split("/").slice(0, 2).join("/");
    await fetch(`/queue/${root}/requests/${job.request_id}/cancel`, { method: "PUT", headers: { Authorization: `Key ${state.key}` } });
  }

  // --- requests ---------------------------------------------------------------------------

  function requestsQuery() {
    const form = document.getElementById("requests-filters");
    const params = new URLSearchParams({ order: "desc", limit: "200" });
    const status = form.elements.status.value;
    const app = form.elements.app.value.trim();
    if (status) params.set("status", status);
    if (app) params.set("app", app);
    return params.toString();
  }

  async function refreshRequests() {
    const query = requestsQuery();
    let list;
    try {
      list = await getList(`/requests?${query}`);
    } catch (error) {
      document.getElementById("requests-shown").textContent = "That filter is not valid.";
      return;
    }
    const { items, total } = list;
    if (query === "order=desc&limit=200") setCount("requests", total);
    document.getElementById("requests-shown").textContent = total > items.length ? `newest ${items.length} of ${total}` : `${total} requests`;
    const rows = [];
    for (const request of items) {
      const key = `r:${request.timestamp}:${request.method}:${request.path}`;
      const open = state.expanded.has(key);
      rows.push(
        h(
          "tr",
          { class: "expandable", dataset: { requestId: request.request_id || "", operation: request.operation || "", statusCode: request.status_code ?? "" }, onclick: () => toggle(key, "requests") },
          h("td", { class: "mono" }, clock(request.timestamp)),
          h("td", {}, request.method),
          h("td", { class: "path", title: request.query ? `${request.path}?${request.query}` : request.path }, request.path, request.query ? `?${truncate(request.query, 48)}` : ""),
          h("td", {}, request.operation || ""),
          h("td", {}, request.app || ""),
          h("td", {}, statusChip(request.status_code)),
          h("td", { class: "num" }, duration(request.duration)),
          h("td", {}, request.fault ? h("span", { class: "chip bad" }, request.fault) : ""),
          h("td", { class: "mono" }, shortId(request.request_id)),
        ),
      );
      if (open) {
        rows.push(h("tr", { class: "details" }, h("td", { colspan: 9 }, h("pre", { class: "json" }, pretty({ query: request.query, authorized: request.authorized, request_id: request.request_id, headers: request.headers })))));
      }
    }
    fill(document.querySelector("#requests-table tbody"), rows, "No requests yet.", 9);
  }

  function toggle(key, topic) {
    if (state.expanded.has(key)) state.expanded.delete(key);
    else state.expanded.add(key);
    refresh(topic);
  }

  // --- files ------------------------------------------------------------------------------

  async function refreshFiles() {
    const { items, total } = await getList("/files?order=desc&limit=120");
    setCount("files", total);
    document.getElementById("files-shown").textContent = total
      ? `${total} files${total > items.length ? ` (newest ${items.length} shown)` : ""}`
      : "No stored files yet: uploads and files written by apps show here.";
    const grid = document.getElementById("files-grid");
    grid.replaceChildren(
      ...items.map((file) => {
        const src = `${API}/files/${file.file_id}/content`;
        const isImage = (file.content_type || "").startsWith("image/");
        return h(
          "div",
          { class: "file", dataset: { fileId: file.file_id } },
          h("a", { class: "preview", href: src, target: "_blank", title: "Open" }, isImage ? h("img", { src, alt: file.file_name }) : file.content_type),
          h("div", { class: "name" }, file.file_name),
          h("div", { class: "meta" }, `${bytes(file.size)} · ${file.content_type}`),
          h("div", { class: "meta" }, `${file.source}${file.app ? ` · ${file.app}` : ""} · ${clock(file.created_at)}`),
          h("div", { class: "meta" }, h("a", { href: src, target: "_blank", class: "open" }, "open"), " · ", h("code", { title: "Its CDN URL" }, new URL(file.url).pathname)),
        );
      }),
    );
  }

  // --- webhooks ---------------------------------------------------------------------------

  async function refreshWebhooks() {
    const { items, total } = await getList("/webhooks?order=desc&limit=200");
    setCount("webhooks", total);
    const rows = [];
    for (const delivery of items) {
      const stateName = delivery.delivered ? "delivered" : delivery.finished ? "failed" : "pending";
      const key = `w:${delivery.request_id}`;
      rows.push(
        h(
          "tr",
          { class: "expandable", dataset: { requestId: delivery.request_id, state: stateName }, onclick: () => toggle(key, "webhooks") },
          h("td", { class: "mono" }, clock(delivery.created_at)),
          h("td", { class: "mono" }, shortId(delivery.request_id)),
          h("td", {}, delivery.app),
          h("td", { class: "path" }, delivery.url),
          h("td", {}, h("span", { class: `chip ${stateName === "delivered" ? "ok" : stateName === "failed" ? "bad" : "running"}` }, stateName)),
          h("td", {}, delivery.status_code === null ? "" : statusChip(delivery.status_code)),
          h("td", { class: "num" }, delivery.attempts),
          h("td", {}, delivery.error || ""),
        ),
      );
      if (state.expanded.has(key)) {
        let body = delivery.body;
        try {
          body = pretty(JSON.parse(delivery.body));
        } catch (_) {
          // keep the raw text
        }
        rows.push(h("tr", { class: "details" }, h("td", { colspan: 8 }, h("pre", { class: "json" }, `${pretty(delivery.headers)}\n\n${body}`))));
      }
    }
    fill(document.querySelector("#webhooks-table tbody"), rows, "No webhook deliveries yet: submit with ?fal_webhook=<a loopback URL>.", 8);
  }

  // --- faults -----------------------------------------------------------------------------

  async function refreshFaults() {
    const { items, total } = await getList("/faults");
    setCount("faults", total);
    const rows = items.map((fault) =>
      h(
        "tr",
        { dataset: { faultId: fault.id, kind: fault.kind } },
        h("td", { class: "num" }, fault.id),
        h("td", {}, h("code", {}, fault.kind)),
        h("td", {}, fault.app || "any"),
        h("td", {}, fault.operation || "any"),
        h("td", { class: "num", dataset: { field: "applied" } }, fault.applied),
        h("td", { class: "num" }, fault.remaining === null ? "∞" : fault.remaining),
        h("td", { class: "mono" }, Object.keys(fault.params).length ? JSON.stringify(fault.params) : ""),
        h("td", {}, h("button", { type: "button", class: "danger small", onclick: () => removeFault(fault.id) }, "Remove")),
      ),
    );
    fill(document.querySelector("#faults-table tbody"), rows, "No faults: requests are served normally.", 8);
  }

  async function removeFault(id) {
    await fetch(`${API}/faults/${id}`, { method: "DELETE" });
  }

  async function addFault(event) {
    event.preventDefault();
    const errorBox = document.getElementById("fault-error");
    errorBox.hidden = true;
    const body = { kind: document.getElementById("fault-kind").value };
    const operation = document.getElementById("fault-operation").value;
    const app = document.getElementById("fault-app").value.trim();
    const count = document.getElementById("fault-count").value;
    const probability = document.getElementById("fault-probability").value;
    const params = document.getElementById("fault-params").value.trim();
    if (operation) body.operation = operation;
    if (app) body.app = app;
    if (count !== "") body.count = Number(count);
    if (probability !== "") body.probability = Number(probability);
    if (params) {
      try {
        body.params = JSON.parse(params);
      } catch (error) {
        errorBox.textContent = `Parameters are not JSON: ${error.message}`;
        errorBox.hidden = false;
        return;
      }
    }
    const response = await fetch(`${API}/faults`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    if (!response.ok) {
      const answer = await response.json().catch(() => ({}));
      errorBox.textContent = answer.detail || `Refused (${response.status})`;
      errorBox.hidden = false;
    }
  }

  function showKindHelp() {
    const kind = document.getElementById("fault-kind").value;
    const found = state.faultKinds.find((item) => item.kind === kind);
    document.getElementById("fault-kind-help").replaceChildren(...withCode(found ? found.description : ""));
  }

  // --- realtime and streams ---------------------------------------------------------------

  async function refreshStreams() {
    const { items, total } = await getList("/streams?order=desc&limit=200");
    setCount("streams", total);
    const realtime = items.filter((stream) => stream.kind === "realtime");
    const others = items.filter((stream) => stream.kind !== "realtime");
    const stateOf = (stream) => (stream.finished ? "closed" : "open");
    const chipOf = (stream) =>
      h("span", { class: `chip ${stream.finished ? "" : "ok"}` }, stream.finished && stream.client_disconnected ? "closed by the client" : stateOf(stream));
    const lasted = (stream) => (stream.finished ? duration(stream.closed_at - stream.opened_at) : "");
    document.getElementById("realtime-open").textContent = `${realtime.filter((s) => !s.finished).length} open`;
    fill(
      document.querySelector("#realtime-table tbody"),
      realtime.map((stream) =>
        h(
          "tr",
          { dataset: { requestId: stream.request_id, state: stateOf(stream) } },
          h("td", { class: "mono" }, clock(stream.opened_at)),
          h("td", {}, stream.app),
          h("td", { class: "mono" }, shortId(stream.request_id)),
          h("td", {}, chipOf(stream)),
          h("td", { class: "num" }, stream.events_received),
          h("td", { class: "num" }, stream.events_sent),
          h("td", { class: "num" }, stream.events_dropped),
          h("td", { class: "num" }, lasted(stream)),
        ),
      ),
      "No realtime connections yet (WebSocket /run/<app>/realtime).",
      8,
    );
    fill(
      document.querySelector("#streams-table tbody"),
      others.map((stream) =>
        h(
          "tr",
          { dataset: { requestId: stream.request_id, state: stateOf(stream) } },
          h("td", { class: "mono" }, clock(stream.opened_at)),
          h("td", {}, stream.kind),
          h("td", {}, stream.app),
          h("td", { class: "mono" }, shortId(stream.request_id)),
          h("td", {}, chipOf(stream)),
          h("td", { class: "num" }, stream.events_sent),
          h("td", { class: "num" }, lasted(stream)),
        ),
      ),
      "No streams yet.",
      7,
    );
  }

  // --- start ------------------------------------------------------------------------------

  async function start() {
    showTab();
    window.addEventListener("hashchange", showTab);
    document.getElementById("try-app").addEventListener("change", prefillExample);
    document.getElementById("try-form").addEventListener("submit", submitTry);
    document.getElementById("fault-form").addEventListener("submit", addFault);
    document.getElementById("fault-kind").addEventListener("change", showKindHelp);
    document.getElementById("faults-clear").addEventListener("click", () => fetch(`${API}/faults`, { method: "DELETE" }));
    document.getElementById("reset").addEventListener("click", () => fetch(`${API}/reset`, { method: "POST" }));
    const filters = document.getElementById("requests-filters");
    filters.addEventListener("change", () => refresh("requests"));
    filters.addEventListener("submit", (event) => {
      event.preventDefault();
      refresh("requests");
    });

    const index = await (await fetch(`${API}/`, { headers: { Accept: "application/json" }, cache: "no-store" })).json();
    state.key = index.env.FAL_KEY;
    state.faultKinds = index.fault_kinds;
    document.getElementById("emulator-url").textContent = index.url;
    document.getElementById("fault-kind").replaceChildren(...index.fault_kinds.map((item) => h("option", { value: item.kind }, item.kind)));
    document.getElementById("fault-operation").append(...index.fault_operations.map((name) => h("option", { value: name }, name)));
    showKindHelp();
    connect();
  }

  start();
})();
