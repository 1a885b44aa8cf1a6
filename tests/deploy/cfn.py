"""The SAM template, read and resolved the way CloudFormation would for one test stack.

Only what the deploy-like tests need: the intrinsic functions the template uses (Ref,
Fn::GetAtt, Fn::Sub, Fn::Join, Fn::If, Fn::Equals, Fn::Not, Fn::Or, Fn::And), physical
names for a given account, region and stack, and secrets from `{{resolve:…}}` dynamic
references. Anything it does not know raises, so a template change that this resolver
cannot follow fails the tests instead of being guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

TEMPLATE = Path(__file__).resolve().parents[2] / "infra" / "template.yaml"


class Tagged:
    """A short-form intrinsic (`!Sub …`) as read, before resolution."""

    def __init__(self, name: str, value: Any):
        self.name = name
        self.value = value

    def __repr__(self) -> str:
        return f"!{self.name} {self.value!r}"


class _Loader(yaml.SafeLoader):
    pass


def _tag_constructor(loader: yaml.Loader, suffix: str, node: yaml.Node) -> Tagged:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return Tagged(suffix, value)


_Loader.add_multi_constructor("!", _tag_constructor)


def load(text: str | None = None) -> dict:
    """The template as a dictionary (short-form intrinsics kept as `Tagged`)."""
    return yaml.load(TEMPLATE.read_text() if text is None else text, Loader=_Loader)


def template_text() -> str:
    return TEMPLATE.read_text()


@dataclass
class Stack:
    """One emulated deployment of the template: what every Ref, GetAtt and Sub resolves to."""

    template: dict
    account: str
    region: str
    name: str
    parameters: dict[str, Any]
    # Physical ids set once the resources exist (queue URLs, for example).
    physical: dict[str, str] = field(default_factory=dict)
    # `{{resolve:secretsmanager:<arn>:SecretString…}}` → value, by secret ARN.
    secrets: dict[str, str] = field(default_factory=dict)

    @property
    def resources(self) -> dict:
        return self.template["Resources"]

    def parameter(self, name: str) -> Any:
        if name in self.parameters:
            return self.parameters[name]
        spec = self.template["Parameters"][name]
        if "Default" not in spec:
            raise KeyError(f"parameter {name} has no value and no default")
        value = spec["Default"]
        if spec.get("Type") == "CommaDelimitedList" and isinstance(value, str):
            return [v.strip() for v in value.split(",")]
        return value

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.template["Conditions"][name]))

    # ------------------------------------------------------------ names

    def physical_name(self, logical: str) -> str:
        """The resource's name: its explicit name property, or `<stack>-<LogicalId>`."""
        resource = self.resources[logical]
        props = resource.get("Properties", {})
        for prop in ("BucketName", "TableName", "QueueName", "LogGroupName", "Name"):
            if prop in props:
                return self.resolve(props[prop])
        return f"{self.name}-{logical}"

    def ref(self, logical: str) -> Any:
        pseudo = {
            "AWS::AccountId": self.account,
            "AWS::Region": self.region,
            "AWS::StackName": self.name,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": None,
        }
        if logical in pseudo:
            return pseudo[logical]
        if logical in self.template.get("Parameters", {}):
            return self.parameter(logical)
        if logical in self.physical:
            return self.physical[logical]
        resource_type = self.resources[logical]["Type"]
        if resource_type == "AWS::SQS::Queue":
            raise KeyError(f"queue {logical} has no URL yet: create it first")
        if resource_type == "AWS::SecretsManager::Secret":
            return self.arn(logical)
        if resource_type == "AWS::KMS::Key":
            # A key the emulation did not create (emulated.py creates every key and records
            # its id in `physical` first).
            return "00000000-0000-4000-8000-000000000000"
        return self.physical_name(logical)

    def arn(self, logical: str) -> str:
        resource_type = self.resources[logical]["Type"]
        name = self.physical_name(logical)
        prefix = f"arn:aws:{{}}:{self.region}:{self.account}:"
        if resource_type == "AWS::S3::Bucket":
            return f"arn:aws:s3:::{name}"
        if resource_type == "AWS::DynamoDB::Table":
            return prefix.format("dynamodb") + f"table/{name}"
        if resource_type == "AWS::SQS::Queue":
            return prefix.format("sqs") + name
        if resource_type == "AWS::KMS::Key":
            return prefix.format("kms") + f"key/{self.ref(logical)}"
        if resource_type == "AWS::Logs::LogGroup":
            return prefix.format("logs") + f"log-group:{name}:*"
        if resource_type == "AWS::IAM::Role":
            return f"arn:aws:iam::{self.account}:role/{name}"
        if resource_type == "AWS::SecretsManager::Secret":
            return prefix.format("secretsmanager") + f"secret:{logical}"
        if resource_type == "AWS::SNS::Topic":
            return prefix.format("sns") + name
        raise KeyError(f"no ARN rule for {logical} ({resource_type})")

    def get_att(self, logical: str, attribute: str) -> Any:
        if attribute == "Arn":
            return self.arn(logical)
        if attribute == "QueueName":
            return self.physical_name(logical)
        if attribute == "QueueUrl":
            return self.ref(logical)
        if attribute == "DomainName" and self.resources[logical]["Type"] == "AWS::CloudFront::Distribution":
            # CloudFront's own domain of the distribution (d<id>.cloudfront.net).
            return f"d{logical.lower()}.cloudfront.net"
        raise KeyError(f"no rule for !GetAtt {logical}.{attribute}")

    # ------------------------------------------------------------ intrinsics

    def _sub(self, text: str, variables: dict[str, Any]) -> str:
        def one(match: re.Match) -> str:
            inner = match.group(1)
            if inner.startswith("!"):
                return "${" + inner[1:] + "}"
            if inner in variables:
                return str(self.resolve(variables[inner]))
            if "." in inner:
                logical, attribute = inner.split(".", 1)
                return str(self.get_att(logical, attribute))
            return str(self.ref(inner))

        return re.sub(r"\$\{([^}]+)\}", one, text)

    def _intrinsic(self, name: str, value: Any) -> Any:
        if name == "Ref":
            return self.ref(value)
        if name in ("GetAtt", "Fn::GetAtt"):
            logical, attribute = value.split(".", 1) if isinstance(value, str) else value
            return self.get_att(logical, attribute)
        if name in ("Sub", "Fn::Sub"):
            if isinstance(value, list):
                return self._sub(value[0], value[1])
            return self._sub(value, {})
        if name in ("Join", "Fn::Join"):
            separator, items = value
            return separator.join(str(i) for i in self.resolve(items) if i is not None)
        if name in ("If", "Fn::If"):
            condition, then, otherwise = value
            return self.resolve(then if self.condition(condition) else otherwise)
        if name in ("Equals", "Fn::Equals"):
            a, b = self.resolve(value)
            return a == b
        if name in ("Not", "Fn::Not"):
            return not self.resolve(value[0])
        if name in ("Or", "Fn::Or"):
            return any(self.resolve(v) for v in value)
        if name in ("And", "Fn::And"):
            return all(self.resolve(v) for v in value)
        if name == "Condition":
            return self.condition(value)
        raise KeyError(f"intrinsic function {name} is not supported by tests/deploy/cfn.py")

    def resolve(self, value: Any) -> Any:
        """A template value with every intrinsic function and dynamic reference resolved."""
        if isinstance(value, Tagged):
            return self.resolve(self._intrinsic(value.name, value.value))
        if isinstance(value, dict):
            if len(value) == 1:
                (key, inner), = value.items()
                if key == "Ref" or key.startswith("Fn::") or key == "Condition":
                    return self.resolve(self._intrinsic(key, inner))
            return {k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [r for r in (self.resolve(v) for v in value) if r is not None]
        if isinstance(value, str) and value.startswith("{{resolve:"):
            return self._dynamic_reference(value)
        return value

    def _dynamic_reference(self, reference: str) -> str:
        match = re.fullmatch(r"\{\{resolve:secretsmanager:(.+?):SecretString(?::[^}]*)?\}\}", reference)
        if not match or match.group(1) not in self.secrets:
            raise KeyError(f"no value for the dynamic reference {reference}")
        return self.secrets[match.group(1)]

    # ------------------------------------------------------------ functions

    def functions(self) -> dict[str, dict]:
        """Serverless functions by logical id."""
        return {
            logical: resource
            for logical, resource in self.resources.items()
            if resource["Type"] == "AWS::Serverless::Function"
        }

    def binary(self, logical: str) -> str:
        return self.functions()[logical]["Metadata"]["BuildProperties"]["Binary"]

    def function_setting(self, logical: str, prop: str) -> Any:
        props = self.functions()[logical]["Properties"]
        if prop in props:
            return self.resolve(props[prop])
        return self.resolve(self.template.get("Globals", {}).get("Function", {}).get(prop))

    def environment(self, logical: str) -> dict[str, str]:
        """The function's environment variables as the template sets them (globals, then its own)."""
        merged: dict[str, Any] = {}
        globals_env = self.template.get("Globals", {}).get("Function", {}).get("Environment", {})
        merged.update(globals_env.get("Variables", {}))
        own = self.functions()[logical]["Properties"].get("Environment", {})
        merged.update(own.get("Variables", {}))
        return {name: str(self.resolve(value)) for name, value in merged.items()}

    def role_of(self, function_logical: str) -> str:
        role = self.functions()[function_logical]["Properties"]["Role"]
        if not (isinstance(role, Tagged) and role.name == "GetAtt"):
            raise KeyError(f"{function_logical}: Role must be !GetAtt <Role>.Arn")
        return role.value.split(".")[0]

    def policies_of_role(self, role_logical: str) -> dict[str, dict]:
        """The AWS::IAM::Policy resources attached to a role, by logical id."""
        role = self.resources[role_logical]
        props = role.get("Properties", {})
        if props.get("Policies") or props.get("ManagedPolicyArns"):
            raise KeyError(f"{role_logical}: inline or managed role policies are not checked")
        out = {}
        for logical, resource in self.resources.items():
            if resource["Type"] != "AWS::IAM::Policy":
                continue
            roles = resource["Properties"].get("Roles", [])
            if any(isinstance(r, Tagged) and r.name == "Ref" and r.value == role_logical for r in roles):
                out[logical] = resource
        return out

    def sqs_triggers(self, function_logical: str) -> list[dict]:
        """The function's SQS event sources, resolved."""
        events = self.functions()[function_logical]["Properties"].get("Events", {})
        return [
            self.resolve(event["Properties"])
            for event in events.values()
            if event["Type"] == "SQS"
        ]
