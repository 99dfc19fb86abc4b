"""One instance's stores as the operations commands see them: its database and blob store,
named by the same settings the server reads."""

from __future__ import annotations

from dataclasses import dataclass

from assay.instance.layout import DataDir
from assay.settings import Settings
from assay.storage.blobs import BlobStore, open_blob_store
from assay.storage.database import database_url
from assay.storage.inventory import Inventory

__all__ = ["Site", "open_blobs"]


def open_blobs(settings: Settings) -> BlobStore:
    """The blob store `settings` name (as the registry opens it)."""
    return open_blob_store(
        settings.blob_store,
        root=settings.data_dir / "blobs",
        bucket=settings.s3_bucket,
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
        access_key_id=settings.s3_access_key_id,
        secret_access_key=settings.s3_secret_access_key,
        prefix=settings.s3_prefix,
    )


@dataclass
class Site:
    settings: Settings
    blobs: BlobStore
    inventory: Inventory

    @property
    def data_dir(self) -> DataDir:
        return DataDir(self.settings.data_dir)

    @property
    def database_url(self) -> str:
        return database_url(self.settings.database_url, self.settings.data_dir)

    @classmethod
    def open(cls, settings: Settings) -> Site:
        url = database_url(settings.database_url, settings.data_dir)
        return cls(settings, open_blobs(settings), Inventory.open(url))

    def close(self) -> None:
        self.inventory.close()
        self.blobs.close()
