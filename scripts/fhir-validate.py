#!/usr/bin/env python3
"""Validates the FHIR resources RAVIS produces, with third-party code (issue 12, item 8).

    fhir-validate.py DIR

Every `*.json` file in DIR must be a FHIR R4B resource (a transaction Bundle or a
Provenance, as the exports write them) or a JWKS (`{"keys": [...]}`). Each resource is
parsed with the R4B models of PyPI `fhir.resources` (types, cardinalities, choice types,
primitive formats), then the core invariants below are evaluated with PyPI `fhirpathpy`,
and the rules of the receiver's API that RAVIS follows (docs/EXPORTS.md). Exits 1 naming
the file, the resource and the rule of every failure; 2 on bad usage or an empty directory.

Invariant expressions are those of the FHIR R4B (4.3.0) specification
(hl7.org/fhir/R4B/bundle.html, questionnaireresponse.html, observation.html,
domainresource.html, section "Constraints"). `dom-6` (narrative, a best-practice warning)
and `ele-1` (checked by the models: empty elements do not parse) are not evaluated here.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from fhir.resources.R4B import get_fhir_model_class
from fhirpathpy import evaluate
from fhirpathpy.models import models

# fhirpathpy has no R4B model; R4's resolves the choice types ([x]) these rules use, which
# R4B did not change for these resources.
MODEL = models["r4"]

# (key, context path inside the resource, expression, human text)
BUNDLE = [
    ("bdl-1", "Bundle", "total.empty() or (type = 'searchset') or (type = 'history')",
     "total only when a search or history"),
    ("bdl-2", "Bundle", "entry.search.empty() or (type = 'searchset')",
     "entry.search only when a search"),
    ("bdl-3", "Bundle",
     "entry.all(request.exists() = (%resource.type = 'batch' or %resource.type = 'transaction'"
     " or %resource.type = 'history'))",
     "entry.request mandatory for batch/transaction/history, otherwise prohibited"),
    ("bdl-4", "Bundle",
     "entry.all(response.exists() = (%resource.type = 'batch-response' or "
     "%resource.type = 'transaction-response' or %resource.type = 'history'))",
     "entry.response mandatory for batch-response/transaction-response/history, otherwise prohibited"),
    ("bdl-5", "entry", "resource.exists() or request.exists() or response.exists()",
     "must be a resource unless there's a request or response"),
    ("bdl-7", "Bundle",
     "(type = 'history') or entry.where(fullUrl.exists()).select(fullUrl&resource.meta.versionId).isDistinct()",
     "FullUrl must be unique in a bundle, or else entries with the same fullUrl must have different meta.versionId"),
    ("bdl-8", "entry", "fullUrl.contains('/_history/').not()",
     "fullUrl cannot be a version specific reference"),
    ("bdl-9", "Bundle",
     "type = 'document' implies (identifier.system.exists() and identifier.value.exists())",
     "a document must have an identifier with a system and a value"),
    # R4B: timestamp.hasValue(); fhirpathpy has no hasValue(), and for a primitive without
    # extensions exists() is the same test.
    ("bdl-10", "Bundle", "type = 'document' implies (timestamp.exists())",
     "a document must have a date"),
    ("bdl-11", "Bundle", "type = 'document' implies entry.first().resource.is(Composition)",
     "a document must have a Composition as the first resource"),
    ("bdl-12", "Bundle", "type = 'message' implies entry.first().resource.is(MessageHeader)",
     "a message must have a MessageHeader as the first resource"),
]

DOMAIN_RESOURCE = [
    ("dom-2", "$this", "contained.contained.empty()",
     "if the resource is contained in another resource, it SHALL NOT contain nested Resources"),
    ("dom-4", "$this", "contained.meta.versionId.empty() and contained.meta.lastUpdated.empty()",
     "a contained resource SHALL NOT have a meta.versionId or a meta.lastUpdated"),
    ("dom-5", "$this", "contained.meta.security.empty()",
     "a contained resource SHALL NOT have a security label"),
]

RESOURCE = {
    "QuestionnaireResponse": [
        ("qrs-1", "descendants().where(linkId.exists())", "(answer.exists() and item.exists()).not()",
         "nested item can't be beneath both item and answer"),
        ("qrs-2", "$this",
         "repeat(answer|item).select(item.where(answer.value.exists()).linkId.isDistinct()).allTrue()",
         "repeated answers are combined in the answers array of a single item"),
    ],
    "Observation": [
        ("obs-3", "referenceRange", "low.exists() or high.exists() or text.exists()",
         "must have at least a low or a high or text"),
        ("obs-6", "$this", "dataAbsentReason.empty() or value.empty()",
         "dataAbsentReason SHALL only be present if Observation.value[x] is not present"),
        ("obs-7", "$this",
         "value.empty() or component.code.where(coding.intersect(%resource.code.coding).exists()).empty()",
         "if Observation.code is the same as an Observation.component.code then the value "
         "element associated with the code SHALL NOT be present"),
    ],
}

# The receiver's rules RAVIS follows (issue 12; docs/EXPORTS.md).
RAVIS_BUNDLE = [
    ("ravis-type", "Bundle", "type = 'transaction'", "exports are transaction Bundles"),
    ("ravis-no-id", "entry",
     "resource.id.empty() and resource.meta.versionId.empty() and resource.meta.lastUpdated.empty()",
     "no id, meta.versionId or meta.lastUpdated on create or conditional update"),
    ("ravis-conditional", "entry",
     "(request.method = 'POST' and request.ifNoneExist.startsWith('identifier=')) or "
     "(request.method = 'PUT' and request.url.contains('?identifier='))",
     "conditional create (ifNoneExist) or conditional update on a business identifier"),
    ("ravis-urn-uuid", "entry", "fullUrl.startsWith('urn:uuid:')", "fullUrl is a urn:uuid"),
    ("ravis-no-patient", "entry", "resource.is(Patient).not()",
     "the Patient is referenced by identifier, never written"),
]

RAVIS_PROVENANCE = [
    ("sigprov-target", "target", "reference.exists() and type.exists() and identifier.empty() and display.empty()",
     "target has reference and type, no identifier or display"),
    ("sigprov-recorded", "$this", "recorded.exists()", "recorded 1..1"),
    ("sigprov-forbidden", "$this",
     "id.empty() and occurred.empty() and policy.empty() and location.empty() and reason.empty()",
     "no id, occurred[x], policy, location or reason"),
    ("sigprov-signature", "$this",
     "signature.count() = 1 and signature.all(sigFormat = 'application/jose' and data.exists())",
     "one JWS signature (sigFormat application/jose, data)"),
]


def check_rules(rules, resource: dict, where: str) -> list[str]:
    errors = []
    env = {"resource": resource, "rootResource": resource}
    for key, context, expression, human in rules:
        if context in ("$this", resource.get("resourceType")):
            nodes = [resource]
        else:
            nodes = evaluate(resource, context, env, MODEL)
        for i, node in enumerate(nodes):
            try:
                result = evaluate(node, expression, env, MODEL)
            except Exception as e:  # noqa: BLE001 - report any evaluation failure as such
                errors.append(f"{where}: {key} could not be evaluated: {e}")
                continue
            if result not in ([True], []):
                at = "" if len(nodes) == 1 and context in ("$this", resource.get("resourceType")) else f" at {context}[{i}]"
                errors.append(f"{where}{at}: invariant {key} failed: {human}")
    return errors


def check_resource(resource: dict, where: str) -> list[str]:
    kind = resource.get("resourceType")
    if not isinstance(kind, str):
        return [f"{where}: no resourceType"]
    try:
        get_fhir_model_class(kind).model_validate(resource)
    except KeyError:
        return [f"{where}: {kind} is not an R4B resource type"]
    except Exception as e:  # noqa: BLE001 - pydantic's ValidationError names every field
        return [f"{where}: not a valid R4B {kind}: {e}"]
    errors = check_rules(DOMAIN_RESOURCE, resource, where) if kind != "Bundle" else []
    errors += check_rules(RESOURCE.get(kind, []), resource, where)
    return errors


def check_file(path: Path) -> tuple[str, list[str]]:
    name = path.name
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        return "unreadable", [f"{name}: not JSON: {e}"]
    if isinstance(doc, dict) and "keys" in doc and "resourceType" not in doc:
        errors = []
        for i, key in enumerate(doc["keys"]):
            for field, want in (("kty", "EC"), ("crv", "P-256"), ("use", "sig"), ("alg", "ES256")):
                if key.get(field) != want:
                    errors.append(f"{name}: JWKS keys[{i}].{field} is {key.get(field)!r}, not {want!r}")
            for field in ("x", "y", "kid"):
                if not key.get(field):
                    errors.append(f"{name}: JWKS keys[{i}].{field} missing")
        return "jwks", errors
    if not isinstance(doc, dict):
        return "unknown", [f"{name}: not a JSON object"]
    kind = doc.get("resourceType")
    errors = check_resource(doc, f"{name}: {kind}")
    if errors:
        return str(kind), errors
    if kind == "Bundle":
        errors += check_rules(BUNDLE + RAVIS_BUNDLE, doc, f"{name}: Bundle")
        for i, entry in enumerate(doc.get("entry", [])):
            res = entry.get("resource", {})
            errors += check_resource(res, f"{name}: entry[{i}] {res.get('resourceType')}")
    elif kind == "Provenance":
        errors += check_rules(RAVIS_PROVENANCE, doc, f"{name}: Provenance")
    return str(kind), errors


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    directory = Path(argv[1])
    files = sorted(directory.glob("*.json"))
    if not files:
        print(f"fhir-validate: no *.json files in {directory}", file=sys.stderr)
        return 2
    failures, kinds = [], {}
    for path in files:
        kind, errors = check_file(path)
        kinds[kind] = kinds.get(kind, 0) + 1
        failures += errors
    for line in failures:
        print(f"fhir-validate: {line}", file=sys.stderr)
    summary = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    if failures:
        print(f"fhir-validate: {len(failures)} failure(s) in {len(files)} files ({summary})", file=sys.stderr)
        return 1
    if not kinds.get("Bundle"):
        print(f"fhir-validate: no Bundle in {directory}", file=sys.stderr)
        return 2
    print(f"fhir-validate: {len(files)} files valid ({summary})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
