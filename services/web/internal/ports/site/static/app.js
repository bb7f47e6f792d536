// Staybook's one script. Every customer page works without it (forms post,
// the booking page reloads itself); with it, the booking page follows the
// booking live over Server-Sent Events, and the admin pages call the admin
// API with the operator's token, kept in this tab's sessionStorage and sent
// in the Authorization header (never a cookie, so another site cannot use
// it). Text from the server is only ever set with textContent.
(function () {
  'use strict';

  function $(sel, root) { return (root || document).querySelector(sel); }
  function $all(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }
  function el(tag, props, children) {
    var e = document.createElement(tag);
    Object.keys(props || {}).forEach(function (k) {
      if (k === 'text') { e.textContent = props[k]; } else if (k === 'class') { e.className = props[k]; } else { e.setAttribute(k, props[k]); }
    });
    (children || []).forEach(function (c) { if (c) { e.appendChild(c); } });
    return e;
  }
  function when(iso) {
    if (!iso) { return ''; }
    var d = new Date(iso);
    return isNaN(d) ? iso : d.toLocaleString();
  }

  // A form marked data-once sends once: its button is disabled on submit.
  // (The server's idempotency key is what makes a double click harmless;
  // this only spares the second request.)
  $all('form').forEach(function (form) {
    var button = $('button[data-once]', form);
    if (!button) { return; }
    form.addEventListener('submit', function () {
      setTimeout(function () { button.disabled = true; button.textContent = 'Sending…'; }, 0);
    });
  });

  // ---- Booking page: live status over Server-Sent Events -----------------

  function bookingLive() {
    var root = document.getElementById('booking-live');
    if (!root || root.dataset.final === 'true' || !window.EventSource) { return; }
    var labels = JSON.parse(root.dataset.labels);
    var liveNote = $('[data-field=live]', root);
    var lastVersion = -1;
    var detailsAsked = false;
    var source = null;

    function isFinal(b) {
      if (b.status === 'pending') { return false; }
      return Object.keys(b.tasks).every(function (t) { return b.tasks[t] !== 'pending'; });
    }

    function apply(b) {
      if (b.version < lastVersion) { return; }
      lastVersion = b.version;
      var status = $('[data-field=status]', root);
      status.textContent = labels.status[b.status] || b.status;
      status.dataset.state = b.status;
      var reason = $('[data-field=reason]', root);
      reason.hidden = !b.reason;
      reason.textContent = b.reason ? (labels.reason[b.reason] || ('Sorry: the booking could not be made (' + b.reason + ').')) : '';
      $('[data-when=pending]', root).hidden = b.status !== 'pending';
      Object.keys(b.tasks).forEach(function (task) {
        var badge = $('[data-task="' + task + '"] [data-field=task-state]', root);
        if (badge) {
          badge.textContent = labels.task[b.tasks[task]] || b.tasks[task];
          badge.dataset.state = b.tasks[task];
        }
      });
      var voucher = $('[data-field=voucher]', root);
      voucher.hidden = !b.voucher_url;
      if (b.voucher_url) { $('#voucher-link').setAttribute('href', b.voucher_url); }
      $all('[data-email-note]', root).forEach(function (note) {
        note.hidden = !(b.status === 'confirmed' && note.dataset.emailNote === b.tasks.email);
      });
      var details = document.getElementById('booking-details');
      if (details && details.dataset.complete === 'false' && b.status !== 'pending' && !detailsAsked) {
        detailsAsked = true;
        fillDetails(details);
      }
    }

    // The details (hotel, dates, price) come with the first state the
    // booking service has stored: take them from a fresh rendering of this
    // page rather than duplicating the page's markup here.
    function fillDetails(details) {
      fetch(window.location.pathname, { headers: { Accept: 'text/html' }, credentials: 'same-origin' })
        .then(function (res) { return res.ok ? res.text() : Promise.reject(res.status); })
        .then(function (html) {
          var fresh = new DOMParser().parseFromString(html, 'text/html').getElementById('booking-details');
          if (fresh && fresh.dataset.complete === 'true') { details.replaceWith(document.importNode(fresh, true)); }
        })
        .catch(function () { detailsAsked = false; });
    }

    function connect() {
      source = new EventSource(root.dataset.eventsUrl);
      source.addEventListener('open', function () { liveNote.hidden = false; });
      source.addEventListener('status', function (ev) {
        var b = JSON.parse(ev.data);
        apply(b);
        if (isFinal(b)) { source.close(); liveNote.hidden = true; }
      });
      source.addEventListener('error', function () {
        liveNote.hidden = true;
        // The browser reconnects by itself after a dropped stream; after
        // an error answer (503 while the booking service is down) it
        // gives up, so try again a little later.
        if (source.readyState === EventSource.CLOSED) { setTimeout(connect, 5000); }
      });
    }
    connect();
  }

  // ---- Admin pages: token, API calls ---------------------------------------

  var TOKEN_KEY = 'staybook.adminToken';

  function AuthError(message) { this.message = message; }

  function adminFetch(method, path, body) {
    var headers = { Authorization: 'Bearer ' + (sessionStorage.getItem(TOKEN_KEY) || ''), Accept: 'application/json' };
    var opts = { method: method, headers: headers, credentials: 'omit', cache: 'no-store' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    return fetch(path, opts).then(function (res) {
      return res.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (res.status === 401) { throw new AuthError('That token was refused. Check it and sign in again.'); }
        if (!res.ok) {
          throw new Error((data && data.error && data.error.message) || (res.status + ' ' + res.statusText));
        }
        return data;
      });
    });
  }

  // signIn wires the token form and the sign-out button; onSignedIn runs
  // with a token and gets the chance to fail with an AuthError.
  function adminSession(onSignedIn) {
    var login = document.getElementById('admin-login');
    var area = document.getElementById('admin-area');
    var loginError = document.getElementById('login-error');

    function show(signedIn, message) {
      login.hidden = signedIn;
      area.hidden = !signedIn;
      loginError.hidden = !message;
      loginError.textContent = message || '';
      if (!signedIn) { $('#admin-token').focus(); }
    }
    function signOut(message) {
      sessionStorage.removeItem(TOKEN_KEY);
      show(false, message);
    }
    function start() {
      show(true);
      Promise.resolve(onSignedIn()).catch(function (err) {
        if (err instanceof AuthError) { signOut(err.message); }
      });
    }
    $('#token-form').addEventListener('submit', function (ev) {
      ev.preventDefault();
      var token = $('#admin-token').value.trim();
      if (!token) { show(false, 'Type the admin token.'); return; }
      sessionStorage.setItem(TOKEN_KEY, token);
      $('#admin-token').value = '';
      start();
    });
    $all('#sign-out').forEach(function (b) { b.addEventListener('click', function () { signOut(''); }); });
    if (sessionStorage.getItem(TOKEN_KEY)) { start(); } else { show(false); }
    return { fail: function (err, target) {
      if (err instanceof AuthError) { signOut(err.message); return; }
      target.textContent = 'Error: ' + err.message;
    } };
  }

  // ---- Dead-letter console --------------------------------------------------

  function deadLetterConsole() {
    var current = null; // the letter shown
    var pending = null; // the action waiting for confirmation
    var session = adminSession(loadLetters);

    function filterQuery() {
      var q = new URLSearchParams();
      ['status', 'handler', 'reason'].forEach(function (k) {
        var v = $('#filter-form [name=' + k + ']').value.trim();
        if (v) { q.set(k, v); }
      });
      return q.toString();
    }

    function loadLetters() {
      var status = $('#letters-status');
      status.textContent = 'Loading…';
      var q = filterQuery();
      return adminFetch('GET', '/api/admin/dead-letters' + (q ? '?' + q : '')).then(function (data) {
        var body = $('#letters-body');
        body.textContent = '';
        var letters = (data && data.dead_letters) || [];
        letters.forEach(function (l) {
          var show = el('button', { type: 'button', class: 'secondary small', text: 'Show', 'aria-label': 'Show letter ' + l.id });
          show.addEventListener('click', function () { showLetter(l.id); });
          var row = el('tr', { 'data-letter-id': l.id, 'data-status': l.status }, [
            el('td', { text: when(l.last_failed_at) }),
            el('td', { class: 'mono', text: l.handler || '(unknown)' }),
            el('td', { text: l.reason, title: l.reason }),
            el('td', { text: String(l.attempts) }),
            el('td', {}, [el('span', { class: 'badge', 'data-state': l.status, text: l.status })]),
            el('td', {}, [show])
          ]);
          if (current && current.id === l.id) { row.className = 'selected'; }
          body.appendChild(row);
        });
        status.textContent = letters.length === 0 ? 'No letters match.' : (letters.length + (letters.length === 1 ? ' letter.' : ' letters.'));
      }).catch(function (err) {
        if (err instanceof AuthError) { throw err; }
        status.textContent = 'Error: ' + err.message;
      });
    }

    function field(dl, name, value, node) {
      dl.appendChild(el('dt', { text: name }));
      dl.appendChild(node ? el('dd', {}, [node]) : el('dd', { text: value === undefined || value === null || value === '' ? '—' : String(value) }));
    }

    function showLetter(id) {
      hideConfirm();
      $('#detail-status').textContent = '';
      return adminFetch('GET', '/api/admin/dead-letters/' + encodeURIComponent(id)).then(function (l) {
        current = l;
        $all('#letters-body tr').forEach(function (tr) { tr.className = tr.dataset.letterId === l.id ? 'selected' : ''; });
        var dl = $('#detail-fields');
        dl.textContent = '';
        field(dl, 'ID', l.id);
        field(dl, 'Status', null, el('span', { class: 'badge', 'data-state': l.status, text: l.status, id: 'detail-state' }));
        field(dl, 'Message', l.topic);
        field(dl, 'Queue', l.queue);
        field(dl, 'Handler', l.handler);
        field(dl, 'Reason', l.reason);
        field(dl, 'Attempts', l.attempts);
        field(dl, 'First failed', when(l.first_failed_at));
        field(dl, 'Last failed', when(l.last_failed_at));
        field(dl, 'Replays', l.replay_count);
        if (l.correlation_id) {
          field(dl, 'Booking', null, el('span', {}, [
            el('a', { href: '/bookings/' + encodeURIComponent(l.correlation_id), class: 'mono', text: l.correlation_id }),
            document.createTextNode(' · '),
            el('a', { href: '/admin/bookings/' + encodeURIComponent(l.correlation_id) + '/trace', text: 'trace' })
          ]));
        }
        var payload = l.payload;
        if (l.payload_encoding === 'json') {
          try { payload = JSON.stringify(JSON.parse(l.payload), null, 2); } catch (e) { payload = l.payload; }
        } else {
          payload = '(not JSON; base64)\n' + l.payload;
        }
        $('#detail-payload').textContent = payload;
        var history = $('#detail-history');
        history.textContent = '';
        (l.history || []).forEach(function (f) {
          history.appendChild(el('tr', {}, [el('td', { text: when(f.failed_at) }), el('td', { text: String(f.attempts) }), el('td', { text: f.reason })]));
        });
        var replays = $('#detail-replays');
        replays.textContent = '';
        (l.replays || []).forEach(function (r) {
          replays.appendChild(el('tr', {}, [el('td', { text: when(r.replayed_at) }), el('td', { text: String(r.attempts) }), el('td', { class: 'mono', text: r.queue })]));
        });
        if (!l.replays || l.replays.length === 0) { replays.appendChild(el('tr', {}, [el('td', { colspan: '3', text: 'None yet.' })])); }
        var md = $('#detail-metadata');
        md.textContent = '';
        Object.keys(l.metadata || {}).sort().forEach(function (k) { field(md, k, l.metadata[k]); });
        $('#replay-button').disabled = l.status !== 'dead';
        var detail = document.getElementById('letter-detail');
        detail.hidden = false;
        detail.focus();
      }).catch(function (err) { session.fail(err, $('#letters-status')); });
    }

    function askConfirm(text, action) {
      pending = action;
      $('#confirm-text').textContent = text;
      $('#confirm-box').hidden = false;
      $('#detail-actions').hidden = true;
      $('#confirm-no').focus();
    }
    function hideConfirm() {
      pending = null;
      $('#confirm-box').hidden = true;
      $('#detail-actions').hidden = false;
    }

    $('#replay-button').addEventListener('click', function () {
      if (!current) { return; }
      askConfirm('Replay this message to queue ' + current.queue + '? The handler ' + current.handler +
        ' gets it again; fix the cause of the failure first.', replay);
    });
    $('#purge-button').addEventListener('click', function () {
      if (!current) { return; }
      askConfirm('Purge this message? It leaves the console for good; it will not be processed.', purge);
    });
    $('#confirm-no').addEventListener('click', function () { hideConfirm(); $('#replay-button').focus(); });
    $('#confirm-yes').addEventListener('click', function () {
      var action = pending;
      hideConfirm();
      if (action) { action(); }
    });

    function replay() {
      var id = current.id;
      var status = $('#detail-status');
      status.textContent = 'Replaying…';
      adminFetch('POST', '/api/admin/dead-letters/' + encodeURIComponent(id) + '/replay').then(function (l) {
        return loadLetters().then(function () { return showLetter(id); }).then(function () {
          $('#detail-status').textContent = 'Replayed to ' + l.queue + '.';
        });
      }).catch(function (err) { session.fail(err, status); });
    }

    function purge() {
      var id = current.id;
      var status = $('#detail-status');
      status.textContent = 'Purging…';
      adminFetch('DELETE', '/api/admin/dead-letters/' + encodeURIComponent(id)).then(function () {
        current = null;
        document.getElementById('letter-detail').hidden = true;
        return loadLetters().then(function () { $('#letters-status').textContent += ' Letter ' + id + ' purged.'; });
      }).catch(function (err) { session.fail(err, status); });
    }

    $('#filter-form').addEventListener('submit', function (ev) {
      ev.preventDefault();
      loadLetters().catch(function (err) { session.fail(err, $('#letters-status')); });
    });
  }

  // ---- Trace waterfall ---------------------------------------------------

  function traceWaterfall() {
    var area = document.getElementById('admin-area');
    var id = area.dataset.bookingId;
    var session = adminSession(load);

    function svcClass(service) { return 'svc-' + String(service).toLowerCase().replace(/[^a-z0-9-]/g, '-'); }

    function load() {
      var status = $('#trace-status');
      status.textContent = 'Loading…';
      return adminFetch('GET', '/api/admin/bookings/' + encodeURIComponent(id) + '/trace').then(function (wf) {
        var legend = $('#trace-legend');
        legend.textContent = '';
        wf.services.forEach(function (s) { legend.appendChild(el('li', { class: svcClass(s), text: s })); });
        var links = $('#trace-links');
        links.textContent = '';
        wf.traces.forEach(function (t, i) {
          if (i > 0) { links.appendChild(document.createTextNode(' · ')); }
          links.appendChild(t.url ? el('a', { href: t.url, text: 'Open trace ' + t.id.slice(0, 12) + '… in Jaeger', rel: 'noopener' })
            : el('span', { class: 'mono', text: 'trace ' + t.id }));
        });
        var fall = $('#waterfall');
        fall.textContent = '';
        wf.spans.forEach(function (s) {
          var label = el('div', { class: 'span-label', role: 'cell', title: s.service + ': ' + s.name }, [
            el('span', { class: 'svc', text: s.service }), document.createTextNode(' ' + s.name)
          ]);
          label.style.paddingLeft = Math.min(s.depth, 12) * 0.75 + 'rem';
          var bar = el('div', { class: 'span-bar ' + svcClass(s.service) + (s.error ? ' error' : ''),
            title: s.name + ': starts at ' + s.start_ms.toFixed(1) + ' ms, lasts ' + s.duration_ms.toFixed(1) + ' ms' });
          // Placed with the CSS object model: the CSP allows no inline styles.
          bar.style.left = s.offset_pct + '%';
          bar.style.width = s.width_pct + '%';
          var track = el('div', { class: 'span-track', role: 'cell' }, [bar]);
          var time = el('div', { class: 'span-time', role: 'cell', text: s.duration_ms.toFixed(1) + ' ms' });
          fall.appendChild(el('div', { class: 'span-row', role: 'row', 'data-service': s.service }, [label, track, time]));
        });
        status.textContent = wf.spans.length === 0
          ? 'No spans yet: services send their spans to Jaeger in batches, every few seconds. Reload in a moment.'
          : wf.spans.length + ' spans from ' + wf.services.length + ' services over ' + wf.duration_ms.toFixed(1) + ' ms.';
      }).catch(function (err) {
        if (err instanceof AuthError) { throw err; }
        status.textContent = 'Error: ' + err.message;
      });
    }
    $('#trace-reload').addEventListener('click', function () { load().catch(function (err) { session.fail(err, $('#trace-status')); }); });
  }

  switch (document.body.dataset.page) {
    case 'booking': bookingLive(); break;
    case 'admin-dead-letters': deadLetterConsole(); break;
    case 'admin-trace': traceWaterfall(); break;
  }
}());
