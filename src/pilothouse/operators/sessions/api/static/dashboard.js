// The workspace-sessions dashboard: plain JavaScript, no build step, nothing loaded from
// anywhere but this server (the page's Content-Security-Policy enforces it).
//
// Data: the templates from GET /api/v1/templates; the user's sessions from the WebSocket
// /api/v1/ws/sessions (a snapshot, then ADDED / MODIFIED / DELETED), never by polling.
// Actions are the REST routes; their errors are shown to the user as the API wrote them.
// Every server-provided string reaches the page through textContent, never parsed as markup.
"use strict";

(function () {
  const TOKEN_KEY = "pilothouse.sessions.token";
  const API = "/api/v1";
  const WS_PATH = API + "/ws/sessions";
  const CLOSE_UNAUTHORIZED = 4401;
  // Reconnect backoff: doubles from the first delay up to the last, with jitter so many
  // dashboards do not reconnect in lockstep after an API restart.
  const BACKOFF_MIN_MS = 500;
  const BACKOFF_MAX_MS = 15000;
  const CONFLICT_ATTEMPTS = 3;

  const $ = (id) => document.getElementById(id);

  const state = {
    token: null,
    socket: null,
    reconnectTimer: null,
    backoff: BACKOFF_MIN_MS,
    sessions: new Map(), // name -> session (the shape of GET /api/v1/sessions/{name})
    rows: new Map(), // name -> <tr>
    busy: new Set(), // names with an action in flight
  };

  // ---------- messages ----------

  function showError(text) {
    const el = $("error");
    el.textContent = text;
    el.hidden = !text;
  }

  function showNotice(text) {
    const el = $("notice");
    el.textContent = text;
    el.hidden = !text;
  }

  // The API's error body, as the API wrote it: FastAPI's {"detail": "..."} verbatim, and a
  // 422's list of validation errors as "field: message" lines.
  function errorText(status, body, fallback) {
    const detail = body && typeof body === "object" ? body.detail : undefined;
    if (typeof detail === "string") {
      return detail;
    }
    if (Array.isArray(detail)) {
      return detail
        .map((d) => {
          const loc = Array.isArray(d.loc) ? d.loc.filter((p) => p !== "body").join(".") : "";
          return (loc ? loc + ": " : "") + String(d.msg);
        })
        .join("\n");
    }
    return fallback || "HTTP " + status;
  }

  // ---------- HTTP ----------

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function api(method, path, body) {
    const headers = { Authorization: "Bearer " + state.token, Accept: "application/json" };
    const init = { method, headers, cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let resp;
    try {
      resp = await fetch(path, init);
    } catch (exc) {
      throw new ApiError(0, "The sessions API cannot be reached: " + exc.message);
    }
    const text = await resp.text();
    let parsed = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch (_) {
      parsed = null;
    }
    if (!resp.ok) {
      const message = errorText(resp.status, parsed, text || resp.statusText);
      if (resp.status === 401) {
        // The token stopped working (or never did): back to the login form.
        logout("The token was refused: " + message);
      }
      throw new ApiError(resp.status, message);
    }
    return parsed;
  }

  // ---------- times ----------

  function ago(iso) {
    if (!iso) {
      return "—";
    }
    const then = Date.parse(iso);
    if (Number.isNaN(then)) {
      return iso;
    }
    const s = Math.max(0, Math.round((Date.now() - then) / 1000));
    if (s < 60) {
      return s + " s ago";
    }
    if (s < 3600) {
      return Math.floor(s / 60) + " min ago";
    }
    if (s < 86400) {
      return Math.floor(s / 3600) + " h ago";
    }
    return Math.floor(s / 86400) + " d ago";
  }

  function ageSeconds(iso) {
    const then = iso ? Date.parse(iso) : NaN;
    return Number.isNaN(then) ? null : (Date.now() - then) / 1000;
  }

  // ---------- the sessions table ----------

  const COLUMNS = [
    "name",
    "source",
    "state",
    "phase",
    "stoppedBy",
    "lastActivity",
    "url",
    "statusAge",
    "actions",
  ];

  const ACTIONS = [
    { key: "hibernate", label: "Hibernate", enabled: (s) => s.state === "running" },
    { key: "resume", label: "Resume", enabled: (s) => s.state === "hibernated" },
    { key: "terminate", label: "Terminate", enabled: (s) => s.state !== "terminated" },
  ];

  function makeRow(name) {
    const tr = document.createElement("tr");
    tr.setAttribute("data-testid", "session-row");
    tr.dataset.name = name;
    for (const col of COLUMNS) {
      const td = document.createElement(col === "name" ? "th" : "td");
      if (col === "name") {
        td.scope = "row";
      }
      td.dataset.col = col;
      td.setAttribute("data-testid", "session-" + col);
      tr.appendChild(td);
    }
    const cell = tr.querySelector('[data-col="actions"]');
    for (const action of ACTIONS) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = action.label;
      button.dataset.action = action.key;
      button.setAttribute("data-testid", action.key + "-button");
      button.setAttribute("aria-label", action.label + " " + name);
      button.addEventListener("click", () => act(name, action.key));
      cell.appendChild(button);
    }
    return tr;
  }

  function setText(tr, col, text, title) {
    const td = tr.querySelector('[data-col="' + col + '"]');
    td.textContent = text;
    if (title) {
      td.title = title;
    } else {
      td.removeAttribute("title");
    }
    return td;
  }

  function fillRow(tr, s) {
    setText(tr, "name", s.name);
    setText(tr, "source", s.template ? s.template : s.image || "—", s.image || "");
    setText(tr, "state", s.state);
    const phase = setText(tr, "phase", s.phase || "(not seen yet)", s.message || "");
    phase.className = "phase phase-" + String(s.phase || "none").toLowerCase();
    tr.dataset.phase = s.phase || "";
    setText(tr, "stoppedBy", s.stoppedBy || "—");
    const urlCell = tr.querySelector('[data-col="url"]');
    urlCell.textContent = "";
    // Only http(s) URLs become links: a javascript: URL from status must never be clickable.
    if (s.url && /^https?:\/\//i.test(s.url)) {
      const a = document.createElement("a");
      a.href = s.url;
      a.textContent = s.url;
      a.rel = "noopener noreferrer";
      a.target = "_blank";
      urlCell.appendChild(a);
    } else {
      urlCell.textContent = s.url || "—";
    }
    for (const button of tr.querySelectorAll("button[data-action]")) {
      const action = ACTIONS.find((a) => a.key === button.dataset.action);
      button.disabled = state.busy.has(s.name) || !action.enabled(s);
    }
    fillTimes(tr, s);
  }

  // The cells that change with the clock alone; refreshed every second.
  function fillTimes(tr, s) {
    setText(tr, "lastActivity", ago(s.lastActivity), s.lastActivity || "");
    const title = s.lastReconcileTime
      ? "status written by the controller at " + s.lastReconcileTime
      : "the controller has not written status yet";
    const td = setText(tr, "statusAge", ago(s.lastReconcileTime), title);
    const age = ageSeconds(s.lastReconcileTime);
    td.classList.toggle("stale", age !== null && age > 300);
  }

  function render() {
    const body = $("sessions-body");
    const names = Array.from(state.sessions.keys()).sort();
    for (const [name, tr] of state.rows) {
      if (!state.sessions.has(name)) {
        tr.remove();
        state.rows.delete(name);
      }
    }
    for (const name of names) {
      let tr = state.rows.get(name);
      if (!tr) {
        tr = makeRow(name);
        state.rows.set(name, tr);
      }
      fillRow(tr, state.sessions.get(name));
      body.appendChild(tr); // appending an attached row moves it: keeps the order by name
    }
    $("empty").hidden = names.length > 0;
  }

  function tick() {
    for (const [name, tr] of state.rows) {
      const s = state.sessions.get(name);
      if (s) {
        fillTimes(tr, s);
      }
    }
  }

  // ---------- the WebSocket ----------

  function setConnection(kind, text) {
    const el = $("connection");
    el.dataset.state = kind;
    el.textContent = text;
    // The table dims while it may be out of date (see dashboard.css).
    $("sessions").classList.toggle("outdated", kind !== "live");
  }

  function connect() {
    clearTimeout(state.reconnectTimer);
    state.reconnectTimer = null;
    if (!state.token) {
      return;
    }
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const url = scheme + location.host + WS_PATH;
    let socket;
    try {
      // Browsers cannot set headers on a WebSocket: the token travels as a subprotocol.
      socket = new WebSocket(url, ["bearer." + state.token]);
    } catch (_) {
      // A token with characters a subprotocol cannot carry (a configured token may have
      // any): the query parameter, which the API also accepts but which may reach logs.
      socket = new WebSocket(url + "?token=" + encodeURIComponent(state.token));
    }
    state.socket = socket;
    setConnection("connecting", "Connecting…");
    socket.addEventListener("message", (event) => {
      if (socket !== state.socket) {
        return;
      }
      let msg;
      try {
        msg = JSON.parse(event.data);
      } catch (_) {
        return;
      }
      if (msg.type === "snapshot") {
        state.sessions = new Map(msg.sessions.map((s) => [s.name, s]));
        state.backoff = BACKOFF_MIN_MS; // a snapshot means the stream works again
        setConnection("live", "Live");
      } else if (msg.type === "ADDED" || msg.type === "MODIFIED") {
        state.sessions.set(msg.session.name, msg.session);
      } else if (msg.type === "DELETED") {
        state.sessions.delete(msg.session.name);
      } else {
        return;
      }
      render();
    });
    socket.addEventListener("close", (event) => {
      if (socket !== state.socket) {
        return; // an old socket, replaced or closed by logout
      }
      state.socket = null;
      if (event.code === CLOSE_UNAUTHORIZED) {
        logout("The token was refused: " + (event.reason || "missing or invalid bearer token"));
        return;
      }
      const delay = Math.round(state.backoff * (0.75 + Math.random() * 0.5));
      state.backoff = Math.min(state.backoff * 2, BACKOFF_MAX_MS);
      const why = event.code === 4429 ? " (fell behind the stream)" : "";
      setConnection(
        "reconnecting",
        "Disconnected" + why + ", reconnecting in " + Math.ceil(delay / 1000) + " s…",
      );
      state.reconnectTimer = setTimeout(connect, delay);
    });
  }

  function disconnect() {
    clearTimeout(state.reconnectTimer);
    state.reconnectTimer = null;
    const socket = state.socket;
    state.socket = null; // its close event is then ignored: no reconnect
    if (socket) {
      socket.close(1000, "logout");
    }
  }

  // ---------- actions ----------

  // The API changes the desired state conditionally on the version it just read, so a
  // controller write in between is a 409 "to retry"; a terminated session's 409 stays one.
  async function withConflictRetry(call) {
    for (let attempt = 1; ; attempt++) {
      try {
        return await call();
      } catch (exc) {
        if (exc.status !== 409 || attempt >= CONFLICT_ATTEMPTS || /terminated/.test(exc.message)) {
          throw exc;
        }
        await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
      }
    }
  }

  async function act(name, action) {
    const s = state.sessions.get(name);
    if (!s) {
      return;
    }
    if (action === "terminate" && !window.confirm("Terminate session " + name + "?")) {
      return;
    }
    const path = API + "/sessions/" + encodeURIComponent(name);
    const [method, url] =
      action === "terminate" ? ["DELETE", path] : ["POST", path + "/" + action];
    state.busy.add(name);
    render();
    showError("");
    try {
      await withConflictRetry(() => api(method, url));
      showNotice(
        action === "terminate" ? "Terminating " + name + "." : name + ": " + action + " requested.",
      );
      // The answer is deliberately not shown: the stream may already have delivered newer
      // status (the controller acting on the change), which the answer would overwrite.
    } catch (exc) {
      showError(exc.message);
    } finally {
      state.busy.delete(name);
      render();
    }
  }

  async function loadTemplates() {
    const templates = await api("GET", API + "/templates");
    const select = $("template-select");
    select.textContent = "";
    const items = Array.isArray(templates) ? templates : (templates && templates.items) || [];
    for (const t of items) {
      const option = document.createElement("option");
      option.value = t.name;
      const label = t.displayName ? t.displayName + " (" + t.name + ")" : t.name;
      option.textContent = t.image ? label + " — " + t.image : label;
      select.appendChild(option);
    }
    const hint = $("template-hint");
    hint.hidden = items.length > 0;
    hint.textContent = items.length ? "" : "No templates in this namespace: ask an admin for one.";
    $("create-button").disabled = items.length === 0;
  }

  async function create(event) {
    event.preventDefault();
    const body = { template: $("template-select").value };
    const name = $("name-input").value.trim();
    if (name) {
      body.name = name;
    }
    const button = $("create-button");
    button.disabled = true;
    showError("");
    showNotice("");
    try {
      const out = await api("POST", API + "/sessions", body);
      showNotice("Session " + out.name + " created.");
      $("name-input").value = "";
      // Shown at once, unless the stream was faster (then its copy is newer: keep it).
      if (!state.sessions.has(out.name)) {
        state.sessions.set(out.name, out);
        render();
      }
    } catch (exc) {
      showError(exc.message);
    } finally {
      button.disabled = $("template-select").options.length === 0;
    }
  }

  // ---------- login ----------

  function showLogin() {
    $("dashboard").hidden = true;
    $("session-bar").hidden = true;
    $("login").hidden = false;
    $("token-input").value = "";
    $("token-input").focus();
  }

  async function login(token) {
    state.token = token;
    showNotice("");
    try {
      await loadTemplates(); // doubles as the token check
    } catch (exc) {
      if (exc.status !== 401) {
        // logout() already ran for a 401; anything else leaves us signed out too.
        logout(exc.message);
      }
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    showError("");
    $("login").hidden = true;
    $("dashboard").hidden = false;
    $("session-bar").hidden = false;
    connect();
  }

  function logout(message) {
    disconnect();
    state.token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    state.sessions = new Map();
    state.busy.clear();
    render();
    showNotice("");
    showError(message || "");
    showLogin();
  }

  // A token in the fragment (#token=…) is never sent to the server; it is moved into
  // sessionStorage and removed from the address bar (and so from history and bookmarks).
  function tokenFromFragment() {
    const params = new URLSearchParams(location.hash.replace(/^#/, ""));
    const token = params.get("token");
    if (token !== null) {
      history.replaceState(null, "", location.pathname + location.search);
    }
    return token;
  }

  function start() {
    $("login-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const token = $("token-input").value.trim();
      if (token) {
        login(token);
      }
    });
    $("create-form").addEventListener("submit", create);
    $("logout").addEventListener("click", () => logout(""));
    setInterval(tick, 1000);
    const token = tokenFromFragment() || sessionStorage.getItem(TOKEN_KEY);
    if (token) {
      login(token);
    } else {
      showLogin();
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
