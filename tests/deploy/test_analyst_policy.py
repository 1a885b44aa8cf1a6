"""The analysts' Athena access (infra/template.yaml AnalystPolicy and AnalystRole;
docs/REPORTS.md, "Querying the lake with Athena"), evaluated with the deploy-like tests'
IAM evaluator (iam.py) on the template as a deployment would resolve it: what an analyst's
query needs is allowed, and nothing else in the stack — other workgroups, databases,
tables, buckets, prefixes, keys, or any write but query results.

No emulated stack: the template alone (run by scripts/deploy-test.sh with the others).
"""

import pytest

from cfn import Stack, load
from iam import Request, statements

ACCOUNT = "123456789012"
REGION = "eu-north-1"


def stack(**parameters):
    s = Stack(template=load(), account=ACCOUNT, region=REGION, name="ravis-dev",
              parameters=parameters)
    # Every KMS key its own id (without an emulation cfn.py gives them all one).
    for n, (logical, resource) in enumerate(sorted(s.resources.items())):
        if resource["Type"] == "AWS::KMS::Key":
            s.physical[logical] = f"00000000-0000-4000-8000-{n:012d}"
    return s


def allowed(s, action, resource, **context):
    request = Request(action=action, resource=resource, context=tuple(context.items()))
    policy = statements(s, "AnalystPolicy")
    return (any(st.effect == "Allow" and st.matches(request) for st in policy)
            and not any(st.effect == "Deny" and st.matches(request) for st in policy))


def names(s):
    bucket = s.arn("AnalyticsBucket")
    workgroup = f"arn:aws:athena:{REGION}:{ACCOUNT}:workgroup/{s.ref('AnalyticsWorkGroup')}"
    glue = f"arn:aws:glue:{REGION}:{ACCOUNT}:"
    database = s.ref("AnalyticsDatabase")
    return bucket, workgroup, glue, database


VIA_S3 = {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}
VIA_ATHENA = {"kms:ViaService": f"athena.{REGION}.amazonaws.com"}


def test_an_analysts_query_is_allowed():
    s = stack()
    bucket, workgroup, glue, database = names(s)
    key = s.arn("AnalyticsKey")
    for action in ("StartQueryExecution", "GetQueryExecution", "GetQueryResults",
                   "StopQueryExecution", "GetWorkGroup"):
        assert allowed(s, f"athena:{action}", workgroup), action
    for action in ("GetDatabase", "GetTable", "GetTables", "GetPartitions"):
        for resource in (f"{glue}catalog", f"{glue}database/{database}",
                         f"{glue}table/{database}/results"):
            assert allowed(s, f"glue:{action}", resource), (action, resource)
    assert allowed(s, "s3:GetBucketLocation", bucket)
    assert allowed(s, "s3:ListBucket", bucket, **{"s3:prefix": "lake/results/year=2026/"})
    assert allowed(s, "s3:GetObject", f"{bucket}/lake/results/year=2026/part-0.parquet")
    assert allowed(s, "s3:PutObject", f"{bucket}/athena-results/0f3c.csv")
    assert allowed(s, "s3:GetObject", f"{bucket}/athena-results/0f3c.csv")
    for action in ("kms:Decrypt", "kms:GenerateDataKey"):
        assert allowed(s, action, key, **VIA_S3), action
        assert allowed(s, action, key, **VIA_ATHENA), action


@pytest.mark.parametrize("case", [
    "other workgroup", "workgroup admin", "other database", "other table", "catalog write",
    "lake write", "lake delete", "results delete", "other prefix", "list results",
    "list everything", "other bucket", "key directly", "other key", "key encrypt",
])
def test_nothing_else_is_allowed(case):
    s = stack()
    bucket, workgroup, glue, database = names(s)
    key = s.arn("AnalyticsKey")
    action, resource, context = {
        "other workgroup": ("athena:StartQueryExecution",
                            f"arn:aws:athena:{REGION}:{ACCOUNT}:workgroup/primary", {}),
        "workgroup admin": ("athena:UpdateWorkGroup", workgroup, {}),
        "other database": ("glue:GetTables", f"{glue}database/default", {}),
        "other table": ("glue:GetTable", f"{glue}table/default/children", {}),
        "catalog write": ("glue:UpdateTable", f"{glue}table/{database}/results", {}),
        "lake write": ("s3:PutObject", f"{bucket}/lake/results/year=2026/part-0.parquet", {}),
        "lake delete": ("s3:DeleteObject", f"{bucket}/lake/results/year=2026/part-0.parquet", {}),
        "results delete": ("s3:DeleteObject", f"{bucket}/athena-results/0f3c.csv", {}),
        "other prefix": ("s3:GetObject", f"{bucket}/other/file", {}),
        "list results": ("s3:ListBucket", bucket, {"s3:prefix": "athena-results/"}),
        "list everything": ("s3:ListBucket", bucket, {}),
        "other bucket": ("s3:GetObject", f"{s.arn('ReportsBucket')}/reports/1/report.csv", {}),
        "key directly": ("kms:Decrypt", key, {}),
        "other key": ("kms:Decrypt", s.arn("DataKey"), VIA_S3),
        "key encrypt": ("kms:Encrypt", key, VIA_S3),
    }[case]
    assert not allowed(s, action, resource, **context)


def test_the_role_exists_only_for_a_named_principal_and_has_the_policy_only():
    assert not stack().condition("HasAnalystPrincipal")
    analysts = "arn:aws:iam::210987654321:role/ministry-analysts"
    s = stack(AnalystPrincipalArn=analysts)
    assert s.condition("HasAnalystPrincipal")
    role = s.resources["AnalystRole"]
    assert role["Condition"] == "HasAnalystPrincipal"
    props = s.resolve(role["Properties"])
    [trust] = props["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"AWS": analysts}
    assert set(trust["Action"]) == {"sts:AssumeRole", "sts:SetSourceIdentity"}
    assert props["ManagedPolicyArns"] == [s.ref("AnalystPolicy")]
    assert "Policies" not in props
    # No inline policy of the stack is attached to it either.
    assert not any(
        r["Type"] == "AWS::IAM::Policy" and "AnalystRole" in str(r["Properties"].get("Roles"))
        for r in s.resources.values()
    )
