"""RAVIS-specific checks of infra/template.yaml that cfn-lint and checkov do not make.

They pin the contract between the template and the Rust code (binary names, routes,
environment variables) and the operational rules of docs/DEPLOY.md (queue visibility
versus consumer timeout, a dead-letter queue alarm for every DLQ, log retention, no
wildcard resources, every checkov suppression explained).

It also checks samconfig.toml against the template: every environment names known
parameters and gives every parameter without a default, stacks are ravis-dev/ravis-prod
in eu-north-1, and prod asks for change set confirmation.

Usage: python check_invariants.py TEMPLATE SAMCONFIG  (needs cfn-lint installed, for its
YAML loader that understands the short intrinsic-function tags). Exits 1 on any finding.
"""

from __future__ import annotations

import sys
import tomllib

from cfnlint.decode import decode

# The contract with the Rust side: logical id -> (binary, routes, extra env vars).
FUNCTIONS = {
    "ChildrenApiFunction": {
        "binary": "children-api",
        "routes": {
            ("POST", "/children"),
            ("GET", "/children/{id}"),
            ("PUT", "/children/{id}"),
            ("POST", "/children/search"),
            ("GET", "/audit"),
            ("GET", "/audit/report"),
            ("POST", "/children/{id}/break-the-glass"),
            ("GET", "/audit/break-the-glass"),
            ("POST", "/children/{id}/merge"),
            ("POST", "/children/{id}/unmerge"),
            ("GET", "/children/duplicates"),
            ("POST", "/organisations"),
            ("GET", "/organisations"),
            ("GET", "/organisations/{id}"),
            ("PUT", "/organisations/{id}"),
            ("POST", "/specialists"),
            ("GET", "/specialists"),
            ("GET", "/specialists/{id}"),
            ("PUT", "/specialists/{id}"),
            ("POST", "/specialists/{id}/certifications"),
            ("GET", "/specialists/{id}/certifications"),
            ("POST", "/support-episodes"),
            ("GET", "/support-episodes"),
            ("GET", "/support-episodes/{id}"),
            ("PUT", "/support-episodes/{id}"),
            ("POST", "/representatives"),
            ("GET", "/representatives/{id}"),
            ("PUT", "/representatives/{id}"),
            ("GET", "/children/{id}/representatives"),
            ("POST", "/referrals"),
            ("GET", "/referrals"),
            ("GET", "/referrals/{id}"),
            ("POST", "/referrals/{id}/transitions"),
            ("PUT", "/referrals/{id}/family-agreement"),
            ("GET", "/worklist"),
            ("GET", "/children"),
            ("GET", "/exports"),
            ("GET", "/exports/{id}"),
            ("POST", "/exports/{id}/retry"),
            ("POST", "/reports"),
            ("GET", "/reports"),
            ("GET", "/reports/{id}"),
            ("GET", "/reports/{id}/files/{name}"),
            ("GET", "/children/merges"),
            ("GET", "/intake/jobs"),
            ("GET", "/intake/jobs/{id}"),
            ("GET", "/intake/jobs/{id}/errors"),
        },
        "env": {
            "RAVIS_PARTNER_BUCKET",
            "RAVIS_EXPORT_QUEUE_URL",
            "RAVIS_REPORT_QUEUE_URL",
            "RAVIS_REPORT_DLQ_URL",
            "RAVIS_REPORTS_BUCKET",
            "RAVIS_BREAK_GLASS_MINUTES",
            "RAVIS_REFERRAL_GRACE_DAYS",
            "RAVIS_REVIEW_MONTHS_UNDER_3",
            "RAVIS_REVIEW_MONTHS_FROM_3",
        },
    },
    "ScreeningsApiFunction": {
        "binary": "screenings-api",
        "routes": {
            ("POST", "/screenings"),
            ("GET", "/screenings/{id}"),
            ("GET", "/children/{id}/risk-profile"),
            ("POST", "/screenings/{id}/rescore"),
            ("GET", "/catalogue/programmes"),
            ("GET", "/catalogue/programmes/{id}"),
            ("GET", "/catalogue/instruments"),
            ("GET", "/catalogue/instruments/{id}/wording/{lang}"),
            ("GET", "/catalogue/entries"),
            ("POST", "/catalogue/entries"),
            ("GET", "/catalogue/entries/{id}"),
            ("PUT", "/catalogue/entries/{id}"),
            ("POST", "/catalogue/entries/{id}/retire"),
        },
        "env": {"RAVIS_SCORING_QUEUE_URL", "RAVIS_WORDING_BUCKET"},
    },
    "ScoringWorkerFunction": {
        "binary": "scoring-worker",
        "routes": set(),
        "env": {
            "RAVIS_SCORING_QUEUE_URL",
            "RAVIS_SCORING_DLQ_URL",
            "RAVIS_EXPORT_QUEUE_URL",
            "RAVIS_REVIEW_MONTHS_UNDER_3",
            "RAVIS_REVIEW_MONTHS_FROM_3",
        },
    },
    "AuditArchiverFunction": {
        "binary": "audit-archiver",
        "routes": set(),
        "env": set(),
    },
    "WorklistSweepFunction": {
        "binary": "worklist-sweep",
        "routes": set(),
        "env": {"RAVIS_REVIEW_MONTHS_UNDER_3", "RAVIS_REVIEW_MONTHS_FROM_3"},
    },
    "ExportsWorkerFunction": {
        "binary": "exports-worker",
        "routes": set(),
        "env": {
            "RAVIS_EXPORT_QUEUE_URL",
            "RAVIS_EXPORT_DLQ_URL",
            "RAVIS_EXCHANGE_BUCKET",
            "RAVIS_FHIR_SIGNING_KEY_ID",
            "RAVIS_FHIR_URL",
            "RAVIS_FHIR_TOKEN_URL",
            "RAVIS_FHIR_CLIENT_ID",
            "RAVIS_FHIR_CLIENT_SECRET",
            "RAVIS_FHIR_PERSONAL_CODE_SYSTEM",
            "RAVIS_FHIR_PROFILES",
            "RAVIS_VIIS_URL",
            "RAVIS_VIIS_TOKEN_URL",
            "RAVIS_VIIS_CLIENT_ID",
            "RAVIS_VIIS_CLIENT_SECRET",
        },
    },
    "ReportsFunction": {
        "binary": "reports",
        "routes": set(),
        "env": {
            "RAVIS_REPORT_QUEUE_URL",
            "RAVIS_REPORT_DLQ_URL",
            "RAVIS_REPORTS_BUCKET",
            "RAVIS_OPEN_DATA_BUCKET",
            "RAVIS_ANALYTICS_BUCKET",
            "RAVIS_DISCLOSURE_THRESHOLD",
            "RAVIS_OPEN_DATA_BASE_URL",
            "RAVIS_OPEN_DATA_PUBLISHER",
            "RAVIS_OPEN_DATA_CONTACT",
            "RAVIS_CKAN_URL",
            "RAVIS_CKAN_TOKEN",
            "RAVIS_CKAN_ORGANISATION",
        },
    },
    "IntakeWorkerFunction": {
        "binary": "intake-worker",
        "routes": set(),
        "env": {"RAVIS_PARTNER_BUCKET", "RAVIS_INTAKE_QUEUE_URL", "RAVIS_INTAKE_DLQ_URL"},
    },
}

