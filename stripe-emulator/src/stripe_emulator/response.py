"""`Response`: what the request pipeline and the hosted pages answer (status, body, headers)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    drop_connection: bool = False
