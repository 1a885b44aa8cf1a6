// The pure parts of changing a support episode (node --test).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkEpisode, episodeBody, episodeForm, mayEditEpisode } from '../src/episode.js';

const episode = {
  id: 'e1',
  child_id: 'c1',
  programme: 'early-intervention-psychomotor',
  provider_org: 'dev-provider',
  referring_org: 'clinic-1',
  referral_date: '2026-10-01',
  referral_source: { text: 'parents ask' },
  start_date: '2026-10-05',
  open: true,
  version: 3,
};

test('who is offered the change: writers, and a provider for its own episodes', () => {
  const as = (role, organisation) => ({ roles: [role], organisation });
  assert.equal(mayEditEpisode(as('health_specialist', 'clinic-9'), episode), true);
  assert.equal(mayEditEpisode(as('programme_provider', 'dev-provider'), episode), true);
  assert.equal(mayEditEpisode(as('programme_provider', 'other-provider'), episode), false);
  assert.equal(mayEditEpisode(as('education_specialist', 'dev-provider'), episode), false);
  // A summary (no referral source) cannot be sent back whole.
  const { referral_source: _, ...summary } = episode;
  assert.equal(mayEditEpisode(as('health_specialist', 'clinic-9'), summary), false);
});

test('the rules of the API are checked before sending', () => {
  const today = '2026-12-07';
  const v = { ...episodeForm(episode) };
  assert.deepEqual(checkEpisode(v, episode.referral_date, today), {});
  assert.deepEqual(checkEpisode({ ...v, end_date: '2026-12-01' }, episode.referral_date, today), {
    outcome: 'requiredOnceEnd',
    end_reason: 'requiredOnceEnd',
  });
  assert.deepEqual(checkEpisode({ ...v, outcome: 'goals_met' }, episode.referral_date, today), { outcome: 'onlyWithEnd' });
  assert.deepEqual(
    checkEpisode({ ...v, end_date: '2026-12-08', outcome: 'goals_met', end_reason: 'completed', last_review_on: '2026-10-01' }, episode.referral_date, today),
    { end_date: 'dateFuture', last_review_on: 'notBeforeStart' },
  );
  assert.deepEqual(checkEpisode({ ...v, start_date: '', planned_end_date: '2027-01-01' }, episode.referral_date, today), {
    planned_end_date: 'requiresStart',
  });
  assert.deepEqual(checkEpisode({ ...v, start_date: '2026-09-30' }, episode.referral_date, today), { start_date: 'notBeforeReferral' });
});

test('the body sends the fixed fields as read and empty fields as null', () => {
  const body = episodeBody(episode, { ...episodeForm(episode), last_review_on: '2026-12-01' });
  assert.deepEqual(body, {
    programme: 'early-intervention-psychomotor',
    provider_org: 'dev-provider',
    specialist_id: null,
    referring_org: 'clinic-1',
    referral_date: '2026-10-01',
    referral_source: { text: 'parents ask' },
    start_date: '2026-10-05',
    planned_end_date: null,
    last_review_on: '2026-12-01',
    end_date: null,
    outcome: null,
    end_reason: null,
  });
});
