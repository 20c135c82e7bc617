"""The template: loading, SAM's Globals rules, and a Stack that resolves intrinsic functions locally."""

from __future__ import annotations

import base64
import copy
import functools
import logging
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

LOG = logging.getLogger("sam_local")

ACCOUNT_ID = "123456789012"  # moto's default account


class TemplateError(Exception):
    """The template (or the way it is used) is not something this runner can run."""


class UnresolvableReference(TemplateError):
    """An intrinsic function refers to something that has no local value."""


# --------------------------------------------------------------------------- template loading


def load_template(path: Path) -> dict[str, Any]:
    """Read a CloudFormation/SAM template, turning short-form tags (!Ref, !Sub...) into dicts.
    Each call has its own copy (to change as it likes); a text parsed before is not parsed
    again."""
    text = Path(path).read_text(encoding="utf-8")
    template = copy.deepcopy(_parsed_template(text))
    if not isinstance(template, dict) or not isinstance(template.get("Resources"), dict):
        raise TemplateError(f"{path} has no Resources section")
    return template


@functools.lru_cache(maxsize=8)
def _parsed_template(text: str) -> Any:
    class CfnLoader(yaml.SafeLoader):
        pass

    def construct_tag(loader: CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        if suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)  # !GetAtt Queue.Arn is short for [Queue, Arn]
        key = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
        return {key: value}

    CfnLoader.add_multi_constructor("!", construct_tag)
    return yaml.load(text, Loader=CfnLoader)  # a SafeLoader subclass


def merge_globals(global_value: Any, local_value: Any) -> Any:
    """SAM's Globals rules: maps merge (local wins), lists concatenate (globals first)."""
    if _is_intrinsic(global_value) or _is_intrinsic(local_value):
        return local_value
    if isinstance(global_value, dict) and isinstance(local_value, dict):
        merged = dict(global_value)
        for key, value in local_value.items():
            merged[key] = merge_globals(global_value[key], value) if key in merged else value
        return merged
    if isinstance(global_value, list) and isinstance(local_value, list):
        return global_value + local_value
    return local_value


def _is_intrinsic(value: Any) -> bool:
    if not isinstance(value, dict) or len(value) != 1:
        return False
    (key,) = value
    return key == "Ref" or key.startswith("Fn::")


# --------------------------------------------------------------------------- intrinsic functions

_NO_VALUE = object()  # AWS::NoValue: the surrounding key or list item disappears
_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")
# The resource types made on the local AWS endpoint, and the service that makes each.
LOCAL_RESOURCE_SERVICES = {
    "AWS::SQS::Queue": "sqs",
    "AWS::DynamoDB::Table": "dynamodb",
    "AWS::SecretsManager::Secret": "secretsmanager",
    "AWS::KMS::Key": "kms",
}
_FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function")


