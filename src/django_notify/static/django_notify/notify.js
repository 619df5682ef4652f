/*!
 * django-notify widget: the bell, its dropdown, live updates and toasts.
 * Plain ES2017, no dependencies, no build step. Reads its configuration from
 * <script type="application/json" id="django-notify-config"> ({% notify_assets %}) and
 * wires every [data-notify-bell] ({% notify_bell %}). See docs/frontend.md.
 *
 * Security: every piece of notification data is written with textContent; the
 * description (sanitised on the server) is the only value that may go through
 * innerHTML, and the dropdown and toasts do not even use that.
 */
(function () {
  "use strict";

  if (window.DjangoNotify && window.DjangoNotify.version) {
    return; // loaded twice (a page template and the site's base both include it)
  }

  const VERSION = "1.0";
  const SAFE_METHODS = ["GET", "HEAD", "OPTIONS"];
  const PRIORITIES = ["low", "normal", "high", "critical"];
  // English fallbacks; {% notify_assets %} sends the translated texts as config.messages.
  const MESSAGES = {
    unreadLabel: "%(label)s, %(count)s unread",
    empty: "No notifications yet.",
    loading: "Loading…",
    storm: "%(count)s new notifications",
    unreadSuffix: ", unread",
    close: "Close",
    justNow: "just now",
    priorityLow: "Low",
    priorityNormal: "Normal",
    priorityHigh: "High",
    priorityCritical: "Critical",
    markRead: "Mark read",
    markUnread: "Mark unread",
    dismiss: "Dismiss",
    takeAction: "Take action",
    actionRequired: "Action required",
    from: "from %(name)s",
    stateRead: "read",
    stateUnread: "unread",
    select: "Select: %(title)s",
    selected: "%(count)s selected",
    newOne: "1 new notification: show",
    newMany: "%(count)s new notifications: show",
    listEmpty: "No notifications match these filters.",
    alertsEmpty: "No alerts match these filters.",
    resolve: "Resolve",
    resolutionNotes: "Resolution notes (optional)",
    resolutionNotesFor: "Resolution notes for %(title)s",
    resolved: "Resolved %(when)s",
    resolvedBy: "Resolved %(when)s by %(name)s",
    firstSeen: "first %(when)s",
    lastSeen: "last %(when)s",
    systems: "systems: %(list)s",
    organizations: "organizations: %(list)s",
    saving: "Saving…",
    saved: "Preferences saved.",
    nothingToSave: "Nothing to save.",
    resetConfirm: "Reset every notification switch to the defaults? Quiet hours, time zone and language stay.",
    resetDone: "Preferences reset to the defaults.",
    serverError: "The server answered %(status)s.",
    unreachable: "The server could not be reached.",
  };

  // Options given before the script loaded: window.DjangoNotify = {options: {...}}.
  const preset = (window.DjangoNotify && window.DjangoNotify.options) || {};

  const DEFAULTS = {
    autoStart: true,
    stream: true, // false: never open the event stream, poll only
    pollInterval: 30, // seconds, when the stream is unavailable
    stormThreshold: 3, // more arrivals than this within stormWindow → one summary toast
    stormWindow: 3, // seconds
    dropdownLimit: 5,
    toasts: true,
    toastTimeout: 6000, // ms; 0 keeps toasts until closed
    streamRetry: 60, // seconds before trying the stream again after it failed (doubles)
    streamRetryMax: 1800,
    requestTimeout: 10000, // ms
    navigate: function (url) {
      window.location.assign(url);
    },
    urls: {},
  };

  // --- small helpers --------------------------------------------------------------------

  function readConfig() {
    const element = document.getElementById("django-notify-config");
    if (!element) {
      return {};
    }
    try {
      return JSON.parse(element.textContent || "{}");
    } catch (error) {
      console.error("django-notify: #django-notify-config is not valid JSON", error);
      return {};
    }
  }

  function badgeText(count) {
    return count <= 0 ? "" : count > 9 ? "9+" : String(count);
  }

  function priorityName(value) {
    return PRIORITIES.indexOf(value) >= 0 ? value : "normal";
  }

  /** A link we are willing to follow: site-relative, http(s) or mailto (as the model). */
  function safeLink(value) {
    if (typeof value !== "string" || !value) {
      return "";
    }
    if (/[\\\s\u0000-\u001f\u007f]/.test(value)) {
      return "";
    }
    const lowered = value.toLowerCase();
    if (lowered.charAt(0) === "/" && lowered.charAt(1) !== "/") {
      return value;
    }
    if (/^(https?:\/\/|mailto:)/.test(lowered)) {
      return value;
    }
    return "";
  }

  function withQuery(url, params) {
    const target = new URL(url, window.location.href);
    Object.keys(params || {}).forEach(function (name) {
      const value = params[name];
      if (value === undefined || value === null || value === "") {
        return;
      }
      (Array.isArray(value) ? value : [value]).forEach(function (item) {
        target.searchParams.append(name, String(item));
      });
    });
    return target.origin === window.location.origin
      ? target.pathname + target.search
      : target.href;
  }

  function readCookie(name) {
    const prefix = name + "=";
    const parts = document.cookie ? document.cookie.split(";") : [];
    for (let i = 0; i < parts.length; i += 1) {
      const part = parts[i].trim();
      if (part.indexOf(prefix) === 0) {
        return decodeURIComponent(part.slice(prefix.length));
      }
    }
    return "";
  }

  let relativeFormat = null;
  function relativeTime(iso) {
    const then = Date.parse(iso);
    if (isNaN(then)) {
      return "";
    }
    const seconds = Math.round((then - Date.now()) / 1000);
    const steps = [
      [60, "second"],
      [3600, "minute", 60],
      [86400, "hour", 3600],
      [604800, "day", 86400],
      [2629800, "week", 604800],
      [31557600, "month", 2629800],
      [Infinity, "year", 31557600],
    ];
    if (!relativeFormat && window.Intl && Intl.RelativeTimeFormat) {
      try {
        relativeFormat = new Intl.RelativeTimeFormat(document.documentElement.lang || undefined, {
          numeric: "auto",
        });
      } catch (error) {
        relativeFormat = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
      }
    }
    const magnitude = Math.abs(seconds);
    for (let i = 0; i < steps.length; i += 1) {
      if (magnitude < steps[i][0]) {
        const unit = steps[i][1];
        const value = Math.round(seconds / (steps[i][2] || 1));
        if (unit === "second" && magnitude < 45) {
          return relativeFormat ? relativeFormat.format(0, "second") : t("justNow");
        }
        return relativeFormat ? relativeFormat.format(value, unit) : Math.abs(value) + " " + unit + "s ago";
      }
    }
    return "";
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined && text !== null) {
      node.textContent = String(text);
    }
    return node;
  }

  /** A message by key, with %(name)s placeholders filled in (as text, never HTML). */
  function t(key, params) {
    const messages = (hub.config && hub.config.messages) || {};
    let text = messages[key] || MESSAGES[key] || key;
    Object.keys(params || {}).forEach(function (name) {
      text = text.split("%(" + name + ")s").join(String(params[name]));
    });
    return text;
  }

  function priorityLabel(priority) {
    return t("priority" + priority.charAt(0).toUpperCase() + priority.slice(1));
  }

  function emit(name, detail) {
    document.dispatchEvent(new CustomEvent("notify:" + name, { detail: detail }));
  }

  /** The one event host pages listen to for "the user's notifications changed": the
   * widget sends it after each of its own successful actions, after changes streamed
   * from other tabs, and for each arrival; pages send it after their own actions so the
   * bell follows (see onChanged). */
  const CHANGED = "django-notify:changed";
  let sendingChanged = false;

  function changed(action, ids, unreadCount, extra) {
    hub.stateSeq += 1;
    const detail = Object.assign(
      {
        action: action,
        ids: (ids || []).map(Number),
        unread_count: typeof unreadCount === "number" ? unreadCount : hub.count,
      },
      extra || {}
    );
    sendingChanged = true;
    try {
      document.dispatchEvent(new CustomEvent(CHANGED, { detail: detail }));
    } finally {
      sendingChanged = false;
    }
  }

  /** A change another script on the page made (a server-rendered list's own form, the
   * notification centre's bulk action): bring the badge and the dropdown along. */
  function onChanged(event) {
    if (sendingChanged || !event.detail) {
      return; // our own, already applied
    }
    hub.stateSeq += 1;
    const detail = event.detail;
    const ids = Array.isArray(detail.ids) ? detail.ids : [];
    if (detail.action === "read" || detail.action === "read_all") {
      applyRead(detail.action === "read_all" ? "all" : ids, true);
    } else if (detail.action === "unread") {
      applyRead(ids, false);
    } else if (detail.action === "dismiss" || detail.action === "dismiss_all") {
      applyDismissed(detail.action === "dismiss_all" ? "all" : ids);
    }
    setCount(detail.unread_count);
  }

  /** An error answer of the API: {error: {code, message, fields}} (contract). */
  class ApiError extends Error {
    constructor(status, body, response) {
      const error = (body && body.error) || {};
      super(error.message || (status ? t("serverError", { status: status }) : t("unreachable")));
      this.name = "ApiError";
      this.status = status;
      this.code = error.code || (status ? "http_" + status : "network");
      this.fields = error.fields || {};
      const retry = response && response.headers.get("Retry-After");
      this.retryAfter = retry ? Number(retry) : null;
    }
  }

  // --- the shared state: one count, one cache, one connection per page -----------------

  const hub = {
    options: Object.assign({}, DEFAULTS),
    explicit: {}, // option names the page set itself (they win over the server's)
    urls: {},
    config: {},
    started: false,
    count: null,
    items: null, // the latest notifications as the API returned them (null: unknown)
    bells: [],
    mode: "idle", // "stream" | "polling" | "offline" | "idle"
    source: null,
    pollTimer: null,
    pollPending: false,
    streamFailures: 0,
    streamRetryDelay: 0,
    streamRetryTimer: null,
    recentRequest: null,
    refreshTimer: null,
    // Bumped by every change of the read state or the count that did not come from a
    // list request: a list asked for before the latest change may predate it.
    stateSeq: 0,
  };

  function configure(options) {
    if (!options) {
      return hub.options;
    }
    const urls = Object.assign({}, hub.options.urls, options.urls || {});
    Object.keys(options).forEach(function (key) {
      hub.explicit[key] = true;
    });
    Object.assign(hub.options, options, { urls: urls });
    hub.urls = Object.assign({}, hub.config.urls || {}, hub.options.urls);
    return hub.options;
  }

  function url(name, id) {
    const value = hub.urls[name];
    if (!value) {
      throw new Error("django-notify: no URL configured for " + name);
    }
    return id === undefined ? value : value.replace("{id}", encodeURIComponent(String(id)));
  }

  function csrfToken() {
    return readCookie(hub.config.csrfCookieName || "csrftoken") || hub.config.csrfToken || "";
  }

  async function request(method, target, body) {
    const headers = { Accept: "application/json" };
    const init = { method: method, headers: headers, credentials: "same-origin" };
    if (SAFE_METHODS.indexOf(method) < 0) {
      headers[hub.config.csrfHeaderName || "X-CSRFToken"] = csrfToken();
    }
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let timer = null;
    if (window.AbortController) {
      const controller = new AbortController();
      init.signal = controller.signal;
      timer = setTimeout(function () {
        controller.abort();
      }, hub.options.requestTimeout);
    }
    let response;
    try {
      response = await fetch(target, init);
    } catch (error) {
      throw new ApiError(0, null);
    } finally {
      if (timer) {
        clearTimeout(timer);
      }
    }
    let data = null;
    if (response.status !== 204) {
      try {
        data = await response.json();
      } catch (error) {
        data = null;
      }
    }
    if (!response.ok) {
      const failure = new ApiError(response.status, data, response);
      if (failure.status === 401) {
        goOffline();
      }
      throw failure;
    }
    return data;
  }

  const api = {
    request: request,
    get: function (target, params) {
      return request("GET", params ? withQuery(target, params) : target);
    },
    post: function (target, body) {
      return request("POST", target, body === undefined ? {} : body);
    },
    patch: function (target, body) {
      return request("PATCH", target, body);
    },
    delete: function (target) {
      return request("DELETE", target);
    },
    url: url,
    withQuery: withQuery,
  };

  // --- count and cache ------------------------------------------------------------------

  function setCount(count) {
    if (typeof count !== "number" || isNaN(count)) {
      return;
    }
    const changed = count !== hub.count;
    hub.count = count;
    hub.bells.forEach(function (bell) {
      bell.showCount(count);
    });
    document.querySelectorAll("[data-notify-count]").forEach(function (node) {
      node.textContent = String(count);
      node.setAttribute("data-count", String(count));
    });
    if (changed) {
      emit("count", { unreadCount: count });
    }
  }

  function renderBells() {
    hub.bells.forEach(function (bell) {
      bell.render();
    });
  }

  function applyRead(ids, isRead) {
    if (!hub.items) {
      // Only the server-rendered rows are on the page: restyle them in place.
      hub.bells.forEach(function (bell) {
        bell.markNodes(ids, isRead);
      });
      return;
    }
    const wanted = ids === "all" ? null : ids.map(Number);
    hub.items.forEach(function (item) {
      if (wanted === null || wanted.indexOf(Number(item.id)) >= 0) {
        item.is_read = isRead;
      }
    });
    renderBells();
  }

  function applyDismissed(ids) {
    if (!hub.items) {
      hub.bells.forEach(function (bell) {
        bell.removeNodes(ids);
      });
      return;
    }
    // "all": dismiss_all() from another tab or device.
    const wanted = ids === "all" ? null : ids.map(Number);
    const before = hub.items.length;
    hub.items = hub.items.filter(function (item) {
      return wanted !== null && wanted.indexOf(Number(item.id)) < 0;
    });
    if (hub.items.length !== before) {
      renderBells();
      if (anyBellOpen()) {
        scheduleRefresh(); // fill the gap from the server
      }
    }
  }

  function anyBellOpen() {
    return hub.bells.some(function (bell) {
      return bell.isOpen();
    });
  }

  /** GET api-recent; one request at a time, shared by every caller. */
  function refreshRecent() {
    if (hub.recentRequest) {
      return hub.recentRequest;
    }
    const seq = hub.stateSeq;
    hub.recentRequest = api
      .get(url("recent"), { limit: hub.options.dropdownLimit })
      .then(function (data) {
        if (seq !== hub.stateSeq) {
          // Something changed while the list was on its way (a mark-read, "mark all
          // read", a new row): its count and read states may be older than what the
          // badge shows now. Ask again instead of going back.
          scheduleRefresh();
          return hub.items || [];
        }
        hub.items = (data && data.results) || [];
        setCount(data && data.unread_count);
        renderBells();
        return hub.items;
      })
      .finally(function () {
        hub.recentRequest = null;
      });
    return hub.recentRequest;
  }

  function scheduleRefresh() {
    clearTimeout(hub.refreshTimer);
    // A burst of events becomes one request.
    hub.refreshTimer = setTimeout(function () {
      refreshRecent().catch(function () {});
    }, 250);
  }

  async function markRead(id) {
    const data = await api.post(url("read", id));
    applyRead([id], true);
    setCount(data && data.unread_count);
    emit("read", { ids: [Number(id)], unreadCount: hub.count, local: true });
    changed("read", [id]);
    return data;
  }

  async function markUnread(id) {
    const data = await api.post(url("unread", id));
    applyRead([id], false);
    setCount(data && data.unread_count);
    emit("unread", { ids: [Number(id)], unreadCount: hub.count, local: true });
    changed("unread", [id]);
    return data;
  }

  async function markAllRead() {
    const data = await api.post(url("markAllRead"));
    applyRead("all", true);
    setCount(data && data.unread_count);
    emit("read", { ids: "all", unreadCount: hub.count, local: true });
    changed("read_all", []);
    return data;
  }

  async function dismiss(id) {
    const data = await api.post(url("dismiss", id));
    applyDismissed([id]);
    setCount(data && data.unread_count);
    emit("dismissed", { ids: [Number(id)], unreadCount: hub.count, local: true });
    changed("dismiss", [id]);
    return data;
  }

  async function dismissAll() {
    const data = await api.post(url("dismissAll"));
    applyDismissed("all");
    setCount(data && data.unread_count);
    emit("dismissed", { ids: "all", unreadCount: hub.count, local: true });
    changed("dismiss_all", []);
    return data;
  }

  /** Mark read (waiting, so the next page's badge is right), then go to the link. */
  async function openNotification(notification) {
    const link = safeLink(notification.link);
    if (!notification.is_read) {
      try {
        await markRead(notification.id);
      } catch (error) {
        // Navigation is what the user asked for; the read state can catch up.
        console.warn("django-notify: could not mark notification read", error);
      }
    }
    if (link) {
      hub.options.navigate(link, notification);
    }
  }

  // --- toasts and storm protection ------------------------------------------------------

  // What a toast must not cover: the controls of the page under it (a row's "Mark read",
  // a link), an open dropdown, and anything a host page marks with data-notify-keep-clear.
  const KEEP_CLEAR =
    'a[href], button, input, select, textarea, summary, [role="menuitem"], ' +
    "[data-notify-keep-clear], [data-notify-dropdown]:not([hidden])";
  const OPEN_DROPDOWN = "[data-notify-dropdown]:not([hidden])";
  const TOAST_MARGIN = 16; // px from the viewport's edges
  const TOAST_STEP = 16; // px between the spots tried along an edge

  const toaster = {
    region: null,
    arrivals: [], // timestamps of recent arrivals
    burst: 0, // increments when a storm starts; single toasts of an older burst are dropped
    storm: null, // {count, node, timer}
    singles: [], // {node, burst}
    frame: null,
    observer: null,

    ensureRegion() {
      if (!this.region || !document.body.contains(this.region)) {
        this.region = el("div", "notify-toasts notify-theme");
        this.region.setAttribute("role", "status");
        this.region.setAttribute("aria-live", "polite");
        this.region.setAttribute("data-notify-toasts", "");
        document.body.appendChild(this.region);
        const self = this;
        const later = function () {
          self.placeSoon();
        };
        window.addEventListener("scroll", later, { passive: true, capture: true });
        window.addEventListener("resize", later);
        document.addEventListener("notify:open", later);
        document.addEventListener("notify:close", later);
      }
      return this.region;
    },

    add(node) {
      this.ensureRegion().appendChild(node);
      this.watch();
      this.place();
    },

    remove(node) {
      node.remove();
      this.singles = this.singles.filter(function (single) {
        return single.node !== node;
      });
      if (this.storm && this.storm.node === node) {
        clearTimeout(this.storm.timer);
        this.storm = null;
        this.arrivals = [];
      }
      if (this.region && !this.region.children.length && this.observer) {
        this.observer.disconnect();
        this.observer = null;
      }
      this.placeSoon();
    },

    removeAll() {
      if (this.region) {
        Array.prototype.slice.call(this.region.children).forEach(this.remove, this);
      }
    },

    /** While toasts show, the page may change under them (a list loads, a row goes). */
    watch() {
      if (this.observer || !window.MutationObserver) {
        return;
      }
      const self = this;
      this.observer = new MutationObserver(function () {
        self.placeSoon();
      });
      this.observer.observe(document.body, { childList: true, subtree: true });
    },

    placeSoon() {
      if (this.frame !== null) {
        return;
      }
      const self = this;
      this.frame = window.requestAnimationFrame(function () {
        self.frame = null;
        self.place();
      });
    },

    /**
     * Put the stack where it covers none of the page's controls: the bottom-right corner
     * if that is free, else the bottom-left, the top corners, then any spot along the
     * bottom and top edges. When every spot covers something (a phone full of buttons)
     * it takes the one covering the fewest, never an open dropdown if it can help it.
     * A hovered or focused stack stays where it is.
     */
    place() {
      const region = this.region;
      if (!region || !region.children.length || region.querySelector("[data-notify-paused]")) {
        return;
      }
      const root = document.documentElement;
      const width = region.offsetWidth;
      const height = region.offsetHeight;
      const viewWidth = root.clientWidth;
      const viewHeight = root.clientHeight;
      const boxes = [];
      document.querySelectorAll(KEEP_CLEAR).forEach(function (node) {
        if (region.contains(node)) {
          return;
        }
        const box = node.getBoundingClientRect();
        if (box.width && box.height && box.bottom > 0 && box.top < viewHeight && box.right > 0 && box.left < viewWidth) {
          // Covering the dropdown the user has open is worse than any number of buttons.
          boxes.push({ box: box, weight: node.matches(OPEN_DROPDOWN) ? 1000 : 1 });
        }
      });
      function cost(spot) {
        let total = 0;
        boxes.forEach(function (entry) {
          const box = entry.box;
          if (box.left < spot[0] + width && box.right > spot[0] && box.top < spot[1] + height && box.bottom > spot[1]) {
            total += entry.weight;
          }
        });
        return total;
      }
      const right = Math.max(TOAST_MARGIN, viewWidth - TOAST_MARGIN - width);
      const bottom = Math.max(TOAST_MARGIN, viewHeight - TOAST_MARGIN - height);
      const spots = [[right, bottom], [TOAST_MARGIN, bottom], [right, TOAST_MARGIN], [TOAST_MARGIN, TOAST_MARGIN]];
      [bottom, TOAST_MARGIN].forEach(function (top) {
        for (let left = right - TOAST_STEP; left > TOAST_MARGIN; left -= TOAST_STEP) {
          spots.push([left, top]);
        }
      });
      let spot = spots[0];
      let best = Infinity;
      for (let i = 0; i < spots.length && best > 0; i += 1) {
        const here = cost(spots[i]);
        if (here < best) {
          best = here;
          spot = spots[i];
        }
      }
      region.style.left = spot[0] + "px";
      region.style.top = spot[1] + "px";
      region.style.right = "auto";
      region.style.bottom = "auto";
    },

    /** Remove the toast after toastTimeout, counting only the time it is not hovered or
     * focused: a toast being read or reached for does not vanish. */
    expire(node) {
      const timeout = hub.options.toastTimeout;
      if (!(timeout > 0)) {
        return;
      }
      const self = this;
      let left = timeout;
      let started = 0;
      let timer = null;
      function run() {
        started = Date.now();
        timer = setTimeout(function () {
          self.remove(node);
        }, left);
      }
      function pause() {
        if (timer !== null) {
          clearTimeout(timer);
          timer = null;
          left = Math.max(0, left - (Date.now() - started));
        }
        node.setAttribute("data-notify-paused", "");
      }
      function resume() {
        if (timer !== null || node.matches(":hover") || node.contains(document.activeElement)) {
          return;
        }
        node.removeAttribute("data-notify-paused");
        left = Math.max(left, 1000); // time to see it again before it goes
        run();
        self.placeSoon();
      }
      node.addEventListener("pointerenter", pause);
      node.addEventListener("focusin", pause);
      node.addEventListener("pointerleave", function () {
        setTimeout(resume, 0); // after focus has settled
      });
      node.addEventListener("focusout", function (event) {
        if (!node.contains(event.relatedTarget)) {
          setTimeout(resume, 0);
        }
      });
      run();
    },

    /** Count an arrival; true when it may get a toast of its own. */
    admit(count) {
      const now = Date.now();
      const windowMs = hub.options.stormWindow * 1000;
      for (let i = 0; i < (count || 1); i += 1) {
        this.arrivals.push(now);
      }
      this.arrivals = this.arrivals.filter(function (time) {
        return now - time <= windowMs;
      });
      if (this.storm) {
        this.storm.count += count || 1;
        this.updateStorm();
        return false;
      }
      if (this.arrivals.length > hub.options.stormThreshold) {
        this.startStorm(this.arrivals.length);
        return false;
      }
      return true;
    },

    startStorm(count) {
      this.burst += 1;
      const self = this;
      // The burst's single toasts give way to the summary.
      this.singles.forEach(function (single) {
        single.node.remove();
      });
      this.singles = [];
      const node = el("div", "notify-toast notify-toast--summary");
      const body = el("button", "notify-toast__body");
      body.type = "button";
      const title = el("span", "notify-toast__title");
      body.appendChild(title);
      body.addEventListener("click", function () {
        self.endStorm(true);
        const bell = hub.bells[0];
        if (bell) {
          bell.open("first");
        } else if (hub.urls.page) {
          hub.options.navigate(hub.urls.page);
        }
      });
      node.appendChild(body);
      node.appendChild(this.closeButton(node));
      this.storm = { count: count, node: node, title: title, timer: null };
      this.add(node);
      this.updateStorm();
      emit("storm", { count: count });
    },

    updateStorm() {
      const storm = this.storm;
      const self = this;
      storm.title.textContent = t("storm", { count: storm.count });
      clearTimeout(storm.timer);
      // The storm is over after a quiet window; the summary then lives like a toast.
      storm.timer = setTimeout(function () {
        self.endStorm(false);
      }, hub.options.stormWindow * 1000);
    },

    endStorm(removeNow) {
      const storm = this.storm;
      if (!storm) {
        return;
      }
      clearTimeout(storm.timer);
      this.storm = null;
      this.arrivals = [];
      if (removeNow) {
        this.remove(storm.node);
      } else {
        this.expire(storm.node);
      }
    },

    closeButton(node) {
      const close = el("button", "notify-toast__close", "×");
      close.type = "button";
      close.setAttribute("aria-label", t("close"));
      const self = this;
      close.addEventListener("click", function () {
        self.remove(node);
      });
      return close;
    },

    /** A toast for one notification, unless a storm began since it was admitted. */
    show(notification, burst) {
      if (!hub.options.toasts || burst !== this.burst || this.storm) {
        return;
      }
      const node = el("div", "notify-toast notify-priority-" + priorityName(notification.priority));
      node.setAttribute("data-notify-id", String(notification.id));
      const body = el("button", "notify-toast__body");
      body.type = "button";
      body.appendChild(el("span", "notify-toast__title", notification.title));
      if (notification.description_text) {
        body.appendChild(el("span", "notify-toast__text", notification.description_text));
      }
      const self = this;
      body.addEventListener("click", function () {
        self.remove(node);
        openNotification(notification);
      });
      node.appendChild(body);
      node.appendChild(this.closeButton(node));
      this.singles.push({ node: node, burst: burst });
      this.add(node);
      this.expire(node);
    },

    /** A plain message toast (DjangoNotify.toast("Saved")); a click anywhere closes it. */
    message(text) {
      const node = el("div", "notify-toast");
      node.appendChild(el("div", "notify-toast__body", text));
      node.appendChild(this.closeButton(node));
      const self = this;
      node.addEventListener("click", function () {
        self.remove(node);
      });
      this.add(node);
      this.expire(node);
      return node;
    },
  };

  // Escape closes the toasts (the one holding focus, else all of them), after anything
  // that claimed the key first: an open dropdown closes on the first press.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape" || event.defaultPrevented || !toaster.region || !toaster.region.children.length) {
      return;
    }
    const focused = document.activeElement && document.activeElement.closest(".notify-toast");
    if (focused && toaster.region.contains(focused)) {
      event.preventDefault();
      toaster.remove(focused);
      return;
    }
    toaster.removeAll();
  });

  /** Something new is visible to the user (stream event or found by a poll). */
  function arrived(ids, notifications) {
    const burst = toaster.burst;
    const known = {};
    (notifications || []).forEach(function (item) {
      known[item.id] = item;
    });
    changed("arrived", ids);
    ids.forEach(function (id) {
      const own = hub.options.toasts && toaster.admit(1);
      emit("notification", { id: Number(id), notification: known[id] || null });
      if (!own) {
        return; // part of a storm: the summary counts it, no request per row
      }
      if (known[id]) {
        toaster.show(known[id], burst);
        return;
      }
      api
        .get(url("detail", id))
        .then(function (notification) {
          toaster.show(notification, burst);
        })
        .catch(function () {}); // gone already (dismissed, expired): nothing to show
    });
    if (anyBellOpen() || hub.items) {
      scheduleRefresh();
    }
  }

  // --- live updates: the event stream, or polling ----------------------------------------

  function setMode(mode) {
    if (hub.mode !== mode) {
      hub.mode = mode;
      emit("connection", { mode: mode });
    }
  }

  function parse(event) {
    try {
      return JSON.parse(event.data || "{}");
    } catch (error) {
      return {};
    }
  }

  function connectStream() {
    clearTimeout(hub.streamRetryTimer);
    if (!hub.options.stream || !window.EventSource || !hub.urls.stream || hub.mode === "offline") {
      startPolling();
      return;
    }
    const source = new EventSource(url("stream"));
    hub.source = source;
    source.addEventListener("open", function () {
      hub.streamFailures = 0;
      hub.streamRetryDelay = 0;
      stopPolling();
      setMode("stream");
    });
    source.addEventListener("count", function (event) {
      hub.stateSeq += 1;
      setCount(parse(event).unread_count);
    });
    source.addEventListener("notification", function (event) {
      const data = parse(event);
      setCount(data.unread_count);
      if (data.id !== undefined) {
        arrived([data.id]);
      }
    });
    source.addEventListener("read", function (event) {
      const data = parse(event);
      applyRead(data.ids || [], true);
      setCount(data.unread_count);
      emit("read", { ids: data.ids || [], unreadCount: data.unread_count });
      changed(data.ids === "all" ? "read_all" : "read", data.ids === "all" ? [] : data.ids, data.unread_count, { remote: true });
    });
    source.addEventListener("dismissed", function (event) {
      const data = parse(event);
      applyDismissed(data.ids || []);
      setCount(data.unread_count);
      emit("dismissed", { ids: data.ids || [], unreadCount: data.unread_count });
      changed(
        data.ids === "all" ? "dismiss_all" : "dismiss",
        data.ids === "all" ? [] : data.ids,
        data.unread_count,
        { remote: true }
      );
    });
    source.addEventListener("error", function () {
      // CLOSED: the server said no for good (204 under WSGI, 401, a proxy error) and the
      // browser will not retry. CONNECTING: it retries by itself (the normal end of a
      // stream after SSE_MAX_SECONDS looks like this too), so only repeated failures
      // without an "open" in between count.
      if (source.readyState === EventSource.CLOSED) {
        streamFailed(source);
      } else {
        hub.streamFailures += 1;
        if (hub.streamFailures >= 3) {
          streamFailed(source);
        }
      }
    });
  }

  function streamFailed(source) {
    source.close();
    if (hub.source === source) {
      hub.source = null;
    }
    hub.streamFailures = 0;
    startPolling();
    if (hub.mode === "offline") {
      return;
    }
    // Try the stream again later (an ASGI server restarting, say), backing off.
    hub.streamRetryDelay = Math.min(
      hub.streamRetryDelay ? hub.streamRetryDelay * 2 : hub.options.streamRetry,
      hub.options.streamRetryMax
    );
    hub.streamRetryTimer = setTimeout(connectStream, hub.streamRetryDelay * 1000);
  }

  function startPolling() {
    if (hub.mode === "offline") {
      return;
    }
    setMode("polling");
    if (hub.pollTimer) {
      return;
    }
    hub.pollTimer = setInterval(poll, Math.max(1, hub.options.pollInterval) * 1000);
    poll();
  }

  function stopPolling() {
    clearInterval(hub.pollTimer);
    hub.pollTimer = null;
  }

  function goOffline() {
    // Signed out (401): stop asking until the page is reloaded.
    stopPolling();
    clearTimeout(hub.streamRetryTimer);
    if (hub.source) {
      hub.source.close();
      hub.source = null;
    }
    setMode("offline");
  }

  async function poll() {
    if (document.hidden) {
      hub.pollPending = true; // catch up when the tab is visible again
      return;
    }
    hub.pollPending = false;
    const before = hub.count;
    const knownIds = {};
    (hub.items || []).forEach(function (item) {
      knownIds[item.id] = true;
    });
    const hadItems = hub.items !== null;
    let items;
    try {
      items = await refreshRecent();
    } catch (error) {
      return; // the next poll tries again
    }
    if (!hadItems || before === null) {
      return; // the first answer is the baseline, not news
    }
    const fresh = items.filter(function (item) {
      return !knownIds[item.id] && !item.is_read;
    });
    const grew = Math.max(0, (hub.count || 0) - before);
    if (grew > fresh.length && grew > hub.options.stormThreshold) {
      // More arrived than the recent list holds: one summary for all of them.
      if (hub.options.toasts) {
        toaster.admit(grew);
      }
      emit("notification", { id: null, notification: null, count: grew });
      changed("arrived", [], hub.count, { count: grew });
      return;
    }
    if (fresh.length) {
      arrived(
        fresh
          .map(function (item) {
            return item.id;
          })
          .reverse(),
        fresh
      );
    }
  }

  document.addEventListener(CHANGED, onChanged);

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && hub.pollPending && hub.pollTimer) {
      poll();
    }
  });

  // --- the bell and its dropdown --------------------------------------------------------

  let bellSeq = 0;

  class Bell {
    constructor(root) {
      bellSeq += 1;
      this.root = root;
      this.button = root.querySelector("[data-notify-toggle]");
      this.badge = root.querySelector("[data-notify-badge]");
      this.dropdown = root.querySelector("[data-notify-dropdown]");
      this.menu = root.querySelector("[data-notify-menu]");
      this.status = root.querySelector("[data-notify-status]");
      this.markAll = root.querySelector("[data-notify-mark-all]");
      this.label = (this.button && this.button.getAttribute("data-notify-label")) || "Notifications";
      this.pageUrl = root.getAttribute("data-notify-page-url") || hub.urls.page || "";
      if (!this.button || !this.dropdown || !this.menu) {
        throw new Error("django-notify: a [data-notify-bell] lacks its button, dropdown or menu");
      }
      this.dropdown.id = this.dropdown.id || "notify-dropdown-" + bellSeq;
      this.button.setAttribute("aria-controls", this.dropdown.id);
      this.root.setAttribute("data-notify-ready", "");
      this.bind();
    }

    bind() {
      const self = this;
      this.button.addEventListener("click", function () {
        self.isOpen() ? self.close(false) : self.open("first");
      });
      this.button.addEventListener("keydown", function (event) {
        if (event.key === "ArrowDown" || event.key === "ArrowUp") {
          event.preventDefault();
          self.open(event.key === "ArrowDown" ? "first" : "last");
        }
      });
      this.root.addEventListener("keydown", function (event) {
        if (event.key === "Escape" && self.isOpen()) {
          event.preventDefault();
          self.close(true);
        }
      });
      this.dropdown.addEventListener("keydown", function (event) {
        self.onKeydown(event);
      });
      this.menu.addEventListener("click", function (event) {
        self.onItemClick(event);
      });
      if (this.markAll) {
        this.markAll.addEventListener("click", function () {
          self.markAll.disabled = true;
          markAllRead().catch(function (error) {
            self.markAll.disabled = false;
            self.showStatus(error.message);
          });
        });
      }
      this.root.addEventListener("focusout", function (event) {
        if (self.isOpen() && event.relatedTarget && !self.root.contains(event.relatedTarget)) {
          self.close(false);
        }
      });
      document.addEventListener("pointerdown", function (event) {
        if (self.isOpen() && !self.root.contains(event.target)) {
          self.close(false);
        }
      });
      // A list that lands between a press on a row and its release would replace the
      // row under the pointer, and the click would then reach no row: while a press on
      // the menu lasts, rendering waits, and runs after the click.
      this.menu.addEventListener("pointerdown", function () {
        self.pressed = true;
      });
      const release = function () {
        if (!self.pressed) {
          return;
        }
        self.pressed = false;
        if (self.renderWaiting) {
          self.renderWaiting = false;
          setTimeout(function () {
            self.render();
          }, 0);
        }
      };
      document.addEventListener("pointerup", release, true);
      document.addEventListener("pointercancel", release, true);
      window.addEventListener("resize", function () {
        if (self.isOpen()) {
          self.place();
        }
      });
    }

    /**
     * Keep the open panel on screen. It hangs from the bell's right edge, which on a
     * phone may be nearer the left than the panel is wide; shift it sideways (the
     * stylesheet caps its width at the viewport's less a margin).
     */
    place() {
      const style = this.dropdown.style;
      style.right = "";
      const margin = 8;
      const rect = this.dropdown.getBoundingClientRect();
      const viewport = document.documentElement.clientWidth;
      let shift = 0;
      if (rect.left < margin || rect.width > viewport - 2 * margin) {
        shift = margin - rect.left;
      } else if (rect.right > viewport - margin) {
        shift = viewport - margin - rect.right;
      }
      if (shift) {
        style.right = parseFloat(window.getComputedStyle(this.dropdown).right) - shift + "px";
      }
    }

    isOpen() {
      return !this.dropdown.hidden;
    }

    items() {
      return Array.prototype.slice.call(this.menu.querySelectorAll('[role="menuitem"]'));
    }

    open(where) {
      if (!this.isOpen()) {
        hub.bells.forEach(function (other) {
          other !== this && other.isOpen() && other.close(false);
        }, this);
        this.dropdown.hidden = false;
        this.button.setAttribute("aria-expanded", "true");
        this.root.classList.add("notify-bell--open");
        this.place();
        emit("open", { bell: this.root });
      }
      if (hub.items) {
        this.render();
      } else if (!this.items().length) {
        this.showStatus(t("loading"));
      }
      this.focusItem(where);
      const self = this;
      refreshRecent()
        .then(function () {
          // Focus waited on the panel while the list loaded; never pull it back from
          // wherever the user has gone since.
          if (self.isOpen() && document.activeElement === self.dropdown) {
            self.focusItem(where);
          }
        })
        .catch(function (error) {
          if (!self.items().length) {
            self.showStatus(error.message);
          }
        });
    }

    close(returnFocus) {
      if (!this.isOpen()) {
        return;
      }
      this.dropdown.hidden = true;
      this.button.setAttribute("aria-expanded", "false");
      this.root.classList.remove("notify-bell--open");
      if (returnFocus) {
        this.button.focus();
      }
      emit("close", { bell: this.root });
    }

    focusItem(where) {
      const items = this.items();
      if (!items.length) {
        this.dropdown.focus();
        return;
      }
      const index = where === "last" ? items.length - 1 : typeof where === "number" ? where : 0;
      const target = items[Math.max(0, Math.min(items.length - 1, index))];
      items.forEach(function (item) {
        item.tabIndex = item === target ? 0 : -1;
      });
      target.focus();
    }

    onKeydown(event) {
      const items = this.items();
      const current = items.indexOf(document.activeElement);
      switch (event.key) {
        case "ArrowDown":
          event.preventDefault();
          this.focusItem(current < 0 ? 0 : (current + 1) % items.length);
          break;
        case "ArrowUp":
          event.preventDefault();
          this.focusItem(current < 0 ? items.length - 1 : (current - 1 + items.length) % items.length);
          break;
        case "Home":
          event.preventDefault();
          this.focusItem(0);
          break;
        case "End":
          event.preventDefault();
          this.focusItem("last");
          break;
        case " ":
          if (current >= 0) {
            event.preventDefault();
            items[current].click(); // Enter activates links natively; Space too, as menus do
          }
          break;
        default:
          break;
      }
    }

    notificationFor(node) {
      const id = Number(node.getAttribute("data-notify-id"));
      const cached = (hub.items || []).filter(function (item) {
        return Number(item.id) === id;
      })[0];
      return (
        cached || {
          id: id,
          link: node.getAttribute("data-notify-link") || "",
          is_read: node.getAttribute("data-notify-read") === "true",
        }
      );
    }

    onItemClick(event) {
      const node = event.target.closest("[data-notify-id]");
      if (!node || !this.menu.contains(node)) {
        return;
      }
      const notification = this.notificationFor(node);
      if (event.ctrlKey || event.metaKey || event.shiftKey || event.button === 1) {
        // Opening in a new tab: let the browser do it and record the read.
        if (!notification.is_read) {
          markRead(notification.id).catch(function () {});
        }
        return;
      }
      event.preventDefault();
      node.setAttribute("aria-busy", "true");
      openNotification(notification).finally(function () {
        node.removeAttribute("aria-busy");
      });
    }

    showCount(count) {
      const text = badgeText(count);
      if (this.badge) {
        this.badge.textContent = text;
        this.badge.hidden = !text;
      }
      this.button.setAttribute(
        "aria-label",
        count > 0 ? t("unreadLabel", { label: this.label, count: count }) : this.label
      );
      if (this.markAll) {
        this.markAll.disabled = count <= 0;
      }
    }

    nodesFor(ids) {
      const wanted = ids === "all" ? null : ids.map(String);
      return this.items().filter(function (node) {
        return wanted === null || wanted.indexOf(node.getAttribute("data-notify-id")) >= 0;
      });
    }

    markNodes(ids, isRead) {
      this.nodesFor(ids).forEach(function (node) {
        node.classList.toggle("notify-item--unread", !isRead);
        node.setAttribute("data-notify-read", isRead ? "true" : "false");
        const suffix = node.querySelector(".notify-item__meta .notify-sr");
        if (suffix && isRead) {
          suffix.remove();
        }
      });
    }

    removeNodes(ids) {
      this.nodesFor(ids).forEach(function (node) {
        node.closest("li").remove();
      });
      if (!this.items().length) {
        // Older rows may exist beyond the rendered five; the next open fetches them.
        this.showStatus(hub.count === 0 ? t("empty") : "");
      }
    }

    showStatus(text) {
      if (this.status) {
        this.status.textContent = text || "";
        this.status.hidden = !text;
      }
    }

    /** Draw hub.items, keeping focus on the same notification when it is still there. */
    render() {
      if (!hub.items) {
        return;
      }
      if (this.pressed) {
        this.renderWaiting = true; // see bind(): after the click
        return;
      }
      const shown = hub.items.slice(0, hub.options.dropdownLimit);
      const signature = JSON.stringify(
        shown.map(function (item) {
          return [item.id, item.is_read, item.title, item.description_text, item.priority, item.link];
        })
      );
      if (signature === this.signature) {
        // Nothing changed (a poll, say): leave the nodes alone, so a click or hover in
        // progress is not lost; only the relative times move on.
        this.menu.querySelectorAll("time[datetime]").forEach(function (time) {
          time.textContent = relativeTime(time.getAttribute("datetime"));
        });
        return;
      }
      this.signature = signature;
      const focusedNode = this.menu.contains(document.activeElement) ? document.activeElement : null;
      const focusedId = focusedNode && focusedNode.getAttribute("data-notify-id");
      const focusedIndex = focusedNode ? this.items().indexOf(focusedNode) : -1;
      const fragment = document.createDocumentFragment();
      shown.forEach(function (item) {
        fragment.appendChild(this.renderItem(item));
      }, this);
      this.menu.textContent = "";
      this.menu.appendChild(fragment);
      this.showStatus(hub.items.length ? "" : t("empty"));
      if (focusedNode) {
        const items = this.items();
        const same = items.filter(function (node) {
          return node.getAttribute("data-notify-id") === focusedId;
        })[0];
        if (same) {
          this.focusItem(items.indexOf(same));
        } else {
          this.focusItem(Math.min(focusedIndex, items.length - 1));
        }
      }
    }

    renderItem(item) {
      const priority = priorityName(item.priority);
      const link = safeLink(item.link);
      const row = el("li", "notify-menu__row");
      row.setAttribute("role", "none");
      const anchor = el(
        "a",
        "notify-item notify-priority-" + priority + (item.is_read ? "" : " notify-item--unread")
      );
      anchor.setAttribute("role", "menuitem");
      anchor.tabIndex = -1;
      anchor.href = link || this.pageUrl || "#";
      anchor.setAttribute("data-notify-id", String(item.id));
      anchor.setAttribute("data-notify-link", link);
      anchor.setAttribute("data-notify-read", item.is_read ? "true" : "false");
      anchor.appendChild(el("span", "notify-item__dot")).setAttribute("aria-hidden", "true");
      const content = el("span", "notify-item__content");
      content.appendChild(el("span", "notify-item__title", item.title));
      if (item.description_text) {
        const text = item.description_text;
        content.appendChild(el("span", "notify-item__text", text.length > 160 ? text.slice(0, 159) + "…" : text));
      }
      const meta = el("span", "notify-item__meta");
      if (priority === "high" || priority === "critical") {
        meta.appendChild(el("span", "notify-pill notify-pill--" + priority, priorityLabel(priority)));
        meta.appendChild(document.createTextNode(" "));
      }
      const time = el("time", "", relativeTime(item.created_at));
      time.setAttribute("datetime", item.created_at || "");
      meta.appendChild(time);
      if (!item.is_read) {
        meta.appendChild(el("span", "notify-sr", t("unreadSuffix")));
      }
      content.appendChild(meta);
      anchor.appendChild(content);
      row.appendChild(anchor);
      return row;
    }
  }

  // --- start ----------------------------------------------------------------------------

  function initBell(root) {
    if (root.hasAttribute("data-notify-ready")) {
      return null;
    }
    const bell = new Bell(root);
    hub.bells.push(bell);
    if (hub.count !== null) {
      bell.showCount(hub.count);
    }
    return bell;
  }

  function start() {
    if (hub.started) {
      return DjangoNotify;
    }
    hub.config = readConfig();
    // The server's settings, unless the page set the option itself.
    ["pollInterval", "stormThreshold", "stormWindow", "dropdownLimit"].forEach(function (key) {
      if (typeof hub.config[key] === "number" && !hub.explicit[key]) {
        hub.options[key] = hub.config[key];
      }
    });
    hub.urls = Object.assign({}, hub.config.urls || {}, hub.options.urls);
    document.querySelectorAll("[data-notify-bell]").forEach(function (root) {
      try {
        initBell(root);
      } catch (error) {
        console.error(error); // one broken override must not take the others down
      }
    });
    const wanted = hub.bells.length || document.querySelector("[data-notify-page]");
    if (!hub.urls.recent) {
      if (wanted) {
        console.error("django-notify: no configuration found; render {% notify_assets %} in <head>");
      }
      return DjangoNotify;
    }
    hub.started = true;
    // The server-rendered count is the starting point (the baseline for polling).
    const rendered = document.querySelector("[data-notify-bell][data-notify-unread]");
    if (rendered && hub.count === null) {
      const count = Number(rendered.getAttribute("data-notify-unread"));
      hub.count = isNaN(count) ? null : count;
    }
    if (wanted) {
      connectStream();
    }
    emit("ready", { api: DjangoNotify });
    return DjangoNotify;
  }

  const DjangoNotify = {
    version: VERSION,
    options: hub.options,
    api: api,
    ApiError: ApiError,
    configure: configure,
    start: start,
    /** Wire bells added to the page after load (a client-rendered header). */
    bind: function (root) {
      const bell = initBell(root);
      if (bell && hub.started && hub.mode === "idle") {
        connectStream();
      }
      return bell;
    },
    on: function (name, handler) {
      const listener = function (event) {
        handler(event.detail, event);
      };
      document.addEventListener("notify:" + name, listener);
      return function () {
        document.removeEventListener("notify:" + name, listener);
      };
    },
    refresh: refreshRecent,
    markRead: markRead,
    markUnread: markUnread,
    markAllRead: markAllRead,
    dismiss: dismiss,
    dismissAll: dismissAll,
    toast: function (text) {
      return toaster.message(text);
    },
    get unreadCount() {
      return hub.count;
    },
    get mode() {
      return hub.mode;
    },
    get ready() {
      return hub.started;
    },
    setUnreadCount: setCount,
    badgeText: badgeText,
    t: t,
    priorityLabel: priorityLabel,
    safeLink: safeLink,
    relativeTime: relativeTime,
    priorityName: priorityName,
  };

  configure(Object.assign({}, preset));
  window.DjangoNotify = DjangoNotify;

  if (hub.options.autoStart) {
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", start);
    } else {
      start();
    }
  }
})();
