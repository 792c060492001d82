// The customer portal's one script: the delete button waits for the account ID, and the progress
// of a running deletion is refreshed about every 2 seconds. The pages work without it.
'use strict';
document.addEventListener('DOMContentLoaded', () => {
  const confirm = document.getElementById('confirm');
  const button = document.getElementById('delete-button');
  if (confirm && button) {
    const check = () => { button.disabled = confirm.value.trim() !== confirm.dataset.expect; };
    confirm.addEventListener('input', check);
    check();
  }
  const facts = document.querySelector('dl[data-job]');
  if (!facts) return;
  const state = facts.querySelector('.job-state');
  const running = (s) => s === 'waiting' || s === 'active';
  if (!state || !running(state.dataset.state)) return;
  const poll = async () => {
    try {
      const r = await fetch(`/portal/jobs/${facts.dataset.job}/status`, { headers: { accept: 'application/json' } });
      if (!r.ok) return;
      const j = await r.json();
      const bar = facts.querySelector('progress');
      const pct = facts.querySelector('.job-progress');
      if (bar) bar.value = j.progress;
      if (pct) pct.textContent = `${j.progress}%`;
      if (!running(j.state)) { location.reload(); return; }
    } catch { /* the next poll tries again */ }
    setTimeout(poll, 2000);
  };
  setTimeout(poll, 2000);
});