class Stack:
    """A template plus the local values its intrinsic functions resolve to."""

    def __init__(
        self,
        template_path: str | os.PathLike[str],
        parameter_values: Mapping[str, Any],
        stack_name: str,
        region: str,
    ) -> None:
        self.path = Path(template_path).resolve()
        self.dir = self.path.parent
        self.template = load_template(self.path)
        self.name = stack_name
        self.region = region
        self.resources: dict[str, dict[str, Any]] = self.template["Resources"]
        self.globals: dict[str, Any] = self.template.get("Globals") or {}
        self.pseudo = {
            "AWS::Region": region,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::StackName": stack_name,
            "AWS::StackId": f"arn:aws:cloudformation:{region}:{ACCOUNT_ID}:stack/{stack_name}/0",
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }
        self.parameters = self._parameter_values(parameter_values)
        # Attributes ("Ref", "Arn", ...) of the resources created on the local AWS endpoint.
        self.physical: dict[str, dict[str, Any]] = {}

    def _parameter_values(self, given: Mapping[str, Any]) -> dict[str, Any]:
        values = {}
        for name, declaration in (self.template.get("Parameters") or {}).items():
            if name in given:
                value = given[name]
            elif "Default" in declaration:
                value = declaration["Default"]
            else:
                continue  # only an error if something refers to it
            if declaration.get("Type") == "CommaDelimitedList" and isinstance(value, str):
                values[name] = value.split(",")
            else:
                values[name] = value if isinstance(value, list) else str(value)
        return values

    def is_active(self, logical_id: str) -> bool:
        condition = self.resources[logical_id].get("Condition")
        return condition is None or self.condition(condition)

    def condition(self, name: str) -> bool:
        conditions = self.template.get("Conditions") or {}
        if name not in conditions:
            raise TemplateError(f"unknown condition {name}")
        return bool(self.resolve(conditions[name]))

    def resolve(self, value: Any) -> Any:
        """Evaluate every intrinsic function in value (Ref, Fn::GetAtt, Fn::Sub, ...)."""
        if isinstance(value, dict):
            if len(value) == 1:
                ((key, argument),) = value.items()
                function = self._FUNCTIONS.get(key)
                if function is not None:
                    return function(self, argument)
            resolved = {key: self.resolve(item) for key, item in value.items()}
            return {key: item for key, item in resolved.items() if item is not _NO_VALUE}
        if isinstance(value, list):
            return [item for item in map(self.resolve, value) if item is not _NO_VALUE]
        return value

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in (self.template.get("Parameters") or {}):
            raise TemplateError(f"parameter {name} has no Default; give it a value")
        return self.attributes(name)["Ref"]

    def get_att(self, logical_id: str, attribute: str) -> Any:
        attributes = self.attributes(logical_id)
        if attribute not in attributes:
            raise UnresolvableReference(f"no local value for !GetAtt {logical_id}.{attribute}")
        return attributes[attribute]

    def attributes(self, logical_id: str) -> Mapping[str, Any]:
        """The local values of a resource's Ref and attributes."""
        if logical_id in self.physical:
            return self.physical[logical_id]
        resource = self.resources.get(logical_id)
        if resource is None:
            raise TemplateError(f"reference to unknown resource or parameter {logical_id}")
        kind = resource.get("Type")
        properties = resource.get("Properties") or {}
        if kind in _FUNCTION_TYPES:
            name = self.function_name(logical_id)
            return {
                "Ref": name,
                "Arn": f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:function:{name}",
            }
        if kind == "AWS::Serverless::LayerVersion":
            name = self.resolve(properties.get("LayerName", logical_id))
            return {"Ref": f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:layer:{name}:1"}
        if kind == "AWS::Serverless::Api":
            return {"Ref": logical_id.lower(), "RootResourceId": "root"}
        if kind in LOCAL_RESOURCE_SERVICES:
            raise UnresolvableReference(f"{logical_id} has not been created on the local endpoint")
        raise UnresolvableReference(f"{logical_id}: resources of type {kind} are not emulated")

    def function_name(self, logical_id: str) -> str:
        # Like `sam local`: the FunctionName if the template sets one, else the logical id.
        properties = self.resources[logical_id].get("Properties") or {}
        return str(self.resolve(properties.get("FunctionName", logical_id)))

    def _fn_get_att(self, argument: Any) -> Any:
        logical_id, attribute = self.resolve(argument)
        return self.get_att(logical_id, attribute)

    def _fn_sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        values = {name: self.resolve(value) for name, value in variables.items()}

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):  # ${!Literal} stays as ${Literal}
                return "${" + name[1:] + "}"
            if name in values:
                return str(values[name])
            if "." in name:
                return str(self.get_att(*name.split(".", 1)))
            return str(self.ref(name))

        return _SUB_VARIABLE.sub(substitute, text)

    def _fn_join(self, argument: Any) -> str:
        delimiter, items = argument
        return str(delimiter).join(str(item) for item in self.resolve(items))

    def _fn_select(self, argument: Any) -> Any:
        index, items = argument
        return self.resolve(items)[int(self.resolve(index))]

    def _fn_split(self, argument: Any) -> list[str]:
        delimiter, text = argument
        return str(self.resolve(text)).split(delimiter)

    def _fn_if(self, argument: Any) -> Any:
        name, when_true, when_false = argument
        return self.resolve(when_true if self.condition(name) else when_false)

    def _fn_find_in_map(self, argument: Any) -> Any:
        map_name, top_key, second_key = (self.resolve(item) for item in argument)
        return self.resolve(self.template["Mappings"][map_name][top_key][second_key])

    def _fn_base64(self, argument: Any) -> str:
        return base64.b64encode(str(self.resolve(argument)).encode()).decode()

    def _fn_equals(self, argument: Any) -> bool:
        left, right = (self.resolve(item) for item in argument)
        return str(left) == str(right)

    def _fn_not(self, argument: Any) -> bool:
        return not self.resolve(argument[0])

    def _fn_and(self, argument: Any) -> bool:
        return all(self.resolve(item) for item in argument)

    def _fn_or(self, argument: Any) -> bool:
        return any(self.resolve(item) for item in argument)

    _FUNCTIONS: dict[str, Callable[[Stack, Any], Any]] = {
        "Ref": ref,
        "Condition": condition,
        "Fn::GetAtt": _fn_get_att,
        "Fn::Sub": _fn_sub,
        "Fn::Join": _fn_join,
        "Fn::Select": _fn_select,
        "Fn::Split": _fn_split,
        "Fn::If": _fn_if,
        "Fn::FindInMap": _fn_find_in_map,
        "Fn::Base64": _fn_base64,
        "Fn::Equals": _fn_equals,
        "Fn::Not": _fn_not,
        "Fn::And": _fn_and,
        "Fn::Or": _fn_or,
    }


def referenced_ids(value: Any) -> set[str]:
    """Logical ids (and parameters) that value refers to through Ref, Fn::GetAtt or Fn::Sub."""
    if isinstance(value, list):
        return set().union(*map(referenced_ids, value)) if value else set()
    if not isinstance(value, dict):
        return set()
    found = set().union(*map(referenced_ids, value.values())) if value else set()
    if isinstance(value.get("Ref"), str):
        found.add(value["Ref"])
    get_att = value.get("Fn::GetAtt")
    if isinstance(get_att, list) and get_att and isinstance(get_att[0], str):
        found.add(get_att[0])
    sub = value.get("Fn::Sub")
    text = sub[0] if isinstance(sub, list) and sub else sub
    if isinstance(text, str):
        found.update(name.split(".")[0] for name in _SUB_VARIABLE.findall(text))
    return found
