"""What a migration asks for, independent of where it was typed (Slack, console, tests)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SYSTEM_WORKSPACE = "system-workspace"


@dataclass(frozen=True)
class MigrationSpec:
    member: str
    target_host: str
    keep: tuple[str, ...] = ()
    keep_all: bool = False
    discard: tuple[str, ...] = ()
    into: str | None = None
    sync_jwt: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "member": self.member,
            "target_host": self.target_host,
            "keep": list(self.keep),
            "keep_all": self.keep_all,
            "discard": list(self.discard),
            "into": self.into,
            "sync_jwt": self.sync_jwt,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MigrationSpec:
        return cls(
            member=str(data["member"]),
            target_host=str(data["target_host"]),
            keep=tuple(data.get("keep") or ()),
            keep_all=bool(data.get("keep_all")),
            discard=tuple(data.get("discard") or ()),
            into=data.get("into"),
            sync_jwt=bool(data.get("sync_jwt")),
        )
