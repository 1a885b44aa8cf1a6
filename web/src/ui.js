// Small shared pieces: routing, page frame, fields, error display.
import { h } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import htm from 'htm';
import { t } from './i18n.js';

export const html = htm.bind(h);

/** The current hash route as {path: [...segments], query: URLSearchParams}. */
export function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const [p, q] = raw.split('?');
  return { path: p.split('/').filter(Boolean), query: new URLSearchParams(q || '') };
}

export function go(to) {
  location.hash = to;
}

/** A page: its heading takes focus when it opens, so screen readers and keyboards start there. */
export function Page({ title, children }) {
  const heading = useRef(null);
  useEffect(() => {
    document.title = `${title} — RAVIS`;
    if (heading.current) heading.current.focus();
  }, [title]);
  return html`<section aria-labelledby="page-title">
    <h1 id="page-title" tabindex="-1" ref=${heading}>${title}</h1>
    ${children}
  </section>`;
}

/** An API error in words (problem detail and field errors as the API gave them). */
export function ErrorBox({ error }) {
  if (!error) return null;
  const general = t(`error${error.status}`);
  const known = !general.startsWith('error');
  const detail = error.problem && (error.problem.detail || error.problem.title);
  const fields = (error.problem && error.problem.errors) || [];
  return html`<div class="error" role="alert">
    <p><strong>${known ? general : t('error')}</strong>${detail ? html` ${detail}` : ''}</p>
    ${fields.length > 0 &&
    html`<ul>
      ${fields.map((f) => html`<li><code>${f.field}</code>: ${f.reason}</li>`)}
    </ul>`}
  </div>`;
}

/** A labelled input with its error (aria-invalid, aria-describedby). */
export function Field({ id, label, error, hint, children, optional }) {
  const describedBy = [hint ? `${id}-hint` : null, error ? `${id}-error` : null].filter(Boolean).join(' ') || undefined;
  const control = children({ id, 'aria-invalid': error ? 'true' : undefined, 'aria-describedby': describedBy });
  return html`<div class=${`field${error ? ' invalid' : ''}`}>
    <label for=${id}>${label}${optional ? html` <span class="muted">(${t('optional')})</span>` : ''}</label>
    ${hint && html`<div class="hint" id=${`${id}-hint`}>${hint}</div>`}
    ${control}
    ${error && html`<div class="field-error" id=${`${id}-error`}>${error}</div>`}
  </div>`;
}

/** Loads data with `load()` and renders `render(data, reload)`, with loading and errors
 * shown; `reload()` resolves once the new data (or error) is set. */
export function Loader({ load, deps, render }) {
  const [state, setState] = useState({ loading: true });
  const reload = () => {
    setState((s) => ({ ...s, loading: true }));
    return load().then(
      (data) => setState({ data }),
      (error) => setState({ error }),
    );
  };
  useEffect(() => {
    reload();
  }, deps);
  if (state.error) return html`<${ErrorBox} error=${state.error} />`;
  if (state.loading && state.data === undefined) return html`<p aria-live="polite">${t('loading')}</p>`;
  return render(state.data, reload);
}

/** Completed months between two ISO dates, as the scoring engine counts them (a month is
 * reached on the same day of a later month, or that month's last day if it is shorter). */
export function completedMonths(fromIso, toIso) {
  if (toIso < fromIso) return -completedMonths(toIso, fromIso);
  const [y1, m1, d1] = fromIso.split('-').map(Number);
  const [y2, m2, d2] = toIso.split('-').map(Number);
  let months = (y2 - y1) * 12 + (m2 - m1);
  const lastDay = new Date(Date.UTC(y2, m2, 0)).getUTCDate();
  if (Math.min(d1, lastDay) > d2) months -= 1;
  return months;
}

export function todayIso() {
  const d = new Date();
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

export function addDaysIso(iso, days) {
  const [y, m, d] = iso.split('-').map(Number);
  const date = new Date(Date.UTC(y, m - 1, d + days));
  return date.toISOString().slice(0, 10);
}
