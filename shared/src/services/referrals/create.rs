//! `POST /referrals`: the checks of a new referral and its first write.

use super::*;

impl<R: RecordStore> ReferralService<R> {
    /// `POST /referrals`.
    pub async fn create(
        &self,
        principal: &Principal,
        request_id: &str,
        input: NewReferralInput,
        idempotency: Option<IdempotencyRequest>,
    ) -> Result<Reply, ServiceError> {
        let child_id = input.child_id;
        let event = AuditEvent::all(child_id, AuditEntity::Referral, AuditAction::Create);
        let visible =
            access::visible_child(&self.records, principal, child_id, self.clock.now()).await?;
        self.audit
            .require_role(
                principal,
                request_id,
                REFERRERS,
                "refer a child",
                visible.is_some().then(|| event.clone()),
            )
            .await?;
        let Some((child, access)) = visible else {
            return Err(ServiceError::invalid(
                "child_id",
                "is not a registered child you may see",
            ));
        };
        if let Some(reply) = idempotency::replay(&self.records, idempotency.as_ref()).await? {
            let id = reply.body["id"].as_str().unwrap_or_default().to_owned();
            self.record(
                principal,
                request_id,
                event.of(id).with_outcome(AuditOutcome::Replayed),
                Some(&access),
            )
            .await?;
            return Ok(reply);
        }
        // The referring organisation is the support episode's `referring_org` once support
        // starts, so it must be in the registry.
        if self
            .records
            .get(&keys::organisation(&principal.organisation))
            .await?
            .is_none()
        {
            return Err(ServiceError::Forbidden(format!(
                "your organisation ({}) is not in the registry; a registry administrator registers it before it refers children",
                principal.organisation
            )));
        }
        let today = self.today();
        let mut errors = Vec::new();
        // What the basis recommends, when it is a result's recommendation.
        let mut recommended: Option<(Option<String>, Option<NaiveDate>, RecommendationKind)> = None;
        match &input.basis {
            ReferralBasis::Result { screening_id, rule } => {
                let screening = self.records.get(&keys::screening(*screening_id)).await?;
                let same_child = screening
                    .as_ref()
                    .is_some_and(|s| s.data["child_id"].as_str() == Some(&child_id.to_string()));
                if !same_child {
                    errors.push(FieldError::new(
                        "basis.result.screening_id",
                        "is not a screening of this child",
                    ));
                } else {
                    let results = all_results(&self.records, *screening_id).await?;
                    let found = results.last().and_then(|r| {
                        r["recommendations"].as_array().and_then(|recs| {
                            recs.iter().find_map(|rec| {
                                let kind: RecommendationKind =
                                    serde_json::from_value(rec["kind"].clone()).ok()?;
                                (rec["rule"].as_str() == Some(rule.as_str())
                                    && matches!(
                                        kind,
                                        RecommendationKind::ReferralProgramme
                                            | RecommendationKind::ReferralInDepthAssessment
                                            | RecommendationKind::ReferralUrgent
                                    ))
                                .then(|| {
                                    (
                                        rec["programme"].as_str().map(str::to_owned),
                                        rec["due_on"].as_str().and_then(|d| d.parse().ok()),
                                        kind,
                                    )
                                })
                            })
                        })
                    });
                    match found {
                        Some(f) => recommended = Some(f),
                        None => errors.push(FieldError::new(
                            "basis.result.rule",
                            "is not a referral recommendation of this screening's latest result",
                        )),
                    }
                }
            }
            ReferralBasis::Reason { text } => {
                if let Err(e) = check_reason("basis.reason.text", Some(text), true) {
                    errors.push(e);
                }
            }
        }
        let programme = input
            .programme
            .clone()
            .or_else(|| recommended.as_ref().and_then(|r| r.0.clone()));
        match &programme {
            None if errors.is_empty() => errors.push(FieldError::new(
                "programme",
                "is required: the recommendation names no programme",
            )),
            None => {}
            Some(id) => {
                if let Some(e) = self.check_programme(id, &child, today).await? {
                    errors.push(e);
                }
            }
        }
        match self
            .records
            .get(&keys::organisation(&input.provider_org))
            .await?
        {
            Some(r) if r.data["status"] == "inactive" => errors.push(FieldError::new(
                "provider_org",
                "is an inactive organisation",
            )),
            Some(_) => {}
            None => errors.push(FieldError::new(
                "provider_org",
                "is not a registered organisation",
            )),
        }
        if input.provider_org == principal.organisation {
            errors.push(FieldError::new(
                "provider_org",
                "is your own organisation: record a support episode instead",
            ));
        }
        if let Some(sid) = input.specialist_id {
            let works_here = match self.records.get(&keys::specialist(sid)).await? {
                Some(r) => {
                    let s: Specialist = decode(&r)?;
                    s.status == RegistryStatus::Active
                        && s.organisations.contains(&principal.organisation)
                }
                None => false,
            };
            if !works_here {
                errors.push(FieldError::new(
                    "specialist_id",
                    "is not an active specialist of your organisation",
                ));
            }
        }
        let urgency = input.urgency.unwrap_or(match recommended {
            Some((_, _, RecommendationKind::ReferralUrgent)) => Urgency::Urgent,
            _ => Urgency::Routine,
        });
        let due_on = input
            .due_on
            .or(recommended.as_ref().and_then(|r| r.1))
            .unwrap_or_else(|| today + Days::new(urgency.default_due_days()));
        if input.due_on.is_some_and(|d| d < today) {
            errors.push(FieldError::new("due_on", "must not be in the past"));
        }
        if !errors.is_empty() {
            return Err(ServiceError::Validation(errors));
        }
        let now = self.clock.now();
        let agreement = input.family_agreement.unwrap_or(AgreementStatus::NotAsked);
        let referral = Referral {
            id: ReferralId::from_uuid(self.ids.new_id()),
            child_id,
            programme: programme.unwrap_or_default(),
            provider_org: input.provider_org,
            referring_org: principal.organisation.clone(),
            referring_subject: principal.subject.clone(),
            referring_specialist_id: input.specialist_id,
            basis: input.basis,
            urgency,
            due_on,
            state: ReferralState::Proposed,
            family_agreement: agreement_record(agreement, principal, now),
            decline_reason: None,
            end_reason: None,
            outcome: None,
            episode_id: None,
            care_until: None,
            history: vec![step(ReferralState::Proposed, principal, now, None)],
            created_at: now,
        };
        let event_id = self.ids.new_id().to_string();
        let record = Record::new(keys::referral(referral.id), encode(&referral)?).with_index(
            keys::child_index(child_id),
            keys::child_referral_index(referral.id),
        );
        let mut reply = self.reply(principal, 201, &referral, 1, true)?;
        reply.location = Some(format!("/referrals/{}", referral.id));
        let committed = idempotency::commit(
            &self.records,
            vec![
                WriteOp::PutNew(record),
                self.worklist.pending_marker(child_id, &event_id),
            ],
            idempotency.as_ref(),
            reply,
            now.timestamp(),
        )
        .await?;
        let (reply, outcome) = match committed {
            Committed::Applied(r) => (r, AuditOutcome::Success),
            Committed::Replayed(r) => (r, AuditOutcome::Replayed),
        };
        care::record_link(
            &self.records,
            child_id,
            &referral.referring_org,
            CareBasis::Referred,
            now,
        )
        .await?;
        self.worklist.settle(child_id, &event_id).await;
        let id = reply.body["id"].as_str().unwrap_or_default().to_owned();
        self.record(
            principal,
            request_id,
            event.of(id).with_outcome(outcome),
            Some(&access),
        )
        .await?;
        Ok(reply)
    }

    /// Why `id` cannot take a new referral of this child today, if it cannot.
    async fn check_programme(
        &self,
        id: &str,
        child: &crate::domain::Child,
        today: NaiveDate,
    ) -> Result<Option<FieldError>, ServiceError> {
        let entry = catalogue::entry(&self.records, id).await?.map(|(e, _)| e);
        Ok(match entry {
            None => Some(FieldError::new(
                "programme",
                "is not a programme or service of the catalogue",
            )),
            Some(e) if e.kind == EntryKind::Instrument => Some(FieldError::new(
                "programme",
                "is a screening instrument, not a programme or service",
            )),
            Some(e) if e.status == EntryStatus::Retired => Some(FieldError::new(
                "programme",
                "is retired and takes no new referrals",
            )),
            Some(e) => {
                let age = completed_months(child.birth_date, today);
                e.target_age_months.filter(|r| !r.contains(age)).map(|r| {
                    FieldError::new(
                        "programme",
                        format!(
                            "is for children aged {} to {} months; the child is {age} months old",
                            r.min, r.max
                        ),
                    )
                })
            }
        })
    }
}
