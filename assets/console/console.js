// custctl console: the delete dialog and the live job view. Plain browser JavaScript, no build
// step, loaded as a file of this server (Content-Security-Policy: script-src 'self').
'use strict';
(function () {
  function focusFirst(dialog) {
    var f = dialog.querySelector('[aria-invalid="true"]') || dialog.querySelector('[data-expect]') || dialog.querySelector('input:not([type=hidden])');
    if (f) f.focus();
  }

  function initDialogs() {
    document.querySelectorAll('[data-dialog]').forEach(function (button) {
      button.addEventListener('click', function () {
        var dialog = document.getElementById(button.getAttribute('data-dialog'));
        if (dialog && typeof dialog.showModal === 'function') {
          dialog.showModal();
          focusFirst(dialog);
        }
      });
    });
    document.querySelectorAll('dialog [data-close]').forEach(function (button) {
      button.addEventListener('click', function () { button.closest('dialog').close(); });
    });
    document.querySelectorAll('dialog[data-open-on-load]').forEach(function (dialog) {
      dialog.showModal();
      focusFirst(dialog);
    });
    // the typed confirmation: Delete is enabled only while it matches (the server checks it again)
    document.querySelectorAll('input[data-expect]').forEach(function (input) {
      var hint = document.getElementById('confirm-hint');
      var initial = hint ? hint.textContent : '';
      var form = input.closest('form');
      var submit = form ? form.querySelector('[data-confirm-submit]') : null;
      function update() {
        var ok = input.value.trim() === input.getAttribute('data-expect');
        input.setAttribute('aria-invalid', input.value !== '' && !ok ? 'true' : 'false');
        if (submit) submit.disabled = !ok;
        if (hint) hint.textContent = ok ? 'The ID matches: Delete starts the deletion.' : initial;
      }
      input.addEventListener('input', update);
      update();
    });
  }

  // The live part of a job page: fetched again (about once a second) until the job has ended.
  function poll(el) {
    if (el.getAttribute('data-finished') === 'true') return;
    var delay = el.querySelector('.s-delayed') ? 10000 : 1000;
    setTimeout(function () {
      fetch(el.getAttribute('data-live'), { credentials: 'same-origin', cache: 'no-store', headers: { accept: 'text/html' } })
        .then(function (res) {
          if (res.redirected || res.status === 401) { window.location.reload(); return null; }
          return res.ok ? res.text() : null;
        })
        .then(function (text) {
          if (text === null) { poll(el); return; }
          var tpl = document.createElement('template');
          tpl.innerHTML = text;
          var next = tpl.content.querySelector('#job-live');
          if (!next) { poll(el); return; }
          // keep the live region's element, so screen readers announce the new state
          var oldLine = el.querySelector('.state-line');
          var newLine = next.querySelector('.state-line');
          if (oldLine && newLine) {
            oldLine.innerHTML = newLine.innerHTML;
            newLine.replaceWith(oldLine);
          }
          el.replaceWith(next);
          poll(next);
        })
        .catch(function () { poll(el); });
    }, delay);
  }

  function init() {
    initDialogs();
    var live = document.getElementById('job-live');
    if (live) poll(live);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
