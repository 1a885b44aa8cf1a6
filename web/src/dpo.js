// The data protection officer's lists beside a child's access report (admin.js): a child's
// audit entries in chain order (GET /audit) and every break-the-glass grant in a period
// (GET /audit/break-the-glass).
import { useState } from 'preact/hooks';
import { t, formatDate } from './i18n.js';
import { html, Page, Field, todayIso, addDaysIso } from './ui.js';
import { usePages, More } from './intake.js';

const when = (iso) => (iso ? `${formatDate(iso)} ${iso.slice(11, 19)} UTC` : '');
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** The API's longest break-the-glass report (days). */
const MAX_REPORT_DAYS = 92;

export function AuditEntries({ query }) {
  const [child, setChild] = useState(query.get('child') || '');
  const [shown, setShown] = useState(query.get('child') || '');
  const [error, setError] = useState(null);
  const submit = (e) => {
    e.preventDefault();
    const id = child.trim();
    if (!UUID_RE.test(id)) {
      setError(t('childIdFormat'));
      document.getElementById('entries-child')?.focus();
      return;
    }
    setError(null);
    setShown(id);
  };
  return html`<${Page} title=${t('auditEntries')}>
    <form class="inline" onSubmit=${submit} novalidate>
      <${Field} id="entries-child" label=${t('childId')} error=${error}>${(a) => html`<input ...${a} value=${child} onInput=${(e) => setChild(e.target.value)} size="40" autocomplete="off" />`}<//>
      <button type="submit">${t('show')}</button>
    </form>
    ${shown && html`<${EntryList} key=${shown} child=${shown} />`}
  <//>`;
}

function EntryList({ child }) {
  const pages = usePages('/audit', { child, limit: 100 }, (b) => b.entries, (b) => b.next_cursor);
  const v = pages.body && pages.body.verification;
  return html`
    ${v && html`<p id="entries-verification" class=${v.intact ? 'success' : 'error'}>
      ${v.intact ? t('chainIntact', { n: v.entries }) : t('chainBroken', { n: v.breaks.length })}
    </p>`}
    ${pages.items.length > 0 &&
    html`<table id="audit-entries">
      <caption class="visually-hidden">${t('auditEntries')}</caption>
      <thead><tr><th scope="col">#</th><th scope="col">${t('time')}</th><th scope="col">${t('who')}</th><th scope="col">${t('action')}</th><th scope="col">${t('outcomeCol')}</th><th scope="col">${t('whyCol')}</th></tr></thead>
      <tbody>${pages.items.map((e) => html`<tr>
        <td>${e.seq}</td>
        <td>${when(e.at)}</td>
        <td>${e.actor.subject}<br /><span class="muted">${e.actor.organisation}, ${e.actor.roles.map((r) => t(`roles.${r}`)).join(', ')}</span></td>
        <td>${t(`actions.${e.action}`)}: ${t(`entities.${e.entity}`)}${e.recipient ? ` → ${e.recipient}` : ''}</td>
        <td>${t(`outcomes_.${e.outcome}`)}</td>
        <td>${e.break_glass_reason ? html`<strong>${t('breakGlass')}:</strong> ${e.break_glass_reason}` : e.reason || e.purpose || ''}</td>
      </tr>`)}</tbody>
    </table>`}
    <${More} pages=${pages} id="entries-more" />`;
}

export function BreakGlassReport({ query }) {
  const [from, setFrom] = useState(query.get('from') || addDaysIso(todayIso(), -30));
  const [to, setTo] = useState(query.get('to') || addDaysIso(todayIso(), 1));
  const [shown, setShown] = useState(null);
  const [errors, setErrors] = useState({});
  const submit = (e) => {
    e.preventDefault();
    // The API's rules, checked before anything is sent (its words in English).
    const out = {};
    if (!from) out.from = t('required');
    if (!to) out.to = t('required');
    else if (from && to <= from) out.to = t('toAfterFrom');
    else if (from && (Date.parse(to) - Date.parse(from)) / 86400000 > MAX_REPORT_DAYS) out.to = t('reportTooLong', { n: MAX_REPORT_DAYS });
    setErrors(out);
    if (Object.keys(out).length) {
      document.getElementById(`btg-${Object.keys(out)[0]}`)?.focus();
      return;
    }
    setShown({ from, to });
  };
  return html`<${Page} title=${t('breakGlassReport')}>
    <form class="inline" onSubmit=${submit} novalidate>
      <${Field} id="btg-from" label=${t('fromDate')} error=${errors.from}>${(a) => html`<input ...${a} type="date" value=${from} onInput=${(e) => setFrom(e.target.value)} />`}<//>
      <${Field} id="btg-to" label=${t('toDate')} error=${errors.to}>${(a) => html`<input ...${a} type="date" value=${to} onInput=${(e) => setTo(e.target.value)} />`}<//>
      <button type="submit">${t('show')}</button>
    </form>
    ${shown && html`<${Grants} key=${`${shown.from}/${shown.to}`} from=${shown.from} to=${shown.to} />`}
  <//>`;
}

function Grants({ from, to }) {
  const pages = usePages('/audit/break-the-glass', { from, to }, (b) => b.grants, () => null);
  if (!pages.loading && !pages.error && pages.items.length === 0) return html`<p id="btg-none">${t('noGrants')}</p>`;
  return html`${pages.items.length > 0 &&
    html`<table id="btg-grants">
      <caption class="visually-hidden">${t('breakGlassReport')}</caption>
      <thead><tr><th scope="col">${t('granted')}</th><th scope="col">${t('who')}</th><th scope="col">${t('child')}</th><th scope="col">${t('whyCol')}</th><th scope="col">${t('expires')}</th></tr></thead>
      <tbody>${pages.items.map((g) => html`<tr>
        <td>${when(g.granted_at)}</td>
        <td>${g.subject}<br /><span class="muted">${g.organisation}${g.roles ? `, ${g.roles.map((r) => t(`roles.${r}`)).join(', ')}` : ''}</span></td>
        <td>${g.child_id ? html`<a href=${`#/audit/entries?child=${g.child_id}`}>${g.child_id}</a>` : g.child}</td>
        <td>${g.reason}</td>
        <td>${when(g.expires_at)}</td>
      </tr>`)}</tbody>
    </table>`}
    <${More} pages=${pages} id="btg-more" />`;
}