# Read by shared/src/config.rs in every deployed function.
GLOBAL_ENV = {
    "RAVIS_ENV",
    "RAVIS_TABLE_NAME",
    "RAVIS_JWT_ISSUER",
    "RAVIS_JWT_AUDIENCE",
    "RAVIS_JWT_ALGORITHMS",
    "RAVIS_JWT_PUBLIC_KEY_PEM",
    "RAVIS_JWT_JWKS_URL",
    "RAVIS_IDENTITY_HMAC_KEY",
    "RAVIS_PSEUDONYM_KEY",
    "RAVIS_AUDIT_RETENTION_DAYS",
    "RAVIS_AUDIT_ARCHIVE_BUCKET",
    "RAVIS_LOG",
}

# The audit archive (docs/SECURITY.md, "Audit archive"): its bucket, and the only actions
# any function may be allowed on it.
AUDIT_ARCHIVE_BUCKET = "AuditArchiveBucket"
ARCHIVE_ALLOWED_ACTIONS = {"s3:PutObject", "s3:GetObject", "s3:ListBucket"}
# Actions nothing in the stack may be allowed anywhere: they delete or unlock stored objects.
NEVER_ALLOWED_S3_ACTIONS = {
    "s3:*",
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:BypassGovernanceRetention",
    "s3:PutObjectRetention",
    "s3:PutBucketObjectLockConfiguration",
}

