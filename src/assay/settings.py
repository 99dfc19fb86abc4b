"""The one settings object.

This module is the only reader of ``os.environ`` for configuration (prefix ``ASSAY_``). Settings
are read once, at the edge (the CLI), and passed explicitly to what needs them.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Configuration for every Assay service and command. Frozen: build a new one to change it."""

    model_config = SettingsConfigDict(env_prefix="ASSAY_", frozen=True, extra="forbid")

    data_dir: Path = Field(
        default=Path("data"), description="where keys, the database and blobs live"
    )
    host: str = Field(default="127.0.0.1", description="address the all-in-one instance binds")
    port: int = Field(
        default=4873, ge=0, le=65535, description="port the all-in-one instance binds"
    )
    public_url: str | None = Field(
        default=None, description="the origin clients use; defaults to http://host:port"
    )

    # Limits on npm tarballs (assay.provenance.tarball); see TarballLimits for what each means.
    tarball_max_entries: int = Field(default=10_000, gt=0)
    tarball_max_unpacked_bytes: int = Field(default=256 * 1024 * 1024, gt=0)
    tarball_max_ratio: int = Field(default=200, gt=0)

    @property
    def origin(self) -> str:
        """The public origin of the instance, without a trailing slash."""
        if self.public_url:
            return self.public_url.rstrip("/")
        return f"http://{self.host}:{self.port}"


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment, with explicit overrides taking precedence."""
    return Settings(**overrides)  # type: ignore[arg-type]
