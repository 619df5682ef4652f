/*!
 * django-notify pages: the notification centre ([data-notify-page="notifications"]) and
 * the preferences page ([data-notify-page="preferences"]). Needs notify.js (it uses
 * window.DjangoNotify.api for requests with the CSRF header). Plain ES2017.
 *
 * Notification text is written with textContent; only `description` (sanitised on the
 * server) goes through innerHTML. Alert text is plain text and is never parsed as HTML.
 */
(function () {
  "use strict";

  function whenReady(callback) {
    const go = function () {
      const notify = window.DjangoNotify;
      if (notify && notify.ready) {
        callback(notify);
        return true;
      }
      return false;
    };
    if (go()) {
      return;
    }
    // notify.js may run after this script (its tag further down the page).
    document.addEventListener("notify:ready", function handler() {
      if (go()) {
        document.removeEventListener("notify:ready", handler);
      }
    });
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

  function button(label, className) {
    const node = el("button", "notify-button" + (className ? " " + className : ""), label);
    node.type = "button";
    return node;
  }

  function showError(node, error) {
    if (!node) {
      return;
    }
    node.textContent = error ? error.message || String(error) : "";
    node.hidden = !error;
  }

  function formatDate(iso) {
    const date = new Date(iso);
    return isNaN(date.getTime()) ? "" : date.toLocaleString();
  }

  function readJson(id) {
    const node = document.getElementById(id);
    try {
      return node ? JSON.parse(node.textContent || "{}") : {};
    } catch (error) {
      return {};
    }
  }

  function here() {
    return window.location.pathname + window.location.search + window.location.hash;
  }

  /**
   * Write filter values into the query string (an empty or default value drops the
   * name), so a reload, Back/Forward or a shared link shows the same list. A user's
   * change is a history entry of its own (Back undoes it); the page's own tidying at
   * load (dropping what the server ignored) replaces the current entry.
   */
  function keepInAddress(values, defaults, push) {
    const address = new URL(window.location.href);
    Object.keys(values).forEach(function (name) {
      const value = values[name];
      if (value && value !== (defaults[name] || "")) {
        address.searchParams.set(name, value);
      } else {
        address.searchParams.delete(name);
      }
    });
    const target = address.pathname + address.search + address.hash;
    if (target === here()) {
      return;
    }
    if (push) {
      window.history.pushState({ djangoNotify: true }, "", target);
    } else {
      window.history.replaceState(window.history.state, "", target);
    }
  }

  /** Set a filter form's selects from the query string (Back/Forward); a value the
   * select does not offer leaves its default. True when anything changed. */
  function readAddress(form, defaults) {
    const params = new URL(window.location.href).searchParams;
    let changed = false;
    form.querySelectorAll("select[name]").forEach(function (select) {
      const fallback = defaults[select.name] || "";
      const wanted = params.get(select.name) || fallback;
      const offered = Array.prototype.some.call(select.options, function (option) {
        return option.value === wanted;
      });
      const value = offered ? wanted : fallback;
      if (select.value !== value) {
        select.value = value;
        changed = true;
      }
    });
    return changed;
  }

  function formValues(form) {
    const values = {};
    new FormData(form).forEach(function (value, name) {
      values[name] = value;
    });
    return values;
  }

  /**
   * A cursor-paginated list: "Load more" button always works; an IntersectionObserver
   * on the sentinel presses it when the end of the list scrolls into view.
   */
  class CursorList {
    constructor(options) {
      this.fetchPage = options.fetchPage; // (cursor) => Promise<{results, next_cursor}>
      this.renderRow = options.renderRow;
      this.list = options.list;
      this.more = options.more;
      this.status = options.status;
      this.error = options.error;
      this.emptyText = options.emptyText;
      this.cursor = null;
      this.loading = false;
      this.done = false;
      this.generation = 0;
      const self = this;
      this.more.addEventListener("click", function () {
        self.load();
      });
      if (window.IntersectionObserver && options.sentinel) {
        this.observer = new IntersectionObserver(
          function (entries) {
            if (entries.some(function (entry) { return entry.isIntersecting; })) {
              if (!self.list.closest("[hidden]")) {
                self.load();
              }
            }
          },
          { rootMargin: "200px" }
        );
        this.observer.observe(options.sentinel);
      }
    }

    reset() {
      this.generation += 1;
      this.cursor = null;
      this.done = false;
      this.loading = false;
      this.list.textContent = "";
      return this.load();
    }

    async load() {
      if (this.loading || this.done) {
        return;
      }
      this.loading = true;
      const generation = this.generation;
      this.more.disabled = true;
      this.status.textContent = window.DjangoNotify.t("loading");
      this.status.hidden = false;
      showError(this.error, null);
      try {
        const page = await this.fetchPage(this.cursor);
        if (generation !== this.generation) {
          return; // the filters changed while this page was on its way
        }
        (page.results || []).forEach(function (row) {
          this.list.appendChild(this.renderRow(row));
        }, this);
        this.cursor = page.next_cursor || null;
        this.done = !this.cursor;
        const empty = !this.list.children.length;
        this.status.textContent = empty ? this.emptyText : "";
        this.status.hidden = !empty;
        this.more.hidden = this.done;
      } catch (error) {
        if (generation === this.generation) {
          this.status.hidden = true;
          showError(this.error, error);
          this.more.hidden = false; // let the user try again
        }
      } finally {
        if (generation === this.generation) {
          this.loading = false;
          this.more.disabled = false;
        }
      }
    }
  }

  // --- the notification centre ----------------------------------------------------------

  function notificationsPage(root, notify) {
    const api = notify.api;
    const typeLabels = readJson("django-notify-types");
    const panel = root.querySelector('[data-notify-panel="notifications"]');
    const filters = panel.querySelector("[data-notify-filters]");
    const rows = panel.querySelector("[data-notify-rows]");
    const selectAll = panel.querySelector("[data-notify-select-all]");
    const bulkRead = panel.querySelector("[data-notify-bulk-read]");
    const markAll = panel.querySelector("[data-notify-page-mark-all]");
    const selection = panel.querySelector("[data-notify-selection]");
    const banner = panel.querySelector("[data-notify-new]");
    const errorBox = panel.querySelector("[data-notify-error]");
    let pendingNew = 0;

    function query() {
      const values = formValues(filters);
      const params = {};
      if (values.priority) {
        params.priority = values.priority;
      }
      if (values.type) {
        params.type = values.type;
      }
      if (values.state) {
        params.unread = values.state === "unread" ? "true" : "false";
      }
      return { params: params, values: values };
    }

    function rowFor(id) {
      return rows.querySelector('[data-notify-row="' + Number(id) + '"]');
    }

    function setRowRead(row, isRead) {
      if (!row) {
        return;
      }
      row.classList.toggle("notify-row--unread", !isRead);
      row.setAttribute("data-notify-read", isRead ? "true" : "false");
      const toggle = row.querySelector("[data-notify-toggle-read]");
      if (toggle) {
        toggle.textContent = isRead ? notify.t("markUnread") : notify.t("markRead");
      }
      const state = row.querySelector("[data-notify-state]");
      if (state) {
        state.textContent = isRead ? notify.t("stateRead") : notify.t("stateUnread");
      }
      // Under the "Unread" or "Read" filter a row that changed has left the result set.
      const shown = query().values.state;
      if ((isRead && shown === "unread") || (!isRead && shown === "read")) {
        row.classList.add("notify-row--leaving");
      }
    }

    function removeRow(row) {
      if (row) {
        row.remove();
        updateSelection();
        if (!rows.children.length) {
          list.status.textContent = list.emptyText;
          list.status.hidden = false;
        }
      }
    }

    function renderRow(item) {
      const priority = notify.priorityName(item.priority);
      const link = notify.safeLink(item.link);
      const row = el("li", "notify-row notify-priority-" + priority + (item.is_read ? "" : " notify-row--unread"));
      row.setAttribute("data-notify-row", String(item.id));
      row.setAttribute("data-notify-read", item.is_read ? "true" : "false");

      const check = el("input", "notify-row__select");
      check.type = "checkbox";
      check.value = String(item.id);
      check.setAttribute("aria-label", notify.t("select", { title: item.title }));
      row.appendChild(check);

      const main = el("div", "notify-row__main");
      const title = el("div", "notify-row__title");
      if (link) {
        const anchor = el("a", "", item.title);
        anchor.href = link;
        anchor.addEventListener("click", function (event) {
          if (item.is_read || event.ctrlKey || event.metaKey || event.shiftKey) {
            return;
          }
          event.preventDefault();
          notify.markRead(item.id).catch(function () {}).finally(function () {
            notify.options.navigate(link, item);
          });
        });
        title.appendChild(anchor);
      } else {
        title.textContent = item.title;
      }
      main.appendChild(title);
      if (item.description) {
        const body = el("div", "notify-row__body");
        body.innerHTML = item.description; // sanitised by the server (the one exception)
        main.appendChild(body);
      }
      const meta = el("div", "notify-row__meta");
      if (priority !== "normal") {
        // Normal is the default: only the others get a label (the colour is on every row).
        meta.appendChild(el("span", "notify-pill notify-pill--" + priority, notify.priorityLabel(priority)));
      }
      if (item.action_required) {
        meta.appendChild(el("span", "notify-pill notify-pill--action", notify.t("actionRequired")));
      }
      if (item.notification_type) {
        meta.appendChild(el("span", "notify-row__type", typeLabels[item.notification_type] || item.notification_type));
      }
      if (item.level_label) {
        meta.appendChild(el("span", "notify-row__level", item.level_label));
      }
      if (item.sender && item.sender.name) {
        meta.appendChild(el("span", "notify-row__sender", notify.t("from", { name: item.sender.name })));
      }
      const time = el("time", "", notify.relativeTime(item.created_at));
      time.setAttribute("datetime", item.created_at || "");
      time.title = formatDate(item.created_at);
      meta.appendChild(time);
      meta
        .appendChild(el("span", "notify-row__state", notify.t(item.is_read ? "stateRead" : "stateUnread")))
        .setAttribute("data-notify-state", "");
      main.appendChild(meta);
      row.appendChild(main);

      const actions = el("div", "notify-row__actions");
      const actionLink = notify.safeLink(item.action_url);
      if (actionLink && item.action_required) {
        const act = el("a", "notify-button notify-button--primary", notify.t("takeAction"));
        act.href = actionLink;
        actions.appendChild(act);
      }
      const toggle = button(notify.t(item.is_read ? "markUnread" : "markRead"));
      toggle.setAttribute("data-notify-toggle-read", "");
      toggle.addEventListener("click", function () {
        const isRead = row.getAttribute("data-notify-read") === "true";
        toggle.disabled = true;
        // notify.js sends django-notify:changed on success: the listener below restyles
        // the row and the stat cards.
        (isRead ? notify.markUnread(item.id) : notify.markRead(item.id))
          .catch(function (error) {
            showError(errorBox, error);
          })
          .finally(function () {
            toggle.disabled = false;
          });
      });
      actions.appendChild(toggle);
      const dismiss = button(notify.t("dismiss"), "notify-button--quiet");
      dismiss.addEventListener("click", function () {
        dismiss.disabled = true;
        notify
          .dismiss(item.id)
          .catch(function (error) {
            dismiss.disabled = false;
            showError(errorBox, error);
          });
      });
      actions.appendChild(dismiss);
      row.appendChild(actions);
      return row;
    }

    const list = new CursorList({
      list: rows,
      more: panel.querySelector("[data-notify-more]"),
      status: panel.querySelector("[data-notify-list-status]"),
      error: errorBox,
      sentinel: panel.querySelector("[data-notify-sentinel]"),
      emptyText: notify.t("listEmpty"),
      renderRow: renderRow,
      fetchPage: function (cursor) {
        const params = Object.assign({}, query().params);
        if (cursor) {
          params.cursor = cursor;
        }
        return api.get(api.url("list"), params);
      },
    });

    function selectedIds() {
      return Array.prototype.map.call(rows.querySelectorAll(".notify-row__select:checked"), function (box) {
        return Number(box.value);
      });
    }

    function updateSelection() {
      const ids = selectedIds();
      const boxes = rows.querySelectorAll(".notify-row__select");
      bulkRead.disabled = !ids.length;
      selection.textContent = ids.length ? notify.t("selected", { count: ids.length }) : "";
      selectAll.checked = boxes.length > 0 && ids.length === boxes.length;
      selectAll.indeterminate = ids.length > 0 && ids.length < boxes.length;
    }

    rows.addEventListener("change", function (event) {
      if (event.target.classList.contains("notify-row__select")) {
        updateSelection();
      }
    });
    selectAll.addEventListener("change", function () {
      rows.querySelectorAll(".notify-row__select").forEach(function (box) {
        box.checked = selectAll.checked;
      });
      updateSelection();
    });

    bulkRead.addEventListener("click", function () {
      const ids = selectedIds().slice(0, 100); // the API takes 1..100 ids per call
      if (!ids.length) {
        return;
      }
      bulkRead.disabled = true;
      api
        .post(api.url("markRead"), { ids: ids })
        .then(function (data) {
          notify.setUnreadCount(data.unread_count);
          ids.forEach(function (id) {
            const row = rowFor(id);
            setRowRead(row, true);
            const box = row && row.querySelector(".notify-row__select");
            if (box) {
              box.checked = false;
            }
          });
          // The bell's badge and dropdown follow this event (notify.js listens to it).
          document.dispatchEvent(
            new CustomEvent("django-notify:changed", {
              detail: { action: "read", ids: ids, unread_count: data.unread_count },
            })
          );
        })
        .catch(function (error) {
          showError(errorBox, error);
        })
        .finally(updateSelection);
    });

    markAll.addEventListener("click", function () {
      markAll.disabled = true;
      notify
        .markAllRead()
        .catch(function (error) {
          showError(errorBox, error);
        })
        .finally(function () {
          markAll.disabled = false;
        });
    });

    filters.addEventListener("change", function () {
      keepInAddress(query().values, {}, true);
      hideBanner();
      list.reset().then(updateSelection);
    });
    filters.addEventListener("submit", function (event) {
      event.preventDefault();
    });

    function hideBanner() {
      pendingNew = 0;
      banner.hidden = true;
    }
    banner.querySelector("[data-notify-show-new]").addEventListener("click", function () {
      hideBanner();
      list.reset().then(updateSelection);
    });

    // One event for every change, whoever made it (the bell, this page, another tab):
    // new rows are announced, not spliced in (they may not match the filters and would
    // shift what the user is reading); read, unread and dismiss apply in place.
    function allRows() {
      return Array.prototype.slice.call(rows.querySelectorAll(".notify-row"));
    }
    document.addEventListener("django-notify:changed", function (event) {
      const detail = event.detail || {};
      const ids = Array.isArray(detail.ids) ? detail.ids : [];
      switch (detail.action) {
        case "arrived":
          pendingNew += detail.count || ids.length || 1;
          banner.querySelector("[data-notify-show-new]").textContent =
            pendingNew === 1 ? notify.t("newOne") : notify.t("newMany", { count: pendingNew });
          banner.hidden = false;
          break;
        case "read":
        case "unread":
          ids.forEach(function (id) {
            setRowRead(rowFor(id), detail.action === "read");
          });
          break;
        case "read_all":
          allRows().forEach(function (row) {
            setRowRead(row, true);
          });
          break;
        case "dismiss":
          ids.forEach(function (id) {
            removeRow(rowFor(id));
          });
          break;
        case "dismiss_all":
          allRows().forEach(removeRow);
          break;
        default:
          return;
      }
      if (typeof detail.unread_count === "number") {
        showUnread(detail.unread_count);
      }
      refreshStats();
    });
    notify.on("count", function (detail) {
      showUnread(detail.unreadCount);
    });
    function showUnread(count) {
      const unread = root.querySelector('[data-notify-stat="unread"]');
      if (unread) {
        unread.textContent = String(count);
      }
    }

    let statsTimer = null;
    function refreshStats() {
      clearTimeout(statsTimer);
      statsTimer = setTimeout(loadStats, 150); // one request for a burst of changes
    }
    function loadStats() {
      api
        .get(api.url("stats"))
        .then(function (stats) {
          root.querySelectorAll("[data-notify-stat]").forEach(function (node) {
            const value = stats[node.getAttribute("data-notify-stat")];
            node.textContent = typeof value === "number" ? String(value) : "–";
          });
        })
        .catch(function () {});
    }

    loadStats();
    keepInAddress(query().values, {}, false);
    list.reset().then(updateSelection);
    return {
      reloadStats: loadStats,
      fromAddress: function () {
        if (readAddress(filters, {})) {
          hideBanner();
          list.reset().then(updateSelection);
        }
      },
    };
  }

  // --- alerts (staff) -------------------------------------------------------------------

  function alertsPanel(root, notify) {
    const api = notify.api;
    const panel = root.querySelector('[data-notify-panel="alerts"]');
    if (!panel) {
      return null;
    }
    const filters = panel.querySelector("[data-notify-alert-filters]");
    const errorBox = panel.querySelector("[data-notify-alert-error]");
    const rows = panel.querySelector("[data-notify-alert-rows]");

    const defaults = { status: "active" };

    /** The API's query for the form: the status select speaks words, the API a flag. */
    function params() {
      const values = formValues(filters);
      const query = {};
      if (values.status === "active" || values.status === "resolved") {
        query.resolved = values.status === "resolved" ? "true" : "false";
      }
      ["severity", "alert_type"].forEach(function (name) {
        if (values[name]) {
          query[name] = values[name];
        }
      });
      return query;
    }

    function loadAlertStats() {
      api
        .get(api.url("alertStats"))
        .then(function (stats) {
          root.querySelectorAll("[data-notify-alert-stat]").forEach(function (node) {
            const value = stats[node.getAttribute("data-notify-alert-stat")];
            node.textContent = typeof value === "number" ? String(value) : "–";
          });
        })
        .catch(function () {});
    }

    function renderAlert(alert) {
      const row = el("li", "notify-row notify-alert notify-severity-" + alert.severity + (alert.is_resolved ? " notify-alert--resolved" : ""));
      row.setAttribute("data-notify-alert", String(alert.id));
      const main = el("div", "notify-row__main");
      const title = el("div", "notify-row__title");
      title.appendChild(el("span", "notify-pill notify-pill--" + alert.severity, alert.severity));
      title.appendChild(document.createTextNode(" "));
      title.appendChild(el("span", "", alert.title));
      if (alert.occurrence_count > 1) {
        title.appendChild(el("span", "notify-alert__count", "×" + alert.occurrence_count));
      }
      main.appendChild(title);
      if (alert.message) {
        main.appendChild(el("div", "notify-row__body notify-alert__message", alert.message));
      }
      const meta = el("div", "notify-row__meta");
      meta.appendChild(el("span", "notify-row__type", alert.alert_type));
      meta.appendChild(el("span", "", notify.t("firstSeen", { when: formatDate(alert.first_occurred_at) })));
      meta.appendChild(el("span", "", notify.t("lastSeen", { when: formatDate(alert.last_occurred_at) })));
      if (alert.affected_systems && alert.affected_systems.length) {
        meta.appendChild(el("span", "", notify.t("systems", { list: alert.affected_systems.join(", ") })));
      }
      if (alert.affected_organizations && alert.affected_organizations.length) {
        meta.appendChild(
          el("span", "", notify.t("organizations", { list: alert.affected_organizations.join(", ") }))
        );
      }
      main.appendChild(meta);
      if (alert.is_resolved) {
        const when = formatDate(alert.resolved_at);
        const text = alert.resolved_by
          ? notify.t("resolvedBy", { when: when, name: alert.resolved_by.name })
          : notify.t("resolved", { when: when });
        const resolved = el("div", "notify-alert__resolution", text);
        if (alert.resolution_notes) {
          resolved.appendChild(el("div", "notify-alert__notes", alert.resolution_notes));
        }
        main.appendChild(resolved);
      }
      row.appendChild(main);
      if (!alert.is_resolved) {
        row.appendChild(resolveForm(alert, row));
      }
      return row;
    }

    function resolveForm(alert, row) {
      const form = el("form", "notify-alert__resolve");
      const label = el("label", "notify-field");
      label.appendChild(el("span", "notify-sr", notify.t("resolutionNotesFor", { title: alert.title })));
      const notes = el("textarea", "notify-alert__notes-input");
      notes.name = "notes";
      notes.rows = 2;
      notes.placeholder = notify.t("resolutionNotes");
      label.appendChild(notes);
      form.appendChild(label);
      const error = el("p", "notify-field-error");
      error.hidden = true;
      const submit = el("button", "notify-button notify-button--primary", notify.t("resolve"));
      submit.type = "submit";
      form.appendChild(submit);
      form.appendChild(error);
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        submit.disabled = true;
        showError(error, null);
        api
          .post(api.url("alertResolve", alert.id), { notes: notes.value })
          .then(function (updated) {
            const replacement = renderAlert(updated);
            // Under the "Active" filter a resolved alert leaves the list.
            if (params().resolved === "false") {
              replacement.classList.add("notify-row--leaving");
            }
            row.replaceWith(replacement);
            loadAlertStats();
          })
          .catch(function (failure) {
            const fields = failure.fields || {};
            showError(error, fields.notes ? { message: fields.notes.join(" ") } : failure);
            submit.disabled = false;
          });
      });
      return form;
    }

    const list = new CursorList({
      list: rows,
      more: panel.querySelector("[data-notify-alert-more]"),
      status: panel.querySelector("[data-notify-alert-status]"),
      error: errorBox,
      sentinel: panel.querySelector("[data-notify-alert-sentinel]"),
      emptyText: notify.t("alertsEmpty"),
      renderRow: renderAlert,
      fetchPage: function (cursor) {
        const query = params();
        if (cursor) {
          query.cursor = cursor;
        }
        return api.get(api.url("alerts"), query);
      },
    });
    filters.addEventListener("change", function () {
      keepInAddress(formValues(filters), defaults, true);
      list.reset();
    });
    filters.addEventListener("submit", function (event) {
      event.preventDefault();
    });
    keepInAddress(formValues(filters), defaults, false);
    loadAlertStats();
    let loaded = false;
    return {
      show: function () {
        if (!loaded) {
          loaded = true;
          list.reset();
        }
      },
      fromAddress: function () {
        if (readAddress(filters, defaults) && loaded) {
          list.reset();
        }
      },
    };
  }

  function tabs(root, onShow) {
    const tabList = Array.prototype.slice.call(root.querySelectorAll('[role="tab"]'));
    if (!tabList.length) {
      return null;
    }
    function select(tab, focus, fromAddress) {
      tabList.forEach(function (other) {
        const selected = other === tab;
        other.setAttribute("aria-selected", selected ? "true" : "false");
        other.tabIndex = selected ? 0 : -1;
        const panel = document.getElementById(other.getAttribute("aria-controls"));
        if (panel) {
          panel.hidden = !selected;
        }
      });
      if (focus) {
        tab.focus();
      }
      const name = tab.getAttribute("data-notify-tab");
      if (!fromAddress) {
        // The tab is where the user is, not a step to go back through.
        keepInAddress({ tab: name }, { tab: "notifications" }, false);
      }
      onShow(name);
    }
    tabList.forEach(function (tab, index) {
      tab.addEventListener("click", function () {
        select(tab, false);
      });
      tab.addEventListener("keydown", function (event) {
        let next = null;
        if (event.key === "ArrowRight") {
          next = tabList[(index + 1) % tabList.length];
        } else if (event.key === "ArrowLeft") {
          next = tabList[(index - 1 + tabList.length) % tabList.length];
        } else if (event.key === "Home") {
          next = tabList[0];
        } else if (event.key === "End") {
          next = tabList[tabList.length - 1];
        }
        if (next) {
          event.preventDefault();
          select(next, true);
        }
      });
    });
    const active = tabList.filter(function (tab) {
      return tab.getAttribute("aria-selected") === "true";
    })[0];
    if (active) {
      keepInAddress({ tab: active.getAttribute("data-notify-tab") }, { tab: "notifications" }, false);
      onShow(active.getAttribute("data-notify-tab"));
    }
    return {
      fromAddress: function () {
        const wanted = new URL(window.location.href).searchParams.get("tab") || "notifications";
        const tab =
          tabList.filter(function (other) {
            return other.getAttribute("data-notify-tab") === wanted;
          })[0] || tabList[0];
        if (tab.getAttribute("aria-selected") !== "true") {
          select(tab, false, true);
        }
      },
    };
  }

  // --- preferences ----------------------------------------------------------------------

  function preferencesPage(root, notify) {
    const api = notify.api;
    const form = root.querySelector("[data-notify-preferences]");
    const errorBox = form.querySelector("[data-notify-error]");
    const saved = form.querySelector("[data-notify-saved]");
    const saveButton = form.querySelector("[data-notify-save]");
    const resetButton = form.querySelector("[data-notify-reset]");
    const cells = Array.prototype.slice.call(form.querySelectorAll("[data-notify-cell]"));
    let baseline = snapshot();

    function cellState(cell) {
      const enabled = cell.querySelector("[data-notify-enabled]");
      const frequency = cell.querySelector("[data-notify-frequency]");
      return {
        notification_type: cell.getAttribute("data-type"),
        channel: cell.getAttribute("data-channel"),
        enabled: enabled ? enabled.checked : null,
        frequency: frequency ? frequency.value : null,
        required: enabled ? enabled.disabled : false,
      };
    }

    function settingsState() {
      return {
        start: form.elements.quiet_hours_start.value,
        end: form.elements.quiet_hours_end.value,
        timezone: form.elements.timezone.value,
        language: form.elements.language.value,
      };
    }

    function snapshot() {
      return { cells: cells.map(cellState), settings: settingsState() };
    }

    /** Only what changed: untouched switches keep following the defaults. */
    function changes() {
      const entries = [];
      const entryCells = [];
      cells.forEach(function (cell, index) {
        const now = cellState(cell);
        const then = baseline.cells[index];
        const entry = { notification_type: now.notification_type, channel: now.channel };
        if (!now.required && now.enabled !== then.enabled) {
          entry.enabled = now.enabled;
        }
        if (now.frequency !== null && now.frequency !== then.frequency) {
          entry.frequency = now.frequency;
        }
        if ("enabled" in entry || "frequency" in entry) {
          entries.push(entry);
          entryCells.push(cell);
        }
      });
      const body = {};
      if (entries.length) {
        body.preferences = entries;
      }
      const now = settingsState();
      const then = baseline.settings;
      if (now.start !== then.start || now.end !== then.end) {
        body.quiet_hours = now.start || now.end ? { start: now.start, end: now.end } : null;
      }
      if (now.timezone !== then.timezone) {
        body.timezone = now.timezone;
      }
      if (now.language !== then.language) {
        body.language = now.language;
      }
      return { body: body, entryCells: entryCells };
    }

    function clearErrors() {
      showError(errorBox, null);
      form.querySelectorAll("[data-notify-cell-error], [data-notify-error-for]").forEach(function (node) {
        node.textContent = "";
        node.hidden = true;
      });
      form.querySelectorAll("[aria-invalid]").forEach(function (node) {
        node.removeAttribute("aria-invalid");
      });
    }

    function textOf(node) {
      return node ? node.textContent.replace(/\s+/g, " ").trim() : "";
    }

    /** What the page calls a field: "Quiet hours – Until", "Job Created – Email". */
    function labelFor(name, cell) {
      if (cell) {
        const row = cell.closest("tr");
        const type = textOf(row && row.querySelector(".notify-prefs__label"));
        const channel = (cell.closest("td") || cell).getAttribute("data-label") || "";
        return [type, channel].filter(Boolean).join(" – ");
      }
      const base = name.split(/[.[]/)[0];
      const input = form.querySelector('[data-notify-field="' + name + '"]');
      const slot = form.querySelector('[data-notify-error-for="' + base + '"]');
      const fieldset = (input || slot) && (input || slot).closest("fieldset");
      const group = textOf(fieldset && fieldset.querySelector("legend"));
      const own = textOf(input && input.closest("label") && input.closest("label").querySelector("span"));
      const parts = [group, own].filter(function (part, index, all) {
        return part && all.indexOf(part) === index;
      });
      return parts.length ? parts.join(" – ") : name;
    }

    /** Put the API's field errors next to the fields they name; the banner lists them by
     * the labels the page shows (the API's message names them by their JSON paths). */
    function showFieldErrors(error, entryCells) {
      const fields = error.fields || {};
      const summary = [];
      Object.keys(fields).forEach(function (name) {
        const text = fields[name].join(" ");
        if (name === "__all__") {
          summary.push(text);
          return;
        }
        const entry = /^preferences\[(\d+)\]\.?(.*)$/.exec(name);
        if (entry && entryCells[Number(entry[1])]) {
          const cell = entryCells[Number(entry[1])];
          summary.push(labelFor(name, cell) + ": " + text);
          const slot = cell.querySelector("[data-notify-cell-error]");
          slot.textContent = text;
          slot.hidden = false;
          const input = cell.querySelector(entry[2] === "frequency" ? "[data-notify-frequency]" : "[data-notify-enabled]");
          if (input) {
            input.setAttribute("aria-invalid", "true");
          }
          return;
        }
        summary.push(labelFor(name) + ": " + text);
        const base = name.split(/[.[]/)[0];
        const slot = form.querySelector('[data-notify-error-for="' + base + '"]');
        if (slot) {
          slot.textContent = (slot.textContent ? slot.textContent + " " : "") + text;
          slot.hidden = false;
          // The input the error names ("quiet_hours.end"); a whole-group error
          // ("quiet_hours") marks every input of the group.
          let inputs = form.querySelectorAll('[data-notify-field="' + name + '"]');
          if (!inputs.length) {
            inputs = form.querySelectorAll(
              '[data-notify-field="' + base + '"], [data-notify-field^="' + base + '."]'
            );
          }
          inputs.forEach(function (input) {
            input.setAttribute("aria-invalid", "true");
          });
        }
      });
      showError(errorBox, { message: summary.length ? summary.join(" ") : error.message });
      const first = form.querySelector('[aria-invalid="true"]');
      if (first) {
        first.focus();
      }
    }

    /** Set every control from an api-preferences answer. */
    function apply(data) {
      const byType = {};
      (data.types || []).forEach(function (type) {
        byType[type.notification_type] = type.channels || {};
      });
      cells.forEach(function (cell) {
        const state = (byType[cell.getAttribute("data-type")] || {})[cell.getAttribute("data-channel")];
        if (!state) {
          return;
        }
        const enabled = cell.querySelector("[data-notify-enabled]");
        const frequency = cell.querySelector("[data-notify-frequency]");
        if (enabled) {
          enabled.checked = !!state.enabled;
          enabled.disabled = !!state.required;
        }
        if (frequency) {
          frequency.value = state.frequency;
          frequency.disabled = !state.enabled;
        }
      });
      const hours = data.quiet_hours || { start: "", end: "" };
      form.elements.quiet_hours_start.value = hours.start || "";
      form.elements.quiet_hours_end.value = hours.end || "";
      form.elements.timezone.value = data.timezone || "";
      form.elements.language.value = data.language || "";
      baseline = snapshot();
    }

    form.addEventListener("change", function (event) {
      saved.textContent = "";
      if (event.target.matches("[data-notify-enabled]")) {
        const frequency = event.target.closest("[data-notify-cell]").querySelector("[data-notify-frequency]");
        if (frequency) {
          frequency.disabled = !event.target.checked;
        }
      }
    });

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      clearErrors();
      const pending = changes();
      if (!Object.keys(pending.body).length) {
        saved.textContent = notify.t("nothingToSave");
        return;
      }
      saveButton.disabled = true;
      saved.textContent = notify.t("saving");
      api
        .patch(api.url("preferences"), pending.body)
        .then(function (data) {
          apply(data);
          saved.textContent = notify.t("saved");
        })
        .catch(function (error) {
          saved.textContent = "";
          showFieldErrors(error, pending.entryCells);
        })
        .finally(function () {
          saveButton.disabled = false;
        });
    });

    resetButton.addEventListener("click", function () {
      if (!window.confirm(notify.t("resetConfirm"))) {
        return;
      }
      clearErrors();
      resetButton.disabled = true;
      api
        .post(api.url("preferencesReset"))
        .then(function (data) {
          apply(data);
          saved.textContent = notify.t("resetDone");
        })
        .catch(function (error) {
          showError(errorBox, error);
        })
        .finally(function () {
          resetButton.disabled = false;
        });
    });
  }

  whenReady(function (notify) {
    document.querySelectorAll("[data-notify-page]").forEach(function (root) {
      const kind = root.getAttribute("data-notify-page");
      if (root.hasAttribute("data-notify-page-ready")) {
        return;
      }
      root.setAttribute("data-notify-page-ready", "");
      if (kind === "notifications") {
        const alerts = alertsPanel(root, notify);
        const page = notificationsPage(root, notify);
        const tabSet = tabs(root, function (name) {
          if (name === "alerts" && alerts) {
            alerts.show();
          }
        });
        // Back/Forward between filter states of this page: no reload, the lists follow.
        window.addEventListener("popstate", function () {
          page.fromAddress();
          if (alerts) {
            alerts.fromAddress();
          }
          if (tabSet) {
            tabSet.fromAddress();
          }
        });
      } else if (kind === "preferences") {
        preferencesPage(root, notify);
      }
    });
  });
})();