# The one prefix objects may be deleted under: the analytics lake, rewritten whole by the
# lake writer (docs/REPORTS.md), which deletes years without rows or past retention.
LAKE_OBJECTS = "${AnalyticsBucket.Arn}/lake/*"

# The analysts' managed policy (docs/REPORTS.md, "Querying the lake with Athena"): it may
# name only the lake's bucket, key, Glue database and Athena workgroup, and write only
# query results.
ANALYST_POLICY = "AnalystPolicy"
ANALYST_RESOURCES = ("AnalyticsBucket", "AnalyticsKey", "AnalyticsDatabase", "AnalyticsWorkGroup")
ANALYST_WRITES = {"s3:PutObject": "${AnalyticsBucket.Arn}/athena-results/*"}
# Glue authorises reads of a table on the account's catalog as well.
GLUE_CATALOG = "arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:catalog"

# samconfig.toml environments -> stack name.
SAM_ENVIRONMENTS = {"default": "ravis-dev", "dev": "ravis-dev", "prod": "ravis-prod"}
REGION = "eu-north-1"

# Actions that have no resource-level permissions, so "*" is the only possible resource.
WILDCARD_RESOURCE_ACTIONS = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}

DLQ_RETENTION_SECONDS = 14 * 24 * 3600
MAX_RECEIVE_COUNT = 5
VISIBILITY_FACTOR = 6


class Findings:
    """Collects failed checks and counts all of them."""

    def __init__(self) -> None:
        self.checked = 0
        self.failed: list[str] = []

    def check(self, ok: bool, message: str) -> None:
        self.checked += 1
        if not ok:
            self.failed.append(message)


def logical_id(value) -> str | None:
    """The logical id named by a Ref or a GetAtt (short or long form)."""
    if isinstance(value, dict):
        if "Ref" in value:
            return value["Ref"]
        if "Fn::GetAtt" in value:
            att = value["Fn::GetAtt"]
            return att[0] if isinstance(att, list) else str(att).split(".")[0]
    return None


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def check_samconfig(f: Findings, template: dict, path: str) -> None:
    """Checks the SAM CLI environments against the template's parameters."""
    # Imported here: only the samconfig check needs SAM CLI's own override parser.
    from samcli.cli.types import CfnParameterOverridesType

    with open(path, "rb") as file:
        config = tomllib.load(file)
    params = template.get("Parameters", {})
    required = {k for k, v in params.items() if "Default" not in v}
    for env, stack in SAM_ENVIRONMENTS.items():
        section = config.get(env, {})
        glob = section.get("global", {}).get("parameters", {})
        deploy = section.get("deploy", {}).get("parameters", {})
        f.check(glob.get("stack_name") == stack, f"{path} [{env}]: stack_name is not {stack}")
        f.check(glob.get("region") == REGION, f"{path} [{env}]: region is not {REGION}")
        f.check(deploy.get("capabilities") == "CAPABILITY_IAM", f"{path} [{env}]: capabilities is not CAPABILITY_IAM")
        f.check(deploy.get("resolve_s3") is True, f"{path} [{env}]: resolve_s3 is not true")
        f.check(deploy.get("confirm_changeset") is (env == "prod"), f"{path} [{env}]: confirm_changeset must be true exactly for prod")
        overrides = CfnParameterOverridesType().convert(deploy.get("parameter_overrides", []), None, None)
        f.check(set(overrides) <= set(params), f"{path} [{env}]: unknown parameters {sorted(set(overrides) - set(params))}")
        f.check(required <= set(overrides), f"{path} [{env}]: parameters without default not given {sorted(required - set(overrides))}")
        f.check(overrides.get("Environment") == ("prod" if env == "prod" else "dev"), f"{path} [{env}]: Environment does not match")


