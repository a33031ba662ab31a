// Convene dashboard: small progressive enhancements. Every page works without this file.
(function () {
  'use strict';

  // Alias rows: an "Add another alias" button that appends an empty row.
  function setupAliases() {
    document.querySelectorAll('fieldset.aliases').forEach(function (fieldset) {
      var button = fieldset.querySelector('.add-alias');
      var rows = fieldset.querySelector('.alias-rows');
      if (!button || !rows || !rows.lastElementChild) return;
      button.hidden = false;
      button.addEventListener('click', function () {
        var name = fieldset.id;
        var index = parseInt(fieldset.getAttribute('data-next-index'), 10);
        if (isNaN(index)) index = rows.children.length;
        var row = rows.lastElementChild.cloneNode(true);
        var inputs = row.querySelectorAll('input');
        inputs[0].id = inputs[0].name = name + '-' + index;
        inputs[0].setAttribute('aria-label', 'Alias ' + (index + 1));
        inputs[1].id = inputs[1].name = name + '-' + index + '-description';
        inputs[1].setAttribute('aria-label', 'Description of alias ' + (index + 1));
        inputs[0].value = '';
        inputs[1].value = '';
        rows.appendChild(row);
        fieldset.setAttribute('data-next-index', String(index + 1));
        inputs[0].focus();
      });
    });
  }

  // Forms with data-confirm ask first (works for content replaced by the live stream too).
  document.addEventListener('submit', function (event) {
    var message = event.target.getAttribute && event.target.getAttribute('data-confirm');
    if (message && !window.confirm(message)) event.preventDefault();
  });

  // Forms marked data-keep inside the live status (dial-out) survive its updates: what was typed
  // or chosen, an error shown with the form (and the fields it marks), and the focus and cursor.
  var MARKS = ['aria-invalid', 'aria-describedby'];

  function keepForms(root) {
    var kept = { forms: [], focus: null };
    root.querySelectorAll('form[data-keep][id]').forEach(function (form) {
      var fields = {};
      form.querySelectorAll('input[name]:not([type=hidden]), select[name], textarea[name]').forEach(function (el) {
        var marks = {};
        MARKS.forEach(function (a) { if (el.hasAttribute(a)) marks[a] = el.getAttribute(a); });
        var wrap = el.closest('.has-error');
        fields[el.name] = { value: el.value, marks: marks, error: !!(wrap && form.contains(wrap)) };
      });
      var error = form.querySelector('.field-error');
      kept.forms.push({ id: form.id, fields: fields, error: error && error.cloneNode(true) });
    });
    var active = document.activeElement;
    if (active && active.name && active.form && root.contains(active) && active.form.hasAttribute('data-keep')) {
      kept.focus = { form: active.form.id, name: active.name };
      try { kept.focus.start = active.selectionStart; kept.focus.end = active.selectionEnd; } catch (e) { /* selects */ }
    }
    return kept;
  }

  function restoreForms(kept) {
    kept.forms.forEach(function (saved) {
      var form = document.getElementById(saved.id);
      if (!form) return;
      var showError = saved.error && !form.querySelector('.field-error');
      Object.keys(saved.fields).forEach(function (name) {
        var el = form.elements.namedItem(name);
        var field = saved.fields[name];
        if (!el || el.length !== undefined && !el.tagName) return; // not one element
        if (el.value !== field.value) el.value = field.value;
        if (!showError) return;
        Object.keys(field.marks).forEach(function (a) { el.setAttribute(a, field.marks[a]); });
        if (field.error && el.parentElement) el.parentElement.classList.add('has-error');
      });
      if (showError) {
        saved.error.removeAttribute('role'); // announced once already
        (form.querySelector('fieldset') || form).appendChild(saved.error);
      }
    });
    if (kept.focus) {
      var form = document.getElementById(kept.focus.form);
      var el = form && form.elements.namedItem(kept.focus.name);
      if (el && el.focus) {
        el.focus();
        try { if (kept.focus.start != null) el.setSelectionRange(kept.focus.start, kept.focus.end); } catch (e) { /* selects */ }
      }
    }
  }

  // Live status: the server sends the rendered status whenever it changes.
  function setupLive() {
    var live = document.getElementById('live');
    if (!live || !window.EventSource) return;
    var indicator = document.getElementById('live-indicator');
    var label = document.getElementById('live-text');
    function show(state, text) {
      if (indicator) indicator.setAttribute('data-state', state);
      if (label) label.textContent = text;
    }
    show('connecting', 'Connecting…');
    var source = new EventSource(live.getAttribute('data-events'));
    source.onopen = function () { show('live', 'Live'); };
    source.onmessage = function (event) {
      var kept = keepForms(live);
      live.innerHTML = event.data;
      restoreForms(kept);
      show('live', 'Live · updated ' + new Date().toLocaleTimeString());
    };
    source.onerror = function () {
      if (source.readyState === EventSource.CLOSED) show('off', 'Disconnected — reload the page');
      else show('connecting', 'Reconnecting…');
    };
    window.addEventListener('pagehide', function () { source.close(); });
  }

  setupAliases();
  setupLive();
})();
