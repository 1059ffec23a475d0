"""A domain's catalogue: policy, typed tools with OpenAI schemas, DB table sizes, base tasks."""

from __future__ import annotations

import hashlib
import json

from pydantic import BaseModel, Field

from writ_dagster.core.domains.registry import Domain
from writ_dagster.core.versioning import tau2_version


class ToolEntry(BaseModel):
    """One agent tool of a domain."""

    name: str
    type: str
    openai_schema: str = Field(description="the OpenAI function schema, as sorted-key JSON")


class DomainCatalogue(BaseModel):
    """What an agent trained on a domain sees (policy, tools) and what synthesis draws on (DB)."""

    domain: str
    policy_chars: int
    policy_sha256: str
    tools: list[ToolEntry]
    tables: dict[str, int]
    base_tasks: int
    tau2_version: str

    def digest(self) -> str:
        """Content hash of the catalogue: changes exactly when the policy, tools or DB sizes do."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]

    def tool_counts(self) -> dict[str, int]:
        """Number of tools per tau2 tool type."""
        counts: dict[str, int] = {}
        for tool in self.tools:
            counts[tool.type] = counts.get(tool.type, 0) + 1
        return dict(sorted(counts.items()))


def describe_domain(domain: Domain) -> DomainCatalogue:
    """Build the catalogue of a loaded domain."""
    raw = domain.catalogue()
    policy = domain.policy
    return DomainCatalogue(
        domain=domain.name,
        policy_chars=len(policy),
        policy_sha256=hashlib.sha256(policy.encode()).hexdigest(),
        tools=[ToolEntry(name=t["name"], type=t["type"], openai_schema=t["schema"]) for t in raw["tools"]],
        tables=dict(sorted(raw["tables"].items())),
        base_tasks=int(raw["base_tasks"]),
        tau2_version=tau2_version(),
    )


def tool_schema(entry: ToolEntry) -> dict:
    """The OpenAI function schema of a catalogue tool entry."""
    return json.loads(entry.openai_schema)
