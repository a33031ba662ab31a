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
      live.innerHTML = event.data;
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
