// Screens of the registry administrator (possible duplicates, merge, past merges and
// un-merge), the data protection officer (a child's access report) and editing a child
// with optimistic concurrency.
import { useEffect, useState } from 'preact/hooks';
import { api, seesGestation, session } from './api.js';
import { t, formatDate } from './i18n.js';
import { html, go, Page, ErrorBox, Field, Loader } from './ui.js';
import { usePages, More } from './intake.js';

/** `PUT /children/{id}` with `If-Match`: a 412 keeps every typed value and offers to
 * continue from the newest version. */
export function EditChild({ id }) {
  return html`<${Loader}
    load=${() => api('GET', `/children/${id}`).then((r) => ({ child: r.body, etag: r.headers.get('ETag') }))}
    deps=${[id]}
    render=${({ child, etag }) => html`<${EditForm} child=${child} etag=${etag} />`}
  />`;
}

function EditForm({ child, etag: firstEtag }) {
  const s = session();
  const [etag, setEtag] = useState(firstEtag);
  const formOf = (c) => ({
    given_name: c.given_name,
    family_name: c.family_name,
    birth_date: c.birth_date,
    sex: c.sex,
    gestational_age_weeks: c.gestational_age_weeks ?? '',
    atvk: c.atvk ?? '',
  });
  const [base, setBase] = useState(formOf(child));
  const [v, setV] = useState(formOf(child));
  const [error, setError] = useState(null);
  const [latest, setLatest] = useState(null);
  const [busy, setBusy] = useState(false);
  const set = (k) => (e) => setV({ ...v, [k]: e.target.value });
  const submit = async (e) => {
    e.preventDefault();
    const body = { given_name: v.given_name, family_name: v.family_name, birth_date: v.birth_date, sex: v.sex, atvk: v.atvk.trim() || null };
    if (seesGestation(s)) body.gestational_age_weeks = v.gestational_age_weeks === '' ? null : Number(v.gestational_age_weeks);
    setBusy(true);
    setError(null);
    try {
      await api('PUT', `/children/${child.id}`, { body, headers: { 'If-Match': etag } });
      go(`/children/${child.id}`);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  // What the user changed stays; every other field takes the newest stored value.
  const useLatest = async () => {
    const r = await api('GET', `/children/${child.id}`);
    const newest = formOf(r.body);
    const merged = {};
    for (const k of Object.keys(newest)) merged[k] = v[k] !== base[k] ? v[k] : newest[k];
    setBase(newest);
    setV(merged);
    setEtag(r.headers.get('ETag'));
    setLatest(r.body);
    setError(null);
  };
  const errors = error ? error.fields() : {};
  const input = (k, label, attrs = {}) =>
    html`<${Field} id=${k} label=${label} error=${errors[k]}>
      ${(a) => html`<input ...${a} ...${attrs} value=${v[k]} onInput=${set(k)} />`}
    <//>`;
  return html`<${Page} title=${`${t('edit')}: ${child.given_name} ${child.family_name}`}>
    <${ErrorBox} error=${error} />
    ${error && error.status === 412 && html`<p><button type="button" id="use-latest" onClick=${useLatest}>${t('useLatest')}</button></p>`}
    ${latest && html`<div class="notice" role="status" id="latest-version"><p>${t('latestVersion')}</p>
      <dl class="details"><dt>${t('givenName')}</dt><dd>${latest.given_name}</dd><dt>${t('familyName')}</dt><dd>${latest.family_name}</dd><dt>${t('birthDate')}</dt><dd>${formatDate(latest.birth_date)}</dd></dl></div>`}
    <form onSubmit=${submit} class="narrow" novalidate>
      ${input('given_name', t('givenName'), { autocomplete: 'off' })}
      ${input('family_name', t('familyName'), { autocomplete: 'off' })}
      ${input('birth_date', t('birthDate'), { type: 'date' })}
      <${Field} id="sex" label=${t('sex')} error=${errors.sex}>
        ${(a) => html`<select ...${a} value=${v.sex} onChange=${set('sex')}>
          <option value="female">${t('female')}</option>
          <option value="male">${t('male')}</option>
        </select>`}
      <//>
      ${seesGestation(s) && input('gestational_age_weeks', t('gestationalAge'), { type: 'number', min: 20, max: 45 })}
      ${input('atvk', t('atvk'), { inputmode: 'numeric' })}
      <button type="submit" disabled=${busy}>${t('save')}</button>
    </form>
  <//>`;
}

/** The data protection officer: who has seen a child's data, by organisation, role and day. */
export function AuditReport({ query }) {
  const [child, setChild] = useState(query.get('child') || '');
  const [shown, setShown] = useState(query.get('child') || '');
  return html`<${Page} title=${t('auditReport')}>
    <form class="inline" onSubmit=${(e) => { e.preventDefault(); setShown(child.trim()); }}>
      <${Field} id="audit-child" label=${t('childId')}>${(a) => html`<input ...${a} value=${child} onInput=${(e) => setChild(e.target.value)} size="40" autocomplete="off" />`}<//>
      <button type="submit">${t('show')}</button>
    </form>
    ${shown &&
    html`<${Loader}
      load=${() => api('GET', '/audit/report', { query: { child: shown } }).then((r) => r.body)}
      deps=${[shown]}
      render=${(report) => html`
        <p id="audit-verification" class=${report.verification.intact ? 'success' : 'error'}>
          ${report.verification.intact ? t('chainIntact', { n: report.verification.entries }) : t('chainBroken', { n: report.verification.breaks.length })}
        </p>
        ${report.accesses.length === 0
          ? html`<p>${t('none')}</p>`
          : html`<table id="audit-accesses"><caption class="visually-hidden">${t('auditReport')}</caption>
            <thead><tr><th scope="col">${t('date')}</th><th scope="col">${t('organisation')}</th><th scope="col">${t('role')}</th><th scope="col">${t('reads')}</th><th scope="col">${t('writes')}</th><th scope="col">${t('denied')}</th><th scope="col">${t('breakGlass')}</th></tr></thead>
            <tbody>${report.accesses.map((a) => html`<tr><td>${formatDate(a.date)}</td><td>${a.organisation}</td><td>${a.roles.map((r) => t(`roles.${r}`)).join(', ')}</td><td>${a.reads}</td><td>${a.writes}</td><td>${a.denied}</td><td>${a.break_glass}</td></tr>`)}</tbody>
          </table>`}`}
    />`}
  <//>`;
}

/** Registry administrators: children flagged as possible duplicates, and merging them; and
 * every merge still in effect (GET /children/merges, newest first), each of which can be
 * undone with a reason, whenever it was made. */
export function Duplicates() {
  const [notice, setNotice] = useState(null);
  const [round, setRound] = useState(0);
  // The duplicate merged on this page last: its merge takes the focus when listed.
  const [justMerged, setJustMerged] = useState(null);
  const undone = (m) => {
    setJustMerged(null);
    setNotice(t('unmerged', { child: m.duplicate }));
    setRound(round + 1);
  };
  return html`<${Page} title=${t('duplicates')}>
    ${notice && html`<p class="success" role="status" id="unmerge-done">${notice}</p>`}
    <${Loader}
      load=${async () => {
        const page = (await api('GET', '/children/duplicates')).body;
        const ids = new Set();
        for (const d of page.items) [d.child_id, ...d.possible_duplicate_of].forEach((id) => ids.add(id));
        const children = {};
        await Promise.all([...ids].map(async (id) => {
          const r = await api('GET', `/children/${id}`);
          children[id] = { ...r.body, etag: r.headers.get('ETag') };
        }));
        return { items: page.items, children };
      }}
      deps=${[round]}
      render=${({ items, children }) =>
        items.length === 0
          ? html`<p>${t('noDuplicates')}</p>`
          : html`${items.map((d) => html`<${MergeCard} duplicate=${children[d.child_id]} candidates=${d.possible_duplicate_of.map((id) => children[id])} onMerged=${(m) => { setNotice(null); setJustMerged(m.duplicate.id); setRound(round + 1); }} />`)}`}
    />
    <h2>${t('pastMerges')}</h2>
    <${Merges} key=${round} focus=${justMerged} onUndone=${undone} />
  <//>`;
}

/** The merges in effect, newest first, page by page; each with its un-merge form. */
function Merges({ focus, onUndone }) {
  const pages = usePages('/children/merges', {});
  const [survivors, setSurvivors] = useState({});
  useEffect(() => {
    const missing = [...new Set(pages.items.map((m) => m.survivor))].filter((id) => !(id in survivors));
    if (!missing.length) return;
    Promise.all(missing.map((id) => api('GET', `/children/${id}`).then((r) => [id, r.body], () => [id, null]))).then((found) =>
      setSurvivors((known) => ({ ...known, ...Object.fromEntries(found) })),
    );
  }, [pages.items]);
  return html`${!pages.loading && !pages.error && pages.items.length === 0 && html`<p id="no-merges">${t('noMerges')}</p>`}
    ${pages.items.map((m) => html`<${UnmergeCard} key=${m.duplicate} merge=${m} survivor=${survivors[m.survivor]} focus=${focus === m.duplicate} onUndone=${() => onUndone(m)} />`)}
    <${More} pages=${pages} id="merges-more" />`;
}

const describe = (c) => `${c.given_name} ${c.family_name}, ${formatDate(c.birth_date)}${c.personal_code ? `, ${c.personal_code}` : ''} (${c.registered_by_org}, ${c.id.slice(0, 8)}…)`;

function MergeCard({ duplicate, candidates, onMerged }) {
  const [survivor, setSurvivor] = useState(candidates[0].id);
  const [reason, setReason] = useState('');
  const [error, setError] = useState(null);
  const [fieldError, setFieldError] = useState(null);
  const [busy, setBusy] = useState(false);
  const idp = `merge-${duplicate.id}`;
  const submit = async (e) => {
    e.preventDefault();
    setFieldError(null);
    if (!reason.trim()) {
      setFieldError(t('required'));
      return;
    }
    const target = candidates.find((c) => c.id === survivor);
    setBusy(true);
    setError(null);
    try {
      await api('POST', `/children/${survivor}/merge`, { body: { duplicate: duplicate.id, reason: reason.trim() }, headers: { 'If-Match': target.etag } });
      onMerged({ survivor: target, duplicate });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return html`<section class="card" aria-labelledby=${`${idp}-title`}>
    <h2 id=${`${idp}-title`}>${describe(duplicate)}</h2>
    <${ErrorBox} error=${error} />
    <form onSubmit=${submit} class="narrow" novalidate>
      <${Field} id=${`${idp}-survivor`} label=${t('mergeInto')}>
        ${(a) => html`<select ...${a} value=${survivor} onChange=${(e) => setSurvivor(e.target.value)}>
          ${candidates.map((c) => html`<option value=${c.id}>${describe(c)}</option>`)}
        </select>`}
      <//>
      <${Field} id=${`${idp}-reason`} label=${t('whyCol')} error=${fieldError}>
        ${(a) => html`<textarea ...${a} rows="2" value=${reason} onInput=${(e) => setReason(e.target.value)}></textarea>`}
      <//>
      <button type="submit" disabled=${busy}>${t('merge')}</button>
    </form>
  </section>`;
}

/** Undo a merge: `POST /children/{survivor}/unmerge` with a reason. The API refuses (409
 * changed-since-merge) when a record changed after the merge. The merged child answers 410,
 * so it is named by its id. */
function UnmergeCard({ merge, survivor, focus, onUndone }) {
  const [reason, setReason] = useState('');
  const [error, setError] = useState(null);
  const [fieldError, setFieldError] = useState(null);
  const [busy, setBusy] = useState(false);
  const idp = `unmerge-${merge.duplicate}`;
  // A merge just made on this page takes the focus (the next thing to act on).
  useEffect(() => {
    if (focus) document.getElementById(`${idp}-title`)?.focus();
  }, [focus]);
  const submit = async (e) => {
    e.preventDefault();
    setFieldError(null);
    if (!reason.trim()) {
      setFieldError(t('required'));
      document.getElementById(`${idp}-reason`)?.focus();
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await api('POST', `/children/${merge.survivor}/unmerge`, { body: { duplicate: merge.duplicate, reason: reason.trim() } });
      onUndone();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return html`<section class="card" aria-labelledby=${`${idp}-title`}>
    <h3 id=${`${idp}-title`} tabindex="-1">${t('mergedInto', { child: merge.duplicate, survivor: survivor ? describe(survivor) : merge.survivor })}</h3>
    <p class="muted">${t('mergedWhen', { when: formatDate(merge.merged_at), who: merge.merged_by.subject, org: merge.merged_by.organisation })} ${t('whyCol')}: ${merge.reason}</p>
    <${ErrorBox} error=${error} />
    <form onSubmit=${submit} class="narrow" novalidate>
      <${Field} id=${`${idp}-reason`} label=${t('unmergeReason')} error=${fieldError}>
        ${(a) => html`<textarea ...${a} rows="2" value=${reason} onInput=${(e) => setReason(e.target.value)}></textarea>`}
      <//>
      <button type="submit" id=${`${idp}-submit`} disabled=${busy}>${t('unmerge')}</button>
    </form>
  </section>`;
}