def main(path: str, samconfig: str) -> int:
    template, matches = decode(path)
    if template is None:
        for match in matches:
            print(f"cannot read {path}: {match}")
        return 1
    resources = template.get("Resources", {})
    globals_fn = template.get("Globals", {}).get("Function", {})
    f = Findings()

    def of_type(kind: str) -> dict:
        return {k: v for k, v in resources.items() if v.get("Type") == kind}

    # Deployments run on arm64; x86_64 only where a build machine cannot link for arm64.
    architecture = template.get("Parameters", {}).get("Architecture", {})
    f.check(
        architecture.get("Default") == "arm64"
        and sorted(architecture.get("AllowedValues", [])) == ["arm64", "x86_64"],
        "parameter Architecture must default to arm64 and allow only arm64 and x86_64",
    )

    functions = of_type("AWS::Serverless::Function")
    f.check(
        set(functions) == set(FUNCTIONS),
        f"functions are {sorted(functions)}, expected {sorted(FUNCTIONS)}",
    )
    policies_by_role = {}
    for name, policy in of_type("AWS::IAM::Policy").items():
        for role in as_list(policy["Properties"].get("Roles", [])):
            policies_by_role.setdefault(logical_id(role), []).append(name)

    binaries = []
    for name, fn in functions.items():
        spec = FUNCTIONS.get(name, {"binary": None, "routes": set(), "env": set()})
        props = fn.get("Properties", {})
        meta = fn.get("Metadata", {})

        def prop(key, default=None):
            return props.get(key, globals_fn.get(key, default))

        # Build and runtime shape.
        binary = meta.get("BuildProperties", {}).get("Binary")
        binaries.append(binary)
        f.check(meta.get("BuildMethod") == "rust-cargolambda", f"{name}: BuildMethod is not rust-cargolambda")
        f.check(binary == spec["binary"], f"{name}: Binary is {binary!r}, expected {spec['binary']!r}")
        f.check(prop("Runtime") == "provided.al2023", f"{name}: Runtime is not provided.al2023")
        f.check(
            prop("Architectures") == [{"Ref": "Architecture"}],
            f"{name}: Architectures is not [!Ref Architecture]",
        )
        f.check(prop("Handler") == "bootstrap", f"{name}: Handler is not bootstrap")
        f.check(prop("Tracing") == "Active", f"{name}: Tracing is not Active")

        # Environment: the globals plus the function's own.
        env = set(globals_fn.get("Environment", {}).get("Variables", {}))
        env |= set(props.get("Environment", {}).get("Variables", {}))
        expected_env = GLOBAL_ENV | spec["env"]
        f.check(
            env == expected_env,
            f"{name}: environment has {sorted(env - expected_env)} extra, {sorted(expected_env - env)} missing",
        )

        # Routes: exactly the contract, all on the one HTTP API, none opting out of auth.
        events = props.get("Events", {})
        routes = set()
        for event_name, event in events.items():
            ep = event.get("Properties", {})
            if event.get("Type") == "HttpApi":
                routes.add((ep.get("Method", "").upper(), ep.get("Path")))
                f.check(logical_id(ep.get("ApiId")) == "HttpApi", f"{name}.{event_name}: not on HttpApi")
                f.check("Auth" not in ep, f"{name}.{event_name}: overrides the default JWT authorizer")
        f.check(routes == spec["routes"], f"{name}: routes {sorted(routes)}, expected {sorted(spec['routes'])}")

        # SQS consumers: partial batch failures, and the queue hides a message long enough.
        timeout = int(prop("Timeout", 3))
        for event_name, event in events.items():
            if event.get("Type") != "SQS":
                continue
            ep = event.get("Properties", {})
            f.check(
                "ReportBatchItemFailures" in ep.get("FunctionResponseTypes", []),
                f"{name}.{event_name}: no ReportBatchItemFailures",
            )
            queue_id = logical_id(ep.get("Queue"))
            queue = resources.get(queue_id, {}).get("Properties", {})
            visibility = int(queue.get("VisibilityTimeout", 30))
            f.check(
                visibility >= VISIBILITY_FACTOR * timeout,
                f"{name}.{event_name}: {queue_id} VisibilityTimeout {visibility} < {VISIBILITY_FACTOR} x Timeout {timeout}",
            )

        # Logs: own log group with retention, writable by the function's own policy only.
        group_id = logical_id(props.get("LoggingConfig", {}).get("LogGroup"))
        group = resources.get(group_id, {})
        f.check(group.get("Type") == "AWS::Logs::LogGroup", f"{name}: LoggingConfig.LogGroup is not a LogGroup of this stack")
        f.check("RetentionInDays" in group.get("Properties", {}), f"{name}: log group has no retention")

        # Exactly one policy on the function's own role.
        role_id = logical_id(props.get("Role"))
        f.check(resources.get(role_id, {}).get("Type") == "AWS::IAM::Role", f"{name}: Role is not a role of this stack")
        f.check(len(policies_by_role.get(role_id, [])) == 1, f"{name}: role {role_id} has {policies_by_role.get(role_id, [])} policies, expected one")
        f.check(
            set(policies_by_role.get(role_id, [])) <= set(as_list(fn.get("DependsOn", []))),
            f"{name}: does not DependsOn its policy (the SQS trigger is validated against it)",
        )

    f.check(len(binaries) == len(set(binaries)), f"binary names are not unique: {binaries}")

    # Dead-letter queues: redrive after 5 receives, 14 days' retention, an alarm each.
    queues = of_type("AWS::SQS::Queue")
    dlqs = set()
    for name, queue in queues.items():
        redrive = queue.get("Properties", {}).get("RedrivePolicy")
        f.check(
            "KmsMasterKeyId" in queue.get("Properties", {}) or queue.get("Properties", {}).get("SqsManagedSseEnabled") is True,
            f"{name}: not encrypted",
        )
        if redrive is None:
            continue
        dlq = logical_id(redrive.get("deadLetterTargetArn"))
        dlqs.add(dlq)
        f.check(int(redrive.get("maxReceiveCount", 0)) == MAX_RECEIVE_COUNT, f"{name}: maxReceiveCount is not {MAX_RECEIVE_COUNT}")
    alarmed = set()
    for name, alarm in of_type("AWS::CloudWatch::Alarm").items():
        props = alarm.get("Properties", {})
        if props.get("Namespace") != "AWS/SQS" or props.get("MetricName") != "ApproximateNumberOfMessagesVisible":
            continue
        if int(props.get("Threshold", -1)) != 0 or props.get("ComparisonOperator") != "GreaterThanThreshold":
            continue
        for dim in props.get("Dimensions", []):
            if dim.get("Name") == "QueueName":
                alarmed.add(logical_id(dim.get("Value")))
    for dlq in sorted(dlqs):
        props = queues.get(dlq, {}).get("Properties", {})
        f.check(dlq in queues, f"dead-letter target {dlq} is not a queue of this stack")
        f.check(int(props.get("MessageRetentionPeriod", 0)) == DLQ_RETENTION_SECONDS, f"{dlq}: retention is not 14 days")
        f.check(dlq in alarmed, f"{dlq}: no ApproximateNumberOfMessagesVisible > 0 alarm")

    # Log groups keep logs for a bounded, stated time.
    for name, group in of_type("AWS::Logs::LogGroup").items():
        f.check("RetentionInDays" in group.get("Properties", {}), f"{name}: no RetentionInDays")

    # Inline policies of the functions' roles and the managed policies (the analysts').
    all_policies = {**of_type("AWS::IAM::Policy"), **of_type("AWS::IAM::ManagedPolicy")}

    # IAM: a "*" resource only for actions that cannot be scoped.
    for name, policy in all_policies.items():
        for stmt in policy["Properties"]["PolicyDocument"]["Statement"]:
            if stmt.get("Effect") != "Allow" or "*" not in as_list(stmt.get("Resource")):
                continue
            actions = set(as_list(stmt.get("Action")))
            f.check(
                actions <= WILDCARD_RESOURCE_ACTIONS,
                f"{name}.{stmt.get('Sid')}: Resource '*' for scopable actions {sorted(actions - WILDCARD_RESOURCE_ACTIONS)}",
            )

    # Buckets: every bucket expires what it holds (docs/SECURITY.md, "Retention"), with at
    # least one enabled lifecycle rule; the audit archive is versioned and Object-Locked.
    for name, bucket in of_type("AWS::S3::Bucket").items():
        props = bucket.get("Properties", {})
        rules = props.get("LifecycleConfiguration", {}).get("Rules", [])
        f.check(
            any(r.get("Status") == "Enabled" for r in rules),
            f"{name}: no enabled lifecycle rule (every bucket states how long it keeps objects)",
        )
    archive = resources.get(AUDIT_ARCHIVE_BUCKET, {}).get("Properties", {})
    f.check(archive.get("ObjectLockEnabled") is True, f"{AUDIT_ARCHIVE_BUCKET}: ObjectLockEnabled is not true")
    lock = archive.get("ObjectLockConfiguration", {})
    retention = lock.get("Rule", {}).get("DefaultRetention", {})
    f.check(lock.get("ObjectLockEnabled") == "Enabled", f"{AUDIT_ARCHIVE_BUCKET}: ObjectLockConfiguration is not Enabled")
    f.check("Mode" in retention and ("Years" in retention or "Days" in retention), f"{AUDIT_ARCHIVE_BUCKET}: no default retention")
    f.check(archive.get("VersioningConfiguration", {}).get("Status") == "Enabled", f"{AUDIT_ARCHIVE_BUCKET}: not versioned")
    f.check(
        archive.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [{}])[0]
        .get("ServerSideEncryptionByDefault", {}).get("SSEAlgorithm") == "aws:kms",
        f"{AUDIT_ARCHIVE_BUCKET}: not encrypted with the KMS data key",
    )

    # Every bucket has a TLS-only policy.
    tls_only = set()
    for name, policy in of_type("AWS::S3::BucketPolicy").items():
        props = policy.get("Properties", {})
        for stmt in props.get("PolicyDocument", {}).get("Statement", []):
            cond = stmt.get("Condition", {}).get("Bool", {})
            if stmt.get("Effect") == "Deny" and cond.get("aws:SecureTransport") in ("false", False):
                tls_only.add(logical_id(props.get("Bucket")))
    for name in of_type("AWS::S3::Bucket"):
        f.check(name in tls_only, f"{name}: no bucket policy denying requests without TLS")

    # IAM: nothing deletes or unlocks objects; on the archive only put, read back and list.
    for name, policy in all_policies.items():
        for stmt in policy["Properties"]["PolicyDocument"]["Statement"]:
            if stmt.get("Effect") != "Allow":
                continue
            actions = set(as_list(stmt.get("Action")))
            if all(LAKE_OBJECTS in str(r) for r in as_list(stmt.get("Resource"))):
                # The lake writer's full snapshot deletes the years it no longer writes.
                actions -= {"s3:DeleteObject"}
            f.check(
                not (actions & NEVER_ALLOWED_S3_ACTIONS),
                f"{name}.{stmt.get('Sid')}: allows {sorted(actions & NEVER_ALLOWED_S3_ACTIONS)}",
            )
            on_archive = any(
                AUDIT_ARCHIVE_BUCKET in str(r) for r in as_list(stmt.get("Resource"))
            )
            if on_archive:
                f.check(
                    actions <= ARCHIVE_ALLOWED_ACTIONS,
                    f"{name}.{stmt.get('Sid')}: {sorted(actions - ARCHIVE_ALLOWED_ACTIONS)} on the audit archive",
                )

    # The analysts' policy: allows only, on the lake's own resources only, no action
    # wildcards, and writes nothing but query results.
    analyst = resources.get(ANALYST_POLICY, {})
    f.check(analyst.get("Type") == "AWS::IAM::ManagedPolicy", f"{ANALYST_POLICY}: not a managed policy of this stack")
    for stmt in analyst.get("Properties", {}).get("PolicyDocument", {}).get("Statement", []):
        sid = stmt.get("Sid")
        actions = set(as_list(stmt.get("Action")))
        targets = as_list(stmt.get("Resource"))
        f.check(stmt.get("Effect") == "Allow" and "NotAction" not in stmt and "NotResource" not in stmt,
                f"{ANALYST_POLICY}.{sid}: only plain Allow statements")
        f.check(not any("*" in a for a in actions), f"{ANALYST_POLICY}.{sid}: action wildcard in {sorted(actions)}")
        f.check(
            all(
                any(r in str(t) for r in ANALYST_RESOURCES)
                or (isinstance(t, dict) and t.get("Fn::Sub") == GLUE_CATALOG)
                for t in targets
            ),
            f"{ANALYST_POLICY}.{sid}: a resource outside {ANALYST_RESOURCES}",
        )
        for action, only in ANALYST_WRITES.items():
            if action in actions:
                f.check(all(only in str(t) for t in targets), f"{ANALYST_POLICY}.{sid}: {action} outside {only}")
        f.check(
            not any(a.split(":")[-1].startswith(("Delete", "Put", "Create", "Update")) for a in actions - set(ANALYST_WRITES)),
            f"{ANALYST_POLICY}.{sid}: a writing action in {sorted(actions)}",
        )

    # The HTTP API authenticates every route by default.
    api = resources.get("HttpApi", {}).get("Properties", {})
    f.check(api.get("Auth", {}).get("DefaultAuthorizer") == "JwtAuthorizer", "HttpApi: JwtAuthorizer is not the default authorizer")
    # CORS admits exactly the web client's origin (docs/WEB.md): one origin, never "*".
    cors = api.get("CorsConfiguration")
    if cors is not None:
        origins = as_list(cors.get("AllowOrigins"))
        f.check(len(origins) == 1 and origins[0] != "*", f"HttpApi: CORS allows {origins}, not exactly the web client's origin")
        f.check("*" not in as_list(cors.get("AllowHeaders")), "HttpApi: CORS allows every header")
    f.check("AccessLogSettings" in api, "HttpApi: no access logging")

    # Every checkov suppression says why.
    for name, res in resources.items():
        for skip in res.get("Metadata", {}).get("checkov", {}).get("skip", []):
            f.check(len(str(skip.get("comment", "")).strip()) >= 20, f"{name}: checkov skip {skip.get('id')} without a real reason")

    check_samconfig(f, template, samconfig)

    for message in f.failed:
        print(message)
    print(f"infra invariants: {f.checked} checks, {len(f.failed)} findings")
    return 1 if f.failed else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print("usage: check_invariants.py TEMPLATE SAMCONFIG", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))
