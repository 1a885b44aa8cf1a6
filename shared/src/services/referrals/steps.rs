//! A referral's steps (`POST /referrals/{id}/transitions`), the episode a start creates or
//! links and a completion closes, and the family's agreement.

use super::*;

impl<R: RecordStore> ReferralService<R> {
    /// `POST /referrals/{id}/transitions` at version `expected` (see `domain/referral.rs`).
    pub async fn transition(
        &self,
        principal: &Principal,
        request_id: &str,
        id: ReferralId,
        expected: u64,
        input: TransitionInput,
    ) -> Result<Reply, ServiceError> {
        require_role(principal, PERSON_READERS, "change referrals")?;
        let (record, mut referral, _) = self.load(principal, id).await?;
        let to = input.to;
        let (from, side) = step_rule(to);
        let owner = match side {
            Side::Referring => &referral.referring_org,
            Side::Provider => &referral.provider_org,
        };
        if &principal.organisation != owner {
            return Err(ServiceError::Forbidden(format!(
                "only the {} organisation ({owner}) may move a referral to {}",
                match side {
                    Side::Referring => "referring",
                    Side::Provider => "provider",
                },
                to.as_str()
            )));
        }
        let errors = check_transition(&input, self.today());
        if !errors.is_empty() {
            return Err(ServiceError::Validation(errors));
        }
        check_version("referral", record.version, expected)?;
        if !from.contains(&referral.state) {
            return Err(ServiceError::Conflict {
                slug: "invalid-transition",
                detail: format!(
                    "a {} referral cannot be moved to {}; {} follows {}",
                    referral.state.as_str(),
                    to.as_str(),
                    to.as_str(),
                    from.iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(" or ")
                ),
                existing_id: None,
            });
        }
        if to == ReferralState::Sent && referral.family_agreement.status != AgreementStatus::Agreed
        {
            return Err(ServiceError::Conflict {
                slug: "family-agreement-missing",
                detail: "a referral is sent only with the family's agreement: record it (PUT /referrals/{id}/family-agreement) first".into(),
                existing_id: None,
            });
        }
        let now = self.clock.now();
        let mut writes = Vec::new();
        match to {
            ReferralState::Declined => {
                referral.decline_reason = input.reason.as_deref().map(|r| r.trim().to_owned())
            }
            ReferralState::Started => {
                let episode = self.start_episode(&referral, &input).await?;
                referral.episode_id = Some(episode.0.id);
                writes.push(episode.1);
            }
            ReferralState::Completed | ReferralState::Ended => {
                referral.outcome = input.outcome;
                referral.end_reason = Some(input.end_reason.unwrap_or(EndReason::Completed));
                if let Some(close) = self.close_episode(&referral, &input).await? {
                    writes.push(close);
                }
            }
            _ => {}
        }
        let had_care = referral.state.grants_care();
        referral.state = to;
        if had_care && to.is_final() {
            referral.care_until = Some(now + chrono::Duration::days(self.grace_days.into()));
        }
        referral
            .history
            .push(step(to, principal, now, input.reason.clone()));
        let event_id = self.ids.new_id().to_string();
        writes.push(WriteOp::PutVersioned {
            record: reencoded(record, &referral)?,
            expected,
        });
        writes.push(self.worklist.pending_marker(referral.child_id, &event_id));
        self.records
            .transact(writes)
            .await
            .map_err(|e| concurrent("referral", e))?;
        if to.grants_care() || (had_care && to.is_final()) {
            care::record_referral(
                &self.records,
                referral.child_id,
                &referral.provider_org,
                referral.id,
                referral.care_until,
                now,
            )
            .await?;
        }
        self.worklist.settle(referral.child_id, &event_id).await;
        self.changed(principal, request_id, &referral, expected + 1)
            .await
    }

    /// The episode a start links (an open one of the child at the provider) or creates,
    /// with its write.
    async fn start_episode(
        &self,
        referral: &Referral,
        input: &TransitionInput,
    ) -> Result<(SupportEpisode, WriteOp), ServiceError> {
        if let Some(eid) = input.episode_id {
            let record = self.records.get(&keys::episode(eid)).await?;
            let episode: Option<SupportEpisode> = record.as_ref().map(decode).transpose()?;
            return match (record, episode) {
                (Some(record), Some(mut e))
                    if e.child_id == referral.child_id
                        && e.provider_org == referral.provider_org
                        && e.is_open()
                        && e.referral_id.is_none() =>
                {
                    e.referral_id = Some(referral.id);
                    let version = record.version;
                    let write = WriteOp::PutVersioned {
                        record: reencoded(record, &e)?,
                        expected: version,
                    };
                    Ok((e, write))
                }
                _ => Err(ServiceError::invalid(
                    "episode_id",
                    "is not an open support episode of this child at the provider without a referral",
                )),
            };
        }
        let episode_input = EpisodeUpdateInput {
            programme: referral.programme.clone(),
            provider_org: referral.provider_org.clone(),
            specialist_id: input.specialist_id,
            referring_org: Some(referral.referring_org.clone()),
            referral_date: referral
                .sent_on()
                .unwrap_or(referral.created_at.date_naive()),
            referral_source: match &referral.basis {
                ReferralBasis::Result { screening_id, .. } => ReferralSource::Screening {
                    screening_id: *screening_id,
                },
                ReferralBasis::Reason { text } => ReferralSource::Text { text: text.clone() },
            },
            start_date: Some(input.date.unwrap_or(self.today())),
            end_date: None,
            outcome: None,
            end_reason: None,
            planned_end_date: input.planned_end_date,
            last_review_on: None,
        };
        let episode_input = check_episode_references(
            &self.records,
            referral.child_id,
            episode_input,
            Some(&referral.programme),
            self.today(),
        )
        .await?
        .map_err(|errors| {
            // The episode's fields are this step's `date` and `specialist_id`.
            ServiceError::Validation(
                errors
                    .into_iter()
                    .map(|e| match e.field.as_str() {
                        "start_date" => FieldError::new("date", e.reason),
                        _ => e,
                    })
                    .collect(),
            )
        })?;
        let mut episode = SupportEpisode::new(
            EpisodeId::from_uuid(self.ids.new_id()),
            referral.child_id,
            episode_input,
            self.clock.now(),
        );
        episode.referral_id = Some(referral.id);
        let write = WriteOp::PutNew(
            Record::new(keys::episode(episode.id), encode(&episode)?).with_index(
                keys::child_index(referral.child_id),
                keys::child_episode_index(episode.id),
            ),
        );
        Ok((episode, write))
    }

    /// The write closing the referral's episode with its outcome, if it is still open.
    async fn close_episode(
        &self,
        referral: &Referral,
        input: &TransitionInput,
    ) -> Result<Option<WriteOp>, ServiceError> {
        let Some(eid) = referral.episode_id else {
            return Ok(None);
        };
        let Some(record) = self.records.get(&keys::episode(eid)).await? else {
            return Ok(None);
        };
        let mut episode: SupportEpisode = decode(&record)?;
        if !episode.is_open() {
            return Ok(None);
        }
        let end = input.date.unwrap_or(self.today());
        if episode.start_date.is_some_and(|s| end < s) {
            return Err(ServiceError::invalid(
                "date",
                "must not be before the start of support",
            ));
        }
        episode.end_date = Some(end);
        episode.outcome = referral.outcome;
        episode.end_reason = referral.end_reason;
        let version = record.version;
        Ok(Some(WriteOp::PutVersioned {
            record: reencoded(record, &episode)?,
            expected: version,
        }))
    }

    /// `PUT /referrals/{id}/family-agreement` at version `expected` (referring organisation).
    pub async fn set_agreement(
        &self,
        principal: &Principal,
        request_id: &str,
        id: ReferralId,
        expected: u64,
        input: AgreementInput,
    ) -> Result<Reply, ServiceError> {
        require_role(principal, REFERRERS, "record a family's agreement")?;
        let (record, mut referral, _) = self.load(principal, id).await?;
        if principal.organisation != referral.referring_org {
            return Err(ServiceError::Forbidden(format!(
                "only the referring organisation ({}) records the family's agreement",
                referral.referring_org
            )));
        }
        check_version("referral", record.version, expected)?;
        if referral.state.is_final() {
            return Err(ServiceError::Conflict {
                slug: "invalid-transition",
                detail: format!(
                    "the referral is {}; its family agreement no longer changes",
                    referral.state.as_str()
                ),
                existing_id: None,
            });
        }
        referral.family_agreement = agreement_record(input.status, principal, self.clock.now());
        let version = self
            .records
            .put_versioned(reencoded(record, &referral)?, expected)
            .await
            .map_err(|e| concurrent("referral", e))?;
        self.changed(principal, request_id, &referral, version)
            .await
    }

    /// The `200` answer of a changed referral at `version`, once the change is in the
    /// child's audit trail.
    async fn changed(
        &self,
        principal: &Principal,
        request_id: &str,
        referral: &Referral,
        version: u64,
    ) -> Result<Reply, ServiceError> {
        // Read again: the change itself may have given or ended the caller's access.
        let access = self.access_to_child(principal, referral.child_id).await?;
        let reply = self.reply(principal, 200, referral, version, access.is_some())?;
        self.record(
            principal,
            request_id,
            AuditEvent::all(
                referral.child_id,
                AuditEntity::Referral,
                AuditAction::Update,
            )
            .of(referral.id),
            access.as_ref(),
        )
        .await?;
        Ok(reply)
    }
}
